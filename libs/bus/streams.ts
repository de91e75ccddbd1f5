/**
 * JetStream streams for durable events, declared rather than created: `ensureStream` makes
 * the server's stream match the declaration (add, or update when it differs) and is safe
 * to call from every replica at every start.
 */
import {
  AckPolicy,
  DeliverPolicy,
  JetStreamApiError,
  jetstream,
  jetstreamManager,
} from '@nats-io/jetstream';
import { nanos, headers as natsHeaders } from '@nats-io/nats-core';
import { DiagonError } from '../db/errors.js';
import { contextOf, inSpan, SpanKind } from '../telemetry/index.js';
import { type Bus, messagingAttributes, outgoingHeaders } from './bus.js';
import { NatsBus } from './nats-bus.js';
import { ANY, STREAMS, subjects } from './subjects.js';

export interface StreamDeclaration {
  /** Letters, digits, '_' and '-'. */
  name: string;
  subjects: string[];
  /** How long messages are kept; omitted or 0 means forever. */
  maxAgeMs?: number;
}

/** Committed transactions of every pool (the transactor publishes, indexers and peers read). */
export const TX_STREAM: StreamDeclaration = {
  name: STREAMS.tx,
  subjects: [subjects.txCommitted(ANY)],
};

/** Proposal lifecycle events of every pool (consensus publishes). */
export const GOVERNANCE_STREAM: StreamDeclaration = {
  name: STREAMS.governance,
  subjects: [`diagon.pool.${ANY}.proposal.>`],
};

/** JetStream's "stream name already in use with a different configuration". */
const STREAM_NAME_IN_USE = 10058;
const STREAM_NAME = /^[A-Za-z0-9_-]{1,255}$/;

/**
 * Makes the stream exist as declared. True once it does; false on the memory bus, which
 * has no persistence (its events are delivered live only).
 */
export async function ensureStream(bus: Bus, declaration: StreamDeclaration): Promise<boolean> {
  if (!(bus instanceof NatsBus)) return false;
  const { name, subjects } = declaration;
  const maxAgeMs = declaration.maxAgeMs ?? 0;
  if (!STREAM_NAME.test(name)) {
    throw new DiagonError(
      'bus/bad-stream',
      `Stream name ${JSON.stringify(name)} is not allowed: use letters, digits, '_' or '-'.`,
      { name },
    );
  }
  if (subjects.length === 0 || !Number.isInteger(maxAgeMs) || maxAgeMs < 0) {
    throw new DiagonError(
      'bus/bad-stream',
      `Stream ${name} needs at least one subject and a whole, non-negative maxAgeMs.`,
      { name, subjects, maxAgeMs },
    );
  }
  const config = { subjects, max_age: nanos(maxAgeMs) };
  try {
    const jsm = await jetstreamManager(bus.connection, { timeout: 5000 });
    try {
      await jsm.streams.add({ name, ...config });
    } catch (e) {
      if (!(e instanceof JetStreamApiError && e.code === STREAM_NAME_IN_USE)) throw e;
      await jsm.streams.update(name, config);
    }
    return true;
  } catch (e) {
    const message = (e as Error).message;
    throw new DiagonError(
      'bus/stream',
      `Cannot ensure JetStream stream ${name} on ${bus.url}: ${message}. Check that nats-server runs with JetStream (-js).`,
      { name, cause: message },
    );
  }
}

export interface DurablePublishAck {
  /** The message's sequence in the stream (0 on the memory bus). */
  seq: number;
  /** True when the stream had this message id already and dropped the copy. */
  duplicate: boolean;
}

/**
 * Publishes into a JetStream stream with a message id, so a message published twice
 * (a retry, a recovery) is stored once. On the memory bus: a plain publish.
 */
export async function publishDurable(
  bus: Bus,
  subject: string,
  data: Uint8Array,
  opts: { msgId: string; headers?: Record<string, string> },
): Promise<DurablePublishAck> {
  if (!(bus instanceof NatsBus)) {
    bus.publish(subject, data, { headers: outgoingHeaders(opts.headers) });
    return { seq: 0, duplicate: false };
  }
  const h = natsHeaders();
  for (const [k, v] of Object.entries(outgoingHeaders(opts.headers))) h.set(k, v);
  try {
    const ack = await jetstream(bus.connection).publish(subject, data.slice(), {
      msgID: opts.msgId,
      headers: h,
    });
    return { seq: ack.seq, duplicate: ack.duplicate };
  } catch (e) {
    const message = (e as Error).message;
    throw new DiagonError(
      'bus/stream',
      `JetStream did not store ${subject} (${opts.msgId}): ${message}. Is there a stream for this subject?`,
      { subject, cause: message },
    );
  }
}

export interface StoredMessage {
  seq: number;
  subject: string;
  data: Uint8Array;
}

/** The last message on `subject` in `stream`, or null (always null on the memory bus). */
export async function lastMessage(
  bus: Bus,
  stream: string,
  subject: string,
): Promise<StoredMessage | null> {
  if (!(bus instanceof NatsBus)) return null;
  const jsm = await jetstreamManager(bus.connection, { timeout: 5000 });
  try {
    const m = await jsm.streams.getMessage(stream, { last_by_subj: subject });
    return m === null ? null : { seq: m.seq, subject: m.subject, data: m.data };
  } catch (e) {
    if (e instanceof JetStreamApiError && e.code === 10037) return null; // no message found
    throw e;
  }
}

export interface DurableConsumer {
  stop(): Promise<void>;
}

/**
 * Delivers every message of `stream` matching `filterSubject` to `handler`, in order, through
 * a durable consumer named `durable`: after a restart, delivery resumes after the last
 * message the handler finished (acknowledged). A handler that throws gets the message again
 * (after `redeliverMs`). On the memory bus: a live subscription (nothing is durable there).
 */
export async function consumeDurable(
  bus: Bus,
  opts: { stream: string; durable: string; filterSubject: string; redeliverMs?: number },
  handler: (m: StoredMessage) => Promise<void> | void,
): Promise<DurableConsumer> {
  if (!(bus instanceof NatsBus)) {
    const sub = bus.subscribe(opts.filterSubject, (m) =>
      handler({ seq: 0, subject: m.subject, data: m.data }),
    );
    return { stop: () => sub.unsubscribe() };
  }
  const jsm = await jetstreamManager(bus.connection, { timeout: 5000 });
  const config = {
    durable_name: opts.durable,
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.All,
    filter_subject: opts.filterSubject,
    max_ack_pending: 1,
    ack_wait: nanos(opts.redeliverMs ?? 5000),
  };
  try {
    await jsm.consumers.add(opts.stream, config);
  } catch (e) {
    if (!(e instanceof JetStreamApiError)) throw e;
    await jsm.consumers.update(opts.stream, opts.durable, {
      filter_subject: opts.filterSubject,
      max_ack_pending: 1,
      ack_wait: config.ack_wait,
    });
  }
  const consumer = await jetstream(bus.connection).consumers.get(opts.stream, opts.durable);
  const messages = await consumer.consume();
  const done = (async () => {
    for await (const m of messages) {
      try {
        const headers: Record<string, string> = {};
        for (const [k, v] of m.headers ?? []) if (v[0] !== undefined) headers[k] = v[0];
        // A span per stored message, a child of the publisher's (its headers carry it).
        await inSpan(
          `process ${m.subject}`,
          SpanKind.CONSUMER,
          { ...messagingAttributes(m.subject, 'process'), 'messaging.message.id': String(m.seq) },
          () => handler({ seq: m.seq, subject: m.subject, data: m.data }),
          contextOf(headers),
        );
        m.ack();
      } catch {
        m.nak(opts.redeliverMs ?? 1000);
      }
    }
  })();
  return {
    async stop() {
      await messages.close();
      await done;
    },
  };
}
