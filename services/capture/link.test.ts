import { describe, expect, it } from 'vitest';
import { tcpSegmentOf } from './ip.js';
import {
  ipPacketOf,
  LINKTYPE_ETHERNET,
  LINKTYPE_IPV6,
  LINKTYPE_LINUX_SLL,
  LINKTYPE_LINUX_SLL2,
  LINKTYPE_LOOP,
  LINKTYPE_NULL,
  LINKTYPE_RAW,
  LINKTYPE_RAW_BSD,
  LINKTYPE_RAW_OPENBSD,
} from './link.js';
import { addressBytes, ipPacket, linkFrame, tcpBytes } from './packet-builder.js';

const hex = (s: string) => Uint8Array.from(Buffer.from(s.replace(/\s/g, ''), 'hex'));
const tcp = tcpBytes({ srcPort: 1, dstPort: 7420, seq: 1, ack: 0, flags: 2 });
const ipv4 = ipPacket(addressBytes('10.0.0.1'), addressBytes('10.0.0.2'), tcp);
const ipv6 = ipPacket(addressBytes('2001:db8::1'), addressBytes('2001:db8::2'), tcp);

describe('link layers', () => {
  it.each([
    ['Ethernet', LINKTYPE_ETHERNET],
    ['Linux SLL', LINKTYPE_LINUX_SLL],
    ['Linux SLL2', LINKTYPE_LINUX_SLL2],
    ['NULL', LINKTYPE_NULL],
    ['LOOP', LINKTYPE_LOOP],
    ['RAW', LINKTYPE_RAW],
    ['RAW (BSD 12)', LINKTYPE_RAW_BSD],
    ['RAW (OpenBSD 14)', LINKTYPE_RAW_OPENBSD],
  ])('%s carries IPv4 and IPv6', (_, linkType) => {
    for (const ip of [ipv4, ipv6])
      expect(ipPacketOf(linkType, linkFrame(linkType, ip))).toEqual(ip);
  });

  it('reads Ethernet with an 802.1Q tag, and two (QinQ), but not three', () => {
    const tagged = linkFrame(LINKTYPE_ETHERNET, ipv4, { vlan: 42 });
    expect(tagged.length).toBe(18 + ipv4.length);
    expect(ipPacketOf(LINKTYPE_ETHERNET, tagged)).toEqual(ipv4);
    const tag = (type: string) => hex(`${type} 002a`);
    const stacked = (tags: string[]) =>
      Uint8Array.from([
        ...tagged.subarray(0, 12),
        ...tags.flatMap((t) => [...tag(t)]),
        0x08,
        0,
        ...ipv4,
      ]);
    expect(ipPacketOf(LINKTYPE_ETHERNET, stacked(['88a8', '8100']))).toEqual(ipv4);
    expect(ipPacketOf(LINKTYPE_ETHERNET, stacked(['88a8', '8100', '8100']))).toBe('not-ip');
  });

  it('reads the NULL family in either byte order, with every AF_INET6 value', () => {
    for (const bigEndian of [false, true]) {
      expect(ipPacketOf(LINKTYPE_NULL, linkFrame(LINKTYPE_NULL, ipv4, { bigEndian }))).toEqual(
        ipv4,
      );
      for (const family of [10, 24, 28, 30])
        expect(
          ipPacketOf(LINKTYPE_NULL, linkFrame(LINKTYPE_NULL, ipv6, { bigEndian, family })),
        ).toEqual(ipv6);
    }
    expect(ipPacketOf(LINKTYPE_LOOP, linkFrame(LINKTYPE_LOOP, ipv4, { family: 17 }))).toBe(
      'unsupported-address-family',
    );
  });

  it('gives a reason for what carries no IP packet', () => {
    const arp = Uint8Array.from(linkFrame(LINKTYPE_ETHERNET, ipv4));
    arp.set([0x08, 0x06], 12);
    expect(ipPacketOf(LINKTYPE_ETHERNET, arp)).toBe('not-ip');
    expect(ipPacketOf(LINKTYPE_ETHERNET, arp.subarray(0, 13))).toBe('link-truncated');
    expect(ipPacketOf(LINKTYPE_ETHERNET, linkFrame(1, ipv4, { vlan: 1 }).subarray(0, 16))).toBe(
      'link-truncated',
    );
    expect(ipPacketOf(LINKTYPE_LINUX_SLL, new Uint8Array(15))).toBe('link-truncated');
    expect(ipPacketOf(LINKTYPE_LINUX_SLL2, new Uint8Array(19))).toBe('link-truncated');
    expect(ipPacketOf(LINKTYPE_NULL, new Uint8Array(3))).toBe('link-truncated');
    expect(ipPacketOf(147, ipv4)).toBe('unsupported-link-type');
    expect(tcpSegmentOf(ipPacketOf(LINKTYPE_IPV6, ipv6) as Uint8Array)).toMatchObject({
      dstPort: 7420,
    });
  });
});
