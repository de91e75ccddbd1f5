/**
 * diagon/governance — the commit rule: what makes a transaction certified. Pure functions.
 *
 * - Proposals (proposal.ts): `ProposalBody` {pool, kind, txData, basisT, proposer,
 *   createdAt}, `PROPOSAL_KINDS`, `proposalId(body)` (CID of the canonical bytes),
 *   `signProposal(key, body)` → `SignedProposal` {body, id, signature}, `verifyProposal`.
 * - Votes (vote.ts): `VoteBody` {pool, proposal, support, elaborationHash, voter, at},
 *   `elaborationHash(text)` (hex sha-256), `signVote(key, body)` → `SignedVote`, `verifyVote`.
 * - Policy (policy.ts): `Policy` {threshold: {num, den}, proposerVotes}, `DEFAULT_POLICY`
 *   (2/3, proposer's signature is a yes), `parsePolicy(json)`, and the integer quorum rule
 *   `quorumReached(yes, voters, t)` (yes × den > voters × num), `yesNeeded`,
 *   `quorumOutOfReach(no, voters, t)`.
 * - Certificates (certificate.ts): `CommitCertificate` {pool, proposal, voters, votes},
 *   `makeCertificate`, `verifyCertificate(cert, policy, {pool?, members?})`,
 *   `encodeCertificate`/`decodeCertificate` (canonical CBOR), `certificateId`.
 *
 * - Codecs (codec.ts): `encodeSignedProposal`/`decodeSignedProposal`,
 *   `encodeSignedVote`/`decodeSignedVote` (decoding verifies), and `electorate` (the voter
 *   set a proposal was frozen with, from the membership log).
 *
 * Signatures are strict ed25519 over domain-separated canonical CBOR (libs/identity), kinds
 * `proposal` and `vote`. Errors are `DiagonError`s with codes `governance/*`: `malformed`,
 * `bad-policy`, `bad-signature`, `wrong-signer`, `wrong-pool`, `wrong-proposal`,
 * `not-a-voter`, `duplicate-vote`, `self-vote`, `not-a-member`, `missing-voter`, `no-quorum`.
 */
export {
  CERTIFICATE_FORMAT,
  type CommitCertificate,
  certificateId,
  checkCertificate,
  decodeCertificate,
  encodeCertificate,
  makeCertificate,
  type SignatureVerifier,
  type Verified,
  type VerifyOptions,
  type Voter,
  verifyCertificate,
  verifyCertificateWith,
} from './certificate.js';
export {
  decodeSignedProposal,
  decodeSignedVote,
  electorate,
  encodeSignedProposal,
  encodeSignedVote,
  type MembershipChange,
} from './codec.js';
export {
  DEFAULT_POLICY,
  type Policy,
  parsePolicy,
  quorumOutOfReach,
  quorumReached,
  type Threshold,
  yesNeeded,
} from './policy.js';
export {
  PROPOSAL_KINDS,
  PROPOSAL_SIGNING_KIND,
  type ProposalBody,
  type ProposalKind,
  proposalId,
  type SignedProposal,
  signProposal,
  verifyProposal,
} from './proposal.js';
export type { SignatureCheck } from './signature-check.js';
export {
  elaborationHash,
  type SignedVote,
  signVote,
  VOTE_SIGNING_KIND,
  type VoteBody,
  verifyEncodedVote,
  verifyVote,
} from './vote.js';
