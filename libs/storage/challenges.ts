/**
 * The `auth_challenges` table: nonces handed to HTTP clients by one auth replica and
 * redeemed, at most once, at any replica. Redeeming is one conditional update, so two
 * replicas racing on the same nonce cannot both win.
 */
import type { Sql, TxSql } from './connection.js';

export interface ChallengeRecord {
  nonce: Uint8Array;
  pool: string;
  did: string;
  serverDid: string;
  expiresAt: Date;
}

export async function insertChallenge(sql: Sql | TxSql, c: ChallengeRecord): Promise<void> {
  await sql`
    insert into auth_challenges (nonce, pool, did, server_did, expires_at)
    values (${Buffer.from(c.nonce)}, ${c.pool}, ${c.did}, ${c.serverDid}, ${c.expiresAt})`;
}

export type RedeemOutcome =
  | { ok: true; challenge: ChallengeRecord }
  | { ok: false; why: 'unknown' | 'used' | 'expired' };

/** Marks the nonce used when it is outstanding and unexpired; says why not otherwise. */
export async function redeemChallenge(
  sql: Sql | TxSql,
  nonce: Uint8Array,
  now = new Date(),
): Promise<RedeemOutcome> {
  const key = Buffer.from(nonce);
  const [row] = await sql<ChallengeRow[]>`
    update auth_challenges set used_at = ${now}
    where nonce = ${key} and used_at is null and expires_at > ${now}
    returning nonce, pool, did, server_did, expires_at`;
  if (row !== undefined) return { ok: true, challenge: toRecord(row) };
  const [seen] = await sql<{ used_at: Date | null }[]>`
    select used_at from auth_challenges where nonce = ${key}`;
  if (seen === undefined) return { ok: false, why: 'unknown' };
  return { ok: false, why: seen.used_at === null ? 'expired' : 'used' };
}

/**
 * Deletes challenges that expired before `before`. Used ones are kept until then too, so a
 * replay inside the window is told "used" rather than "unknown".
 */
export async function purgeChallenges(sql: Sql | TxSql, before: Date): Promise<number> {
  const rows = await sql`delete from auth_challenges where expires_at < ${before} returning 1`;
  return rows.length;
}

interface ChallengeRow {
  nonce: Uint8Array;
  pool: string;
  did: string;
  server_did: string;
  expires_at: Date;
}

function toRecord(r: ChallengeRow): ChallengeRecord {
  return {
    nonce: new Uint8Array(r.nonce),
    pool: r.pool,
    did: r.did,
    serverDid: r.server_did,
    expiresAt: r.expires_at,
  };
}
