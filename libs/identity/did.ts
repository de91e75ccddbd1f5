/**
 * `did:key` DIDs for Ed25519 keys (W3C CCG did:key method):
 *
 *     did:key:z<base58btc(0xed 0x01 ‖ 32-byte public key)>
 *
 * `z` is the multibase prefix of base58btc and `0xed 0x01` the unsigned-varint multicodec
 * `ed25519-pub`, so every such DID starts with `did:key:z6Mk`. A DID is parsed strictly: the
 * DID itself only (no path, query or fragment), the ed25519 codec only, and a public key
 * that passes the strict key check of ed25519.ts.
 */
import { varint } from 'multiformats';
import { base58btc } from 'multiformats/bases/base58';
import { DiagonError } from '../db/errors.js';
import { checkPublicKey, PUBLIC_KEY_BYTES } from './ed25519.js';

/** The multicodec code of an Ed25519 public key. */
export const ED25519_PUB_CODEC = 0xed;

const DID_KEY_PREFIX = 'did:key:';
/** Longest DID accepted: an Ed25519 did:key is 56 characters. */
const MAX_DID_LENGTH = 256;

/** A few codecs a did:key may name, for error messages. */
const KNOWN_CODECS: Record<number, string> = {
  231: 'secp256k1-pub',
  236: 'x25519-pub',
  4608: 'p256-pub',
  4609: 'p384-pub',
  4613: 'rsa-pub',
  235: 'bls12_381-g2-pub',
};

function badDid(did: string, why: string): DiagonError {
  return new DiagonError('identity/bad-did', `${JSON.stringify(did)} is not a valid DID: ${why}`, {
    did,
  });
}

/** The did:key of an Ed25519 public key (refused unless it passes the strict key check). */
export function formatDid(publicKey: Uint8Array): string {
  checkPublicKey(publicKey);
  const bytes = new Uint8Array(2 + PUBLIC_KEY_BYTES);
  varint.encodeTo(ED25519_PUB_CODEC, bytes);
  bytes.set(publicKey, 2);
  return DID_KEY_PREFIX + base58btc.encode(bytes);
}

/**
 * The Ed25519 public key a did:key names. Throws a `DiagonError`: `identity/bad-did` for
 * anything that is not a did:key, `identity/unsupported-key-type` for a did:key of another
 * key type, `identity/bad-public-key` for a key the strict check refuses.
 */
export function parseDid(did: string): Uint8Array {
  const known = typeof did === 'string' ? parsed.get(did) : undefined;
  if (known !== undefined) return known.slice();
  const key = parseDidUncached(did);
  if (parsed.size >= MAX_PARSED) parsed.clear();
  parsed.set(did, key.slice());
  return key;
}

/** DIDs parsed already (validity and key depend on the text alone), bounded. */
const parsed = new Map<string, Uint8Array>();
const MAX_PARSED = 10_000;

function parseDidUncached(did: string): Uint8Array {
  if (typeof did !== 'string') throw badDid(String(did), 'a DID is a string');
  if (did.length > MAX_DID_LENGTH) throw badDid(did.slice(0, 64), 'it is too long');
  if (!did.startsWith('did:')) throw badDid(did, 'a DID starts with "did:" (e.g. did:key:z6Mk...)');
  if (!did.startsWith(DID_KEY_PREFIX))
    throw badDid(did, `only the did:key method is supported, not did:${did.split(':')[1]}`);
  const id = did.slice(DID_KEY_PREFIX.length);
  if (/[/?#]/.test(id))
    throw badDid(
      did,
      'a DID URL (path, query or fragment) is not a DID: drop everything from / ? #',
    );
  if (!id.startsWith('z'))
    throw badDid(did, 'did:key identifiers are base58btc multibase strings starting with "z"');
  let bytes: Uint8Array;
  try {
    bytes = base58btc.decode(id);
  } catch {
    throw badDid(did, 'the identifier is not valid base58btc');
  }
  let code: number;
  let size: number;
  try {
    [code, size] = varint.decode(bytes);
  } catch {
    throw badDid(did, 'the identifier does not start with a multicodec varint');
  }
  if (code !== ED25519_PUB_CODEC)
    throw new DiagonError(
      'identity/unsupported-key-type',
      `${did} holds a ${KNOWN_CODECS[code] ?? `multicodec 0x${code.toString(16)}`} key: only ed25519-pub (0xed) keys are supported`,
      { did, codec: code },
    );
  if (size !== 2 || bytes.length !== 2 + PUBLIC_KEY_BYTES)
    throw badDid(
      did,
      `an ed25519 did:key holds 0xed 0x01 and ${PUBLIC_KEY_BYTES} key bytes, not ${bytes.length} bytes`,
    );
  if (DID_KEY_PREFIX + base58btc.encode(bytes) !== did)
    throw badDid(did, 'the identifier is not in its canonical base58btc form');
  const publicKey = bytes.slice(2);
  checkPublicKey(publicKey);
  return publicKey;
}

/** True when `x` is a did:key that `parseDid` accepts. */
export function isDid(x: unknown): x is string {
  try {
    parseDid(x as string);
    return true;
  } catch {
    return false;
  }
}

/** The binding check: true when `did` is exactly the did:key of `publicKey`. */
export function didMatchesKey(did: string, publicKey: Uint8Array): boolean {
  let parsed: Uint8Array;
  try {
    parsed = parseDid(did);
  } catch {
    return false;
  }
  return (
    publicKey instanceof Uint8Array &&
    publicKey.length === PUBLIC_KEY_BYTES &&
    parsed.every((b, i) => b === publicKey[i])
  );
}
