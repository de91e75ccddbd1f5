/**
 * Link layers: from a captured frame to the IP packet it carries. Returns a view into the
 * frame, or the reason the packet is skipped (never a throw: captures hold anything).
 */

export const LINKTYPE_NULL = 0;
export const LINKTYPE_ETHERNET = 1;
/** DLT_RAW as some BSDs number it in files. */
export const LINKTYPE_RAW_BSD = 12;
/** DLT_RAW as OpenBSD numbers it in files. */
export const LINKTYPE_RAW_OPENBSD = 14;
export const LINKTYPE_RAW = 101;
export const LINKTYPE_LOOP = 108;
export const LINKTYPE_LINUX_SLL = 113;
export const LINKTYPE_IPV4 = 228;
export const LINKTYPE_IPV6 = 229;
export const LINKTYPE_LINUX_SLL2 = 276;

export type LinkSkipReason =
  | 'unsupported-link-type'
  | 'link-truncated'
  | 'not-ip'
  | 'unsupported-address-family';

const ETHERTYPE_IPV4 = 0x0800;
const ETHERTYPE_IPV6 = 0x86dd;
const ETHERTYPE_VLAN = 0x8100;
const ETHERTYPE_QINQ = 0x88a8;
const ETHERNET_HEADER_BYTES = 14;
const VLAN_TAG_BYTES = 4;
/** An outer (service) tag and an inner (customer) tag. */
const MAX_VLAN_TAGS = 2;
const SLL_HEADER_BYTES = 16;
const SLL2_HEADER_BYTES = 20;
const AF_INET = 2;
/** AF_INET6 differs by system: Linux 10, NetBSD/OpenBSD 24, FreeBSD 28, macOS 30. */
const AF_INET6 = new Set([10, 24, 28, 30]);

/** The IP packet inside `frame` of link type `linkType`, or why there is none. */
export function ipPacketOf(linkType: number, frame: Uint8Array): Uint8Array | LinkSkipReason {
  switch (linkType) {
    case LINKTYPE_ETHERNET:
      return ethernetPayload(frame);
    case LINKTYPE_NULL:
    case LINKTYPE_LOOP:
      return loopbackPayload(frame);
    case LINKTYPE_RAW:
    case LINKTYPE_RAW_BSD:
    case LINKTYPE_RAW_OPENBSD:
    case LINKTYPE_IPV4:
    case LINKTYPE_IPV6:
      return frame;
    case LINKTYPE_LINUX_SLL:
      return frame.length < SLL_HEADER_BYTES
        ? 'link-truncated'
        : byEtherType(frame, (frame[14]! << 8) | frame[15]!, SLL_HEADER_BYTES);
    case LINKTYPE_LINUX_SLL2:
      return frame.length < SLL2_HEADER_BYTES
        ? 'link-truncated'
        : byEtherType(frame, (frame[0]! << 8) | frame[1]!, SLL2_HEADER_BYTES);
    default:
      return 'unsupported-link-type';
  }
}

function byEtherType(
  frame: Uint8Array,
  etherType: number,
  offset: number,
): Uint8Array | LinkSkipReason {
  return etherType === ETHERTYPE_IPV4 || etherType === ETHERTYPE_IPV6
    ? frame.subarray(offset)
    : 'not-ip';
}

function ethernetPayload(frame: Uint8Array): Uint8Array | LinkSkipReason {
  if (frame.length < ETHERNET_HEADER_BYTES) return 'link-truncated';
  let offset = ETHERNET_HEADER_BYTES;
  let etherType = (frame[12]! << 8) | frame[13]!;
  for (let tags = 0; etherType === ETHERTYPE_VLAN || etherType === ETHERTYPE_QINQ; tags++) {
    if (tags === MAX_VLAN_TAGS) return 'not-ip';
    if (frame.length < offset + VLAN_TAG_BYTES) return 'link-truncated';
    etherType = (frame[offset + 2]! << 8) | frame[offset + 3]!;
    offset += VLAN_TAG_BYTES;
  }
  return byEtherType(frame, etherType, offset);
}

/** NULL (host byte order of the capturing machine) and LOOP (network order): accept both. */
function loopbackPayload(frame: Uint8Array): Uint8Array | LinkSkipReason {
  if (frame.length < 4) return 'link-truncated';
  const little = frame[0]! | (frame[1]! << 8) | (frame[2]! << 16) | (frame[3]! << 24);
  const big = (frame[0]! << 24) | (frame[1]! << 16) | (frame[2]! << 8) | frame[3]!;
  const family = little >>> 0 < 0x10000 ? little : big;
  return family === AF_INET || AF_INET6.has(family)
    ? frame.subarray(4)
    : 'unsupported-address-family';
}
