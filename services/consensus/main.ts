/**
 * The consensus service process: configuration from the environment (`--help`), Postgres
 * (migrated), NATS with JetStream; any number of replicas; SIGTERM stops it.
 */
import { existsSync } from 'node:fs';
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
import { KeyPair, loadKeyFile, saveKeyFile } from '../../libs/identity/index.js';
import { connectPostgres, migrate } from '../../libs/storage/index.js';
import { Consensus } from './consensus.js';

export const CONSENSUS_ENV = {
  CONSENSUS_KEY_FILE: envVar(
    '',
    'the log key that signs checkpoints; created (0600) when missing; required in production',
    z.string(),
  ),
  DATABASE_URL: envVar(
    'postgres://postgres@127.0.0.1:5432/postgres',
    'Postgres holding proposals and votes',
    POSTGRES_URL,
  ),
  DIAGON_SCHEMA: envVar('diagon', 'Postgres schema of the Diagon tables', SCHEMA_NAME),
  NATS_URL: envVar('nats://127.0.0.1:4222', 'NATS server (with JetStream)', z.string().min(1)),
  PROPOSAL_TTL_MS: envVar(
    '86400000',
    'proposal time-to-live unless the pool policy sets ttlMs',
    envInt(1000, 365 * 86_400_000),
  ),
  TRUST_HALF_LIFE_MS: envVar(
    '2592000000',
    'trust decays towards neutral with this half-life',
    envInt(1000, 1e13),
  ),
};

async function main(): Promise<void> {
  if (process.argv.includes('--help') || process.argv.includes('-h')) {
    console.log(
      envHelp(
        'diagon consensus — proposals, signed votes, quorum and the governance log.',
        'node dist/services/consensus/main.js [--help]',
        CONSENSUS_ENV,
      ),
    );
    return;
  }
  const c = loadEnv('consensus', CONSENSUS_ENV);
  const log = pino({ name: 'consensus' });
  let key: KeyPair;
  if (c.CONSENSUS_KEY_FILE === '') {
    log.warn('CONSENSUS_KEY_FILE is not set: checkpoints are signed with a new key on every start');
    key = KeyPair.generate();
  } else if (existsSync(c.CONSENSUS_KEY_FILE)) key = await loadKeyFile(c.CONSENSUS_KEY_FILE);
  else {
    key = KeyPair.generate();
    await saveKeyFile(c.CONSENSUS_KEY_FILE, key);
  }
  const sql = await connectPostgres({ url: c.DATABASE_URL, schema: c.DIAGON_SCHEMA });
  await migrate(sql);
  const bus = await connectNats({ url: c.NATS_URL, name: 'diagon-consensus' });
  const consensus = new Consensus({
    sql,
    bus,
    logKey: key,
    ttlMs: c.PROPOSAL_TTL_MS,
    trust: { halfLifeMs: c.TRUST_HALF_LIFE_MS },
    log,
  });
  await consensus.start();
  log.info({ logKey: key.did }, 'consensus ready');
  const stop = async (signal: string) => {
    log.info({ signal }, 'stopping');
    await consensus.stop();
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
