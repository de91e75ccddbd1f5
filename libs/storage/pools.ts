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

export interface WatchPoolsOptions {
  /** Re-reads the table this often too (a notification sent while disconnected is lost). */
  everyMs?: number;
  /** A failure of `onPool` or of reading the table (the watch goes on). */
  onError?: (e: unknown) => void;
}

/**
 * Calls `onPool` once for every pool of this schema: now, as soon as one is created (the
 * `diagon_pools` notification migration 6 sends), and on a slow re-read. Calls are one at a
 * time, in order; a pool whose call failed is tried again on the next re-read. Resolves
 * once every existing pool has been handed over; the function it returns stops the watch.
 */
export async function watchPools(
  sql: Sql,
  onPool: (pool: string) => Promise<void> | void,
  opts: WatchPoolsOptions = {},
): Promise<() => Promise<void>> {
  const [row] = await sql<{ schema: string }[]>`select current_schema() as schema`;
  const schema = row!.schema;
  const seen = new Set<string>();
  let stopped = false;
  let chain = Promise.resolve();
  const hand = (pools: string[]) => {
    chain = chain.then(async () => {
      for (const pool of pools) {
        if (stopped || seen.has(pool)) continue;
        seen.add(pool);
        try {
          await onPool(pool);
        } catch (e) {
          seen.delete(pool);
          opts.onError?.(e);
        }
      }
    });
    return chain;
  };
  const reread = () =>
    listPools(sql).then(
      (rows) => hand(rows.map((r) => r.pool)),
      (e: unknown) => opts.onError?.(e),
    );
  const listening = await sql.listen(
    'diagon_pools',
    (payload) => {
      const n = JSON.parse(payload) as { schema?: string; pool?: string };
      if (n.schema === schema && typeof n.pool === 'string') void hand([n.pool]);
    },
    // After a reconnect: what was created meanwhile.
    () => void reread(),
  );
  await reread();
  const timer = setInterval(() => void reread(), opts.everyMs ?? 30_000);
  timer.unref();
  return async () => {
    stopped = true;
    clearInterval(timer);
    await listening.unlisten().catch(() => {});
    await chain;
  };
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
