/**
 * Storage garbage collection. Roots outside the retention policy are forgotten; then every
 * segment reachable from a kept root is marked, and only segments that are unmarked and
 * older than a grace period are deleted (the grace covers a merge that wrote its segments
 * but has not advanced its root yet). One collector runs at a time (advisory lock).
 */
import { reachableSegments } from '../../libs/db/index.js';
import {
  deleteSegments,
  getSegments,
  listIndexRoots,
  listSegmentHashes,
  pruneIndexRoots,
  type Sql,
} from '../../libs/storage/index.js';

export interface GcReport {
  rootsForgotten: number;
  segmentsDeleted: number;
  segmentsKept: number;
}

export interface GcOptions {
  /** Index roots kept per pool (the newest ones). */
  keepRoots: number;
  /** Segments younger than this are never deleted. */
  graceMs: number;
}

/** Runs one collection over every pool; null when another collector holds the lock. */
export async function collectGarbage(sql: Sql, o: GcOptions): Promise<GcReport | null> {
  const conn = await sql.reserve();
  try {
    const [lock] = await conn<
      { ok: boolean }[]
    >`select pg_try_advisory_lock(hashtext('diagon.gc')) as ok`;
    if (!lock?.ok) return null;
    try {
      const pools = await conn<{ pool: string }[]>`select pool from pools`;
      let rootsForgotten = 0;
      for (const { pool } of pools)
        rootsForgotten += await pruneIndexRoots(conn, pool, o.keepRoots);
      // Candidates first: a segment written after this list is never a candidate.
      const candidates = await listSegmentHashes(conn, new Date(Date.now() - o.graceMs));
      // Mark: everything reachable from a kept root (reading branches only: they name their leaves).
      const marked = new Set<string>();
      const source = { fetch: (hashes: string[]) => getSegments(conn, hashes) };
      for (const root of await listIndexRoots(conn))
        for (const h of await reachableSegments(root.root, source)) marked.add(h);
      const doomed = candidates.filter((h) => !marked.has(h));
      const segmentsDeleted = await deleteSegments(conn, doomed);
      return { rootsForgotten, segmentsDeleted, segmentsKept: candidates.length - segmentsDeleted };
    } finally {
      await conn`select pg_advisory_unlock(hashtext('diagon.gc'))`;
    }
  } finally {
    conn.release();
  }
}
