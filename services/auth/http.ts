/**
 * The HTTP side of the edge (express): the same handshake for web clients, the service's
 * public key, health, readiness, metrics and the OpenAPI description.
 *
 *     POST /v1/auth/challenge  {pool, did, publicKey?}  → {nonce, serverDid, expiresAt, toSign}
 *     POST /v1/auth/session    {nonce, did, publicKey?, signature, elaboration} → {session, expiresAt}
 *     GET  /v1/auth/key        → {did, publicKey}
 *     GET  /healthz, /readyz, /metrics, /v1/openapi.json
 *
 * Bytes travel as base64url. A challenge is stored in Postgres so any replica can redeem
 * it, once (libs/storage `redeemChallenge`). `toSign` is the exact byte string to sign, so
 * a web client needs no CBOR encoder.
 */
import { randomBytes } from 'node:crypto';
import { base64urlnopad } from '@scure/base';
import express, { type NextFunction, type Request, type Response } from 'express';
import { z } from 'zod';
import { isDiagonError } from '../../libs/db/errors.js';
import { issueSessionToken, type KeyPair, parseDid } from '../../libs/identity/index.js';
import { insertChallenge, redeemChallenge, type Sql } from '../../libs/storage/index.js';
import { handshakeSigningBytes, NONCE_BYTES } from '../../libs/wire/index.js';
import type { AuthConfig } from './config.js';
import { checkConnect, checkElaboration, checkResponse } from './handshake.js';
import type { AuthMetrics } from './metrics.js';
import { AUTH_OPENAPI } from './openapi.js';
import type { TokenBuckets } from './rate-limit.js';

export interface HttpDeps {
  config: AuthConfig;
  sql: Sql;
  key: KeyPair;
  metrics: AuthMetrics;
  ipBuckets: TokenBuckets;
  ready: () => Promise<{ ok: boolean; checks: Record<string, string> }>;
}

const b64 = z
  .string()
  .max(4096)
  .transform((s, ctx) => {
    try {
      return base64urlnopad.decode(s.replace(/=+$/, ''));
    } catch {
      ctx.addIssue({ code: 'custom', message: 'not base64url' });
      return z.NEVER;
    }
  });

const ChallengeBody = z.object({
  pool: z.string().max(63),
  did: z.string().max(256),
});
const SessionBody = z.object({
  nonce: b64,
  did: z.string().max(256),
  signature: b64,
  elaboration: z.string().max(65536),
});

class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

function body<T>(schema: z.ZodType<T>, req: Request): T {
  const r = schema.safeParse(req.body);
  if (!r.success) {
    const why = r.error.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`).join('; ');
    throw new HttpError(400, 'bad-request', why);
  }
  return r.data;
}

export function authHttpApp(d: HttpDeps): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.use(express.json({ limit: '128kb' }));
  const rejected = (reason: string) =>
    d.metrics.handshakes.inc({ transport: 'http', result: 'rejected', reason });

  app.post('/v1/auth/challenge', async (req, res) => {
    if (!d.ipBuckets.take(req.ip ?? 'unknown')) {
      d.metrics.rateLimited.inc({ limit: 'ip' });
      throw new HttpError(
        429,
        'rate-limited',
        'too many handshakes from this address; retry later',
      );
    }
    const b = body(ChallengeBody, req);
    let publicKey: Uint8Array;
    try {
      publicKey = parseDid(b.did);
    } catch (e) {
      throw new HttpError(400, 'bad-did', isDiagonError(e) ? e.message : 'bad DID');
    }
    const v = checkConnect(b.did, publicKey, b.pool);
    if (!v.ok) throw new HttpError(400, v.code, v.reason);
    const nonce = new Uint8Array(randomBytes(NONCE_BYTES));
    const expiresAt = new Date(Date.now() + d.config.challengeTimeoutMs);
    try {
      await insertChallenge(d.sql, {
        nonce,
        pool: b.pool,
        did: b.did,
        serverDid: d.key.did,
        expiresAt,
      });
    } catch (e) {
      // An unknown pool fails the foreign key: say so without revealing more.
      if ((e as { code?: string }).code === '23503') {
        rejected('not-member');
        throw new HttpError(403, 'not-member', `${b.did} is not a member of pool ${b.pool}`);
      }
      throw e;
    }
    const toSign = handshakeSigningBytes({
      pool: b.pool,
      nonce,
      clientDid: b.did,
      serverDid: d.key.did,
    });
    res.json({
      nonce: base64urlnopad.encode(nonce),
      serverDid: d.key.did,
      expiresAt: expiresAt.toISOString(),
      toSign: base64urlnopad.encode(toSign),
    });
  });

  app.post('/v1/auth/session', async (req, res) => {
    const b = body(SessionBody, req);
    const redeemed = await redeemChallenge(d.sql, b.nonce);
    if (!redeemed.ok) {
      const code = redeemed.why === 'used' ? 'replayed' : 'challenge-expired';
      rejected(code);
      throw new HttpError(
        401,
        code,
        redeemed.why === 'used'
          ? 'this challenge was answered already; ask for a new one'
          : 'no such challenge, or it expired; ask for a new one',
      );
    }
    const c = redeemed.challenge;
    if (c.did !== b.did) {
      rejected('did-mismatch');
      throw new HttpError(401, 'did-mismatch', 'the challenge was issued to another DID');
    }
    const transcript = { pool: c.pool, nonce: c.nonce, clientDid: c.did, serverDid: c.serverDid };
    const v = await checkResponse(d.sql, transcript, parseDid(c.did), b.signature);
    if (!v.ok) {
      rejected(v.code);
      throw new HttpError(v.code === 'not-member' ? 403 : 401, v.code, v.reason);
    }
    const e = checkElaboration(b.elaboration, d.config.minElaboration);
    if (!e.ok) {
      rejected(e.code);
      throw new HttpError(400, e.code, e.reason);
    }
    const session = issueSessionToken(d.key, {
      pool: c.pool,
      did: c.did,
      role: v.value.role,
      ttlSeconds: d.config.sessionTtlS,
    });
    d.metrics.handshakes.inc({ transport: 'http', result: 'authenticated', reason: '' });
    res.json({
      session,
      expiresAt: new Date(Date.now() + d.config.sessionTtlS * 1000).toISOString(),
    });
  });

  app.get('/v1/auth/key', (_req, res) => {
    res.json({ did: d.key.did, publicKey: base64urlnopad.encode(d.key.publicKey) });
  });
  app.get('/v1/openapi.json', (_req, res) => {
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
    next(new HttpError(404, 'not-found', `no route ${req.method} ${req.path}`)),
  );
  app.use((err: unknown, _req: Request, res: Response, _next: NextFunction) => {
    if (err instanceof HttpError) {
      res.status(err.status).json({ code: err.code, message: err.message });
      return;
    }
    const status = (err as { status?: number }).status;
    if (typeof status === 'number' && status >= 400 && status < 500) {
      // express.json's own errors: malformed JSON, too large, wrong content type.
      res.status(status).json({ code: 'bad-request', message: (err as Error).message });
      return;
    }
    res.status(500).json({ code: 'internal', message: 'internal error; see the service log' });
  });
  return app;
}
