/**
 * The auth service: the TCP server of the wire protocol, the HTTP endpoints, and the
 * `diagon.auth.verify` responder, over one Postgres pool and one bus. `startAuth` returns
 * once all three listen; `stop()` drains: no new connections, every connection told to
 * shut down, requests in flight finished (up to the drain timeout), then close.
 */

import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createServer, type Server, type Socket } from 'node:net';
import type { Bus, Subscription } from '../../libs/bus/index.js';
import { jsonData, parseJson, subjects } from '../../libs/bus/index.js';
import { DiagonError } from '../../libs/db/errors.js';
import { type KeyPair, verifySessionToken } from '../../libs/identity/index.js';
import type { Sql } from '../../libs/storage/index.js';
import { exportMetrics } from '../../libs/telemetry/index.js';
import { encodeMessage } from '../../libs/wire/index.js';
import type { AuthConfig } from './config.js';
import { Connection, type ConnectionDeps } from './connection.js';
import { authHttpApp } from './http.js';
import { type AuthMetrics, authMetrics } from './metrics.js';
import { TokenBuckets } from './rate-limit.js';

export interface AuthLog {
  info(o: object, msg: string): void;
  warn(o: object, msg: string): void;
}

export interface AuthDeps {
  config: AuthConfig;
  sql: Sql;
  bus: Bus;
  key: KeyPair;
  log?: AuthLog;
  metrics?: AuthMetrics;
}

export interface AuthService {
  readonly tcpPort: number;
  readonly httpPort: number;
  readonly metrics: AuthMetrics;
  readonly connections: ReadonlySet<Connection>;
  stop(): Promise<void>;
}

const quiet: AuthLog = { info() {}, warn() {} };

function listen(server: Server | HttpServer, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) =>
      reject(
        new DiagonError(
          'auth/listen',
          `cannot listen on ${host}:${port}: ${e.code ?? e.message}; pick another port (AUTH_TCP_PORT, AUTH_HTTP_PORT)`,
        ),
      ),
    );
    server.listen(port, host, () => resolve((server.address() as AddressInfo).port));
  });
}

export async function startAuth(d: AuthDeps): Promise<AuthService> {
  const { config } = d;
  const log = d.log ?? quiet;
  const connections = new Set<Connection>();
  const metrics =
    d.metrics ??
    authMetrics({
      mailboxDepth: () => {
        let n = 0;
        for (const c of connections) n += c.mailboxDepth;
        return n;
      },
    });
  const ipBuckets = new TokenBuckets(config.rateIp);
  const didBuckets = new TokenBuckets(config.rateDid);
  const deps: ConnectionDeps = { ...d, log, metrics, ipBuckets, didBuckets };
  // /metrics serves the registry; OTLP export (when on) pushes it too.
  const unexport = exportMetrics(metrics.registry);
  let stopping = false;

  const tcp = createServer((socket: Socket) => {
    if (stopping || connections.size >= config.maxConnections) {
      metrics.handshakes.inc({ transport: 'tcp', result: 'rejected', reason: 'unavailable' });
      socket.end(
        encodeMessage({
          type: 'rejected',
          code: 'unavailable',
          reason: stopping ? 'the server is shutting down' : 'too many connections; retry later',
        }),
      );
      socket.on('error', () => {});
      return;
    }
    const conn = new Connection(socket, deps);
    connections.add(conn);
    metrics.connections.set(connections.size);
    void conn.closed.then(() => {
      connections.delete(conn);
      metrics.connections.set(connections.size);
    });
  });
  tcp.maxConnections = config.maxConnections + 64; // refused politely above, hard cap here

  const ready = async () => {
    const checks: Record<string, string> = {};
    try {
      await d.sql`select 1`;
      checks.postgres = 'ok';
    } catch (e) {
      checks.postgres = (e as Error).message;
    }
    checks.bus = d.bus.kind;
    checks.accepting = stopping ? 'draining' : 'ok';
    return { ok: checks.postgres === 'ok' && !stopping, checks };
  };
  const app = authHttpApp({
    config,
    sql: d.sql,
    bus: d.bus,
    key: d.key,
    metrics,
    ipBuckets,
    didBuckets,
    ready,
    log,
  });

  const verifySub: Subscription = d.bus.subscribe(
    subjects.authVerify(),
    (m) => {
      const { token, pool } = parseJson(m) as { token?: unknown; pool?: unknown };
      if (typeof token !== 'string')
        throw new DiagonError(
          'auth/bad-request',
          'send {"token": "<session token>", "pool"?: "<pool>"}',
        );
      const s = verifySessionToken(token, {
        issuerPublicKey: d.key.publicKey,
        pool: typeof pool === 'string' ? pool : undefined,
      });
      m.respond(
        jsonData({
          ...s,
          issuedAt: s.issuedAt.toISOString(),
          expiresAt: s.expiresAt.toISOString(),
        }),
      );
    },
    { queue: 'diagon-auth' },
  );

  const tcpPort = await listen(tcp, config.tcpPort, config.host);
  const http = createHttpServer(app);
  const httpPort = await listen(http, config.httpPort, config.host);
  await d.bus.flush();
  log.info({ tcpPort, httpPort, did: d.key.did }, 'auth listening');

  return {
    tcpPort,
    httpPort,
    metrics,
    connections,
    async stop() {
      unexport();
      if (stopping) return;
      stopping = true;
      tcp.close();
      for (const c of connections) c.shutdown('the server is shutting down');
      await Promise.race([
        Promise.allSettled([...connections].map((c) => c.closed)),
        new Promise((r) => setTimeout(r, config.drainTimeoutMs + 1000).unref()),
      ]);
      await verifySub.unsubscribe().catch(() => {});
      http.closeAllConnections();
      await new Promise((r) => http.close(() => r(undefined)));
      log.info({}, 'auth stopped');
    },
  };
}
