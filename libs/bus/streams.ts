/**
 * JetStream streams for durable events, declared rather than created: `ensureStream` makes
 * the server's stream match the declaration (add, or update when it differs) and is safe
 * to call from every replica at every start.
 */
import { JetStreamApiError, jetstreamManager } from '@nats-io/jetstream';
import { nanos } from '@nats-io/nats-core';
import { DiagonError } from '../db/errors.js';
import type { Bus } from './bus.js';
import { NatsBus } from './nats-bus.js';

export interface StreamDeclaration {
  /** Letters, digits, '_' and '-'. */
  name: string;
  subjects: string[];
  /** How long messages are kept; omitted or 0 means forever. */
  maxAgeMs?: number;
}

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
