/**
 * The transactor: the one writer of a pool.
 *
 * Fencing. At start it takes a session advisory lock on a connection it reserves from the
 * pool for as long as it runs (`diagon.transactor.<pool>`; size the pool for it); without
 * the lock, it stays standby and retries. The
 * lock alone is not enough (a paused process can outlive its session), so every append
 * is also a conditional put on the pool's basis t: a writer whose basis moved is fenced
 * and steps down.
 *
 * Recovery. The latest index root (if any) plus the log tail, replayed and hash-chain
 * checked, give the current value; entries the JetStream stream lacks are republished
 * (message id pool:t, so the stream drops what it has).
 *
 * Commits. An actor (libs/actor) owns the current value. `submit` messages join a pending
 * list; a `commit` message takes up to `batchMax` of them, verifies each certificate,
 * applies each transaction in turn (a failure answers that request alone), appends all
 * that applied in one Postgres transaction (group commit), then answers and publishes
 * `tx.committed`. Requests arriving during a commit wait in the mailbox and form the next
 * batch. A certificate whose proposal is committed already gets the first result.
 */
import { type Actor, spawn } from '../../libs/actor/index.js';
import {
  type Bus,
  ensureStream,
  jsonData,
  lastMessage,
  messagingAttributes,
  publishDurable,
  type Subscription,
  subjects,
  TX_STREAM,
} from '../../libs/bus/index.js';
import {
  type Db,
  DiagonError,
  decodeTxData,
  emptyDb,
  encodeTxData,
  isDiagonError,
  loadSnapshot,
  replayTx,
  transact,
} from '../../libs/db/index.js';
import { SYS } from '../../libs/db/schema.js';
import {
  type CommitCertificate,
  decodeCertificate,
  electorate,
  type MembershipChange,
  type Policy,
  parsePolicy,
  type SignatureCheck,
  verifyCertificateWith,
} from '../../libs/governance/index.js';
import { VerifierPool, verifyFast } from '../../libs/identity/index.js';
import {
  appendTxBatch,
  currentIndexRoot,
  findByProposals,
  getPool,
  getRoot,
  getSegments,
  type LogEntry,
  listMembers,
  membershipHistory,
  type NewLogEntry,
  readLog,
  type Sql,
  verifyChain,
} from '../../libs/storage/index.js';
import {
  activeContext,
  type Context,
  inSpan,
  isRecorded,
  recordSpan,
  SpanKind,
} from '../../libs/telemetry/index.js';
import type { TransactorMetrics } from './metrics.js';

export interface TransactorOptions {
  pool: string;
  sql: Sql;
  bus: Bus;
  /** Most transactions in one Postgres commit (default 256). */
  batchMax?: number;
  /** How long a batch waits for more requests before committing (default 0 ms). */
  batchDelayMs?: number;
  /** How often a standby transactor retries the fence (default 1000 ms). */
  fenceRetryMs?: number;
  /**
   * Threads that check certificate signatures (default: available parallelism less one);
   * 0 checks them on the transactor's own thread.
   */
  verifierThreads?: number;
  /** Where commits, batch sizes and latencies are counted (metrics.ts). */
  metrics?: TransactorMetrics;
  log?: { info(o: object, msg: string): void; warn(o: object, msg: string): void };
}

/** What a committed transaction's requester gets back (JSON). */
export interface TxResult {
  pool: string;
  t: number;
  tx: number;
  instant: string;
  hash: string;
  proposal: string;
  tempids: Record<string, number>;
  datoms: number;
}

/** The body of `diagon.pool.<p>.tx.committed` (JSON). */
export interface CommittedEvent {
  pool: string;
  t: number;
  tx: number;
  maxEid: number;
  instant: string;
  hash: string;
  prevHash: string | null;
  proposal: string;
  /** base64 of libs/db `encodeTxData`. */
  datoms: string;
}

interface Submission {
  /** The trace context it arrived in: its commit and publication are spans under it. */
  ctx: Context;
  bytes: Uint8Array;
  /** Decoded and verified on arrival, outside the commit loop. */
  cert: CommitCertificate;
  proposal: string;
  settle(r: { ok: true; value: TxResult } | { ok: false; error: DiagonError }): void;
}

/** A submission applied in a batch, with when its phases ended (null: a twin's). */
interface Accepted {
  sub: Submission;
  result: TxResult;
  times: { began: number; expanded: number; applied: number } | null;
}

interface State {
  db: Db;
  headHash: Uint8Array | null;
  pending: Submission[];
  committing: boolean;
  /** Results of recent commits by proposal, for idempotent resubmission. */
  recent: Map<string, TxResult>;
}

type Msg = { t: 'submit'; s: Submission } | { t: 'commit' };

const RECENT_MAX = 10_000;
/** At most this many signatures in a turn are checked on the transactor's own thread. */
const INLINE_SIGNATURES = 3;
interface Governance {
  policy: Policy;
  voting: string[];
  changes: MembershipChange[];
}

/** How long the pool's policy and members are cached for verifying certificates. */
const GOVERNANCE_TTL_MS = 1000;
const hex = (b: Uint8Array | null) => (b === null ? null : Buffer.from(b).toString('hex'));

export function committedEvent(e: LogEntry): CommittedEvent {
  return {
    pool: e.pool,
    t: e.t,
    tx: e.txEid,
    maxEid: e.maxEid,
    instant: e.instant.toISOString(),
    hash: hex(e.hash)!,
    prevHash: hex(e.prevHash),
    proposal: e.proposal,
    datoms: Buffer.from(e.datoms).toString('base64'),
  };
}

/** Loads the pool's current value: the index root, then the log after it, chain-checked. */
export async function recoverDb(
  sql: Sql,
  pool: string,
): Promise<{ db: Db; headHash: Uint8Array | null }> {
  const root = await getRoot(sql, pool);
  if (root === undefined)
    throw new DiagonError('transactor/no-pool', `pool ${pool} does not exist: create it first`);
  const index = await currentIndexRoot(sql, pool);
  let db =
    index === undefined
      ? emptyDb()
      : await loadSnapshot(index.root, { fetch: (hashes) => getSegments(sql, hashes) });
  let prev: Uint8Array | null = null;
  if (index !== undefined && index.t > 0) {
    const [at] = await readLog(sql, pool, index.t - 1, index.t);
    prev = at?.hash ?? null;
  }
  for (;;) {
    const page = await readLog(sql, pool, db.basisT, root.basisT, 1000);
    if (page.length === 0) break;
    verifyChain(pool, page, prev, db.basisT);
    for (const e of page) db = replayTx(db, decodeTxData(e.datoms), { maxEid: e.maxEid });
    prev = page[page.length - 1]!.hash;
  }
  if (db.basisT !== root.basisT)
    throw new DiagonError(
      'transactor/log-gap',
      `pool ${pool} says t ${root.basisT} but its log ends at ${db.basisT}`,
    );
  return { db, headHash: root.headHash };
}

export class Transactor {
  private actor: Actor<State, Msg> | null = null;
  private sub: Subscription | null = null;
  private reserved: Awaited<ReturnType<Sql['reserve']>> | null = null;
  private stopped = false;
  private retry: NodeJS.Timeout | null = null;
  /** 'standby' until it holds the fence, 'active' while it writes, 'fenced' once it lost it. */
  status: 'starting' | 'standby' | 'active' | 'fenced' | 'stopped' = 'starting';
  /** Sizes of the last commits (transactions per Postgres commit), newest last. */
  readonly batches: number[] = [];
  readonly ready: Promise<void>;
  private becameActive!: () => void;
  private readonly o: Required<Omit<TransactorOptions, 'log' | 'verifierThreads' | 'metrics'>> &
    Pick<TransactorOptions, 'log' | 'metrics'>;
  private readonly verifiers: VerifierPool | null;
  /** Signatures of the certificates that arrived in this turn of the event loop. */
  private toVerify: {
    checks: readonly SignatureCheck[];
    resolve(ok: boolean[]): void;
    reject(e: unknown): void;
  }[] = [];

  constructor(opts: TransactorOptions) {
    this.o = { batchMax: 256, batchDelayMs: 0, fenceRetryMs: 1000, ...opts };
    const threads = opts.verifierThreads;
    this.verifiers =
      threads === 0 ? null : new VerifierPool(threads === undefined ? {} : { threads });
    this.ready = new Promise((r) => {
      this.becameActive = r;
    });
    opts.metrics?.watch({
      basisT: () => this.db?.basisT,
      active: () => this.status === 'active',
      mailboxDepth: () => (this.actor?.mailboxSize ?? 0) + (this.actor?.state?.pending.length ?? 0),
    });
  }

  /** The current value (while active). */
  get db(): Db | undefined {
    return this.actor?.state?.db;
  }

  /** Starts: active at once when the fence is free, else standby until it is. */
  async start(): Promise<void> {
    await ensureStream(this.o.bus, TX_STREAM);
    await this.tryActivate();
  }

  private async tryActivate(): Promise<void> {
    if (this.stopped) return;
    const { sql, pool } = this.o;
    this.reserved ??= await sql.reserve();
    const [r] = await this.reserved<{ ok: boolean }[]>`
      select pg_try_advisory_lock(hashtext(${`diagon.transactor.${pool}`})) as ok`;
    if (!r?.ok) {
      if (this.status !== 'standby')
        this.o.log?.warn({ pool }, `standby: another transactor holds pool ${pool}; retrying`);
      this.status = 'standby';
      this.retry = setTimeout(() => void this.tryActivate().catch(() => {}), this.o.fenceRetryMs);
      return;
    }
    const { db, headHash } = await recoverDb(sql, pool);
    await this.republish(db.basisT);
    this.actor = spawn<State, Msg>(
      {
        init: () => ({ db, headHash, pending: [], committing: false, recent: new Map() }),
        receive: (s, m) => this.receive(s, m),
      },
      { name: `transactor-${pool}`, mailbox: 100_000 },
    );
    this.sub = this.o.bus.subscribe(
      subjects.txSubmit(pool),
      (m) =>
        this.submit(m.data).then(
          (value) => void m.respond(jsonData(value)),
          (e: unknown) => {
            const err = isDiagonError(e) ? e : new DiagonError('transactor/internal', String(e));
            m.respondError(err.code, err.message, err.data);
          },
        ),
      { queue: `diagon-transactor-${pool}` },
    );
    await this.o.bus.flush();
    this.status = 'active';
    this.o.log?.info({ pool, t: db.basisT }, 'transactor active');
    this.becameActive();
  }

  /** Publishes logged transactions the stream does not hold yet. */
  private async republish(basisT: number): Promise<void> {
    const { sql, bus, pool } = this.o;
    const last = await lastMessage(bus, TX_STREAM.name, subjects.txCommitted(pool));
    let from =
      last === null ? 0 : (JSON.parse(new TextDecoder().decode(last.data)) as CommittedEvent).t;
    while (from < basisT) {
      const page = await readLog(sql, pool, from, basisT, 1000);
      if (page.length === 0) break;
      for (const e of page) await this.publish(e);
      from = page[page.length - 1]!.t;
      this.o.log?.info({ pool, to: from }, 'republished committed transactions');
    }
  }

  private publish(e: LogEntry): Promise<unknown> {
    return publishDurable(this.o.bus, subjects.txCommitted(e.pool), jsonData(committedEvent(e)), {
      msgId: `${e.pool}:${e.t}`,
    });
  }

  /**
   * Submits a certificate (encoded); resolves with the commit's result. The certificate is
   * decoded and verified here, concurrently with the commit in flight; the commit loop only
   * applies and logs.
   */
  async submit(bytes: Uint8Array): Promise<TxResult> {
    const m = this.o.metrics;
    if (m === undefined) return this.submitted(bytes);
    const started = performance.now();
    try {
      const result = await this.submitted(bytes);
      m.duration.observe((performance.now() - started) / 1000);
      return result;
    } catch (e) {
      m.rejected.inc({ reason: isDiagonError(e) ? e.code : 'internal' });
      throw e;
    }
  }

  private async submitted(bytes: Uint8Array): Promise<TxResult> {
    const actor = this.actor;
    const { pool } = this.o;
    if (actor === null || this.status !== 'active')
      throw new DiagonError('transactor/standby', `this transactor of ${pool} is ${this.status}`);
    const cert = decodeCertificate(bytes);
    if (cert.pool !== pool)
      throw new DiagonError(
        'transactor/wrong-pool',
        `the certificate is for ${cert.pool}, this is ${pool}`,
      );
    const known = actor.state?.recent.get(cert.proposal.id);
    if (known !== undefined) return known;
    const { policy, voting, changes } = await this.governance();
    await verifyCertificateWith((checks) => this.verifySignatures(checks), cert, policy, {
      pool,
      members: electorate(voting, changes, cert.proposal.body.createdAt),
    });
    return new Promise((resolve, reject) => {
      const s: Submission = {
        ctx: activeContext(),
        bytes,
        cert,
        proposal: cert.proposal.id,
        settle: (r) => (r.ok ? resolve(r.value) : reject(r.error)),
      };
      actor.tell({ t: 'submit', s }).catch(reject);
    });
  }

  /**
   * Signatures go to the verifier threads in one message per turn of the event loop: NATS
   * hands over many requests at once, and one message each would cost more than it saves.
   */
  private verifySignatures(checks: readonly SignatureCheck[]): Promise<boolean[]> {
    const pool = this.verifiers;
    if (pool === null)
      return Promise.resolve(checks.map((c) => verifyFast(c.signature, c.message, c.publicKey)));
    return new Promise((resolve, reject) => {
      if (this.toVerify.length === 0)
        setImmediate(() => {
          const jobs = this.toVerify;
          this.toVerify = [];
          const all = jobs.flatMap((j) => j.checks);
          // A lone certificate is checked here: a thread's round trip would cost more.
          const checked =
            all.length <= INLINE_SIGNATURES
              ? Promise.resolve(all.map((c) => verifyFast(c.signature, c.message, c.publicKey)))
              : pool.verify(all);
          checked.then(
            (ok) => {
              let i = 0;
              for (const j of jobs) {
                j.resolve(ok.slice(i, i + j.checks.length));
                i += j.checks.length;
              }
            },
            (e: unknown) => {
              for (const j of jobs) j.reject(e);
            },
          );
        });
      this.toVerify.push({ checks, resolve, reject });
    });
  }

  private gov: { at: number; value: Promise<Governance> } | null = null;

  /** The pool's policy and voting members, re-read at most every GOVERNANCE_TTL_MS. */
  private governance(): Promise<Governance> {
    const now = performance.now();
    if (this.gov === null || now - this.gov.at > GOVERNANCE_TTL_MS) {
      const { sql, pool } = this.o;
      const value = (async () => {
        const row = await getPool(sql, pool);
        // Observers read; members vote. The certificate's voter set must be exactly these.
        const voting = (await listMembers(sql, pool))
          .filter((m) => m.role === 'member')
          .map((m) => m.did);
        const { threshold, proposerVotes } = (row?.policy ?? {}) as Record<string, unknown>;
        const rule = {
          ...(threshold === undefined ? {} : { threshold }),
          ...(proposerVotes === undefined ? {} : { proposerVotes }),
        };
        const changes = await membershipHistory(sql, pool);
        return { policy: parsePolicy(rule), voting, changes };
      })();
      this.gov = { at: now, value };
      value.catch(() => {
        this.gov = null;
      });
    }
    return this.gov.value;
  }

  private async receive(s: State, m: Msg): Promise<State> {
    if (m.t === 'submit') {
      s.pending.push(m.s);
      if (!s.committing) {
        s.committing = true;
        if (this.o.batchDelayMs > 0)
          setTimeout(() => void this.actor?.tell({ t: 'commit' }), this.o.batchDelayMs);
        else void this.actor?.tell({ t: 'commit' });
      }
      return s;
    }
    const batch = s.pending.splice(0, this.o.batchMax);
    const next = await this.commit(s, batch);
    if (next.pending.length > 0) void this.actor?.tell({ t: 'commit' });
    else next.committing = false;
    return next;
  }

  private async commit(s: State, batch: Submission[]): Promise<State> {
    const { sql, pool } = this.o;
    if (this.status !== 'active') {
      for (const b of batch)
        b.settle({
          ok: false,
          error: new DiagonError('transactor/fenced', `the transactor of ${pool} stepped down`),
        });
      return s;
    }
    // Resubmissions are rare (after a restart, past the recent results): the log's unique
    // proposal column refuses them, and only then is the log asked for their results.
    let applied = this.apply(s, batch, new Map());
    let stored: LogEntry[] | undefined;
    let appendStarted = 0;
    let appendEnded = 0;
    for (let attempt = 0; stored === undefined; attempt++) {
      if (applied.entries.length === 0) {
        for (const a of applied.accepted) a.sub.settle({ ok: true, value: a.result });
        return s;
      }
      try {
        appendStarted = performance.now();
        stored = await appendTxBatch(sql, pool, s.db.basisT, s.headHash, applied.entries);
        appendEnded = performance.now();
      } catch (e) {
        if (isDiagonError(e, 'storage/duplicate-proposal') && attempt === 0) {
          applied = this.apply(s, applied.pending, await this.logged(applied.proposals));
          continue;
        }
        const fenced = isDiagonError(e) && e.code === 'storage/basis-moved';
        if (fenced) await this.stepDown();
        const error = fenced
          ? new DiagonError('transactor/fenced', `the transactor of ${pool} was fenced; retry`)
          : new DiagonError(
              'transactor/unavailable',
              `could not log the transaction: ${(e as Error).message}; retry`,
            );
        for (const a of applied.accepted) a.sub.settle({ ok: false, error });
        return s;
      }
    }
    this.batches.push(stored.length);
    this.o.metrics?.batchSize.observe(stored.length);
    this.o.metrics?.committed.inc(stored.length);
    if (this.batches.length > 1000) this.batches.shift();
    const byT = new Map(stored.map((e) => [e.t, e]));
    for (const a of applied.accepted) {
      a.result.hash = hex(byT.get(a.result.t)?.hash ?? null) ?? a.result.hash;
      s.recent.set(a.result.proposal, a.result);
      a.sub.settle({ ok: true, value: a.result });
    }
    while (s.recent.size > RECENT_MAX) s.recent.delete(s.recent.keys().next().value!);
    const contexts = new Map(applied.accepted.map((a) => [a.result.t, a.sub.ctx]));
    for (const a of applied.accepted)
      this.traceCommit(a, appendStarted, appendEnded, stored.length);
    const subject = subjects.txCommitted(pool);
    for (const e of stored)
      void inSpan(
        `send ${subject}`,
        SpanKind.PRODUCER,
        { ...messagingAttributes(subject, 'send'), 'diagon.t': e.t },
        () => this.publish(e),
        contexts.get(e.t),
      ).catch((err: unknown) =>
        this.o.log?.warn(
          { pool, t: e.t, err: String(err) },
          'publish failed; republished at next start',
        ),
      );
    return { ...s, db: applied.db, headHash: stored[stored.length - 1]!.hash };
  }

  /**
   * A committed transaction's phases as spans under its submission: expand and apply (its
   * own), and the log append it shared with its batch (one statement for all of them).
   */
  private traceCommit(a: Accepted, from: number, to: number, batch: number): void {
    const { ctx } = a.sub;
    if (!isRecorded(ctx) || a.times === null) return;
    const { pool } = this.o;
    const tx = { 'diagon.pool': pool, 'diagon.t': a.result.t };
    const { began, expanded, applied } = a.times;
    recordSpan(`expand ${pool}`, SpanKind.INTERNAL, tx, began, expanded, ctx);
    recordSpan(
      `apply ${pool}`,
      SpanKind.INTERNAL,
      { ...tx, 'diagon.datoms': a.result.datoms },
      expanded,
      applied,
      ctx,
    );
    recordSpan(
      'INSERT tx_log',
      SpanKind.CLIENT,
      {
        ...tx,
        'db.system.name': 'postgresql',
        'db.operation.name': 'INSERT',
        'db.collection.name': 'tx_log',
        'db.operation.batch.size': batch,
      },
      from,
      to,
      ctx,
    );
  }

  /**
   * Applies each submission in turn to the current value. Known proposals (`logged`, recent
   * results) are answered at once and a failed transaction answers its request alone; the
   * rest are log entries, with the submissions still to answer (`pending`) and their
   * proposals.
   */
  private apply(
    s: State,
    batch: readonly Submission[],
    logged: ReadonlyMap<string, TxResult>,
  ): {
    db: Db;
    entries: NewLogEntry[];
    accepted: Accepted[];
    pending: Submission[];
    proposals: string[];
  } {
    const { pool } = this.o;
    let db = s.db;
    const entries: NewLogEntry[] = [];
    const accepted: Accepted[] = [];
    const inBatch = new Map<string, TxResult>();
    for (const sub of batch) {
      try {
        const { cert, proposal } = sub;
        const known = s.recent.get(proposal) ?? logged.get(proposal);
        if (known !== undefined) {
          sub.settle({ ok: true, value: known });
          continue;
        }
        const twin = inBatch.get(proposal);
        if (twin !== undefined) {
          accepted.push({ sub, result: twin, times: null });
          continue;
        }
        const began = performance.now();
        let expanded = began;
        const report = transact(db, cert.proposal.body.txData, undefined, {
          expanded: () => {
            expanded = performance.now();
          },
        });
        const times = { began, expanded, applied: performance.now() };
        const txEid = report.tempids['db/current-tx']!;
        const instant = report.txData.find((d) => d.e === txEid && d.a === SYS.txInstant)!
          .v as Date;
        const entry: NewLogEntry = {
          t: report.dbAfter.basisT,
          txEid,
          maxEid: report.dbAfter.maxEid,
          instant,
          proposal,
          certificate: sub.bytes,
          datoms: encodeTxData(report.txData),
        };
        entries.push(entry);
        db = report.dbAfter;
        const result: TxResult = {
          pool,
          t: entry.t,
          tx: entry.txEid,
          instant: instant.toISOString(),
          hash: '',
          proposal,
          tempids: report.tempids,
          datoms: report.txData.length,
        };
        inBatch.set(proposal, result);
        accepted.push({ sub, result, times });
      } catch (e) {
        sub.settle({
          ok: false,
          error: isDiagonError(e) ? e : new DiagonError('transactor/internal', String(e)),
        });
      }
    }
    return {
      db,
      entries,
      accepted,
      pending: accepted.map((a) => a.sub),
      proposals: [...inBatch.keys()],
    };
  }

  private async logged(proposals: string[]): Promise<Map<string, TxResult>> {
    const entries = await findByProposals(this.o.sql, this.o.pool, proposals);
    return new Map(
      entries.map((e) => [
        e.proposal,
        {
          pool: e.pool,
          t: e.t,
          tx: e.txEid,
          instant: e.instant.toISOString(),
          hash: hex(e.hash)!,
          proposal: e.proposal,
          tempids: {},
          datoms: decodeTxData(e.datoms).length,
        },
      ]),
    );
  }

  private async stepDown(): Promise<void> {
    this.status = 'fenced';
    this.o.log?.warn(
      { pool: this.o.pool },
      'fenced: another transactor moved the basis; stepping down',
    );
    await this.sub?.unsubscribe().catch(() => {});
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.retry !== null) clearTimeout(this.retry);
    await this.sub?.unsubscribe().catch(() => {});
    await this.actor?.stop();
    await this.verifiers?.close();
    if (this.reserved !== null) {
      await this.reserved`select pg_advisory_unlock_all()`.catch(() => {});
      this.reserved.release();
      this.reserved = null;
    }
    this.status = 'stopped';
  }
}
