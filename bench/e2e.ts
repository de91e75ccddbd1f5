/**
 * bench/e2e — governed commits through the edge: a cluster of processes (`diagon up`'s
 * own startCluster, on the local Postgres and NATS), a 3-member pool, and 1, 8 and 32
 * concurrent clients each looping propose → vote → vote (the deciding vote's answer says
 * committed) over the HTTP API. Prints commits/s, p50/p99 latency and where the time goes
 * from the clients' timers: the proposal (edge + consensus), the first vote (edge +
 * consensus), the deciding vote (edge + consensus + transactor + Postgres commit).
 * Baseline in the same run: the same loop's first two steps alone (propose + vote, no
 * commit), so the ratio shows what the commit path adds.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startCluster } from '../cli/cluster/cluster.js';
import { connectPostgres } from '../libs/storage/index.js';
import { memberSessions } from '../test/support/cluster.js';

const PG_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const NATS_URL = process.env.NATS_URL ?? 'nats://127.0.0.1:4222';
const SECONDS = 5;

const pct = (xs: number[], p: number) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))] ?? NaN;
const avg = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);

export async function run(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'diagon-bench-e2e-'));
  const schema = `bench_e2e_${randomBytes(4).toString('hex')}`;
  const cluster = await startCluster({
    dataDir: join(dir, '.diagon'),
    databaseUrl: PG_URL,
    natsUrl: NATS_URL,
    schema,
    tcpPort: 0,
    httpPort: 17_000 + Math.floor(Math.random() * 1000),
    env: {
      AUTH_RATE_DID_PER_S: '1000000',
      AUTH_RATE_DID_BURST: '1000000',
      AUTH_RATE_IP_PER_S: '1000000',
    },
    out: () => {},
  });
  try {
    const { sessions } = await memberSessions(cluster, 'bench-e2e');
    const [a, b, c] = sessions;
    const schemaTx = await a!.propose('[{:db/ident :n :db/valueType :db.type/long}]');
    await b!.vote(schemaTx.id, true, 'bench');
    await c!.vote(schemaTx.id, true, 'bench');
    console.log(
      `\nbench/e2e: governed commits through the edge (HTTP), 3-member pool, ${SECONDS} s per row`,
    );
    console.log(
      'clients  commits/s  p50 ms  p99 ms | propose  vote 1  deciding vote (ms, mean) | propose+vote only /s',
    );
    let n = 0;
    for (const clients of [1, 8, 32]) {
      const total: number[] = [];
      const phases: [number[], number[], number[]] = [[], [], []];
      const until = performance.now() + SECONDS * 1000;
      const start = performance.now();
      await Promise.all(
        Array.from({ length: clients }, async () => {
          while (performance.now() < until) {
            const t0 = performance.now();
            const p = await a!.propose(`[{:n ${n++}}]`);
            const t1 = performance.now();
            await b!.vote(p.id, true, 'bench');
            const t2 = performance.now();
            const last = await c!.vote(p.id, true, 'bench');
            const t3 = performance.now();
            if (last.status !== 'committed') throw new Error(`proposal ${p.id} is ${last.status}`);
            total.push(t3 - t0);
            phases[0].push(t1 - t0);
            phases[1].push(t2 - t1);
            phases[2].push(t3 - t2);
          }
        }),
      );
      const rate = total.length / ((performance.now() - start) / 1000);
      // Baseline: the same requests without the commit (the proposal stays open).
      let open = 0;
      const until2 = performance.now() + (SECONDS * 1000) / 2;
      const start2 = performance.now();
      await Promise.all(
        Array.from({ length: clients }, async () => {
          while (performance.now() < until2) {
            const p = await a!.propose(`[{:n ${n++}}]`);
            await b!.vote(p.id, true, 'bench');
            open++;
          }
        }),
      );
      const baseline = open / ((performance.now() - start2) / 1000);
      console.log(
        `${String(clients).padStart(7)}  ${rate.toFixed(1).padStart(9)}  ${pct(total, 50).toFixed(1).padStart(6)}  ${pct(total, 99).toFixed(1).padStart(6)} | ${avg(phases[0]).toFixed(1).padStart(7)}  ${avg(phases[1]).toFixed(1).padStart(6)}  ${avg(phases[2]).toFixed(1).padStart(13)}              | ${baseline.toFixed(1)} (commit path: ${(rate / baseline).toFixed(2)}x of it)`,
      );
    }
  } finally {
    await cluster.stop();
    const sql = await connectPostgres({ url: PG_URL, schema });
    await sql.unsafe(`drop schema if exists ${schema} cascade`);
    await sql.end({ timeout: 5 });
    rmSync(dir, { recursive: true, force: true });
  }
}
