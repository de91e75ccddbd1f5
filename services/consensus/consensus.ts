/**
 * The consensus service: proposals, signed votes, quorum, and the certificate that is the
 * only thing the transactor accepts.
 *
 * Stateless replicas in one queue group (`diagon-consensus`); all state is in Postgres. A
 * vote is counted inside a transaction that locks its proposal's row, so the replica whose
 * vote reaches quorum is the only one that marks the proposal approved, and only it submits
 * the certificate (the transactor is idempotent by proposal besides). A sweeper expires
 * proposals past their TTL and resubmits approved ones a crashed replica left behind.
 *
 * Requests (JSON; bytes as base64):
 *   propose  {proposal: encoded SignedProposal}        → {id, status, voters, expiresAt}
 *   vote     {vote: encoded SignedVote, elaboration}    → {id, status, yes, no}
 *   proposals {status?}                                 → [{id, kind, status, …}]
 *   trust    {}                                         → [{did, trust}]
 *   tlog     {kind: checkpoint|key|inclusion|consistency|leaves, …} (key → {logKey: DID})
 */
import {
  ANY,
  type Bus,
  ensureStream,
  GOVERNANCE_STREAM,
  HEADER,
  type IncomingMessage,
  jsonData,
  parseJson,
  publishDurable,
  type Subscription,
  subjects,
} from '../../libs/bus/index.js';
import { DiagonError, isDiagonError, parseEdn } from '../../libs/db/index.js';
import {
  decodeSignedProposal,
  decodeSignedVote,
  elaborationHash,
  encodeCertificate,
  encodeSignedProposal,
  encodeSignedVote,
  makeCertificate,
  type Policy,
  PROPOSAL_KINDS,
  parsePolicy,
  quorumOutOfReach,
  quorumReached,
} from '../../libs/governance/index.js';
import { type KeyPair, parseDid } from '../../libs/identity/index.js';
import {
  addMember,
  expireProposals,
  getPool,
  getPoolWithMembers,
  getProposal,
  insertProposal,
  insertVote,
  listProposals,
  listVotes,
  logMembership,
  type PoolRecord,
  type ProposalRecord,
  removeMember,
  type Sql,
  type TxSql,
  updateProposal,
  upsertPool,
} from '../../libs/storage/index.js';
import type { ConsensusMetrics } from './metrics.js';
import {
  appendLeaf,
  checkpointIn,
  latestCheckpoint,
  leaves,
  proveConsistency,
  proveInclusion,
} from './tlog-store.js';
import { Trust, type TrustOptions } from './trust.js';

/** The JetStream stream of proposal events of every pool. */

export interface ConsensusOptions {
  sql: Sql;
  bus: Bus;
  /** Signs each pool's log checkpoints. */
  logKey: KeyPair;
  /** Proposal time-to-live unless the pool's policy says otherwise (default 24 h). */
  ttlMs?: number;
  sweepEveryMs?: number;
  /** An approved proposal with no outcome after this long is resubmitted (default 30 s). */
  resubmitAfterMs?: number;
  submitTimeoutMs?: number;
  trust?: Partial<TrustOptions>;
  /** Where proposals, votes, decisions and quorum times are counted (metrics.ts). */
  metrics?: ConsensusMetrics;
  log?: { info(o: object, msg: string): void; warn(o: object, msg: string): void };
}

/** A pool's governance policy: the commit rule plus TTL and the minimum trust to propose. */
export interface PoolPolicy {
  rule: Policy;
  ttlMs: number;
  minTrust: number | null;
}

const b64 = (b: Uint8Array) => Buffer.from(b).toString('base64');
const unb64 = (s: unknown, what: string): Uint8Array => {
  if (typeof s !== 'string' || s.length > 1 << 20)
    throw new DiagonError('consensus/bad-request', `${what} must be a base64 string`);
  return new Uint8Array(Buffer.from(s, 'base64'));
};

export class Consensus {
  private subs: Subscription[] = [];
  private timer: NodeJS.Timeout | null = null;
  readonly trust: Trust;
  private readonly o: Required<Omit<ConsensusOptions, 'log' | 'trust' | 'metrics'>> &
    Pick<ConsensusOptions, 'log' | 'metrics'>;

  constructor(opts: ConsensusOptions) {
    this.o = {
      ttlMs: 24 * 3600_000,
      sweepEveryMs: 1000,
      resubmitAfterMs: 30_000,
      submitTimeoutMs: 10_000,
      ...opts,
    };
    this.trust = new Trust(opts.sql, opts.trust);
  }

  async start(): Promise<void> {
    const { bus } = this.o;
    await ensureStream(bus, GOVERNANCE_STREAM);
    const serve = (subject: string, f: (pool: string, m: IncomingMessage) => Promise<unknown>) =>
      this.subs.push(
        bus.subscribe(
          subject,
          async (m) => {
            const pool = m.subject.split('.')[2]!;
            m.respond(jsonData(await f(pool, m)));
          },
          { queue: 'diagon-consensus' },
        ),
      );
    // Refusals are counted here by error code; what was accepted, where it is known.
    const refused =
      (counter: 'proposals' | 'votes', f: (pool: string, m: IncomingMessage) => Promise<unknown>) =>
      (pool: string, m: IncomingMessage) =>
        f(pool, m).catch((e: unknown) => {
          const reason = isDiagonError(e) ? e.code : 'internal';
          if (counter === 'proposals')
            this.o.metrics?.proposals.inc({ pool, result: 'refused', kind: '', reason });
          else this.o.metrics?.votes.inc({ pool, result: 'refused', reason });
          throw e;
        });
    serve(
      subjects.propose(ANY),
      refused('proposals', (pool, m) => this.propose(pool, m)),
    );
    serve(
      subjects.vote(ANY),
      refused('votes', (pool, m) => this.vote(pool, m)),
    );
    serve(subjects.proposals(ANY), (pool, m) => this.proposals(pool, m));
    serve(subjects.trust(ANY), (pool) => this.trust.scores(pool));
    serve(subjects.tlog(ANY), (pool, m) => this.tlog(pool, m));
    await bus.flush();
    this.timer = setInterval(
      () =>
        void this.sweep().catch((e: unknown) =>
          this.o.log?.warn({ err: String(e) }, 'sweep failed'),
        ),
      this.o.sweepEveryMs,
    );
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer !== null) clearInterval(this.timer);
    for (const s of this.subs) await s.unsubscribe().catch(() => {});
    this.subs = [];
    while (this.pending.size > 0) await Promise.all([...this.pending]);
  }

  /** The pool's policy from `pools.policy`. */
  async policy(pool: string): Promise<PoolPolicy> {
    return this.policyOf(pool, await getPool(this.o.sql, pool));
  }

  private policyOf(pool: string, row: PoolRecord | undefined): PoolPolicy {
    if (row === undefined)
      throw new DiagonError('consensus/no-pool', `pool ${pool} does not exist`);
    const { ttlMs, minTrust, ...rule } = row.policy as Record<string, unknown>;
    return {
      rule: parsePolicy(rule),
      ttlMs: typeof ttlMs === 'number' && ttlMs > 0 ? ttlMs : this.o.ttlMs,
      minTrust: typeof minTrust === 'number' ? minTrust : null,
    };
  }

  private async propose(pool: string, m: IncomingMessage): Promise<unknown> {
    const { proposal } = parseJson(m) as { proposal?: unknown };
    const sp = decodeSignedProposal(unb64(proposal, 'proposal'));
    const { body } = sp;
    if (body.pool !== pool)
      throw new DiagonError(
        'governance/wrong-pool',
        `the proposal is for pool ${body.pool}, sent to ${pool}`,
      );
    const sender = m.headers[HEADER.did];
    if (sender !== undefined && sender !== body.proposer)
      throw new DiagonError(
        'consensus/wrong-sender',
        `${sender} cannot propose on behalf of ${body.proposer}`,
      );
    checkTxData(body.kind, body.txData);
    const found = await getPoolWithMembers(this.o.sql, pool);
    const policy = this.policyOf(pool, found?.pool);
    const members = found!.members.filter((x) => x.role === 'member').map((x) => x.did);
    if (!members.includes(body.proposer))
      throw new DiagonError(
        'consensus/not-a-member',
        `${body.proposer} is not a voting member of ${pool}`,
      );
    if (policy.minTrust !== null) {
      const t = await this.trust.of(pool, body.proposer);
      if (t < policy.minTrust)
        throw new DiagonError(
          'consensus/low-trust',
          `${body.proposer} has trust ${t.toFixed(3)}, below the ${policy.minTrust} needed to propose`,
        );
    }
    // The voter set is frozen now: later membership changes do not move this proposal's quorum.
    const voters = policy.rule.proposerVotes ? members : members.filter((d) => d !== body.proposer);
    const signed = encodeSignedProposal(sp);
    const opening = {
      pool,
      id: sp.id,
      kind: body.kind,
      proposer: body.proposer,
      signed,
      voters: [...voters].sort(),
      policy: { ...policy.rule, ttlMs: policy.ttlMs },
      expiresAt: new Date(Date.now() + policy.ttlMs),
    };
    // The three statements go out together (postgres.js pipelines a transaction's queries
    // in call order): one round trip instead of three. A failed insert aborts the rest.
    const record = await this.o.sql.begin(async (tx) => {
      const [r, , counted] = await Promise.all([
        insertProposal(tx, opening),
        appendLeaf(tx, pool, 'proposal', sp.id, { proposal: signed }),
        this.tally(
          tx,
          {
            ...opening,
            status: 'open',
            yes: 0,
            no: 0,
            openedAt: new Date(),
            decidedAt: null,
            outcome: null,
          },
          policy.rule.proposerVotes ? 1 : 0,
          0,
        ),
      ]);
      return { r, counted: { ...counted, rec: { ...r, ...counted.rec, openedAt: r.openedAt } } };
    });
    const { r: opened, counted } = record;
    this.o.metrics?.proposals.inc({ pool, result: 'opened', kind: body.kind, reason: '' });
    this.background(() =>
      this.announce(pool, 'opened', {
        id: sp.id,
        kind: body.kind,
        proposer: body.proposer,
        voters: opened.voters,
        expiresAt: opened.expiresAt.toISOString(),
      }),
    );
    const decided = await this.decided(counted);
    return {
      id: sp.id,
      status: decided.status,
      voters: opened.voters,
      expiresAt: opened.expiresAt.toISOString(),
    };
  }

  private async vote(pool: string, m: IncomingMessage): Promise<unknown> {
    const req = parseJson(m) as { vote?: unknown; elaboration?: unknown };
    const v = decodeSignedVote(unb64(req.vote, 'vote'));
    const elaboration = typeof req.elaboration === 'string' ? req.elaboration : '';
    const { body } = v;
    if (body.pool !== pool)
      throw new DiagonError(
        'governance/wrong-pool',
        `the vote is for pool ${body.pool}, sent to ${pool}`,
      );
    const sender = m.headers[HEADER.did];
    if (sender !== undefined && sender !== body.voter)
      throw new DiagonError(
        'consensus/wrong-sender',
        `${sender} cannot vote on behalf of ${body.voter}`,
      );
    if (elaborationHash(elaboration) !== body.elaborationHash)
      throw new DiagonError(
        'consensus/elaboration-mismatch',
        'the elaboration is not the text the vote signed',
      );
    const counted = await this.o.sql.begin(async (tx) => {
      const p = await getProposal(tx, pool, body.proposal, true);
      if (p === undefined)
        throw new DiagonError('consensus/no-proposal', `no proposal ${body.proposal} in ${pool}`);
      if (p.status !== 'open' || p.expiresAt.getTime() <= Date.now())
        throw new DiagonError(
          p.status === 'open' || p.status === 'expired' ? 'consensus/expired' : 'consensus/closed',
          `proposal ${p.id} is ${p.status === 'open' ? 'expired' : p.status}; votes are closed`,
        );
      const rule = parsePolicy({
        threshold: p.policy.threshold,
        proposerVotes: p.policy.proposerVotes,
      });
      if (body.voter === p.proposer && !rule.proposerVotes)
        throw new DiagonError(
          'governance/self-vote',
          'the policy of this pool refuses votes on your own proposal',
        );
      if (body.voter === p.proposer)
        throw new DiagonError(
          'consensus/duplicate-vote',
          'your proposal already counts as your yes vote',
        );
      if (!p.voters.includes(body.voter))
        throw new DiagonError(
          'consensus/not-a-voter',
          `${body.voter} is not in the voter set frozen when ${p.id} opened`,
        );
      const signed = encodeSignedVote(v);
      // Pipelined, as in propose: the vote, its leaf and the new tally in one round trip.
      const [, , counted] = await Promise.all([
        insertVote(tx, {
          pool,
          proposal: p.id,
          voter: body.voter,
          support: body.support,
          signed,
          elaboration,
        }),
        appendLeaf(tx, pool, 'vote', `${p.id}/${body.voter}`, { vote: signed }),
        this.tally(tx, p, p.yes + (body.support ? 1 : 0), p.no + (body.support ? 0 : 1)),
      ]);
      return counted;
    });
    this.o.metrics?.votes.inc({ pool, result: body.support ? 'yes' : 'no', reason: '' });
    const decided = await this.decided(counted);
    return { id: body.proposal, status: decided.status, yes: decided.yes, no: decided.no };
  }

  /**
   * Decides a proposal from its tally, under its row lock (inside the caller's transaction,
   * so a vote and the decision it brings commit together). `p` is the locked row as it was
   * before this vote; its `yes` and `no` are the tally so far (the proposer's own yes
   * included), so counting needs no read of the votes.
   */
  private async tally(
    tx: TxSql,
    p: ProposalRecord,
    yes: number,
    no: number,
  ): Promise<{ rec: ProposalRecord; approvedHere: boolean }> {
    if (p.status !== 'open') return { rec: p, approvedHere: false };
    const rule = parsePolicy({
      threshold: p.policy.threshold,
      proposerVotes: p.policy.proposerVotes,
    });
    const n = p.voters.length;
    let status: ProposalRecord['status'] = 'open';
    if (quorumReached(yes, n, rule.threshold)) status = 'approved';
    else if (quorumOutOfReach(no, n, rule.threshold)) status = 'rejected';
    await updateProposal(tx, p.pool, p.id, { status, yes, no });
    return { rec: { ...p, status, yes, no }, approvedHere: status === 'approved' };
  }

  /** What follows a count: the replica that approved a proposal carries it out. */
  private async decided(c: {
    rec: ProposalRecord;
    approvedHere: boolean;
  }): Promise<ProposalRecord> {
    const { rec } = c;
    if (c.approvedHere)
      this.o.metrics?.quorumSeconds.observe(
        { pool: rec.pool },
        (Date.now() - rec.openedAt.getTime()) / 1000,
      );
    if (rec.status === 'rejected' && rec.decidedAt === null) {
      this.o.metrics?.decisions.inc({ pool: rec.pool, outcome: 'rejected' });
      this.background(async () => {
        await this.trust.settle(
          rec.pool,
          rec,
          await listVotes(this.o.sql, rec.pool, rec.id),
          false,
        );
        await this.announce(rec.pool, 'rejected', { id: rec.id, yes: rec.yes, no: rec.no });
      });
    }
    return c.approvedHere ? this.execute(rec) : rec;
  }

  /** Work that need not hold up an answer (its failure is logged). */
  private background(f: () => Promise<unknown>): void {
    const p: Promise<void> = f().then(
      () => {},
      (e: unknown) => this.o.log?.warn({ err: String(e) }, 'background work failed'),
    );
    this.pending.add(p);
    void p.finally(() => this.pending.delete(p));
  }

  /** Background work in flight (stop waits for it). */
  private readonly pending = new Set<Promise<void>>();

  /** Carries out an approved proposal: a certificate to the transactor, or a membership change. */
  private async execute(p: ProposalRecord): Promise<ProposalRecord> {
    const { sql, bus, pool } = { ...this.o, pool: p.pool };
    const votes = await listVotes(sql, pool, p.id);
    const sp = decodeSignedProposal(p.signed);
    const cert = makeCertificate(
      sp,
      p.voters,
      votes.map((v) => decodeSignedVote(v.signed)),
    );
    const certBytes = encodeCertificate(cert);
    let outcome: Record<string, unknown>;
    let status: 'committed' | 'failed';
    const started = performance.now();
    try {
      if (p.kind === 'membership') {
        outcome = await this.changeMembership(pool, sp.body.txData);
      } else {
        const reply = await bus.request(subjects.txSubmit(pool), certBytes, {
          timeoutMs: this.o.submitTimeoutMs,
        });
        outcome = parseJson(reply) as Record<string, unknown>;
      }
      status = 'committed';
    } catch (e) {
      outcome = isDiagonError(e)
        ? { code: e.code, message: e.message }
        : { code: 'internal', message: String(e) };
      status = 'failed';
      // Unreachable transactor: stay approved, the sweeper resubmits (idempotent by proposal).
      if (
        isDiagonError(e) &&
        (e.code === 'bus/timeout' ||
          e.code === 'bus/no-responders' ||
          e.code === 'transactor/unavailable')
      ) {
        this.o.log?.warn(
          { pool, id: p.id, err: e.message },
          'transactor unavailable; will resubmit',
        );
        return p;
      }
    }
    this.o.metrics?.commitSeconds.observe({ pool }, (performance.now() - started) / 1000);
    this.o.metrics?.decisions.inc({ pool, outcome: status });
    // One transaction, pipelined: the outcome, its leaves, the checkpoint over them and the
    // trust they earn commit together (one fsync), and the governance log's head is held
    // for two round trips. Holding that head also orders the pool's trust updates.
    const record = async () => {
      let remember = () => {};
      await sql.begin((tx) =>
        Promise.all([
          updateProposal(tx, pool, p.id, { status, outcome }),
          appendLeaf(tx, pool, 'certificate', p.id, { certificate: certBytes }),
          status === 'committed'
            ? appendLeaf(tx, pool, 'commit', p.id, {
                proposal: p.id,
                t: Number(outcome.t ?? 0),
                hash: typeof outcome.hash === 'string' ? outcome.hash : '',
              })
            : Promise.resolve(0),
          checkpointIn(tx, pool, this.o.logKey).then((c) => {
            remember = c.remember;
          }),
          this.trust.settle(pool, p, votes, status === 'committed', tx),
        ]),
      );
      remember();
    };
    // The transactor's log is the truth once it answered: recording the outcome need not
    // hold up the answer (after a crash the sweeper resubmits, and the transactor answers
    // with the first result). A membership change is recorded first: it is not in that log.
    if (p.kind === 'membership') await record();
    this.background(async () => {
      if (p.kind !== 'membership') await record();
      await this.announce(pool, status, { id: p.id, ...outcome });
    });
    return { ...p, status, outcome };
  }

  /** A membership proposal's tx-data: `{:add [{:did "…" :role :member}] :remove ["did…"] :policy {…}}`. */
  private async changeMembership(pool: string, txData: string): Promise<Record<string, unknown>> {
    const change = membershipChange(txData);
    await this.o.sql.begin(async (tx) => {
      for (const a of change.add) {
        await addMember(tx, pool, { did: a.did, publicKey: parseDid(a.did), role: a.role });
        await logMembership(tx, pool, a.did, 'added', a.role);
      }
      for (const d of change.remove) {
        await removeMember(tx, pool, d);
        await logMembership(tx, pool, d, 'removed', null);
      }
      if (change.policy !== null) {
        const row = await getPool(tx, pool);
        await upsertPool(tx, pool, { ...(row?.policy ?? {}), ...change.policy });
      }
    });
    return { added: change.add.map((a) => a.did), removed: change.remove, policy: change.policy };
  }

  /** Publishes a proposal event (not awaited by the decision: the stream dedupes retries). */
  private announce(pool: string, event: string, body: Record<string, unknown>): Promise<void> {
    const sent = publishDurable(
      this.o.bus,
      subjects.proposal(pool, event),
      jsonData({ pool, event, ...body }),
      {
        msgId: `${pool}:${String(body.id)}:${event}`,
      },
    ).then(
      () => {},
      (e: unknown) => this.o.log?.warn({ pool, event, err: String(e) }, 'announce failed'),
    );
    return Promise.resolve(void sent);
  }

  /** Expires proposals past their TTL; resubmits approved ones left without an outcome. */
  async sweep(): Promise<void> {
    const { sql } = this.o;
    for (const p of await expireProposals(sql)) {
      this.o.metrics?.decisions.inc({ pool: p.pool, outcome: 'expired' });
      this.background(async () => {
        await this.trust.settle(p.pool, p, await listVotes(sql, p.pool, p.id), false);
        await this.announce(p.pool, 'expired', { id: p.id });
      });
    }
    const stale = await sql<{ pool: string; id: string }[]>`
      select pool, id from proposals
      where status = 'approved' and outcome is null
        and decided_at < now() - ${`${this.o.resubmitAfterMs} milliseconds`}::interval`;
    for (const s of stale) {
      const p = await getProposal(sql, s.pool, s.id);
      if (p !== undefined) await this.execute(p);
    }
  }

  private async proposals(pool: string, m: IncomingMessage): Promise<unknown> {
    const { status } = parseJson(m) as { status?: ProposalRecord['status'] };
    return (await listProposals(this.o.sql, pool, status)).map((p) => ({
      id: p.id,
      kind: p.kind,
      proposer: p.proposer,
      status: p.status,
      yes: p.yes,
      no: p.no,
      voters: p.voters,
      openedAt: p.openedAt.toISOString(),
      expiresAt: p.expiresAt.toISOString(),
      outcome: p.outcome,
    }));
  }

  private async tlog(pool: string, m: IncomingMessage): Promise<unknown> {
    const r = parseJson(m) as {
      kind?: string;
      index?: number;
      size?: number;
      from?: number;
      to?: number;
    };
    const { sql } = this.o;
    const int = (x: unknown, what: string) => {
      if (!Number.isSafeInteger(x) || (x as number) < 0)
        throw new DiagonError('consensus/bad-request', `${what} must be a whole number`);
      return x as number;
    };
    switch (r.kind) {
      case 'checkpoint':
        return { checkpoint: await latestCheckpoint(sql, pool) };
      case 'key':
        return { logKey: this.o.logKey.did };
      case 'inclusion':
        return {
          proof: (await proveInclusion(sql, pool, int(r.index, 'index'), int(r.size, 'size'))).map(
            b64,
          ),
        };
      case 'consistency':
        return {
          proof: (await proveConsistency(sql, pool, int(r.from, 'from'), int(r.to, 'to'))).map(b64),
        };
      case 'leaves':
        return (await leaves(sql, pool, r.from ?? 0)).map((l) => ({
          idx: l.idx,
          kind: l.kind,
          ref: l.ref,
          leaf: b64(l.leaf),
        }));
      default:
        throw new DiagonError(
          'consensus/bad-request',
          'kind must be checkpoint, key, inclusion, consistency or leaves',
        );
    }
  }
}

/** Refuses tx-data the proposal's kind cannot carry, before anyone votes on it. */
function checkTxData(kind: string, txData: string): void {
  if (!(PROPOSAL_KINDS as readonly string[]).includes(kind))
    throw new DiagonError(
      'consensus/bad-kind',
      `kind ${kind} is not one of ${PROPOSAL_KINDS.join(', ')}`,
    );
  if (kind === 'membership') {
    membershipChange(txData);
    return;
  }
  let forms: unknown;
  try {
    forms = parseEdn(txData);
  } catch (e) {
    throw new DiagonError(
      'consensus/bad-tx-data',
      `the tx-data is not EDN: ${(e as Error).message}`,
    );
  }
  if (!Array.isArray(forms))
    throw new DiagonError(
      'consensus/bad-tx-data',
      'tx-data is an EDN vector of operations and entity maps',
    );
  if (kind === 'prune') {
    const retracting = (f: unknown) =>
      Array.isArray(f) && /^:?db(\.fn)?\/retract(Entity)?$/.test(String(f[0]));
    if (!forms.every(retracting))
      throw new DiagonError(
        'consensus/bad-tx-data',
        'a prune proposal only retracts ([:db/retract …] or [:db/retractEntity …])',
      );
  }
}

interface MembershipChange {
  add: { did: string; role: 'member' | 'observer' }[];
  remove: string[];
  policy: Record<string, unknown> | null;
}

/** The membership change a proposal's tx-data describes (JSON or EDN-as-JSON shape). */
export function membershipChange(txData: string): MembershipChange {
  let v: unknown;
  try {
    v = JSON.parse(txData);
  } catch {
    throw new DiagonError(
      'consensus/bad-tx-data',
      'a membership proposal carries JSON: {"add": [{"did", "role"}], "remove": [did], "policy": {…}}',
    );
  }
  const o = v as { add?: unknown; remove?: unknown; policy?: unknown };
  const add = Array.isArray(o.add) ? o.add : [];
  const remove = Array.isArray(o.remove) ? o.remove : [];
  const out: MembershipChange = { add: [], remove: [], policy: null };
  for (const a of add as { did?: unknown; role?: unknown }[]) {
    if (typeof a?.did !== 'string')
      throw new DiagonError('consensus/bad-tx-data', 'each added member needs a did');
    parseDid(a.did);
    out.add.push({ did: a.did, role: a.role === 'observer' ? 'observer' : 'member' });
  }
  for (const d of remove) {
    if (typeof d !== 'string') throw new DiagonError('consensus/bad-tx-data', 'remove lists DIDs');
    out.remove.push(d);
  }
  if (o.policy !== undefined) {
    if (o.policy === null || typeof o.policy !== 'object')
      throw new DiagonError('consensus/bad-tx-data', 'policy is an object');
    const { ttlMs, minTrust, ...rule } = o.policy as Record<string, unknown>;
    parsePolicy(rule);
    out.policy = {
      ...rule,
      ...(ttlMs === undefined ? {} : { ttlMs }),
      ...(minTrust === undefined ? {} : { minTrust }),
    };
  }
  if (out.add.length + out.remove.length === 0 && out.policy === null)
    throw new DiagonError('consensus/bad-tx-data', 'the membership proposal changes nothing');
  return out;
}
