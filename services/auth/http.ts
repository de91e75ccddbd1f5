/**
 * The HTTP side of the edge (express): every operation of the TCP protocol for web clients
 * and the CLI, plus health, readiness, metrics and the OpenAPI description
 * (`/v1/openapi.json`, also `/openapi.json`). Wiring only; the routes are by concern:
 *
 * - http-handshake.ts: `/v1/auth/*`, the challenge-response login giving a session token;
 * - http-pools.ts: `/v1/pools`, `/v1/pools/{pool}`, `/export`;
 * - http-governance.ts: proposals, votes, trust (relayed to consensus);
 * - http-query.ts: `q`, `pull`, `datoms`, `log` (relayed to the indexers);
 * - http-watch.ts: `/watch`, Server-Sent Events of commits and proposals.
 *
 * Routes under `/v1/pools` take `Authorization: Bearer <session>` (http-session.ts). Every
 * error is an RFC 9457 problem (problem.ts). Bodies are JSON, at most AUTH_MAX_FRAME_BYTES.
 */
import express from 'express';
import type { Bus } from '../../libs/bus/index.js';
import type { KeyPair } from '../../libs/identity/index.js';
import type { Sql } from '../../libs/storage/index.js';
import type { AuthConfig } from './config.js';
import { governanceRoutes } from './http-governance.js';
import { handshakeRoutes } from './http-handshake.js';
import { poolRoutes } from './http-pools.js';
import { queryRoutes } from './http-query.js';
import { watchRoutes } from './http-watch.js';
import type { AuthMetrics } from './metrics.js';
import { AUTH_OPENAPI } from './openapi.js';
import { HttpProblem, problemHandler } from './problem.js';
import type { TokenBuckets } from './rate-limit.js';

export interface HttpDeps {
  config: AuthConfig;
  sql: Sql;
  bus: Bus;
  key: KeyPair;
  metrics: AuthMetrics;
  ipBuckets: TokenBuckets;
  didBuckets: TokenBuckets;
  ready: () => Promise<{ ok: boolean; checks: Record<string, string> }>;
  log: { info(o: object, msg: string): void; warn(o: object, msg: string): void };
}

export function authHttpApp(d: HttpDeps): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.use(express.json({ limit: d.config.maxFrameBytes }));

  app.use(handshakeRoutes(d));
  app.use(poolRoutes(d));
  app.use(governanceRoutes(d));
  app.use(queryRoutes(d));
  app.use(watchRoutes(d));

  app.get(['/v1/openapi.json', '/openapi.json'], (_req, res) => {
    res.json(AUTH_OPENAPI);
  });
  app.get('/healthz', (_req, res) => {
    res.json({ ok: true });
  });
  app.get('/readyz', async (_req, res) => {
    const r = await d.ready();
    res.status(r.ok ? 200 : 503).json(r);
  });
  app.get('/metrics', async (_req, res) => {
    res.type(d.metrics.registry.contentType).send(await d.metrics.registry.metrics());
  });

  app.use((req, _res, next) =>
    next(new HttpProblem(404, 'not-found', `no route ${req.method} ${req.path}`)),
  );
  app.use(problemHandler(d.log));
  return app;
}
