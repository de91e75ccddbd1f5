/**
 * Domain separation: the bytes that get signed are never a bare encoding, but
 *
 *     "diagon/v1/" ‖ kind ‖ "/" ‖ pool ‖ 0x00 ‖ canonical CBOR of the value
 *
 * so a signature made for one purpose (a vote, a handshake) in one pool is worthless as any
 * other kind of message or in any other pool. Kinds and pools are restricted to characters
 * that can never contain the separators, which keeps the prefix unambiguous.
 */
import { DiagonError } from '../db/errors.js';
import { type CanonicalValue, encodeCanonical } from './cbor.js';
import { type VerifyOptions, verify } from './ed25519.js';

/** The protocol version named in every domain prefix. */
export const PROTOCOL_VERSION = 1;

/**
 * A pool name: a DNS label (lowercase letters, digits and inner hyphens, 1–63 characters),
 * so that it is also a Kubernetes resource name and a single NATS subject token.
 */
const POOL_NAME = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;
/** A message kind: lowercase letters, digits and hyphens, starting with a letter. */
const KIND_NAME = /^[a-z][a-z0-9-]{0,31}$/;

export function isPoolName(x: unknown): x is string {
  return typeof x === 'string' && POOL_NAME.test(x);
}

export function isKindName(x: unknown): x is string {
  return typeof x === 'string' && KIND_NAME.test(x);
}

/** Throws a `DiagonError` (`identity/bad-pool`) unless `pool` is a valid pool name. */
export function checkPoolName(pool: string): void {
  if (!isPoolName(pool))
    throw new DiagonError(
      'identity/bad-pool',
      `${JSON.stringify(pool)} is not a pool name: use 1-63 lowercase letters, digits or inner hyphens`,
      { pool },
    );
}

const utf8 = new TextEncoder();

const prefixes = new Map<string, Uint8Array>();

/** `diagon/v1/<kind>/<pool>\0` as bytes (checked and encoded once per kind and pool). */
export function domainPrefix(kind: string, pool: string): Uint8Array {
  const key = `${kind}/${pool}`;
  let p = prefixes.get(key);
  if (p === undefined) {
    p = makePrefix(kind, pool);
    if (prefixes.size < 10_000) prefixes.set(key, p);
  }
  return p;
}

function makePrefix(kind: string, pool: string): Uint8Array {
  if (!isKindName(kind))
    throw new DiagonError(
      'identity/bad-kind',
      `${JSON.stringify(kind)} is not a message kind: use lowercase letters, digits and hyphens`,
      { kind },
    );
  checkPoolName(pool);
  return utf8.encode(`diagon/v${PROTOCOL_VERSION}/${kind}/${pool}\0`);
}

/** The bytes to sign (or verify) for `value` as a message of `kind` in `pool`. */
export function signingBytes(kind: string, pool: string, value: CanonicalValue): Uint8Array {
  return prefixedBytes(kind, pool, encodeCanonical(value));
}

/** `signingBytes` of a value whose canonical bytes are `body` already. */
export function prefixedBytes(kind: string, pool: string, body: Uint8Array): Uint8Array {
  const prefix = domainPrefix(kind, pool);
  const out = new Uint8Array(prefix.length + body.length);
  out.set(prefix);
  out.set(body, prefix.length);
  return out;
}

/**
 * Verifies `signature` over `value` as a message of `kind` in `pool`. False for a bad
 * signature; throws (as `signingBytes`) only for a kind, pool or value that cannot be encoded.
 */
export function verifyValue(
  signature: Uint8Array,
  kind: string,
  pool: string,
  value: CanonicalValue,
  publicKey: Uint8Array,
  opts: VerifyOptions = {},
): boolean {
  return verify(signature, signingBytes(kind, pool, value), publicKey, opts);
}
