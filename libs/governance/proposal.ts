/**
 * A proposal: a member asks the pool to commit `txData` (EDN), as seen at basis t `basisT`.
 * The proposer signs the canonical bytes of the body (message kind `proposal`, so the
 * signature is worthless as anything else or in another pool), and the proposal's id is the
 * content id of the same canonical bytes: votes name the proposal by it.
 */
import { z } from 'zod';
import { DiagonError } from '../db/errors.js';
import {
  DAG_CBOR_CODEC,
  encodeCanonical,
  type KeyPair,
  parseDid,
  prefixedBytes,
  rawContentId,
  verify,
} from '../identity/index.js';
import { checkShape, cidText, did, poolName, signature, wholeNumber } from './shapes.js';
import type { SignatureCheck } from './signature-check.js';

/** What a proposal may change: facts, governance itself, history (prune), the members. */
export const PROPOSAL_KINDS = ['knowledge', 'proposal', 'prune', 'membership'] as const;
export type ProposalKind = (typeof PROPOSAL_KINDS)[number];

/** The message kind of a proposer's signature (libs/identity `signingBytes`). */
export const PROPOSAL_SIGNING_KIND = 'proposal';

export type ProposalBody = {
  readonly pool: string;
  readonly kind: ProposalKind;
  /** EDN tx-data, as the transactor will transact it. */
  readonly txData: string;
  /** The basis t the proposer saw. */
  readonly basisT: number;
  /** The proposer's DID. */
  readonly proposer: string;
  /** Milliseconds since the epoch. */
  readonly createdAt: number;
};

export type SignedProposal = {
  readonly body: ProposalBody;
  /** `proposalId(body)`. */
  readonly id: string;
  readonly signature: Uint8Array;
};

export const proposalBodySchema = z.strictObject({
  pool: poolName,
  kind: z.enum(PROPOSAL_KINDS),
  txData: z.string(),
  basisT: wholeNumber,
  proposer: did,
  createdAt: wholeNumber,
}) satisfies z.ZodType<ProposalBody>;

export const signedProposalSchema = z.strictObject({
  body: proposalBodySchema,
  id: cidText,
  signature,
}) satisfies z.ZodType<SignedProposal>;

/** Canonical bytes of checked bodies: the id and the signature check both hash them. */
const bodyBytes = new WeakMap<ProposalBody, Uint8Array>();

/** The canonical bytes of a body that passed `proposalBodySchema`. */
export function proposalBodyBytes(body: ProposalBody): Uint8Array {
  let bytes = bodyBytes.get(body);
  if (bytes === undefined) {
    bytes = encodeCanonical(body);
    bodyBytes.set(body, bytes);
  }
  return bytes;
}

/** The id of a proposal: the CID (v1, dag-cbor, sha2-256) of its body's canonical bytes. */
export function proposalId(body: ProposalBody): string {
  const b = checkShape(proposalBodySchema, body, 'proposal body');
  return rawContentId(proposalBodyBytes(b), DAG_CBOR_CODEC).toString();
}

/** `body` signed by its proposer; throws `governance/wrong-signer` for another key. */
export function signProposal(key: KeyPair, body: ProposalBody): SignedProposal {
  const b = checkShape(proposalBodySchema, body, 'proposal body');
  if (key.did !== b.proposer)
    throw new DiagonError(
      'governance/wrong-signer',
      `the proposal names ${b.proposer} as its proposer, but the key is ${key.did}`,
      { proposer: b.proposer, key: key.did },
    );
  return {
    body: b,
    id: proposalId(b),
    signature: key.signValue(PROPOSAL_SIGNING_KIND, b.pool, b, { impl: 'node' }),
  };
}

/**
 * Checks a signed proposal: its shape (`governance/malformed`), that its id is its body's
 * (`governance/malformed`), and its proposer's signature (`governance/bad-signature`).
 */
export function verifyProposal(sp: SignedProposal): void {
  const c = proposalSignature(sp);
  if (!verify(c.signature, c.message, c.publicKey, { impl: 'node' })) throw c.error;
}

/**
 * The proposer's signature over a proposal, to be checked (see `verifyProposal`); throws
 * `governance/malformed` for a bad shape or an id that is not its body's.
 */
export function proposalSignature(sp: SignedProposal): SignatureCheck {
  const { body, id, signature } = checkShape(signedProposalSchema, sp, 'proposal');
  const expected = proposalId(body);
  if (id !== expected)
    throw new DiagonError(
      'governance/malformed',
      `the proposal's id ${id} is not the content id of its body (${expected})`,
      { id, expected },
    );
  return {
    signature,
    message: prefixedBytes(PROPOSAL_SIGNING_KIND, body.pool, proposalBodyBytes(body)),
    publicKey: parseDid(body.proposer),
    error: new DiagonError(
      'governance/bad-signature',
      `the signature of proposal ${id} is not its proposer's (${body.proposer})`,
      { proposal: id, signer: body.proposer, role: 'proposer' },
    ),
  };
}
