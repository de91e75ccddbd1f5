/**
 * Content ids: CIDv1 with a sha2-256 multihash.
 *
 * `contentId(value)` hashes the canonical CBOR of a value and names the dag-cbor codec (0x71):
 * canonical bytes are valid DAG-CBOR, so any IPLD tool can check the id against the bytes.
 * `rawContentId(bytes)` names opaque bytes (the raw codec, 0x55), e.g. a serialized index
 * segment. Content ids carry no domain prefix: they name bytes, they do not authorize
 * anything; what is signed is always built with `signingBytes`.
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { CID } from 'multiformats/cid';
import { create as createDigest } from 'multiformats/hashes/digest';
import { DiagonError } from '../db/errors.js';
import { type CanonicalValue, encodeCanonical } from './cbor.js';

export const DAG_CBOR_CODEC = 0x71;
export const RAW_CODEC = 0x55;
export const SHA2_256_CODE = 0x12;

export type ContentId = CID;

/** The CIDv1 (sha2-256) of `bytes`, tagged with `codec` (default raw). */
export function rawContentId(bytes: Uint8Array, codec: number = RAW_CODEC): ContentId {
  return CID.createV1(codec, createDigest(SHA2_256_CODE, sha256(bytes)));
}

/** The CIDv1 (dag-cbor, sha2-256) of the canonical bytes of `value`. */
export function contentId(value: CanonicalValue): ContentId {
  return rawContentId(encodeCanonical(value), DAG_CBOR_CODEC);
}

/** Parses a CID string (base32 `b...` for CIDv1); throws `identity/bad-cid`. */
export function parseContentId(text: string): ContentId {
  try {
    return CID.parse(text);
  } catch (e) {
    throw new DiagonError(
      'identity/bad-cid',
      `${JSON.stringify(text)} is not a content id: ${(e as Error).message}`,
      { text },
    );
  }
}
