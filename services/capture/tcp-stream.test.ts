import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type StreamCounters, type StreamLimits, TcpStream } from './tcp-stream.js';

interface Delivery {
  offset: number;
  text: string;
  afterGap: boolean;
  view: Uint8Array;
}

function recorded(limits: Partial<StreamLimits> = {}) {
  const deliveries: Delivery[] = [];
  const gaps: [number, number][] = [];
  const conflicts: [number, number][] = [];
  const counters: StreamCounters = {
    retransmissions: 0,
    keepAlives: 0,
    conflicts: 0,
    gaps: 0,
    gapBytes: 0,
    heldBytes: 0,
  };
  const stream = new TcpStream(
    {
      data: (bytes, offset, afterGap) =>
        deliveries.push({
          offset,
          text: Buffer.from(bytes).toString('latin1'),
          afterGap,
          view: bytes,
        }),
      gap: (offset, length) => gaps.push([offset, length]),
      conflict: (offset, length) => conflicts.push([offset, length]),
    },
    { maxPendingBytes: 1 << 20, maxHistoryBytes: 1 << 20, ...limits },
    counters,
  );
  const text = () => deliveries.map((d) => d.text).join('');
  return { stream, deliveries, gaps, conflicts, counters, text };
}

const bytes = (s: string) => new Uint8Array(Buffer.from(s, 'latin1'));
const ISN = 1000;

/** A stream after its SYN (ISN), sending `s` at stream offset `at`. */
function send(r: ReturnType<typeof recorded>, at: number, s: string, fin = false) {
  r.stream.segment((ISN + 1 + at) >>> 0, false, fin, bytes(s));
}

function opened(limits: Partial<StreamLimits> = {}) {
  const r = recorded(limits);
  r.stream.segment(ISN, true, false, new Uint8Array(0));
  return r;
}

describe('TcpStream', () => {
  it('delivers in-order segments as they come, without copying them', () => {
    const r = opened();
    const first = bytes('hello ');
    r.stream.segment(ISN + 1, false, false, first);
    send(r, 6, 'world');
    expect(r.text()).toBe('hello world');
    expect(r.deliveries[0]!.view).toBe(first);
    expect(r.deliveries.map((d) => [d.offset, d.afterGap])).toEqual([
      [0, false],
      [6, false],
    ]);
  });

  it('holds out-of-order segments until the hole fills', () => {
    const r = opened();
    send(r, 10, 'KLMNO');
    send(r, 5, 'FGHIJ');
    expect(r.text()).toBe('');
    expect(r.stream.pendingLength).toBe(10);
    send(r, 0, 'ABCDE');
    expect(r.text()).toBe('ABCDEFGHIJKLMNO');
    expect(r.stream.pendingLength).toBe(0);
    expect(r.counters.retransmissions).toBe(0);
  });

  it('drops exact retransmissions, of delivered and of held bytes, and counts them', () => {
    const r = opened();
    send(r, 0, 'ABCDE');
    send(r, 0, 'ABCDE');
    send(r, 10, 'KLMNO');
    send(r, 10, 'KLMNO');
    send(r, 5, 'FGHIJ');
    send(r, 3, 'DEFGHIJK');
    expect(r.text()).toBe('ABCDEFGHIJKLMNO');
    expect(r.counters.retransmissions).toBe(3);
    expect(r.conflicts).toEqual([]);
  });

  it('keeps the bytes first received when an overlap disagrees, and reports it', () => {
    const r = opened();
    send(r, 10, 'KLMNO');
    // Overlaps the held KLMNO with other bytes, and brings new ones before and after it.
    send(r, 8, 'ijxxxxxpq');
    send(r, 0, 'ABCDEFGH');
    expect(r.text()).toBe('ABCDEFGHijKLMNOpq');
    expect(r.conflicts).toEqual([[8, 9]]);
    // A retransmission that rewrites delivered bytes.
    send(r, 2, 'Cd');
    expect(r.conflicts).toEqual([
      [8, 9],
      [2, 2],
    ]);
    expect(r.counters.conflicts).toBe(2);
    expect(r.text()).toBe('ABCDEFGHijKLMNOpq');
  });

  it('checks retransmissions only against unacknowledged history', () => {
    const r = opened();
    send(r, 0, 'ABCDEFGH');
    send(r, 8, 'IJ');
    r.stream.acknowledge(ISN + 1 + 8);
    send(r, 0, 'xxxxxxxx');
    expect(r.conflicts).toEqual([]);
    send(r, 8, 'xJ');
    expect(r.conflicts).toEqual([[8, 2]]);
    expect(r.counters.heldBytes).toBe(2);
    r.stream.acknowledge(ISN + 1 + 10);
    expect(r.counters.heldBytes).toBe(0);
  });

  it('caps history at maxHistoryBytes', () => {
    const r = opened({ maxHistoryBytes: 4 });
    send(r, 0, 'AB');
    send(r, 2, 'CD');
    send(r, 4, 'EF');
    expect(r.counters.heldBytes).toBe(4);
    send(r, 0, 'xx');
    expect(r.conflicts).toEqual([]);
    send(r, 2, 'Cx');
    expect(r.conflicts).toEqual([[2, 2]]);
  });

  it('unwraps sequence numbers across 2^32', () => {
    const r = recorded();
    const isn = 0xffffffff - 20;
    r.stream.segment(isn, true, false, new Uint8Array(0));
    const data = 'the quick brown fox jumps over the lazy dog';
    const pieces = [0, 10, 20, 30, 40].map((at) => [at, data.slice(at, at + 10)] as const);
    for (const [at, s] of [pieces[1]!, pieces[3]!, pieces[0]!, pieces[4]!, pieces[2]!])
      r.stream.segment((isn + 1 + at) >>> 0, false, false, bytes(s));
    expect(r.text()).toBe(data);
    expect(r.stream.next).toBe(data.length);
    r.stream.segment((isn + 1 + 20) >>> 0, false, false, bytes(data.slice(20, 30)));
    expect(r.counters.retransmissions).toBe(1);
  });

  it('counts offsets past 2^32 bytes', () => {
    const counters = { ...recorded().counters };
    let delivered = 0;
    const stream = new TcpStream(
      { data: (b) => (delivered += b.length), gap: () => {}, conflict: () => {} },
      { maxPendingBytes: 1 << 20, maxHistoryBytes: 1 << 20 },
      counters,
    );
    stream.segment(ISN, true, false, new Uint8Array(0));
    const chunk = new Uint8Array(1 << 16);
    const total = 2 ** 32 + 2 ** 17;
    for (let at = 0; at < total; at += chunk.length)
      stream.segment((ISN + 1 + at) >>> 0, false, false, chunk);
    expect(stream.next).toBe(total);
    expect(delivered).toBe(total);
    expect(counters).toMatchObject({ gaps: 0, retransmissions: 0 });
  }, 30_000);

  it('starts a stream seen mid-way at the first sequence number it sees', () => {
    const r = recorded();
    r.stream.segment(123456, false, false, bytes('middle'));
    r.stream.segment(123456 + 6, false, false, bytes(' end'));
    expect(r.deliveries.map((d) => [d.offset, d.text])).toEqual([
      [0, 'middle'],
      [6, ' end'],
    ]);
  });

  it('skips the first hole when too much is held, and marks what follows', () => {
    const r = opened({ maxPendingBytes: 8 });
    send(r, 0, 'AB');
    send(r, 5, 'FGHI');
    send(r, 9, 'JKLMN');
    expect(r.gaps).toEqual([[2, 3]]);
    expect(r.text()).toBe('ABFGHIJKLMN');
    expect(r.deliveries.map((d) => d.afterGap)).toEqual([false, true, false]);
    expect(r.counters).toMatchObject({ gaps: 1, gapBytes: 3 });
    // The lost bytes arriving late are old news.
    send(r, 2, 'CDE');
    expect(r.counters.retransmissions).toBe(1);
    expect(r.text()).toBe('ABFGHIJKLMN');
  });

  it('on flush, skips every hole and reports the bytes missing before the FIN', () => {
    const r = opened();
    send(r, 0, 'AB');
    send(r, 4, 'EF');
    send(r, 8, 'IJ');
    send(r, 12, '', true);
    expect(r.stream.finished).toBe(false);
    r.stream.flush();
    expect(r.text()).toBe('ABEFIJ');
    expect(r.gaps).toEqual([
      [2, 2],
      [6, 2],
      [10, 2],
    ]);
    expect(r.stream.finished).toBe(true);
    r.stream.releaseHistory();
    expect(r.counters.heldBytes).toBe(0);
  });

  it('finishes at the FIN, and ignores keep-alives', () => {
    const r = opened();
    send(r, 0, 'ABC');
    send(r, 2, 'z');
    expect(r.counters).toMatchObject({ keepAlives: 1, retransmissions: 0, conflicts: 0 });
    send(r, 3, 'D', true);
    expect(r.stream.finished).toBe(true);
    expect(r.text()).toBe('ABCD');
  });

  it('takes payload on a SYN (TCP Fast Open) at offset 0, and ignores a repeated SYN', () => {
    const r = recorded();
    r.stream.segment(ISN, true, false, bytes('fast'));
    r.stream.segment(ISN, true, false, bytes('fast'));
    send(r, 4, 'open');
    expect(r.text()).toBe('fastopen');
    expect(r.stream.isInitialSequence(ISN)).toBe(true);
  });

  it('delivers exactly the stream sent, however it is cut, reordered and repeated', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 1, maxLength: 400 }),
        fc.array(fc.nat(), { maxLength: 30 }),
        fc.array(fc.nat(), { maxLength: 30 }),
        fc.array(fc.nat(), { maxLength: 5 }),
        fc.nat(),
        (data, cuts, order, repeats, isnSeed) => {
          const isn = isnSeed >>> 0;
          const points = [...new Set([0, ...cuts.map((c) => c % data.length), data.length])].sort(
            (a, b) => a - b,
          );
          const segments = points.slice(1).map((end, i) => [points[i]!, end] as const);
          for (const r of repeats) segments.push(segments[r % segments.length]!);
          const shuffled = segments
            .map((s, i) => [order[i] ?? i, i, s] as const)
            .sort((a, b) => a[0] - b[0] || a[1] - b[1]);
          const r = recorded();
          r.stream.segment(isn, true, false, new Uint8Array(0));
          for (const [, , [from, to]] of shuffled)
            r.stream.segment((isn + 1 + from) >>> 0, false, false, data.subarray(from, to));
          expect(Buffer.from(r.text(), 'latin1')).toEqual(Buffer.from(data));
          expect(r.gaps).toEqual([]);
          expect(r.conflicts).toEqual([]);
          expect(r.stream.pendingLength).toBe(0);
        },
      ),
      { numRuns: 500 },
    );
  });
});
