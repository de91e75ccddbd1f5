/**
 * The client SDK: `connect` performs the handshake with the auth edge over TCP and returns
 * a `Client` whose calls are requests with ids, each with a deadline. When the connection
 * drops, the client reconnects with exponential backoff (and jitter), authenticates again
 * and re-subscribes; calls in flight at the drop fail with `client/disconnected` rather
 * than being resent, since a proposal must not be made twice behind the caller's back.
 */
import { EventEmitter } from 'node:events';
import { type Socket, connect as tcpConnect } from 'node:net';
import { DiagonError } from '../db/errors.js';
import { elaborationHash, type ProposalKind, signProposal, signVote } from '../governance/index.js';
import type { KeyPair } from '../identity/index.js';
import {
  encodeMessage,
  handshakeSigningBytes,
  type Message,
  MessageDecoder,
} from '../wire/index.js';

export interface ClientOptions {
  host?: string;
  port: number;
  pool: string;
  key: KeyPair;
  /** What this client connects for (the Elaborate message). */
  elaboration?: string;
  /** Default deadline of every call, in ms (10 000). */
  timeoutMs?: number;
  /** Reconnect after a drop (default true). */
  reconnect?: boolean;
  /** Backoff bounds in ms (100 … 5000). */
  backoff?: { initialMs?: number; maxMs?: number };
  maxFrameSize?: number;
}

export interface CallOptions {
  timeoutMs?: number;
  traceparent?: string;
}

type Request = Extract<
  Message,
  { type: 'propose' | 'vote' | 'query' | 'pull' | 'subscribe' | 'ping' }
>;
type RequestBody<T extends Request['type']> = Omit<Extract<Request, { type: T }>, 'type' | 'id'>;

interface Pending {
  resolve(value: string): void;
  reject(e: Error): void;
  timer: NodeJS.Timeout;
}

interface Sub {
  topic: string;
  onEvent: (value: string, seq: number) => void;
  id: number;
}

/** Opens a connection and authenticates; rejects with the server's reason when refused. */
export async function connect(opts: ClientOptions): Promise<Client> {
  const client = new Client(opts);
  await client.open();
  return client;
}

export class Client extends EventEmitter {
  private socket: Socket | null = null;
  private decoder: MessageDecoder;
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private readonly subs = new Map<number, Sub>();
  private closing = false;
  private attempt = 0;
  /** The current session token (renewed on every reconnect). */
  session = '';
  serverDid = '';

  constructor(private readonly opts: ClientOptions) {
    super();
    this.decoder = new MessageDecoder({ maxFrameSize: opts.maxFrameSize });
  }

  get did(): string {
    return this.opts.key.did;
  }

  get connected(): boolean {
    return this.socket !== null && !this.socket.destroyed && this.session !== '';
  }

  /** @internal Connects and authenticates once. */
  async open(): Promise<void> {
    const o = this.opts;
    const socket = await new Promise<Socket>((resolve, reject) => {
      const s = tcpConnect({ host: o.host ?? '127.0.0.1', port: o.port });
      s.once('connect', () => resolve(s));
      s.once('error', (e) =>
        reject(
          new DiagonError(
            'client/unreachable',
            `cannot reach Diagon at ${o.host ?? '127.0.0.1'}:${o.port}: ${(e as NodeJS.ErrnoException).code ?? e.message}; is the cluster up (diagon up)?`,
          ),
        ),
      );
    });
    socket.setNoDelay(true);
    this.decoder = new MessageDecoder({ maxFrameSize: o.maxFrameSize });
    const inbox: Message[] = [];
    let wake: (() => void) | null = null;
    let failure: Error | null = null;
    const onData = (chunk: Buffer) => {
      for (const d of this.decoder.push(chunk)) {
        if (d.ok) inbox.push(d.value);
        else failure = new DiagonError(`wire/${d.error.code}`, d.error.message);
      }
      wake?.();
    };
    const onEnd = () => {
      failure ??= new DiagonError(
        'client/disconnected',
        'the server closed the connection during the handshake',
      );
      wake?.();
    };
    socket.on('data', onData);
    socket.on('close', onEnd);
    socket.on('error', () => {});
    const deadline = Date.now() + (o.timeoutMs ?? 10_000);
    const next = async (): Promise<Message> => {
      for (;;) {
        const m = inbox.shift();
        if (m !== undefined) {
          if (m.type === 'rejected')
            throw new DiagonError(`auth/${m.code}`, `authentication refused: ${m.reason}`);
          return m;
        }
        if (failure !== null) throw failure;
        const left = deadline - Date.now();
        if (left <= 0)
          throw new DiagonError('client/timeout', 'the handshake did not finish in time');
        await new Promise<void>((r) => {
          wake = r;
          setTimeout(r, left).unref();
        });
        wake = null;
      }
    };
    const send = (m: Message) => socket.write(encodeMessage(m, { maxFrameSize: o.maxFrameSize }));
    try {
      send({ type: 'connect', did: o.key.did, publicKey: o.key.publicKey, pool: o.pool });
      const challenge = await next();
      if (challenge.type !== 'challenge')
        throw new DiagonError('client/protocol', `expected a challenge, got ${challenge.type}`);
      const signature = o.key.sign(
        handshakeSigningBytes({
          pool: o.pool,
          nonce: challenge.nonce,
          clientDid: o.key.did,
          serverDid: challenge.serverDid,
        }),
      );
      send({ type: 'response', signature });
      send({ type: 'elaborate', text: o.elaboration ?? 'diagon client session' });
      const done = await next();
      if (done.type !== 'authenticated')
        throw new DiagonError('client/protocol', `expected authenticated, got ${done.type}`);
      this.serverDid = challenge.serverDid;
      this.session = done.session;
    } catch (e) {
      socket.destroy();
      throw e;
    } finally {
      socket.off('data', onData);
      socket.off('close', onEnd);
    }
    this.socket = socket;
    this.attempt = 0;
    for (const m of inbox) this.dispatch(m);
    socket.on('data', (chunk) => {
      for (const d of this.decoder.push(chunk)) {
        if (d.ok) this.dispatch(d.value);
        else this.emit('protocolError', d.error);
      }
    });
    socket.on('close', () => this.dropped());
  }

  private dispatch(m: Message): void {
    switch (m.type) {
      case 'reply':
      case 'pong':
      case 'error': {
        const p = m.id === undefined ? undefined : this.pending.get(m.id);
        if (p === undefined) {
          if (m.type === 'error') this.emit('serverError', m);
          return;
        }
        this.pending.delete(m.id!);
        clearTimeout(p.timer);
        if (m.type === 'error') p.reject(new DiagonError(m.code, m.message));
        else p.resolve(m.type === 'reply' ? m.value : '');
        return;
      }
      case 'event':
        this.subs.get(m.id)?.onEvent(m.value, m.seq);
        return;
      case 'ping':
        this.write({ type: 'pong', id: m.id });
        return;
      case 'shutdown':
        this.emit('shutdown', m.reason);
        return;
      default:
        this.emit('protocolError', { code: 'unexpected', message: `unexpected ${m.type}` });
    }
  }

  private write(m: Message): void {
    this.socket?.write(encodeMessage(m, { maxFrameSize: this.opts.maxFrameSize }));
  }

  private dropped(): void {
    this.socket = null;
    this.session = '';
    for (const [id, p] of this.pending) {
      clearTimeout(p.timer);
      p.reject(
        new DiagonError(
          'client/disconnected',
          `the connection dropped before request ${id} was answered`,
        ),
      );
    }
    this.pending.clear();
    if (this.closing || this.opts.reconnect === false) {
      this.emit('close');
      return;
    }
    this.emit('disconnected');
    void this.reconnect();
  }

  private async reconnect(): Promise<void> {
    const initial = this.opts.backoff?.initialMs ?? 100;
    const max = this.opts.backoff?.maxMs ?? 5000;
    while (!this.closing) {
      const wait = Math.min(max, initial * 2 ** this.attempt++) * (0.5 + Math.random() / 2);
      await new Promise((r) => setTimeout(r, wait));
      if (this.closing) return;
      try {
        await this.open();
        const old = [...this.subs.values()];
        this.subs.clear();
        for (const s of old) {
          await this.subscribe(s.topic, s.onEvent).catch((e: unknown) =>
            this.emit('resubscribeFailed', s.topic, e),
          );
        }
        this.emit('reconnected');
        return;
      } catch (e) {
        this.emit('reconnectFailed', e);
      }
    }
  }

  /** Sends a request and resolves with the reply's EDN text. */
  request<T extends Request['type']>(
    type: T,
    body: RequestBody<T>,
    o: CallOptions = {},
  ): Promise<string> {
    if (!this.connected)
      return Promise.reject(new DiagonError('client/disconnected', 'not connected; reconnecting'));
    const id = this.nextId++;
    if (this.nextId > 0xffff_ffff) this.nextId = 1;
    const timeoutMs = o.timeoutMs ?? this.opts.timeoutMs ?? 10_000;
    return new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(
          new DiagonError('client/timeout', `${type} ${id} got no answer within ${timeoutMs} ms`),
        );
      }, timeoutMs);
      timer.unref();
      this.pending.set(id, { resolve, reject, timer });
      const trace = o.traceparent === undefined ? {} : { traceparent: o.traceparent };
      this.write({ type, id, ...trace, ...body } as Message);
    });
  }

  /**
   * Proposes tx-data (or, for kind `membership`, a JSON membership change), signed with this
   * client's key; the reply is `{:id "<proposal CID>" :status …}`.
   */
  propose(
    txData: string,
    o: CallOptions & { kind?: ProposalKind; basisT?: number } = {},
  ): Promise<string> {
    const kind = o.kind ?? 'knowledge';
    const basisT = o.basisT ?? 0;
    const createdAt = Date.now();
    const { signature } = signProposal(this.opts.key, {
      pool: this.opts.pool,
      kind,
      txData,
      basisT,
      proposer: this.opts.key.did,
      createdAt,
    });
    return this.request('propose', { txData, kind, basisT, createdAt, signature }, o);
  }

  /** Votes yes or no on a proposal (its CID), with the reasons; signed with this client's key. */
  vote(proposal: string, support: boolean, elaboration = '', o?: CallOptions): Promise<string> {
    const at = Date.now();
    const { signature } = signVote(this.opts.key, {
      pool: this.opts.pool,
      proposal,
      support,
      elaborationHash: elaborationHash(elaboration),
      voter: this.opts.key.did,
      at,
    });
    return this.request(
      'vote',
      { proposal, vote: support ? 'yes' : 'no', signature, elaboration, at },
      o,
    );
  }

  q(query: string, args?: string, o: CallOptions & { asOf?: number } = {}): Promise<string> {
    return this.request('query', { query, args, asOf: o.asOf }, o);
  }

  pull(pattern: string, eid: string, o: CallOptions & { asOf?: number } = {}): Promise<string> {
    return this.request('pull', { pattern, eid, asOf: o.asOf }, o);
  }

  /** Round-trip time of a ping, in ms. */
  async ping(o?: CallOptions): Promise<number> {
    const t0 = performance.now();
    await this.request('ping', {}, o);
    return performance.now() - t0;
  }

  /** Subscribes to a topic (`tx`, `proposals`, `index`); events arrive in order. */
  async subscribe(
    topic: string,
    onEvent: (value: string, seq: number) => void,
    o?: CallOptions,
  ): Promise<void> {
    // The subscription keeps the request's id; registered first, so no early event is lost.
    const id = this.nextId;
    this.subs.set(id, { topic, onEvent, id });
    try {
      await this.request('subscribe', { topic }, o);
    } catch (e) {
      this.subs.delete(id);
      throw e;
    }
  }

  /** Says goodbye and closes; no reconnect. */
  async close(): Promise<void> {
    this.closing = true;
    const s = this.socket;
    if (s === null || s.destroyed) return;
    this.write({ type: 'shutdown', reason: 'client closing' });
    await new Promise<void>((r) => {
      s.once('close', () => r());
      s.end();
      setTimeout(() => {
        s.destroy();
        r();
      }, 1000).unref();
    });
  }
}
