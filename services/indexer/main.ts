/**
 * The indexer process: configuration from the environment (`--help`), Postgres (migrated),
 * NATS with JetStream; serves queries and merges indexes for its pools; SIGTERM stops it.
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
import { Indexer } from './indexer.js';

export const INDEXER_ENV = {
  INDEXER_POOLS: envVar(
    '',
    'comma-separated pools to serve (unset: every pool, discovered)',
    z.string(),
  ),
  INDEXER_REPLICA: envVar(
    '',
    "this replica's name, for its durable consumers (unset: the host name)",
    z.string(),
  ),
  DATABASE_URL: envVar(
    'postgres://postgres@127.0.0.1:5432/postgres',
    'Postgres holding log and segments',
    POSTGRES_URL,
  ),
  DIAGON_SCHEMA: envVar('diagon', 'Postgres schema of the Diagon tables', SCHEMA_NAME),
  NATS_URL: envVar('nats://127.0.0.1:4222', 'NATS server (with JetStream)', z.string().min(1)),
  INDEX_MERGE_DATOMS: envVar('100000', 'merge after this many new datoms', envInt(1, 1e9)),
  INDEX_MERGE_MS: envVar('10000', 'or after this long', envInt(100, 86_400_000)),
  INDEX_KEEP_ROOTS: envVar(
    '3',
    'index roots kept per pool (older ones are collected)',
    envInt(1, 10_000),
  ),
  GC_EVERY_MS: envVar('60000', 'how often garbage collection runs', envInt(1000, 86_400_000)),
  GC_GRACE_MS: envVar(
    '600000',
    'segments younger than this are never collected',
    envInt(0, 86_400_000),
  ),
};

async function main(): Promise<void> {
  if (process.argv.includes('--help') || process.argv.includes('-h')) {
    console.log(
      envHelp(
        'diagon indexer — folds committed transactions, merges index segments, answers queries.',
        'node dist/services/indexer/main.js [--help]',
        INDEXER_ENV,
      ),
    );
    return;
  }
  const c = loadEnv('indexer', INDEXER_ENV);
  const log = pino({ name: 'indexer' });
  const sql = await connectPostgres({ url: c.DATABASE_URL, schema: c.DIAGON_SCHEMA });
  await migrate(sql);
  const bus = await connectNats({ url: c.NATS_URL, name: 'diagon-indexer' });
  const pools = c.INDEXER_POOLS.split(',')
    .map((p) => p.trim())
    .filter((p) => p !== '');
  const indexer = new Indexer({
    sql,
    bus,
    ...(pools.length > 0 ? { pools } : {}),
    ...(c.INDEXER_REPLICA !== '' ? { replica: c.INDEXER_REPLICA } : {}),
    mergeEveryDatoms: c.INDEX_MERGE_DATOMS,
    mergeEveryMs: c.INDEX_MERGE_MS,
    keepRoots: c.INDEX_KEEP_ROOTS,
    gcEveryMs: c.GC_EVERY_MS,
    gcGraceMs: c.GC_GRACE_MS,
    log,
  });
  await indexer.start();
  const stop = async (signal: string) => {
    log.info({ signal }, 'stopping');
    await indexer.stop();
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
