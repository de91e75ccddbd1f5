/**
 * The commit certificate: a signed proposal, the voter set frozen when it opened, and the
 * signed votes that carried it. `verifyCertificate` is the commit rule the transactor
 * applies before it writes anything; it needs nothing but the certificate, the pool's
 * policy and (see `VerifyOptions.members`) the pool's members.
 *
 * Encoding: canonical CBOR (libs/identity) of
 *
 *     { format: "diagon/v1/certificate",
 *       proposal: { body, signature }, voters: [{ did }], votes: [{ body, signature }] }
 *
 * with voters sorted by DID and votes by voter. CBOR because it carries the signatures as
 * bytes and has one encoding per value, so a certificate has exactly one byte string and
 * its hash (in the log's hash chain, in `certificateId`) is stable. The pool and the
 * proposal id are not encoded: both follow from the signed proposal body, and a copy could
 * only disagree with it.
 */
import { z } from 'zod';
import { DiagonError, isDiagonError } from '../db/errors.js';
import {
  type CanonicalValue,
  contentId,
  decodeCanonical,
  encodeCanonical,
  verify,
} from '../identity/index.js';
import { type Policy, parsePolicy, quorumReached, yesNeeded } from './policy.js';
import {
  proposalBodySchema,
  proposalId,
  proposalSignature,
  type SignedProposal,
  signedProposalSchema,
} from './proposal.js';
import { checkShape, did, markChecked, poolName, signature } from './shapes.js';
import type { SignatureCheck } from './signature-check.js';
import { type SignedVote, signedVoteSchema, voteSignature } from './vote.js';

/** The format tag of an encoded certificate. */
export const CERTIFICATE_FORMAT = 'diagon/v1/certificate';

export type Voter = { readonly did: string };

export type CommitCertificate = {
  /** The pool, as the proposal body names it. */
  readonly pool: string;
  readonly proposal: SignedProposal;
  /** The voter set frozen when the proposal opened: unique DIDs. */
  readonly voters: readonly Voter[];
  /** At most one per voter, in any order. */
  readonly votes: readonly SignedVote[];
};

export interface VerifyOptions {
  /** The pool the verifier writes; another pool's certificate is `governance/wrong-pool`. */
  pool?: string;
  /**
   * The pool's voting members as the verifier knows them. Pass them: the voter set is not
   * signed by anyone, so without this check a certificate whose voter set was cut down to
   * the yes voters passes. With it, the voters must be exactly these members (less the
   * proposer when self-votes are refused).
   */
  members?: Iterable<string>;
}

export type Verified = {
  readonly ok: true;
  readonly proposal: string;
  readonly yes: number;
  readonly no: number;
  readonly voters: number;
};

const voterSchema = z.strictObject({ did });

const certificateSchema = z.strictObject({
  pool: poolName,
  proposal: signedProposalSchema,
  voters: z.array(voterSchema),
  votes: z.array(signedVoteSchema),
}) satisfies z.ZodType<CommitCertificate>;

const encodedSchema = z.strictObject({
  format: z.literal(CERTIFICATE_FORMAT),
  proposal: z.strictObject({ body: proposalBodySchema, signature }),
  voters: z.array(voterSchema),
  votes: z.array(signedVoteSchema),
});

const byString = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

/** A certificate of `proposal` with its voters and votes in canonical order. */
export function makeCertificate(
  proposal: SignedProposal,
  voters: Iterable<string>,
  votes: Iterable<SignedVote>,
): CommitCertificate {
  return {
    pool: proposal.body.pool,
    proposal,
    voters: [...voters].sort(byString).map((d) => ({ did: d })),
    votes: [...votes].sort(
      (a, b) =>
        byString(a.body.voter, b.body.voter) || byString(hex(a.signature), hex(b.signature)),
    ),
  };
}

function encodedValue(cert: CommitCertificate): CanonicalValue {
  const c = checkShape(certificateSchema, cert, 'certificate');
  const sorted = makeCertificate(
    c.proposal,
    c.voters.map((v) => v.did),
    c.votes,
  );
  return {
    format: CERTIFICATE_FORMAT,
    proposal: { body: c.proposal.body, signature: c.proposal.signature },
    voters: sorted.voters,
    votes: sorted.votes,
  };
}

/** The canonical bytes of a certificate (throws `governance/malformed` for a bad shape). */
export function encodeCertificate(cert: CommitCertificate): Uint8Array {
  return encodeCanonical(encodedValue(cert));
}

/** The CID string of the certificate's canonical bytes (the order of votes is no part of it). */
export function certificateId(cert: CommitCertificate): string {
  return contentId(encodedValue(cert)).toString();
}

const malformed = (message: string, data: Record<string, unknown> = {}) =>
  new DiagonError('governance/malformed', message, data);

/**
 * The certificate that `bytes` encode. Only checks the form, not the signatures (that is
 * `verifyCertificate`). Accepts only the bytes `encodeCertificate` produces, and throws
 * `governance/malformed`, never another error, for anything else.
 */
export function decodeCertificate(bytes: Uint8Array): CommitCertificate {
  if (!(bytes instanceof Uint8Array)) throw malformed('a certificate is bytes (a Uint8Array)');
  try {
    const e = checkShape(encodedSchema, decodeCanonical(bytes), 'certificate');
    // The decoder accepts canonical bytes only, so these bytes are the encoding of `e`;
    // what encodeCertificate adds is the order of voters and votes.
    if (!inCanonicalOrder(e.voters, e.votes))
      throw malformed(
        'the certificate is not in canonical order: sort voters by DID, votes by voter',
      );
    const body = markChecked(proposalBodySchema, e.proposal.body);
    const proposal = markChecked(signedProposalSchema, {
      body,
      id: proposalId(body),
      signature: e.proposal.signature,
    });
    for (const v of e.votes) markChecked(signedVoteSchema, v);
    const cert = markChecked(certificateSchema, {
      pool: body.pool,
      proposal,
      voters: e.voters,
      votes: e.votes,
    });
    return cert;
  } catch (e) {
    if (isDiagonError(e, 'governance/malformed')) throw e;
    throw malformed(`not a certificate: ${(e as Error).message}`, {
      cause: isDiagonError(e) ? e.code : String(e),
    });
  }
}

function inCanonicalOrder(voters: readonly Voter[], votes: readonly SignedVote[]): boolean {
  for (let i = 1; i < voters.length; i++)
    if (byString(voters[i - 1]!.did, voters[i]!.did) > 0) return false;
  for (let i = 1; i < votes.length; i++) {
    const a = votes[i - 1]!;
    const b = votes[i]!;
    const order = byString(a.body.voter, b.body.voter) || Buffer.compare(a.signature, b.signature);
    if (order > 0) return false;
  }
  return true;
}

/** Checks signatures: all at once (a worker pool) or one by one. Results in order. */
export type SignatureVerifier = (checks: readonly SignatureCheck[]) => Promise<boolean[]>;

/**
 * Verifies `cert` under `policy`: the proposal and every vote are signed by whom they name
 * (libs/identity, strict ed25519), every vote is by a voter, for this proposal and pool,
 * one per voter, and yes votes reach quorum. With `policy.proposerVotes` the proposer's
 * signature is their yes (an explicit yes from them does not count twice; an explicit no
 * contradicts it). Returns the counts, or throws a `DiagonError`: `governance/malformed`,
 * `bad-policy`, `bad-signature`, `wrong-pool`, `wrong-proposal`, `not-a-voter`,
 * `duplicate-vote`, `self-vote`, `not-a-member`, `missing-voter` or `no-quorum`. Every
 * other rule is checked before any signature (they cost nothing; signatures do).
 */
export function verifyCertificate(
  cert: CommitCertificate,
  policy: Policy,
  opts: VerifyOptions = {},
): Verified {
  const { verified, signatures } = checkCertificate(cert, policy, opts);
  for (const c of signatures)
    if (!verify(c.signature, c.message, c.publicKey, { impl: 'node' })) throw c.error;
  return verified;
}

/** `verifyCertificate` with the signatures checked by `verifier` (e.g. on worker threads). */
export async function verifyCertificateWith(
  verifier: SignatureVerifier,
  cert: CommitCertificate,
  policy: Policy,
  opts: VerifyOptions = {},
): Promise<Verified> {
  const { verified, signatures } = checkCertificate(cert, policy, opts);
  const ok = await verifier(signatures);
  const failed = ok.indexOf(false);
  if (failed >= 0) throw signatures[failed]!.error;
  return verified;
}

/** Every rule of `verifyCertificate` but the signatures, which it lists. */
export function checkCertificate(
  cert: CommitCertificate,
  policy: Policy,
  opts: VerifyOptions = {},
): { verified: Verified; signatures: SignatureCheck[] } {
  const c = checkShape(certificateSchema, cert, 'certificate');
  const { threshold, proposerVotes } = parsePolicy(policy);
  const signatures = [proposalSignature(c.proposal)];
  const { id, body } = c.proposal;
  const { proposer } = body;
  if (c.pool !== body.pool)
    throw wrongPool(`the certificate says pool ${c.pool}`, body.pool, c.pool);
  if (opts.pool !== undefined && opts.pool !== c.pool)
    throw wrongPool(`this is pool ${opts.pool}`, c.pool, opts.pool);

  const voters = new Set<string>();
  for (const v of c.voters) {
    if (voters.has(v.did)) throw malformed(`${v.did} is twice in the voter set`, { voter: v.did });
    voters.add(v.did);
  }
  if (proposerVotes && !voters.has(proposer))
    throw new DiagonError(
      'governance/not-a-voter',
      `the proposer ${proposer} is not a voter, but the policy counts the proposal as their yes vote`,
      { voter: proposer, proposal: id },
    );
  if (!proposerVotes && voters.has(proposer))
    throw new DiagonError(
      'governance/self-vote',
      `the proposer ${proposer} is in the voter set, but the policy refuses self-votes: freeze the voters without the proposer`,
      { voter: proposer, proposal: id },
    );
  if (opts.members !== undefined)
    checkElectorate(voters, new Set(opts.members), proposer, proposerVotes);

  const yes = new Set<string>(proposerVotes ? [proposer] : []);
  const no = new Set<string>();
  const seen = new Set<string>();
  for (const v of c.votes) {
    const { voter } = v.body;
    if (v.body.pool !== c.pool)
      throw wrongPool(`the vote of ${voter} is for pool ${v.body.pool}`, c.pool, v.body.pool);
    if (v.body.proposal !== id)
      throw new DiagonError(
        'governance/wrong-proposal',
        `the vote of ${voter} is for proposal ${v.body.proposal}, not ${id}`,
        { voter, proposal: id, votedOn: v.body.proposal },
      );
    if (voter === proposer && !proposerVotes)
      throw new DiagonError(
        'governance/self-vote',
        `the proposer ${voter} voted on their own proposal, and the policy refuses self-votes`,
        { voter, proposal: id },
      );
    if (!voters.has(voter))
      throw new DiagonError(
        'governance/not-a-voter',
        `${voter} voted but is not in the voter set`,
        {
          voter,
          proposal: id,
        },
      );
    if (seen.has(voter))
      throw new DiagonError('governance/duplicate-vote', `${voter} voted more than once`, {
        voter,
        proposal: id,
      });
    seen.add(voter);
    signatures.push(voteSignature(v));
    if (voter === proposer && !v.body.support)
      throw new DiagonError(
        'governance/duplicate-vote',
        `the proposer ${voter} voted no, but their proposal already counts as their yes vote`,
        { voter, proposal: id },
      );
    (v.body.support ? yes : no).add(voter);
  }

  if (!quorumReached(yes.size, voters.size, threshold)) {
    const needed = yesNeeded(voters.size, threshold);
    throw new DiagonError(
      'governance/no-quorum',
      `${yes.size} of ${voters.size} voters said yes (${no.size} no): quorum needs more than ${threshold.num}/${threshold.den}, ${needed} or more`,
      { proposal: id, yes: yes.size, no: no.size, voters: voters.size, needed, threshold },
    );
  }
  return {
    verified: { ok: true, proposal: id, yes: yes.size, no: no.size, voters: voters.size },
    signatures,
  };
}

function wrongPool(why: string, proposalPool: string, other: string): DiagonError {
  return new DiagonError(
    'governance/wrong-pool',
    `${why}, but the proposal is for pool ${proposalPool}`,
    { pool: proposalPool, other },
  );
}

/** The voters must be exactly the members (less the proposer when self-votes are refused). */
function checkElectorate(
  voters: ReadonlySet<string>,
  members: ReadonlySet<string>,
  proposer: string,
  proposerVotes: boolean,
): void {
  if (!members.has(proposer))
    throw new DiagonError('governance/not-a-member', `the proposer ${proposer} is not a member`, {
      member: proposer,
    });
  const strangers = [...voters].filter((d) => !members.has(d));
  if (strangers.length > 0)
    throw new DiagonError(
      'governance/not-a-member',
      `voter ${strangers[0]} is not a member of the pool`,
      { member: strangers[0], strangers },
    );
  const missing = [...members].filter((d) => !voters.has(d) && (proposerVotes || d !== proposer));
  if (missing.length > 0)
    throw new DiagonError(
      'governance/missing-voter',
      `member ${missing[0]} is not in the voter set: the members changed since the proposal opened, or the set was cut down; open the proposal again`,
      { member: missing[0], missing },
    );
}
