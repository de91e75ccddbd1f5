/**
 * The in-process bus: the single-process embedded mode and unit tests. It keeps NATS's
 * semantics — per-token wildcards, queue groups keyed by subject and queue name, no
 * responders, deadlines, asynchronous delivery — and copies data and headers, so a
 * publisher reusing its buffer never changes what a receiver sees.
 */

import { DiagonError } from '../db/errors.js';
import { inSpan, SpanKind } from '../telemetry/index.js';
import {
  type Bus,
  type BusLogger,
  type BusMessage,
  checkQueue,
  checkSubject,
  checkTimeout,
  DEFAULT_TIMEOUT_MS,
  defaultLogger,
  type Handler,
  Incoming,
  InFlightHandlers,
  messagingAttributes,
  outgoingHeaders,
  type ReplySender,
  type RequestOptions,
  type SubscribeOptions,
  type Subscription,
  unwrapReply,
} from './bus.js';

export interface MemoryBusOptions {
  logger?: BusLogger;
}

interface Member {
  readonly subject: string;
  readonly tokens: readonly string[];
  readonly queue: string | undefined;
  readonly handler: Handler;
  active: boolean;
}

export class MemoryBus implements Bus {
  readonly kind = 'memory' as const;
  readonly #members = new Set<Member>();
  readonly #handlers: InFlightHandlers;
  /** Round-robin position per queue group (subject + queue name). */
  readonly #turns = new Map<string, number>();
  readonly #pending = new Set<(error: DiagonError) => void>();
  #state: 'open' | 'draining' | 'closed' = 'open';
  #draining: Promise<void> | undefined;

  constructor(options: MemoryBusOptions = {}) {
    this.#handlers = new InFlightHandlers(options.logger ?? defaultLogger());
  }

  request(subject: string, data: Uint8Array, opts: RequestOptions = {}): Promise<BusMessage> {
    return inSpan(`send ${subject}`, SpanKind.CLIENT, messagingAttributes(subject, 'send'), () =>
      this.#request(subject, data, opts),
    );
  }

  #request(subject: string, data: Uint8Array, opts: RequestOptions): Promise<BusMessage> {
    try {
      this.#checkNotClosed();
      checkSubject(subject, 'publish');
      const timeoutMs = checkTimeout(opts.timeoutMs ?? DEFAULT_TIMEOUT_MS);
      const headers = outgoingHeaders(opts.headers);
      return new Promise<BusMessage>((resolve, reject) => {
        const settle = (): void => {
          clearTimeout(timer);
          this.#pending.delete(fail);
        };
        const fail = (error: DiagonError): void => {
          settle();
          reject(error);
        };
        const timer = setTimeout(
          () =>
            fail(
              new DiagonError('bus/timeout', `No reply on ${subject} within ${timeoutMs} ms.`, {
                subject,
                timeoutMs,
              }),
            ),
          timeoutMs,
        );
        this.#pending.add(fail);
        const reply: ReplySender = (replyData, replyHeaders) => {
          if (!this.#pending.has(fail)) return false;
          settle();
          const message = { subject, data: replyData.slice(), headers: replyHeaders };
          try {
            resolve(unwrapReply(subject, message));
          } catch (e) {
            reject(e);
          }
          return true;
        };
        const delivered = this.#route(subject, data, headers, reply);
        if (delivered === 0) {
          fail(
            new DiagonError('bus/no-responders', `Nobody serves ${subject}.`, {
              subject,
            }),
          );
        }
      });
    } catch (e) {
      return Promise.reject(e);
    }
  }

  publish(
    subject: string,
    data: Uint8Array,
    opts: { headers?: Record<string, string> } = {},
  ): void {
    this.#checkNotClosed();
    checkSubject(subject, 'publish');
    this.#route(subject, data, outgoingHeaders(opts.headers), undefined);
  }

  subscribe(subject: string, handler: Handler, opts: SubscribeOptions = {}): Subscription {
    this.#checkOpen();
    checkSubject(subject, 'subscribe');
    if (opts.queue !== undefined) checkQueue(opts.queue);
    const member: Member = {
      subject,
      tokens: subject.split('.'),
      queue: opts.queue,
      handler,
      active: true,
    };
    this.#members.add(member);
    return {
      subject,
      unsubscribe: async () => {
        member.active = false;
        this.#members.delete(member);
      },
    };
  }

  async flush(): Promise<void> {}

  drain(): Promise<void> {
    if (this.#state === 'closed') return Promise.resolve();
    this.#draining ??= (async () => {
      this.#state = 'draining';
      // Messages already routed are still delivered, as NATS delivers what it has received.
      this.#members.clear();
      await this.#handlers.idle();
      await this.close();
    })();
    return this.#draining;
  }

  async close(): Promise<void> {
    this.#state = 'closed';
    for (const member of this.#members) member.active = false;
    this.#members.clear();
    const closed = new DiagonError('bus/closed', 'The bus was closed before a reply came.');
    for (const fail of [...this.#pending]) fail(closed);
  }

  /** Delivers a copy to every plain subscriber and one member per queue group; returns how many. */
  #route(
    subject: string,
    data: Uint8Array,
    headers: Record<string, string>,
    reply: ReplySender | undefined,
  ): number {
    const tokens = subject.split('.');
    const targets: Member[] = [];
    const groups = new Map<string, Member[]>();
    for (const member of this.#members) {
      if (!matches(member.tokens, tokens)) continue;
      if (member.queue === undefined) {
        targets.push(member);
        continue;
      }
      const key = `${member.subject} ${member.queue}`;
      const group = groups.get(key);
      if (group) group.push(member);
      else groups.set(key, [member]);
    }
    for (const [key, group] of groups) {
      const turn = this.#turns.get(key) ?? 0;
      this.#turns.set(key, turn + 1);
      targets.push(group[turn % group.length]!);
    }
    for (const member of targets) {
      const message = { subject, data: data.slice(), headers: { ...headers } };
      const delivery = Promise.resolve().then(() => {
        if (member.active) this.#handlers.dispatch(member.handler, new Incoming(message, reply));
      });
      this.#handlers.track(delivery);
    }
    return targets.length;
  }

  /** While draining, handlers still finishing may publish and request; nobody may subscribe. */
  #checkOpen(): void {
    if (this.#state !== 'open') {
      throw new DiagonError(
        'bus/closed',
        `The bus is ${this.#state}; it takes no new subscriptions.`,
      );
    }
  }

  #checkNotClosed(): void {
    if (this.#state === 'closed') throw new DiagonError('bus/closed', 'The bus is closed.');
  }
}

/** NATS matching: `*` matches one token, a final `>` one or more. */
export function matches(pattern: readonly string[], subject: readonly string[]): boolean {
  for (let i = 0; i < pattern.length; i++) {
    if (pattern[i] === '>') return subject.length > i;
    if (i >= subject.length) return false;
    if (pattern[i] !== '*' && pattern[i] !== subject[i]) return false;
  }
  return pattern.length === subject.length;
}
