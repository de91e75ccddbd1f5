/**
 * The shapes of the auth edge's HTTP API (services/auth, `/v1/openapi.json`), shared by the
 * server and `DiagonHttp` so the two cannot drift apart. Bytes travel as base64url without
 * padding; times as ISO 8601 text, except the signed `createdAt`/`at` (ms since the epoch).
 */
import type { ProposalBody, ProposalKind, VoteBody } from '../governance/index.js';
import type { CanonicalValue } from '../identity/index.js';
import type { ProposalStatus } from '../storage/index.js';

export type { ProposalStatus };

/** The message kind of a pool-creation signature (libs/identity `signingBytes`, pool = the new pool). */
export const POOL_CREATE_SIGNING_KIND = 'pool-create';

export type MemberRole = 'member' | 'observer';

/** The governance policy a new pool starts with; what is left out takes the defaults (2/3, proposer votes). */
export interface PoolPolicyInput {
  threshold?: { num: number; den: number };
  proposerVotes?: boolean;
  ttlMs?: number;
}

/** What the creator of a pool signs (kind `pool-create`, pool = `pool`). */
export interface PoolCreateBody {
  pool: string;
  members: { did: string; role: MemberRole }[];
  policy?: PoolPolicyInput;
  /** ms since the epoch; the edge refuses one far from its clock. */
  createdAt: number;
}

/**
 * The value signed for a pool creation: `body` without absent optional fields, since the
 * canonical encoding has no "undefined".
 */
export function poolCreateValue(body: PoolCreateBody): CanonicalValue {
  const policy = body.policy && definedOnly({ ...body.policy });
  return definedOnly({
    pool: body.pool,
    members: body.members.map((m) => ({ did: m.did, role: m.role })),
    policy: policy && Object.keys(policy).length > 0 ? policy : undefined,
    createdAt: body.createdAt,
  }) as unknown as CanonicalValue;
}

function definedOnly<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}

export interface PoolCreated {
  pool: string;
  members: { did: string; role: MemberRole }[];
  createdAt: string;
}

/** A pool the session's DID belongs to. */
export interface PoolSummary {
  pool: string;
  basisT: number;
  /** How many members (voting or observing) the pool has. */
  members: number;
  /** The caller's role in it. */
  role: MemberRole;
}

export interface PoolInfo {
  pool: string;
  createdAt: string;
  basisT: number;
  /** Hex sha-256 of the last tx-log entry, null before the first commit. */
  headHash: string | null;
  indexT: number;
  members: { did: string; role: MemberRole }[];
  policy: Record<string, unknown>;
}

export const PROPOSAL_STATUSES: readonly ProposalStatus[] = [
  'open',
  'approved',
  'committed',
  'failed',
  'rejected',
  'expired',
];

export interface ProposalSummary {
  id: string;
  kind: ProposalKind;
  proposer: string;
  status: ProposalStatus;
  yes: number;
  no: number;
  voters: string[];
  openedAt: string;
  expiresAt: string;
  /** The commit (`t`, `hash`, …) or the failure (`code`, `message`) once decided. */
  outcome: Record<string, unknown> | null;
}

export interface ProposalDetail extends ProposalSummary {
  /** The t it committed at (kinds that go through the transactor), else null. */
  t: number | null;
  /** Why it failed (`outcome.message`), else null. */
  error: string | null;
  txData: string;
  basisT: number;
  /** ms since the epoch, as signed. */
  createdAt: number;
  votes: { voter: string; support: boolean; elaboration: string; castAt: string }[];
}

export interface ProposeReply {
  id: string;
  status: ProposalStatus;
  voters: string[];
  expiresAt: string;
}

export interface VoteReply {
  id: string;
  status: ProposalStatus;
  yes: number;
  no: number;
}

/** A body to sign, for clients without a CBOR encoder: `toSign` is the exact bytes. */
export interface Prepared<B> {
  body: B;
  toSign: string;
}
export type PreparedProposal = Prepared<ProposalBody> & { id: string };
export type PreparedVote = Prepared<VoteBody>;

export interface LogEntryJson {
  t: number;
  tx: number;
  instant: string;
  hash: string;
  proposal: string;
}

export interface TrustScore {
  did: string;
  trust: number;
}

/** An error answer (RFC 9457 problem details). */
export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: string;
}

export const PROBLEM_TYPE_BASE = 'https://diagon.dev/problems/';

/** One Server-Sent Event of `/watch`: `tx` (data: the committed event) or `proposal`. */
export interface WatchEvent {
  event: string;
  data: unknown;
  id?: string;
}
