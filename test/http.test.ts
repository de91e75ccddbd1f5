/**
 * The HTTP API end to end on real NATS and Postgres: auth, consensus, a transactor and an
 * indexer in process, driven through `DiagonHttp` and raw requests. Every answer the tests
 * receive is checked against the OpenAPI document (test/support/openapi.ts).
 */
import { base64urlnopad } from '@scure/base';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { POOL_CREATE_SIGNING_KIND } from '../libs/client/http-api.js';
import { DiagonHttp, type PreparedProposal, type WatchEvent } from '../libs/client/index.js';
import { signProposal, signVote } from '../libs/governance/index.js';
import { KeyPair, signingBytes } from '../libs/identity/index.js';
import { migrate } from '../libs/storage/index.js';
import { loadAuthConfig } from '../services/auth/config.js';
import { AUTH_OPENAPI } from '../services/auth/openapi.js';
import { type AuthService, startAuth } from '../services/auth/server.js';
import { Consensus } from '../services/consensus/consensus.js';
import { verifyExport } from '../services/consensus/verify.js';
import { Indexer } from '../services/indexer/indexer.js';
import { Transactor } from '../services/transactor/transactor.js';
import { randomPool, type TestNats, testNats } from './support/nats.js';
import { openApiCheck, validatingFetch } from './support/openapi.js';
import { type TestPostgres, testPostgres } from './support/postgres.js';

const api = openApiCheck(AUTH_OPENAPI);
const checked = validatingFetch(api);

let pg: TestPostgres;
let nats: TestNats;
let consensus: Consensus;
let auth: AuthService;
let closed: AuthService;
let url: string;
const stops: (() => Promise<void>)[] = [];
const [alice, bob, carol, dave] = Array.from({ length: 4 }, () => KeyPair.generate()) as [
  KeyPair,
  KeyPair,
  KeyPair,
  KeyPair,
];
const pool = randomPool();
const other = randomPool();

function config(allowPoolCreate: boolean) {
  return {
    ...loadAuthConfig({ AUTH_TCP_PORT: '0', AUTH_HTTP_PORT: '0' }),
    rateIp: { perSecond: 1000, burst: 1000 },
    rateDid: { perSecond: 1000, burst: 1000 },
    allowPoolCreate,
  };
}

beforeAll(async () => {
  pg = await testPostgres('http', 12);
  nats = await testNats();
  await migrate(pg.sql);
  consensus = new Consensus({ sql: pg.sql, bus: nats.bus, logKey: KeyPair.generate() });
  await consensus.start();
  const deps = { sql: pg.sql, bus: nats.bus, key: KeyPair.generate() };
  auth = await startAuth({ ...deps, config: config(true) });
  closed = await startAuth({ ...deps, config: config(false) });
  url = `http://127.0.0.1:${auth.httpPort}`;
});
afterAll(async () => {
  for (const stop of stops.reverse()) await stop();
  await closed?.stop();
  await auth?.stop();
  await consensus?.stop();
  await nats?.close();
  await pg?.drop();
});

const login = (key: KeyPair, p = pool) =>
  DiagonHttp.login({ url, pool: p, key, elaboration: 'testing the HTTP API', fetch: checked });

/** A request through the checking fetch: status and parsed body. */
async function call(
  method: 'GET' | 'POST',
  path: string,
  o: { session?: string; json?: unknown; raw?: string; type?: string } = {},
): Promise<{ status: number; body: Record<string, unknown> }> {
  const headers: Record<string, string> = {};
  if (o.session !== undefined) headers.authorization = `Bearer ${o.session}`;
  if (o.json !== undefined || o.raw !== undefined)
    headers['content-type'] = o.type ?? 'application/json';
  const res = await checked(`${url}${path}`, {
    method,
    headers,
    ...(o.json !== undefined ? { body: JSON.stringify(o.json) } : {}),
    ...(o.raw !== undefined ? { body: o.raw } : {}),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

function expectProblem(r: { status: number; body: unknown }, status: number, code: string) {
  expect(r).toMatchObject({
    status,
    body: { status, code, type: `https://diagon.dev/problems/${code}` },
  });
}

const SCHEMA = `[{:db/ident :name :db/valueType :db.type/string :db/unique :db.unique/identity}
  {:db/ident :age :db/valueType :db.type/long}]`;

describe('the HTTP API', () => {
  let a: DiagonHttp;
  let b: DiagonHttp;
  let c: DiagonHttp;
  const ts: number[] = [];

  /** Alice proposes, Bob and Carol vote yes; the t it committed at. */
  async function commit(txData: string): Promise<number> {
    const p = await a.propose(txData);
    expect(p).toMatchObject({ status: 'open', voters: [alice.did, bob.did, carol.did].sort() });
    expect((await b.vote(p.id, true, 'checked it')).status).toBe('open');
    expect((await c.vote(p.id, true, 'agreed')).status).toBe('committed');
    await expect.poll(async () => (await a.proposal(p.id)).t).toBeTypeOf('number');
    return (await a.proposal(p.id)).t!;
  }

  it('creates pools only when allowed, signed by a member named in them', async () => {
    const members = [
      { did: alice.did },
      { did: bob.did },
      { did: carol.did },
      { did: dave.did, role: 'observer' as const },
    ];
    const refused = DiagonHttp.createPool({
      url: `http://127.0.0.1:${closed.httpPort}`,
      key: alice,
      pool,
      members,
      fetch: checked,
    });
    await expect(refused).rejects.toMatchObject({ code: 'pool-create-disabled' });
    const created = await DiagonHttp.createPool({ url, key: alice, pool, members, fetch: checked });
    expect(created.pool).toBe(pool);
    expect(created.members).toContainEqual({ did: dave.did, role: 'observer' });
    await expect(
      DiagonHttp.createPool({ url, key: bob, pool, members, fetch: checked }),
    ).rejects.toMatchObject({ code: 'pool-exists' });
    await DiagonHttp.createPool({
      url,
      key: alice,
      pool: other,
      members: [{ did: alice.did }],
      policy: { threshold: { num: 1, den: 2 }, ttlMs: 60_000 },
      fetch: checked,
    });

    const body = {
      pool: randomPool(),
      members: [{ did: bob.did, role: 'member' }],
      createdAt: Date.now(),
    };
    const forged = alice.signValue(POOL_CREATE_SIGNING_KIND, body.pool, body);
    const signature = base64urlnopad.encode(forged);
    expectProblem(
      await call('POST', '/v1/pools', { json: { body, signature } }),
      401,
      'bad-signature',
    );
    const stale = { ...body, createdAt: Date.now() - 3_600_000 };
    const staleSig = base64urlnopad.encode(
      bob.signValue(POOL_CREATE_SIGNING_KIND, body.pool, stale),
    );
    expectProblem(
      await call('POST', '/v1/pools', { json: { body: stale, signature: staleSig } }),
      400,
      'stale',
    );
    expectProblem(
      await call('POST', '/v1/pools', { json: { body: { pool: 'x' } } }),
      400,
      'bad-request',
    );

    const t = new Transactor({ pool, sql: pg.sql, bus: nats.bus });
    await t.start();
    const indexer = new Indexer({
      sql: pg.sql,
      bus: nats.bus,
      pools: [pool],
      replica: 'http-test',
    });
    await indexer.start();
    stops.push(
      () => t.stop(),
      () => indexer.stop(),
    );
  });

  it('logs members in and tells them their pools', async () => {
    [a, b, c] = await Promise.all([login(alice), login(bob), login(carol)]);
    expect(a).toMatchObject({ pool, did: alice.did, url });
    expect(await a.pools()).toEqual([
      ...[
        { pool, basisT: 0, members: 4, role: 'member' },
        { pool: other, basisT: 0, members: 1, role: 'member' },
      ].sort((x, y) => x.pool.localeCompare(y.pool)),
    ]);
    const info = await a.info();
    expect(info).toMatchObject({ pool, basisT: 0, headHash: null, indexT: 0 });
    expect(info.members).toContainEqual({ did: dave.did, role: 'observer' });
  });

  it('commits a governed transaction visible in q, asOf and the log', async () => {
    ts.push(await commit(SCHEMA));
    ts.push(await commit('[{:name "Ann" :age 30}]'));
    ts.push(await commit('[{:name "Ann" :age 31}]'));
    const [, before, after] = ts as [number, number, number];
    const age = '[:find ?a . :where [?e :name "Ann"] [?e :age ?a]]';
    expect(await a.q(age, { basisT: after })).toBe('31');
    expect(await b.q(age, { asOf: before })).toBe('30');
    expect(
      await c.q('[:find ?a . :in $ ?n :where [?e :name ?n] [?e :age ?a]]', {
        args: '["Ann"]',
        basisT: after,
      }),
    ).toBe('31');
    expect(await a.pull('[:name :age]', '[:name "Ann"]')).toMatch(/^\{.*:age 31.*\}$/);
    expect(await a.datoms('avet', { components: '[:name]', basisT: after })).toMatch(/"Ann"/);
    const log = await a.log({ from: 0 });
    expect(log.map((e) => e.t)).toEqual(ts);
    expect(log[2]).toMatchObject({ t: after, hash: expect.stringMatching(/^[0-9a-f]{64}$/) });
    expect(await a.log({ from: before })).toHaveLength(1);
    expect((await a.info()).basisT).toBe(after);

    const committed = await a.proposals({ status: 'committed' });
    expect(committed).toHaveLength(3);
    const detail = await a.proposal(committed[2]!.id);
    expect(detail).toMatchObject({
      txData: '[{:name "Ann" :age 31}]',
      status: 'committed',
      yes: 3,
      t: after,
    });
    expect(detail.votes.map((v) => v.elaboration).sort()).toEqual(['agreed', 'checked it']);
    expect(await a.proposals({ status: 'open' })).toEqual([]);
    expect((await a.trust()).map((s) => s.did).sort()).toEqual(
      [alice.did, bob.did, carol.did].sort(),
    );
  });

  it('streams commits and proposal events, replays from a t, and lets go of a closed stream', async () => {
    const streams = async () => (await auth.metrics.watchStreams.get()).values[0]?.value;
    const events: WatchEvent[] = [];
    const stop = new AbortController();
    const watching = a.watch((e) => events.push(e), stop.signal);
    await expect.poll(streams).toBe(1);
    const t = await commit('[{:name "Bo" :age 5}]');
    await expect
      .poll(() => events.find((e) => e.event === 'tx'))
      .toMatchObject({ id: String(t), data: { pool, t } });
    expect(
      events.filter((e) => e.event === 'proposal').map((e) => (e.data as { event: string }).event),
    ).toContain('opened');
    stop.abort();
    await watching;
    await expect.poll(streams).toBe(0);

    const replayed: WatchEvent[] = [];
    const again = new AbortController();
    const resumed = b.watch((e) => replayed.push(e), again.signal, { from: ts[0]! });
    await expect
      .poll(() => replayed.filter((e) => e.event === 'tx').map((e) => e.id))
      .toEqual([ts[1], ts[2], t].map(String));
    again.abort();
    await resumed;
    ts.push(t);
  });

  it('exports the pool for offline verification', async () => {
    const x = await a.exportPool();
    expect(x).toMatchObject({ pool, format: 'diagon-export/v1' });
    expect(verifyExport(x)).toMatchObject({ transactions: ts.length, votes: 2 * ts.length });
  });

  it('prepares bodies for clients without CBOR, and refuses a replayed vote', async () => {
    const prepared = await call('POST', `/v1/pools/${pool}/proposals/prepare`, {
      session: b.session,
      json: { txData: '[{:name "Cy" :age 7}]' },
    });
    const p = prepared.body as unknown as PreparedProposal;
    expect(p.body).toMatchObject({ pool, proposer: bob.did, kind: 'knowledge', basisT: ts.at(-1) });
    expect(base64urlnopad.decode(p.toSign)).toEqual(signingBytes('proposal', pool, p.body));
    const signature = base64urlnopad.encode(bob.sign(base64urlnopad.decode(p.toSign)));
    const opened = await call('POST', `/v1/pools/${pool}/proposals`, {
      session: b.session,
      json: { body: p.body, signature },
    });
    expect(opened).toMatchObject({ status: 201, body: { id: p.id, status: 'open' } });

    const path = `/v1/pools/${pool}/proposals/${p.id}/votes`;
    const v = await call('POST', `${path}/prepare`, {
      session: c.session,
      json: { support: true, elaboration: 'fine by me' },
    });
    const vote = {
      body: v.body.body,
      signature: base64urlnopad.encode(carol.sign(base64urlnopad.decode(v.body.toSign as string))),
      elaboration: 'fine by me',
    };
    expect(await call('POST', path, { session: c.session, json: vote })).toMatchObject({
      status: 200,
      body: { id: p.id, status: 'open', yes: 2, no: 0 },
    });
    expectProblem(
      await call('POST', path, { session: c.session, json: vote }),
      409,
      'consensus/duplicate-vote',
    );
  });

  it('answers bad input at every route with a problem and the right status', async () => {
    const s = a.session;
    const base = `/v1/pools/${pool}`;
    expectProblem(await call('POST', `${base}/q`, { session: s, raw: '{' }), 400, 'bad-json');
    expectProblem(
      await call('POST', `${base}/q`, { session: s, raw: 'x', type: 'text/plain' }),
      415,
      'unsupported-media-type',
    );
    expectProblem(
      await call('POST', `${base}/q`, {
        session: s,
        raw: JSON.stringify({ query: 'x'.repeat(2 << 20) }),
      }),
      413,
      'too-large',
    );
    expectProblem(await call('POST', `${base}/q`, { session: s, json: {} }), 400, 'bad-request');
    expectProblem(
      await call('POST', `${base}/q`, { session: s, json: { query: '[:find' } }),
      400,
      'edn/parse',
    );
    expectProblem(
      await call('POST', `${base}/pull`, { session: s, json: { pattern: '[*]' } }),
      400,
      'bad-request',
    );
    expectProblem(
      await call('POST', `${base}/datoms`, { session: s, json: { index: 'xyz' } }),
      400,
      'bad-request',
    );
    expectProblem(await call('GET', `${base}/log?from=soon`, { session: s }), 400, 'bad-request');
    expectProblem(
      await call('GET', `${base}/proposals?status=maybe`, { session: s }),
      400,
      'bad-request',
    );
    expectProblem(await call('GET', `${base}/watch?from=-1`, { session: s }), 400, 'bad-request');
    expectProblem(
      await call('POST', `${base}/proposals`, { session: s, json: { body: {} } }),
      400,
      'bad-request',
    );
    expectProblem(
      await call('POST', `${base}/proposals/prepare`, { session: s, json: { kind: 'x' } }),
      400,
      'bad-request',
    );
    expectProblem(
      await call('POST', `${base}/proposals/nope/votes/prepare`, {
        session: s,
        json: { support: true, elaboration: '' },
      }),
      400,
      'bad-request',
    );
    expectProblem(await call('GET', `${base}/proposals/nope`, { session: s }), 404, 'no-proposal');

    expectProblem(await call('GET', base), 401, 'unauthorized');
    expectProblem(
      await call('GET', '/v1/pools', { session: 'a.b.c' }),
      401,
      'identity/bad-session',
    );
    const elsewhere = await login(alice, other);
    expectProblem(
      await call('GET', base, { session: elsewhere.session }),
      403,
      'wrong-session-pool',
    );
    expectProblem(
      await call('POST', `/v1/pools/${other}/q`, {
        session: elsewhere.session,
        json: { query: '[:find ?e :where [?e :name]]' },
      }),
      503,
      'no-responders',
    );

    const d = await login(dave);
    expect(await d.q('[:find ?a . :where [_ :age ?a] [(< ?a 10)]]', { basisT: ts.at(-1) })).toBe(
      '5',
    );
    await expect(d.propose('[{:name "Dee"}]')).rejects.toMatchObject({
      code: 'observer',
      data: { status: 403 },
    });
    const open = (await a.proposals({ status: 'open' }))[0]!;
    await expect(d.vote(open.id, true, 'me too')).rejects.toMatchObject({ code: 'observer' });

    const body = {
      pool,
      kind: 'knowledge' as const,
      txData: '[]',
      basisT: 0,
      proposer: alice.did,
      createdAt: Date.now(),
    };
    const byBob = base64urlnopad.encode(
      signProposal(bob, { ...body, proposer: bob.did }).signature,
    );
    expectProblem(
      await call('POST', `${base}/proposals`, { session: s, json: { body, signature: byBob } }),
      400,
      'governance/bad-signature',
    );
    const real = base64urlnopad.encode(signProposal(alice, body).signature);
    expectProblem(
      await call('POST', `${base}/proposals`, {
        session: b.session,
        json: { body, signature: real },
      }),
      403,
      'wrong-sender',
    );

    const vote = {
      pool,
      proposal: open.id,
      support: true,
      elaborationHash: '0'.repeat(64),
      voter: alice.did,
      at: Date.now(),
    };
    const forged = base64urlnopad.encode(signVote(bob, { ...vote, voter: bob.did }).signature);
    const votes = `${base}/proposals/${open.id}/votes`;
    expectProblem(
      await call('POST', votes, {
        session: s,
        json: { body: vote, signature: forged, elaboration: '' },
      }),
      400,
      'governance/bad-signature',
    );
    expectProblem(
      await call('POST', `${base}/proposals/${ts.length}/votes`, {
        session: s,
        json: { body: vote, signature: forged, elaboration: '' },
      }),
      400,
      'wrong-proposal',
    );
    const served = await checked(`${url}/openapi.json`);
    expect(await served.json()).toEqual(JSON.parse(JSON.stringify(AUTH_OPENAPI)));
    expect(api.checked).toBeGreaterThan(60);
    // The checker itself refuses what the document does not say.
    const json = 'application/json';
    expect(() => api.check('GET', base, 200, json, { pool })).toThrow(/does not fit/);
    expect(() => api.check('GET', base, 418, json, {})).toThrow(/does not document status 418/);
  });
});
