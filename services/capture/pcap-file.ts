/**
 * Capture files: classic pcap (µs and ns magic, either byte order) and pcapng (sections of
 * either byte order, several interfaces per section, each with its own link type and
 * timestamp resolution). Readers walk a buffer and yield packets as views into it; writers
 * produce the bytes of headers and records.
 *
 * A file cut short (the usual end of a capture killed mid-write) ends cleanly: `truncated`
 * is set and the partial record dropped. A header that cannot be right (bad magic, a length
 * no record can have, a packet for an interface never described) throws `capture/bad-file`.
 */
import { DiagonError } from '../../libs/db/errors.js';

export interface CapturedPacket {
  /** Nanoseconds since the Unix epoch. */
  timestampNs: bigint;
  /** The LINKTYPE_ value of the packet's interface (1 Ethernet, 113 Linux SLL, ...). */
  linkType: number;
  /** The captured bytes: a view into the file's buffer. */
  data: Uint8Array;
  /** The packet's length on the wire (more than `data.length` when the snap length cut it). */
  originalLength: number;
  /** The interface within its pcapng section (always 0 for classic pcap). */
  interfaceIndex: number;
}

export type CaptureFormat = 'pcap' | 'pcapng';

export interface PacketReader extends Iterable<CapturedPacket> {
  readonly format: CaptureFormat;
  /** The next packet, or undefined at the end of the file. */
  next(): CapturedPacket | undefined;
  /** The file ended inside a header or record (read so far: every complete packet). */
  readonly truncated: boolean;
  /** Things skipped that a reader may want to know about (obsolete blocks, a cut record). */
  readonly warnings: readonly string[];
}

const PCAP_MAGIC_US = 0xa1b2c3d4;
const PCAP_MAGIC_NS = 0xa1b23c4d;
const PCAP_HEADER_BYTES = 24;
const PCAP_RECORD_HEADER_BYTES = 16;
const PCAPNG_SHB = 0x0a0d0d0a;
const PCAPNG_BYTE_ORDER_MAGIC = 0x1a2b3c4d;
const BLOCK_IDB = 1;
const BLOCK_OPB = 2;
const BLOCK_SPB = 3;
const BLOCK_EPB = 6;
const OPT_END = 0;
const IF_TSRESOL = 9;
const IF_TSOFFSET = 14;
/** Classic pcap link type field: the upper bits carry FCS information, not the type. */
const LINK_TYPE_MASK = 0x03ffffff;
/** No link layer carries a record this large: a larger length is a corrupt header. */
const MAX_RECORD_BYTES = 256 * 1024 * 1024;
const NS_PER_S = 1_000_000_000n;
const MAX_U64 = 0xffffffffffffffffn;
const MICROS_PER_S = 1_000_000;
const TWO_32 = 4294967296;

function badFile(offset: number, why: string): DiagonError {
  return new DiagonError('capture/bad-file', `not a readable capture file: ${why}`, { offset });
}

/** The reader for a pcap or pcapng file held in `bytes`; throws `capture/bad-file`. */
export function readCapture(file: Uint8Array): PacketReader {
  // A plain Uint8Array view: slicing a Node Buffer builds a Buffer, several times slower.
  const bytes = new Uint8Array(file.buffer, file.byteOffset, file.byteLength);
  if (bytes.length < 4)
    throw badFile(0, `${bytes.length} bytes is too short for a pcap or pcapng header`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const magic = view.getUint32(0, false);
  if (magic === PCAPNG_SHB) return new PcapngReader(bytes, view);
  for (const littleEndian of [false, true]) {
    const m = view.getUint32(0, littleEndian);
    if (m === PCAP_MAGIC_US || m === PCAP_MAGIC_NS)
      return new PcapReader(bytes, view, littleEndian, m === PCAP_MAGIC_NS);
  }
  throw badFile(
    0,
    `magic 0x${magic.toString(16).padStart(8, '0')} is neither pcap (a1b2c3d4, a1b23c4d) nor pcapng (0a0d0d0a)`,
  );
}

abstract class BufferReader {
  abstract readonly format: CaptureFormat;
  readonly warnings: string[] = [];
  protected pos = 0;
  private cut = false;

  constructor(
    protected readonly bytes: Uint8Array,
    protected readonly view: DataView,
  ) {}

  get truncated(): boolean {
    return this.cut;
  }

  abstract next(): CapturedPacket | undefined;

  *[Symbol.iterator](): Iterator<CapturedPacket> {
    for (let p = this.next(); p !== undefined; p = this.next()) yield p;
  }

  /** True when `n` bytes from the current position are in the file; else marks it cut. */
  protected has(n: number): boolean {
    if (this.pos + n <= this.bytes.length) return true;
    if (this.pos < this.bytes.length) {
      this.cut = true;
      this.warnings.push(
        `the file ends inside a record at byte ${this.pos} (${this.bytes.length - this.pos} of ${n} bytes)`,
      );
    }
    this.pos = this.bytes.length;
    return false;
  }
}

class PcapReader extends BufferReader {
  readonly format = 'pcap';
  private readonly linkType: number;

  constructor(
    bytes: Uint8Array,
    view: DataView,
    private readonly littleEndian: boolean,
    private readonly nanoseconds: boolean,
  ) {
    super(bytes, view);
    this.linkType = this.has(PCAP_HEADER_BYTES)
      ? view.getUint32(20, littleEndian) & LINK_TYPE_MASK
      : 0;
    this.pos = Math.min(PCAP_HEADER_BYTES, bytes.length);
  }

  next(): CapturedPacket | undefined {
    if (!this.has(PCAP_RECORD_HEADER_BYTES)) return undefined;
    const at = this.pos;
    const le = this.littleEndian;
    const seconds = this.view.getUint32(at, le);
    const fraction = this.view.getUint32(at + 4, le);
    const captured = this.view.getUint32(at + 8, le);
    const originalLength = this.view.getUint32(at + 12, le);
    if (captured > MAX_RECORD_BYTES)
      throw badFile(at, `a record of ${captured} bytes at byte ${at} (a corrupt record header)`);
    if (!this.has(PCAP_RECORD_HEADER_BYTES + captured)) return undefined;
    this.pos = at + PCAP_RECORD_HEADER_BYTES + captured;
    const timestampNs = this.nanoseconds
      ? BigInt(seconds) * NS_PER_S + BigInt(fraction)
      : // Seconds × 10^6 stays below 2^53 until the year 2255: one BigInt instead of three.
        BigInt(seconds * MICROS_PER_S + fraction) * 1000n;
    return {
      timestampNs,
      linkType: this.linkType,
      data: this.bytes.subarray(at + PCAP_RECORD_HEADER_BYTES, this.pos),
      originalLength,
      interfaceIndex: 0,
    };
  }
}

/** A timestamp resolution: `unitsPerSecond` ticks per second (if_tsresol, default µs). */
function unitsPerSecondOf(tsresol: number): bigint {
  return tsresol & 0x80 ? 1n << BigInt(tsresol & 0x7f) : 10n ** BigInt(tsresol);
}

interface PcapngInterface {
  linkType: number;
  unitsPerSecond: bigint;
  offsetNs: bigint;
}

class PcapngReader extends BufferReader {
  readonly format = 'pcapng';
  private littleEndian = true;
  private interfaces: PcapngInterface[] = [];
  /** Simple Packet Blocks carry no timestamp: they get the one of the packet before. */
  private lastTimestampNs = 0n;
  private warnedObsolete = false;

  next(): CapturedPacket | undefined {
    for (;;) {
      if (!this.has(8)) return undefined;
      const at = this.pos;
      const type = this.view.getUint32(at, this.littleEndian);
      if (type === PCAPNG_SHB) {
        if (!this.has(12)) return undefined;
        this.littleEndian = this.byteOrderAt(at + 8);
      }
      const total = this.view.getUint32(at + 4, this.littleEndian);
      if (total < 12 || total % 4 !== 0 || total > MAX_RECORD_BYTES)
        throw badFile(at, `block at byte ${at} has length ${total}`);
      if (!this.has(total)) return undefined;
      if (this.view.getUint32(at + total - 4, this.littleEndian) !== total)
        throw badFile(at, `block at byte ${at}: its trailing length differs from ${total}`);
      this.pos = at + total;
      const body = at + 8;
      const bodyEnd = at + total - 4;
      if (type === BLOCK_EPB) return this.enhancedPacket(body, bodyEnd);
      if (type === BLOCK_SPB) return this.simplePacket(body, bodyEnd);
      if (type === PCAPNG_SHB) this.sectionHeader(body, bodyEnd);
      else if (type === BLOCK_IDB) this.interfaceDescription(body, bodyEnd);
      else if (type === BLOCK_OPB && !this.warnedObsolete) {
        this.warnedObsolete = true;
        this.warnings.push('obsolete Packet Blocks (type 2) were skipped');
      }
    }
  }

  private byteOrderAt(at: number): boolean {
    const magic = this.view.getUint32(at, false);
    if (magic === PCAPNG_BYTE_ORDER_MAGIC) return false;
    if (this.view.getUint32(at, true) === PCAPNG_BYTE_ORDER_MAGIC) return true;
    throw badFile(at, `section header with byte-order magic 0x${magic.toString(16)}`);
  }

  private sectionHeader(body: number, end: number): void {
    if (end - body < 16) throw badFile(body, 'a section header block shorter than 28 bytes');
    const major = this.view.getUint16(body + 4, this.littleEndian);
    if (major !== 1) throw badFile(body, `pcapng major version ${major} (only 1 is read)`);
    this.interfaces = [];
  }

  private interfaceDescription(body: number, end: number): void {
    if (end - body < 8) throw badFile(body, 'an interface description block shorter than 20 bytes');
    const iface: PcapngInterface = {
      linkType: this.view.getUint16(body, this.littleEndian),
      unitsPerSecond: 1_000_000n,
      offsetNs: 0n,
    };
    for (let o = body + 8; o + 4 <= end; ) {
      const code = this.view.getUint16(o, this.littleEndian);
      const length = this.view.getUint16(o + 2, this.littleEndian);
      if (code === OPT_END) break;
      if (o + 4 + length > end) throw badFile(o, `interface option ${code} overruns its block`);
      if (code === IF_TSRESOL && length >= 1)
        iface.unitsPerSecond = unitsPerSecondOf(this.bytes[o + 4]!);
      if (code === IF_TSOFFSET && length >= 8)
        iface.offsetNs = this.view.getBigInt64(o + 4, this.littleEndian) * NS_PER_S;
      o += 4 + ((length + 3) & ~3);
    }
    this.interfaces.push(iface);
  }

  private interfaceAt(index: number, at: number): PcapngInterface {
    const iface = this.interfaces[index];
    if (iface === undefined)
      throw badFile(
        at,
        `a packet for interface ${index}, but the section describes ${this.interfaces.length}`,
      );
    return iface;
  }

  private enhancedPacket(body: number, end: number): CapturedPacket {
    if (end - body < 20) throw badFile(body, 'an enhanced packet block shorter than 32 bytes');
    const le = this.littleEndian;
    const interfaceIndex = this.view.getUint32(body, le);
    const iface = this.interfaceAt(interfaceIndex, body);
    const high = this.view.getUint32(body + 4, le);
    const low = this.view.getUint32(body + 8, le);
    const captured = this.view.getUint32(body + 12, le);
    const originalLength = this.view.getUint32(body + 16, le);
    if (captured > end - body - 20)
      throw badFile(body, `an enhanced packet block claims ${captured} bytes it does not hold`);
    const timestampNs = ticksToNs(high, low, iface.unitsPerSecond) + iface.offsetNs;
    this.lastTimestampNs = timestampNs;
    return {
      timestampNs,
      linkType: iface.linkType,
      data: this.bytes.subarray(body + 20, body + 20 + captured),
      originalLength,
      interfaceIndex,
    };
  }

  private simplePacket(body: number, end: number): CapturedPacket {
    if (end - body < 4) throw badFile(body, 'a simple packet block shorter than 16 bytes');
    const iface = this.interfaceAt(0, body);
    const originalLength = this.view.getUint32(body, this.littleEndian);
    const captured = Math.min(originalLength, end - body - 4);
    return {
      timestampNs: this.lastTimestampNs,
      linkType: iface.linkType,
      data: this.bytes.subarray(body + 4, body + 4 + captured),
      originalLength,
      interfaceIndex: 0,
    };
  }
}

function ticksToNs(high: number, low: number, unitsPerSecond: bigint): bigint {
  // Microsecond ticks below 2^53 (until the year 2255) take the one-BigInt path.
  if (unitsPerSecond === 1_000_000n && high < 0x200000) return BigInt(high * TWO_32 + low) * 1000n;
  const ticks = (BigInt(high) << 32n) | BigInt(low);
  if (unitsPerSecond === NS_PER_S) return ticks;
  return (ticks * NS_PER_S) / unitsPerSecond;
}

// ---- writers ----

export interface PacketToWrite {
  timestampNs: bigint;
  data: Uint8Array;
  /** Defaults to `data.length`. */
  originalLength?: number;
}

export interface PcapWriterOptions {
  linkType: number;
  /** Nanosecond timestamps (magic a1b23c4d) instead of microseconds. */
  nanoseconds?: boolean;
  bigEndian?: boolean;
  /** Default 262144, libpcap's. */
  snapLength?: number;
}

/** Classic pcap: `header()` once, then `packet()` per record. */
export class PcapWriter {
  private readonly littleEndian: boolean;

  constructor(private readonly opts: PcapWriterOptions) {
    this.littleEndian = !opts.bigEndian;
  }

  header(): Uint8Array {
    const out = new Uint8Array(PCAP_HEADER_BYTES);
    const v = new DataView(out.buffer);
    v.setUint32(0, this.opts.nanoseconds ? PCAP_MAGIC_NS : PCAP_MAGIC_US, this.littleEndian);
    v.setUint16(4, 2, this.littleEndian);
    v.setUint16(6, 4, this.littleEndian);
    v.setUint32(16, this.opts.snapLength ?? 262144, this.littleEndian);
    v.setUint32(20, this.opts.linkType, this.littleEndian);
    return out;
  }

  packet(p: PacketToWrite): Uint8Array {
    const out = new Uint8Array(PCAP_RECORD_HEADER_BYTES + p.data.length);
    const v = new DataView(out.buffer);
    const le = this.littleEndian;
    const perSecond = this.opts.nanoseconds ? NS_PER_S : 1_000_000n;
    const ticks = this.opts.nanoseconds ? p.timestampNs : p.timestampNs / 1000n;
    v.setUint32(0, Number(ticks / perSecond), le);
    v.setUint32(4, Number(ticks % perSecond), le);
    v.setUint32(8, p.data.length, le);
    v.setUint32(12, p.originalLength ?? p.data.length, le);
    out.set(p.data, PCAP_RECORD_HEADER_BYTES);
    return out;
  }
}

export interface PcapngInterfaceOptions {
  linkType: number;
  /** The if_tsresol byte: 10^-n seconds, or 2^-(n & 0x7f) with the top bit set (default 6). */
  tsresol?: number;
  snapLength?: number;
}

/**
 * pcapng: `sectionHeader()` (which forgets the interfaces), `interfaceDescription()` per
 * interface (numbered from 0 in order), then `packet()` (an Enhanced Packet Block) or
 * `simplePacket()`. `block()` frames any other block type.
 */
export class PcapngWriter {
  private readonly littleEndian: boolean;
  private unitsPerSecond: bigint[] = [];

  constructor(opts: { bigEndian?: boolean } = {}) {
    this.littleEndian = !opts.bigEndian;
  }

  /** A block of `type` around `body` (padded to 4 bytes), lengths included. */
  block(type: number, body: Uint8Array): Uint8Array {
    const padded = (body.length + 3) & ~3;
    const total = 12 + padded;
    const out = new Uint8Array(total);
    const v = new DataView(out.buffer);
    v.setUint32(0, type, this.littleEndian);
    v.setUint32(4, total, this.littleEndian);
    out.set(body, 8);
    v.setUint32(total - 4, total, this.littleEndian);
    return out;
  }

  sectionHeader(): Uint8Array {
    this.unitsPerSecond = [];
    const body = new Uint8Array(16);
    const v = new DataView(body.buffer);
    v.setUint32(0, PCAPNG_BYTE_ORDER_MAGIC, this.littleEndian);
    v.setUint16(4, 1, this.littleEndian);
    v.setUint16(6, 0, this.littleEndian);
    v.setBigInt64(8, -1n, this.littleEndian);
    return this.block(PCAPNG_SHB, body);
  }

  interfaceDescription(opts: PcapngInterfaceOptions): Uint8Array {
    const tsresol = opts.tsresol ?? 6;
    this.unitsPerSecond.push(unitsPerSecondOf(tsresol));
    const withResolution = tsresol !== 6;
    const body = new Uint8Array(8 + (withResolution ? 12 : 0));
    const v = new DataView(body.buffer);
    v.setUint16(0, opts.linkType, this.littleEndian);
    v.setUint32(4, opts.snapLength ?? 262144, this.littleEndian);
    if (withResolution) {
      v.setUint16(8, IF_TSRESOL, this.littleEndian);
      v.setUint16(10, 1, this.littleEndian);
      body[12] = tsresol;
      // bytes 16..19 stay zero: opt_endofopt
    }
    return this.block(BLOCK_IDB, body);
  }

  packet(interfaceIndex: number, p: PacketToWrite): Uint8Array {
    const unitsPerSecond = this.unitsPerSecond[interfaceIndex];
    if (unitsPerSecond === undefined)
      throw new DiagonError(
        'capture/bad-interface',
        `interface ${interfaceIndex} was not described in this section (${this.unitsPerSecond.length} were)`,
      );
    const ticks = (p.timestampNs * unitsPerSecond) / NS_PER_S;
    if (ticks < 0n || ticks > MAX_U64)
      throw new DiagonError(
        'capture/bad-timestamp',
        `${p.timestampNs} ns does not fit 64 bits at interface ${interfaceIndex}'s resolution`,
      );
    const body = new Uint8Array(20 + p.data.length);
    const v = new DataView(body.buffer);
    const le = this.littleEndian;
    v.setUint32(0, interfaceIndex, le);
    v.setUint32(4, Number(ticks >> 32n), le);
    v.setUint32(8, Number(ticks & 0xffffffffn), le);
    v.setUint32(12, p.data.length, le);
    v.setUint32(16, p.originalLength ?? p.data.length, le);
    body.set(p.data, 20);
    return this.block(BLOCK_EPB, body);
  }

  simplePacket(data: Uint8Array, originalLength = data.length): Uint8Array {
    const body = new Uint8Array(4 + data.length);
    new DataView(body.buffer).setUint32(0, originalLength, this.littleEndian);
    body.set(data, 4);
    return this.block(BLOCK_SPB, body);
  }
}
