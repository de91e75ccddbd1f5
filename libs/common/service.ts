/**
 * The shape every service process shares: `--help` prints its variables; otherwise the
 * configuration is validated, Postgres is connected and migrated, NATS is connected, the
 * service starts, and SIGTERM or SIGINT stops it, drains the bus and closes Postgres. A
 * failure at start prints the error's message (a DiagonError says what to fix) and exits 1.
 */
import { pino } from 'pino';
import { z } from 'zod';
import { type Bus, connectNats } from '../bus/index.js';
import { isDiagonError } from '../db/errors.js';
import { connectPostgres, migrate, type Sql } from '../storage/index.js';
import { startTelemetry, traceIds } from '../telemetry/index.js';
import {
  type EnvSpec,
  type EnvValues,
  envHelp,
  envVar,
  loadEnv,
  POSTGRES_URL,
  SCHEMA_NAME,
} from './env.js';

/** The variables every service that uses Postgres and NATS has (spread into its spec). */
export const SERVICE_ENV = {
  DATABASE_URL: envVar(
    'postgres://postgres@127.0.0.1:5432/postgres',
    'Postgres holding the Diagon tables',
    POSTGRES_URL,
  ),
  DIAGON_SCHEMA: envVar('diagon', 'Postgres schema of the Diagon tables', SCHEMA_NAME),
  NATS_URL: envVar('nats://127.0.0.1:4222', 'NATS server (with JetStream)', z.string().min(1)),
};

export interface ServiceEnv {
  DATABASE_URL: string;
  DIAGON_SCHEMA: string;
  NATS_URL: string;
}

export interface ServiceContext<C> {
  config: C;
  /** The variables the configuration was read from. */
  env: Record<string, string | undefined>;
  log: pino.Logger;
  sql: Sql;
  bus: Bus;
}

export interface ServiceDefinition<S extends EnvSpec> {
  /** e.g. `transactor`: names the logger, the NATS connection and the command. */
  name: string;
  /** One line: what the service does. */
  title: string;
  /** Its entry point (default `dist/services/<name>/main.js`), shown by --help. */
  script?: string;
  env: S;
  /** Starts the service; resolves with what stops it. */
  start(ctx: ServiceContext<EnvValues<S>>): Promise<{ stop(): Promise<void> }>;
}

/** A service definition, typed by its variables (main.ts runs it; `diagon up` may too). */
export function defineService<S extends EnvSpec>(def: ServiceDefinition<S>): ServiceDefinition<S> {
  return def;
}

export function runService<S extends EnvSpec>(def: ServiceDefinition<S>): void {
  const main = async () => {
    if (process.argv.includes('--help') || process.argv.includes('-h')) {
      console.log(
        envHelp(
          `diagon ${def.name} — ${def.title}`,
          `node ${def.script ?? `dist/services/${def.name}/main.js`} [--help]`,
          def.env,
        ),
      );
      return;
    }
    const config = loadEnv(def.name, def.env);
    const telemetry = startTelemetry(def.name);
    const env = config as unknown as ServiceEnv;
    // Each line carries the trace and span it was written in (when telemetry is on).
    const log = pino({ name: def.name, mixin: () => traceIds() ?? {} });
    const sql = await connectPostgres({ url: env.DATABASE_URL, schema: env.DIAGON_SCHEMA });
    await migrate(sql);
    const bus = await connectNats({ url: env.NATS_URL, name: `diagon-${def.name}` });
    const service = await def.start({ config, env: process.env, log, sql, bus });
    let stopping = false;
    const stop = async (signal: string) => {
      if (stopping) return;
      stopping = true;
      log.info({ signal }, 'stopping');
      await service.stop();
      await bus.drain();
      await sql.end({ timeout: 5 });
      await telemetry.shutdown();
      process.exit(0);
    };
    process.once('SIGTERM', () => void stop('SIGTERM'));
    process.once('SIGINT', () => void stop('SIGINT'));
  };
  main().catch((e: unknown) => {
    console.error(isDiagonError(e) ? e.message : e);
    process.exit(1);
  });
}
