/**
 * A `diagon up` cluster of processes for tests and benchmarks, on the test Postgres (a
 * fresh schema) and NATS, and a pool of members logged in over HTTP.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Cluster, startCluster } from '../../cli/cluster/cluster.js';
import { DiagonHttp } from '../../libs/client/index.js';
import { KeyPair } from '../../libs/identity/index.js';
import { TEST_NATS_URL } from './nats.js';
import { freePort } from './net.js';
import { type TestPostgres, testPostgres } from './postgres.js';

export interface TestCluster {
  cluster: Cluster;
  pg: TestPostgres;
  /** Stops the cluster and drops the schema. */
  stop(): Promise<void>;
}

export async function testCluster(
  name: string,
  env: Record<string, string> = {},
): Promise<TestCluster> {
  const pg = await testPostgres(name, 2);
  const cluster = await startCluster({
    dataDir: join(mkdtempSync(join(tmpdir(), `diagon-${name}-`)), '.diagon'),
    databaseUrl: pg.url,
    schema: pg.schema,
    natsUrl: TEST_NATS_URL,
    tcpPort: await freePort(),
    httpPort: await freePort(),
    env,
    out: process.env.DEBUG_CLUSTER ? (l) => console.log(l) : () => {},
  });
  return {
    cluster,
    pg,
    async stop() {
      await cluster.stop();
      await pg.drop();
    },
  };
}

/** Creates `pool` with `members` new members (the first creates it), each logged in. */
export async function memberSessions(
  cluster: Cluster,
  pool: string,
  members = 3,
): Promise<{ keys: KeyPair[]; sessions: DiagonHttp[] }> {
  const keys = Array.from({ length: members }, () => KeyPair.generate());
  const url = cluster.httpUrl;
  await DiagonHttp.createPool({
    url,
    key: keys[0]!,
    pool,
    members: keys.map((k) => ({ did: k.did })),
  });
  await cluster.serving(pool);
  const sessions = await Promise.all(keys.map((key) => DiagonHttp.login({ url, pool, key })));
  return { keys, sessions };
}
