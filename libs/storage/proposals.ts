/**
 * Proposals, votes and trust (`proposals`, `votes`, `trust`, `membership_log`): the state of
 * the consensus service, kept here so its replicas are stateless. Deciding a proposal
 * locks its row, so two replicas counting votes on one proposal cannot both decide it.
 */
import { DiagonError } from '../db/errors.js';
import type { Sql, TxSql } from './connection.js';

export type ProposalStatus = 'open' | 'approved' | 'committed' | 'failed' | 'rejected' | 'expired';

export interface ProposalRecord {
  pool: string;
  id: string;
  kind: string;
  proposer: string;
  /** The encoded SignedProposal. */
  signed: Uint8Array;
  /** The voter set, frozen at opening. */
  voters: string[];
  policy: Record<string, unknown>;
  status: ProposalStatus;
  yes: number;
  no: number;
  openedAt: Date;
  expiresAt: Date;
  decidedAt: Date | null;
  outcome: Record<string, unknown> | null;
}

export interface VoteRecord {
  pool: string;
  proposal: string;
  voter: string;
  support: boolean;
  /** The encoded SignedVote. */
  signed: Uint8Array;
  elaboration: string;
  castAt: Date;
}

interface ProposalRow {
  pool: string;
  id: string;
  kind: string;
  proposer: string;
  signed: Uint8Array;
  voters: string[];
  policy: Record<string, unknown>;
  status: ProposalStatus;
  yes: number;
  no: number;
  opened_at: Date;
  expires_at: Date;
  decided_at: Date | null;
  outcome: Record<string, unknown> | null;
}

const toProposal = (r: ProposalRow): ProposalRecord => ({
  pool: r.pool,
  id: r.id,
  kind: r.kind,
  proposer: r.proposer,
  signed: new Uint8Array(r.signed),
  voters: r.voters,
  policy: r.policy,
  status: r.status,
  yes: r.yes,
  no: r.no,
  openedAt: r.opened_at,
  expiresAt: r.expires_at,
  decidedAt: r.decided_at,
  outcome: r.outcome,
});

interface VoteRow {
  pool: string;
  proposal: string;
  voter: string;
  support: boolean;
  signed: Uint8Array;
  elaboration: string;
  cast_at: Date;
}

const toVote = (r: VoteRow): VoteRecord => ({
  pool: r.pool,
  proposal: r.proposal,
  voter: r.voter,
  support: r.support,
  signed: new Uint8Array(r.signed),
  elaboration: r.elaboration,
  castAt: r.cast_at,
});

/** Opens a proposal; `consensus/duplicate-proposal` when one with this id exists. */
export async function insertProposal(
  sql: Sql | TxSql,
  p: Omit<ProposalRecord, 'status' | 'yes' | 'no' | 'openedAt' | 'decidedAt' | 'outcome'>,
): Promise<ProposalRecord> {
  try {
    const [row] = await sql<ProposalRow[]>`
      insert into proposals (pool, id, kind, proposer, signed, voters, policy, expires_at)
      values (${p.pool}, ${p.id}, ${p.kind}, ${p.proposer}, ${Buffer.from(p.signed)},
              ${p.voters}, ${sql.json(p.policy as never)}, ${p.expiresAt})
      returning *`;
    return toProposal(row!);
  } catch (e) {
    if ((e as { code?: string }).code === '23505')
      throw new DiagonError('consensus/duplicate-proposal', `proposal ${p.id} is open already`, {
        id: p.id,
      });
    throw e;
  }
}

export async function getProposal(
  sql: Sql | TxSql,
  pool: string,
  id: string,
  forUpdate = false,
): Promise<ProposalRecord | undefined> {
  const [row] = forUpdate
    ? await sql<
        ProposalRow[]
      >`select * from proposals where pool = ${pool} and id = ${id} for update`
    : await sql<ProposalRow[]>`select * from proposals where pool = ${pool} and id = ${id}`;
  return row && toProposal(row);
}

export async function listProposals(
  sql: Sql | TxSql,
  pool: string,
  status?: ProposalStatus,
): Promise<ProposalRecord[]> {
  const rows =
    status === undefined
      ? await sql<ProposalRow[]>`select * from proposals where pool = ${pool} order by opened_at`
      : await sql<ProposalRow[]>`
          select * from proposals where pool = ${pool} and status = ${status} order by opened_at`;
  return rows.map(toProposal);
}

/** Records a vote; `consensus/duplicate-vote` when the voter voted already (the first stands). */
export async function insertVote(
  sql: Sql | TxSql,
  v: Omit<VoteRecord, 'castAt'>,
): Promise<VoteRecord> {
  try {
    const [row] = await sql<VoteRow[]>`
      insert into votes (pool, proposal, voter, support, signed, elaboration)
      values (${v.pool}, ${v.proposal}, ${v.voter}, ${v.support}, ${Buffer.from(v.signed)}, ${v.elaboration})
      returning *`;
    return toVote(row!);
  } catch (e) {
    if ((e as { code?: string }).code === '23505')
      throw new DiagonError(
        'consensus/duplicate-vote',
        `${v.voter} has voted on ${v.proposal} already; the first vote stands`,
        { voter: v.voter, proposal: v.proposal },
      );
    throw e;
  }
}

export async function listVotes(
  sql: Sql | TxSql,
  pool: string,
  proposal: string,
): Promise<VoteRecord[]> {
  const rows = await sql<VoteRow[]>`
    select * from votes where pool = ${pool} and proposal = ${proposal} order by cast_at, voter`;
  return rows.map(toVote);
}

/** Sets a proposal's tallies, status and outcome (inside the caller's transaction). */
export async function updateProposal(
  sql: Sql | TxSql,
  pool: string,
  id: string,
  set: { status?: ProposalStatus; yes?: number; no?: number; outcome?: Record<string, unknown> },
): Promise<void> {
  const decided = set.status !== undefined && set.status !== 'open';
  await sql`
    update proposals set
      status = coalesce(${set.status ?? null}, status),
      yes = coalesce(${set.yes ?? null}, yes),
      no = coalesce(${set.no ?? null}, no),
      outcome = coalesce(${set.outcome === undefined ? null : sql.json(set.outcome as never)}, outcome),
      decided_at = case when ${decided} and decided_at is null then now() else decided_at end
    where pool = ${pool} and id = ${id}`;
}

/** Marks open proposals past their expiry expired, returning them. */
export async function expireProposals(
  sql: Sql | TxSql,
  now = new Date(),
): Promise<ProposalRecord[]> {
  const rows = await sql<ProposalRow[]>`
    update proposals set status = 'expired', decided_at = ${now}
    where status = 'open' and expires_at <= ${now}
    returning *`;
  return rows.map(toProposal);
}

export interface TrustRecord {
  did: string;
  score: number;
  updatedAt: Date;
}

export async function getTrust(sql: Sql | TxSql, pool: string): Promise<TrustRecord[]> {
  const rows = await sql<{ did: string; score: number; updated_at: Date }[]>`
    select did, score, updated_at from trust where pool = ${pool} order by did`;
  return rows.map((r) => ({ did: r.did, score: r.score, updatedAt: r.updated_at }));
}

export async function setTrust(sql: Sql | TxSql, pool: string, t: TrustRecord): Promise<void> {
  await sql`
    insert into trust (pool, did, score, updated_at) values (${pool}, ${t.did}, ${t.score}, ${t.updatedAt})
    on conflict (pool, did) do update set score = excluded.score, updated_at = excluded.updated_at`;
}

export async function logMembership(
  sql: Sql | TxSql,
  pool: string,
  did: string,
  change: 'added' | 'removed',
  role: string | null,
): Promise<void> {
  await sql`insert into membership_log (pool, did, change, role) values (${pool}, ${did}, ${change}, ${role})`;
}

export async function membershipHistory(
  sql: Sql | TxSql,
  pool: string,
): Promise<{ did: string; change: 'added' | 'removed'; role: string | null; at: Date }[]> {
  return sql<{ did: string; change: 'added' | 'removed'; role: string | null; at: Date }[]>`
    select did, change, role, at from membership_log where pool = ${pool} order by seq`;
}
