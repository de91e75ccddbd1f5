/**
 * Governance values on the wire and at rest, and the electorate of a proposal.
 *
 * - A signed proposal is canonical CBOR of {body, signature} (`encodeSignedProposal`);
 *   decoding verifies it.
 * - A signed vote is its 64-byte signature followed by the canonical CBOR of its body
 *   (`encodeSignedVote`), so the signature is checked over the bytes received.
 * - `electorate(voting, changes, createdAt)`: the voter set a proposal was frozen with.
 */
import { DiagonError, isDiagonError } from '../db/errors.js';
import {
  type CanonicalValue,
  decodeCanonical,
  encodeCanonical,
  SIGNATURE_BYTES,
} from '../identity/index.js';
import { proposalId, type SignedProposal, verifyProposal } from './proposal.js';
import { type SignedVote, verifyEncodedVote } from './vote.js';

/** One entry of a pool's membership log. */
export interface MembershipChange {
  did: string;
  change: 'added' | 'removed';
  role: string | null;
  at: Date;
}

export function encodeSignedProposal(p: SignedProposal): Uint8Array {
  return encodeCanonical({ body: p.body as unknown as CanonicalValue, signature: p.signature });
}

export function decodeSignedProposal(bytes: Uint8Array): SignedProposal {
  let v: { body?: unknown; signature?: unknown };
  try {
    v = decodeCanonical(bytes) as typeof v;
  } catch (e) {
    throw new DiagonError(
      'governance/malformed',
      `not an encoded proposal: ${(e as Error).message}`,
    );
  }
  const body = v.body as SignedProposal['body'];
  const sp = { body, signature: v.signature as Uint8Array, id: '' };
  try {
    sp.id = proposalId(body);
  } catch (e) {
    if (isDiagonError(e)) throw e;
    throw new DiagonError('governance/malformed', 'the proposal body is malformed');
  }
  verifyProposal(sp);
  return sp;
}

/**
 * A signed vote as stored and sent: its 64-byte signature followed by the canonical CBOR of
 * its body, so the signature is checked over the very bytes received, with nothing to
 * decode around them.
 */
export function encodeSignedVote(v: SignedVote): Uint8Array {
  const body = encodeCanonical(v.body as unknown as CanonicalValue);
  const out = new Uint8Array(SIGNATURE_BYTES + body.length);
  out.set(v.signature);
  out.set(body, SIGNATURE_BYTES);
  return out;
}

export function decodeSignedVote(bytes: Uint8Array): SignedVote {
  if (!(bytes instanceof Uint8Array) || bytes.length <= SIGNATURE_BYTES)
    throw new DiagonError(
      'governance/malformed',
      `an encoded vote is a ${SIGNATURE_BYTES}-byte signature followed by the vote body`,
    );
  return verifyEncodedVote(bytes.subarray(SIGNATURE_BYTES), bytes.subarray(0, SIGNATURE_BYTES));
}

/**
 * The members who could vote on a proposal made at `createdAt` (ms): the voter set is
 * frozen when a proposal opens, so members added since do not belong to it and members
 * removed since still do.
 */
export function electorate(
  voting: readonly string[],
  changes: readonly MembershipChange[],
  createdAt: number,
): string[] {
  const out = new Set(voting);
  for (const c of changes) {
    if (c.at.getTime() <= createdAt) continue;
    if (c.change === 'added') out.delete(c.did);
  }
  for (const c of changes)
    if (c.at.getTime() > createdAt && c.change === 'removed' && !voting.includes(c.did)) {
      const before = changes.filter((x) => x.did === c.did && x.at.getTime() <= createdAt).at(-1);
      if (before === undefined || (before.change === 'added' && before.role !== 'observer'))
        out.add(c.did);
    }
  return [...out];
}
