/**
 * Transactions: tx-data in, a new database value and a report out.
 *
 * Three phases, as in Datomic:
 *  1. expand: every form (maps, nested maps, list forms, tx functions, `:db/cas`,
 *     `:db/retractEntity`, lookup refs, idents) becomes asserts and retracts, read against
 *     the database before the transaction;
 *  2. resolve tempids: upserts through `:db.unique/identity`, unification of tempids
 *     that claim the same identity, then fresh ids for the rest;
 *  3. apply: redundant assertions are elided, a new value of a cardinality-one attribute
 *     retracts the old one, unique conflicts and conflicting datoms fail the whole
 *     transaction, composite tuples are recomputed, `:db/txInstant` is recorded and
 *     schema changes are read back into the schema.
 * Any error leaves nothing behind: the input value is immutable and the new one is
 * only returned on success.
 */
import { Applier, nextSchema } from './apply.js';
import { Datom } from './datom.js';
import { Db } from './db.js';
import { DiagonError } from './errors.js';
import { Expander, toForms } from './expand.js';
import type { Attr, Schema } from './schema.js';
import { SYS, TX0 } from './schema.js';
import { resolveTempids } from './tempids.js';
import { ADD, formError, isPlainObject } from './tx-ops.js';
import { describeValue } from './values.js';

export { MAX_TX_FN_DEPTH, registerTxFn, type TxFn } from './expand.js';

export interface TxReport {
  readonly dbBefore: Db;
  readonly dbAfter: Db;
  /** The datoms asserted and retracted, in the order they were applied. */
  readonly txData: Datom[];
  /** Each tempid to the entity id it became; the key `db/current-tx` holds the transaction's id. */
  readonly tempids: Record<string, number>;
}

/** Attributes and values asserted on the transaction entity itself. */
export type TxMeta = Record<string, unknown> | Map<unknown, unknown>;

/** Told when a transaction's phases end (the transactor times its spans by it). */
export interface TxObserver {
  /** Forms expanded and tempids resolved; applying starts. */
  expanded?(): void;
}

/** Applies tx-data to a database value; `txMeta` is asserted on the transaction entity. */
export function transact(
  db: Db,
  txData: unknown,
  txMeta?: TxMeta,
  observer?: TxObserver,
): TxReport {
  const state = db.state();
  const t = state.basisT + 1;
  const txEid = TX0 + t;
  const x = new Expander(db, txEid);
  for (const f of toForms(txData)) x.form(f, 0);
  if (txMeta !== undefined) {
    if (txMeta instanceof Map) x.map(new Map([...txMeta, ['db/id', 'db/current-tx']]));
    else if (isPlainObject(txMeta)) x.map({ ...txMeta, 'db/id': 'db/current-tx' });
    else
      throw new DiagonError(
        'db.error/invalid-tx-data',
        'transaction metadata must be a map of attribute to value',
      );
  }
  for (const op of x.ops) {
    if (op.attr.tupleAttrs !== null && op.kind === ADD) {
      throw formError(
        'db.error/invalid-tx-data',
        `:${op.attr.ident} is a composite tuple; assert its parts instead`,
        op.form,
      );
    }
  }
  const { maxEid: allocated, nextAttrId } = resolveTempids(x, db, state);
  const schema =
    x.autoAttrs.size === 0 ? state.schema : withAutoAttrs(state.schema, x.autoAttrs, nextAttrId);
  observer?.expanded?.();
  const ap = new Applier(state, schema, txEid);
  ap.maxEid = allocated;
  for (const op of x.ops) ap.apply(op);
  ap.recomputeComposites();
  const last = state.txLog.len === 0 ? 0 : state.txLog.instant(state.txLog.len - 1);
  if (ap.instant === null) ap.instant = new Date(Math.max(Date.now(), last));
  else if (ap.instant.getTime() < last) {
    throw new DiagonError(
      'db.error/past-tx-instant',
      `:db/txInstant ${describeValue(ap.instant)} is before the previous transaction's ${new Date(last).toISOString()}`,
      { txInstant: ap.instant },
    );
  }
  const instantDatom = new Datom(txEid, SYS.txInstant, ap.instant, txEid, true);
  ap.txData.push(instantDatom);
  const newSchema = ap.schemaTouched === null ? schema : nextSchema(schema, ap, nextAttrId);
  const dbAfter = new Db({
    schema: newSchema,
    cur: {
      eavt: ap.eavt.result(),
      aevt: ap.aevt.result(),
      avet: ap.avet.result(),
      vaet: ap.vaet.result(),
    },
    hist: state.hist.append(txEid, ap.history),
    txLog: state.txLog.append(ap.instant.getTime()),
    basisT: t,
    maxEid: ap.maxEid,
  });
  const tempids: Record<string, number> = {};
  for (const [key, tmp] of x.tempids) tempids[String(key)] = tmp.eid;
  tempids['db/current-tx'] = txEid;
  return { dbBefore: db, dbAfter, txData: ap.txData, tempids };
}

/** Attributes made on first use must be known while their own transaction applies. */
function withAutoAttrs(
  schema: Schema,
  auto: ReadonlyMap<string, Attr>,
  nextAttrId: number,
): Schema {
  const changes = new Map<number, { ident: string | null; attr: Attr | null }>();
  for (const [ident, attr] of auto) changes.set(attr.id, { ident, attr });
  return schema.withChanges(changes, nextAttrId);
}
