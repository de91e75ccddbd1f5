/**
 * One TCP connection: an actor (libs/actor) that owns the connection's state and takes
 * decoded frames, timer ticks and relay completions from its bounded mailbox, one at a
 * time. The socket's data handler only decodes; a peer that floods faster than the actor
 * keeps up fills the mailbox and is dropped.
 *
 *     awaiting-connect ─Connect→ awaiting-response ─Response→ awaiting-elaboration
 *        ─Elaborate→ ready (requests relayed to NATS) ─Shutdown/close→ closed
 *
 * Anything out of order, a framing error or a malformed message ends the connection with
 * Rejected (before authentication) or Error (after), then close. Timers: the handshake must
 * finish within the challenge timeout, a started frame must finish within the frame
 * timeout, and an authenticated peer is pinged when idle and dropped when silent.
 */
import { randomBytes } from 'node:crypto';
import type { Socket } from 'node:net';
import { type Actor, MailboxFull, spawn } from '../../libs/actor/index.js';
import type { Bus, Subscription } from '../../libs/bus/index.js';
import { type DiagonError, isDiagonError } from '../../libs/db/errors.js';
import { issueSessionToken, type KeyPair } from '../../libs/identity/index.js';
import type { Sql } from '../../libs/storage/index.js';
import {
  type Decoded,
  encodeMessage,
  type Message,
  MessageDecoder,
  NONCE_BYTES,
  type RejectCode,
} from '../../libs/wire/index.js';
import type { AuthConfig } from './config.js';
import { checkConnect, checkElaboration, checkResponse } from './handshake.js';
import type { AuthMetrics } from './metrics.js';
import type { TokenBuckets } from './rate-limit.js';
import { relay, relayTarget, replyText, subscriptionSubject } from './relay.js';

export interface ConnectionDeps {
  config: AuthConfig;
  sql: Sql;
  bus: Bus;
  key: KeyPair;
  metrics: AuthMetrics;
  ipBuckets: TokenBuckets;
  didBuckets: TokenBuckets;
  log: { info(o: object, msg: string): void; warn(o: object, msg: string): void };
}

type Phase =
  | { name: 'awaiting-connect' }
  | {
      name: 'awaiting-response';
      did: string;
      publicKey: Uint8Array;
      pool: string;
      nonce: Uint8Array;
    }
  | { name: 'awaiting-elaboration'; did: string; pool: string; role: string }
  | { name: 'ready'; did: string; pool: string; session: string }
  | { name: 'closed' };

interface State {
  phase: Phase;
  subscriptions: Map<number, Subscription>;
  inFlight: Map<number, Promise<void>>;
  lastHeard: number;
  lastPing: number;
  pingId: number;
}

type Input =
  | { t: 'decoded'; d: Decoded<Message> }
  | { t: 'tick' }
  | { t: 'done'; id: number }
  | { t: 'shutdown'; reason: string };

const TICK_MS = 250;

export class Connection {
  readonly id = randomBytes(6).toString('hex');
  readonly remote: string;
  readonly actor: Actor<State, Input>;
  private readonly decoder: MessageDecoder;
  private readonly opened = performance.now();
  private frameStarted: number | null = null;
  private readonly timer: NodeJS.Timeout;
  private ended = false;
  readonly closed: Promise<void>;
  private resolveClosed!: () => void;

  constructor(
    private readonly socket: Socket,
    private readonly deps: ConnectionDeps,
  ) {
    this.remote = socket.remoteAddress ?? 'unknown';
    this.closed = new Promise((r) => {
      this.resolveClosed = r;
    });
    this.decoder = new MessageDecoder({ maxFrameSize: deps.config.maxFrameBytes });
    socket.setNoDelay(true);
    this.actor = spawn<State, Input>(
      {
        init: () => ({
          phase: { name: 'awaiting-connect' },
          subscriptions: new Map(),
          inFlight: new Map(),
          lastHeard: performance.now(),
          lastPing: performance.now(),
          pingId: 0,
        }),
        receive: (s, m) => this.receive(s, m),
      },
      { name: `conn-${this.id}`, mailbox: 256 },
    );
    void this.actor.exit.then((exit) => {
      if (exit.reason === 'crashed') {
        deps.log.warn({ conn: this.id, err: String(exit.error) }, 'connection actor crashed');
        this.destroy();
      }
    });
    socket.on('data', (chunk) => this.onData(chunk));
    socket.on('error', () => this.destroy());
    socket.on('close', () => this.destroy());
    this.timer = setInterval(() => this.post({ t: 'tick' }), TICK_MS);
    this.timer.unref();
  }

  /** Asks the connection to close after requests in flight finish. */
  shutdown(reason: string): void {
    this.post({ t: 'shutdown', reason });
  }

  get mailboxDepth(): number {
    return this.actor.status === 'stopped' ? 0 : this.pending;
  }
  private pending = 0;

  private post(m: Input): void {
    if (this.ended) return;
    try {
      this.actor.tryTell(m);
      this.pending++;
    } catch (e) {
      if (e instanceof MailboxFull) {
        this.deps.metrics.protocolErrors.inc({ code: 'overloaded' });
        this.send({ type: 'error', code: 'overloaded', message: 'too many messages at once' });
        this.destroy();
      }
    }
  }

  private onData(chunk: Buffer): void {
    for (const d of this.decoder.push(chunk)) this.post({ t: 'decoded', d });
    this.frameStarted =
      this.decoder.bufferedBytes > 0 ? (this.frameStarted ?? performance.now()) : null;
  }

  private send(m: Message): void {
    if (this.ended || this.socket.destroyed) return;
    this.socket.write(encodeMessage(m, { maxFrameSize: this.deps.config.maxFrameBytes }));
    // A peer that does not read its replies is not allowed to make us buffer them.
    if (this.socket.writableLength > 4 * this.deps.config.maxFrameBytes) {
      this.deps.metrics.protocolErrors.inc({ code: 'slow-consumer' });
      this.destroy();
    }
  }

  /** Sends a last message, then closes once it is written. */
  private finish(last: Message | null): void {
    if (this.ended) return;
    if (last !== null) this.send(last);
    this.ended = true;
    this.socket.end();
    setTimeout(() => this.socket.destroy(), 1000).unref();
    this.cleanup();
  }

  private destroy(): void {
    this.ended = true;
    if (!this.socket.destroyed) this.socket.destroy();
    this.cleanup();
  }

  private cleaned = false;
  private cleanup(): void {
    if (this.cleaned) return;
    this.cleaned = true;
    clearInterval(this.timer);
    const s = this.actor.state;
    for (const sub of s?.subscriptions.values() ?? []) void sub.unsubscribe().catch(() => {});
    void this.actor.stop().finally(() => this.resolveClosed());
  }

  private reject(code: RejectCode, reason: string, transport = 'tcp'): void {
    this.deps.metrics.handshakes.inc({ transport, result: 'rejected', reason: code });
    this.deps.log.info({ conn: this.id, remote: this.remote, code, reason }, 'handshake rejected');
    this.finish({ type: 'rejected', code, reason });
  }

  private async receive(s: State, m: Input): Promise<State> {
    this.pending = Math.max(0, this.pending - 1);
    if (s.phase.name === 'closed' || this.ended) return s;
    const now = performance.now();
    switch (m.t) {
      case 'tick':
        return this.tick(s, now);
      case 'done':
        s.inFlight.delete(m.id);
        return s;
      case 'shutdown':
        await this.drain(s);
        this.finish({ type: 'shutdown', reason: m.reason });
        return { ...s, phase: { name: 'closed' } };
    }
    s.lastHeard = now;
    if (!m.d.ok) {
      const e = m.d.error;
      this.deps.metrics.protocolErrors.inc({ code: e.code });
      if (s.phase.name === 'ready')
        this.finish({ type: 'error', code: e.code, message: e.message });
      else
        this.reject(
          e.code === 'unsupported-version' ? 'unsupported-version' : 'protocol-error',
          e.message,
        );
      return { ...s, phase: { name: 'closed' } };
    }
    return this.handle(s, m.d.value);
  }

  private tick(s: State, now: number): State {
    const c = this.deps.config;
    if (this.frameStarted !== null && now - this.frameStarted > c.frameTimeoutMs) {
      this.deps.metrics.protocolErrors.inc({ code: 'frame-timeout' });
      this.finish({
        type: 'error',
        code: 'frame-timeout',
        message: 'a frame was started and not finished',
      });
      return { ...s, phase: { name: 'closed' } };
    }
    if (s.phase.name !== 'ready') {
      if (now - this.opened > c.challengeTimeoutMs) {
        this.reject(
          'challenge-expired',
          `the handshake did not finish within ${c.challengeTimeoutMs} ms`,
        );
        return { ...s, phase: { name: 'closed' } };
      }
      return s;
    }
    if (now - s.lastHeard > c.idleTimeoutMs) {
      this.finish({
        type: 'error',
        code: 'idle',
        message: `nothing heard for ${c.idleTimeoutMs} ms`,
      });
      return { ...s, phase: { name: 'closed' } };
    }
    if (now - s.lastHeard > c.pingIntervalMs && now - s.lastPing > c.pingIntervalMs) {
      s.lastPing = now;
      this.send({ type: 'ping', id: ++s.pingId });
    }
    return s;
  }

  private async handle(s: State, msg: Message): Promise<State> {
    const p = s.phase;
    const c = this.deps.config;
    if (msg.type === 'shutdown') {
      await this.drain(s);
      this.finish(null);
      return { ...s, phase: { name: 'closed' } };
    }
    if (msg.type === 'pong') return s;
    if (p.name === 'awaiting-connect' && msg.type === 'connect') {
      if (!this.deps.ipBuckets.take(this.remote)) {
        this.deps.metrics.rateLimited.inc({ limit: 'ip' });
        this.reject('rate-limited', 'too many handshakes from this address; retry later');
        return { ...s, phase: { name: 'closed' } };
      }
      const v = checkConnect(msg.did, msg.publicKey, msg.pool);
      if (!v.ok) {
        this.reject(v.code, v.reason);
        return { ...s, phase: { name: 'closed' } };
      }
      const nonce = new Uint8Array(randomBytes(NONCE_BYTES));
      this.send({ type: 'challenge', nonce, serverDid: this.deps.key.did });
      return {
        ...s,
        phase: {
          name: 'awaiting-response',
          did: msg.did,
          publicKey: msg.publicKey,
          pool: msg.pool,
          nonce,
        },
      };
    }
    if (msg.type === 'response' && (p.name === 'awaiting-elaboration' || p.name === 'ready')) {
      this.reject('replayed', 'this challenge was answered already');
      return { ...s, phase: { name: 'closed' } };
    }
    if (p.name === 'awaiting-response' && msg.type === 'response') {
      // The nonce is spent by this attempt whatever its outcome: a failed Response closes
      // the connection, a successful one moves past this phase for good.
      const transcript = {
        pool: p.pool,
        nonce: p.nonce,
        clientDid: p.did,
        serverDid: this.deps.key.did,
      };
      let v: Awaited<ReturnType<typeof checkResponse>>;
      try {
        v = await checkResponse(this.deps.sql, transcript, p.publicKey, msg.signature);
      } catch (e) {
        this.deps.log.warn({ conn: this.id, err: String(e) }, 'membership lookup failed');
        this.reject('unavailable', 'membership cannot be checked right now; retry later');
        return { ...s, phase: { name: 'closed' } };
      }
      if (!v.ok) {
        this.reject(v.code, v.reason);
        return { ...s, phase: { name: 'closed' } };
      }
      return {
        ...s,
        phase: { name: 'awaiting-elaboration', did: p.did, pool: p.pool, role: v.value.role },
      };
    }
    if (p.name === 'awaiting-elaboration' && msg.type === 'elaborate') {
      const v = checkElaboration(msg.text, c.minElaboration);
      if (!v.ok) {
        this.reject(v.code, v.reason);
        return { ...s, phase: { name: 'closed' } };
      }
      const session = issueSessionToken(this.deps.key, {
        pool: p.pool,
        did: p.did,
        role: p.role,
        ttlSeconds: c.sessionTtlS,
      });
      this.send({ type: 'authenticated', session });
      this.deps.metrics.handshakes.inc({ transport: 'tcp', result: 'authenticated', reason: '' });
      this.deps.log.info({ conn: this.id, did: p.did, pool: p.pool }, 'authenticated');
      return { ...s, phase: { name: 'ready', did: p.did, pool: p.pool, session } };
    }
    if (p.name === 'ready') return this.request(s, p, msg);
    this.deps.metrics.protocolErrors.inc({ code: 'out-of-order' });
    this.reject('protocol-error', `${msg.type} is not expected ${p.name.replace('-', ' ')}`);
    return { ...s, phase: { name: 'closed' } };
  }

  private request(s: State, p: Extract<Phase, { name: 'ready' }>, msg: Message): State {
    if (msg.type === 'ping') {
      this.send({ type: 'pong', id: msg.id });
      return s;
    }
    if (
      !('id' in msg) ||
      typeof msg.id !== 'number' ||
      msg.type === 'reply' ||
      msg.type === 'event' ||
      msg.type === 'error'
    ) {
      this.deps.metrics.protocolErrors.inc({ code: 'out-of-order' });
      this.finish({
        type: 'error',
        code: 'protocol-error',
        message: `a client does not send ${msg.type}`,
      });
      return { ...s, phase: { name: 'closed' } };
    }
    const id = msg.id;
    const fail = (code: string, message: string) => this.send({ type: 'error', id, code, message });
    if (!this.deps.didBuckets.take(p.did)) {
      this.deps.metrics.rateLimited.inc({ limit: 'did' });
      fail('rate-limited', 'too many requests from this member; slow down');
      return s;
    }
    if (s.inFlight.has(id) || s.subscriptions.has(id)) {
      fail('duplicate-id', `request id ${id} is in use`);
      return s;
    }
    if (s.inFlight.size >= this.deps.config.maxInFlight) {
      fail(
        'too-many-in-flight',
        `at most ${this.deps.config.maxInFlight} requests may be in flight`,
      );
      return s;
    }
    if (msg.type === 'subscribe') {
      const subject = subscriptionSubject(p.pool, msg.topic);
      if (subject === null) {
        fail('unknown-topic', `no topic ${JSON.stringify(msg.topic)}: use tx, proposals or index`);
        return s;
      }
      let seq = 0;
      const sub = this.deps.bus.subscribe(subject, (m) => {
        this.send({ type: 'event', id, seq: seq++, value: new TextDecoder().decode(m.data) });
      });
      s.subscriptions.set(id, sub);
      this.send({ type: 'reply', id, value: `{:subscribed ${JSON.stringify(msg.topic)}}` });
      return s;
    }
    let target: ReturnType<typeof relayTarget>;
    try {
      target = relayTarget(p.pool, p.did, msg);
    } catch (e) {
      fail(isDiagonError(e) ? e.code : 'protocol-error', (e as Error).message);
      return s;
    }
    if (target === null) {
      fail('protocol-error', `${msg.type} cannot be relayed`);
      return s;
    }
    const type = msg.type;
    const origin = {
      did: p.did,
      pool: p.pool,
      requestId: `${this.id}.${id}`,
      traceparent: 'traceparent' in msg ? msg.traceparent : undefined,
      tracestate: 'tracestate' in msg ? msg.tracestate : undefined,
    };
    const done = relay(this.deps, type, target, origin)
      .then(
        (reply) => this.send({ type: 'reply', id, value: replyText(type, reply) }),
        (e: DiagonError) => fail(e.code, e.message),
      )
      .finally(() => this.post({ t: 'done', id }));
    s.inFlight.set(id, done);
    return s;
  }

  /** Waits for requests in flight (bounded by the drain timeout). */
  private async drain(s: State): Promise<void> {
    for (const sub of s.subscriptions.values()) await sub.unsubscribe().catch(() => {});
    s.subscriptions.clear();
    if (s.inFlight.size === 0) return;
    await Promise.race([
      Promise.allSettled([...s.inFlight.values()]),
      new Promise((r) => setTimeout(r, this.deps.config.drainTimeoutMs).unref()),
    ]);
  }
}
