/**
 * bench/durable — the durable write path and the peer:
 *
 * - 32 concurrent submitters of small certified transactions (5 datoms each, counting the
 *   :db/txInstant) through NATS to the transactor, which group-commits to Postgres:
 *   committed tx/s and p50/p99 latency, against `pgbench` running a one-row INSERT script
 *   with 32 clients on the same Postgres in the same run (the ratio; target ≥ 1.0x, p99 <
 *   20 ms);
 * - peer cold start on a 1M-datom pool (segments in Postgres, fresh cache);
 * - warm q4 of bench/query on the peer's value vs the in-memory libs/db value it was built
 *   from (target ≤ 1.5x).
 *
 * Postgres: DATABASE_URL or the local test database; NATS: NATS_URL or the local server.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { type Bus, connectNats, subjects } from '../libs/bus/index.js';
import { emptyDb, q, SegmentCache, snapshotDb } from '../libs/db/index.js';
import { KeyPair } from '../libs/identity/index.js';
import { Peer } from '../libs/peer/index.js';
import {
  addMember,
  advanceIndexRoot,
  connectPostgres,
  migrate,
  putSegments,
  type Sql,
  upsertPool,
} from '../libs/storage/index.js';
import { Transactor } from '../services/transactor/transactor.js';
import { certify } from '../test/support/governance.js';
import { BENCH_SCHEMA, peopleGenerator, personMap } from './data.js';
import { measureAlternating } from './harness.js';

const PG_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const CLIENTS = 32;
const SECONDS = 5;

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

function pgbenchTps(): number | null {
  const dir = mkdtempSync(join(tmpdir(), 'diagon-pgbench-'));
  const script = join(dir, 'insert.sql');
  writeFileSync(script, "insert into diagon_pgbench (v) values ('x');\n");
  const u = new URL(PG_URL);
  const args = [
    '-h',
    u.hostname,
    '-p',
    u.port || '5432',
    '-U',
    u.username || 'postgres',
    u.pathname.slice(1),
  ];
  try {
    execFileSync(
      'psql',
      [
        ...args,
        '-qc',
        'create table if not exists diagon_pgbench (id bigserial primary key, v text)',
      ],
      { stdio: 'ignore' },
    );
    const out = execFileSync(
      'pgbench',
      ['-n', '-c', String(CLIENTS), '-j', '2', '-T', String(SECONDS), '-f', script, ...args],
      {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'ignore'],
      },
    );
    execFileSync('psql', [...args, '-qc', 'drop table diagon_pgbench'], { stdio: 'ignore' });
    const m = /tps = ([\d.]+)/.exec(out);
    return m === null ? null : Number(m[1]);
  } catch {
    return null;
  }
}

async function openBus(): Promise<Bus> {
  // The clients run in a worker thread with their own connection: a real NATS is needed.
  return connectNats({
    url: process.env.NATS_URL ?? 'nats://127.0.0.1:4222',
    name: 'bench-durable',
  });
}

async function writes(
  sql: Sql,
  bus: Bus,
): Promise<{ tps: number; p50: number; p99: number; batch: number }> {
  const key = KeyPair.generate();
  const pool = `bench-${randomBytes(3).toString('hex')}`;
  await upsertPool(sql, pool);
  await addMember(sql, pool, { did: key.did, publicKey: key.publicKey });
  const transactor = new Transactor({ pool, sql, bus });
  await transactor.start();
  const send = (bytes: Uint8Array) =>
    bus.request(subjects.txSubmit(pool), bytes, { timeoutMs: 30_000 });
  await send(
    certify(
      pool,
      [key],
      '[{:db/ident :name :db/valueType :db.type/string} {:db/ident :age :db/valueType :db.type/long} {:db/ident :email :db/valueType :db.type/string} {:db/ident :city :db/valueType :db.type/string}]',
    ).bytes,
  );
  // Certificates are made before the clock starts: clients are not the system under test.
  // Certificates are made before the clock starts, and sent from a worker thread: clients
  // are not the system under test.
  const certs = Array.from(
    { length: 40_000 },
    (_, i) =>
      certify(pool, [key], `[{:name "n${i}" :age ${i % 90} :email "e${i}@x" :city "c${i % 50}"}]`)
        .bytes,
  );
  const natsUrl = process.env.NATS_URL ?? 'nats://127.0.0.1:4222';
  const result = await new Promise<{ latencies: number[]; elapsed: number; exhausted: boolean }>(
    (resolve, reject) => {
      const w = new Worker(new URL('./durable-client.js', import.meta.url), {
        workerData: { natsUrl, pool, certs, clients: CLIENTS, warmupMs: 1000, seconds: SECONDS },
      });
      w.once('message', resolve);
      w.once('error', reject);
    },
  );
  if (result.exhausted) console.log('(the clients ran out of certificates: make more)');
  const latencies = result.latencies;
  const elapsed = result.elapsed;
  const batches = transactor.batches.slice(-200);
  await transactor.stop();
  latencies.sort((a, b) => a - b);
  return {
    tps: latencies.length / elapsed,
    p50: pct(latencies, 50),
    p99: pct(latencies, 99),
    batch: batches.reduce((a, b) => a + b, 0) / Math.max(1, batches.length),
  };
}

async function peer(sql: Sql): Promise<void> {
  const pool = `bench-${randomBytes(3).toString('hex')}`;
  await upsertPool(sql, pool);
  const gen = peopleGenerator(7);
  let db = emptyDb(BENCH_SCHEMA);
  const people = 120_000; // × 8 attributes ≈ 1M datoms
  for (let i = 0; i < people; i += 10_000)
    db = db.with(
      Array.from({ length: 10_000 }, (_, j) => personMap(gen(), 'db/id', i + j + 1)),
    ).dbAfter;
  const datoms = db.datoms('eavt').length;
  const snap = snapshotDb(db);
  await putSegments(sql, new Map([...snap.segments, [snap.rootHash, snap.rootBytes]]));
  await advanceIndexRoot(sql, pool, 0, {
    t: db.basisT,
    rootHash: snap.rootHash,
    root: snap.rootBytes,
  });
  const t0 = performance.now();
  const cold = await Peer.open({
    sql,
    pool,
    cache: new SegmentCache({ maxEncodedBytes: 2 ** 30, maxDecodedBytes: 2 ** 31 }),
  });
  const coldMs = performance.now() - t0;
  console.log(
    `\npeer cold start: ${datoms} datoms, ${snap.segments.size} segments: ${coldMs.toFixed(0)} ms`,
  );
  const q4 =
    '[:find ?e ?l ?a :where [?e :name "Ivan"] [?e :last-name ?l] [?e :age ?a] [?e :sex ":male"]]';
  if (JSON.stringify(q(q4, cold.db)) !== JSON.stringify(q(q4, db)))
    throw new Error('peer and memory disagree on q4');
  const [mem, onPeer] = measureAlternating([() => q(q4, db), () => q(q4, cold.db)]);
  console.log(
    `warm q4: in-memory ${mem!.msPerOp.toFixed(3)} ms, peer ${onPeer!.msPerOp.toFixed(3)} ms: peer/memory ${(onPeer!.msPerOp / mem!.msPerOp).toFixed(2)}x (target ≤ 1.5x)`,
  );
  await cold.close();
}

export async function run(): Promise<void> {
  const schema = `bench_durable_${randomBytes(4).toString('hex')}`;
  const sql = await connectPostgres({ url: PG_URL, schema, max: 10 });
  const bus = await openBus();
  try {
    await migrate(sql);
    console.log(
      `\nbench/durable: ${CLIENTS} concurrent submitters, 5-datom transactions, ${SECONDS} s`,
    );
    const baseline = pgbenchTps();
    const w = await writes(sql, bus);
    console.log(
      `diagon: ${w.tps.toFixed(0)} tx/s, p50 ${w.p50.toFixed(1)} ms, p99 ${w.p99.toFixed(1)} ms, ${w.batch.toFixed(1)} tx per Postgres commit`,
    );
    if (baseline === null)
      console.log('pgbench: not available (install postgresql-contrib or the pgbench binary)');
    else
      console.log(
        `pgbench (one-row INSERT, ${CLIENTS} clients): ${baseline.toFixed(0)} tps; diagon/pgbench ${(w.tps / baseline).toFixed(2)}x (target ≥ 1.0x, p99 < 20 ms)`,
      );
    await peer(sql);
  } finally {
    await sql.unsafe(`drop schema if exists ${schema} cascade`);
    await sql.end({ timeout: 5 });
    await bus.close();
  }
}
