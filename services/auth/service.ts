/** The auth service's definition: its variables and how it starts (see main.ts). */
import { defineService } from '../../libs/common/service.js';
import { KeyPair, loadOrCreateKeyFile } from '../../libs/identity/index.js';
import { AUTH_ENV, loadAuthConfig } from './config.js';
import { startAuth } from './server.js';

export const authService = defineService({
  name: 'auth',
  title: 'the TCP/HTTP edge: authenticates members and relays their requests to NATS.',
  env: AUTH_ENV,
  async start({ log, sql, bus, env }) {
    const config = loadAuthConfig(env);
    let key: KeyPair;
    if (config.keyFile === '') {
      log.warn('AUTH_KEY_FILE is not set: a new key, so sessions end when the service restarts');
      key = KeyPair.generate();
    } else {
      const file = await loadOrCreateKeyFile(config.keyFile);
      key = file.key;
      if (file.created)
        log.info({ path: config.keyFile, did: key.did }, 'created the service key file');
    }
    return startAuth({ config, sql, bus, key, log });
  },
});
