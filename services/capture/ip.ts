/**
 * IPv4 and IPv6 down to TCP: the segment's addresses, ports, sequence numbers, flags and
 * payload, as views into the packet. Whatever is not a whole, unfragmented TCP segment
 * gets a reason instead (never a throw). Checksums are not verified: captures taken on the
 * sending host carry offloaded, unset checksums.
 */

export interface TcpSegment {
  /** Source address bytes: 4 (IPv4) or 16 (IPv6). */
  src: Uint8Array;
  dst: Uint8Array;
  srcPort: number;
  dstPort: number;
  /** Sequence and acknowledgment numbers, unsigned 32-bit. */
  seq: number;
  ack: number;
  /** The flag bits: TCP_FIN, TCP_SYN, TCP_RST, TCP_ACK, ... */
  flags: number;
  payload: Uint8Array;
}

export const TCP_FIN = 0x01;
export const TCP_SYN = 0x02;
export const TCP_RST = 0x04;
export const TCP_PSH = 0x08;
export const TCP_ACK = 0x10;

export type IpSkipReason =
  | 'unknown-ip-version'
  | 'ip-truncated'
  | 'bad-ip-header'
  | 'ip-fragment'
  | 'not-tcp'
  | 'tcp-truncated'
  | 'bad-tcp-header';

const PROTO_TCP = 6;
const IPV4_MIN_HEADER = 20;
const IPV4_MORE_FRAGMENTS = 0x2000;
const IPV4_FRAGMENT_OFFSET = 0x1fff;
const IPV6_HEADER = 40;
const IPV6_HOP_BY_HOP = 0;
const IPV6_ROUTING = 43;
const IPV6_FRAGMENT = 44;
const IPV6_AUTH = 51;
const IPV6_DEST_OPTIONS = 60;
/** Extension headers skipped on the way to TCP (the fragment header is not: it ends the walk). */
const IPV6_EXTENSIONS = new Set([IPV6_HOP_BY_HOP, IPV6_ROUTING, IPV6_DEST_OPTIONS, IPV6_AUTH]);
const TCP_MIN_HEADER = 20;

const u16 = (b: Uint8Array, at: number) => (b[at]! << 8) | b[at + 1]!;
const u32 = (b: Uint8Array, at: number) =>
  ((b[at]! << 24) | (b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!) >>> 0;

/** The TCP segment in IP packet `ip`, or why it is skipped. */
export function tcpSegmentOf(ip: Uint8Array): TcpSegment | IpSkipReason {
  if (ip.length === 0) return 'ip-truncated';
  const version = ip[0]! >> 4;
  if (version === 4) return ipv4Segment(ip);
  if (version === 6) return ipv6Segment(ip);
  return 'unknown-ip-version';
}

function ipv4Segment(ip: Uint8Array): TcpSegment | IpSkipReason {
  if (ip.length < IPV4_MIN_HEADER) return 'ip-truncated';
  const headerBytes = (ip[0]! & 0x0f) * 4;
  if (headerBytes < IPV4_MIN_HEADER) return 'bad-ip-header';
  let total = u16(ip, 2);
  // Total length 0 is what TCP segmentation offload leaves in packets captured on the sender.
  if (total === 0) total = ip.length;
  if (total < headerBytes) return 'bad-ip-header';
  if (total > ip.length) return 'ip-truncated';
  const fragment = u16(ip, 6);
  if (fragment & (IPV4_MORE_FRAGMENTS | IPV4_FRAGMENT_OFFSET)) return 'ip-fragment';
  if (ip[9] !== PROTO_TCP) return 'not-tcp';
  // `total` trims the padding Ethernet adds to short frames.
  return tcpOf(ip.subarray(12, 16), ip.subarray(16, 20), ip.subarray(headerBytes, total));
}

function ipv6Segment(ip: Uint8Array): TcpSegment | IpSkipReason {
  if (ip.length < IPV6_HEADER) return 'ip-truncated';
  const payloadLength = u16(ip, 4);
  // 0 is a jumbogram or an offloaded segment: the capture holds the whole packet.
  const end = payloadLength === 0 ? ip.length : IPV6_HEADER + payloadLength;
  if (end > ip.length) return 'ip-truncated';
  let next = ip[6]!;
  let at = IPV6_HEADER;
  while (next !== PROTO_TCP) {
    if (next === IPV6_FRAGMENT) return 'ip-fragment';
    if (!IPV6_EXTENSIONS.has(next)) return 'not-tcp';
    if (at + 2 > end) return 'ip-truncated';
    const length = next === IPV6_AUTH ? (ip[at + 1]! + 2) * 4 : (ip[at + 1]! + 1) * 8;
    next = ip[at]!;
    at += length;
    if (at > end) return 'ip-truncated';
  }
  return tcpOf(ip.subarray(8, 24), ip.subarray(24, 40), ip.subarray(at, end));
}

function tcpOf(src: Uint8Array, dst: Uint8Array, tcp: Uint8Array): TcpSegment | IpSkipReason {
  if (tcp.length < TCP_MIN_HEADER) return 'tcp-truncated';
  const headerBytes = (tcp[12]! >> 4) * 4;
  if (headerBytes < TCP_MIN_HEADER) return 'bad-tcp-header';
  if (headerBytes > tcp.length) return 'tcp-truncated';
  return {
    src,
    dst,
    srcPort: u16(tcp, 0),
    dstPort: u16(tcp, 2),
    seq: u32(tcp, 4),
    ack: u32(tcp, 8),
    flags: tcp[13]!,
    payload: tcp.subarray(headerBytes),
  };
}

/** `ip:port`: dotted IPv4, or `[ip6]:port` with RFC 5952 text (longest zero run as `::`). */
export function formatEndpoint(addr: Uint8Array, port: number): string {
  if (addr.length === 4) return `${addr[0]}.${addr[1]}.${addr[2]}.${addr[3]}:${port}`;
  const groups: number[] = [];
  for (let i = 0; i + 1 < addr.length; i += 2) groups.push(u16(addr, i));
  let bestAt = -1;
  let bestLength = 1;
  for (let i = 0; i < groups.length; ) {
    let j = i;
    while (j < groups.length && groups[j] === 0) j++;
    if (j - i > bestLength) {
      bestAt = i;
      bestLength = j - i;
    }
    i = j === i ? i + 1 : j;
  }
  const hex = (gs: number[]) => gs.map((g) => g.toString(16)).join(':');
  const text =
    bestAt < 0
      ? hex(groups)
      : `${hex(groups.slice(0, bestAt))}::${hex(groups.slice(bestAt + bestLength))}`;
  return `[${text}]:${port}`;
}
