/**
 * The governance log of a pool in Postgres: leaves (`tlog_leaves`, appended under a
 * per-pool advisory lock inside the caller's transaction, so a decision and its leaf
 * commit together) and signed checkpoints (`tlog_checkpoints`). Proofs are computed from
 * the stored leaf hashes (O(n) per proof: fine for pools of governance decisions, not for
 * a log of millions of leaves — a subtree-hash table would be the next step).
 */

import type { CanonicalValue, KeyPair } from '../../libs/identity/index.js';
import type { Sql, TxSql } from '../../libs/storage/index.js';
import {
  consistencyProof,
  encodeLeaf,
  formatCheckpoint,
  inclusionProof,
  type LEAF_KINDS,
  leafHash,
  MerkleLog,
  poolOrigin,
  signCheckpoint,
} from '../../libs/tlog/index.js';

export type LeafKind = (typeof LEAF_KINDS)[number];

/**
 * Appends a leaf; returns its index. Call inside a transaction: the pool's `tlog_heads` row,
 * locked by the upsert until it commits, orders concurrent appends (one statement).
 */
export async function appendLeaf(
  tx: TxSql,
  pool: string,
  kind: LeafKind,
  ref: string,
  body: CanonicalValue,
): Promise<number> {
  const leaf = encodeLeaf({ kind, pool, body });
  const [r] = await tx<{ idx: number }[]>`
    with head as (
      insert into tlog_heads as h (pool, size) values (${pool}, 1)
      on conflict (pool) do update set size = h.size + 1
      returning size - 1 as idx
    )
    insert into tlog_leaves (pool, idx, kind, ref, leaf, leaf_hash)
    select ${pool}, head.idx, ${kind}, ${ref}, ${Buffer.from(leaf)}, ${Buffer.from(leafHash(leaf))}
    from head
    returning idx`;
  return Number(r!.idx);
}

export async function leafHashes(
  sql: Sql | TxSql,
  pool: string,
  size?: number,
): Promise<Uint8Array[]> {
  const rows = await sql<{ leaf_hash: Uint8Array }[]>`
    select leaf_hash from tlog_leaves where pool = ${pool} and idx < ${size ?? Number.MAX_SAFE_INTEGER}
    order by idx`;
  return rows.map((r) => new Uint8Array(r.leaf_hash));
}

export interface StoredLeaf {
  idx: number;
  kind: string;
  ref: string;
  leaf: Uint8Array;
}

export async function leaves(
  sql: Sql | TxSql,
  pool: string,
  from = 0,
  limit = 10_000,
): Promise<StoredLeaf[]> {
  const rows = await sql<{ idx: number; kind: string; ref: string; leaf: Uint8Array }[]>`
    select idx, kind, ref, leaf from tlog_leaves where pool = ${pool} and idx >= ${from}
    order by idx limit ${limit}`;
  return rows.map((r) => ({ ...r, leaf: new Uint8Array(r.leaf) }));
}

/** Per pool, the tree as far as this process has read it: only new leaves are read again. */
const trees = new Map<string, MerkleLog>();

/**
 * Signs a checkpoint of the pool's tree as `sql` sees it and stores it, inside the caller's
 * transaction when given one (so leaves and their checkpoint commit together). Call
 * `remember` once that has committed: the tree read so far is then kept for the next call.
 */
export async function checkpointIn(
  sql: Sql | TxSql,
  pool: string,
  key: KeyPair,
): Promise<{ note: string; remember: () => void }> {
  const known = trees.get(pool);
  let tree = known === undefined ? new MerkleLog() : clone(known);
  const rows = await sql<{ idx: number; leaf_hash: Uint8Array }[]>`
    select idx, leaf_hash from tlog_leaves where pool = ${pool} and idx >= ${tree.size} order by idx`;
  if (rows.some((r, i) => r.idx !== tree.size + i)) tree = new MerkleLog(); // a gap: start over
  if (tree.size === 0 && rows[0]?.idx !== 0) {
    for (const h of await leafHashes(sql, pool)) tree.append(h);
  } else for (const r of rows) tree.append(new Uint8Array(r.leaf_hash));
  const origin = poolOrigin(pool);
  const root = tree.root();
  const note = signCheckpoint(
    formatCheckpoint({ origin, size: tree.size, rootHash: root }),
    key,
    origin,
  );
  await sql`
    insert into tlog_checkpoints (pool, size, root, note)
    values (${pool}, ${tree.size}, ${Buffer.from(root)}, ${note})
    on conflict (pool, size) do nothing`;
  const remember = () => {
    if (tree.size > (trees.get(pool)?.size ?? -1)) trees.set(pool, tree);
  };
  return { note, remember };
}

function clone(tree: MerkleLog): MerkleLog {
  const f = tree.frontier();
  return MerkleLog.fromFrontier(f.size, f.hashes);
}

export async function latestCheckpoint(sql: Sql | TxSql, pool: string): Promise<string | null> {
  const [r] = await sql<{ note: string }[]>`
    select note from tlog_checkpoints where pool = ${pool} order by size desc limit 1`;
  return r?.note ?? null;
}

export async function proveInclusion(
  sql: Sql,
  pool: string,
  index: number,
  size: number,
): Promise<Uint8Array[]> {
  return inclusionProof(index, size, await leafHashes(sql, pool, size));
}

export async function proveConsistency(
  sql: Sql,
  pool: string,
  from: number,
  to: number,
): Promise<Uint8Array[]> {
  return consistencyProof(from, to, await leafHashes(sql, pool, to));
}
