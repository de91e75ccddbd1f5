/**
 * The transaction log (`tx_log`) and the pool's root (`pools.basis_t`, `pools.head_hash`).
 *
 * Entries form a hash chain: each entry's hash covers the previous entry's hash and the
 * entry itself, as the domain-separated canonical bytes of libs/identity
 *
 *     sha-256( "diagon/v1/tx-log/<pool>\0" ‖ CBOR {t, tx, maxEid, instant, prev, proposal,
 *              datoms: sha-256(datoms), certificate: sha-256(certificate)} )
 *
 * so anyone holding the log can check that no entry was changed, dropped or reordered.
 *
 * `appendTxBatch` is the group commit: many entries in one Postgres transaction, admitted
 * only by a conditional put on the root (the basis t the writer believes is current), so a
 * writer that lost its fence cannot append even if it still runs.
 */
import { createHash } from 'node:crypto';
import { DiagonError } from '../db/errors.js';
import { signingBytes } from '../identity/signing-bytes.js';
import type { Sql, TxSql } from './connection.js';

export interface LogEntry {
  pool: string;
  t: number;
  txEid: number;
  /** The value's largest entity id after the transaction (replay needs it). */
  maxEid: number;
  instant: Date;
  hash: Uint8Array;
  prevHash: Uint8Array | null;
  /** The proposal's CID: a pool commits each proposal at most once. */
  proposal: string;
  certificate: Uint8Array;
  /** The transaction's datoms, encoded (libs/db `encodeTxData`). */
  datoms: Uint8Array;
}

export type NewLogEntry = Omit<LogEntry, 'hash' | 'prevHash' | 'pool'>;

const sha256 = (b: Uint8Array) => new Uint8Array(createHash('sha256').update(b).digest());

/** The hash of an entry given the previous entry's hash. */
export function entryHash(pool: string, prev: Uint8Array | null, e: NewLogEntry): Uint8Array {
  return sha256(
    signingBytes('tx-log', pool, {
      t: e.t,
      tx: e.txEid,
      maxEid: e.maxEid,
      instant: e.instant.getTime(),
      prev: prev ?? new Uint8Array(0),
      proposal: e.proposal,
      datoms: sha256(e.datoms),
      certificate: sha256(e.certificate),
    }),
  );
}

/**
 * Checks that `entries` (in t order, starting after `prev`) form an unbroken chain; throws
 * `storage/broken-chain` at the first entry that does not.
 */
export function verifyChain(
  pool: string,
  entries: readonly LogEntry[],
  prev: Uint8Array | null = null,
  prevT = 0,
): void {
  let h = prev;
  let t = prevT;
  for (const e of entries) {
    const bad = (why: string) =>
      new DiagonError('storage/broken-chain', `tx log of ${pool} is broken at t ${e.t}: ${why}`, {
        pool,
        t: e.t,
      });
    if (e.t !== t + 1) throw bad(`expected t ${t + 1}`);
    if (!sameBytes(e.prevHash, h)) throw bad('its previous hash is not the hash before it');
    if (!sameBytes(e.hash, entryHash(pool, h, e))) throw bad('its hash does not match its content');
    h = e.hash;
    t = e.t;
  }
}

function sameBytes(a: Uint8Array | null, b: Uint8Array | null): boolean {
  if (a === null || b === null) return a === b;
  return Buffer.compare(Buffer.from(a), Buffer.from(b)) === 0;
}

export interface PoolRoot {
  basisT: number;
  headHash: Uint8Array | null;
  indexT: number;
  indexRoot: string | null;
}

export async function getRoot(sql: Sql | TxSql, pool: string): Promise<PoolRoot | undefined> {
  const [r] = await sql<
    { basis_t: number; head_hash: Uint8Array | null; index_t: number; index_root: string | null }[]
  >`select basis_t, head_hash, index_t, index_root from pools where pool = ${pool}`;
  if (r === undefined) return undefined;
  return {
    basisT: r.basis_t,
    headHash: r.head_hash === null ? null : new Uint8Array(r.head_hash),
    indexT: r.index_t,
    indexRoot: r.index_root,
  };
}

/**
 * Appends `entries` (t = basisT + 1, + 2, …) in one transaction, chaining their hashes from
 * `headHash`, if and only if the pool's basis is still `basisT`. Returns the entries as
 * stored. Throws `storage/basis-moved` when another writer moved the basis (this writer is
 * fenced) and `storage/duplicate-proposal` when a proposal is in the log already.
 */
export async function appendTxBatch(
  sql: Sql,
  pool: string,
  basisT: number,
  headHash: Uint8Array | null,
  entries: readonly NewLogEntry[],
): Promise<LogEntry[]> {
  if (entries.length === 0) return [];
  const stored: LogEntry[] = [];
  let h = headHash;
  entries.forEach((e, i) => {
    if (e.t !== basisT + i + 1)
      throw new DiagonError('storage/bad-batch', `entry ${i} has t ${e.t}, not ${basisT + i + 1}`);
    const hash = entryHash(pool, h, e);
    stored.push({ ...e, pool, hash, prevHash: h });
    h = hash;
  });
  const last = stored[stored.length - 1]!;
  const hexOf = (b: Uint8Array | null) => (b === null ? null : Buffer.from(b).toString('hex'));
  try {
    // One statement, so one round trip and one commit: the conditional put on the root,
    // then the entries, inserted only when the put matched.
    const [r] = await sql<{ moved: number }[]>`
      with moved as (
        update pools set basis_t = ${last.t}, head_hash = ${Buffer.from(last.hash)}
        where pool = ${pool} and basis_t = ${basisT}
        returning pool
      ), entries as (
        insert into tx_log
          (pool, t, tx_eid, max_eid, instant, hash, prev_hash, proposal, certificate, datoms)
        select m.pool, e.t, e.tx_eid, e.max_eid, e.instant, decode(e.hash, 'hex'),
               decode(e.prev_hash, 'hex'), e.proposal, decode(e.certificate, 'hex'),
               decode(e.datoms, 'hex')
        from moved m, unnest(
          ${stored.map((e) => String(e.t))}::text[]::bigint[],
          ${stored.map((e) => String(e.txEid))}::text[]::bigint[],
          ${stored.map((e) => String(e.maxEid))}::text[]::bigint[],
          ${stored.map((e) => e.instant.toISOString())}::text[]::timestamptz[],
          ${stored.map((e) => hexOf(e.hash))}::text[],
          ${stored.map((e) => hexOf(e.prevHash))}::text[],
          ${stored.map((e) => e.proposal)}::text[],
          ${stored.map((e) => hexOf(e.certificate))}::text[],
          ${stored.map((e) => hexOf(e.datoms))}::text[]
        ) as e(t, tx_eid, max_eid, instant, hash, prev_hash, proposal, certificate, datoms)
        returning 1
      )
      select count(*)::int as moved from moved`;
    if (r?.moved !== 1)
      throw new DiagonError(
        'storage/basis-moved',
        `pool ${pool} is no longer at t ${basisT}: another transactor wrote to it, so this one must stop writing`,
        { pool, basisT },
      );
  } catch (e) {
    if ((e as { code?: string }).code === '23505' && /proposal/.test(String((e as Error).message)))
      throw new DiagonError(
        'storage/duplicate-proposal',
        `a proposal in this batch is committed in ${pool} already`,
        { pool },
      );
    throw e;
  }
  return stored;
}

interface LogRow {
  pool: string;
  t: number;
  tx_eid: number;
  max_eid: number;
  instant: Date;
  hash: Uint8Array;
  prev_hash: Uint8Array | null;
  proposal: string;
  certificate: Uint8Array;
  datoms: Uint8Array;
}

function toEntry(r: LogRow): LogEntry {
  return {
    pool: r.pool,
    t: r.t,
    txEid: r.tx_eid,
    maxEid: r.max_eid,
    instant: r.instant,
    hash: new Uint8Array(r.hash),
    prevHash: r.prev_hash === null ? null : new Uint8Array(r.prev_hash),
    proposal: r.proposal,
    certificate: new Uint8Array(r.certificate),
    datoms: new Uint8Array(r.datoms),
  };
}

/** Entries with fromT < t <= toT (toT default: all), in t order, at most `limit`. */
export async function readLog(
  sql: Sql | TxSql,
  pool: string,
  fromT: number,
  toT = Number.MAX_SAFE_INTEGER,
  limit = 10_000,
): Promise<LogEntry[]> {
  const rows = await sql<LogRow[]>`
    select * from tx_log where pool = ${pool} and t > ${fromT} and t <= ${toT}
    order by t limit ${limit}`;
  return rows.map(toEntry);
}

/** The entry that committed `proposal`, if any. */
export async function findByProposal(
  sql: Sql | TxSql,
  pool: string,
  proposal: string,
): Promise<LogEntry | undefined> {
  const [r] = await sql<LogRow[]>`
    select * from tx_log where pool = ${pool} and proposal = ${proposal}`;
  return r && toEntry(r);
}

/** The entries that committed any of `proposals`. */
export async function findByProposals(
  sql: Sql | TxSql,
  pool: string,
  proposals: readonly string[],
): Promise<LogEntry[]> {
  const rows = await sql<LogRow[]>`
    select * from tx_log where pool = ${pool} and proposal = any(${proposals as string[]}::text[])`;
  return rows.map(toEntry);
}

/** The entry at t, if any. */
export async function logEntry(
  sql: Sql | TxSql,
  pool: string,
  t: number,
): Promise<LogEntry | undefined> {
  const [r] = await sql<LogRow[]>`select * from tx_log where pool = ${pool} and t = ${t}`;
  return r && toEntry(r);
}

/** The instant of the pool's latest transaction, if it has any. */
export async function lastCommitInstant(sql: Sql | TxSql, pool: string): Promise<Date | undefined> {
  const [r] = await sql<{ instant: Date }[]>`
    select instant from tx_log where pool = ${pool} order by t desc limit 1`;
  return r?.instant;
}
