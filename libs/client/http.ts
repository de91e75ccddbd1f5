/**
 * `DiagonHttp`: the typed client of the auth edge's HTTP API (what the CLI uses). `login`
 * runs the challenge-response handshake and keeps the session token; proposals and votes
 * are signed here, with the member's key, over bytes this client encodes itself (it never
 * signs bytes a server hands it). Every call has a deadline; an expired session is renewed
 * once, transparently. Failures are `DiagonError`s carrying the problem's `code` and
 * `detail`; an edge that cannot be reached says which URL and to start the cluster.
 */
import { base64urlnopad } from '@scure/base';
import type { PoolExport } from '../../services/consensus/verify.js';
import { elaborationHash, type ProposalKind, signProposal, signVote } from '../governance/index.js';
import type { KeyPair } from '../identity/index.js';
import { handshakeSigningBytes } from '../wire/index.js';
import {
  type LogEntryJson,
  type MemberRole,
  POOL_CREATE_SIGNING_KIND,
  type PoolCreateBody,
  type PoolCreated,
  type PoolInfo,
  type PoolPolicyInput,
  type PoolSummary,
  type ProposalDetail,
  type ProposalSummary,
  type ProposeReply,
  poolCreateValue,
  type TrustScore,
  type VoteReply,
  type WatchEvent,
} from './http-api.js';
import {
  answer,
  baseUrl,
  DEFAULT_TIMEOUT_MS,
  failure,
  type HttpOptions,
  type Method,
  queryString,
  refused,
  request,
  send,
} from './http-request.js';
import { readEvents } from './sse.js';

export interface LoginOptions extends HttpOptions {
  pool: string;
  key: KeyPair;
  /** What this session is for (the handshake's elaboration). */
  elaboration?: string;
}

export interface CreatePoolOptions extends HttpOptions {
  /** A voting member named in `members`, who signs the creation. */
  key: KeyPair;
  pool: string;
  members: { did: string; role?: MemberRole }[];
  policy?: PoolPolicyInput;
}

export interface QueryOptions {
  /** EDN vector of the inputs after `$`. */
  args?: string;
  asOf?: number;
  since?: number;
  history?: boolean;
  /** Wait until this t is visible (read your own write). */
  basisT?: number;
}

/** A watch stream silent this long (three heartbeats) is taken for dead and reopened. */
const WATCH_STALL_MS = 45_000;

export class DiagonHttp {
  readonly url: string;
  readonly pool: string;
  readonly did: string;
  #session: string;

  private constructor(
    private readonly o: LoginOptions,
    session: string,
  ) {
    this.url = baseUrl(o.url);
    this.pool = o.pool;
    this.did = o.key.did;
    this.#session = session;
  }

  /** The session token (an EdDSA JWS; renewed when it expires). */
  get session(): string {
    return this.#session;
  }

  /** Logs in to `pool` as `key`: challenge, signature, session. */
  static async login(o: LoginOptions): Promise<DiagonHttp> {
    return new DiagonHttp(o, await handshake(o));
  }

  /** Creates a pool (the edge must allow it: AUTH_ALLOW_POOL_CREATE), signed with `key`. */
  static async createPool(o: CreatePoolOptions): Promise<PoolCreated> {
    const body: PoolCreateBody = {
      pool: o.pool,
      members: o.members.map((m) => ({ did: m.did, role: m.role ?? 'member' })),
      ...(o.policy === undefined ? {} : { policy: o.policy }),
      createdAt: Date.now(),
    };
    const value = poolCreateValue(body);
    const signature = o.key.signValue(POOL_CREATE_SIGNING_KIND, o.pool, value);
    return (await send(o, 'POST', '/v1/pools', {
      body: value,
      signature: base64urlnopad.encode(signature),
    })) as PoolCreated;
  }

  info(): Promise<PoolInfo> {
    return this.call('GET', '') as Promise<PoolInfo>;
  }

  /** The pools this member belongs to. */
  pools(): Promise<PoolSummary[]> {
    return this.authed('GET', '/v1/pools') as Promise<PoolSummary[]>;
  }

  /**
   * Proposes tx-data (EDN; for kind `membership`, a JSON membership change), signed here;
   * `basisT` is the t the proposer saw (default 0).
   */
  propose(txData: string, o: { kind?: ProposalKind; basisT?: number } = {}): Promise<ProposeReply> {
    const sp = signProposal(this.o.key, {
      pool: this.pool,
      kind: o.kind ?? 'knowledge',
      txData,
      basisT: o.basisT ?? 0,
      proposer: this.did,
      createdAt: Date.now(),
    });
    return this.call('POST', '/proposals', {
      body: sp.body,
      signature: base64urlnopad.encode(sp.signature),
    }) as Promise<ProposeReply>;
  }

  /** Proposals by status (`open`, `committed`, …; default all). */
  proposals(o: { status?: string } = {}): Promise<ProposalSummary[]> {
    return this.call('GET', `/proposals${queryString({ status: o.status })}`) as Promise<
      ProposalSummary[]
    >;
  }

  proposal(id: string): Promise<ProposalDetail> {
    return this.call('GET', `/proposals/${encodeURIComponent(id)}`) as Promise<ProposalDetail>;
  }

  /** Votes on a proposal, signed here; `elaboration` says why (its hash is signed). */
  vote(id: string, support: boolean, elaboration: string): Promise<VoteReply> {
    const v = signVote(this.o.key, {
      pool: this.pool,
      proposal: id,
      support,
      elaborationHash: elaborationHash(elaboration),
      voter: this.did,
      at: Date.now(),
    });
    return this.call('POST', `/proposals/${encodeURIComponent(id)}/votes`, {
      body: v.body,
      signature: base64urlnopad.encode(v.signature),
      elaboration,
    }) as Promise<VoteReply>;
  }

  /** A Datalog query (EDN); the result as EDN text. */
  async q(query: string, o: QueryOptions = {}): Promise<string> {
    return ((await this.call('POST', '/q', { query, ...o })) as { edn: string }).edn;
  }

  /** Pull of an entity (`eid`: an id or lookup ref, EDN); the result as EDN text. */
  async pull(
    pattern: string,
    eid: string,
    o: { asOf?: number; basisT?: number } = {},
  ): Promise<string> {
    return ((await this.call('POST', '/pull', { pattern, eid, ...o })) as { edn: string }).edn;
  }

  /** Datoms of an index, `components` an EDN vector of its leading parts; EDN text. */
  async datoms(
    index: 'eavt' | 'aevt' | 'avet' | 'vaet',
    o: { components?: string; asOf?: number; limit?: number; basisT?: number } = {},
  ): Promise<string> {
    return ((await this.call('POST', '/datoms', { index, ...o })) as { edn: string }).edn;
  }

  /** Committed transactions with from < t <= to. */
  log(o: { from?: number; to?: number } = {}): Promise<LogEntryJson[]> {
    return this.call('GET', `/log${queryString(o)}`) as Promise<LogEntryJson[]>;
  }

  trust(): Promise<TrustScore[]> {
    return this.call('GET', '/trust') as Promise<TrustScore[]>;
  }

  /** The whole pool as one document, for `verifyExport` (services/consensus/verify.ts). */
  exportPool(): Promise<PoolExport> {
    return this.call('GET', '/export') as Promise<PoolExport>;
  }

  /**
   * Calls `onEvent` for each committed transaction (`tx`, data: the committed event) and
   * proposal event (`proposal`) until `signal` aborts. A dropped or stalled stream is
   * reopened from the last transaction seen, so none is missed; the first connection's
   * failure rejects. `from`: start with the transactions after that t.
   */
  async watch(
    onEvent: (e: WatchEvent) => void,
    signal: AbortSignal,
    o: { from?: number } = {},
  ): Promise<void> {
    let lastId = o.from === undefined ? undefined : String(o.from);
    let opened = false;
    for (let attempt = 0; !signal.aborted; attempt++) {
      const stall = new AbortController();
      let timer = setTimeout(() => stall.abort(), this.o.timeoutMs ?? DEFAULT_TIMEOUT_MS);
      const alive = () => {
        clearTimeout(timer);
        timer = setTimeout(() => stall.abort(), WATCH_STALL_MS);
      };
      try {
        const res = await this.open(lastId, AbortSignal.any([signal, stall.signal]));
        opened = true;
        attempt = 0;
        alive();
        for await (const e of readEvents(res.body!, alive)) {
          if (e.id !== undefined) lastId = e.id;
          onEvent({ event: e.event, data: parseData(e.data), ...(e.id ? { id: e.id } : {}) });
        }
      } catch (e) {
        if (signal.aborted) return;
        if (!opened || refused(e)) throw e;
      } finally {
        clearTimeout(timer);
      }
      await sleep(Math.min(5000, 200 * 2 ** attempt) * (0.5 + Math.random() / 2), signal);
    }
  }

  /** Opens the event stream (its headers within the deadline). */
  private async open(lastId: string | undefined, signal: AbortSignal): Promise<Response> {
    const headers: Record<string, string> = { accept: 'text/event-stream' };
    if (lastId !== undefined) headers['last-event-id'] = lastId;
    const path = `/v1/pools/${encodeURIComponent(this.pool)}/watch`;
    const go = () =>
      request(this.o, 'GET', path, undefined, { ...headers, ...this.bearer() }, signal);
    let res = await go();
    if (await this.renewed(res)) res = await go();
    if (!res.ok) throw await failure(res);
    return res;
  }

  /** A call under `/v1/pools/{pool}`. */
  private call(method: Method, path: string, body?: unknown): Promise<unknown> {
    return this.authed(method, `/v1/pools/${encodeURIComponent(this.pool)}${path}`, body);
  }

  private async authed(method: Method, path: string, body?: unknown): Promise<unknown> {
    let res = await request(this.o, method, path, body, this.bearer());
    if (await this.renewed(res)) res = await request(this.o, method, path, body, this.bearer());
    return answer(res);
  }

  private bearer(): Record<string, string> {
    return { authorization: `Bearer ${this.#session}` };
  }

  /** After a 401 for an expired session: logs in again; true when the call is worth repeating. */
  private async renewed(res: Response): Promise<boolean> {
    if (res.status !== 401) return false;
    const p = (await res
      .clone()
      .json()
      .catch(() => ({}))) as { code?: string };
    if (p.code !== 'identity/session-expired') return false;
    this.#session = await handshake(this.o);
    return true;
  }
}

/** The handshake: the bytes to sign are computed here, never taken from the server. */
async function handshake(o: LoginOptions): Promise<string> {
  const c = (await send(o, 'POST', '/v1/auth/challenge', { pool: o.pool, did: o.key.did })) as {
    nonce: string;
    serverDid: string;
  };
  const signature = o.key.sign(
    handshakeSigningBytes({
      pool: o.pool,
      nonce: base64urlnopad.decode(c.nonce),
      clientDid: o.key.did,
      serverDid: c.serverDid,
    }),
  );
  const s = (await send(o, 'POST', '/v1/auth/session', {
    nonce: c.nonce,
    did: o.key.did,
    signature: base64urlnopad.encode(signature),
    elaboration: o.elaboration ?? 'diagon http session',
  })) as { session: string };
  return s.session;
}

function parseData(data: string): unknown {
  try {
    return JSON.parse(data);
  } catch {
    return data;
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}
