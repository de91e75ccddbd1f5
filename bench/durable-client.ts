/**
 * The submitters of bench/durable, in a worker thread with their own NATS connection, so
 * that the clients do not share the transactor's thread (as pgbench's clients do not
 * share Postgres's processes).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { connectNats, subjects } from '../libs/bus/index.js';

interface Job {
  natsUrl: string;
  pool: string;
  certs: Uint8Array[];
  clients: number;
  warmupMs: number;
  seconds: number;
}

const job = workerData as Job;
const bus = await connectNats({ url: job.natsUrl, name: 'bench-durable-clients' });
let next = 0;
const loop = async (until: number, lat: number[] | null) => {
  while (performance.now() < until && next < job.certs.length) {
    const bytes = job.certs[next++]!;
    const t0 = performance.now();
    await bus.request(subjects.txSubmit(job.pool), bytes, { timeoutMs: 30_000 });
    lat?.push(performance.now() - t0);
  }
};
const warm = performance.now() + job.warmupMs;
await Promise.all(Array.from({ length: job.clients }, () => loop(warm, null)));
const latencies: number[] = [];
const start = performance.now();
await Promise.all(
  Array.from({ length: job.clients }, () => loop(start + job.seconds * 1000, latencies)),
);
const elapsed = (performance.now() - start) / 1000;
await bus.close();
parentPort!.postMessage({ latencies, elapsed, exhausted: next >= job.certs.length });
