/**
 * Ed25519 keys, signatures and strict verification, with two implementations that agree on
 * every input: `@noble/ed25519` (portable, the reference) and `node:crypto` (OpenSSL, about
 * 15 times faster; what servers use through `verifyFast`).
 *
 * The strict policy, the same in both (RFC 8032 §5.1.7 leaves these choices open; "Taming
 * the many EdDSAs", Chalkias et al. 2020, shows libraries disagree on every one):
 *
 * 1. the public key A must be the canonical encoding (y < p) of a point of the prime-order
 *    subgroup other than the identity: small-order and mixed-order keys are refused (no
 *    honestly generated key is either);
 * 2. S must be canonical: S < L;
 * 3. R must not encode a small-order point (any encoding, canonical or not);
 * 4. the equation is cofactorless, as OpenSSL's: the encoding of [S]B − [k]A must equal the
 *    32 bytes of R exactly, with k = SHA-512(R ‖ A ‖ M) mod L, so a non-canonical R never
 *    verifies.
 *
 * noble's own `verify` uses the cofactored equation, which accepts R with a torsion component
 * that OpenSSL rejects, so the noble path evaluates the equation above with noble's point
 * arithmetic instead. Checks 1–3 run before either library sees the signature; check 1 runs
 * once per key (results are kept in a bounded cache, with the key's `KeyObject`).
 */
import {
  createPrivateKey,
  createPublicKey,
  type KeyObject,
  sign as nodeSign,
  verify as nodeVerify,
} from 'node:crypto';
import * as ed from '@noble/ed25519';
import { sha512 } from '@noble/hashes/sha2.js';
import { DiagonError } from '../db/errors.js';

// noble's synchronous API needs a SHA-512 implementation.
ed.hashes.sha512 = sha512;

export const PUBLIC_KEY_BYTES = 32;
export const SECRET_KEY_BYTES = 32;
export const SIGNATURE_BYTES = 64;

/** Which library verifies: `noble` (portable) or `node` (OpenSSL through node:crypto). */
export type VerifyImpl = 'noble' | 'node';

export interface VerifyOptions {
  /** Default `noble`; `verifyFast` is `verify` with `node`. */
  impl?: VerifyImpl;
}

/** The group order L. */
const L = 2n ** 252n + 27742317777372353535851937790883648493n;
const SPKI_PREFIX = Uint8Array.from([
  0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
]);
const PKCS8_PREFIX = Uint8Array.from([
  0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
]);

/**
 * The y-coordinates (little-endian, sign bit cleared) of every encoding of a small-order
 * point: 0, 1, the two order-8 values, p−1, and the non-canonical p and p+1.
 */
const SMALL_ORDER_Y = [
  '0000000000000000000000000000000000000000000000000000000000000000',
  '0100000000000000000000000000000000000000000000000000000000000000',
  '26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05',
  'c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a',
  'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  'edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  'eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
].map((h) => Buffer.from(h, 'hex'));

/** True when `point` (32 bytes) is an encoding of a small-order point. */
export function isSmallOrderEncoding(point: Uint8Array): boolean {
  return SMALL_ORDER_Y.some((y) => {
    for (let i = 0; i < 31; i++) if (point[i] !== y[i]) return false;
    return (point[31]! & 0x7f) === y[31];
  });
}

/** S < L, reading the 32 bytes little-endian from the top. */
function isCanonicalScalar(s: Uint8Array): boolean {
  if ((s[31]! & 0xf0) === 0) return true; // below 2^252 < L
  if ((s[31]! & 0xe0) !== 0) return false;
  return bytesToBigIntLE(s) < L;
}

function bytesToBigIntLE(b: Uint8Array): bigint {
  let n = 0n;
  for (let i = b.length - 1; i >= 0; i--) n = (n << 8n) | BigInt(b[i]!);
  return n;
}

function isBytes(x: unknown, length: number): x is Uint8Array {
  return x instanceof Uint8Array && x.length === length;
}

function describeLength(x: unknown): string {
  return x instanceof Uint8Array ? `${x.length} bytes` : `a ${typeof x}`;
}

// ---- keys ----------------------------------------------------------------------------------

interface ValidKey {
  readonly point: ed.Point;
  keyObject?: KeyObject;
}

const KEY_CACHE_MAX = 10_000;
/** Key checks by key (latin1 string of its bytes): a valid key, or why it is not. */
const keyCache = new Map<string, ValidKey | string>();

function keyId(publicKey: Uint8Array): string {
  return Buffer.from(publicKey.buffer, publicKey.byteOffset, publicKey.byteLength).toString(
    'latin1',
  );
}

/** Why `publicKey` fails rule 1 of the strict policy, or undefined when it passes. */
function publicKeyProblem(publicKey: Uint8Array): string | ed.Point {
  let point: ed.Point;
  try {
    point = ed.Point.fromBytes(publicKey, false);
  } catch {
    return 'it is not the canonical encoding of a curve point';
  }
  if (point.isSmallOrder()) return 'it is a small-order point';
  if (!point.isTorsionFree()) return 'it is a mixed-order point (it has a torsion component)';
  return point;
}

function lookupKey(publicKey: Uint8Array): ValidKey | string {
  const id = keyId(publicKey);
  const hit = keyCache.get(id);
  if (hit !== undefined) {
    keyCache.delete(id); // re-inserted below: the Map's order is the LRU order
    keyCache.set(id, hit);
    return hit;
  }
  const checked = publicKeyProblem(publicKey);
  const entry = typeof checked === 'string' ? checked : { point: checked };
  if (keyCache.size >= KEY_CACHE_MAX) keyCache.delete(keyCache.keys().next().value!);
  keyCache.set(id, entry);
  return entry;
}

/** True when `publicKey` is 32 bytes that pass rule 1 of the strict policy. */
export function isValidPublicKey(publicKey: Uint8Array): boolean {
  return isBytes(publicKey, PUBLIC_KEY_BYTES) && typeof lookupKey(publicKey) !== 'string';
}

/** Throws a `DiagonError` (`identity/bad-public-key`) saying why `publicKey` is refused. */
export function checkPublicKey(publicKey: Uint8Array): void {
  if (!isBytes(publicKey, PUBLIC_KEY_BYTES))
    throw new DiagonError(
      'identity/bad-public-key',
      `an ed25519 public key is ${PUBLIC_KEY_BYTES} bytes, not ${describeLength(publicKey)}`,
    );
  const entry = lookupKey(publicKey);
  if (typeof entry === 'string')
    throw new DiagonError('identity/bad-public-key', `ed25519 public key refused: ${entry}`, {
      publicKey: Buffer.from(publicKey).toString('hex'),
    });
}

function checkSecretKey(secretKey: Uint8Array): void {
  if (!isBytes(secretKey, SECRET_KEY_BYTES))
    throw new DiagonError(
      'identity/bad-secret-key',
      `an ed25519 secret key is a ${SECRET_KEY_BYTES}-byte seed (RFC 8032), not ${describeLength(secretKey)}`,
    );
}

/** A new random secret key (a 32-byte RFC 8032 seed, from the CSPRNG). */
export function generateSecretKey(): Uint8Array {
  return ed.utils.randomSecretKey();
}

/** The public key of a secret key. */
export function publicKeyOf(secretKey: Uint8Array): Uint8Array {
  checkSecretKey(secretKey);
  return ed.getPublicKey(secretKey);
}

/** The node:crypto private key object of a secret key. */
export function nodePrivateKey(secretKey: Uint8Array): KeyObject {
  checkSecretKey(secretKey);
  return createPrivateKey({
    key: Buffer.concat([PKCS8_PREFIX, secretKey]),
    format: 'der',
    type: 'pkcs8',
  });
}

// ---- sign ----------------------------------------------------------------------------------

export interface SignOptions {
  /** Default `noble`. Ed25519 is deterministic: both give the same signature. */
  impl?: VerifyImpl;
}

/** The 64-byte Ed25519 signature of `message` (RFC 8032 PureEdDSA). */
export function sign(
  message: Uint8Array,
  secretKey: Uint8Array | KeyObject,
  opts: SignOptions = {},
): Uint8Array {
  if (secretKey instanceof Uint8Array && opts.impl !== 'node') {
    checkSecretKey(secretKey);
    return ed.sign(message, secretKey);
  }
  const key = secretKey instanceof Uint8Array ? nodePrivateKey(secretKey) : secretKey;
  return new Uint8Array(nodeSign(null, message, key));
}

// ---- verify --------------------------------------------------------------------------------

/** Rules 2 and 3, shared by both paths; the key (rule 1) is looked up by the caller. */
function signatureShapeOk(signature: Uint8Array): boolean {
  return (
    isBytes(signature, SIGNATURE_BYTES) &&
    isCanonicalScalar(signature.subarray(32)) &&
    !isSmallOrderEncoding(signature.subarray(0, 32))
  );
}

function verifyNoble(
  signature: Uint8Array,
  message: Uint8Array,
  publicKey: Uint8Array,
  key: ValidKey,
): boolean {
  const r = signature.subarray(0, 32);
  const s = bytesToBigIntLE(signature.subarray(32));
  const digest = sha512.create().update(r).update(publicKey).update(message).digest();
  const k = bytesToBigIntLE(digest) % L;
  const expected = ed.Point.BASE.multiply(s, false)
    .subtract(key.point.multiply(k, false))
    .toBytes();
  for (let i = 0; i < 32; i++) if (expected[i] !== r[i]) return false;
  return true;
}

function verifyNode(
  signature: Uint8Array,
  message: Uint8Array,
  key: ValidKey,
  publicKey: Uint8Array,
): boolean {
  key.keyObject ??= createPublicKey({
    key: spkiOf(publicKey),
    format: 'der',
    type: 'spki',
  });
  return nodeVerify(null, message, key.keyObject, signature);
}

/**
 * Rules 1–3 of the strict policy alone: true when only the equation (rule 4, OpenSSL's
 * cofactorless check) remains, so that it can run elsewhere (`VerifierPool`).
 */
export function passesStrictChecks(
  signature: Uint8Array,
  message: Uint8Array,
  publicKey: Uint8Array,
): boolean {
  if (!(message instanceof Uint8Array) || !isBytes(publicKey, PUBLIC_KEY_BYTES)) return false;
  return signatureShapeOk(signature) && typeof lookupKey(publicKey) !== 'string';
}

/** The DER SubjectPublicKeyInfo of an Ed25519 public key, as node:crypto takes it. */
export function spkiOf(publicKey: Uint8Array): Buffer {
  return Buffer.concat([SPKI_PREFIX, publicKey]);
}

/**
 * Strict Ed25519 verification (see the module comment). Returns false, never throws, for
 * anything that is not a valid signature, including arguments of the wrong length.
 */
export function verify(
  signature: Uint8Array,
  message: Uint8Array,
  publicKey: Uint8Array,
  opts: VerifyOptions = {},
): boolean {
  if (!(message instanceof Uint8Array) || !isBytes(publicKey, PUBLIC_KEY_BYTES)) return false;
  if (!signatureShapeOk(signature)) return false;
  const key = lookupKey(publicKey);
  if (typeof key === 'string') return false;
  return opts.impl === 'node'
    ? verifyNode(signature, message, key, publicKey)
    : verifyNoble(signature, message, publicKey, key);
}

/** `verify` through node:crypto (OpenSSL): for servers. */
export function verifyFast(
  signature: Uint8Array,
  message: Uint8Array,
  publicKey: Uint8Array,
): boolean {
  return verify(signature, message, publicKey, { impl: 'node' });
}
