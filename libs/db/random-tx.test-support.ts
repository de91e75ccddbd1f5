/**
 * Random transactions for property tests: a small schema that exercises every index
 * (refs, uniques, indexed and unindexed attributes, cardinality many, no-history,
 * components) and tx-data over a small id space so that transactions collide often.
 */
import fc from 'fast-check';
import { emptyDb } from './conn.js';
import type { Db } from './db.js';
import { DiagonError } from './errors.js';
import type { TxReport } from './transact.js';

export const RANDOM_SCHEMA = `[
  {:db/ident :r/name :db/valueType :db.type/string}
  {:db/ident :r/age :db/valueType :db.type/long :db/index true}
  {:db/ident :r/tag :db/valueType :db.type/keyword :db/cardinality :db.cardinality/many}
  {:db/ident :r/email :db/valueType :db.type/string :db/unique :db.unique/identity}
  {:db/ident :r/code :db/valueType :db.type/long :db/unique :db.unique/value}
  {:db/ident :r/friend :db/valueType :db.type/ref :db/cardinality :db.cardinality/many}
  {:db/ident :r/best :db/valueType :db.type/ref}
  {:db/ident :r/part :db/valueType :db.type/ref :db/isComponent true :db/cardinality :db.cardinality/many}
  {:db/ident :r/seen :db/valueType :db.type/instant :db/noHistory true}
  {:db/ident :r/score :db/valueType :db.type/double}
]`;

const id = fc.integer({ min: 1, max: 12 });
const tempid = fc.constantFrom('a', 'b', 'c');
const entity = fc.oneof(id, tempid);
const name = fc.constantFrom('Ann', 'Bob', 'Cid', 'Dee');
const tag = fc.constantFrom(':x', ':y', ':z');

const assertion = fc.oneof(
  fc.tuple(entity, fc.constant('r/name'), name),
  fc.tuple(entity, fc.constant('r/age'), fc.integer({ min: 0, max: 5 })),
  fc.tuple(entity, fc.constant('r/tag'), tag),
  fc.tuple(entity, fc.constant('r/email'), fc.constantFrom('p@x', 'q@x', 'r@x')),
  fc.tuple(entity, fc.constant('r/code'), fc.integer({ min: 0, max: 4 })),
  fc.tuple(entity, fc.constant('r/friend'), id),
  fc.tuple(entity, fc.constant('r/best'), id),
  fc.tuple(entity, fc.constant('r/part'), id),
  fc.tuple(
    entity,
    fc.constant('r/seen'),
    fc.integer({ min: 0, max: 3 }).map((n) => new Date(n * 1000)),
  ),
  fc.tuple(entity, fc.constant('r/score'), fc.constantFrom(0.5, -1, Number.NaN, 1e300)),
);

const form = fc.oneof(
  { weight: 6, arbitrary: assertion.map(([e, a, v]) => [':db/add', e, a, v]) },
  {
    weight: 2,
    arbitrary: fc.tuple(id, assertion).map(([e, [, a, v]]) => [':db/retract', e, a, v]),
  },
  { weight: 1, arbitrary: id.map((e) => [':db/retractEntity', e]) },
  {
    weight: 1,
    arbitrary: fc
      .tuple(id, fc.constantFrom('r/tag', 'r/friend', 'r/name'))
      .map(([e, a]) => [':db/retract', e, a]),
  },
  {
    weight: 1,
    arbitrary: fc
      .tuple(tempid, name, fc.constantFrom('p@x', 'q@x'))
      .map(([t, n, m]) => ({ 'db/id': t, 'r/name': n, 'r/email': m })),
  },
);

/** A list of transactions (each a list of forms). */
export const randomTxs = fc.array(fc.array(form, { minLength: 1, maxLength: 6 }), {
  minLength: 1,
  maxLength: 25,
});

/** Applies each transaction that the database accepts; rejected ones (DiagonError) change nothing. */
export function applyAll(
  txs: unknown[][],
  db: Db = emptyDb(RANDOM_SCHEMA),
): { dbs: Db[]; reports: TxReport[] } {
  const dbs = [db];
  const reports: TxReport[] = [];
  for (const tx of txs) {
    try {
      const r = db.with(tx);
      reports.push(r);
      db = r.dbAfter;
      dbs.push(db);
    } catch (e) {
      if (!(e instanceof DiagonError)) throw e;
    }
  }
  return { dbs, reports };
}
