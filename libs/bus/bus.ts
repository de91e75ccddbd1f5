/**
 * What a bus is, independent of the transport: the message and handle types, the header
 * names Diagon sets, how an error travels in a reply, and how a handler is run (errors
 * caught, in-flight work tracked for `drain`). `NatsBus` and `MemoryBus` share all of it,
 * so the two cannot drift apart in semantics.
 */
import pino from 'pino';
import { DiagonError, isDiagonError } from '../db/errors.js';
import { contextOf, inSpan, messageHeaders, SpanKind } from '../telemetry/index.js';

export const HEADER = {
  did: 'Diagon-Did',
  requestId: 'Diagon-Request-Id',
  pool: 'Diagon-Pool',
  error: 'Diagon-Error',
  traceparent: 'traceparent',
  tracestate: 'tracestate',
} as const;

export interface BusMessage {
  subject: string;
  data: Uint8Array;
  headers: Record<string, string>;
}

export interface IncomingMessage extends BusMessage {
  /**
   * Replies to a request. Returns false, without throwing, when the message was not a
   * request, when it was already answered, or when the bus is closed.
   */
  respond(data: Uint8Array, headers?: Record<string, string>): boolean;
  /** Replies with an error: header Diagon-Error = code, body = UTF-8 JSON {code, message, data?}. */
  respondError(code: string, message: string, data?: unknown): boolean;
}

export interface RequestOptions {
  /** Default 5000. */
  timeoutMs?: number;
  headers?: Record<string, string>;
}

export interface SubscribeOptions {
  /** Members of one queue group on one subject share its messages: each goes to one member. */
  queue?: string;
}

export interface Subscription {
  readonly subject: string;
  unsubscribe(): Promise<void>;
}

export type Handler = (msg: IncomingMessage) => void | Promise<void>;

export interface Bus {
  readonly kind: 'nats' | 'memory';
  /**
   * Request/reply. Resolves with the reply; rejects with DiagonError 'bus/timeout' (deadline
   * passed), 'bus/no-responders' (nobody subscribed), or — when the reply carries
   * Diagon-Error — a DiagonError with the responder's code, message and data.
   */
  request(subject: string, data: Uint8Array, opts?: RequestOptions): Promise<BusMessage>;
  publish(subject: string, data: Uint8Array, opts?: { headers?: Record<string, string> }): void;
  /**
   * Handler errors are caught: a thrown DiagonError becomes respondError(code, message, data)
   * when the message is a request and nothing was sent yet; any other throw becomes
   * respondError('internal', ...) and is logged, never crashes the process. Async handlers
   * run concurrently.
   */
  subscribe(subject: string, handler: Handler, opts?: SubscribeOptions): Subscription;
  /** Waits until subscriptions registered so far are known to the server (NATS flush). */
  flush(): Promise<void>;
  /** Graceful: stop taking messages, finish in-flight handlers, then close. Idempotent. */
  drain(): Promise<void>;
  close(): Promise<void>;
}

/** Where a bus reports handler failures and connection trouble; a pino logger fits. */
export interface BusLogger {
  warn(fields: Record<string, unknown>, message: string): void;
  error(fields: Record<string, unknown>, message: string): void;
}

let fallbackLogger: BusLogger | undefined;

/** The logger used when a bus is given none: pino, JSON lines on stdout. */
export function defaultLogger(): BusLogger {
  fallbackLogger ??= pino({ name: 'diagon-bus' });
  return fallbackLogger;
}

export const DEFAULT_TIMEOUT_MS = 5000;

export function checkTimeout(timeoutMs: number): number {
  if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) {
    throw new DiagonError(
      'bus/bad-timeout',
      `Timeout ${timeoutMs} ms is not allowed: give a positive number of milliseconds.`,
      { timeoutMs },
    );
  }
  return timeoutMs;
}

/**
 * Checks a subject as NATS reads it: dot-separated non-empty tokens without whitespace.
 * Only subscriptions may use wildcards: `*` as a whole token, `>` as the whole last token.
 */
export function checkSubject(subject: string, use: 'publish' | 'subscribe'): void {
  const tokens = subject.split('.');
  const bad = (why: string): never => {
    throw new DiagonError('bus/bad-subject', `Subject ${JSON.stringify(subject)} ${why}.`, {
      subject,
    });
  };
  if (subject.length === 0) bad('is empty');
  if (/\s/.test(subject)) bad('contains whitespace');
  tokens.forEach((token, i) => {
    if (token === '') bad('has an empty token');
    const wildcard = token === '*' || token === '>';
    if (wildcard && use === 'publish') bad('has a wildcard, which only subscriptions may use');
    if (token === '>' && i !== tokens.length - 1) bad("has '>' before its last token");
  });
}

/** A queue group name is one NATS token: no whitespace, no dots, no wildcards. */
export function checkQueue(queue: string): void {
  if (!/^[^\s.*>]+$/.test(queue)) {
    throw new DiagonError(
      'bus/bad-subject',
      `Queue group ${JSON.stringify(queue)} is not allowed: use one token without whitespace, '.', '*' or '>'.`,
      { queue },
    );
  }
}

/** The headers to send: the active trace context, then the caller's (which win). */
export function outgoingHeaders(headers: Record<string, string> = {}): Record<string, string> {
  return copyHeaders({ ...messageHeaders(), ...headers });
}

/** OpenTelemetry's messaging attributes of a NATS operation. */
export function messagingAttributes(subject: string, operation: 'send' | 'process') {
  return {
    'messaging.system': 'nats',
    'messaging.destination.name': subject,
    'messaging.operation.type': operation,
  };
}

/**
 * A validated copy of `headers`, with values trimmed as NATS transmits them. Names are
 * printable ASCII without ':'; values may not contain CR or LF.
 */
export function copyHeaders(headers: Record<string, string> = {}): Record<string, string> {
  const copy: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (!/^[!-9;-~]+$/.test(name)) {
      throw new DiagonError(
        'bus/bad-header',
        `Header name ${JSON.stringify(name)} is not allowed: use printable ASCII without ':' or spaces.`,
        { name },
      );
    }
    if (typeof value !== 'string' || /[\r\n]/.test(value)) {
      throw new DiagonError('bus/bad-header', `Header ${name} must be a string without CR or LF.`, {
        name,
      });
    }
    copy[name] = value.trim();
  }
  return copy;
}

const utf8Encoder = new TextEncoder();
const utf8Decoder = new TextDecoder('utf-8', { fatal: true });

/** UTF-8 JSON bytes of `value`. */
export function jsonData(value: unknown): Uint8Array {
  let text: string | undefined;
  try {
    text = JSON.stringify(value);
  } catch (e) {
    throw new DiagonError('bus/malformed', `Cannot encode as JSON: ${(e as Error).message}.`);
  }
  if (text === undefined) {
    throw new DiagonError('bus/malformed', `Cannot encode ${typeof value} as JSON.`);
  }
  return utf8Encoder.encode(text);
}

/**
 * Decodes a message body as UTF-8 JSON; with `check` (e.g. a zod schema's `parse`), also
 * validates it, so bad input fails here at the edge with 'bus/malformed'.
 */
export function parseJson(msg: Pick<BusMessage, 'subject' | 'data'>): unknown;
export function parseJson<T>(
  msg: Pick<BusMessage, 'subject' | 'data'>,
  check: (x: unknown) => T,
): T;
export function parseJson<T>(
  msg: Pick<BusMessage, 'subject' | 'data'>,
  check?: (x: unknown) => T,
): unknown {
  let value: unknown;
  try {
    value = JSON.parse(utf8Decoder.decode(msg.data));
  } catch (e) {
    throw new DiagonError(
      'bus/malformed',
      `Message on ${msg.subject} is not UTF-8 JSON: ${(e as Error).message}.`,
      { subject: msg.subject },
    );
  }
  if (check === undefined) return value;
  try {
    return check(value);
  } catch (e) {
    if (isDiagonError(e)) throw e;
    throw new DiagonError(
      'bus/malformed',
      `Message on ${msg.subject} has the wrong shape: ${(e as Error).message}`,
      { subject: msg.subject },
    );
  }
}

/** Error replies: header Diagon-Error = code, body = JSON {code, message, data?}. */
export function errorReply(
  code: string,
  message: string,
  data?: unknown,
): { data: Uint8Array; headers: Record<string, string> } {
  let body: Uint8Array;
  try {
    body = jsonData(data === undefined ? { code, message } : { code, message, data });
  } catch {
    body = jsonData({ code, message });
  }
  return { data: body, headers: { [HEADER.error]: code } };
}

/** Returns the reply, or throws the DiagonError it carries. */
export function unwrapReply(subject: string, reply: BusMessage): BusMessage {
  const code = reply.headers[HEADER.error];
  if (code === undefined) return reply;
  let body: { message?: unknown; data?: unknown } = {};
  try {
    body = parseJson(reply) as typeof body;
  } catch {
    // A malformed body still carries its code in the header; keep that.
  }
  const message =
    typeof body.message === 'string' ? body.message : `Request on ${subject} failed with ${code}.`;
  throw new DiagonError(code, message, errorData(body.data));
}

/** DiagonError data is a record: a non-record payload travels under `value`. */
function errorData(data: unknown): Record<string, unknown> {
  if (data === undefined || data === null) return {};
  if (typeof data === 'object' && !Array.isArray(data)) return data as Record<string, unknown>;
  return { value: data };
}

/** Sends a reply; false when it could not be sent. Given by the transport. */
export type ReplySender = (data: Uint8Array, headers: Record<string, string>) => boolean;

/** The one IncomingMessage implementation: a request may be answered once. */
export class Incoming implements IncomingMessage {
  readonly subject: string;
  readonly data: Uint8Array;
  readonly headers: Record<string, string>;
  readonly isRequest: boolean;
  #send: ReplySender | undefined;

  constructor(message: BusMessage, send: ReplySender | undefined) {
    this.subject = message.subject;
    this.data = message.data;
    this.headers = message.headers;
    this.isRequest = send !== undefined;
    this.#send = send;
  }

  /** True while the message is a request nobody has answered yet. */
  get awaitsReply(): boolean {
    return this.#send !== undefined;
  }

  respond(data: Uint8Array, headers?: Record<string, string>): boolean {
    const send = this.#send;
    if (send === undefined) return false;
    const copied = copyHeaders(headers);
    this.#send = undefined;
    try {
      return send(data, copied);
    } catch {
      return false;
    }
  }

  respondError(code: string, message: string, data?: unknown): boolean {
    const reply = errorReply(code, message, data);
    return this.respond(reply.data, reply.headers);
  }
}

/**
 * Runs handlers with their errors caught and keeps the promises of those still running,
 * so `drain` can wait for them.
 */
export class InFlightHandlers {
  readonly #running = new Set<Promise<void>>();
  readonly #logger: BusLogger;

  constructor(logger: BusLogger) {
    this.#logger = logger;
  }

  /**
   * Calls `handler` now, in a span whose parent is the trace context the message carries;
   * a returned promise is tracked until it settles.
   */
  dispatch(handler: Handler, msg: Incoming): void {
    let result: void | Promise<void>;
    try {
      result = inSpan(
        `process ${msg.subject}`,
        msg.isRequest ? SpanKind.SERVER : SpanKind.CONSUMER,
        messagingAttributes(msg.subject, 'process'),
        () => handler(msg),
        contextOf(msg.headers),
      );
    } catch (e) {
      this.#fail(msg, e);
      return;
    }
    if (result instanceof Promise) this.track(result.catch((e: unknown) => this.#fail(msg, e)));
  }

  /** Keeps `work` (which must not reject) until it settles. */
  track(work: Promise<void>): void {
    this.#running.add(work);
    void work.finally(() => this.#running.delete(work));
  }

  /** Resolves once nothing tracked is running, including work started meanwhile. */
  async idle(): Promise<void> {
    while (this.#running.size > 0) await Promise.allSettled([...this.#running]);
  }

  #fail(msg: Incoming, e: unknown): void {
    const answerable = msg.awaitsReply;
    if (isDiagonError(e) && answerable) {
      msg.respondError(e.code, e.message, e.data);
      return;
    }
    const error = e instanceof Error ? e : new Error(String(e));
    const replied = msg.isRequest && !answerable;
    this.#logger.error(
      { subject: msg.subject, err: error, request: msg.isRequest, replied },
      `Handler for ${msg.subject} failed`,
    );
    if (answerable) {
      msg.respondError('internal', `Handler for ${msg.subject} failed: ${error.message}`);
    }
  }
}
