import { Counter, Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { type OpsServer, postgresReady, serveOps } from './ops.js';

describe('serveOps', () => {
  let server: OpsServer | undefined;
  afterEach(async () => {
    await server?.close();
    server = undefined;
  });

  it('serves health, readiness with its reason, and the registry', async () => {
    const registry = new Registry();
    new Counter({ name: 'x_total', help: 'x', registers: [registry] }).inc(3);
    let reason: string | null = 'Postgres did not answer';
    server = await serveOps({ port: 0, host: '127.0.0.1', registry, ready: () => reason });
    const url = `http://127.0.0.1:${server.port}`;
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
    const notReady = await fetch(`${url}/readyz`);
    expect(notReady.status).toBe(503);
    expect(await notReady.json()).toEqual({ ok: false, reason: 'Postgres did not answer' });
    reason = null;
    expect((await fetch(`${url}/readyz`)).status).toBe(200);
    const metrics = await fetch(`${url}/metrics?x=1`);
    expect(metrics.headers.get('content-type')).toBe(registry.contentType);
    expect(await metrics.text()).toMatch(/^x_total 3$/m);
    const missing = await fetch(`${url}/other`);
    expect(missing.status).toBe(404);
    expect(((await missing.json()) as { reason: string }).reason).toMatch(/try \/healthz/);
    expect((await fetch(`${url}/metrics`, { method: 'POST' })).status).toBe(405);
  });

  it('refuses a port in use with the error, not a crash later', async () => {
    const registry = new Registry();
    server = await serveOps({ port: 0, host: '127.0.0.1', registry });
    await expect(serveOps({ port: server.port, host: '127.0.0.1', registry })).rejects.toThrow(
      /EADDRINUSE/,
    );
  });
});

describe('postgresReady', () => {
  it('says why when the query fails or is late', async () => {
    const failing = { unsafe: () => Promise.reject(new Error('connection refused')) };
    expect(await postgresReady(failing)()).toBe('Postgres: connection refused');
    const late = { unsafe: () => new Promise(() => {}) };
    expect(await postgresReady(late, 20)()).toMatch(/did not answer within 20 ms/);
    expect(await postgresReady({ unsafe: async () => [] })()).toBeNull();
  });
});
