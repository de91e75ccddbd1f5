/** The `pools` table: one row per pool, holding its governance policy. */
import { DiagonError } from '../db/errors.js';
import type { Sql, TxSql } from './connection.js';

export const POOL_NAME = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

export interface PoolRecord {
  pool: string;
  createdAt: Date;
  policy: Record<string, unknown>;
}

/** Throws a clear error unless `pool` is a valid pool name (a DNS label, as in Kubernetes). */
export function checkPoolName(pool: string): void {
  if (!POOL_NAME.test(pool)) {
    throw new DiagonError(
      'storage/bad-pool-name',
      `Pool name ${JSON.stringify(pool)} is not valid: use 1-63 lower-case letters, digits and '-', starting and ending with a letter or digit.`,
      { pool },
    );
  }
}

/** Creates the pool, or updates its policy when it exists. */
export async function upsertPool(
  sql: Sql | TxSql,
  pool: string,
  policy: Record<string, unknown> = {},
): Promise<PoolRecord> {
  checkPoolName(pool);
  const [row] = await sql<PoolRow[]>`
    insert into pools (pool, policy) values (${pool}, ${sql.json(policy as never)})
    on conflict (pool) do update set policy = excluded.policy
    returning pool, created_at, policy`;
  return toRecord(row as PoolRow);
}

export async function getPool(sql: Sql | TxSql, pool: string): Promise<PoolRecord | undefined> {
  const [row] = await sql<
    PoolRow[]
  >`select pool, created_at, policy from pools where pool = ${pool}`;
  return row && toRecord(row);
}

/** The pool and its members (DID and role) in one round trip; undefined without the pool. */
export async function getPoolWithMembers(
  sql: Sql | TxSql,
  pool: string,
): Promise<{ pool: PoolRecord; members: { did: string; role: string }[] } | undefined> {
  const rows = await sql<(PoolRow & { did: string | null; role: string | null })[]>`
    select p.pool, p.created_at, p.policy, m.did, m.role
    from pools p left join members m on m.pool = p.pool
    where p.pool = ${pool} order by m.did`;
  if (rows.length === 0) return undefined;
  return {
    pool: toRecord(rows[0]!),
    members: rows.flatMap((r) =>
      r.did === null ? [] : [{ did: r.did, role: r.role ?? 'member' }],
    ),
  };
}

export async function listPools(sql: Sql | TxSql): Promise<PoolRecord[]> {
  const rows = await sql<PoolRow[]>`select pool, created_at, policy from pools order by pool`;
  return rows.map(toRecord);
}

/** Deletes the pool and everything that belongs to it; false when there was none. */
export async function deletePool(sql: Sql | TxSql, pool: string): Promise<boolean> {
  const rows = await sql`delete from pools where pool = ${pool} returning pool`;
  return rows.length > 0;
}

interface PoolRow {
  pool: string;
  created_at: Date;
  policy: Record<string, unknown>;
}

function toRecord(row: PoolRow): PoolRecord {
  return { pool: row.pool, createdAt: row.created_at, policy: row.policy };
}
