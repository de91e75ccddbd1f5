/**
 * The durable write and read paths against real Postgres and NATS with JetStream: the
 * transactor (in process, and as a real process killed with SIGKILL), the indexer, and
 * peers opened cold from storage.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rng } from '../bench/harness.js';
import { jsonData, parseJson, subjects } from '../libs/bus/index.js';
import {
  type Db,
  emptyDb,
  loadSnapshot,
  parseEdn,
  printEdn,
  SegmentCache,
  snapshotDb,
} from '../libs/db/index.js';
import { q } from '../libs/db/query/index.js';
import { KeyPair } from '../libs/identity/index.js';
import { Peer } from '../libs/peer/index.js';
import {
  addMember,
  advanceIndexRoot,
  getRoot,
  getSegments,
  listIndexRoots,
  migrate,
  putSegments,
  readLog,
  upsertPool,
  verifyChain,
} from '../libs/storage/index.js';
import { collectGarbage } from '../services/indexer/gc.js';
import { Indexer } from '../services/indexer/indexer.js';
import { Transactor, type TxResult } from '../services/transactor/transactor.js';
import { certify } from './support/governance.js';
import { randomPool, type TestNats, testNats } from './support/nats.js';
import { type TestPostgres, testPostgres } from './support/postgres.js';

let pg: TestPostgres;
let nats: TestNats;
const keys = [KeyPair.generate(), KeyPair.generate(), KeyPair.generate()];

beforeAll(async () => {
  pg = await testPostgres('durable');
  nats = await testNats();
  await migrate(pg.sql);
});
afterAll(async () => {
  await nats?.close();
  await pg?.drop();
});

async function newPool(): Promise<string> {
  const pool = randomPool();
  await upsertPool(pg.sql, pool);
  for (const k of keys) await addMember(pg.sql, pool, { did: k.did, publicKey: k.publicKey });
  return pool;
}

const SCHEMA = `[{:db/ident :name :db/valueType :db.type/string :db/unique :db.unique/identity}
  {:db/ident :age :db/valueType :db.type/long :db/index true}
  {:db/ident :friend :db/valueType :db.type/ref :db/cardinality :db.cardinality/many}]`;

async function submit(
  pool: string,
  txData: string,
  opts: { yes?: number } = {},
): Promise<TxResult> {
  const { bytes } = certify(pool, keys, txData, opts);
  const reply = await nats.bus.request(subjects.txSubmit(pool), bytes, { timeoutMs: 10_000 });
  return parseJson(reply) as TxResult;
}

async function query(pool: string, body: Record<string, unknown>): Promise<unknown> {
  const reply = await nats.bus.request(subjects.query(pool), jsonData(body), { timeoutMs: 10_000 });
  return parseEdn(new TextDecoder().decode(reply.data));
}

describe('the transactor and the indexer', () => {
  let pool: string;
  let transactor: Transactor;
  let indexer: Indexer;
  beforeAll(async () => {
    pool = await newPool();
    transactor = new Transactor({ pool, sql: pg.sql, bus: nats.bus });
    await transactor.start();
    indexer = new Indexer({
      sql: pg.sql,
      bus: nats.bus,
      pools: [pool],
      replica: 'test',
      mergeEveryMs: 3_600_000,
    });
    await indexer.start();
  });
  afterAll(async () => {
    await indexer?.stop();
    await transactor?.stop();
  });

  it('commits a certified transaction, and queries see it at its t and before', async () => {
    const s = await submit(pool, SCHEMA);
    const a = await submit(pool, '[{:name "Ann" :age 40} {:name "Bob" :age 30}]');
    expect(a.t).toBe(s.t + 1);
    expect(a.hash).toMatch(/^[0-9a-f]{64}$/);
    const b = await submit(pool, '[{:name "Ann" :age 41}]');
    const now = await query(pool, {
      kind: 'query',
      query: '[:find ?a . :where [?e :name "Ann"] [?e :age ?a]]',
      basisT: b.t,
    });
    expect(now).toBe(41);
    const before = await query(pool, {
      kind: 'query',
      query: '[:find ?a . :where [?e :name "Ann"] [?e :age ?a]]',
      asOf: a.t,
    });
    expect(before).toBe(40);
    const pulled = await query(pool, {
      kind: 'pull',
      pattern: '[:name :age]',
      eid: '[:name "Bob"]',
      basisT: b.t,
    });
    expect(printEdn(pulled as never)).toBe('{:name "Bob", :age 30}');
    const log = (await query(pool, { kind: 'log', from: 0 })) as unknown[];
    expect(log).toHaveLength(b.t);
  });

  it('commits a certificate once, and refuses one without quorum or with bad tx-data, changing nothing', async () => {
    const c = certify(pool, keys, '[{:name "Cid"}]');
    const first = parseJson(await nats.bus.request(subjects.txSubmit(pool), c.bytes)) as TxResult;
    const again = parseJson(await nats.bus.request(subjects.txSubmit(pool), c.bytes)) as TxResult;
    expect(again).toMatchObject({ t: first.t, proposal: first.proposal, hash: first.hash });
    const basis = (await getRoot(pg.sql, pool))!.basisT;
    await expect(submit(pool, '[{:name "Dee"}]', { yes: 0 })).rejects.toMatchObject({
      code: 'governance/no-quorum',
    });
    await expect(submit(pool, '[[:db/add "x" :name]]')).rejects.toMatchObject({
      code: expect.stringMatching(/^db\./),
    });
    expect((await getRoot(pg.sql, pool))!.basisT).toBe(basis);
    const after = await submit(pool, '[{:name "Dee"}]');
    expect(after.t).toBe(basis + 1);
  });

  it('batches 32 concurrent submitters into few commits, one unbroken chain', async () => {
    const before = (await getRoot(pg.sql, pool))!.basisT;
    const results = await Promise.all(
      Array.from({ length: 32 }, (_, i) => submit(pool, `[{:name "p${i}" :age ${i}}]`)),
    );
    const ts = results.map((r) => r.t).sort((x, y) => x - y);
    expect(ts).toEqual(Array.from({ length: 32 }, (_, i) => before + i + 1));
    expect(transactor.batches.some((n) => n > 1)).toBe(true);
    const log = await readLog(pg.sql, pool, 0);
    expect(() => verifyChain(pool, log)).not.toThrow();
  });

  it('keeps a second transactor for the pool on standby until the first stops', async () => {
    const second = new Transactor({ pool, sql: pg.sql, bus: nats.bus, fenceRetryMs: 50 });
    await second.start();
    expect(second.status).toBe('standby');
    const eve = certify(pool, keys, '[{:name "Eve"}]').bytes;
    const t = (parseJson(await nats.bus.request(subjects.txSubmit(pool), eve)) as TxResult).t;
    await transactor.stop();
    await second.ready;
    expect(second.status).toBe('active');
    expect(second.db!.basisT).toBe(t);
    // The new writer never saw Eve's certificate: resubmitted beside new ones, the log
    // answers it with its first t and only the new ones commit.
    const [again, fay, gus] = await Promise.all([
      nats.bus.request(subjects.txSubmit(pool), eve).then((r) => parseJson(r) as TxResult),
      submit(pool, '[{:name "Fay"}]'),
      submit(pool, '[{:name "Gus"}]'),
    ]);
    expect(again.t).toBe(t);
    expect([fay.t, gus.t].sort()).toEqual([t + 1, t + 2]);
    expect(second.db!.basisT).toBe(t + 2);
    transactor = second;
  });

  it('resumes an indexer that was stopped while commits went on', async () => {
    await indexer.stop();
    const t = (await submit(pool, '[{:name "Hal" :age 70}]')).t;
    await submit(pool, '[{:name "Ivy" :age 71}]');
    indexer = new Indexer({
      sql: pg.sql,
      bus: nats.bus,
      pools: [pool],
      replica: 'test',
      mergeEveryMs: 3_600_000,
    });
    await indexer.start();
    const ages = await query(pool, {
      kind: 'query',
      query: '[:find [?a ...] :where [?e :age ?a] [(>= ?a 70)]]',
      basisT: t + 1,
    });
    expect((ages as number[]).sort()).toEqual([70, 71]);
  });

  it('merges into segments; a cold peer equals the live value; GC keeps what is reachable', async () => {
    const first = await indexer.merge(pool);
    expect(first).not.toBeNull();
    await submit(pool, '[{:name "Gus" :age 7}]');
    const t = (await submit(pool, '[{:name "Ann" :age 42}]')).t;
    await indexer.peer(pool)!.sync(t);
    const second = await indexer.merge(pool);
    expect(second!.t).toBe(t);
    // Only changed nodes were written: far fewer segments than the first merge.
    expect(second!.segments).toBeLessThan(first!.segments + 10);
    const gc = await indexer.gc();
    expect(gc).not.toBeNull();
    const cold = await Peer.open({ sql: pg.sql, pool });
    const live = indexer.peer(pool)!.db;
    const names = '[:find ?n ?a :where [?e :name ?n] [?e :age ?a]]';
    expect(sortRows(q(names, cold.db))).toEqual(sortRows(q(names, live)));
    expect(cold.basisT).toBe(t);
    await cold.close();
  });
});

const sortRows = (rows: unknown) => (rows as unknown[][]).map((r) => JSON.stringify(r)).sort();

describe('a peer against an in-memory database fed the same transactions', () => {
  it('answers alike across index merges', async () => {
    const pool = await newPool();
    const transactor = new Transactor({ pool, sql: pg.sql, bus: nats.bus });
    await transactor.start();
    const indexer = new Indexer({
      sql: pg.sql,
      bus: nats.bus,
      pools: [pool],
      replica: 'diff',
      mergeEveryMs: 3_600_000,
    });
    await indexer.start();
    try {
      let mem: Db = emptyDb().with(SCHEMA).dbAfter;
      await submit(pool, SCHEMA);
      const rnd = rng(7);
      const queries = [
        '[:find ?n ?a :where [?e :name ?n] [?e :age ?a]]',
        '[:find ?n1 ?n2 :where [?a :friend ?b] [?a :name ?n1] [?b :name ?n2]]',
        '[:find (count ?e) . :where [?e :age ?a] [(> ?a 50)]]',
      ];
      for (let round = 0; round < 6; round++) {
        for (let i = 0; i < 8; i++) {
          const n = `u${Math.floor(rnd() * 30)}`;
          const m = `u${Math.floor(rnd() * 30)}`;
          const tx =
            rnd() < 0.2
              ? `[[:db/retractEntity [:name "${n}"]]]`
              : `[{:name "${n}" :age ${Math.floor(rnd() * 100)}} {:name "${m}" :friend [[:name "${n}"]]}]`;
          try {
            mem = mem.with(tx).dbAfter;
          } catch {
            await expect(submit(pool, tx)).rejects.toBeDefined();
            continue;
          }
          await submit(pool, tx);
        }
        if (round % 2 === 1) await indexer.merge(pool);
        const peer = await Peer.open({ sql: pg.sql, pool });
        expect(peer.basisT).toBe(mem.basisT);
        for (const text of queries)
          expect(sortRows([q(text, peer.db)].flat(0))).toEqual(sortRows([q(text, mem)].flat(0)));
        await peer.close();
      }
    } finally {
      await indexer.stop();
      await transactor.stop();
    }
  });
});

describe('garbage collection', () => {
  it('never deletes a segment reachable from a kept root, whatever the history and retention (property)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.oneof(fc.constant('merge' as const), fc.nat(40)), {
          minLength: 3,
          maxLength: 14,
        }),
        fc.integer({ min: 1, max: 3 }),
        async (ops, keep) => {
          const pool = await newPool();
          let db: Db = emptyDb({ n: { ':db/index': true } });
          let rootT = 0;
          const merge = async () => {
            if (db.basisT === rootT) return;
            const snap = snapshotDb(db);
            await putSegments(pg.sql, new Map([...snap.segments, [snap.rootHash, snap.rootBytes]]));
            await advanceIndexRoot(pg.sql, pool, rootT, {
              t: db.basisT,
              rootHash: snap.rootHash,
              root: snap.rootBytes,
            });
            rootT = db.basisT;
          };
          for (const op of ops) {
            if (op === 'merge') await merge();
            else db = db.with([{ 'db/id': (op % 7) + 1, n: op }]).dbAfter;
          }
          await merge();
          const report = await collectGarbage(pg.sql, { keepRoots: keep, graceMs: 0 });
          expect(report).not.toBeNull();
          const kept = await listIndexRoots(pg.sql, pool);
          expect(kept.length).toBeLessThanOrEqual(keep);
          for (const root of kept) {
            const loaded = await loadSnapshot(
              root.root,
              { fetch: (h) => getSegments(pg.sql, h) },
              new SegmentCache({ maxEncodedBytes: 1, maxDecodedBytes: 1 }),
            );
            expect(loaded.basisT).toBe(root.t);
          }
          expect((await Peer.open({ sql: pg.sql, pool })).basisT).toBe(db.basisT);
        },
      ),
      { numRuns: 12 },
    );
  });
});

describe('a transactor process killed with SIGKILL', () => {
  const main = 'dist/services/transactor/main.js';
  const run = (pool: string): ChildProcess =>
    spawn(process.execPath, [main], {
      env: {
        ...process.env,
        TRANSACTOR_POOL: pool,
        DATABASE_URL: pg.url,
        DIAGON_SCHEMA: pg.schema,
        NATS_URL: nats.url,
        TX_FENCE_RETRY_MS: '100',
      },
      stdio: 'ignore',
    });

  it('loses nothing committed and duplicates nothing', async () => {
    expect(existsSync(main), `${main} is missing: npm test builds it (npm run build)`).toBe(true);
    const pool = await newPool();
    let child = run(pool);
    await expect
      .poll(
        async () =>
          submit(pool, SCHEMA).then(
            () => true,
            () => false,
          ),
        { timeout: 15_000, interval: 200 },
      )
      .toBe(true);
    const acked = new Map<string, number>();
    const certs = Array.from({ length: 120 }, (_, i) =>
      certify(pool, keys, `[{:name "k${i}" :age ${i}}]`),
    );
    let killed = false;
    const send = async (c: { bytes: Uint8Array; proposal: string }) => {
      for (;;) {
        try {
          const r = parseJson(
            await nats.bus.request(subjects.txSubmit(pool), c.bytes, { timeoutMs: 2000 }),
          ) as TxResult;
          acked.set(c.proposal, r.t);
          return;
        } catch {
          await new Promise((r) => setTimeout(r, 100));
        }
      }
    };
    const sending = (async () => {
      for (let i = 0; i < certs.length; i += 8) {
        await Promise.all(certs.slice(i, i + 8).map(send));
        if (!killed && i >= 40) {
          killed = true;
          child.kill('SIGKILL');
          child = run(pool);
        }
      }
    })();
    await sending;
    child.kill('SIGTERM');
    const log = await readLog(pg.sql, pool, 0);
    expect(() => verifyChain(pool, log)).not.toThrow();
    expect(new Set(log.map((e) => e.proposal)).size).toBe(log.length);
    const byProposal = new Map(log.map((e) => [e.proposal, e.t]));
    for (const [proposal, t] of acked) expect(byProposal.get(proposal)).toBe(t);
    expect(log).toHaveLength(certs.length + 1);
    const peer = await Peer.open({ sql: pg.sql, pool });
    expect(q('[:find (count ?e) . :where [?e :age]]', peer.db)).toBe(certs.length);
    await peer.close();
  });
});
