/**
 * The leaves of a pool's log: one per governance decision, encoded as
 *
 *     signingBytes('tlog-leaf', pool, { kind, body })
 *   = "diagon/v1/tlog-leaf/<pool>\0" ‖ canonical CBOR of the map { "body": body, "kind": kind }
 *
 * with `kind` one of `proposal` (an opened proposal), `vote`, `certificate`, `commit` (the
 * committed transaction's hash) and `body` the canonical value of the entry, or its bytes (a
 * CBOR byte string). The prefix names the pool and the map names the kind, so a leaf of one pool
 * or kind never equals a leaf of another; and since no signed message uses the `tlog-leaf`
 * domain, a leaf is never the bytes of a vote or proposal signature either. The Merkle leaf
 * hash is then `leafHash(encodeLeaf(entry))`.
 */
import { DiagonError } from '../db/errors.js';
import {
  type CanonicalValue,
  decodeCanonical,
  isPoolName,
  PROTOCOL_VERSION,
  signingBytes,
} from '../identity/index.js';

export const LEAF_DOMAIN = 'tlog-leaf';
const utf8 = new TextEncoder();
export const LEAF_KINDS = ['proposal', 'vote', 'certificate', 'commit'] as const;
export type LeafKind = (typeof LEAF_KINDS)[number];

export interface LeafEntry {
  readonly kind: LeafKind;
  readonly pool: string;
  readonly body: CanonicalValue;
}

export function isLeafKind(x: unknown): x is LeafKind {
  return LEAF_KINDS.includes(x as LeafKind);
}

/** The leaf bytes of a governance entry; throws `tlog/bad-leaf` or `identity/*`, `canonical/*`. */
export function encodeLeaf(entry: LeafEntry): Uint8Array {
  if (!isLeafKind(entry.kind))
    throw new DiagonError(
      'tlog/bad-leaf',
      `${JSON.stringify(entry.kind)} is not a leaf kind: use one of ${LEAF_KINDS.join(', ')}`,
      { kind: entry.kind },
    );
  return signingBytes(LEAF_DOMAIN, entry.pool, { kind: entry.kind, body: entry.body });
}

/** The entry of leaf bytes made by `encodeLeaf`; throws `tlog/bad-leaf` for anything else. */
export function decodeLeaf(bytes: Uint8Array): LeafEntry {
  const head = utf8.encode(`diagon/v${PROTOCOL_VERSION}/${LEAF_DOMAIN}/`);
  const end = bytes.indexOf(0, head.length);
  const pool = new TextDecoder().decode(bytes.subarray(head.length, Math.max(end, 0)));
  if (!head.every((b, i) => bytes[i] === b) || end < 0 || !isPoolName(pool))
    throw new DiagonError('tlog/bad-leaf', `not a leaf: no "${LEAF_DOMAIN}" prefix with a pool`);
  let value: CanonicalValue;
  try {
    value = decodeCanonical(bytes.subarray(end + 1));
  } catch (e) {
    throw new DiagonError('tlog/bad-leaf', `leaf of pool ${pool}: ${(e as Error).message}`, {
      pool,
    });
  }
  if (!isEntryMap(value))
    throw new DiagonError('tlog/bad-leaf', `leaf of pool ${pool}: not a map {kind, body}`, {
      pool,
    });
  return { kind: value.kind, pool, body: value.body };
}

function isEntryMap(x: CanonicalValue): x is { kind: LeafKind; body: CanonicalValue } {
  if (x === null || typeof x !== 'object' || Object.getPrototypeOf(x) !== Object.prototype)
    return false;
  const entry = x as { [key: string]: CanonicalValue };
  return Object.keys(entry).length === 2 && 'body' in entry && isLeafKind(entry.kind);
}
