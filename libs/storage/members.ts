/**
 * The `members` table: who belongs to a pool, by DID and ed25519 public key. Callers check
 * that a DID binds its key (libs/identity) before they write it here.
 */
import { DiagonError } from '../db/errors.js';
import type { Sql, TxSql } from './connection.js';

export type Role = 'member' | 'observer';

export interface MemberRecord {
  pool: string;
  did: string;
  publicKey: Uint8Array;
  role: Role;
  addedAt: Date;
}

export interface NewMember {
  did: string;
  publicKey: Uint8Array;
  role?: Role;
}

export async function addMember(
  sql: Sql | TxSql,
  pool: string,
  member: NewMember,
): Promise<MemberRecord> {
  try {
    const [row] = await sql<MemberRow[]>`
      insert into members (pool, did, public_key, role)
      values (${pool}, ${member.did}, ${Buffer.from(member.publicKey)}, ${member.role ?? 'member'})
      on conflict (pool, did) do update set public_key = excluded.public_key, role = excluded.role
      returning pool, did, public_key, role, added_at`;
    return toRecord(row as MemberRow);
  } catch (e) {
    if ((e as { code?: string }).code === '23503') {
      throw new DiagonError(
        'storage/no-such-pool',
        `Pool ${pool} does not exist: create it first.`,
        {
          pool,
        },
      );
    }
    throw e;
  }
}

export async function getMember(
  sql: Sql | TxSql,
  pool: string,
  did: string,
): Promise<MemberRecord | undefined> {
  const [row] = await sql<MemberRow[]>`
    select pool, did, public_key, role, added_at from members where pool = ${pool} and did = ${did}`;
  return row && toRecord(row);
}

export async function listMembers(sql: Sql | TxSql, pool: string): Promise<MemberRecord[]> {
  const rows = await sql<MemberRow[]>`
    select pool, did, public_key, role, added_at from members where pool = ${pool} order by did`;
  return rows.map(toRecord);
}

export async function removeMember(sql: Sql | TxSql, pool: string, did: string): Promise<boolean> {
  const rows = await sql`delete from members where pool = ${pool} and did = ${did} returning did`;
  return rows.length > 0;
}

/** Makes the pool's members exactly `members` (the operator's reconcile), in one transaction. */
export async function replaceMembers(
  sql: Sql,
  pool: string,
  members: readonly NewMember[],
): Promise<{ added: string[]; removed: string[] }> {
  return sql.begin(async (tx) => {
    const before = new Set((await listMembers(tx, pool)).map((m) => m.did));
    const wanted = new Set(members.map((m) => m.did));
    const removed = [...before].filter((d) => !wanted.has(d));
    for (const did of removed) await removeMember(tx, pool, did);
    for (const m of members) await addMember(tx, pool, m);
    return { added: [...wanted].filter((d) => !before.has(d)), removed };
  });
}

interface MemberRow {
  pool: string;
  did: string;
  public_key: Buffer;
  role: Role;
  added_at: Date;
}

function toRecord(row: MemberRow): MemberRecord {
  return {
    pool: row.pool,
    did: row.did,
    publicKey: new Uint8Array(row.public_key),
    role: row.role,
    addedAt: row.added_at,
  };
}
