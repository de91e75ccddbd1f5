import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { formatEndpoint, TCP_ACK, TCP_PSH, tcpSegmentOf } from './ip.js';
import { addressBytes, ipPacket, tcpBytes } from './packet-builder.js';

const payload = new TextEncoder().encode('hello');
const tcp = tcpBytes({
  srcPort: 50000,
  dstPort: 7420,
  seq: 0xfffffff0,
  ack: 77,
  flags: TCP_ACK | TCP_PSH,
  payload,
});
const v4 = (bytes = tcp, opts = {}) =>
  ipPacket(addressBytes('192.168.1.2'), addressBytes('10.0.0.1'), bytes, opts);
const v6 = (bytes = tcp, opts = {}) =>
  ipPacket(addressBytes('2001:db8::2'), addressBytes('2001:db8::1'), bytes, opts);
const edit = (bytes: Uint8Array, at: number, value: number) => {
  const out = Uint8Array.from(bytes);
  out[at] = value;
  return out;
};

describe('IPv4', () => {
  it('gives the TCP segment: addresses, ports, numbers, flags, payload', () => {
    expect(tcpSegmentOf(v4())).toEqual({
      src: addressBytes('192.168.1.2'),
      dst: addressBytes('10.0.0.1'),
      srcPort: 50000,
      dstPort: 7420,
      seq: 0xfffffff0,
      ack: 77,
      flags: TCP_ACK | TCP_PSH,
      payload,
    });
  });

  it('trims Ethernet padding by the total length, and reads a total length of 0 (TSO)', () => {
    const padded = Uint8Array.from([...v4(), 0, 0, 0, 0, 0, 0]);
    expect(tcpSegmentOf(padded)).toMatchObject({ payload });
    const tso = Uint8Array.from(v4());
    tso[2] = tso[3] = 0;
    expect(tcpSegmentOf(tso)).toMatchObject({ payload });
  });

  it('skips fragments, other protocols and broken headers with a reason', () => {
    expect(tcpSegmentOf(v4(tcp, { fragment: 0x2000 }))).toBe('ip-fragment');
    expect(tcpSegmentOf(v4(tcp, { fragment: 0x0010 }))).toBe('ip-fragment');
    expect(tcpSegmentOf(v4(tcp, { fragment: 0x4000 }))).toMatchObject({ payload }); // DF only
    expect(tcpSegmentOf(v4(tcp, { protocol: 17 }))).toBe('not-tcp');
    expect(tcpSegmentOf(edit(v4(), 0, 0x44))).toBe('bad-ip-header');
    expect(tcpSegmentOf(edit(v4(), 3, 19))).toBe('bad-ip-header');
    expect(tcpSegmentOf(v4().subarray(0, 30))).toBe('ip-truncated');
    expect(tcpSegmentOf(v4().subarray(0, 19))).toBe('ip-truncated');
    expect(tcpSegmentOf(new Uint8Array(0))).toBe('ip-truncated');
    expect(tcpSegmentOf(edit(v4(), 0, 0x55))).toBe('unknown-ip-version');
  });

  it('skips broken TCP headers with a reason', () => {
    expect(tcpSegmentOf(v4(tcp.subarray(0, 19)))).toBe('tcp-truncated');
    expect(tcpSegmentOf(v4(edit(tcp, 12, 0x40)))).toBe('bad-tcp-header');
    expect(tcpSegmentOf(v4(edit(tcp, 12, 0xf0)))).toBe('tcp-truncated');
  });
});

describe('IPv6', () => {
  it('walks hop-by-hop, routing and destination-options headers to TCP', () => {
    expect(tcpSegmentOf(v6())).toMatchObject({ srcPort: 50000, payload });
    expect(tcpSegmentOf(v6(tcp, { extensions: [0, 43, 60] }))).toMatchObject({
      src: addressBytes('2001:db8::2'),
      payload,
    });
  });

  it('skips fragments, other protocols and cut packets with a reason', () => {
    expect(tcpSegmentOf(v6(tcp, { extensions: [0, 44] }))).toBe('ip-fragment');
    expect(tcpSegmentOf(v6(tcp, { protocol: 17 }))).toBe('not-tcp');
    expect(tcpSegmentOf(v6(tcp, { extensions: [60], protocol: 58 }))).toBe('not-tcp');
    expect(tcpSegmentOf(v6().subarray(0, 39))).toBe('ip-truncated');
    expect(tcpSegmentOf(v6().subarray(0, 50))).toBe('ip-truncated');
    const longExtension = edit(v6(tcp, { extensions: [0] }), 41, 200);
    expect(tcpSegmentOf(longExtension)).toBe('ip-truncated');
  });
});

describe('endpoints', () => {
  it.each([
    ['10.0.0.1', '10.0.0.1:7420'],
    ['2001:db8::1', '[2001:db8::1]:7420'],
    ['::1', '[::1]:7420'],
    ['::', '[::]:7420'],
    ['2001:db8:0:1:1:1:1:1', '[2001:db8:0:1:1:1:1:1]:7420'],
    ['2001:0:0:1:0:0:0:1', '[2001:0:0:1::1]:7420'],
    ['2001:db8:0:0:1:0:0:1', '[2001:db8::1:0:0:1]:7420'],
    ['fe80::', '[fe80::]:7420'],
  ])('%s is written %s (RFC 5952)', (ip, text) => {
    expect(formatEndpoint(addressBytes(ip), 7420)).toBe(text);
  });
});

it('never throws on arbitrary packets', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 120 }), fc.boolean(), (bytes, six) => {
      const packet = Uint8Array.from(bytes);
      if (packet.length > 0) packet[0] = (six ? 0x60 : 0x40) | (packet[0]! & 0x0f);
      const r = tcpSegmentOf(packet);
      if (typeof r !== 'string') expect(r.payload.length).toBeLessThanOrEqual(packet.length);
    }),
    { numRuns: 3000 },
  );
});
