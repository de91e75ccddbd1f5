/**
 * The small HTTP server every Diagon process without an API of its own runs for its
 * operators: `/healthz` (the process answers), `/readyz` (200, or 503 with the reason it
 * cannot do its work) and `/metrics` (its Prometheus registry, for a ServiceMonitor or a
 * PodMonitor to scrape).
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import { exportMetrics } from './metrics.js';

export interface OpsServer {
  /** The port it listens on (the OS picks one when asked for 0). */
  port: number;
  close(): Promise<void>;
}

export interface OpsOptions {
  port: number;
  /** Default all interfaces (Prometheus scrapes the pod's address). */
  host?: string;
  registry: Registry;
  /** Null when ready, else why not (503 with `{ok: false, reason}`). */
  ready?: () => Promise<string | null> | string | null;
}

const json = (status: number, body: unknown) =>
  [status, { 'content-type': 'application/json' }, JSON.stringify(body)] as const;

export async function serveOps(o: OpsOptions): Promise<OpsServer> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const answer = async () => {
      if (req.method !== 'GET' && req.method !== 'HEAD') return json(405, { ok: false });
      if (path === '/healthz') return json(200, { ok: true });
      if (path === '/readyz') {
        const reason = (await o.ready?.()) ?? null;
        return reason === null ? json(200, { ok: true }) : json(503, { ok: false, reason });
      }
      if (path === '/metrics')
        return [
          200,
          { 'content-type': o.registry.contentType },
          await o.registry.metrics(),
        ] as const;
      return json(404, { ok: false, reason: `no ${path}; try /healthz, /readyz or /metrics` });
    };
    answer().then(
      ([status, headers, body]) => res.writeHead(status, headers).end(body),
      (e: unknown) => res.writeHead(500).end(JSON.stringify({ ok: false, reason: String(e) })),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, o.host ?? '0.0.0.0', () => {
      server.off('error', reject);
      resolve();
    });
  });
  // What /metrics serves is what OTLP export pushes (when it is on).
  const unexport = exportMetrics(o.registry);
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((r) => {
        unexport();
        server.close(() => r());
        server.closeAllConnections();
      }),
  };
}

/** A readiness check that Postgres answers within `timeoutMs`. */
export function postgresReady(
  sql: { unsafe(q: string): PromiseLike<unknown> },
  timeoutMs = 2000,
): () => Promise<string | null> {
  return async () => {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<string>((r) => {
      timer = setTimeout(() => r(`Postgres did not answer within ${timeoutMs} ms`), timeoutMs);
    });
    try {
      return await Promise.race([Promise.resolve(sql.unsafe('select 1')).then(() => null), late]);
    } catch (e) {
      return `Postgres: ${(e as Error).message}`;
    } finally {
      clearTimeout(timer);
    }
  };
}
