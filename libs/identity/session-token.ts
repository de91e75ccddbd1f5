/**
 * Session tokens: compact JWS (RFC 7515) with EdDSA over Ed25519 (RFC 8037), so any JWT
 * library can read them, and any Diagon service can verify them offline with the issuing
 * auth service's public key (its DID is the `iss` claim and the `kid` header).
 *
 *     base64url({"alg":"EdDSA","typ":"diagon-session+jwt","kid":<server DID>})
 *     "." base64url({"iss","sub","aud","role","iat","exp","jti"}) "." base64url(signature)
 *
 * The header's `typ` names the kind and protocol version, and `aud` is `diagon:pool:<pool>`,
 * so the signed bytes carry their own domain separation: a session for one pool is refused
 * in another. Verification is strict (libs/identity `verify`) and checks `exp`/`iat`
 * against a small clock skew.
 */
import { randomBytes } from 'node:crypto';
import { base64urlnopad } from '@scure/base';
import { DiagonError } from '../db/errors.js';
import { parseDid } from './did.js';
import { verifyFast } from './ed25519.js';
import type { KeyPair } from './key-pair.js';
import { checkPoolName } from './signing-bytes.js';

export const SESSION_TOKEN_TYPE = 'diagon-session+jwt';
/** Tokens longer than this are refused before any parsing. */
export const MAX_SESSION_TOKEN_LENGTH = 4096;
const CLOCK_SKEW_S = 30;

export interface SessionClaims {
  /** The auth service's DID. */
  iss: string;
  /** The member's DID. */
  sub: string;
  /** `diagon:pool:<pool>`. */
  aud: string;
  role: string;
  /** Seconds since the epoch. */
  iat: number;
  exp: number;
  /** A random id, for logs and revocation lists. */
  jti: string;
}

export interface Session {
  pool: string;
  did: string;
  role: string;
  issuer: string;
  issuedAt: Date;
  expiresAt: Date;
  id: string;
}

export interface IssueOptions {
  pool: string;
  did: string;
  role?: string;
  ttlSeconds: number;
  now?: Date;
}

const utf8 = new TextEncoder();
const text = new TextDecoder('utf-8', { fatal: true });
const b64 = (x: unknown) => base64urlnopad.encode(utf8.encode(JSON.stringify(x)));

/** A session token for `did` in `pool`, signed by the auth service's key. */
export function issueSessionToken(key: KeyPair, o: IssueOptions): string {
  checkPoolName(o.pool);
  const iat = Math.floor((o.now ?? new Date()).getTime() / 1000);
  const claims: SessionClaims = {
    iss: key.did,
    sub: o.did,
    aud: `diagon:pool:${o.pool}`,
    role: o.role ?? 'member',
    iat,
    exp: iat + o.ttlSeconds,
    jti: base64urlnopad.encode(randomBytes(12)),
  };
  const input = `${b64({ alg: 'EdDSA', typ: SESSION_TOKEN_TYPE, kid: key.did })}.${b64(claims)}`;
  return `${input}.${base64urlnopad.encode(key.sign(utf8.encode(input), { impl: 'node' }))}`;
}

function bad(why: string): DiagonError {
  return new DiagonError('identity/bad-session', `session token refused: ${why}`);
}

function part(s: string, what: string): Record<string, unknown> {
  let x: unknown;
  try {
    x = JSON.parse(text.decode(base64urlnopad.decode(s)));
  } catch {
    throw bad(`its ${what} is not base64url JSON`);
  }
  if (x === null || typeof x !== 'object' || Array.isArray(x))
    throw bad(`its ${what} is no object`);
  return x as Record<string, unknown>;
}

export interface VerifySessionOptions {
  /** The issuing auth service's public key (or pass `issuerDid`). */
  issuerPublicKey?: Uint8Array;
  issuerDid?: string;
  /** Refuse a token for any other pool. */
  pool?: string;
  now?: Date;
}

/**
 * The session a token stands for; throws `identity/bad-session` (malformed, wrong issuer,
 * bad signature, other pool) or `identity/session-expired`.
 */
export function verifySessionToken(token: string, o: VerifySessionOptions): Session {
  if (typeof token !== 'string' || token.length > MAX_SESSION_TOKEN_LENGTH)
    throw bad(`it is not a string of at most ${MAX_SESSION_TOKEN_LENGTH} characters`);
  const parts = token.split('.');
  if (parts.length !== 3) throw bad('it does not have three dot-separated parts');
  const [h, p, s] = parts as [string, string, string];
  const header = part(h, 'header');
  if (header.alg !== 'EdDSA' || header.typ !== SESSION_TOKEN_TYPE)
    throw bad(`its header says ${JSON.stringify(header)}, not an EdDSA ${SESSION_TOKEN_TYPE}`);
  const claims = part(p, 'payload') as Partial<SessionClaims>;
  for (const k of ['iss', 'sub', 'aud', 'role', 'jti'] as const)
    if (typeof claims[k] !== 'string') throw bad(`claim ${k} is missing`);
  for (const k of ['iat', 'exp'] as const)
    if (!Number.isSafeInteger(claims[k])) throw bad(`claim ${k} is not a whole number`);
  const issuerKey = o.issuerPublicKey ?? (o.issuerDid ? parseDid(o.issuerDid) : undefined);
  if (issuerKey === undefined)
    throw new DiagonError(
      'identity/bad-options',
      'verifySessionToken needs the issuer: pass issuerPublicKey or issuerDid',
    );
  if (header.kid !== claims.iss)
    throw bad(`its header kid ${String(header.kid)} is not its issuer`);
  if (o.issuerDid !== undefined && claims.iss !== o.issuerDid)
    throw bad(`it was issued by ${claims.iss}, not ${o.issuerDid}`);
  let signature: Uint8Array;
  try {
    signature = base64urlnopad.decode(s);
  } catch {
    throw bad('its signature is not base64url');
  }
  if (!verifyFast(signature, utf8.encode(`${h}.${p}`), issuerKey))
    throw bad('its signature does not verify with the issuer key');
  const aud = claims.aud as string;
  if (!aud.startsWith('diagon:pool:')) throw bad(`its audience ${aud} is no pool`);
  const pool = aud.slice('diagon:pool:'.length);
  if (o.pool !== undefined && pool !== o.pool) throw bad(`it is for pool ${pool}, not ${o.pool}`);
  const now = Math.floor((o.now ?? new Date()).getTime() / 1000);
  if ((claims.iat as number) > now + CLOCK_SKEW_S) throw bad('it was issued in the future');
  if ((claims.exp as number) <= now - CLOCK_SKEW_S)
    throw new DiagonError(
      'identity/session-expired',
      `session expired at ${new Date((claims.exp as number) * 1000).toISOString()}: log in again`,
    );
  return {
    pool,
    did: claims.sub as string,
    role: claims.role as string,
    issuer: claims.iss as string,
    issuedAt: new Date((claims.iat as number) * 1000),
    expiresAt: new Date((claims.exp as number) * 1000),
    id: claims.jti as string,
  };
}
