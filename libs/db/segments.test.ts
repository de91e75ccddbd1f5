import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { TreeNode } from './btset.js';
import { emptyDb } from './conn.js';
import { Datom, INDEX_NAMES } from './datom.js';
import type { Db } from './db.js';
import { DiagonError } from './errors.js';
import { q } from './query/index.js';
import { applyAll, RANDOM_SCHEMA, randomTxs } from './random-tx.test-support.js';
import { decodeTxData, encodeTxData, replayTx } from './replay.js';
import { TX0 } from './schema.js';
import {
  decodeSegment,
  loadSnapshot,
  type RootDoc,
  reachableSegments,
  SegmentCache,
  type SegmentSource,
  type Snapshot,
  segmentChildren,
  snapshotDb,
} from './segments.js';
import { registerTxFn, type TxReport, transact } from './transact.js';
import { kw, Uuid, type Value } from './values.js';

/** Every segment ever written, as the `segments` table would hold them. */
const store = new Map<string, Uint8Array>();

function snapshot(db: Db): Snapshot {
  const snap = snapshotDb(db);
  for (const [h, b] of snap.segments) store.set(h, b);
  return snap;
}

/** A source over a map that records each call. */
function counting(from: Map<string, Uint8Array> = store) {
  const calls: string[][] = [];
  const source: SegmentSource = {
    async fetch(hashes) {
      calls.push(hashes);
      const out = new Map<string, Uint8Array>();
      for (const h of hashes) {
        const b = from.get(h);
        if (b !== undefined) out.set(h, b);
      }
      return out;
    },
  };
  return { source, calls, fetched: () => calls.flat() };
}

/** Everything a value holds, in a form toEqual compares. */
function dump(db: Db) {
  return {
    basisT: db.basisT,
    maxEid: db.maxEid,
    flexibility: db.schema.flexibility,
    nextAttrId: db.schema.nextAttrId,
    attrs: [...db.schema.attrs].sort((x, y) => x.id - y.id),
    cur: INDEX_NAMES.map((n) => db.cur[n].toArray().map((d) => d.toJSON())),
    hist: db.hist.chunks.map((c) => [c.tx, c.datoms.map((d) => d.toJSON())]),
    instants: [...db.txLog.instants],
  };
}

const rows = (x: unknown) => [...(x as Iterable<unknown>)].map((r) => JSON.stringify(r)).sort();

const QUERIES = [
  '[:find ?e ?n :where [?e :r/name ?n]]',
  '[:find ?e ?f :where [?e :r/friend ?f] [?f :r/age ?a]]',
  '[:find ?e :where [?e :r/age ?a] [(> ?a 2)]]',
  '[:find ?e ?m :where [?e :r/email ?m]]',
  '[:find ?tx ?when :where [?tx :db/txInstant ?when]]',
];

function nodesOf(db: Db, index: (typeof INDEX_NAMES)[number]): Set<TreeNode<Datom>> {
  const out = new Set<TreeNode<Datom>>();
  const walk = (n: TreeNode<Datom>) => {
    out.add(n);
    for (const c of n.children ?? []) walk(c);
  };
  walk(db.cur[index].rootNode());
  return out;
}

function isNode(bytes: Uint8Array): boolean {
  const kind = decodeSegment(bytes).kind;
  return kind === 'leaf' || kind === 'branch';
}

function codeOf(f: () => unknown): Promise<string> {
  return Promise.resolve()
    .then(f)
    .then(
      () => 'ok',
      (e) => {
        if (!(e instanceof DiagonError)) throw e;
        return e.code;
      },
    );
}

/** A value deep enough for paths to matter: 3000 people, about 16k datoms. */
function bigDb(): Db {
  let db = emptyDb(RANDOM_SCHEMA);
  for (let i = 0; i < 3000; i += 500) {
    const tx: unknown[] = [];
    for (let j = i; j < i + 500; j++) {
      tx.push({
        'db/id': j + 1,
        'r/name': `person ${j}`,
        'r/age': j % 6,
        'r/email': `p${j}@x`,
        'r/tag': ':x',
        'r/friend': ((j * 31) % 3000) + 1,
      });
    }
    db = transact(db, tx).dbAfter;
  }
  return db;
}

const BIG = bigDb();
const depthSum = (db: Db) => INDEX_NAMES.reduce((n, i) => n + db.cur[i].depth(), 0);

describe('snapshotDb / loadSnapshot', () => {
  it('round-trips a value: datoms, history, instants, schema and query results (property)', async () => {
    await fc.assert(
      fc.asyncProperty(randomTxs, fc.boolean(), fc.nat(), async (txs, asBytes, at) => {
        const db = applyAll(txs).dbs.at(-1)!;
        const snap = snapshot(db);
        const back = await loadSnapshot(asBytes ? snap.rootBytes : snap.root, counting().source);
        expect(dump(back)).toEqual(dump(db));
        for (const index of INDEX_NAMES) {
          back.cur[index].checkInvariants();
          expect(back.history().datoms(index)).toEqual(db.history().datoms(index));
        }
        const t = at % (db.basisT + 1);
        expect(back.asOf(t).datoms('eavt')).toEqual(db.asOf(t).datoms('eavt'));
        expect(back.datoms('aevt', 'db/txInstant')).toEqual(db.datoms('aevt', 'db/txInstant'));
        for (const query of QUERIES) {
          expect(rows(q(query, back))).toEqual(rows(q(query, db)));
          expect(rows(q(query, back.asOf(t)))).toEqual(rows(q(query, db.asOf(t))));
        }
        // A loaded value is known: snapshotting it again writes nothing.
        const again = snapshotDb(back);
        expect(again.rootHash).toBe(snap.rootHash);
        expect(again.segments.size).toBe(0);
      }),
      { numRuns: 40 },
    );
  });

  it('writes only the changed path after a small transaction', async () => {
    const first = snapshot(BIG);
    expect(first.segments.size).toBeGreaterThan(500);
    expect(snapshotDb(BIG).segments.size).toBe(0);
    const { dbAfter } = transact(BIG, [
      [':db/add', 17, 'r/name', 'renamed'],
      [':db/retract', 18, 'r/tag', kw('x')],
    ]);
    const next = snapshot(dbAfter);
    const nodes = [...next.segments.values()].filter(isNode);
    // Two datoms changed (plus one retracted): at most a path per touched index and datom.
    expect(nodes.length).toBeGreaterThan(0);
    expect(nodes.length).toBeLessThanOrEqual(2 * depthSum(dbAfter));
    expect(next.segments.size).toBeLessThanOrEqual(nodes.length + 3);
    const back = await loadSnapshot(next.rootBytes, counting().source);
    expect(dump(back)).toEqual(dump(dbAfter));
  });

  it('fetches each tree level in one call', async () => {
    const snap = snapshot(BIG);
    const { source, calls } = counting();
    await loadSnapshot(snap.rootBytes, source);
    const depth = Math.max(...INDEX_NAMES.map((i) => BIG.cur[i].depth()));
    expect(depth).toBeGreaterThanOrEqual(3);
    expect(calls.length).toBe(depth);
  });

  it('refuses a segment whose bytes do not match its hash (property)', async () => {
    const db = applyAll([
      [[':db/add', 1, 'r/name', 'Ann']],
      [[':db/retract', 1, 'r/name', 'Ann']],
    ]).dbs.at(-1)!;
    const snap = snapshot(db);
    const hashes = [...(await reachableSegments(snap.root, counting().source))].filter(
      (h) => h !== snap.rootHash,
    );
    await fc.assert(
      fc.asyncProperty(fc.nat(), fc.nat(), fc.integer({ min: 1, max: 255 }), async (i, at, x) => {
        const victim = hashes[i % hashes.length]!;
        const tampered = new Map(store);
        const bytes = store.get(victim)!.slice();
        bytes[at % bytes.length]! ^= x;
        tampered.set(victim, bytes);
        const err = await loadSnapshot(snap.root, counting(tampered).source).catch((e) => e);
        expect(err).toBeInstanceOf(DiagonError);
        expect(err.code).toBe('segments/corrupt');
        expect(err.message).toContain(victim);
      }),
      { numRuns: 50 },
    );
  });

  it('names a missing segment', async () => {
    const snap = snapshot(BIG);
    const reachable = [...(await reachableSegments(snap.rootBytes, counting().source))];
    for (const victim of [snap.root.eavt, snap.root.instants[0]!, reachable.at(-1)!]) {
      const partial = new Map(store);
      partial.delete(victim);
      const err = await loadSnapshot(snap.root, counting(partial).source).catch((e) => e);
      expect(err).toBeInstanceOf(DiagonError);
      expect(err.code).toBe('segments/missing');
      expect(err.message).toContain(victim);
      expect(err.data.hash).toBe(victim);
    }
  });

  it('decodes any bytes to a segment or a segments/malformed error, nothing else (property)', async () => {
    const db = applyAll([
      [{ 'db/id': 'a', 'r/name': 'Ann', 'r/email': 'p@x', 'r/seen': new Date(5) }],
      [
        [':db/add', 1, 'r/score', 0.5],
        [':db/retractEntity', 1],
      ],
    ]).dbs.at(-1)!;
    const valid = [...snapshotDb(db).segments.values()];
    const mutated = fc
      .tuple(fc.constantFrom(...valid), fc.nat(), fc.nat(255), fc.nat(3))
      .map(([b, at, x, how]) => {
        if (how === 0) return b.slice(0, at % b.length);
        if (how === 1) return new Uint8Array([...b, x]);
        const copy = b.slice();
        copy[at % b.length] = x;
        return copy;
      });
    const anyBytes = fc.oneof(
      fc.uint8Array({ maxLength: 200 }),
      fc.uint8Array({ maxLength: 200 }).map((b) => new Uint8Array([0x44, 0x47, 0x53, 1, ...b])),
      mutated,
    );
    await fc.assert(
      fc.asyncProperty(anyBytes, async (bytes) => {
        for (const decode of [decodeSegment, segmentChildren]) {
          expect(['ok', 'segments/malformed']).toContain(await codeOf(() => decode(bytes)));
        }
        const loaded = await codeOf(() => loadSnapshot(bytes, counting().source));
        expect(['ok', 'segments/malformed', 'segments/missing']).toContain(loaded);
      }),
      { numRuns: 1500 },
    );
  });

  it('checks a root document given as data', async () => {
    const snap = snapshot(BIG);
    const bad = [
      { ...snap.root, version: 99 },
      { ...snap.root, eavt: 'nothex' },
      { ...snap.root, basisT: -1 },
      { ...snap.root, history: [42] },
      { ...snap.root, eavt: snap.root.aevt },
      { ...snap.root, basisT: snap.root.basisT + 1 },
    ];
    for (const root of bad) {
      const code = await codeOf(() => loadSnapshot(root as never, counting().source));
      expect(code).toBe('segments/malformed');
    }
  });

  it('keeps closed log chunks: later snapshots, and a loaded value carried on, reuse them', async () => {
    let db = emptyDb(RANDOM_SCHEMA);
    const reports: TxReport[] = [];
    const snaps: Snapshot[] = [];
    for (let i = 0; i < 4200; i++) {
      // Every transaction after the first five overwrites a name: one retraction each.
      const r = transact(db, [[':db/add', 1 + (i % 5), 'r/name', `n${i}`]]);
      reports.push(r);
      db = r.dbAfter;
      if (i === 299 || i === 4150 || i === 4199) {
        const snap = snapshot(db);
        // Nothing an earlier snapshot of this value's past wrote is sent again.
        const sent = snaps.flatMap((x) => [...x.segments.keys()]);
        expect(sent.filter((h) => snap.segments.has(h))).toEqual([]);
        snaps.push(snap);
      }
    }
    const [early, mid, late] = snaps.map((s) => s.root) as [RootDoc, RootDoc, RootDoc];
    expect(late.history.length).toBeGreaterThan(10);
    expect(late.instants.length).toBe(2);
    for (const [a, b] of [
      [early, mid],
      [mid, late],
    ] as const) {
      expect(b.history.slice(0, a.history.length - 1)).toEqual(a.history.slice(0, -1));
      expect(b.instants.slice(0, a.instants.length - 1)).toEqual(a.instants.slice(0, -1));
    }
    const last = snaps[2]!;
    const logChunks = [...last.segments.values()].filter((b) => !isNode(b));
    expect(logChunks.length).toBeLessThanOrEqual(4); // root, instants tail, up to two retraction chunks
    // Load the middle root, fold the rest of the log: the same value, the same root, and
    // no closed chunk sent again (though the instants now live in a new buffer).
    let folded = await loadSnapshot(snaps[1]!.rootBytes, counting().source);
    for (const r of reports.slice(4151))
      folded = replayTx(folded, r.txData, { maxEid: r.dbAfter.maxEid });
    expect(dump(folded)).toEqual(dump(db));
    const again = snapshotDb(folded);
    expect(again.rootHash).toBe(last.rootHash);
    expect(again.segments.has(late.instants[0]!)).toBe(false);
    expect(late.history.slice(0, -2).filter((h) => again.segments.has(h))).toEqual([]);
  });

  it('refuses to snapshot a view', () => {
    expect(() => snapshotDb(BIG.asOf(1))).toThrow(DiagonError);
  });
});

describe('SegmentCache', () => {
  it('shares decoded nodes between roots: the next root fetches only what changed', async () => {
    const first = snapshot(BIG);
    const { dbAfter, txData } = transact(BIG, [
      [':db/add', 2000, 'r/age', 5],
      [':db/retract', 3, 'r/email', 'p2@x'],
    ]);
    const second = snapshot(dbAfter);
    const cache = new SegmentCache();
    const one = counting();
    const a = await loadSnapshot(first.rootBytes, one.source, cache);
    expect(one.fetched().length).toBe(
      (await reachableSegments(first.root, counting().source)).size - 1,
    );
    const two = counting();
    const b = await loadSnapshot(second.rootBytes, two.source, cache);
    expect(new Set(two.fetched())).toEqual(
      new Set([...second.segments.keys()].filter((h) => h !== second.rootHash)),
    );
    expect(dump(b)).toEqual(dump(dbAfter));
    for (const index of INDEX_NAMES) {
      const nodes = nodesOf(a, index);
      const mine = [...nodesOf(b, index)];
      const shared = mine.filter((n) => nodes.has(n)).length;
      // Each changed datom copies at most one path.
      expect(mine.length - shared).toBeLessThanOrEqual((txData.length - 1) * b.cur[index].depth());
    }
    expect(cache.stats().decoded.hits).toBeGreaterThan(0);
    // A third load of a known root decodes nothing and fetches nothing.
    const three = counting();
    await loadSnapshot(second.rootBytes, three.source, cache);
    expect(three.calls).toEqual([]);
  });

  it('finds the nodes of live values by hash even when the budgets hold nothing', async () => {
    const first = snapshot(BIG);
    const { dbAfter, txData } = transact(BIG, [[':db/add', 1500, 'r/name', 'x']]);
    const second = snapshot(dbAfter);
    const cache = new SegmentCache({ maxEncodedBytes: 1, maxDecodedBytes: 1 });
    const a = await loadSnapshot(first.rootBytes, counting().source, cache);
    const two = counting();
    const b = await loadSnapshot(second.rootBytes, two.source, cache);
    expect(cache.stats().decoded.entries).toBe(0);
    expect(cache.stats().decoded.alive).toBeGreaterThan(0);
    // Log chunks are not kept alive by a value's nodes, so they may come again.
    const logs = new Set([...first.root.history, ...first.root.instants]);
    expect(two.fetched().filter((h) => !second.segments.has(h) && !logs.has(h))).toEqual([]);
    for (const index of INDEX_NAMES) {
      const nodes = nodesOf(a, index);
      const mine = [...nodesOf(b, index)];
      const shared = mine.filter((n) => nodes.has(n)).length;
      expect(mine.length - shared).toBeLessThanOrEqual((txData.length - 1) * b.cur[index].depth());
    }
    expect(dump(b)).toEqual(dump(dbAfter));
  });

  it('keeps each tier within its byte budget', async () => {
    const snap = snapshot(BIG);
    const cache = new SegmentCache({ maxEncodedBytes: 20_000, maxDecodedBytes: 100_000 });
    const back = await loadSnapshot(snap.rootBytes, counting().source, cache);
    expect(dump(back)).toEqual(dump(BIG));
    const stats = cache.stats();
    expect(stats.encoded.bytes).toBeLessThanOrEqual(20_000);
    expect(stats.decoded.bytes).toBeLessThanOrEqual(100_000);
    expect(stats.encoded.entries).toBeGreaterThan(0);
    expect(stats.decoded.misses).toBeGreaterThan(0);
  });
});

describe('reachableSegments / segmentChildren', () => {
  it('names exactly what a fresh snapshot wrote, and enough to load it (property)', async () => {
    await fc.assert(
      fc.asyncProperty(randomTxs, randomTxs, async (txs, more) => {
        const { dbs } = applyAll(txs);
        const db = dbs.at(-1)!;
        const first = snapshot(db);
        const reach = await reachableSegments(first.rootBytes, counting().source);
        expect(reach).toEqual(new Set(first.segments.keys()));
        // After more transactions, what the new root reaches is all a reader needs.
        const later = applyAll(more, db).dbs.at(-1)!;
        const next = snapshot(later);
        const keep = await reachableSegments(next.root, counting().source);
        const kept = new Map([...store].filter(([h]) => keep.has(h)));
        expect(dump(await loadSnapshot(next.rootBytes, counting(kept).source))).toEqual(
          dump(later),
        );
        // segmentChildren walks to the same set.
        const walked = new Set<string>();
        const todo = [next.rootHash];
        while (todo.length > 0) {
          const h = todo.pop()!;
          if (walked.has(h)) continue;
          walked.add(h);
          todo.push(...segmentChildren(store.get(h)!));
        }
        expect(walked).toEqual(keep);
      }),
      { numRuns: 25 },
    );
  });
});

// ---------------------------------------------------------------------------------------
// replayTx

registerTxFn('replay/bump-age', (db, e) => {
  const [d] = db.datoms('eavt', e, 'r/age');
  return [[':db/add', e, 'r/age', ((d?.v as number | undefined) ?? 0) + 1]];
});
registerTxFn('replay/drop', (_db, e) => [[':db/retractEntity', e]]);

const id = fc.integer({ min: 1, max: 12 });
/** Transactions beyond randomTxs: new attributes on first use, schema changes, tx functions, metadata. */
const extraTx = fc.oneof(
  fc
    .tuple(id, fc.constantFrom('x/note', 'x/other'), fc.constantFrom('n1', 'n2'))
    .map(([e, a, v]) => [[':db/add', e, a, v]]),
  fc.tuple(id, fc.constantFrom('x/note', 'x/other')).map(([e, a]) => [[':db/retract', e, a]]),
  fc.constant([{ 'db/ident': 'r/name', 'db/index': true }]),
  fc.constant([{ 'db/ident': 'r/age', 'db/noHistory': true }]),
  fc.constant([{ 'db/ident': 'x/note', 'db/valueType': ':db.type/string', 'db/index': true }]),
  fc.constant([
    { 'db/id': 'n', 'db/ident': 'y/count', 'db/valueType': ':db.type/long' },
    { 'db/id': 'db/current-tx', 'db/doc': 'adds y/count' },
  ]),
  fc.constant(
    '[{:db/ident :r/name+age :db/valueType :db.type/tuple :db/tupleAttrs [:r/name :r/age]}]',
  ),
  id.map((e) => [['replay/bump-age', e]]),
  id.map((e) => [['replay/drop', e]]),
  fc.tuple(id, fc.nat(3)).map(([e, n]) => [[':db/add', e, 'y/count', n]]),
);

const txSequence = fc
  .tuple(randomTxs, fc.array(fc.tuple(fc.nat(30), extraTx), { maxLength: 10 }))
  .map(([txs, extras]) => {
    const all: unknown[] = [...txs];
    for (const [at, tx] of extras) all.splice(at % (all.length + 1), 0, tx);
    return all;
  });

function reportsOf(txs: unknown[]): TxReport[] {
  let db = emptyDb(RANDOM_SCHEMA, { schemaFlexibility: 'read' });
  const out: TxReport[] = [];
  for (const tx of txs) {
    try {
      const r = transact(db, tx);
      out.push(r);
      db = r.dbAfter;
    } catch (e) {
      if (!(e instanceof DiagonError)) throw e;
    }
  }
  return out;
}

describe('replayTx', () => {
  it("rebuilds exactly the value transact made from the transaction's datoms (property)", () => {
    let kinds = { retractions: 0, autoAttrs: 0, schema: 0, composites: 0 };
    fc.assert(
      fc.property(txSequence, (txs) => {
        const reports = reportsOf(txs);
        let folded = reports[0]?.dbBefore;
        for (const r of reports) {
          const logged = decodeTxData(encodeTxData(r.txData));
          const again = replayTx(r.dbBefore, logged, { maxEid: r.dbAfter.maxEid });
          expect(dump(again)).toEqual(dump(r.dbAfter));
          expect([...again.schema.attrs]).toEqual([...r.dbAfter.schema.attrs]);
          // Without the transactor's maxEid, only ids that hold no datom are lost.
          const guessed = replayTx(r.dbBefore, r.txData);
          expect({ ...dump(guessed), maxEid: 0 }).toEqual({ ...dump(r.dbAfter), maxEid: 0 });
          expect(guessed.maxEid).toBeLessThanOrEqual(r.dbAfter.maxEid);
          folded = replayTx(folded!, logged, { maxEid: r.dbAfter.maxEid });
          kinds = {
            retractions: kinds.retractions + (r.txData.some((d) => !d.added) ? 1 : 0),
            autoAttrs:
              kinds.autoAttrs + (r.dbAfter.attr('x/note') && !r.dbBefore.attr('x/note') ? 1 : 0),
            schema: kinds.schema + (r.dbAfter.schema === r.dbBefore.schema ? 0 : 1),
            composites: kinds.composites + (r.txData.some((d) => Array.isArray(d.v)) ? 1 : 0),
          };
        }
        if (folded !== undefined) expect(dump(folded)).toEqual(dump(reports.at(-1)!.dbAfter));
      }),
      { numRuns: 60 },
    );
    // The generator reached every kind of transaction the fold must handle.
    expect(Object.values(kinds).every((n) => n > 0)).toBe(true);
  });

  it('refuses a transaction that does not fit the value', () => {
    const db = emptyDb(RANDOM_SCHEMA);
    const r1 = transact(db, [[':db/add', 1, 'r/name', 'Ann']]);
    const r2 = transact(r1.dbAfter, [[':db/retract', 1, 'r/name', 'Ann']]);
    const code = (f: () => unknown) => {
      try {
        f();
        return 'ok';
      } catch (e) {
        return (e as DiagonError).code;
      }
    };
    expect(code(() => replayTx(db, r2.txData))).toBe('db.error/replay');
    expect(code(() => replayTx(r1.dbAfter, r1.txData))).toBe('db.error/replay');
    expect(code(() => replayTx(db, r1.txData.slice(0, -1)))).toBe('db.error/replay');
    expect(code(() => replayTx(db, r1.txData, { maxEid: 0 }))).toBe('db.error/replay');
    const retractNothing = [new Datom(1, r1.txData[0]!.a, 'Bob', TX0 + 2, false), r2.txData[1]!];
    expect(code(() => replayTx(r1.dbAfter, retractNothing))).toBe('db.error/replay');
    expect(code(() => replayTx(db.asOf(0), r1.txData))).toBe('db.error/replay');
  });
});

describe('encodeTxData / decodeTxData', () => {
  const scalar = fc.oneof(
    fc.string({ unit: 'grapheme', maxLength: 20 }),
    fc.string({ maxLength: 200 }),
    fc.integer(),
    fc.maxSafeInteger(),
    fc.double(),
    fc.bigInt(),
    fc.boolean(),
    fc.date({ noInvalidDate: true }),
    fc.uuid().map((u) => new Uuid(u)),
    fc.constantFrom('a/b', 'db/ident', 'x').map(kw),
    fc.uint8Array({ maxLength: 20 }),
  );
  const value = fc.oneof(
    { weight: 5, arbitrary: scalar },
    { weight: 1, arbitrary: fc.array(fc.option(scalar), { maxLength: 4 }) },
  );
  const datom = fc
    .tuple(fc.maxSafeNat(), fc.maxSafeNat(), value, fc.maxSafeNat(), fc.boolean())
    .map(([e, a, v, tx, added]) => new Datom(e, a, v as Value, tx, added));

  it('round-trips any datoms (property)', () => {
    fc.assert(
      fc.property(fc.array(datom, { maxLength: 30 }), (datoms) => {
        expect(decodeTxData(encodeTxData(datoms))).toEqual(datoms);
      }),
      { numRuns: 300 },
    );
  });

  it('refuses other bytes with a DiagonError only (property)', () => {
    const valid = encodeTxData([new Datom(1, 2, 'x', 3, true), new Datom(1, 2, 'y', 3, false)]);
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), fc.nat(), (junk, at) => {
        for (const bytes of [
          junk,
          new Uint8Array([...valid.slice(0, at % valid.length), ...junk]),
        ]) {
          try {
            decodeTxData(bytes);
          } catch (e) {
            expect(e).toBeInstanceOf(DiagonError);
          }
        }
      }),
      { numRuns: 1000 },
    );
  });
});
