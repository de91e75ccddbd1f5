/**
 * The transactor process for one pool: configuration from the environment (`--help`),
 * Postgres (migrated), NATS; standby until it holds the pool's fence; SIGTERM stops it.
 */
import { pino } from 'pino';
import { z } from 'zod';
import { connectNats } from '../../libs/bus/index.js';
import {
  envHelp,
  envInt,
  envVar,
  loadEnv,
  POSTGRES_URL,
  SCHEMA_NAME,
} from '../../libs/common/env.js';
import { isDiagonError } from '../../libs/db/errors.js';
import { connectPostgres, migrate } from '../../libs/storage/index.js';
import { Transactor } from './transactor.js';

export const TRANSACTOR_ENV = {
  TRANSACTOR_POOL: envVar(
    '',
    'the pool this transactor writes',
    z.string().regex(/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/, 'must be a pool name'),
    true,
  ),
  DATABASE_URL: envVar(
    'postgres://postgres@127.0.0.1:5432/postgres',
    'Postgres holding the log',
    POSTGRES_URL,
  ),
  DIAGON_SCHEMA: envVar('diagon', 'Postgres schema of the Diagon tables', SCHEMA_NAME),
  NATS_URL: envVar('nats://127.0.0.1:4222', 'NATS server (with JetStream)', z.string().min(1)),
  TX_BATCH_MAX: envVar('256', 'most transactions in one Postgres commit', envInt(1, 100_000)),
  TX_BATCH_DELAY_MS: envVar('0', 'how long a batch waits for more requests', envInt(0, 10_000)),
  TX_FENCE_RETRY_MS: envVar(
    '1000',
    'how often a standby transactor retries the fence',
    envInt(10, 600_000),
  ),
};

async function main(): Promise<void> {
  if (process.argv.includes('--help') || process.argv.includes('-h')) {
    console.log(
      envHelp(
        'diagon transactor — the one writer of a pool: verifies certificates, applies, logs, publishes.',
        'node dist/services/transactor/main.js [--help]',
        TRANSACTOR_ENV,
      ),
    );
    return;
  }
  const c = loadEnv('transactor', TRANSACTOR_ENV);
  const log = pino({ name: 'transactor', base: { pool: c.TRANSACTOR_POOL } });
  const sql = await connectPostgres({ url: c.DATABASE_URL, schema: c.DIAGON_SCHEMA });
  await migrate(sql);
  const bus = await connectNats({
    url: c.NATS_URL,
    name: `diagon-transactor-${c.TRANSACTOR_POOL}`,
  });
  const transactor = new Transactor({
    pool: c.TRANSACTOR_POOL,
    sql,
    bus,
    batchMax: c.TX_BATCH_MAX,
    batchDelayMs: c.TX_BATCH_DELAY_MS,
    fenceRetryMs: c.TX_FENCE_RETRY_MS,
    log,
  });
  await transactor.start();
  const stop = async (signal: string) => {
    log.info({ signal }, 'stopping');
    await transactor.stop();
    await bus.drain();
    await sql.end({ timeout: 5 });
    process.exit(0);
  };
  process.once('SIGTERM', () => void stop('SIGTERM'));
  process.once('SIGINT', () => void stop('SIGINT'));
}

main().catch((e: unknown) => {
  console.error(isDiagonError(e) ? e.message : e);
  process.exit(1);
});
