/**
 * bench/e2e — governed commits through the edge: a cluster of processes (`diagon up`'s
 * own startCluster, on the local Postgres and NATS), a 3-member pool, and 1, 8 and 32
 * concurrent clients each looping propose → vote → vote (the deciding vote's answer says
 * committed) over the HTTP API. Prints commits/s, p50/p99 latency and where the time goes
 * from the clients' timers: the proposal (edge + consensus), the first vote (edge +
 * consensus), the deciding vote (edge + consensus + transactor + Postgres commit).
 * Baseline in the same run: the same loop's first two steps alone (propose + vote, no
 * commit), so the ratio shows what the commit path adds.
 *
 * Then telemetry: clusters whose services export every span and their metrics over
 * OTLP/HTTP (protobuf, the default) to a receiver in this process, measured in turn with
 * clusters without, at 8 clients, ten rounds each, after a 2 s warm-up (a fresh cluster
 * per turn: two deployments must not share one NATS account, see README); the ratio of
 * the medians is the cost of telemetry (target: under 10%), and the median of each round's
 * own ratio says the same without the drift between rounds.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Cluster, startCluster } from '../cli/cluster/cluster.js';
import type { DiagonHttp } from '../libs/client/index.js';
import { connectPostgres } from '../libs/storage/index.js';
import { memberSessions } from '../test/support/cluster.js';
import { countSpans, otlpSuccess } from '../test/support/otlp.js';

const PG_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const NATS_URL = process.env.NATS_URL ?? 'nats://127.0.0.1:4222';
const SECONDS = 5;
const TELEMETRY_ROUNDS = 10;
const TELEMETRY_CLIENTS = 8;

const pct = (xs: number[], p: number) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))] ?? NaN;
const avg = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
const median = (xs: number[]) => pct(xs, 50);

interface Bench {
  cluster: Cluster;
  sessions: DiagonHttp[];
  stop(): Promise<void>;
}

let n = 0;

export async function benchCluster(env: Record<string, string> = {}): Promise<Bench> {
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
      ...env,
    },
    out: () => {},
  });
  const stop = async () => {
    await cluster.stop();
    const sql = await connectPostgres({ url: PG_URL, schema });
    await sql.unsafe(`drop schema if exists ${schema} cascade`);
    await sql.end({ timeout: 5 });
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    // A fresh pool name: the tx stream on a shared NATS deduplicates by pool and t.
    const pool = `bench-e2e-${randomBytes(3).toString('hex')}`;
    const { sessions } = await memberSessions(cluster, pool);
    const [a, b, c] = sessions;
    const schemaTx = await a!.propose('[{:db/ident :n :db/valueType :db.type/long}]');
    await b!.vote(schemaTx.id, true, 'bench');
    await c!.vote(schemaTx.id, true, 'bench');
    return { cluster, sessions, stop };
  } catch (e) {
    await stop();
    throw e;
  }
}

/** `clients` loops of propose → vote → deciding vote for `seconds`. */
export async function governed(sessions: DiagonHttp[], clients: number, seconds: number) {
  const [a, b, c] = sessions;
  const total: number[] = [];
  const phases: [number[], number[], number[]] = [[], [], []];
  const until = performance.now() + seconds * 1000;
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
  return { rate: total.length / ((performance.now() - start) / 1000), total, phases };
}

/** The same requests without the commit (each proposal stays open). */
async function openOnly(sessions: DiagonHttp[], clients: number, seconds: number) {
  const [a, b] = sessions;
  let open = 0;
  const until = performance.now() + seconds * 1000;
  const start = performance.now();
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (performance.now() < until) {
        const p = await a!.propose(`[{:n ${n++}}]`);
        await b!.vote(p.id, true, 'bench');
        open++;
      }
    }),
  );
  return open / ((performance.now() - start) / 1000);
}

/** An OTLP/HTTP receiver that counts the spans it is sent. */
export async function otlpReceiver() {
  const got = { requests: 0, spans: 0, bytes: 0 };
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      got.requests++;
      got.bytes += body.length;
      if (req.url === '/v1/traces') got.spans += countSpans(body, req.headers['content-type']);
      const [type, reply] = otlpSuccess(req.headers['content-type']);
      res.writeHead(200, { 'content-type': type }).end(reply);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    got,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

export async function run(): Promise<void> {
  const off = await benchCluster();
  try {
    console.log(
      `\nbench/e2e: governed commits through the edge (HTTP), 3-member pool, ${SECONDS} s per row`,
    );
    console.log(
      'clients  commits/s  p50 ms  p99 ms | propose  vote 1  deciding vote (ms, mean) | propose+vote only /s',
    );
    for (const clients of [1, 8, 32]) {
      const { rate, total, phases } = await governed(off.sessions, clients, SECONDS);
      const baseline = await openOnly(off.sessions, clients, SECONDS / 2);
      console.log(
        `${String(clients).padStart(7)}  ${rate.toFixed(1).padStart(9)}  ${pct(total, 50).toFixed(1).padStart(6)}  ${pct(total, 99).toFixed(1).padStart(6)} | ${avg(phases[0]).toFixed(1).padStart(7)}  ${avg(phases[1]).toFixed(1).padStart(6)}  ${avg(phases[2]).toFixed(1).padStart(13)}              | ${baseline.toFixed(1)} (commit path: ${(rate / baseline).toFixed(2)}x of it)`,
      );
    }
  } finally {
    await off.stop();
  }
  await telemetry();
}

export async function telemetry(): Promise<void> {
  const receiver = await otlpReceiver();
  // The SDK's defaults otherwise (spans batched every 5 s, metrics every 60 s), as deployed.
  const otel = { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url };
  try {
    console.log(
      `\ntelemetry on vs off: ${TELEMETRY_CLIENTS} clients, ${TELEMETRY_ROUNDS} rounds of ${SECONDS} s each, in turn (a fresh cluster each)`,
    );
    console.log('round  off commits/s  on commits/s  off p50 ms  on p50 ms');
    const rates = { off: [] as number[], on: [] as number[] };
    const p50s = { off: [] as number[], on: [] as number[] };
    for (let round = 1; round <= TELEMETRY_ROUNDS; round++) {
      // Alternate which goes first, so neither always runs on a warmer machine.
      const order = round % 2 === 1 ? (['off', 'on'] as const) : (['on', 'off'] as const);
      for (const which of order) {
        const bench = await benchCluster(which === 'on' ? otel : {});
        try {
          await governed(bench.sessions, TELEMETRY_CLIENTS, 2); // warm-up (JIT, pools)
          const r = await governed(bench.sessions, TELEMETRY_CLIENTS, SECONDS);
          rates[which].push(r.rate);
          p50s[which].push(pct(r.total, 50));
        } finally {
          await bench.stop();
        }
      }
      console.log(
        `${String(round).padStart(5)}  ${rates.off.at(-1)!.toFixed(1).padStart(13)}  ${rates.on.at(-1)!.toFixed(1).padStart(12)}  ${p50s.off.at(-1)!.toFixed(1).padStart(10)}  ${p50s.on.at(-1)!.toFixed(1).padStart(9)}`,
      );
    }
    const ratio = median(rates.on) / median(rates.off);
    // Each round's pair ran back to back: their ratio is free of the drift between rounds.
    const paired = median(rates.on.map((on, i) => on / rates.off[i]!));
    console.log(
      `median: off ${median(rates.off).toFixed(1)}/s, on ${median(rates.on).toFixed(1)}/s → on/off ${ratio.toFixed(3)}x, overhead ${((1 - ratio) * 100).toFixed(1)}% (target < 10%); p50 ${median(p50s.off).toFixed(1)} → ${median(p50s.on).toFixed(1)} ms`,
    );
    console.log(
      `median of the rounds' on/off ratios: ${paired.toFixed(3)}x, overhead ${((1 - paired) * 100).toFixed(1)}%`,
    );
    console.log(
      `the receiver got ${receiver.got.spans} spans in ${receiver.got.requests} requests (${(receiver.got.bytes / 2 ** 20).toFixed(1)} MiB)`,
    );
    if (receiver.got.spans === 0) throw new Error('telemetry on exported no spans');
  } finally {
    await receiver.close();
  }
}
