/**
 * A pool exported as one JSON document, and its offline verification (`diagon verify`):
 *
 * 1. the tx log is one unbroken hash chain;
 * 2. every logged transaction carries a certificate for its proposal whose signatures and
 *    quorum verify against the pool's membership at the time the proposal was made;
 * 3. every vote's signature verifies and its elaboration is the text it signed;
 * 4. every governance-log leaf is exactly the stored proposal, vote, certificate or commit
 *    it names (a changed row no longer matches its leaf);
 * 5. every checkpoint is signed by the pool's log key, and its root is the Merkle root of
 *    the leaves up to its size.
 *
 * The first failure is reported as `verify/failed` naming the entry (t, proposal, voter,
 * leaf index or checkpoint size) and what is wrong with it.
 */
import { DiagonError, isDiagonError } from '../../libs/db/index.js';
import {
  decodeCertificate,
  decodeSignedVote,
  elaborationHash,
  electorate,
  parsePolicy,
  verifyCertificate,
} from '../../libs/governance/index.js';
import { type CanonicalValue, parseDid } from '../../libs/identity/index.js';
import {
  getPool,
  type LogEntry,
  listMembers,
  listProposals,
  listVotes,
  membershipHistory,
  readLog,
  type Sql,
  verifyChain,
} from '../../libs/storage/index.js';
import {
  decodeLeaf,
  leafHash,
  poolOrigin,
  rootFromLeafHashes,
  verifyCheckpoint,
} from '../../libs/tlog/index.js';
import { committedEvent } from '../transactor/transactor.js';
import { leaves } from './tlog-store.js';

export const EXPORT_FORMAT = 'diagon-export/v1';

export interface PoolExport {
  format: typeof EXPORT_FORMAT;
  pool: string;
  /** The DID of the key that signs the pool's checkpoints. */
  logKey: string;
  policy: Record<string, unknown>;
  members: { did: string; role: string }[];
  membership: { did: string; change: 'added' | 'removed'; role: string | null; at: string }[];
  txLog: {
    t: number;
    tx: number;
    maxEid: number;
    instant: string;
    hash: string;
    prevHash: string | null;
    proposal: string;
    certificate: string;
    datoms: string;
  }[];
  proposals: { id: string; kind: string; status: string; signed: string; voters: string[] }[];
  votes: {
    proposal: string;
    voter: string;
    support: boolean;
    signed: string;
    elaboration: string;
  }[];
  leaves: { idx: number; kind: string; ref: string; leaf: string }[];
  checkpoints: string[];
}

const b64 = (b: Uint8Array) => Buffer.from(b).toString('base64');
const unb64 = (s: string) => new Uint8Array(Buffer.from(s, 'base64'));
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

export async function exportPool(sql: Sql, pool: string, logKey: string): Promise<PoolExport> {
  const row = await getPool(sql, pool);
  if (row === undefined) throw new DiagonError('verify/no-pool', `pool ${pool} does not exist`);
  const txLog: LogEntry[] = [];
  for (;;) {
    const page = await readLog(sql, pool, txLog.at(-1)?.t ?? 0);
    if (page.length === 0) break;
    txLog.push(...page);
  }
  const proposals = await listProposals(sql, pool);
  const votes = (await Promise.all(proposals.map((p) => listVotes(sql, pool, p.id)))).flat();
  const notes = await sql<
    { note: string }[]
  >`select note from tlog_checkpoints where pool = ${pool} order by size`;
  return {
    format: EXPORT_FORMAT,
    pool,
    logKey,
    policy: row.policy,
    members: (await listMembers(sql, pool)).map((m) => ({ did: m.did, role: m.role })),
    membership: (await membershipHistory(sql, pool)).map((m) => ({ ...m, at: m.at.toISOString() })),
    txLog: txLog.map((e) => ({ ...committedEvent(e), certificate: b64(e.certificate) })),
    proposals: proposals.map((p) => ({
      id: p.id,
      kind: p.kind,
      status: p.status,
      signed: b64(p.signed),
      voters: p.voters,
    })),
    votes: votes.map((v) => ({
      proposal: v.proposal,
      voter: v.voter,
      support: v.support,
      signed: b64(v.signed),
      elaboration: v.elaboration,
    })),
    leaves: (await leaves(sql, pool)).map((l) => ({
      idx: l.idx,
      kind: l.kind,
      ref: l.ref,
      leaf: b64(l.leaf),
    })),
    checkpoints: notes.map((n) => n.note),
  };
}

export interface VerifyReport {
  transactions: number;
  votes: number;
  leaves: number;
  checkpoints: number;
}

function fail(where: string, why: string): never {
  throw new DiagonError('verify/failed', `${where}: ${why}`, { where });
}

const bytesEqual = (a: unknown, b: Uint8Array) =>
  a instanceof Uint8Array && Buffer.compare(Buffer.from(a), Buffer.from(b)) === 0;

/** Verifies an export; throws `verify/failed` at the first entry that does not hold. */
export function verifyExport(x: PoolExport): VerifyReport {
  if (x?.format !== EXPORT_FORMAT)
    fail('the export', `format is ${String(x?.format)}, not ${EXPORT_FORMAT}`);
  const { pool } = x;
  // 1. The hash chain.
  const entries: LogEntry[] = x.txLog.map((e) => ({
    pool,
    t: e.t,
    txEid: e.tx,
    maxEid: e.maxEid,
    instant: new Date(e.instant),
    hash: new Uint8Array(Buffer.from(e.hash, 'hex')),
    prevHash: e.prevHash === null ? null : new Uint8Array(Buffer.from(e.prevHash, 'hex')),
    proposal: e.proposal,
    certificate: unb64(e.certificate),
    datoms: unb64(e.datoms),
  }));
  try {
    verifyChain(pool, entries);
  } catch (e) {
    fail(`tx log t ${isDiagonError(e) ? String(e.data?.t) : '?'}`, (e as Error).message);
  }
  // 2. Certificates, against the membership when each proposal was made.
  const { threshold, proposerVotes } = x.policy as Record<string, unknown>;
  const policy = parsePolicy({
    ...(threshold === undefined ? {} : { threshold }),
    ...(proposerVotes === undefined ? {} : { proposerVotes }),
  });
  const voting = x.members.filter((m) => m.role === 'member').map((m) => m.did);
  const changes = x.membership.map((m) => ({ ...m, at: new Date(m.at) }));
  for (const e of entries) {
    const where = `tx log t ${e.t} (proposal ${e.proposal})`;
    try {
      const cert = decodeCertificate(e.certificate);
      if (cert.proposal.id !== e.proposal)
        fail(where, `its certificate is for proposal ${cert.proposal.id}`);
      verifyCertificate(cert, policy, {
        pool,
        members: electorate(voting, changes, cert.proposal.body.createdAt),
      });
    } catch (err) {
      if (isDiagonError(err, 'verify/failed')) throw err;
      fail(where, `certificate refused: ${(err as Error).message}`);
    }
  }
  // 3. Votes.
  for (const v of x.votes) {
    const where = `vote of ${v.voter} on ${v.proposal}`;
    let signed: ReturnType<typeof decodeSignedVote>;
    try {
      signed = decodeSignedVote(unb64(v.signed));
    } catch (err) {
      fail(where, (err as Error).message);
    }
    if (
      signed.body.voter !== v.voter ||
      signed.body.proposal !== v.proposal ||
      signed.body.support !== v.support
    )
      fail(where, 'the row does not say what the signed vote says');
    if (elaborationHash(v.elaboration) !== signed.body.elaborationHash)
      fail(where, 'the elaboration is not the text that was signed');
  }
  // 4. Leaves against the rows they name.
  const proposals = new Map(x.proposals.map((p) => [p.id, unb64(p.signed)]));
  const votes = new Map(x.votes.map((v) => [`${v.proposal}/${v.voter}`, unb64(v.signed)]));
  const certs = new Map(entries.map((e) => [e.proposal, e]));
  const hashes: Uint8Array[] = [];
  x.leaves.forEach((l, i) => {
    const where = `log leaf ${l.idx}`;
    if (l.idx !== i) fail(where, `expected leaf ${i}`);
    const bytes = unb64(l.leaf);
    let body: Record<string, CanonicalValue>;
    try {
      const d = decodeLeaf(bytes);
      if (d.pool !== pool || d.kind !== l.kind) fail(where, `it is a ${d.kind} leaf of ${d.pool}`);
      body = d.body as Record<string, CanonicalValue>;
    } catch (err) {
      if (isDiagonError(err, 'verify/failed')) throw err;
      fail(where, (err as Error).message);
    }
    if (
      l.kind === 'proposal' &&
      !bytesEqual(body.proposal, proposals.get(l.ref) ?? new Uint8Array())
    )
      fail(where, `proposal ${l.ref} is not the proposal the log recorded`);
    if (l.kind === 'vote' && !bytesEqual(body.vote, votes.get(l.ref) ?? new Uint8Array()))
      fail(where, `vote ${l.ref} is not the vote the log recorded`);
    if (l.kind === 'commit') {
      const e = certs.get(l.ref);
      if (e === undefined || body.t !== e.t || body.hash !== hex(e.hash))
        fail(where, `the commit of ${l.ref} is not the tx log's entry (t ${String(body.t)})`);
    }
    if (
      l.kind === 'certificate' &&
      certs.has(l.ref) &&
      !bytesEqual(body.certificate, certs.get(l.ref)!.certificate)
    )
      fail(where, `the certificate of ${l.ref} is not the one in the tx log`);
    hashes.push(leafHash(bytes));
  });
  // 5. Checkpoints.
  const publicKey = parseDid(x.logKey);
  for (const note of x.checkpoints) {
    let c: ReturnType<typeof verifyCheckpoint>;
    try {
      c = verifyCheckpoint(note, {
        keyName: poolOrigin(pool),
        publicKey,
        origin: poolOrigin(pool),
      });
    } catch (err) {
      fail('a checkpoint', (err as Error).message);
    }
    if (c.size > hashes.length)
      fail(`checkpoint ${c.size}`, `the log has only ${hashes.length} leaves`);
    if (!bytesEqual(rootFromLeafHashes(hashes.slice(0, c.size)), c.rootHash))
      fail(`checkpoint ${c.size}`, 'its root is not the Merkle root of the leaves');
  }
  return {
    transactions: entries.length,
    votes: x.votes.length,
    leaves: x.leaves.length,
    checkpoints: x.checkpoints.length,
  };
}
