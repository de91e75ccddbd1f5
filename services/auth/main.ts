/**
 * The auth service process: configuration from the environment (`--help` lists it),
 * Postgres (migrated), NATS, then the servers; SIGTERM or SIGINT drains and exits.
 */
import { existsSync } from 'node:fs';
import { pino } from 'pino';
import { connectNats } from '../../libs/bus/index.js';
import { isDiagonError } from '../../libs/db/errors.js';
import { KeyPair, loadKeyFile, saveKeyFile } from '../../libs/identity/index.js';
import { connectPostgres, migrate } from '../../libs/storage/index.js';
import { authHelp, loadAuthConfig } from './config.js';
import { startAuth } from './server.js';

async function loadOrCreateKey(path: string, log: pino.Logger): Promise<KeyPair> {
  if (path === '') {
    log.warn(
      'AUTH_KEY_FILE is not set: using a new key, so sessions end when the service restarts',
    );
    return KeyPair.generate();
  }
  if (existsSync(path)) return loadKeyFile(path);
  const key = KeyPair.generate();
  await saveKeyFile(path, key);
  log.info({ path, did: key.did }, 'created the service key file');
  return key;
}

async function main(): Promise<void> {
  if (process.argv.includes('--help') || process.argv.includes('-h')) {
    console.log(authHelp());
    return;
  }
  const log = pino({ name: 'auth' });
  const config = loadAuthConfig();
  const key = await loadOrCreateKey(config.keyFile, log);
  const sql = await connectPostgres({ url: config.databaseUrl, schema: config.schema });
  await migrate(sql);
  const bus = await connectNats({ url: config.natsUrl, name: 'diagon-auth' });
  const service = await startAuth({ config, sql, bus, key, log });
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'draining');
    await service.stop();
    await bus.drain();
    await sql.end({ timeout: 5 });
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
}

main().catch((e: unknown) => {
  console.error(isDiagonError(e) ? e.message : e);
  process.exit(1);
});
