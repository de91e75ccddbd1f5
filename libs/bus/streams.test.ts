import { jetstreamManager } from '@nats-io/jetstream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type TestNats, testNats } from '../../test/support/nats.js';
import type { NatsBus } from './nats-bus.js';
import { consumeDurable, ensureStream, lastMessage, publishDurable } from './streams.js';

let nats: TestNats;
const stream = `TEST_${Math.random().toString(36).slice(2, 10)}`;
let subject: string;
const utf8 = (s: string) => new TextEncoder().encode(s);
const text = (b: Uint8Array) => new TextDecoder().decode(b);

beforeAll(async () => {
  nats = await testNats();
  subject = `${nats.prefix}.events`;
  await ensureStream(nats.bus, { name: stream, subjects: [`${nats.prefix}.>`] });
});
afterAll(async () => {
  const jsm = await jetstreamManager((nats.bus as NatsBus).connection);
  await jsm.streams.delete(stream).catch(() => {});
  await nats.close();
});

describe('durable publishing and consuming', () => {
  it('stores a message id once and finds the last message of a subject', async () => {
    const a = await publishDurable(nats.bus, subject, utf8('one'), { msgId: 'm1' });
    const b = await publishDurable(nats.bus, subject, utf8('one again'), { msgId: 'm1' });
    expect(a.duplicate).toBe(false);
    expect(b).toEqual({ seq: a.seq, duplicate: true });
    await publishDurable(nats.bus, subject, utf8('two'), { msgId: 'm2' });
    const last = await lastMessage(nats.bus, stream, subject);
    expect(text(last!.data)).toBe('two');
    expect(await lastMessage(nats.bus, stream, `${nats.prefix}.nothing`)).toBeNull();
  });

  it('resumes a durable consumer after the last acknowledged message, redelivering a failure', async () => {
    const seen: string[] = [];
    let failOnce = true;
    const c1 = await consumeDurable(
      nats.bus,
      { stream, durable: 'reader', filterSubject: subject, redeliverMs: 100 },
      (m) => {
        if (text(m.data) === 'two' && failOnce) {
          failOnce = false;
          throw new Error('not now');
        }
        seen.push(text(m.data));
      },
    );
    await expect.poll(() => seen).toEqual(['one', 'two']);
    await c1.stop();
    await publishDurable(nats.bus, subject, utf8('three'), { msgId: 'm3' });
    const c2 = await consumeDurable(
      nats.bus,
      { stream, durable: 'reader', filterSubject: subject },
      (m) => {
        seen.push(text(m.data));
      },
    );
    await expect.poll(() => seen).toEqual(['one', 'two', 'three']);
    await c2.stop();
  });
});
