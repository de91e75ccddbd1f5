/**
 * The handshake for web clients, the same checks as the TCP protocol's (handshake.ts):
 *
 *     POST /v1/auth/challenge  {pool, did}  → {nonce, serverDid, expiresAt, toSign}
 *     POST /v1/auth/session    {nonce, did, signature, elaboration} → {session, expiresAt}
 *     GET  /v1/auth/key        → {did, publicKey}
 *
 * A challenge is stored in Postgres so any replica can redeem it, once (libs/storage
 * `redeemChallenge`). `toSign` is the exact byte string to sign, so a web client needs no
 * CBOR encoder.
 */
import { randomBytes } from 'node:crypto';
import { base64urlnopad } from '@scure/base';
import { Router } from 'express';
import { z } from 'zod';
import { isDiagonError } from '../../libs/db/errors.js';
import { issueSessionToken, parseDid } from '../../libs/identity/index.js';
import { insertChallenge, redeemChallenge } from '../../libs/storage/index.js';
import { handshakeSigningBytes, NONCE_BYTES } from '../../libs/wire/index.js';
import { checkConnect, checkElaboration, checkResponse } from './handshake.js';
import type { HttpDeps } from './http.js';
import { base64url, readBody } from './http-input.js';
import { limitByIp } from './http-session.js';
import { HttpProblem } from './problem.js';

const ChallengeBody = z.object({
  pool: z.string().max(63),
  did: z.string().max(256),
});
const SessionBody = z.object({
  nonce: base64url(),
  did: z.string().max(256),
  signature: base64url(),
  elaboration: z.string().max(65536),
});

export function handshakeRoutes(d: HttpDeps): Router {
  const r = Router();
  const rejected = (reason: string) =>
    d.metrics.handshakes.inc({ transport: 'http', result: 'rejected', reason });

  r.post('/v1/auth/challenge', async (req, res) => {
    limitByIp(d, req);
    const b = readBody(ChallengeBody, req);
    let publicKey: Uint8Array;
    try {
      publicKey = parseDid(b.did);
    } catch (e) {
      throw new HttpProblem(400, 'bad-did', isDiagonError(e) ? e.message : 'bad DID');
    }
    const v = checkConnect(b.did, publicKey, b.pool);
    if (!v.ok) throw new HttpProblem(400, v.code, v.reason);
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
        throw new HttpProblem(403, 'not-member', `${b.did} is not a member of pool ${b.pool}`);
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

  r.post('/v1/auth/session', async (req, res) => {
    const b = readBody(SessionBody, req);
    const redeemed = await redeemChallenge(d.sql, b.nonce);
    if (!redeemed.ok) {
      const code = redeemed.why === 'used' ? 'replayed' : 'challenge-expired';
      rejected(code);
      throw new HttpProblem(
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
      throw new HttpProblem(401, 'did-mismatch', 'the challenge was issued to another DID');
    }
    const transcript = { pool: c.pool, nonce: c.nonce, clientDid: c.did, serverDid: c.serverDid };
    const v = await checkResponse(d.sql, transcript, parseDid(c.did), b.signature);
    if (!v.ok) {
      rejected(v.code);
      throw new HttpProblem(v.code === 'not-member' ? 403 : 401, v.code, v.reason);
    }
    const e = checkElaboration(b.elaboration, d.config.minElaboration);
    if (!e.ok) {
      rejected(e.code);
      throw new HttpProblem(400, e.code, e.reason);
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

  r.get('/v1/auth/key', (_req, res) => {
    res.json({ did: d.key.did, publicKey: base64urlnopad.encode(d.key.publicKey) });
  });

  return r;
}
