import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { encodeFrame, encodeMessage, type Message } from '../../libs/wire/index.js';
import { type Anomaly, Dissector, type DissectorOptions, type FrameEvent } from './dissector.js';
import { TCP_ACK, TCP_PSH, type TcpSegment, tcpSegmentOf } from './ip.js';
import {
  LINKTYPE_ETHERNET,
  LINKTYPE_LINUX_SLL,
  LINKTYPE_LINUX_SLL2,
  LINKTYPE_LOOP,
  LINKTYPE_NULL,
  LINKTYPE_RAW,
} from './link.js';
import {
  addressBytes,
  type Endpoint,
  ipPacket,
  linkFrame,
  type Side,
  TcpConversation,
} from './packet-builder.js';
import { framesOf, handshakeFrames, type SampleFrame, sessionFrames } from './sample-session.js';

const SERVER: Endpoint = { ip: '10.0.0.1', port: 7420 };
const CLIENT: Endpoint = { ip: '10.9.8.7', port: 51515 };
const FLOW = { client: '10.9.8.7:51515', server: '10.0.0.1:7420' };
const concat = (parts: Uint8Array[]) => new Uint8Array(Buffer.concat(parts));

interface Dissected {
  events: FrameEvent[];
  anomalies: Anomaly[];
  dissector: Dissector;
}

/** Dissect IP packets (1 µs apart) wrapped in `linkType`; finish the capture. */
function dissect(
  packets: Uint8Array[],
  opts: Partial<DissectorOptions> & { linkType?: number; vlan?: number } = {},
): Dissected {
  const events: FrameEvent[] = [];
  const anomalies: Anomaly[] = [];
  const dissector = new Dissector(
    { serverPorts: [7420], ...opts },
    { frame: (e) => events.push(e), anomaly: (a) => anomalies.push(a) },
  );
  const linkType = opts.linkType ?? LINKTYPE_ETHERNET;
  packets.forEach((ip, i) => {
    dissector.packet(1_000_000n + BigInt(i) * 1000n, linkType, linkFrame(linkType, ip, opts));
  });
  dissector.finish();
  return { events, anomalies, dissector };
}

/** The packets of a connection carrying `frames`, each frame in segments of `mss`. */
function connection(
  frames: SampleFrame[],
  opts: {
    client?: Endpoint;
    server?: Endpoint;
    isn?: { client?: number; server?: number };
    mss?: number;
  } = {},
): Uint8Array[] {
  const c = new TcpConversation(opts.client ?? CLIENT, opts.server ?? SERVER, opts.isn);
  return [...c.open(), ...frames.flatMap((f) => c.send(f.from, f.bytes, opts.mss)), ...c.close()];
}

/** What the events of `frames` should be: every one ok, in order. */
function expectedEvents(frames: SampleFrame[], flow = FLOW) {
  const did = frames.find((f) => f.message.type === 'connect')?.message;
  let connected = false;
  return frames.map((f) => {
    connected ||= f.message.type === 'connect';
    const e: Partial<FrameEvent> = {
      flow,
      direction: f.from === 'client' ? 'request' : 'response',
      type: f.message.type,
      size: f.bytes.length,
      status: 'ok',
    };
    const id = idOf(f.message);
    if (id !== undefined) e.requestId = id;
    if (connected && did?.type === 'connect') e.did = did.did;
    return e;
  });
}

const idOf = (m: Message) => ('id' in m ? m.id : undefined);
/** A frame of raw bytes on the client's side (its `message` is not what the bytes hold). */
const raw = (bytes: Uint8Array): SampleFrame => ({
  from: 'client',
  message: { type: 'ping', id: 0 },
  bytes,
});

const summary = (events: FrameEvent[]) =>
  events.map((e) => `${e.direction} ${e.type} ${e.requestId ?? '-'} ${e.status}`);

describe('Dissector', () => {
  const session = sessionFrames(12);

  it('turns a session into one event per frame: type, direction, request id, DID, size', () => {
    const { events, anomalies, dissector } = dissect(connection(session));
    expect(events).toEqual(expectedEvents(session).map((e) => expect.objectContaining(e)));
    expect(events[0]!.timeNs).toBe(1_000_000n + 3000n);
    expect(anomalies).toEqual([]);
    expect(dissector.counters).toMatchObject({
      packets: session.length + 6,
      segments: session.length + 6,
      frames: session.length,
      framesByStatus: { ok: session.length },
      framesByType: { connect: 1, query: 11, reply: 11, ping: 1, pong: 1 },
      skipped: {},
    });
    expect(dissector.counters.reassembly).toMatchObject({ flows: 1, gaps: 0, retransmissions: 0 });
  });

  it.each([
    ['Ethernet', { linkType: LINKTYPE_ETHERNET }],
    ['Ethernet with a VLAN tag', { linkType: LINKTYPE_ETHERNET, vlan: 12 }],
    ['Linux SLL', { linkType: LINKTYPE_LINUX_SLL }],
    ['Linux SLL2', { linkType: LINKTYPE_LINUX_SLL2 }],
    ['NULL', { linkType: LINKTYPE_NULL }],
    ['LOOP', { linkType: LINKTYPE_LOOP }],
    ['RAW', { linkType: LINKTYPE_RAW }],
  ])('reads the session over %s', (_, opts) => {
    expect(dissect(connection(session), opts).events).toEqual(
      expectedEvents(session).map((e) => expect.objectContaining(e)),
    );
  });

  it('reads the session over IPv6', () => {
    const client = { ip: '2001:db8::77', port: 50000 };
    const server = { ip: '2001:db8::1', port: 7420 };
    const { events } = dissect(connection(session, { client, server }));
    const flow = { client: '[2001:db8::77]:50000', server: '[2001:db8::1]:7420' };
    expect(events).toEqual(expectedEvents(session, flow).map((e) => expect.objectContaining(e)));
  });

  it('reads frames split over many segments, and many frames in one segment', () => {
    const tiny = dissect(connection(session, { mss: 3 }));
    expect(summary(tiny.events)).toEqual(summary(dissect(connection(session)).events));
    const c = new TcpConversation(CLIENT, SERVER);
    const handshake = handshakeFrames();
    const requests = framesOf(
      Array.from({ length: 50 }, (_, i): [Side, Message] => ['client', { type: 'ping', id: i }]),
    );
    const packets = [
      ...c.open(),
      ...handshake.flatMap((f) => c.send(f.from, f.bytes)),
      ...c.send('client', concat(requests.map((f) => f.bytes)), 100_000),
    ];
    const { events } = dissect(packets);
    expect(events.length).toBe(handshake.length + 50);
    expect(events.slice(-50).map((e) => [e.requestId, e.status])).toEqual(
      requests.map((_, i) => [i, 'ok']),
    );
  });

  it('reads the session whatever its ISNs, across the 2^32 wrap', () => {
    const isn = { client: 0xffffff00, server: 0xfffffff0 };
    const { events, dissector } = dissect(connection(session, { isn, mss: 100 }));
    expect(events).toEqual(expectedEvents(session).map((e) => expect.objectContaining(e)));
    expect(dissector.counters.reassembly.gaps).toBe(0);
  });

  it('reads reordered and retransmitted segments as the frames sent, counting retransmissions', () => {
    const packets = connection(session, { mss: 40 });
    const data = packets.slice(3, -3);
    // Swap neighbours from the same side, and send every fifth segment twice.
    const side = (p: Uint8Array) => (tcpSegmentOf(p) as TcpSegment).srcPort;
    const shuffled: Uint8Array[] = [];
    for (let i = 0; i < data.length; i += 2) {
      const [a, b] = [data[i]!, data[i + 1]];
      if (b !== undefined && side(a) === side(b)) shuffled.push(b, a);
      else shuffled.push(a, ...(b === undefined ? [] : [b]));
      if (i % 5 === 0) shuffled.push(a);
    }
    const { events, dissector } = dissect([
      ...packets.slice(0, 3),
      ...shuffled,
      ...packets.slice(-3),
    ]);
    expect(summary(events)).toEqual(summary(dissect(packets).events));
    expect(dissector.counters.reassembly.retransmissions).toBe(Math.ceil(data.length / 10));
  });

  it('flags requests before Authenticated, and messages in the wrong direction', () => {
    const frames = [
      ...handshakeFrames().slice(0, 3),
      ...framesOf([
        ['client', { type: 'query', id: 1, query: '[:find ?e]' }],
        ['client', { type: 'reply', id: 1, value: 'nil' }],
      ]),
      ...handshakeFrames().slice(4),
      ...framesOf([
        ['client', { type: 'query', id: 2, query: '[:find ?e]' }],
        ['client', { type: 'elaborate', text: 'too late' }],
      ]),
    ];
    const { events, anomalies } = dissect(connection(frames));
    expect(events.map((e) => [e.type, e.status, e.detail])).toEqual([
      ['connect', 'ok', undefined],
      ['challenge', 'ok', undefined],
      ['response', 'ok', undefined],
      ['query', 'violation', 'query before the server sent Authenticated'],
      ['reply', 'violation', 'reply sent by the client'],
      ['authenticated', 'ok', undefined],
      ['query', 'ok', undefined],
      ['elaborate', 'violation', 'elaborate after the handshake'],
    ]);
    expect(anomalies.map((a) => [a.kind, a.direction])).toEqual([
      ['violation', 'request'],
      ['violation', 'request'],
      ['violation', 'request'],
    ]);
  });

  it('does not judge the order of a flow first seen after its handshake', () => {
    const c = new TcpConversation(CLIENT, SERVER);
    c.open();
    for (const f of handshakeFrames()) c.send(f.from, f.bytes);
    const later = framesOf([
      ['client', { type: 'query', id: 5, query: '[:find ?e]' }],
      ['server', { type: 'reply', id: 5, value: '#{}' }],
    ]);
    const { events, anomalies } = dissect(later.flatMap((f) => c.send(f.from, f.bytes)));
    expect(events.map((e) => [e.type, e.status, e.did])).toEqual([
      ['query', 'ok', undefined],
      ['reply', 'ok', undefined],
    ]);
    expect(anomalies).toEqual([]);
  });

  it('reports malformed and over-large frames, and goes on', () => {
    const frames = [
      ...handshakeFrames(),
      raw(encodeFrame(0x12, Uint8Array.of(0xa0))),
      ...framesOf([['client', { type: 'ping', id: 1 }]]),
      raw(encodeFrame(0x20, new Uint8Array(700))),
      ...framesOf([['client', { type: 'ping', id: 2 }]]),
    ];
    const { events, anomalies, dissector } = dissect(connection(frames), { maxFrameSize: 600 });
    expect(events.slice(5).map((e) => [e.type, e.status, e.size])).toEqual([
      ['query', 'malformed', 7],
      ['ping', 'ok', 11],
      ['reply', 'too-large', 706],
      ['ping', 'after-gap', 11],
    ]);
    expect(anomalies.map((a) => a.kind)).toEqual(['malformed', 'too-large', 'skipped-bytes']);
    expect(dissector.counters).toMatchObject({ resyncs: 1, bytesSkipped: 706 });
  });

  it('after a lost segment, skips to the next whole frame and invents none', () => {
    const frames = sessionFrames(30);
    const c = new TcpConversation(CLIENT, SERVER);
    const packets = c.open();
    const clientData: number[] = [];
    for (const f of frames)
      for (const p of c.send(f.from, f.bytes, 50)) {
        if (f.from === 'client') clientData.push(packets.length);
        packets.push(p);
      }
    packets.push(...c.close());
    const lost = clientData[Math.floor(clientData.length / 2)]!;
    const lostBytes = (tcpSegmentOf(packets[lost]!) as TcpSegment).payload.length;
    const { events, anomalies, dissector } = dissect(packets.filter((_, i) => i !== lost));
    const sent = frames.map((f) => f.message);
    const decoded = events.filter((e) => e.status === 'ok' || e.status === 'after-gap');
    for (const e of decoded)
      expect(sent.some((m) => m.type === e.type && idOf(m) === e.requestId)).toBe(true);
    expect(events.filter((e) => e.status === 'after-gap')).toHaveLength(1);
    expect(anomalies.filter((a) => a.kind === 'gap')).toEqual([
      expect.objectContaining({ direction: 'request', length: lostBytes }),
    ]);
    expect(dissector.counters.reassembly).toMatchObject({ gaps: 1, gapBytes: lostBytes });
    expect(dissector.counters.resyncs).toBe(1);
    // Every response frame is still there, in order.
    expect(events.filter((e) => e.direction === 'response').map((e) => e.requestId)).toEqual(
      frames.filter((f) => f.from === 'server').map((f) => idOf(f.message)),
    );
  });

  it('reports a retransmission that rewrites delivered bytes', () => {
    const c = new TcpConversation(CLIENT, SERVER);
    const ping = encodeMessage({ type: 'ping', id: 1 });
    const packets = [
      ...c.open(),
      ...handshakeFrames().flatMap((f) => c.send(f.from, f.bytes)),
      ...c.send('client', ping),
    ];
    const forged = encodeMessage({ type: 'ping', id: 2 });
    packets.push(c.packet('client', TCP_ACK | TCP_PSH, forged, c.next.client - ping.length));
    const { events, anomalies } = dissect(packets);
    expect(events.map((e) => e.requestId).slice(5)).toEqual([1]);
    const offset = handshakeFrames()
      .filter((f) => f.from === 'client')
      .reduce((n, f) => n + f.bytes.length, 0);
    expect(anomalies).toEqual([
      expect.objectContaining({
        kind: 'conflicting-overlap',
        direction: 'request',
        offset,
        length: 11,
      }),
    ]);
  });

  it('keeps within its bound on flows, counting evictions', () => {
    const packets: Uint8Array[] = [];
    for (let n = 0; n < 20; n++) {
      const c = new TcpConversation({ ip: `10.2.0.${n}`, port: 40000 + n }, SERVER);
      packets.push(...c.open(), ...handshakeFrames(n + 1).flatMap((f) => c.send(f.from, f.bytes)));
    }
    const { events, dissector } = dissect(packets, { reassembly: { maxFlows: 5 } });
    expect(dissector.counters.reassembly).toMatchObject({ flows: 20, flowsEvicted: 15 });
    expect(events).toHaveLength(20 * 5);
  });

  it('counts the packets it skips, by reason', () => {
    const udp = ipPacket(addressBytes('10.0.0.1'), addressBytes('10.0.0.2'), new Uint8Array(8), {
      protocol: 17,
    });
    const web = new TcpConversation({ ip: '10.0.0.3', port: 40000 }, { ip: '10.0.0.4', port: 443 });
    const { dissector } = dissect([udp, ...web.open()]);
    dissector.packet(0n, 147, new Uint8Array(10));
    expect(dissector.counters.skipped).toEqual({
      'not-tcp': 1,
      'not-server-port': 3,
      'unsupported-link-type': 1,
    });
  });

  it('reads any cut and any reordering within each side’s turn as the frames sent', () => {
    const frames = sessionFrames(4);
    // Turns: runs of frames from one side, sent as one byte stream.
    const turns: { from: Side; bytes: Uint8Array }[] = [];
    for (const f of frames) {
      const last = turns.at(-1);
      if (last?.from === f.from) last.bytes = concat([last.bytes, f.bytes]);
      else turns.push({ from: f.from, bytes: f.bytes });
    }
    fc.assert(
      fc.property(
        fc.array(fc.array(fc.nat(), { maxLength: 8 }), {
          minLength: turns.length,
          maxLength: turns.length,
        }),
        fc.array(fc.nat(), { minLength: 64, maxLength: 64 }),
        (cutsPerTurn, order) => {
          const c = new TcpConversation(CLIENT, SERVER, {
            client: order[0]!,
            server: order[1]! * 77,
          });
          const packets = c.open();
          turns.forEach((turn, t) => {
            const points = [...new Set(cutsPerTurn[t]!.map((x) => x % turn.bytes.length))].sort(
              (a, b) => a - b,
            );
            const edges = [0, ...points.filter((p) => p > 0), turn.bytes.length];
            const segments = edges.slice(1).map((end, i) => {
              const piece = turn.bytes.subarray(edges[i]!, end);
              return c.send(turn.from, piece, piece.length)[0]!;
            });
            const keyed = segments.map((s, i) => [order[(t * 7 + i) % 64]!, i, s] as const);
            keyed.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
            packets.push(...keyed.map(([, , s]) => s));
          });
          packets.push(...c.close());
          const { events, anomalies } = dissect(packets);
          expect(events).toEqual(expectedEvents(frames).map((e) => expect.objectContaining(e)));
          expect(anomalies).toEqual([]);
        },
      ),
      { numRuns: 150 },
    );
  });

  it('never throws, whatever the packets hold', () => {
    const packets = connection(sessionFrames(3), { mss: 60 }).map((ip) =>
      linkFrame(LINKTYPE_ETHERNET, ip),
    );
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.nat(), fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 12 }),
        fc.array(fc.uint8Array({ maxLength: 80 }), { maxLength: 5 }),
        fc.constantFrom(0, 1, 101, 113, 276),
        (edits, noise, linkType) => {
          const mutated = packets.map((p) => Uint8Array.from(p));
          for (const [which, at, value] of edits) {
            const p = mutated[which % mutated.length]!;
            p[at % p.length] = value;
          }
          const d = new Dissector({ serverPorts: [7420] }, { frame: () => {}, anomaly: () => {} });
          for (const [i, p] of mutated.entries()) d.packet(BigInt(i), LINKTYPE_ETHERNET, p);
          for (const n of noise) d.packet(0n, linkType, n);
          d.finish();
        },
      ),
      { numRuns: 1000 },
    );
  });
});
