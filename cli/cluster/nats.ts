/**
 * NATS for the local cluster: `NATS_URL` when it is set, else `nats-server` with JetStream
 * (data under the cluster's directory) when it is on PATH, else nothing: the caller then
 * runs every service in one process on the in-process bus.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { DiagonError } from '../../libs/db/errors.js';

export interface RunningNats {
  url: string;
  kind: 'external' | 'spawned';
  stop(): Promise<void>;
}

export function natsServerOnPath(): boolean {
  return spawnSync('nats-server', ['--version'], { stdio: 'ignore' }).status === 0;
}

/** Resolves once something accepts TCP connections on the port, or rejects after `ms`. */
export async function waitForPort(port: number, ms: number): Promise<void> {
  const until = Date.now() + ms;
  for (;;) {
    const open = await new Promise<boolean>((resolve) => {
      const s = connect(port, '127.0.0.1');
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (open) return;
    if (Date.now() > until)
      throw new DiagonError('up/timeout', `nothing listens on port ${port} after ${ms} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export async function startNats(o: {
  dataDir: string;
  port: number;
  url?: string;
  log: (line: string) => void;
}): Promise<RunningNats | null> {
  if (o.url !== undefined && o.url !== '')
    return { url: o.url, kind: 'external', stop: async () => {} };
  if (!natsServerOnPath()) return null;
  const storeDir = join(o.dataDir, 'nats');
  mkdirSync(storeDir, { recursive: true });
  const child: ChildProcess = spawn(
    'nats-server',
    ['-js', '-a', '127.0.0.1', '-p', String(o.port), '-sd', storeDir],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let exited = false;
  child.once('exit', () => {
    exited = true;
  });
  try {
    await waitForPort(o.port, 10_000);
  } catch {
    child.kill();
    throw new DiagonError(
      'up/nats',
      `nats-server did not start on port ${o.port}: is the port taken? Set NATS_URL to use another server, or --nats-port to move it`,
    );
  }
  o.log(`nats-server with JetStream on 127.0.0.1:${o.port} (data in ${storeDir})`);
  return {
    url: `nats://127.0.0.1:${o.port}`,
    kind: 'spawned',
    stop: () =>
      new Promise<void>((resolve) => {
        if (exited) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}
