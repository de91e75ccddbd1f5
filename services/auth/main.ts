/** The auth service process (`--help` lists its variables). */
import { existsSync } from 'node:fs';
import { runService } from '../../libs/common/service.js';
import { KeyPair, loadKeyFile, saveKeyFile } from '../../libs/identity/index.js';
import { AUTH_ENV, loadAuthConfig } from './config.js';
import { startAuth } from './server.js';

runService({
  name: 'auth',
  title: 'the TCP/HTTP edge: authenticates members and relays their requests to NATS.',
  env: AUTH_ENV,
  async start({ log, sql, bus }) {
    const config = loadAuthConfig();
    let key: KeyPair;
    if (config.keyFile === '') {
      log.warn('AUTH_KEY_FILE is not set: a new key, so sessions end when the service restarts');
      key = KeyPair.generate();
    } else if (existsSync(config.keyFile)) key = await loadKeyFile(config.keyFile);
    else {
      key = KeyPair.generate();
      await saveKeyFile(config.keyFile, key);
      log.info({ path: config.keyFile, did: key.did }, 'created the service key file');
    }
    return startAuth({ config, sql, bus, key, log });
  },
});
