/**
 * The bus over a real NATS server (nats.js v3). Subjects, wildcards and queue groups are
 * the server's; this file translates messages, headers and errors to the `Bus` contract.
 */

import {
  errors,
  type Msg,
  type MsgHdrs,
  type NatsConnection,
  type Subscription as NatsSubscription,
  headers as natsHeaders,
} from '@nats-io/nats-core';
import { connect } from '@nats-io/transport-node';
import { redactUrl as redact } from '../common/url.js';
import { DiagonError, isDiagonError } from '../db/errors.js';
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

export interface NatsBusOptions {
  /** Default: `NATS_URL`, else `nats://127.0.0.1:4222`. */
  url?: string;
  /** The connection name the server shows (e.g. the service name). */
  name?: string;
  /** Milliseconds to wait for the first connection. Default 5000. */
  timeoutMs?: number;
  logger?: BusLogger;
}

/** Connects, failing fast with 'bus/unreachable'; once up, reconnects forever. */
export async function connectNats(options: NatsBusOptions = {}): Promise<NatsBus> {
  const url = options.url ?? process.env.NATS_URL ?? 'nats://127.0.0.1:4222';
  let connection: NatsConnection;
  try {
    connection = await connect({
      servers: url,
      timeout: checkTimeout(options.timeoutMs ?? DEFAULT_TIMEOUT_MS),
      maxReconnectAttempts: -1,
      ...(options.name === undefined ? {} : { name: options.name }),
    });
  } catch (e) {
    if (isDiagonError(e)) throw e;
    throw new DiagonError(
      'bus/unreachable',
      `Cannot reach NATS at ${redact(url)}: ${(e as Error).message}. Start nats-server (with -js for JetStream) or set NATS_URL.`,
      { url: redact(url), cause: (e as Error).message },
    );
  }
  return new NatsBus(connection, redact(url), options.logger ?? defaultLogger());
}

export class NatsBus implements Bus {
  readonly kind = 'nats' as const;
  /** The raw connection, for JetStream (see streams.ts). */
  readonly connection: NatsConnection;
  readonly url: string;
  readonly #logger: BusLogger;
  readonly #handlers: InFlightHandlers;
  readonly #subscriptions = new Set<NatsSubscription>();
  #draining: Promise<void> | undefined;
  #closing: Promise<void> | undefined;

  constructor(connection: NatsConnection, url: string, logger: BusLogger) {
    this.connection = connection;
    this.url = url;
    this.#logger = logger;
    this.#handlers = new InFlightHandlers(logger);
    void this.#watchStatus();
  }

  request(subject: string, data: Uint8Array, opts: RequestOptions = {}): Promise<BusMessage> {
    return inSpan(`send ${subject}`, SpanKind.CLIENT, messagingAttributes(subject, 'send'), () =>
      this.#request(subject, data, opts),
    );
  }

  async #request(subject: string, data: Uint8Array, opts: RequestOptions): Promise<BusMessage> {
    this.#checkNotClosed();
    checkSubject(subject, 'publish');
    const timeoutMs = checkTimeout(opts.timeoutMs ?? DEFAULT_TIMEOUT_MS);
    const headers = toNatsHeaders(outgoingHeaders(opts.headers));
    let reply: Msg;
    try {
      reply = await this.connection.request(subject, data.slice(), {
        timeout: timeoutMs,
        ...(headers === undefined ? {} : { headers }),
      });
    } catch (e) {
      throw this.#translate(e, subject, timeoutMs);
    }
    return unwrapReply(subject, {
      subject,
      data: reply.data,
      headers: fromNatsHeaders(reply.headers),
    });
  }

  publish(
    subject: string,
    data: Uint8Array,
    opts: { headers?: Record<string, string> } = {},
  ): void {
    this.#checkNotClosed();
    checkSubject(subject, 'publish');
    const headers = toNatsHeaders(outgoingHeaders(opts.headers));
    try {
      // nats.js keeps a reference to the payload until it flushes: copy it.
      this.connection.publish(subject, data.slice(), headers === undefined ? {} : { headers });
    } catch (e) {
      throw this.#translate(e, subject);
    }
  }

  subscribe(subject: string, handler: Handler, opts: SubscribeOptions = {}): Subscription {
    if (this.#draining !== undefined) {
      throw new DiagonError('bus/closed', 'The bus is draining; it takes no new subscriptions.');
    }
    this.#checkNotClosed();
    checkSubject(subject, 'subscribe');
    if (opts.queue !== undefined) checkQueue(opts.queue);
    let subscription: NatsSubscription;
    try {
      subscription = this.connection.subscribe(subject, {
        ...(opts.queue === undefined ? {} : { queue: opts.queue }),
        callback: (err, msg) => {
          if (err) {
            this.#logger.error({ subject, err }, `Subscription to ${subject} failed`);
            return;
          }
          this.#handlers.dispatch(handler, this.#incoming(msg));
        },
      });
    } catch (e) {
      throw this.#translate(e, subject);
    }
    this.#subscriptions.add(subscription);
    return {
      subject,
      unsubscribe: async () => {
        if (!this.#subscriptions.delete(subscription)) return;
        subscription.unsubscribe();
        if (!this.connection.isClosed()) await this.connection.flush().catch(() => {});
      },
    };
  }

  async flush(): Promise<void> {
    this.#checkNotClosed();
    try {
      await this.connection.flush();
    } catch (e) {
      throw this.#translate(e, '(flush)');
    }
  }

  drain(): Promise<void> {
    this.#draining ??= (async () => {
      if (this.connection.isClosed()) return;
      const subscriptions = [...this.#subscriptions];
      this.#subscriptions.clear();
      // Unsubscribe first but keep the connection, so running handlers can still reply.
      await Promise.allSettled(subscriptions.map((s) => s.drain()));
      await this.#handlers.idle();
      if (!this.connection.isClosed() && !this.connection.isDraining()) {
        await this.connection.drain().catch(() => {});
      }
      await this.close();
    })();
    return this.#draining;
  }

  close(): Promise<void> {
    this.#closing ??= (async () => {
      this.#subscriptions.clear();
      if (!this.connection.isClosed()) await this.connection.close();
    })();
    return this.#closing;
  }

  #incoming(msg: Msg): Incoming {
    const send: ReplySender | undefined = msg.reply
      ? (data, headers) => {
          const natsHeaders = toNatsHeaders(headers);
          return msg.respond(
            data.slice(),
            natsHeaders === undefined ? {} : { headers: natsHeaders },
          );
        }
      : undefined;
    return new Incoming(
      { subject: msg.subject, data: msg.data, headers: fromNatsHeaders(msg.headers) },
      send,
    );
  }

  #checkNotClosed(): void {
    if (this.#closing !== undefined || this.connection.isClosed()) {
      throw new DiagonError('bus/closed', `The connection to NATS at ${this.url} is closed.`);
    }
  }

  #translate(e: unknown, subject: string, timeoutMs?: number): DiagonError {
    if (isDiagonError(e)) return e;
    if (e instanceof errors.TimeoutError) {
      return new DiagonError('bus/timeout', `No reply on ${subject} within ${timeoutMs} ms.`, {
        subject,
        timeoutMs,
      });
    }
    if (e instanceof errors.RequestError && e.isNoResponders()) {
      return new DiagonError('bus/no-responders', `Nobody serves ${subject}.`, { subject });
    }
    if (e instanceof errors.InvalidSubjectError) {
      return new DiagonError('bus/bad-subject', `Subject ${JSON.stringify(subject)} is invalid.`, {
        subject,
      });
    }
    const message = (e as Error).message;
    if (this.connection.isClosed() || isClosedError(e)) {
      return new DiagonError('bus/closed', `The connection to NATS at ${this.url} is closed.`, {
        subject,
      });
    }
    return new DiagonError('bus/failed', `NATS refused the operation on ${subject}: ${message}.`, {
      subject,
    });
  }

  /** Connection trouble goes to the log: a service that lost NATS should say so. */
  async #watchStatus(): Promise<void> {
    try {
      await this.#logStatus();
    } catch (e) {
      this.#logger.warn({ url: this.url, err: e }, 'NATS status stream ended');
    }
  }

  async #logStatus(): Promise<void> {
    for await (const status of this.connection.status()) {
      if (status.type === 'disconnect' || status.type === 'reconnect') {
        this.#logger.warn({ url: this.url, server: status.server }, `NATS ${status.type}`);
      } else if (status.type === 'error') {
        this.#logger.warn({ url: this.url, err: status.error }, 'NATS error');
      } else if (status.type === 'slowConsumer') {
        const subject = status.sub.getSubject();
        this.#logger.warn(
          { url: this.url, subject, pending: status.pending },
          'NATS slow consumer',
        );
      }
    }
  }
}

function isClosedError(e: unknown): boolean {
  for (let x = e; x instanceof Error; x = x.cause) {
    if (x instanceof errors.ClosedConnectionError || x instanceof errors.DrainingConnectionError) {
      return true;
    }
    if (x.message === 'connection closed') return true;
  }
  return false;
}

function toNatsHeaders(headers: Record<string, string>): MsgHdrs | undefined {
  const entries = Object.entries(headers);
  if (entries.length === 0) return undefined;
  const h = natsHeaders();
  for (const [name, value] of entries) h.set(name, value);
  return h;
}

function fromNatsHeaders(headers: MsgHdrs | undefined): Record<string, string> {
  const record: Record<string, string> = {};
  if (headers === undefined) return record;
  for (const [name, values] of headers) {
    if (values.length > 0) record[name] = values[0]!;
  }
  return record;
}
