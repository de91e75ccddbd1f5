/**
 * bench/capture:
 *
 * - offline: `diagon capture read` on a generated capture of a million frames against
 *   `tshark -r FILE -q -z conv,tcp` on the same file in the same run (target: faster than
 *   tshark); packets/s and MB/s of each, best of three runs each, taken in turn;
 * - live: clients ping the auth service as fast as it answers for a few seconds on lo
 *   while the capture (libpcap) decodes the traffic: frames sent vs decoded (the loss).
 *   Needs root; the edge, the clients and the capture share this process, as a sidecar
 *   shares the pod's cores.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { MemoryBus } from '../libs/bus/index.js';
import { connect } from '../libs/client/index.js';
import { KeyPair } from '../libs/identity/index.js';
import { addMember, connectPostgres, migrate, upsertPool } from '../libs/storage/index.js';
import { loadAuthConfig } from '../services/auth/config.js';
import { startAuth } from '../services/auth/server.js';
import { LiveCapture } from '../services/capture/live.js';
import { sampleCapture } from '../services/capture/sample-session.js';

const FLOWS = 100;
const REQUESTS = 5000;

function timed(cmd: string, args: string[]): number {
  const t0 = performance.now();
  const r = spawnSync(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'], maxBuffer: 1 << 30 });
  if (r.status !== 0) throw new Error(`${cmd} failed: ${r.stderr?.toString().slice(0, 300)}`);
  return (performance.now() - t0) / 1000;
}

function hasTshark(): boolean {
  return spawnSync('tshark', ['--version'], { stdio: 'ignore' }).status === 0;
}

async function offline(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'diagon-capture-bench-'));
  const file = join(dir, 'sessions.pcapng');
  try {
    const t0 = performance.now();
    writeFileSync(file, sampleCapture({ flows: FLOWS, requests: REQUESTS }));
    const bytes = statSync(file).size;
    const probe = spawnSync(
      process.execPath,
      [resolve('dist/cli/main.js'), 'capture', 'read', file, '--filter', 'ping'],
      { encoding: 'utf8', maxBuffer: 1 << 30 },
    );
    const packets = Number(/(\d+) packets/.exec(probe.stderr)?.[1] ?? Number.NaN);
    const frames = Number(/(\d+) frames/.exec(probe.stderr)?.[1] ?? Number.NaN);
    console.log(
      `\nbench/capture offline: ${FLOWS} sessions × ${REQUESTS} requests: ${packets} packets, ${frames} frames, ${(bytes / 1e6).toFixed(0)} MB (generated in ${((performance.now() - t0) / 1000).toFixed(1)} s)`,
    );
    const ours: number[] = [];
    const theirs: number[] = [];
    const tshark = hasTshark();
    for (let i = 0; i < 3; i++) {
      ours.push(timed(process.execPath, [resolve('dist/cli/main.js'), 'capture', 'read', file]));
      if (tshark) theirs.push(timed('tshark', ['-r', file, '-q', '-z', 'conv,tcp']));
    }
    const best = (xs: number[]) => Math.min(...xs);
    const line = (name: string, s: number) =>
      `${name.padEnd(36)} ${s.toFixed(2)} s  ${(packets / s / 1e3).toFixed(0)}k packets/s  ${(bytes / s / 1e6).toFixed(1)} MB/s`;
    console.log(line('diagon capture read (every frame)', best(ours)));
    if (!tshark) {
      console.log('tshark: not installed (apt-get install tshark): no baseline');
      return;
    }
    console.log(line('tshark -q -z conv,tcp', best(theirs)));
    console.log(
      `diagon is ${(best(theirs) / best(ours)).toFixed(2)}x tshark's speed (target > 1.0x)`,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function live(): Promise<void> {
  if (process.getuid?.() !== 0) {
    console.log('\nbench/capture live: needs root (or NET_RAW); skipped');
    return;
  }
  const url = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
  const schema = `bench_capture_${randomBytes(4).toString('hex')}`;
  const sql = await connectPostgres({ url, schema, max: 10 });
  const bus = new MemoryBus();
  const CLIENTS = 16;
  const SECONDS = 3;
  try {
    await migrate(sql);
    await upsertPool(sql, 'bench');
    const keys = Array.from({ length: CLIENTS }, () => KeyPair.generate());
    for (const k of keys) await addMember(sql, 'bench', { did: k.did, publicKey: k.publicKey });
    const config = {
      ...loadAuthConfig({ AUTH_TCP_PORT: '0', AUTH_HTTP_PORT: '0' }),
      rateIp: { perSecond: 1e9, burst: 1e9 },
      rateDid: { perSecond: 1e9, burst: 1e9 },
    };
    const auth = await startAuth({ config, sql, bus, key: KeyPair.generate() });
    const decoded = { ping: 0, pong: 0 };
    const capture = new LiveCapture({
      device: 'lo',
      serverPorts: [auth.tcpPort],
      onFrame: (e) => {
        if (e.type === 'ping' || e.type === 'pong') decoded[e.type]++;
      },
      onAnomaly: () => {},
    });
    capture.start();
    const clients = await Promise.all(
      keys.map((key) => connect({ port: auth.tcpPort, pool: 'bench', key, reconnect: false })),
    );
    let sent = 0;
    const start = performance.now();
    const until = start + SECONDS * 1000;
    await Promise.all(
      clients.map(async (c) => {
        while (performance.now() < until) {
          await c.ping();
          sent++;
        }
      }),
    );
    const elapsed = (performance.now() - start) / 1000;
    await Promise.all(clients.map((c) => c.close()));
    await new Promise((r) => setTimeout(r, 500));
    capture.stop();
    await auth.stop();
    const lost = 2 * sent - decoded.ping - decoded.pong;
    console.log(
      `\nbench/capture live on lo: ${CLIENTS} clients, ${(sent / elapsed).toFixed(0)} pings/s answered by the edge; frames sent ${2 * sent}, decoded ${decoded.ping + decoded.pong}: ${lost} lost (${((100 * lost) / Math.max(1, 2 * sent)).toFixed(2)}%), ${capture.dissector.counters.reassembly.gaps} gaps`,
    );
  } finally {
    await sql.unsafe(`drop schema if exists ${schema} cascade`);
    await sql.end({ timeout: 5 });
    await bus.close();
  }
}

export async function run(): Promise<void> {
  await offline();
  await live();
}
