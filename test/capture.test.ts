/**
 * The capture service against real traffic: the auth service on loopback, many clients
 * handshaking and pinging; the capture service (libpcap, as its process runs it) decodes
 * every frame, publishes each on `diagon.capture.<node>.frames` (real NATS JetStream),
 * writes a pcapng that `readCaptureFile` decodes alike; and on an interface it may not
 * capture on it stays up and says why on /readyz. Needs root (skipped without).
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryBus, subjects } from '../libs/bus/index.js';
import { connect } from '../libs/client/index.js';
import { loadEnv } from '../libs/common/env.js';
import { KeyPair } from '../libs/identity/index.js';
import { addMember, migrate, upsertPool } from '../libs/storage/index.js';
import { loadAuthConfig } from '../services/auth/config.js';
import { type AuthService, startAuth } from '../services/auth/server.js';
import { canCapture } from '../services/capture/live.js';
import { readCaptureFile } from '../services/capture/read.js';
import { CAPTURE_ENV, captureService } from '../services/capture/service.js';
import { type TestNats, testNats } from './support/nats.js';
import { freePort } from './support/net.js';
import { type TestPostgres, testPostgres } from './support/postgres.js';

const root = canCapture();

describe.skipIf(!root)('the capture service on lo', () => {
  let pg: TestPostgres;
  let nats: TestNats;
  let auth: AuthService;
  const keys = Array.from({ length: 10 }, () => KeyPair.generate());
  const edgeBus = new MemoryBus();
  beforeAll(async () => {
    pg = await testPostgres('capture', 8);
    nats = await testNats();
    await migrate(pg.sql);
    await upsertPool(pg.sql, 'cap');
    for (const k of keys) await addMember(pg.sql, 'cap', { did: k.did, publicKey: k.publicKey });
    const config = loadAuthConfig({ AUTH_TCP_PORT: '0', AUTH_HTTP_PORT: '0' });
    auth = await startAuth({ config, sql: pg.sql, bus: edgeBus, key: KeyPair.generate() });
  });
  afterAll(async () => {
    await auth?.stop();
    await edgeBus.close();
    await nats?.close();
    await pg?.drop();
  });

  const start = async (vars: Record<string, string>) => {
    const env = { ...process.env, ...vars };
    return captureService.start({
      config: loadEnv('capture', CAPTURE_ENV, env),
      env,
      log: pino({ level: 'silent' }),
      sql: pg.sql,
      bus: nats.bus,
    });
  };

  it('decodes every frame of many clients, publishes each on NATS and writes a pcapng', async () => {
    const node = `n${randomBytes(4).toString('hex')}`;
    const dir = mkdtempSync(join(tmpdir(), 'diagon-capture-'));
    const published: { type: string; did?: string; direction: string }[] = [];
    const sub = nats.bus.subscribe(subjects.captureFrames(node), (m) => {
      published.push(JSON.parse(new TextDecoder().decode(m.data)));
    });
    const service = await start({
      CAPTURE_NODE: node,
      CAPTURE_PORTS: String(auth.tcpPort),
      CAPTURE_HTTP_PORT: String(await freePort()),
      CAPTURE_DIR: dir,
    });
    const PINGS = 25;
    const clients = await Promise.all(
      keys.map((key) => connect({ port: auth.tcpPort, pool: 'cap', key, reconnect: false })),
    );
    await Promise.all(
      clients.map(async (c) => {
        for (let i = 0; i < PINGS; i++) await c.ping();
      }),
    );
    await Promise.all(clients.map((c) => c.close()));
    const want = keys.length * PINGS;
    for (let i = 0; i < 50 && published.filter((e) => e.type === 'pong').length < want; i++)
      await new Promise((r) => setTimeout(r, 100));
    await service.stop();
    await sub.unsubscribe();
    const of = (type: string) => published.filter((e) => e.type === type);
    expect(of('ping')).toHaveLength(want);
    expect(of('pong')).toHaveLength(want);
    expect(of('connect')).toHaveLength(keys.length);
    expect(of('authenticated')).toHaveLength(keys.length);
    // The handshake revealed each client's DID, and every request carries it.
    expect(new Set(of('ping').map((e) => e.did))).toEqual(new Set(keys.map((k) => k.did)));
    const files = readdirSync(dir);
    expect(files.length).toBeGreaterThan(0);
    const { events } = await readCaptureFile(join(dir, files[0]!), {
      serverPorts: [auth.tcpPort],
    });
    expect(events.filter((e) => e.type === 'ping')).toHaveLength(want);
    expect(events).toHaveLength(published.length);
  });

  it('stays up without an interface it can capture on, and says why on /readyz', async () => {
    const port = await freePort();
    const service = await start({
      CAPTURE_NODE: 'nowhere',
      CAPTURE_DEVICE: 'no-such-if0',
      CAPTURE_PORTS: String(auth.tcpPort),
      CAPTURE_HTTP_PORT: String(port),
    });
    const ready = await fetch(`http://127.0.0.1:${port}/readyz`);
    expect(ready.status).toBe(503);
    expect(((await ready.json()) as { reason: string }).reason).toMatch(/no interface no-such-if0/);
    expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200);
    await service.stop();
  });
});
