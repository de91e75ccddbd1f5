/**
 * Packets built from scratch: TCP segments inside IPv4 or IPv6 inside any link layer the
 * dissector reads, and TCP conversations that keep their sequence numbers straight. For
 * tests, benchmarks and demos: captures with known contents.
 */
import { isIP } from 'node:net';
import { DiagonError } from '../../libs/db/errors.js';
import { TCP_ACK, TCP_FIN, TCP_PSH, TCP_RST, TCP_SYN } from './ip.js';
import {
  LINKTYPE_ETHERNET,
  LINKTYPE_LINUX_SLL,
  LINKTYPE_LINUX_SLL2,
  LINKTYPE_LOOP,
  LINKTYPE_NULL,
} from './link.js';

export interface TcpFields {
  srcPort: number;
  dstPort: number;
  seq: number;
  ack: number;
  flags: number;
  payload?: Uint8Array;
}

/** The bytes of an address in text form (IPv4 or IPv6); throws `capture/bad-address`. */
export function addressBytes(text: string): Uint8Array {
  const family = isIP(text);
  if (family === 4) return Uint8Array.from(text.split('.').map(Number));
  if (family !== 6) throw new DiagonError('capture/bad-address', `"${text}" is not an IP address`);
  const [head = '', tail] = text.split('::');
  const groups = (s: string) => (s === '' ? [] : s.split(':').map((g) => Number.parseInt(g, 16)));
  const front = groups(head);
  const back = tail === undefined ? [] : groups(tail);
  const all = [...front, ...new Array(8 - front.length - back.length).fill(0), ...back];
  const out = new Uint8Array(16);
  all.forEach((g, i) => {
    out[2 * i] = g >> 8;
    out[2 * i + 1] = g & 0xff;
  });
  return out;
}

/** A TCP header (20 bytes, no options, checksum left 0) and its payload. */
export function tcpBytes(f: TcpFields): Uint8Array {
  const payload = f.payload ?? new Uint8Array(0);
  const out = new Uint8Array(20 + payload.length);
  const v = new DataView(out.buffer);
  v.setUint16(0, f.srcPort);
  v.setUint16(2, f.dstPort);
  v.setUint32(4, f.seq >>> 0);
  v.setUint32(8, f.ack >>> 0);
  out[12] = 5 << 4;
  out[13] = f.flags;
  v.setUint16(14, 65535);
  out.set(payload, 20);
  return out;
}

export interface IpOptions {
  /** IPv4: the fragment field (flags and offset), e.g. 0x2000 for more-fragments. */
  fragment?: number;
  /** IPv6: extension headers before TCP, by next-header number (0, 43, 44, 60). */
  extensions?: number[];
  /** The protocol number (default 6, TCP). */
  protocol?: number;
}

/** An IPv4 or IPv6 packet (by the address size) around `payload`. */
export function ipPacket(
  src: Uint8Array,
  dst: Uint8Array,
  payload: Uint8Array,
  opts: IpOptions = {},
): Uint8Array {
  const protocol = opts.protocol ?? 6;
  if (src.length === 4) {
    const out = new Uint8Array(20 + payload.length);
    const v = new DataView(out.buffer);
    out[0] = 0x45;
    v.setUint16(2, out.length);
    v.setUint16(6, opts.fragment ?? 0);
    out[8] = 64;
    out[9] = protocol;
    out.set(src, 12);
    out.set(dst, 16);
    out.set(payload, 20);
    return out;
  }
  const extensions = opts.extensions ?? [];
  const out = new Uint8Array(40 + 8 * extensions.length + payload.length);
  const v = new DataView(out.buffer);
  out[0] = 0x60;
  v.setUint16(4, out.length - 40);
  out[6] = extensions[0] ?? protocol;
  out[7] = 64;
  out.set(src, 8);
  out.set(dst, 24);
  extensions.forEach((_, i) => {
    // Each extension: next header, length in 8-byte units beyond the first (0), padding.
    out[40 + 8 * i] = extensions[i + 1] ?? protocol;
  });
  out.set(payload, 40 + 8 * extensions.length);
  return out;
}

export interface LinkOptions {
  /** Ethernet: an 802.1Q tag with this VLAN id. */
  vlan?: number;
  /** NULL: the family's byte order (DLT_NULL uses the capturing host's). */
  bigEndian?: boolean;
  /** NULL/LOOP: the address family (default 2 for IPv4, 10 for IPv6). */
  family?: number;
}

/** `ip` inside a frame of `linkType` (raw types return it as is). */
export function linkFrame(linkType: number, ip: Uint8Array, opts: LinkOptions = {}): Uint8Array {
  const ipv6 = ip[0]! >> 4 === 6;
  const etherType = ipv6 ? 0x86dd : 0x0800;
  let header: Uint8Array;
  if (linkType === LINKTYPE_ETHERNET) {
    const tag = opts.vlan === undefined ? 0 : 4;
    header = new Uint8Array(14 + tag);
    const v = new DataView(header.buffer);
    header.set([2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1]);
    if (opts.vlan !== undefined) {
      v.setUint16(12, 0x8100);
      v.setUint16(14, opts.vlan & 0x0fff);
    }
    v.setUint16(12 + tag, etherType);
  } else if (linkType === LINKTYPE_NULL || linkType === LINKTYPE_LOOP) {
    header = new Uint8Array(4);
    const family = opts.family ?? (ipv6 ? 10 : 2);
    const networkOrder = linkType === LINKTYPE_LOOP || opts.bigEndian === true;
    new DataView(header.buffer).setUint32(0, family, !networkOrder);
  } else if (linkType === LINKTYPE_LINUX_SLL) {
    header = new Uint8Array(16);
    const v = new DataView(header.buffer);
    v.setUint16(2, 1);
    v.setUint16(4, 6);
    v.setUint16(14, etherType);
  } else if (linkType === LINKTYPE_LINUX_SLL2) {
    header = new Uint8Array(20);
    const v = new DataView(header.buffer);
    v.setUint16(0, etherType);
    v.setUint32(4, 1);
    v.setUint16(8, 1);
    header[11] = 6;
  } else return ip;
  const out = new Uint8Array(header.length + ip.length);
  out.set(header);
  out.set(ip, header.length);
  return out;
}

export interface Endpoint {
  ip: string;
  port: number;
}

export type Side = 'client' | 'server';

/**
 * A TCP connection's packets (IP packets) with consistent sequence and acknowledgment
 * numbers: `open()` for the handshake, `send()` for data cut at `mss`, `close()` and
 * `reset()`. Each returns the packets in order; reorder or drop them to test loss.
 */
export class TcpConversation {
  private readonly addr: Record<Side, Uint8Array>;
  private readonly port: Record<Side, number>;
  /** The next sequence number each side sends. */
  readonly next: Record<Side, number>;

  constructor(client: Endpoint, server: Endpoint, isn: { client?: number; server?: number } = {}) {
    this.addr = { client: addressBytes(client.ip), server: addressBytes(server.ip) };
    this.port = { client: client.port, server: server.port };
    this.next = { client: isn.client ?? 1000, server: isn.server ?? 5000 };
  }

  /** A packet from `from` with `flags`, `payload` at sequence number `seq`. */
  packet(from: Side, flags: number, payload?: Uint8Array, seq = this.next[from]): Uint8Array {
    const to: Side = from === 'client' ? 'server' : 'client';
    const tcp = tcpBytes({
      srcPort: this.port[from],
      dstPort: this.port[to],
      seq,
      ack: flags & TCP_ACK ? this.next[to] : 0,
      flags,
      payload,
    });
    return ipPacket(this.addr[from], this.addr[to], tcp);
  }

  /** SYN, SYN-ACK, ACK. */
  open(): Uint8Array[] {
    const syn = this.packet('client', TCP_SYN);
    this.advance('client', 1);
    const synAck = this.packet('server', TCP_SYN | TCP_ACK);
    this.advance('server', 1);
    return [syn, synAck, this.packet('client', TCP_ACK)];
  }

  /** `bytes` from `from`, in segments of at most `mss` bytes. */
  send(from: Side, bytes: Uint8Array, mss = 1460): Uint8Array[] {
    const out: Uint8Array[] = [];
    for (let at = 0; at < bytes.length; at += mss) {
      const piece = bytes.subarray(at, Math.min(at + mss, bytes.length));
      out.push(this.packet(from, TCP_ACK | TCP_PSH, piece));
      this.advance(from, piece.length);
    }
    return out;
  }

  /** FIN from each side, then the last ACK. */
  close(): Uint8Array[] {
    const finClient = this.packet('client', TCP_FIN | TCP_ACK);
    this.advance('client', 1);
    const finServer = this.packet('server', TCP_FIN | TCP_ACK);
    this.advance('server', 1);
    return [finClient, finServer, this.packet('client', TCP_ACK)];
  }

  reset(from: Side): Uint8Array {
    return this.packet(from, TCP_RST | TCP_ACK);
  }

  private advance(side: Side, n: number): void {
    this.next[side] = (this.next[side] + n) >>> 0;
  }
}
