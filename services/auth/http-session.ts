/**
 * Bearer authentication of the HTTP API: `Authorization: Bearer <session>`, a session
 * token this service issued (libs/identity `verifySessionToken` with the service key). A
 * route under `/v1/pools/{pool}` is open only to a session for that pool whose DID is still
 * a member (a member removed since the login is refused at once); observers may read, only
 * members propose and vote. Requests per DID share the TCP side's token buckets.
 */
import { randomBytes } from 'node:crypto';
import type { Request } from 'express';
import { isDiagonError } from '../../libs/db/errors.js';
import { type KeyPair, type Session, verifySessionToken } from '../../libs/identity/index.js';
import { getMember, type Role, type Sql } from '../../libs/storage/index.js';
import type { AuthMetrics } from './metrics.js';
import { HttpProblem } from './problem.js';
import type { TokenBuckets } from './rate-limit.js';
import type { RelayOrigin } from './relay.js';

export interface SessionDeps {
  key: KeyPair;
  sql: Sql;
  metrics: AuthMetrics;
  ipBuckets: TokenBuckets;
  didBuckets: TokenBuckets;
}

export interface PoolSession {
  pool: string;
  did: string;
  role: Role;
  /** The headers of requests relayed on the session's behalf. */
  origin: RelayOrigin;
}

const CHALLENGE = { 'WWW-Authenticate': 'Bearer realm="diagon"' };

/** The session of the request's bearer token; 401 without a valid one, 429 past the DID's rate. */
export function authenticate(d: SessionDeps, req: Request): Session {
  const m = /^Bearer\s+(\S+)\s*$/i.exec(req.get('authorization') ?? '');
  if (m === null)
    throw new HttpProblem(
      401,
      'unauthorized',
      'send Authorization: Bearer <session>; POST /v1/auth/challenge and /v1/auth/session give one',
      CHALLENGE,
    );
  let s: Session;
  try {
    s = verifySessionToken(m[1]!, { issuerPublicKey: d.key.publicKey });
  } catch (e) {
    if (!isDiagonError(e)) throw e;
    throw new HttpProblem(401, e.code, e.message, {
      'WWW-Authenticate': 'Bearer realm="diagon", error="invalid_token"',
    });
  }
  if (!d.didBuckets.take(s.did)) {
    d.metrics.rateLimited.inc({ limit: 'did' });
    throw new HttpProblem(429, 'rate-limited', 'too many requests from this member; slow down');
  }
  return s;
}

/** The session of a `/v1/pools/{pool}` route: for that pool, by a current member. */
export async function poolSession(d: SessionDeps, req: Request): Promise<PoolSession> {
  const s = authenticate(d, req);
  const pool = String(req.params.pool);
  if (s.pool !== pool)
    throw new HttpProblem(
      403,
      'wrong-session-pool',
      `this session is for pool ${s.pool}, not ${pool}; log in to ${pool}`,
    );
  const member = await getMember(d.sql, pool, s.did);
  if (member === undefined)
    throw new HttpProblem(403, 'not-member', `${s.did} is no longer a member of pool ${pool}`);
  const header = (name: string) => req.get(name) || undefined;
  return {
    pool,
    did: s.did,
    role: member.role,
    origin: {
      did: s.did,
      pool,
      requestId: `http.${randomBytes(6).toString('hex')}`,
      traceparent: header('traceparent'),
      tracestate: header('tracestate'),
    },
  };
}

/** The session of a route that proposes or votes: observers are refused. */
export async function voterSession(d: SessionDeps, req: Request): Promise<PoolSession> {
  const s = await poolSession(d, req);
  if (s.role !== 'member')
    throw new HttpProblem(
      403,
      'observer',
      `${s.did} observes pool ${s.pool}: observers read, only members propose and vote`,
    );
  return s;
}

/** For routes without a session (the handshake, pool creation): 429 past the address's rate. */
export function limitByIp(d: SessionDeps, req: Request): void {
  if (d.ipBuckets.take(req.ip ?? 'unknown')) return;
  d.metrics.rateLimited.inc({ limit: 'ip' });
  throw new HttpProblem(429, 'rate-limited', 'too many requests from this address; retry later');
}
