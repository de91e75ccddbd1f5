import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { encodeFrame, encodeMessage, type Message } from '../../libs/wire/index.js';
import { FrameStream } from './frame-stream.js';

const MESSAGES: Message[] = [
  { type: 'ping', id: 1 },
  { type: 'query', id: 2, query: '[:find ?e :where [?e :name "Ada"]]', asOf: 7 },
  { type: 'reply', id: 2, value: '#{[1]}' },
  { type: 'shutdown', reason: 'bye' },
];
const FRAMES = MESSAGES.map((m) => encodeMessage(m));
const concat = (parts: Uint8Array[]) => new Uint8Array(Buffer.concat(parts));
const STREAM = concat(FRAMES);

type Seen =
  | { frame: Message | string; size: number; afterGap: boolean }
  | { tooLarge: number; size: number }
  | { badHeader: string }
  | { truncated: number; size: number; held: number }
  | { skipped: number; resynced: boolean };

function recorded(synced = true, maxFrameSize = 1024 * 1024) {
  const seen: Seen[] = [];
  const stream = new FrameStream(
    maxFrameSize,
    {
      frame: (decoded, _type, size, afterGap) =>
        seen.push({ frame: decoded.ok ? decoded.value : decoded.error.code, size, afterGap }),
      tooLarge: (type, size) => seen.push({ tooLarge: type, size }),
      badHeader: (error) => seen.push({ badHeader: error.code }),
      truncated: (type, size, held) => seen.push({ truncated: type, size, held }),
      skipped: (bytes, resynced) => seen.push({ skipped: bytes, resynced }),
    },
    synced,
  );
  const messages = () => seen.flatMap((s) => ('frame' in s ? [s.frame] : []));
  return { stream, seen, messages };
}

const ok = (i: number, afterGap = false) => ({
  frame: MESSAGES[i]!,
  size: FRAMES[i]!.length,
  afterGap,
});

/** `bytes` cut at `cuts` (modulo its length), in order. */
function split(bytes: Uint8Array, cuts: number[]): Uint8Array[] {
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  return [...points, bytes.length].map((p, i) => bytes.subarray(i === 0 ? 0 : points[i - 1], p));
}

describe('FrameStream', () => {
  it('decodes many frames in one chunk', () => {
    const r = recorded();
    r.stream.push(STREAM);
    r.stream.end();
    expect(r.seen).toEqual([ok(0), ok(1), ok(2), ok(3)]);
  });

  it('decodes frames split byte by byte', () => {
    const r = recorded();
    for (const b of STREAM) r.stream.push(Uint8Array.of(b));
    r.stream.end();
    expect(r.seen).toEqual([ok(0), ok(1), ok(2), ok(3)]);
  });

  it('decodes the same frames however the stream is cut', () => {
    fc.assert(
      fc.property(fc.array(fc.nat(), { maxLength: 20 }), (cuts) => {
        const r = recorded();
        for (const piece of split(STREAM, cuts)) r.stream.push(piece);
        r.stream.end();
        expect(r.seen).toEqual([ok(0), ok(1), ok(2), ok(3)]);
      }),
      { numRuns: 300 },
    );
  });

  it('reports message errors and goes on: the framing is intact', () => {
    const r = recorded();
    const unknown = encodeFrame(0x7f, Uint8Array.of(0xa0));
    const notAMap = encodeFrame(0x15, Uint8Array.of(0x01));
    r.stream.push(concat([unknown, notAMap, FRAMES[0]!]));
    expect(r.seen).toEqual([
      { frame: 'unknown-type', size: 7, afterGap: false },
      { frame: 'malformed', size: 7, afterGap: false },
      ok(0),
    ]);
  });

  it('after a gap, truncates the frame in progress and finds the next one', () => {
    const r = recorded();
    r.stream.push(concat([FRAMES[0]!, FRAMES[1]!.subarray(0, 20)]));
    r.stream.gap();
    // The stream goes on in the middle of FRAMES[2].
    r.stream.push(concat([FRAMES[2]!.subarray(5), FRAMES[3]!, FRAMES[0]!]));
    r.stream.end();
    expect(r.seen).toEqual([
      ok(0),
      { truncated: 0x12, size: FRAMES[1]!.length, held: 20 },
      { skipped: FRAMES[2]!.length - 5, resynced: true },
      ok(3, true),
      ok(0),
    ]);
  });

  it('after a gap at a frame boundary, the next frame is found with nothing skipped', () => {
    const r = recorded();
    r.stream.push(FRAMES[0]!);
    r.stream.gap();
    r.stream.push(concat([FRAMES[1]!, FRAMES[2]!]));
    expect(r.seen).toEqual([ok(0), { skipped: 0, resynced: true }, ok(1, true), ok(2)]);
  });

  it('refuses a header over the maximum and resynchronizes', () => {
    const r = recorded(true, 100);
    const big = encodeMessage({ type: 'reply', id: 9, value: 'x'.repeat(200) });
    r.stream.push(concat([FRAMES[0]!, big, FRAMES[1]!]));
    r.stream.end();
    expect(r.seen).toEqual([
      ok(0),
      { tooLarge: 0x20, size: big.length },
      { skipped: big.length, resynced: true },
      ok(1, true),
    ]);
  });

  it('refuses a header of another version, or a length below 2, and resynchronizes', () => {
    const version2 = Uint8Array.from(FRAMES[0]!);
    version2[4] = 2;
    const tooSmall = Uint8Array.of(0, 0, 0, 1, 1, 0x15);
    for (const [bad, code] of [
      [version2, 'unsupported-version'],
      [tooSmall, 'frame-too-small'],
    ] as const) {
      const r = recorded();
      r.stream.push(concat([bad, FRAMES[3]!]));
      expect(r.seen).toEqual([
        { badHeader: code },
        { skipped: bad.length, resynced: true },
        ok(3, true),
      ]);
    }
  });

  it('in a stream seen mid-way, starts at the first frame that decodes', () => {
    const atBoundary = recorded(false);
    atBoundary.stream.push(STREAM);
    expect(atBoundary.seen).toEqual([ok(0), ok(1), ok(2), ok(3)]);
    const inside = recorded(false);
    inside.stream.push(STREAM.subarray(3));
    expect(inside.seen).toEqual([
      { skipped: FRAMES[0]!.length - 3, resynced: true },
      ok(1, true),
      ok(2),
      ok(3),
    ]);
  });

  it('waits on a plausible header, and passes it over once no frame completes it', () => {
    const r = recorded();
    // Length 4096, version 1, Query, a CBOR map: plausible, and not a frame.
    const lure = Uint8Array.of(0, 0, 0x10, 0, 1, 0x12, 0xa1);
    r.stream.gap();
    r.stream.push(concat([lure, STREAM]));
    expect(r.seen).toEqual([]);
    r.stream.end();
    expect(r.seen).toEqual([
      { skipped: lure.length, resynced: true },
      ok(0, true),
      ok(1),
      ok(2),
      ok(3),
    ]);
  });

  it('truncates a frame the stream ends inside', () => {
    const r = recorded();
    r.stream.push(FRAMES[1]!.subarray(0, 30));
    r.stream.end();
    expect(r.seen).toEqual([{ truncated: 0x12, size: FRAMES[1]!.length, held: 30 }]);
    const header = recorded();
    header.stream.push(FRAMES[1]!.subarray(0, 3));
    header.stream.end();
    expect(header.seen).toEqual([{ skipped: 3, resynced: false }]);
  });

  it('finds only frames that were sent, whatever garbage and gaps surround them', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 200 }),
        fc.uint8Array({ maxLength: 200 }),
        fc.array(fc.nat(), { maxLength: 10 }),
        (before, between, cuts) => {
          const r = recorded(false);
          for (const piece of split(concat([before, STREAM, between]), cuts)) r.stream.push(piece);
          r.stream.gap();
          r.stream.push(concat([between, STREAM]));
          r.stream.end();
          const found = r.messages();
          for (const m of found) expect(MESSAGES).toContainEqual(m);
          expect(found.slice(-MESSAGES.length)).toEqual(MESSAGES);
        },
      ),
      { numRuns: 500 },
    );
  });
});
