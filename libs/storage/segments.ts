/**
 * Content-addressed segments (hash → immutable bytes) and the history of each pool's index
 * roots. A segment is written once and never changed; the pool's current root advances
 * only by a conditional put on the root's t, so two mergers cannot both advance it.
 */
import { DiagonError } from '../db/errors.js';
import type { Sql, TxSql } from './connection.js';

const BATCH = 500;

/** Stores segments not stored yet (others are left as they are: same hash, same bytes). */
export async function putSegments(
  sql: Sql | TxSql,
  segments: Map<string, Uint8Array>,
): Promise<void> {
  const entries = [...segments];
  for (let i = 0; i < entries.length; i += BATCH) {
    const part = entries.slice(i, i + BATCH);
    const rows = part.map(([hash, bytes]) => ({ hash, bytes: Buffer.from(bytes) }));
    await sql`insert into segments ${sql(rows, 'hash', 'bytes')} on conflict (hash) do nothing`;
  }
}

/** The segments among `hashes` that exist (missing ones are absent from the map). */
export async function getSegments(
  sql: Sql | TxSql,
  hashes: readonly string[],
): Promise<Map<string, Uint8Array>> {
  const out = new Map<string, Uint8Array>();
  for (let i = 0; i < hashes.length; i += BATCH * 4) {
    const part = hashes.slice(i, i + BATCH * 4);
    const rows = await sql<{ hash: string; bytes: Uint8Array }[]>`
      select hash, bytes from segments where hash = any(${part as string[]}::text[])`;
    for (const r of rows) out.set(r.hash, new Uint8Array(r.bytes));
  }
  return out;
}

export async function countSegments(sql: Sql | TxSql): Promise<number> {
  const [r] = await sql<{ n: number }[]>`select count(*)::bigint as n from segments`;
  return r?.n ?? 0;
}

/** Every stored segment hash (for garbage collection), oldest first. */
export async function listSegmentHashes(sql: Sql | TxSql, olderThan?: Date): Promise<string[]> {
  const rows =
    olderThan === undefined
      ? await sql<{ hash: string }[]>`select hash from segments order by created_at`
      : await sql<{ hash: string }[]>`
          select hash from segments where created_at < ${olderThan} order by created_at`;
  return rows.map((r) => r.hash);
}

export async function deleteSegments(sql: Sql | TxSql, hashes: readonly string[]): Promise<number> {
  let n = 0;
  for (let i = 0; i < hashes.length; i += BATCH * 4) {
    const part = hashes.slice(i, i + BATCH * 4);
    const rows =
      await sql`delete from segments where hash = any(${part as string[]}::text[]) returning 1`;
    n += rows.length;
  }
  return n;
}

export interface IndexRoot {
  pool: string;
  t: number;
  rootHash: string;
  root: Uint8Array;
  createdAt: Date;
}

/**
 * Records `root` as the pool's index root at `t`, if the pool's current index root is still
 * at `expectedT`; throws `storage/root-moved` otherwise.
 */
export async function advanceIndexRoot(
  sql: Sql,
  pool: string,
  expectedT: number,
  root: { t: number; rootHash: string; root: Uint8Array },
): Promise<void> {
  await sql.begin(async (tx) => {
    const moved = await tx`
      update pools set index_t = ${root.t}, index_root = ${root.rootHash}
      where pool = ${pool} and index_t = ${expectedT}
      returning pool`;
    if (moved.length === 0)
      throw new DiagonError(
        'storage/root-moved',
        `the index root of ${pool} is no longer at t ${expectedT}: another indexer merged first`,
        { pool, expectedT },
      );
    await tx`
      insert into index_roots (pool, t, root_hash, root)
      values (${pool}, ${root.t}, ${root.rootHash}, ${Buffer.from(root.root)})
      on conflict (pool, t) do update set root_hash = excluded.root_hash, root = excluded.root`;
  });
}

interface RootRow {
  pool: string;
  t: number;
  root_hash: string;
  root: Uint8Array;
  created_at: Date;
}

const toRoot = (r: RootRow): IndexRoot => ({
  pool: r.pool,
  t: r.t,
  rootHash: r.root_hash,
  root: new Uint8Array(r.root),
  createdAt: r.created_at,
});

/** The pool's index roots, newest first. */
export async function listIndexRoots(sql: Sql | TxSql, pool?: string): Promise<IndexRoot[]> {
  const rows =
    pool === undefined
      ? await sql<RootRow[]>`select * from index_roots order by pool, t desc`
      : await sql<RootRow[]>`select * from index_roots where pool = ${pool} order by t desc`;
  return rows.map(toRoot);
}

/** The index root at the pool's current index t, if it has one. */
export async function currentIndexRoot(
  sql: Sql | TxSql,
  pool: string,
): Promise<IndexRoot | undefined> {
  const [r] = await sql<RootRow[]>`
    select r.* from index_roots r join pools p on p.pool = r.pool and p.index_t = r.t
    where r.pool = ${pool}`;
  return r && toRoot(r);
}

/** Forgets roots of `pool` other than the `keep` newest ones; returns how many. */
export async function pruneIndexRoots(
  sql: Sql | TxSql,
  pool: string,
  keep: number,
): Promise<number> {
  const rows = await sql`
    delete from index_roots where pool = ${pool} and t not in (
      select t from index_roots where pool = ${pool} order by t desc limit ${keep})
    returning 1`;
  return rows.length;
}
