import { jetstreamManager } from '@nats-io/jetstream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { randomPool, TEST_NATS_URL, testNats } from '../../test/support/nats.js';
import { DiagonError, isDiagonError } from '../db/errors.js';
import {
  type Bus,
  type BusLogger,
  HEADER,
  type IncomingMessage,
  jsonData,
  parseJson,
} from './bus.js';
import { MemoryBus, matches } from './memory-bus.js';
import { connectNats } from './nats-bus.js';
import { ensureStream } from './streams.js';
import { ANY, subjects } from './subjects.js';

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const bytes = (s: string) => encoder.encode(s);
const text = (m: { data: Uint8Array }) => decoder.decode(m.data);
const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

class RecordingLogger implements BusLogger {
  readonly entries: { level: string; fields: Record<string, unknown>; message: string }[] = [];
  warn(fields: Record<string, unknown>, message: string): void {
    this.entries.push({ level: 'warn', fields, message });
  }
  error(fields: Record<string, unknown>, message: string): void {
    this.entries.push({ level: 'error', fields, message });
  }
}

/** The error a promise rejects with (fails the test when it resolves). */
async function rejection(promise: Promise<unknown>): Promise<DiagonError> {
  try {
    await promise;
  } catch (e) {
    if (isDiagonError(e)) return e;
    throw e;
  }
  throw new Error('expected a rejection');
}

async function until(condition: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not reached in time');
    await delay(5);
  }
}

/**
 * `bus` serves; `peer` asks. On NATS they are two connections, as a service and its client
 * would be; in memory they are one bus.
 */
interface Setup {
  bus: Bus;
  peer: Bus;
  prefix: string;
  logger: RecordingLogger;
  close(): Promise<void>;
}

const transports: { name: string; open: () => Promise<Setup> }[] = [
  {
    name: 'memory',
    open: async () => {
      const logger = new RecordingLogger();
      const bus = new MemoryBus({ logger });
      return { bus, peer: bus, prefix: 'test.memory', logger, close: () => bus.close() };
    },
  },
  {
    name: 'nats',
    open: async () => {
      const logger = new RecordingLogger();
      const server = await testNats({ name: 'bus-test-server', logger });
      const client = await testNats({ name: 'bus-test-client', logger });
      return {
        bus: server.bus,
        peer: client.bus,
        prefix: server.prefix,
        logger,
        close: async () => {
          await Promise.all([server.close(), client.close()]);
        },
      };
    },
  },
];

describe.each(transports)('Bus contract on $name', ({ open }) => {
  let s: Setup;
  beforeEach(async () => {
    s = await open();
  });
  afterEach(async () => {
    await s.close();
  });

  async function serve(subject: string, handler: (msg: IncomingMessage) => unknown) {
    const sub = s.bus.subscribe(subject, handler as (msg: IncomingMessage) => void);
    await s.bus.flush();
    return sub;
  }

  it('answers a request', async () => {
    await serve(`${s.prefix}.upper`, (m) => m.respond(bytes(text(m).toUpperCase())));
    const reply = await s.peer.request(`${s.prefix}.upper`, bytes('hello'));
    expect(text(reply)).toBe('HELLO');
  });

  it('carries headers both ways', async () => {
    await serve(`${s.prefix}.echo`, (m) =>
      m.respond(m.data, { ...m.headers, [HEADER.requestId]: 'r-1' }),
    );
    const headers = {
      [HEADER.did]: 'did:key:z6MkExample',
      [HEADER.traceparent]: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
      'X-Custom': 'a value',
    };
    const reply = await s.peer.request(`${s.prefix}.echo`, bytes(''), { headers });
    expect(reply.headers).toEqual({ ...headers, [HEADER.requestId]: 'r-1' });
  });

  it('turns an error reply into a DiagonError with code, message and data', async () => {
    await serve(`${s.prefix}.fail`, (m) =>
      text(m) === 'record'
        ? m.respondError('pool/unknown', 'No pool p.', { pool: 'p' })
        : m.respondError('pool/odd', 'Odd data.', 42),
    );
    const e = await rejection(s.peer.request(`${s.prefix}.fail`, bytes('record')));
    expect([e.code, e.message, e.data]).toEqual(['pool/unknown', 'No pool p.', { pool: 'p' }]);
    const odd = await rejection(s.peer.request(`${s.prefix}.fail`, bytes('scalar')));
    expect([odd.code, odd.data]).toEqual(['pool/odd', { value: 42 }]);
  });

  it('turns thrown handler errors into error replies and logs the unexpected ones', async () => {
    await serve(`${s.prefix}.throws`, async (m) => {
      if (text(m) === 'diagon') throw new DiagonError('tx/conflict', 'Basis moved.', { t: 7 });
      if (text(m) === 'after-reply') {
        m.respond(bytes('ok'));
        throw new Error('late failure');
      }
      await delay(1);
      throw new Error('boom');
    });
    const known = await rejection(s.peer.request(`${s.prefix}.throws`, bytes('diagon')));
    expect([known.code, known.message, known.data]).toEqual([
      'tx/conflict',
      'Basis moved.',
      { t: 7 },
    ]);
    const internal = await rejection(s.peer.request(`${s.prefix}.throws`, bytes('other')));
    expect(internal.code).toBe('internal');
    expect(internal.message).toContain('boom');
    const late = await s.peer.request(`${s.prefix}.throws`, bytes('after-reply'));
    expect(text(late)).toBe('ok');
    await until(() => s.logger.entries.length === 2);
    expect(s.logger.entries.map((e) => e.level)).toEqual(['error', 'error']);
  });

  it('rejects with bus/no-responders when nobody serves the subject', async () => {
    const started = Date.now();
    const e = await rejection(s.peer.request(`${s.prefix}.nobody`, bytes('')));
    expect(e.code).toBe('bus/no-responders');
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it('rejects with bus/timeout when the deadline passes', async () => {
    await serve(`${s.prefix}.silent`, () => {});
    const started = Date.now();
    const e = await rejection(s.peer.request(`${s.prefix}.silent`, bytes(''), { timeoutMs: 200 }));
    expect(e.code).toBe('bus/timeout');
    expect(Date.now() - started).toBeGreaterThanOrEqual(150);
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it('matches * and > per token', async () => {
    const got: Record<string, string[]> = { star: [], tail: [], aStar: [], aTail: [] };
    const p = s.prefix;
    s.bus.subscribe(`${p}.*.b`, (m) => void got.star!.push(m.subject));
    s.bus.subscribe(`${p}.>`, (m) => void got.tail!.push(m.subject));
    s.bus.subscribe(`${p}.a.*`, (m) => void got.aStar!.push(m.subject));
    s.bus.subscribe(`${p}.a.>`, (m) => void got.aTail!.push(m.subject));
    await s.bus.flush();
    for (const suffix of ['a.b', 'x.b', 'a.b.c', 'a']) s.peer.publish(`${p}.${suffix}`, bytes(''));
    await until(() => got.tail!.length === 4);
    await delay(50);
    expect(got).toEqual({
      star: [`${p}.a.b`, `${p}.x.b`],
      tail: [`${p}.a.b`, `${p}.x.b`, `${p}.a.b.c`, `${p}.a`],
      aStar: [`${p}.a.b`],
      aTail: [`${p}.a.b`, `${p}.a.b.c`],
    });
  });

  it('gives each message to exactly one member of a queue group', async () => {
    const subject = `${s.prefix}.work`;
    const served = [0, 0];
    const seenByAll: string[] = [];
    for (const member of [0, 1]) {
      s.bus.subscribe(
        subject,
        (m) => {
          served[member]!++;
          m.respond(bytes(String(member)));
        },
        { queue: 'workers' },
      );
    }
    s.bus.subscribe(subject, (m) => void seenByAll.push(text(m)));
    await s.bus.flush();
    const n = 40;
    await Promise.all(
      Array.from({ length: n }, (_, i) => s.peer.request(subject, bytes(String(i)))),
    );
    await until(() => seenByAll.length === n);
    expect(served[0]! + served[1]!).toBe(n);
    expect(served[0]).toBeGreaterThan(0);
    expect(served[1]).toBeGreaterThan(0);
  });

  it('fans a publish out to every plain subscriber, in order', async () => {
    const first: string[] = [];
    const second: string[] = [];
    s.bus.subscribe(`${s.prefix}.news`, (m) => void first.push(text(m)));
    s.bus.subscribe(`${s.prefix}.news`, (m) => void second.push(text(m)));
    await s.bus.flush();
    for (const i of [1, 2, 3, 4, 5]) s.peer.publish(`${s.prefix}.news`, bytes(String(i)));
    await until(() => first.length === 5 && second.length === 5);
    expect(first).toEqual(['1', '2', '3', '4', '5']);
    expect(second).toEqual(first);
  });

  it('does not let a publisher reusing its buffer change what receivers see', async () => {
    const got: number[][] = [];
    s.bus.subscribe(`${s.prefix}.buffer`, (m) => void got.push([...m.data]));
    await s.bus.flush();
    const buffer = new Uint8Array([1, 2, 3]);
    s.peer.publish(`${s.prefix}.buffer`, buffer);
    buffer[0] = 9;
    await until(() => got.length === 1);
    expect(got).toEqual([[1, 2, 3]]);
  });

  it('stops delivering after unsubscribe', async () => {
    const sub = await serve(`${s.prefix}.once`, (m) => m.respond(bytes('here')));
    expect(text(await s.peer.request(`${s.prefix}.once`, bytes('')))).toBe('here');
    await sub.unsubscribe();
    const e = await rejection(s.peer.request(`${s.prefix}.once`, bytes('')));
    expect(e.code).toBe('bus/no-responders');
  });

  it('drains: finishes in-flight async handlers, then closes', async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let started = false;
    await serve(`${s.prefix}.slow`, async (m) => {
      started = true;
      await gate;
      m.respond(bytes('finished'));
    });
    const reply = s.peer.request(`${s.prefix}.slow`, bytes(''));
    await until(() => started);
    let drained = false;
    const draining = s.bus.drain().then(() => (drained = true));
    await delay(50);
    expect(drained).toBe(false);
    release();
    expect(text(await reply)).toBe('finished');
    await draining;
    await s.bus.drain();
    expect(() => s.bus.subscribe(`${s.prefix}.late`, () => {})).toThrow(
      expect.objectContaining({ code: 'bus/closed' }),
    );
  });

  it('answers 200 concurrent requests, each with its own reply', async () => {
    await serve(`${s.prefix}.concurrent`, async (m) => {
      await delay(Math.floor(Math.random() * 5));
      m.respond(bytes(`re:${text(m)}`));
    });
    const n = 200;
    const replies = await Promise.all(
      Array.from({ length: n }, (_, i) =>
        s.peer.request(`${s.prefix}.concurrent`, bytes(String(i))),
      ),
    );
    expect(replies.map(text)).toEqual(Array.from({ length: n }, (_, i) => `re:${i}`));
  });

  it('refuses malformed subjects, queues and headers', async () => {
    expect(() => s.bus.publish(`${s.prefix}.*`, bytes(''))).toThrow(
      expect.objectContaining({ code: 'bus/bad-subject' }),
    );
    expect(() => s.bus.subscribe(`${s.prefix}.>.x`, () => {})).toThrow(
      expect.objectContaining({ code: 'bus/bad-subject' }),
    );
    expect(() => s.bus.subscribe(`${s.prefix}.x`, () => {}, { queue: 'a b' })).toThrow(
      expect.objectContaining({ code: 'bus/bad-subject' }),
    );
    expect((await rejection(s.bus.request('a..b', bytes('')))).code).toBe('bus/bad-subject');
    const badHeader = s.bus.request(`${s.prefix}.x`, bytes(''), { headers: { 'X-A': 'a\r\nb' } });
    expect((await rejection(badHeader)).code).toBe('bus/bad-header');
  });

  it('says bus/closed after close, also to a request still waiting', async () => {
    await serve(`${s.prefix}.never`, () => {});
    const waiting = rejection(s.bus.request(`${s.prefix}.never`, bytes('')));
    await delay(20);
    await s.bus.close();
    expect((await waiting).code).toBe('bus/closed');
    await s.bus.close();
    expect(() => s.bus.publish(`${s.prefix}.x`, bytes(''))).toThrow(
      expect.objectContaining({ code: 'bus/closed' }),
    );
    expect((await rejection(s.bus.request(`${s.prefix}.x`, bytes('')))).code).toBe('bus/closed');
  });
});

describe('respond', () => {
  it('returns false on a publish and on a second reply', async () => {
    const bus = new MemoryBus({ logger: new RecordingLogger() });
    const results: boolean[] = [];
    bus.subscribe('test.respond', (m) => {
      results.push(m.respond(bytes('1')), m.respond(bytes('2')));
    });
    bus.publish('test.respond', bytes(''));
    expect(text(await bus.request('test.respond', bytes('')))).toBe('1');
    expect(results).toEqual([false, false, true, false]);
    await bus.close();
  });
});

describe('matches', () => {
  it('follows NATS token rules', () => {
    const m = (pattern: string, subject: string) => matches(pattern.split('.'), subject.split('.'));
    expect(m('a.b', 'a.b')).toBe(true);
    expect(m('a.*', 'a.b')).toBe(true);
    expect(m('a.*', 'a.b.c')).toBe(false);
    expect(m('a.>', 'a')).toBe(false);
    expect(m('a.>', 'a.b.c')).toBe(true);
    expect(m('>', 'a')).toBe(true);
    expect(m('*.*', 'a')).toBe(false);
  });
});

describe('subjects', () => {
  it('builds every Diagon subject', () => {
    expect(subjects.propose('main')).toBe('diagon.pool.main.propose');
    expect(subjects.vote('main')).toBe('diagon.pool.main.vote');
    expect(subjects.proposal('main', 'approved')).toBe('diagon.pool.main.proposal.approved');
    expect(subjects.txSubmit('p-1')).toBe('diagon.pool.p-1.tx.submit');
    expect(subjects.txCommitted('p-1')).toBe('diagon.pool.p-1.tx.committed');
    expect(subjects.indexUpdated('p-1')).toBe('diagon.pool.p-1.index.updated');
    expect(subjects.query('p-1')).toBe('diagon.pool.p-1.q');
    expect(subjects.authVerify()).toBe('diagon.auth.verify');
    expect(subjects.captureFrames('node_7')).toBe('diagon.capture.node_7.frames');
    expect(subjects.propose(ANY)).toBe('diagon.pool.*.propose');
  });

  it('refuses tokens that are not pool names or safe tokens', () => {
    const bad = ['', 'Main', '-a', 'a-', 'a.b', 'a b', '>', 'x'.repeat(64)];
    for (const pool of bad) {
      expect(() => subjects.query(pool), pool).toThrow(
        expect.objectContaining({ code: 'bus/bad-subject' }),
      );
    }
    for (const node of ['', 'n.1', 'n 1', '>', 'n*']) {
      expect(() => subjects.captureFrames(node), node).toThrow(
        expect.objectContaining({ code: 'bus/bad-subject' }),
      );
    }
    expect(() => subjects.proposal('main', 'a.b')).toThrow(
      expect.objectContaining({ code: 'bus/bad-subject' }),
    );
    expect(subjects.query('x'.repeat(63))).toBe(`diagon.pool.${'x'.repeat(63)}.q`);
  });
});

describe('JSON payloads', () => {
  it('round-trips and rejects what is not JSON', () => {
    const msg = { subject: 's', data: jsonData({ a: [1, 'b'] }) };
    expect(parseJson(msg)).toEqual({ a: [1, 'b'] });
    expect(() => parseJson({ subject: 's', data: bytes('{nope') })).toThrow(
      expect.objectContaining({ code: 'bus/malformed' }),
    );
    expect(() => parseJson({ subject: 's', data: new Uint8Array([0xff]) })).toThrow(
      expect.objectContaining({ code: 'bus/malformed' }),
    );
    expect(() => jsonData(10n)).toThrow(expect.objectContaining({ code: 'bus/malformed' }));
    expect(() => jsonData(undefined)).toThrow(expect.objectContaining({ code: 'bus/malformed' }));
  });

  it('checks the shape when given a check', () => {
    const isCount = (x: unknown): number => {
      if (typeof x !== 'number') throw new Error('expected a number');
      return x;
    };
    expect(parseJson({ subject: 's', data: jsonData(3) }, isCount)).toBe(3);
    expect(() => parseJson({ subject: 's', data: jsonData('3') }, isCount)).toThrow(
      expect.objectContaining({ code: 'bus/malformed' }),
    );
  });
});

describe('connectNats', () => {
  it('fails fast with bus/unreachable, naming the URL and what to do', async () => {
    const started = Date.now();
    const e = await rejection(connectNats({ url: 'nats://127.0.0.1:1', timeoutMs: 2000 }));
    expect(e.code).toBe('bus/unreachable');
    expect(e.message).toContain('nats://127.0.0.1:1');
    expect(e.message).toContain('NATS_URL');
    expect(Date.now() - started).toBeLessThan(3000);
  });

  it('keeps the password out of the message', async () => {
    const e = await rejection(
      connectNats({ url: 'nats://me:secret@127.0.0.1:1', timeoutMs: 2000 }),
    );
    expect(e.message).not.toContain('secret');
  });
});

describe('ensureStream', () => {
  it('is a no-op on the memory bus', async () => {
    expect(await ensureStream(new MemoryBus(), { name: 'x', subjects: ['a'] })).toBe(false);
  });

  it('creates a stream, is idempotent, and updates it to a new declaration', async () => {
    const bus = await connectNats({ url: TEST_NATS_URL, name: 'bus-test-streams' });
    // Subjects of its own: Diagon's streams own the diagon.> subjects on a shared server.
    const pool = randomPool();
    const name = `TEST_${pool.replace('-', '_')}`;
    const jsm = await jetstreamManager(bus.connection);
    try {
      const declaration = { name, subjects: [`test.${pool}.committed`], maxAgeMs: 60_000 };
      expect(await ensureStream(bus, declaration)).toBe(true);
      expect(await ensureStream(bus, declaration)).toBe(true);
      let info = await jsm.streams.info(name);
      expect(info.config.subjects).toEqual([`test.${pool}.committed`]);
      expect(info.config.max_age).toBe(60_000 * 1_000_000);
      const wider = [`test.${pool}.committed`, `test.${pool}.updated`];
      expect(await ensureStream(bus, { name, subjects: wider })).toBe(true);
      info = await jsm.streams.info(name);
      expect(info.config.subjects).toEqual(wider);
      expect(info.config.max_age).toBe(0);
    } finally {
      await jsm.streams.delete(name).catch(() => false);
      await bus.close();
    }
  });

  it('refuses a bad declaration', async () => {
    const bus = await connectNats({ url: TEST_NATS_URL, name: 'bus-test-streams' });
    try {
      const e = await rejection(ensureStream(bus, { name: 'a.b', subjects: ['x'] }));
      expect(e.code).toBe('bus/bad-stream');
    } finally {
      await bus.close();
    }
  });
});
