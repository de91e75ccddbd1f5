import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DiagonError } from '../../libs/db/errors.js';
import { thrown } from '../../test/support/errors.js';
import {
  type CapturedPacket,
  type PacketToWrite,
  PcapngWriter,
  PcapWriter,
  readCapture,
} from './pcap-file.js';

const T0 = 1_700_000_000_123_456_789n;
const bytesOf = (n: number, seed = 0) =>
  Uint8Array.from({ length: n }, (_, i) => (i * 7 + seed) & 0xff);
const hex = (s: string) => Uint8Array.from(Buffer.from(s.replace(/\s/g, ''), 'hex'));
const concat = (parts: Uint8Array[]) => new Uint8Array(Buffer.concat(parts));
const readAll = (file: Uint8Array) => [...readCapture(file)];

const PACKETS: PacketToWrite[] = [
  { timestampNs: T0, data: bytesOf(60) },
  { timestampNs: T0 + 1_500_000_123n, data: bytesOf(1514, 1), originalLength: 9000 },
  { timestampNs: T0 + 2_000_000_000n, data: bytesOf(0) },
];

/** What a reader should give back for PACKETS written at `unitNs` resolution. */
const expected = (unitNs: bigint, linkType: number): Partial<CapturedPacket>[] =>
  PACKETS.map((p) => ({
    timestampNs: (p.timestampNs / unitNs) * unitNs,
    linkType,
    data: p.data,
    originalLength: p.originalLength ?? p.data.length,
    interfaceIndex: 0,
  }));

/** Every packet of `file`, or the DiagonError reading it threw (anything else fails). */
function readOrRefuse(file: Uint8Array): CapturedPacket[] | DiagonError {
  try {
    return readAll(file);
  } catch (e) {
    if (e instanceof DiagonError) return e;
    throw e;
  }
}

/**
 * The file of `parts` (headers, then one part per packet) cut at every length: the packets
 * before the cut come back, and `truncated` says whether the cut fell inside a part.
 */
function checkCuts(parts: Uint8Array[]): void {
  const file = concat(parts);
  const full = readAll(file);
  const ends: number[] = [];
  parts.reduce((end, part) => {
    ends.push(end + part.length);
    return end + part.length;
  }, 0);
  const headerParts = parts.length - full.length;
  for (let cut = 4; cut <= file.length; cut++) {
    const reader = readCapture(file.subarray(0, cut));
    const got = [...reader];
    const whole = ends.filter((e) => e <= cut).length;
    expect(got).toEqual(full.slice(0, Math.max(0, whole - headerParts)));
    expect(reader.truncated).toBe(!ends.includes(cut));
    if (reader.truncated) expect(reader.warnings.at(-1)).toMatch(/ends inside a record/);
  }
}

function pcap(opts: { bigEndian?: boolean; nanoseconds?: boolean; linkType?: number } = {}) {
  const w = new PcapWriter({ linkType: opts.linkType ?? 1, ...opts });
  return concat([w.header(), ...PACKETS.map((p) => w.packet(p))]);
}

describe('classic pcap', () => {
  it.each([
    [false, false],
    [true, false],
    [false, true],
    [true, true],
  ])('round-trips (big-endian %s, nanoseconds %s)', (bigEndian, nanoseconds) => {
    const reader = readCapture(pcap({ bigEndian, nanoseconds, linkType: 113 }));
    expect(reader.format).toBe('pcap');
    expect([...reader]).toEqual(expected(nanoseconds ? 1n : 1000n, 113));
    expect(reader.truncated).toBe(false);
  });

  it('reads a header written by hand from the format description', () => {
    // Big-endian, nanosecond magic, LINKTYPE_RAW with FCS bits set above the type.
    const file = hex(`a1b23c4d 0002 0004 00000000 00000000 00040000 14000065
      6553f100 075bcd15 00000004 00000028  45000028`);
    expect(readAll(file)).toEqual([
      {
        timestampNs: 1_700000000_123456789n,
        linkType: 101,
        data: hex('45000028'),
        originalLength: 40,
        interfaceIndex: 0,
      },
    ]);
  });

  it('ends cleanly wherever the file is cut, keeping the packets before the cut', () => {
    const w = new PcapWriter({ linkType: 1 });
    const parts = [w.header(), ...PACKETS.map((p) => w.packet(p))];
    checkCuts(parts);
  });

  it('refuses what is not a capture, and a record header no packet can have', () => {
    expect(thrown(() => readCapture(hex('a1b2'))).code).toBe('capture/bad-file');
    const notPcap = thrown(() => readCapture(new TextEncoder().encode('GET / HTTP/1.1\r\n')));
    expect(notPcap.code).toBe('capture/bad-file');
    expect(notPcap.message).toMatch(/magic 0x47455420/);
    const file = pcap();
    new DataView(file.buffer).setUint32(24 + 8, 0x7fffffff, true);
    expect(thrown(() => readAll(file)).message).toMatch(/corrupt record header/);
  });
});

describe('pcapng', () => {
  it('reads sections of either byte order, each with interfaces of their own link types', () => {
    const le = new PcapngWriter();
    const be = new PcapngWriter({ bigEndian: true });
    const file = concat([
      le.sectionHeader(),
      le.interfaceDescription({ linkType: 1 }),
      le.interfaceDescription({ linkType: 276, tsresol: 9 }),
      le.packet(1, PACKETS[0]!),
      le.packet(0, PACKETS[1]!),
      be.sectionHeader(),
      be.interfaceDescription({ linkType: 0 }),
      be.packet(0, PACKETS[2]!),
    ]);
    const reader = readCapture(file);
    expect(reader.format).toBe('pcapng');
    expect([...reader]).toEqual([
      { ...expected(1n, 276)[0], interfaceIndex: 1 },
      expected(1000n, 1)[1],
      expected(1000n, 0)[2],
    ]);
  });

  it('converts timestamps by if_tsresol, decimal and power-of-two', () => {
    const w = new PcapngWriter();
    const file = concat([
      w.sectionHeader(),
      w.interfaceDescription({ linkType: 1, tsresol: 3 }),
      w.interfaceDescription({ linkType: 1, tsresol: 0x80 | 20 }),
      w.interfaceDescription({ linkType: 1, tsresol: 10 }),
      w.packet(0, PACKETS[0]!),
      w.packet(1, PACKETS[0]!),
      w.packet(2, PACKETS[0]!),
    ]);
    const [ms, pow2, tenthNs] = readAll(file).map((p) => p.timestampNs);
    expect(ms).toBe(1_700_000_000_123_000_000n);
    // 2^-20 s ticks are about 954 ns: the time read back is within one tick.
    expect(T0 - pow2!).toBeGreaterThanOrEqual(0n);
    expect(T0 - pow2!).toBeLessThan(955n);
    expect(tenthNs).toBe(T0);
  });

  it('adds if_tsoffset, reads simple packet blocks, skips obsolete and unknown blocks', () => {
    const w = new PcapngWriter();
    const shb = w.sectionHeader();
    // An IDB by hand (little-endian): LINKTYPE_RAW, snaplen 0, if_tsoffset 100 s, end of options.
    const idb = hex('6500 0000 00000000  0e00 0800 6400000000000000  0000 0000');
    // The same interface as the writer knows it, for the packet block's timestamp.
    w.interfaceDescription({ linkType: 101 });
    const file = concat([
      shb,
      w.block(1, idb),
      w.block(0x0bad, bytesOf(13)),
      w.block(2, bytesOf(40)),
      w.packet(0, PACKETS[0]!),
      w.simplePacket(bytesOf(10), 10),
      w.simplePacket(bytesOf(12), 40),
    ]);
    const reader = readCapture(file);
    const got = [...reader];
    expect(got.map((p) => [p.timestampNs, p.linkType, p.data.length, p.originalLength])).toEqual([
      [(T0 / 1000n) * 1000n + 100_000_000_000n, 101, 60, 60],
      [(T0 / 1000n) * 1000n + 100_000_000_000n, 101, 10, 10],
      [(T0 / 1000n) * 1000n + 100_000_000_000n, 101, 12, 40],
    ]);
    expect(reader.warnings).toEqual(['obsolete Packet Blocks (type 2) were skipped']);
  });

  it('refuses corrupt blocks with capture/bad-file', () => {
    const w = new PcapngWriter();
    const good = concat([
      w.sectionHeader(),
      w.interfaceDescription({ linkType: 1 }),
      w.packet(0, PACKETS[0]!),
    ]);
    const corrupt = (at: number, value: number, le = true) => {
      const file = Uint8Array.from(good);
      new DataView(file.buffer).setUint32(at, value, le);
      return thrown(() => readAll(file));
    };
    expect(corrupt(8, 0x11223344).message).toMatch(/byte-order magic/);
    expect(corrupt(28 + 4, 19).message).toMatch(/length 19/);
    expect(corrupt(28 + 20 - 4, 24).message).toMatch(/trailing length/);
    expect(corrupt(48 + 8, 3).message).toMatch(/interface 3, but the section describes 1/);
    expect(corrupt(48 + 20, 61).message).toMatch(/claims 61 bytes/);
    const v2 = Uint8Array.from(good);
    new DataView(v2.buffer).setUint16(12, 2, true);
    expect(thrown(() => readAll(v2)).message).toMatch(/major version 2/);
    const spbFirst = concat([w.sectionHeader(), w.simplePacket(bytesOf(4))]);
    expect(thrown(() => readAll(spbFirst)).message).toMatch(/interface 0/);
  });

  it('ends cleanly wherever the file is cut', () => {
    const w = new PcapngWriter({ bigEndian: true });
    checkCuts([
      w.sectionHeader(),
      w.interfaceDescription({ linkType: 1, tsresol: 9 }),
      ...PACKETS.map((p) => w.packet(0, p)),
    ]);
  });
});

describe('hostile files', () => {
  const valid = [
    pcap(),
    pcap({ bigEndian: true, nanoseconds: true }),
    (() => {
      const w = new PcapngWriter();
      return concat([
        w.sectionHeader(),
        w.interfaceDescription({ linkType: 1, tsresol: 0x83 }),
        ...PACKETS.map((p) => w.packet(0, p)),
        w.simplePacket(bytesOf(20)),
      ]);
    })(),
  ];

  it('random bytes give packets or a DiagonError, never another throw', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.constantFrom(...valid), (noise, file) => {
        readOrRefuse(noise);
        // The same noise behind a valid header reaches the record parsers.
        readOrRefuse(concat([file.subarray(0, 48), noise]));
      }),
      { numRuns: 2000 },
    );
  });

  it('mutated valid files give packets or a DiagonError, never another throw', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...valid),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), {
          minLength: 1,
          maxLength: 8,
        }),
        (file, edits) => {
          const mutated = Uint8Array.from(file);
          for (const [at, value] of edits) mutated[at % mutated.length] = value;
          readOrRefuse(mutated);
        },
      ),
      { numRuns: 2000 },
    );
  });
});
