/**
 * `diagon up`: the whole cluster on one machine. Postgres and NATS come from the
 * environment or are started here (postgres.ts, nats.ts); auth, consensus, the indexer and
 * one transactor per pool run as child processes (supervisor.ts), or — without any NATS —
 * all in this process on the in-process bus. Like the operator, it starts a transactor for
 * every pool that appears.
 */
import { existsSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { MemoryBus } from '../../libs/bus/index.js';
import { loadEnv } from '../../libs/common/env.js';
import { freePort } from '../../libs/common/net.js';
import type { ServiceDefinition } from '../../libs/common/service.js';
import { connectPostgres, migrate, type Sql, watchPools } from '../../libs/storage/index.js';
import { authService } from '../../services/auth/service.js';
import { consensusService } from '../../services/consensus/service.js';
import { indexerService } from '../../services/indexer/service.js';
import { transactorService } from '../../services/transactor/service.js';
import { startNats, waitForPort } from './nats.js';
import { startPostgres } from './postgres.js';
import { Supervisor } from './supervisor.js';

export interface ClusterOptions {
  /** Where keys and the embedded servers' data live (default `.diagon`). */
  dataDir?: string;
  tcpPort?: number;
  httpPort?: number;
  /** Port of the embedded Postgres (when DATABASE_URL is unset). */
  pgPort?: number;
  /** Port of the spawned nats-server (when NATS_URL is unset). */
  natsPort?: number;
  databaseUrl?: string;
  natsUrl?: string;
  /** Postgres schema of the Diagon tables (default DIAGON_SCHEMA, else `diagon`). */
  schema?: string;
  /** More variables for every service (e.g. rate limits for a benchmark). */
  env?: Record<string, string>;
  /** Run the services in this process on the in-process bus, even with NATS at hand. */
  singleProcess?: boolean;
  /** Where log lines go (default stdout). */
  out?: (line: string) => void;
}

export interface Cluster {
  mode: 'processes' | 'single-process';
  httpUrl: string;
  tcpAddress: string;
  databaseUrl: string;
  natsUrl: string | null;
  dataDir: string;
  supervisor: Supervisor | null;
  /**
   * Each service's /healthz, /readyz and /metrics, by name (`auth`, `consensus`, `indexer`,
   * `capture`, `transactor/<pool>`): loopback ports the OS picked, unless `env` set them.
   */
  ops: Map<string, string>;
  /** Resolves once a transactor writes `pool` (a new pool gets one as soon as it is created). */
  serving(pool: string, timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

/** The compiled tree: this file's own when it runs compiled, else the repository's dist/. */
const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const dist = basename(root) === 'dist' ? root : join(root, 'dist');
const script = (service: string) => join(dist, 'services', service, 'main.js');

export async function startCluster(o: ClusterOptions = {}): Promise<Cluster> {
  const out = o.out ?? ((line: string) => console.log(line));
  const dataDir = resolve(o.dataDir ?? '.diagon');
  const tcpPort = o.tcpPort ?? 7420;
  const httpPort = o.httpPort ?? 7421;
  const stops: (() => Promise<void>)[] = [];
  const stop = async () => {
    for (const s of stops.reverse()) await s().catch((e: unknown) => out(`stop: ${String(e)}`));
  };
  try {
    const pg = await startPostgres({
      dataDir,
      port: o.pgPort ?? 5433,
      url: o.databaseUrl ?? process.env.DATABASE_URL,
      log: out,
    });
    stops.push(pg.stop);
    out(
      `postgres: ${pg.kind === 'embedded' ? 'embedded, data in .diagon/postgres' : 'DATABASE_URL'}`,
    );
    const nats = o.singleProcess
      ? null
      : await startNats({
          dataDir,
          port: o.natsPort ?? 4223,
          url: o.natsUrl ?? process.env.NATS_URL,
          log: out,
        });
    if (nats !== null) stops.push(nats.stop);
    const env: Record<string, string> = {
      DATABASE_URL: pg.url,
      DIAGON_SCHEMA: o.schema ?? process.env.DIAGON_SCHEMA ?? 'diagon',
      NATS_URL: nats?.url ?? '',
      AUTH_HOST: '127.0.0.1',
      AUTH_TCP_PORT: String(tcpPort),
      AUTH_HTTP_PORT: String(httpPort),
      AUTH_KEY_FILE: join(dataDir, 'keys', 'auth.key'),
      AUTH_ALLOW_POOL_CREATE: 'true',
      CONSENSUS_KEY_FILE: join(dataDir, 'keys', 'consensus.key'),
      INDEXER_REPLICA: 'local',
      CONSENSUS_HTTP_HOST: '127.0.0.1',
      CONSENSUS_HTTP_PORT: String(await freePort()),
      INDEXER_HTTP_HOST: '127.0.0.1',
      INDEXER_HTTP_PORT: String(await freePort()),
      CAPTURE_HTTP_HOST: '127.0.0.1',
      CAPTURE_HTTP_PORT: String(await freePort()),
      TRANSACTOR_HTTP_HOST: '127.0.0.1',
      ...o.env,
    };
    const local = (port: string | undefined) => `http://127.0.0.1:${port}`;
    const ops = new Map([
      ['auth', `http://127.0.0.1:${httpPort}`],
      ['consensus', local(env.CONSENSUS_HTTP_PORT)],
      ['indexer', local(env.INDEXER_HTTP_PORT)],
      ['capture', local(env.CAPTURE_HTTP_PORT)],
    ]);
    // Each transactor gets its own port (several run on this machine), unless one is set.
    const transactorEnv = async (pool: string) => {
      const port = o.env?.TRANSACTOR_HTTP_PORT ?? String(await freePort());
      ops.set(`transactor/${pool}`, local(port));
      return { TRANSACTOR_POOL: pool, TRANSACTOR_HTTP_PORT: port };
    };
    const sql = await connectPostgres({ url: pg.url, schema: env.DIAGON_SCHEMA!, max: 10 });
    stops.push(() => sql.end({ timeout: 5 }));
    await migrate(sql);
    const transactors = new Map<string, Promise<void>>();
    const serving = async (pool: string, timeoutMs = 30_000) => {
      const until = Date.now() + timeoutMs;
      while (!transactors.has(pool)) {
        if (Date.now() > until)
          throw new Error(`no transactor for pool ${pool} after ${timeoutMs} ms`);
        await new Promise((r) => setTimeout(r, 100));
      }
      await transactors.get(pool);
    };
    const cluster: Cluster = {
      mode: nats === null ? 'single-process' : 'processes',
      httpUrl: `http://127.0.0.1:${httpPort}`,
      tcpAddress: `127.0.0.1:${tcpPort}`,
      databaseUrl: pg.url,
      natsUrl: nats?.url ?? null,
      dataDir,
      supervisor: null,
      ops,
      serving,
      stop,
    };
    if (nats === null) {
      out(
        o.singleProcess
          ? 'single process: every service runs in this one process on the in-process bus (nothing durable on the bus)'
          : 'no NATS: NATS_URL is unset and nats-server is not on PATH, so every service runs in this one process on the in-process bus (nothing durable on the bus; install nats-server for the real thing)',
      );
      await startInProcess(env, sql, out, stops, transactors, transactorEnv);
    } else {
      cluster.supervisor = await startProcesses(env, sql, out, stops, transactors, transactorEnv);
    }
    if (cluster.supervisor === null || !existsSync(script('capture'))) ops.delete('capture');
    await waitForPort(httpPort, 30_000);
    return cluster;
  } catch (e) {
    await stop();
    throw e;
  }
}

/** Pools are noticed as soon as they are created; the slow re-read is a safety net. */
const watchOptions = (out: (l: string) => void) => ({
  everyMs: 5000,
  onError: (e: unknown) => out(`pools: ${String(e)}`),
});

async function startProcesses(
  env: Record<string, string>,
  sql: Sql,
  out: (l: string) => void,
  stops: (() => Promise<void>)[],
  transactors: Map<string, Promise<void>>,
  transactorEnv: (pool: string) => Promise<Record<string, string>>,
): Promise<Supervisor> {
  const sup = new Supervisor(out);
  stops.push(() => sup.stopAll());
  await sup.start({
    name: 'consensus',
    script: script('consensus'),
    env,
    readyWhen: (l) => l.msg === 'consensus ready',
  });
  await sup.start({ name: 'indexer', script: script('indexer'), env });
  const startTransactor = (pool: string) => {
    if (!transactors.has(pool))
      transactors.set(
        pool,
        transactorEnv(pool).then((more) =>
          sup.start({
            name: `transactor/${pool}`,
            script: script('transactor'),
            env: { ...env, ...more },
            readyWhen: (l) => l.msg === 'transactor active' || l.msg.startsWith('standby'),
          }),
        ),
      );
    return transactors.get(pool)!;
  };
  stops.push(await watchPools(sql, startTransactor, watchOptions(out)));
  await sup.start({ name: 'auth', script: script('auth'), env });
  const capture = script('capture');
  if (existsSync(capture)) await sup.start({ name: 'capture', script: capture, env });
  return sup;
}

async function startInProcess(
  env: Record<string, string>,
  sql: Sql,
  out: (l: string) => void,
  stops: (() => Promise<void>)[],
  transactors: Map<string, Promise<void>>,
  transactorEnv: (pool: string) => Promise<Record<string, string>>,
): Promise<void> {
  const bus = new MemoryBus();
  stops.push(() => bus.close());
  const run = async <S extends Parameters<typeof loadEnv>[1]>(
    def: ServiceDefinition<S>,
    extra: Record<string, string> = {},
  ) => {
    const vars = { ...process.env, ...env, ...extra };
    const service = await def.start({
      config: loadEnv(def.name, def.env, vars),
      env: vars,
      log: pino({ name: def.name, level: 'warn' }),
      sql,
      bus,
    });
    stops.push(() => service.stop());
  };
  await run(consensusService);
  await run(indexerService);
  const startTransactor = (pool: string) => {
    if (!transactors.has(pool))
      transactors.set(
        pool,
        transactorEnv(pool).then((more) => run(transactorService, more)),
      );
    return transactors.get(pool)!;
  };
  stops.push(await watchPools(sql, startTransactor, watchOptions(out)));
  await run(authService);
}
