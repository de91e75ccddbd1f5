import { randomBytes } from 'node:crypto';
import { type Socket, connect as tcpConnect } from 'node:net';
import { base64urlnopad } from '@scure/base';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HEADER, jsonData, parseJson, subjects } from '../../libs/bus/index.js';
import { connect } from '../../libs/client/index.js';
import { KeyPair, verifySessionToken } from '../../libs/identity/index.js';
import { addMember, migrate, upsertPool } from '../../libs/storage/index.js';
import {
  encodeMessage,
  handshakeSigningBytes,
  type Message,
  MessageDecoder,
} from '../../libs/wire/index.js';
import { type TestNats, testNats } from '../../test/support/nats.js';
import { type TestPostgres, testPostgres } from '../../test/support/postgres.js';
import { type AuthConfig, loadAuthConfig } from './config.js';
import { type AuthService, startAuth } from './server.js';

let pg: TestPostgres;
let nats: TestNats;
const pool = `auth-${randomBytes(4).toString('hex')}`;
const alice = KeyPair.generate();
const bob = KeyPair.generate();
const stranger = KeyPair.generate();
const serverKey = KeyPair.generate();

function config(over: Partial<AuthConfig> = {}): AuthConfig {
  return {
    ...loadAuthConfig({ AUTH_TCP_PORT: '0', AUTH_HTTP_PORT: '0' }),
    rateIp: { perSecond: 1000, burst: 1000 },
    rateDid: { perSecond: 1000, burst: 1000 },
    ...over,
  };
}

async function start(over: Partial<AuthConfig> = {}): Promise<AuthService> {
  return startAuth({ config: config(over), sql: pg.sql, bus: nats.bus, key: serverKey });
}

beforeAll(async () => {
  pg = await testPostgres('auth');
  nats = await testNats();
  await migrate(pg.sql);
  await upsertPool(pg.sql, pool);
  for (const k of [alice, bob])
    await addMember(pg.sql, pool, { did: k.did, publicKey: k.publicKey });
});
afterAll(async () => {
  await nats?.close();
  await pg?.drop();
});

/** A peer speaking the raw protocol: sends frames, collects messages, knows when it closed. */
class Peer {
  readonly got: Message[] = [];
  readonly errors: string[] = [];
  closed = false;
  private readonly decoder = new MessageDecoder();
  private waiters: (() => void)[] = [];

  private constructor(readonly socket: Socket) {
    socket.on('data', (c) => {
      for (const d of this.decoder.push(c)) {
        if (d.ok) this.got.push(d.value);
        else this.errors.push(d.error.code);
      }
      this.wake();
    });
    socket.on('close', () => {
      this.closed = true;
      this.wake();
    });
    socket.on('error', () => {});
  }

  static open(port: number): Promise<Peer> {
    return new Promise((resolve, reject) => {
      const s = tcpConnect({ host: '127.0.0.1', port });
      s.once('connect', () => resolve(new Peer(s)));
      s.once('error', reject);
    });
  }

  private wake() {
    for (const w of this.waiters.splice(0)) w();
  }

  send(m: Message): void {
    this.socket.write(encodeMessage(m));
  }

  /** The next message of `type` (or the connection's end), within `ms`. */
  async next(type?: Message['type'], ms = 5000): Promise<Message | 'closed'> {
    const deadline = Date.now() + ms;
    for (;;) {
      const i = this.got.findIndex((m) => type === undefined || m.type === type);
      if (i >= 0) return this.got.splice(i, 1)[0]!;
      if (this.closed) return 'closed';
      if (Date.now() > deadline) throw new Error(`no ${type ?? 'message'} within ${ms} ms`);
      await new Promise<void>((r) => {
        this.waiters.push(r);
        setTimeout(r, 50);
      });
    }
  }

  async untilClosed(ms = 5000): Promise<void> {
    const deadline = Date.now() + ms;
    while (!this.closed) {
      if (Date.now() > deadline) throw new Error(`still open after ${ms} ms`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** Connect and read the challenge. */
  async challenge(key: KeyPair, p = pool): Promise<Extract<Message, { type: 'challenge' }>> {
    this.send({ type: 'connect', did: key.did, publicKey: key.publicKey, pool: p });
    const c = await this.next('challenge');
    if (c === 'closed' || c.type !== 'challenge')
      throw new Error(`no challenge: ${JSON.stringify(this.got)}`);
    return c;
  }
}

const signChallenge = (key: KeyPair, c: { nonce: Uint8Array; serverDid: string }, p = pool) =>
  key.sign(
    handshakeSigningBytes({ pool: p, nonce: c.nonce, clientDid: key.did, serverDid: c.serverDid }),
  );

async function rejection(peer: Peer): Promise<{ code: string; reason: string }> {
  const m = await peer.next('rejected');
  if (m === 'closed' || m.type !== 'rejected') throw new Error('closed without Rejected');
  await peer.untilClosed();
  return { code: m.code, reason: m.reason };
}

describe('the handshake over TCP', () => {
  let auth: AuthService;
  beforeAll(async () => {
    auth = await start({ minElaboration: 8 });
  });
  afterAll(async () => {
    await auth.stop();
  });

  it('authenticates a member and issues a session other services verify offline', async () => {
    const client = await connect({
      port: auth.tcpPort,
      pool,
      key: alice,
      elaboration: 'testing the edge',
    });
    const s = verifySessionToken(client.session, { issuerPublicKey: serverKey.publicKey, pool });
    expect(s).toMatchObject({ pool, did: alice.did, role: 'member', issuer: serverKey.did });
    expect(s.expiresAt.getTime()).toBeGreaterThan(Date.now());
    expect(await client.ping()).toBeGreaterThanOrEqual(0);
    await client.close();
  });

  it('rejects a wrong signature, a DID that is not its key, and a non-member', async () => {
    const p1 = await Peer.open(auth.tcpPort);
    const c1 = await p1.challenge(alice);
    p1.send({ type: 'response', signature: signChallenge(bob, c1) });
    expect((await rejection(p1)).code).toBe('bad-signature');

    const p2 = await Peer.open(auth.tcpPort);
    p2.send({ type: 'connect', did: alice.did, publicKey: bob.publicKey, pool });
    expect((await rejection(p2)).code).toBe('did-mismatch');

    const p3 = await Peer.open(auth.tcpPort);
    const c3 = await p3.challenge(stranger);
    p3.send({ type: 'response', signature: signChallenge(stranger, c3) });
    expect(await rejection(p3)).toMatchObject({ code: 'not-member' });

    // A signature made for another pool does not open this one.
    const p4 = await Peer.open(auth.tcpPort);
    const c4 = await p4.challenge(alice);
    p4.send({ type: 'response', signature: signChallenge(alice, c4, 'other-pool') });
    expect((await rejection(p4)).code).toBe('bad-signature');
  });

  it('never accepts a Response twice, on this connection or another', async () => {
    const p1 = await Peer.open(auth.tcpPort);
    const c1 = await p1.challenge(alice);
    const sig = signChallenge(alice, c1);
    p1.send({ type: 'response', signature: sig });
    p1.send({ type: 'response', signature: sig });
    expect((await rejection(p1)).code).toBe('replayed');
    // Replayed on a new connection, it answers a nonce it was not made for.
    const p2 = await Peer.open(auth.tcpPort);
    await p2.challenge(alice);
    p2.send({ type: 'response', signature: sig });
    expect((await rejection(p2)).code).toBe('bad-signature');
  });

  it('rejects a short elaboration and a request before authentication', async () => {
    const p1 = await Peer.open(auth.tcpPort);
    const c1 = await p1.challenge(alice);
    p1.send({ type: 'response', signature: signChallenge(alice, c1) });
    p1.send({ type: 'elaborate', text: ' hi ' });
    expect((await rejection(p1)).code).toBe('elaboration-too-short');

    const p2 = await Peer.open(auth.tcpPort);
    p2.send({ type: 'query', id: 1, query: '[:find ?e :where [?e :a]]' });
    expect(await rejection(p2)).toMatchObject({
      code: 'protocol-error',
      reason: /query is not expected/,
    });
  });

  it('drops a frame over the maximum from its header, and garbage', async () => {
    const p1 = await Peer.open(auth.tcpPort);
    const header = Buffer.alloc(4);
    header.writeUInt32BE(512 * 1024 * 1024);
    p1.socket.write(header);
    expect(await rejection(p1)).toMatchObject({
      code: 'protocol-error',
      reason: /frame|large|exceeds/i,
    });

    const p2 = await Peer.open(auth.tcpPort);
    p2.socket.write(randomBytes(64));
    const end = await p2.next('rejected');
    expect(end === 'closed' || end.type === 'rejected').toBe(true);
    await p2.untilClosed();
  });

  it('answers a relayed request through a NATS responder that sees the verified DID', async () => {
    const seen: Record<string, string>[] = [];
    const sub = nats.bus.subscribe(subjects.query(pool), (m) => {
      seen.push(m.headers);
      const body = parseJson(m) as { query: string };
      m.respond(new TextEncoder().encode(`{:echo ${JSON.stringify(body.query)}}`));
    });
    await nats.bus.flush();
    const client = await connect({
      port: auth.tcpPort,
      pool,
      key: bob,
      elaboration: 'relay test run',
    });
    const reply = await client.q('[:find ?e :where [?e :name]]', undefined, {
      traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
    });
    expect(reply).toBe('{:echo "[:find ?e :where [?e :name]]"}');
    expect(seen[0]).toMatchObject({
      [HEADER.did]: bob.did,
      [HEADER.pool]: pool,
      [HEADER.traceparent]: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
    });
    expect(seen[0]![HEADER.requestId]).toMatch(/^[0-9a-f]{12}\.\d+$/);
    // A responder's error comes back as an Error with its code; no responder, as unavailable.
    await sub.unsubscribe();
    const errSub = nats.bus.subscribe(subjects.propose(pool), (m) => {
      m.respondError('tx/invalid', 'no such attribute :foo');
    });
    await nats.bus.flush();
    await expect(client.propose('[[:db/add 1 :foo 1]]')).rejects.toMatchObject({
      code: 'tx/invalid',
      message: 'no such attribute :foo',
    });
    await errSub.unsubscribe();
    await nats.bus.flush();
    await expect(client.pull('[*]', '1')).rejects.toMatchObject({ code: 'no-responders' });
    await client.close();
  });

  it('verifies session tokens on diagon.auth.verify', async () => {
    const client = await connect({
      port: auth.tcpPort,
      pool,
      key: alice,
      elaboration: 'verify on nats',
    });
    const ok = await nats.bus.request(
      subjects.authVerify(),
      jsonData({ token: client.session, pool }),
    );
    expect(parseJson(ok)).toMatchObject({ did: alice.did, pool });
    await expect(
      nats.bus.request(
        subjects.authVerify(),
        jsonData({ token: client.session, pool: 'elsewhere' }),
      ),
    ).rejects.toMatchObject({ code: 'identity/bad-session' });
    await client.close();
  });

  it('authenticates 200 clients at once', async () => {
    const keys = Array.from({ length: 200 }, () => KeyPair.generate());
    for (const k of keys) await addMember(pg.sql, pool, { did: k.did, publicKey: k.publicKey });
    const clients = await Promise.all(
      keys.map((key) =>
        connect({ port: auth.tcpPort, pool, key, elaboration: 'many at once', timeoutMs: 30_000 }),
      ),
    );
    expect(
      new Set(
        clients.map(
          (c) => verifySessionToken(c.session, { issuerPublicKey: serverKey.publicKey }).did,
        ),
      ).size,
    ).toBe(200);
    await Promise.all(clients.map((c) => c.close()));
  });
});

describe('the edge under abuse', () => {
  it('expires a challenge left unanswered and drops a peer that stalls mid-frame', async () => {
    const auth = await start({ challengeTimeoutMs: 300, frameTimeoutMs: 300 });
    try {
      const p1 = await Peer.open(auth.tcpPort);
      await p1.challenge(alice);
      expect((await rejection(p1)).code).toBe('challenge-expired');

      const client = await connect({
        port: auth.tcpPort,
        pool,
        key: alice,
        elaboration: 'stalling test',
      });
      const p2 = await Peer.open(auth.tcpPort);
      const frame = encodeMessage({
        type: 'connect',
        did: alice.did,
        publicKey: alice.publicKey,
        pool,
      });
      p2.socket.write(frame.subarray(0, 10));
      const t0 = Date.now();
      await p2.untilClosed(3000);
      expect(Date.now() - t0).toBeGreaterThanOrEqual(250);
      expect(client.connected).toBe(true); // others are unaffected
      await client.close();
    } finally {
      await auth.stop();
    }
  });

  it('rate-limits handshakes per IP and requests per DID', async () => {
    const auth = await start({
      rateIp: { perSecond: 0.001, burst: 3 },
      rateDid: { perSecond: 0.001, burst: 2 },
    });
    try {
      const client = await connect({
        port: auth.tcpPort,
        pool,
        key: alice,
        elaboration: 'rate limit test',
      });
      const outcomes = await Promise.allSettled([client.ping(), client.ping(), client.ping()]);
      // Pings are answered by the edge itself; relayed requests count against the bucket.
      expect(outcomes.every((o) => o.status === 'fulfilled')).toBe(true);
      const relayed = await Promise.allSettled([
        client.q('[:find ?e :where [?e :a]]'),
        client.q('x'),
        client.q('y'),
      ]);
      const codes = relayed.map((o) =>
        o.status === 'rejected' ? (o.reason as { code: string }).code : 'ok',
      );
      expect(codes.filter((c) => c === 'rate-limited')).toHaveLength(1);
      await client.close();
      const second = await Peer.open(auth.tcpPort);
      await second.challenge(bob);
      second.socket.destroy();
      const third = await Peer.open(auth.tcpPort);
      await third.challenge(bob);
      third.socket.destroy();
      const fourth = await Peer.open(auth.tcpPort);
      fourth.send({ type: 'connect', did: bob.did, publicKey: bob.publicKey, pool });
      expect((await rejection(fourth)).code).toBe('rate-limited');
      const metrics = await auth.metrics.registry.metrics();
      expect(metrics).toMatch(/diagon_auth_rate_limited_total\{limit="ip"\} 1/);
      expect(metrics).toMatch(/diagon_auth_rate_limited_total\{limit="did"\} 1/);
    } finally {
      await auth.stop();
    }
  });

  it('drains a request in flight on shutdown, then tells the client', async () => {
    const auth = await start();
    let release!: () => void;
    const sub = nats.bus.subscribe(subjects.propose(pool), async (m) => {
      await new Promise<void>((r) => {
        release = r;
      });
      m.respond(new TextEncoder().encode('{:t 7}'));
    });
    await nats.bus.flush();
    const client = await connect({
      port: auth.tcpPort,
      pool,
      key: alice,
      elaboration: 'drain test',
      reconnect: false,
    });
    const shutdown = new Promise<string>((r) => client.once('shutdown', r));
    const answer = client.propose('[[:db/add 1 :a 1]]');
    await new Promise((r) => setTimeout(r, 100));
    const stopped = auth.stop();
    await new Promise((r) => setTimeout(r, 100));
    release();
    expect(await answer).toBe('{:t 7}');
    expect(await shutdown).toMatch(/shutting down/);
    await stopped;
    await sub.unsubscribe();
  });
});

describe('the client', () => {
  it('relays subscription events in order, and reconnects and re-subscribes after a restart', async () => {
    const first = await start();
    const port = first.tcpPort;
    const client = await connect({
      port,
      pool,
      key: alice,
      elaboration: 'subscriber',
      backoff: { initialMs: 50, maxMs: 200 },
    });
    const events: string[] = [];
    await client.subscribe('tx', (value, seq) => events.push(`${seq}:${value}`));
    for (const t of [1, 2, 3])
      nats.bus.publish(subjects.txCommitted(pool), new TextEncoder().encode(`{:t ${t}}`));
    await expect.poll(() => events).toEqual(['0:{:t 1}', '1:{:t 2}', '2:{:t 3}']);
    await expect(client.subscribe('nope', () => {})).rejects.toMatchObject({
      code: 'unknown-topic',
    });

    const reconnected = new Promise((r) => client.once('reconnected', r));
    await first.stop();
    const second = await start({ tcpPort: port });
    try {
      await reconnected;
      expect(client.connected).toBe(true);
      nats.bus.publish(subjects.txCommitted(pool), new TextEncoder().encode('{:t 4}'));
      await expect.poll(() => events.at(-1)).toBe('0:{:t 4}');
      await client.close();
    } finally {
      await second.stop();
    }
  });
});

describe('the HTTP API', () => {
  let auth: AuthService;
  let base: string;
  beforeAll(async () => {
    auth = await start({ minElaboration: 4 });
    base = `http://127.0.0.1:${auth.httpPort}`;
  });
  afterAll(async () => {
    await auth.stop();
  });
  const post = (path: string, body: unknown) =>
    fetch(`${base}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });

  it('runs the handshake for web clients, once per challenge', async () => {
    const r1 = await post('/v1/auth/challenge', { pool, did: alice.did });
    expect(r1.status).toBe(200);
    const c = (await r1.json()) as { nonce: string; serverDid: string; toSign: string };
    const toSign = base64urlnopad.decode(c.toSign);
    expect(toSign).toEqual(
      handshakeSigningBytes({
        pool,
        nonce: base64urlnopad.decode(c.nonce),
        clientDid: alice.did,
        serverDid: serverKey.did,
      }),
    );
    const answer = {
      nonce: c.nonce,
      did: alice.did,
      signature: base64urlnopad.encode(alice.sign(toSign)),
      elaboration: 'web login',
    };
    const r2 = await post('/v1/auth/session', answer);
    expect(r2.status).toBe(200);
    const { session } = (await r2.json()) as { session: string };
    expect(verifySessionToken(session, { issuerDid: serverKey.did, pool }).did).toBe(alice.did);
    const replay = await post('/v1/auth/session', answer);
    expect(replay.status).toBe(401);
    expect(await replay.json()).toMatchObject({ code: 'replayed' });
  });

  it('refuses bad input with a code and a message', async () => {
    const bad = await post('/v1/auth/challenge', { pool, did: 'did:key:nope' });
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ code: 'bad-did' });
    const malformed = await fetch(`${base}/v1/auth/challenge`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{',
    });
    expect(malformed.status).toBe(400);
    const noPool = await post('/v1/auth/challenge', { pool: 'no-such-pool', did: alice.did });
    expect(noPool.status).toBe(403);
    const c = (await (await post('/v1/auth/challenge', { pool, did: bob.did })).json()) as {
      nonce: string;
      toSign: string;
    };
    const wrong = await post('/v1/auth/session', {
      nonce: c.nonce,
      did: bob.did,
      signature: base64urlnopad.encode(alice.sign(base64urlnopad.decode(c.toSign))),
      elaboration: 'web login',
    });
    expect(wrong.status).toBe(401);
    expect(await wrong.json()).toMatchObject({ code: 'bad-signature' });
  });

  it('serves health, readiness, metrics, the key and the OpenAPI description', async () => {
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    const ready = await fetch(`${base}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toMatchObject({ ok: true, checks: { postgres: 'ok' } });
    const metrics = await (await fetch(`${base}/metrics`)).text();
    expect(metrics).toMatch(
      /diagon_auth_handshakes_total\{transport="http",result="authenticated",reason=""\} \d+/,
    );
    expect(await (await fetch(`${base}/v1/auth/key`)).json()).toEqual({
      did: serverKey.did,
      publicKey: base64urlnopad.encode(serverKey.publicKey),
    });
    const api = (await (await fetch(`${base}/v1/openapi.json`)).json()) as {
      paths: Record<string, unknown>;
    };
    expect(Object.keys(api.paths)).toEqual(
      expect.arrayContaining(['/v1/auth/challenge', '/v1/auth/session']),
    );
    expect((await fetch(`${base}/nope`)).status).toBe(404);
  });
});

describe('configuration', () => {
  it('lists every bad variable with what to fix', () => {
    expect(() => loadAuthConfig({ AUTH_TCP_PORT: 'x', DATABASE_URL: 'mysql://h' })).toThrow(
      /AUTH_TCP_PORT="x".*\n.*DATABASE_URL="mysql:\/\/h": must be a postgres/s,
    );
  });
});
