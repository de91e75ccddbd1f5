import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createConn, emptyDb } from './conn.js';
import { CURRENT_ORDERS, type Datom, HISTORY_ORDERS, INDEX_NAMES } from './datom.js';
import type { Db } from './db.js';
import { DiagonError } from './errors.js';
import { applyAll, RANDOM_SCHEMA, randomTxs } from './random-tx.test-support.js';
import { DB0, TX0 } from './schema.js';
import { deserializeDb, serializeDb } from './serialize.js';
import { compareValues } from './values.js';

const key = (d: Datom) =>
  `${d.e}|${d.a}|${String(d.v)}|${d.v instanceof Date ? d.v.getTime() : ''}|${d.tx}|${d.added}`;
const keys = (ds: Iterable<Datom>) => [...ds].map(key);
const sortedKeys = (ds: Iterable<Datom>) => keys(ds).sort();

function isSorted(ds: Datom[], order: (typeof CURRENT_ORDERS)['eavt']): boolean {
  return ds.every((d, i) => i === 0 || order.compare(ds[i - 1]!, d, order.mode) < 0);
}

describe('indexes', () => {
  it('hold the same datoms, each in its own order (property)', () => {
    fc.assert(
      fc.property(randomTxs, (txs) => {
        const { dbs } = applyAll(txs);
        for (const db of dbs) {
          const eavt = db.datoms('eavt');
          const attr = (d: Datom) => db.attr(d.a)!;
          expect(sortedKeys(db.datoms('aevt'))).toEqual(sortedKeys(eavt));
          expect(sortedKeys(db.datoms('avet'))).toEqual(
            sortedKeys(eavt.filter((d) => attr(d).index)),
          );
          expect(sortedKeys(db.datoms('vaet'))).toEqual(
            sortedKeys(eavt.filter((d) => attr(d).isRef)),
          );
          for (const index of INDEX_NAMES) {
            const ds = db.datoms(index);
            expect(isSorted(ds, CURRENT_ORDERS[index])).toBe(true);
            expect(db.count(index)).toBe(ds.length);
          }
          for (const e of [1, 2, 3]) expect(db.count('eavt', e)).toBe(db.datoms('eavt', e).length);
        }
      }),
      { numRuns: 120 },
    );
  });

  it('answer datoms, seekDatoms, rseekDatoms, indexRange and count by components', () => {
    const conn = createConn(RANDOM_SCHEMA);
    conn.transact([
      { 'db/id': 1, 'r/name': 'Ann', 'r/age': 3, 'r/tag': [':x', ':y'], 'r/friend': [2, 3] },
      { 'db/id': 2, 'r/name': 'Bob', 'r/age': 1 },
      { 'db/id': 3, 'r/name': 'Cid', 'r/age': 2, 'r/friend': 2 },
    ]);
    const db = conn.db;
    expect(db.datoms('eavt', 1, 'r/tag').map((d) => String(d.v))).toEqual([':x', ':y']);
    expect(db.datoms('avet', 'r/age').map((d) => d.e)).toEqual([2, 3, 1]);
    expect(db.datoms('avet', 'r/age', 2).map((d) => d.e)).toEqual([3]);
    expect(db.datoms('vaet', 2, 'r/friend').map((d) => d.e)).toEqual([1, 3]);
    expect(db.datoms('aevt', 'r/name', 2).map((d) => d.v)).toEqual(['Bob']);
    expect(db.indexRange('r/age', 2, 3).map((d) => d.e)).toEqual([3]);
    expect(db.indexRange('r/age', null, 3).map((d) => d.e)).toEqual([2, 3]);
    expect(db.indexRange('r/age', 2).map((d) => d.e)).toEqual([3, 1]);
    expect([...db.seekDatoms('eavt', 2)].filter((d) => d.e < DB0).map((d) => d.e)).toEqual([
      2, 2, 3, 3, 3,
    ]);
    expect([...db.rseekDatoms('eavt', 1, 'r/name')].map((d) => d.e)).toEqual([1]);
    expect(
      [...db.seekDatoms('avet', 'r/age', 2)]
        .filter((d) => d.a === db.attr('r/age')!.id)
        .map((d) => d.e),
    ).toEqual([3, 1]);
    expect(db.count('aevt', 'r/name')).toBe(3);
    expect(db.datoms('eavt', ['r/email', 'nobody'])).toEqual([]);
    expect(() => db.datoms('avet', 'r/name')).toThrow(
      /not in AVET; declare it with :db\/index true/,
    );
    expect(() => db.indexRange('r/name', 'a')).toThrow(/not in AVET/);
    expect(() => db.datoms('eavt', 1, 'no/such')).toThrow(/not an attribute/);
    expect(() => db.datoms('xyz' as 'eavt')).toThrow(/unknown index/);
  });

  it('serve :db/txInstant in every index from the transaction log', () => {
    const conn = createConn(RANDOM_SCHEMA);
    conn.transact([{ 'db/id': 1, 'r/name': 'Ann' }]);
    conn.transact([{ 'db/id': 1, 'r/age': 1 }], { 'db/doc': 'second' });
    const db = conn.db;
    const t2 = TX0 + db.basisT;
    const inst = db.datoms('eavt', t2, 'db/txInstant')[0]!;
    expect(inst.v).toBeInstanceOf(Date);
    expect(db.datoms('eavt', t2).map((d) => db.ident(d.a))).toEqual(['db/doc', 'db/txInstant']);
    expect(db.datoms('aevt', 'db/txInstant').map((d) => d.e)).toEqual([TX0 + 1, TX0 + 2, t2]);
    expect(db.datoms('avet', 'db/txInstant', inst.v).map((d) => d.e)).toContain(t2);
    expect(db.count('aevt', 'db/txInstant')).toBe(3);
    const all = db.datoms('eavt');
    expect(isSorted(all, CURRENT_ORDERS.eavt)).toBe(true);
    expect(all.filter((d) => d.e >= TX0).length).toBe(4);
  });
});

describe('time', () => {
  it('asOf the previous t equals the previous value; asOf its own t equals itself (property)', () => {
    fc.assert(
      fc.property(randomTxs, (txs) => {
        const { dbs } = applyAll(txs);
        for (let i = 1; i < dbs.length; i++) {
          const prev = dbs[i - 1]!;
          const db = dbs[i]!;
          // :db/noHistory attributes keep no past: the law holds for every other attribute.
          const kept = (ds: Datom[]) => keys(ds.filter((d) => !db.attr(d.a)!.noHistory));
          for (const index of INDEX_NAMES) {
            expect(kept(db.asOf(prev.basisT).datoms(index))).toEqual(kept(prev.datoms(index)));
            expect(keys(db.asOf(db.basisT).datoms(index))).toEqual(keys(db.datoms(index)));
          }
          expect(kept(db.asOf(TX0 + prev.basisT).datoms('eavt', 1))).toEqual(
            kept(prev.datoms('eavt', 1)),
          );
        }
      }),
      { numRuns: 100 },
    );
  });

  it('history holds every assertion and retraction ever reported, and nothing else (property)', () => {
    fc.assert(
      fc.property(randomTxs, (txs) => {
        const { dbs, reports } = applyAll(txs);
        const db = dbs[dbs.length - 1]!;
        const noHistory = (d: Datom) => db.attr(d.a)!.noHistory;
        const user = (d: Datom) => d.e < DB0;
        const reported = reports.flatMap((r) => r.txData).filter((d) => user(d) && !noHistory(d));
        const hist = db
          .history()
          .datoms('eavt')
          .filter((d) => user(d) && !noHistory(d));
        expect(sortedKeys(hist)).toEqual(sortedKeys(reported));
        expect(isSorted(hist, HISTORY_ORDERS.eavt)).toBe(true);
        for (const index of INDEX_NAMES) {
          expect(sortedKeys(db.history().datoms(index))).toEqual(
            sortedKeys(
              db
                .history()
                .datoms('eavt')
                .filter((d) => index !== 'avet' || db.attr(d.a)!.index)
                .filter((d) => index !== 'vaet' || db.attr(d.a)!.isRef),
            ),
          );
        }
      }),
      { numRuns: 100 },
    );
  });

  it('since t holds exactly the current datoms added after t (property)', () => {
    fc.assert(
      fc.property(randomTxs, fc.nat(), (txs, pick) => {
        const { dbs } = applyAll(txs);
        const db = dbs[dbs.length - 1]!;
        const t = dbs[pick % dbs.length]!.basisT;
        expect(keys(db.since(t).datoms('eavt'))).toEqual(
          keys(db.datoms('eavt').filter((d) => d.tx > TX0 + t)),
        );
      }),
      { numRuns: 100 },
    );
  });

  it('resolves asOf from a t, a transaction id or a Date, and stacks views', () => {
    const conn = createConn(RANDOM_SCHEMA);
    conn.transact([{ 'db/id': 1, 'r/name': 'Ann' }], {
      'db/txInstant': new Date('2030-01-01T00:00:00Z'),
    });
    conn.transact([{ 'db/id': 1, 'r/name': 'Anna' }], {
      'db/txInstant': new Date('2030-01-02T00:00:00Z'),
    });
    const db = conn.db;
    const names = (d: Db) => d.datoms('eavt', 1, 'r/name').map((x) => x.v);
    expect(names(db)).toEqual(['Anna']);
    expect(names(db.asOf(2))).toEqual(['Ann']);
    expect(names(db.asOf(TX0 + 2))).toEqual(['Ann']);
    expect(names(db.asOf(new Date('2030-01-01T12:00:00Z')))).toEqual(['Ann']);
    expect(names(db.asOf(new Date('2029-12-31T00:00:00Z')))).toEqual([]);
    expect(names(db.asOf(3).asOf(2))).toEqual(['Ann']);
    expect(names(db.since(2))).toEqual(['Anna']);
    expect(names(db.since(3))).toEqual([]);
    expect(
      db
        .history()
        .datoms('eavt', 1, 'r/name')
        .map((d) => [d.v, d.added]),
    ).toEqual([
      ['Ann', true],
      ['Ann', false],
      ['Anna', true],
    ]);
    expect(db.asOf(2).asOfT).toBe(2);
    expect(db.history().isHistory).toBe(true);
    expect(() => db.asOf(-1)).toThrow(DiagonError);
    expect(() => db.asOf(2).with([])).toThrow(/filtered/);
  });

  it('filters by predicate', () => {
    const conn = createConn(RANDOM_SCHEMA);
    conn.transact([
      { 'db/id': 1, 'r/name': 'Ann', 'r/age': 3 },
      { 'db/id': 2, 'r/name': 'Bob', 'r/age': 4 },
    ]);
    const age = conn.db.attr('r/age')!.id;
    const noAges = conn.db.filter((_db, d) => d.a !== age);
    expect(noAges.datoms('aevt', 'r/age')).toEqual([]);
    expect(noAges.datoms('aevt', 'r/name')).toHaveLength(2);
    const onlyAnn = noAges.filter((_db, d) => d.e !== 2);
    expect(onlyAnn.datoms('aevt', 'r/name').map((d) => d.v)).toEqual(['Ann']);
    expect(onlyAnn.isFiltered).toBe(true);
  });

  it('speculates with `with` without touching the value it started from', () => {
    const db = emptyDb(RANDOM_SCHEMA);
    const r = db.with([{ 'db/id': 1, 'r/name': 'Ann' }]);
    expect(db.datoms('eavt', 1)).toEqual([]);
    expect(r.dbAfter.datoms('eavt', 1)).toHaveLength(1);
    expect(r.dbBefore).toBe(db);
    // Branching from an older value leaves the newer one's history alone.
    const a = r.dbAfter.with([{ 'db/id': 1, 'r/name': 'A2' }]).dbAfter;
    const b = r.dbAfter.with([{ 'db/id': 1, 'r/name': 'B2' }]).dbAfter;
    expect(
      a
        .history()
        .datoms('eavt', 1)
        .map((d) => d.v),
    ).toEqual(['A2', 'Ann', 'Ann']);
    expect(
      b
        .history()
        .datoms('eavt', 1)
        .map((d) => d.v),
    ).toEqual(['Ann', 'Ann', 'B2']);
    expect(a.datoms('eavt', TX0 + 2, 'db/txInstant')).toHaveLength(1);
    expect(b.datoms('eavt', TX0 + 2, 'db/txInstant')).toHaveLength(1);
  });
});

describe('serialization', () => {
  it('round-trips a database value: same datoms, history, schema, and it transacts on the same way (property)', () => {
    fc.assert(
      fc.property(randomTxs, randomTxs, (txs, more) => {
        const { dbs } = applyAll(txs);
        const db = dbs[dbs.length - 1]!;
        const back = deserializeDb(serializeDb(db));
        expect(back.basisT).toBe(db.basisT);
        expect(back.maxEid).toBe(db.maxEid);
        expect(back.schema.flexibility).toBe(db.schema.flexibility);
        expect([...back.schema.attrs]).toEqual([...db.schema.attrs]);
        for (const index of INDEX_NAMES) {
          expect(keys(back.datoms(index))).toEqual(keys(db.datoms(index)));
          expect(keys(back.history().datoms(index))).toEqual(keys(db.history().datoms(index)));
        }
        const go = (start: Db) =>
          applyAll(more, start).dbs.map((d) => keys(d.datoms('eavt').filter((x) => x.e < TX0)));
        expect(go(back)).toEqual(go(db));
      }),
      { numRuns: 60 },
    );
  });

  it('refuses corrupt bytes with a clear error, never anything else', () => {
    const db = applyAll([
      [[':db/add', 1, 'r/name', 'Ann']],
      [[':db/retract', 1, 'r/name', 'Ann']],
    ]).dbs.at(-1)!;
    const bytes = serializeDb(db);
    expect(() => deserializeDb(new Uint8Array([1, 2, 3]))).toThrow(/bad magic|unexpected end/);
    expect(() => deserializeDb(bytes.slice(0, bytes.length - 3))).toThrow(/corrupt database bytes/);
    expect(() => deserializeDb(new Uint8Array([...bytes, 0]))).toThrow(/trailing bytes/);
    fc.assert(
      fc.property(fc.nat(bytes.length - 1), fc.integer({ min: 0, max: 255 }), (at, byte) => {
        const copy = bytes.slice();
        copy[at] = byte;
        try {
          deserializeDb(copy);
        } catch (e) {
          if (!(e instanceof DiagonError)) throw e;
          expect(e.code).toBe('db.error/serialization');
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('keeps values of every type', () => {
    const conn =
      createConn(`[{:db/ident :v/any :db/valueType :db.type/tuple :db/tupleTypes [:db.type/string :db.type/long :db.type/double :db.type/bigint :db.type/boolean :db.type/instant :db.type/uuid :db.type/keyword]}
      {:db/ident :v/bytes :db/valueType :db.type/bytes}]`);
    const value = [
      's',
      -42,
      -0.5,
      -(2n ** 70n),
      true,
      new Date(5),
      '550e8400-e29b-41d4-a716-446655440000',
      'k/w',
    ];
    conn.transact([{ 'db/id': 1, 'v/any': value, 'v/bytes': new Uint8Array([0, 255]) }]);
    const back = deserializeDb(serializeDb(conn.db));
    const [a, b] = back.datoms('eavt', 1);
    expect(compareValues(a!.v, conn.db.datoms('eavt', 1)[0]!.v)).toBe(0);
    expect(b!.v).toEqual(new Uint8Array([0, 255]));
  });
});
