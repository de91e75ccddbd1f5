/**
 * A vote: a member's signed yes or no on one proposal, with the hash of the text in which
 * they explained it (the text itself stays out of the certificate; anyone holding it can
 * check it against the hash). Signed as message kind `vote` over the canonical bytes of the
 * body, so a vote counts for one proposal in one pool only.
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex } from '@noble/hashes/utils.js';
import { z } from 'zod';
import { DiagonError } from '../db/errors.js';
import {
  decodeCanonical,
  isPoolName,
  type KeyPair,
  parseDid,
  prefixedBytes,
  SIGNATURE_BYTES,
  signingBytes,
  verify,
} from '../identity/index.js';
import {
  checkShape,
  cidText,
  did,
  isCanonicalCid,
  isRememberedDid,
  poolName,
  signature,
  wholeNumber,
} from './shapes.js';
import type { SignatureCheck } from './signature-check.js';

/** The message kind of a voter's signature (libs/identity `signingBytes`). */
export const VOTE_SIGNING_KIND = 'vote';

export type VoteBody = {
  readonly pool: string;
  /** The id of the proposal voted on (`proposalId`). */
  readonly proposal: string;
  readonly support: boolean;
  /** `elaborationHash(text)` of the voter's explanation. */
  readonly elaborationHash: string;
  /** The voter's DID. */
  readonly voter: string;
  /** Milliseconds since the epoch. */
  readonly at: number;
};

export type SignedVote = {
  readonly body: VoteBody;
  readonly signature: Uint8Array;
};

export const voteBodySchema = z.strictObject({
  pool: poolName,
  proposal: cidText,
  support: z.boolean(),
  elaborationHash: z
    .string()
    .regex(/^[0-9a-f]{64}$/, 'expected a sha-256 as 64 lowercase hex digits'),
  voter: did,
  at: wholeNumber,
}) satisfies z.ZodType<VoteBody>;

export const signedVoteSchema = z.strictObject({
  body: voteBodySchema,
  signature,
}) satisfies z.ZodType<SignedVote>;

const utf8 = new TextEncoder();

/** The sha-256 of the UTF-8 of `text`, as 64 lowercase hex digits (what `sha256sum` prints). */
export function elaborationHash(text: string): string {
  return bytesToHex(sha256(utf8.encode(text)));
}

/** The vote `body`, signed by its voter; throws `governance/wrong-signer` for another key. */
export function signVote(key: KeyPair, body: VoteBody): SignedVote {
  const b = checkShape(voteBodySchema, body, 'vote body');
  if (key.did !== b.voter)
    throw new DiagonError(
      'governance/wrong-signer',
      `the vote names ${b.voter} as its voter, but the key is ${key.did}`,
      { voter: b.voter, key: key.did },
    );
  return { body: b, signature: key.signValue(VOTE_SIGNING_KIND, b.pool, b, { impl: 'node' }) };
}

/**
 * Checks a signed vote: its shape (`governance/malformed`) and its voter's signature
 * (`governance/bad-signature`, naming the voter).
 */
export function verifyVote(v: SignedVote): void {
  const c = voteSignature(v);
  if (!verify(c.signature, c.message, c.publicKey, { impl: 'node' })) throw c.error;
}

/** The voter's signature over a vote, to be checked (see `verifyVote`). */
export function voteSignature(v: SignedVote): SignatureCheck {
  const { body, signature } = checkShape(signedVoteSchema, v, 'vote');
  return {
    signature,
    message: signingBytes(VOTE_SIGNING_KIND, body.pool, body),
    publicKey: parseDid(body.voter),
    error: badVoteSignature(body),
  };
}

function badVoteSignature(body: VoteBody): DiagonError {
  return new DiagonError(
    'governance/bad-signature',
    `the vote of ${body.voter} on ${body.proposal} does not carry its signature`,
    { proposal: body.proposal, signer: body.voter, role: 'voter' },
  );
}

/**
 * A vote whose body arrives as its canonical bytes (as the consensus service stores and
 * relays votes): the same checks as `verifyVote`, but the signature is checked over the
 * bytes received, which the strict decoder guarantees are the body's canonical encoding,
 * so nothing is encoded again. Returns the vote.
 */
export function verifyEncodedVote(bodyBytes: Uint8Array, sig: Uint8Array): SignedVote {
  let decoded: unknown;
  try {
    decoded = decodeCanonical(bodyBytes);
  } catch (e) {
    throw new DiagonError('governance/malformed', `not a vote body: ${(e as Error).message}`);
  }
  // The common case checked by hand (this is the per-vote hot path); anything unusual gets
  // the schema's full, field-by-field error.
  const { body, signature: s } = isPlainVote(decoded, sig)
    ? { body: decoded, signature: sig }
    : checkShape(signedVoteSchema, { body: decoded, signature: sig }, 'vote');
  const message = prefixedBytes(VOTE_SIGNING_KIND, body.pool, bodyBytes);
  if (!verify(s, message, parseDid(body.voter), { impl: 'node' })) throw badVoteSignature(body);
  return { body, signature: s };
}

const VOTE_KEYS = ['at', 'elaborationHash', 'pool', 'proposal', 'support', 'voter'];
const HEX64 = /^[0-9a-f]{64}$/;

/** What `signedVoteSchema` accepts, checked without zod. */
function isPlainVote(b: unknown, sig: Uint8Array): b is VoteBody {
  if (b === null || typeof b !== 'object' || Array.isArray(b)) return false;
  const o = b as Record<string, unknown>;
  const keys = Object.keys(o).sort();
  return (
    keys.length === VOTE_KEYS.length &&
    keys.every((k, i) => k === VOTE_KEYS[i]) &&
    sig.length === SIGNATURE_BYTES &&
    typeof o.pool === 'string' &&
    isPoolName(o.pool) &&
    typeof o.proposal === 'string' &&
    isCanonicalCid(o.proposal) &&
    typeof o.support === 'boolean' &&
    typeof o.elaborationHash === 'string' &&
    HEX64.test(o.elaborationHash) &&
    typeof o.voter === 'string' &&
    isRememberedDid(o.voter) &&
    Number.isSafeInteger(o.at) &&
    (o.at as number) >= 0
  );
}
