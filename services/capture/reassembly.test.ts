import { describe, expect, it } from 'vitest';
import { TCP_ACK, tcpSegmentOf } from './ip.js';
import { type Side, TcpConversation } from './packet-builder.js';
import {
  type FlowCloseReason,
  type FlowEndpoints,
  type ReassemblyOptions,
  TcpReassembler,
} from './reassembly.js';

interface FlowLog {
  endpoints: FlowEndpoints;
  handshake: boolean;
  /** What each direction delivered: client → server, server → client. */
  text: [string, string];
  gaps: [number, number, number][];
  conflicts: [number, number, number][];
  closed: FlowCloseReason | undefined;
}

const SERVER = { ip: '10.0.0.1', port: 7420 };
const client = (n: number) => ({ ip: `10.0.1.${n}`, port: 50000 + n });
const text = (s: string) => new TextEncoder().encode(s);

function harness(opts: Partial<ReassemblyOptions> = {}) {
  const flows: FlowLog[] = [];
  const reassembler = new TcpReassembler<FlowLog>(
    { serverPorts: new Set([7420]), ...opts },
    {
      open: (endpoints, handshake) => {
        const flow: FlowLog = {
          endpoints,
          handshake,
          text: ['', ''],
          gaps: [],
          conflicts: [],
          closed: undefined,
        };
        flows.push(flow);
        return flow;
      },
      data: (flow, direction, bytes) => {
        flow.text[direction] += Buffer.from(bytes).toString();
      },
      gap: (flow, direction, offset, length) => flow.gaps.push([direction, offset, length]),
      conflict: (flow, direction, offset, length) =>
        flow.conflicts.push([direction, offset, length]),
      close: (flow, reason) => {
        flow.closed = reason;
      },
    },
  );
  let time = 1_000_000_000n;
  /** Feed IP packets, 1 ms apart (or at `at`). */
  const feed = (packets: Uint8Array[], at?: bigint) =>
    packets.map((ip) => {
      const segment = tcpSegmentOf(ip);
      if (typeof segment === 'string') throw new Error(`not a segment: ${segment}`);
      time = at ?? time + 1_000_000n;
      return reassembler.segment(time, segment);
    });
  return { reassembler, flows, feed };
}

/** A conversation's packets from `from` carrying `s`, cut into `mss`-byte segments. */
const say = (c: TcpConversation, from: Side, s: string, mss?: number) => c.send(from, text(s), mss);

describe('TcpReassembler', () => {
  it('follows a connection from SYN to FIN, both directions in order', () => {
    const h = harness();
    const c = new TcpConversation(client(1), SERVER);
    h.feed([...c.open(), ...say(c, 'client', 'hello server', 5), ...say(c, 'server', 'hi')]);
    h.feed([...say(c, 'client', '!'), ...c.close()]);
    expect(h.flows).toEqual([
      {
        endpoints: { client: '10.0.1.1:50001', server: '10.0.0.1:7420' },
        handshake: true,
        text: ['hello server!', 'hi'],
        gaps: [],
        conflicts: [],
        closed: 'fin',
      },
    ]);
    expect(h.reassembler.stats).toMatchObject({ flows: 1, packetsAfterClose: 1, heldBytes: 0 });
  });

  it('tells client from server by the SYN, else by the server port', () => {
    const h = harness();
    // A connection from the server port to another: the SYN says who is the client.
    const odd = new TcpConversation({ ip: '10.0.0.9', port: 7420 }, { ip: '10.0.0.8', port: 9 });
    h.feed([...odd.open(), ...say(odd, 'client', 'up')]);
    // First seen mid-stream, from the server side.
    const late = new TcpConversation(client(2), SERVER);
    late.open();
    h.feed([...say(late, 'server', 'reply'), ...say(late, 'client', 'request')]);
    // First seen at its SYN-ACK.
    const synAck = new TcpConversation(client(3), SERVER);
    h.feed([...synAck.open().slice(1), ...say(synAck, 'client', 'x')]);
    expect(h.flows.map((f) => [f.endpoints, f.handshake, f.text])).toEqual([
      [{ client: '10.0.0.9:7420', server: '10.0.0.8:9' }, true, ['up', '']],
      [{ client: '10.0.1.2:50002', server: '10.0.0.1:7420' }, false, ['request', 'reply']],
      [{ client: '10.0.1.3:50003', server: '10.0.0.1:7420' }, true, ['x', '']],
    ]);
  });

  it('ignores a flow first seen mid-stream on no server port', () => {
    const h = harness();
    const other = new TcpConversation(
      { ip: '10.0.0.5', port: 40000 },
      { ip: '10.0.0.6', port: 80 },
    );
    other.open();
    expect(h.feed(say(other, 'client', 'GET /'))).toEqual([false]);
    expect(h.flows).toEqual([]);
  });

  it('keeps IPv6 flows apart from each other and from IPv4 ones', () => {
    const h = harness();
    const a = new TcpConversation(
      { ip: '2001:db8::a', port: 50000 },
      { ip: '2001:db8::1', port: 7420 },
    );
    const b = new TcpConversation(
      { ip: '2001:db8::b', port: 50000 },
      { ip: '2001:db8::1', port: 7420 },
    );
    const v4 = new TcpConversation(client(1), SERVER);
    h.feed([...a.open(), ...b.open(), ...v4.open()]);
    h.feed([...say(b, 'client', 'bee'), ...say(a, 'client', 'ay'), ...say(v4, 'server', 'four')]);
    h.feed(say(a, 'server', 'AY'));
    expect(h.flows.map((f) => [f.endpoints.client, f.endpoints.server, f.text])).toEqual([
      ['[2001:db8::a]:50000', '[2001:db8::1]:7420', ['ay', 'AY']],
      ['[2001:db8::b]:50000', '[2001:db8::1]:7420', ['bee', '']],
      ['10.0.1.1:50001', '10.0.0.1:7420', ['', 'four']],
    ]);
  });

  it('closes on RST, delivering what was held past a gap', () => {
    const h = harness();
    const c = new TcpConversation(client(1), SERVER);
    const opening = c.open();
    const [one, two, three] = say(c, 'client', 'aaabbbccc', 3);
    h.feed([...opening, one!, three!, c.reset('server')]);
    const flow = h.flows[0]!;
    expect(flow).toMatchObject({ text: ['aaaccc', ''], gaps: [[0, 3, 3]], closed: 'reset' });
    h.feed([two!]);
    expect(h.reassembler.stats.packetsAfterClose).toBe(1);
    expect(flow.text[0]).toBe('aaaccc');
  });

  it('opens a new flow for a new SYN on a closed flow’s 4-tuple', () => {
    const h = harness();
    const first = new TcpConversation(client(1), SERVER, { client: 100 });
    h.feed([...first.open(), ...say(first, 'client', 'one'), ...first.close()]);
    const second = new TcpConversation(client(1), SERVER, { client: 900000 });
    h.feed([...second.open(), ...say(second, 'client', 'two')]);
    expect(h.flows.map((f) => [f.text[0], f.closed])).toEqual([
      ['one', 'fin'],
      ['two', undefined],
    ]);
    // A retransmitted SYN of the open flow is not a new flow.
    h.feed([second.packet('client', 2, undefined, 900000)]);
    expect(h.reassembler.stats.flows).toBe(2);
  });

  it('reports conflicting retransmissions of the flow', () => {
    const h = harness();
    const c = new TcpConversation(client(1), SERVER);
    h.feed([...c.open(), ...say(c, 'client', 'genuine')]);
    const seq = c.next.client - 7;
    h.feed([c.packet('client', TCP_ACK, text('forged!'), seq)]);
    expect(h.flows[0]).toMatchObject({ text: ['genuine', ''], conflicts: [[0, 0, 7]] });
    expect(h.reassembler.stats).toMatchObject({ conflicts: 1, retransmissions: 1 });
  });

  it('evicts the least recently active flow past maxFlows', () => {
    const h = harness({ maxFlows: 2 });
    const [a, b, c] = [1, 2, 3].map((n) => new TcpConversation(client(n), SERVER));
    h.feed([...a!.open(), ...b!.open(), ...say(a!, 'client', 'still here'), ...c!.open()]);
    expect(h.flows.map((f) => f.closed)).toEqual([undefined, 'evicted', undefined]);
    expect(h.reassembler.stats.flowsEvicted).toBe(1);
    expect(h.reassembler.flowCount).toBe(2);
  });

  it('closes flows idle past the timeout, in packet time', () => {
    const h = harness({ idleTimeoutNs: 60e9 });
    const a = new TcpConversation(client(1), SERVER);
    const b = new TcpConversation(client(2), SERVER);
    h.feed(a.open(), 1_000_000_000n);
    h.feed(b.open(), 30_000_000_000n);
    h.feed(say(b, 'client', 'x'), 62_000_000_000n);
    expect(h.flows.map((f) => f.closed)).toEqual(['idle', undefined]);
    expect(h.reassembler.stats.flowsIdle).toBe(1);
    // The idle flow's next packet starts a flow seen mid-stream.
    h.feed(say(a, 'client', 'back'), 63_000_000_000n);
    expect(h.flows[2]).toMatchObject({ handshake: false, text: ['back', ''] });
  });

  it('bounds the bytes held across flows: the oldest flow skips its hole first', () => {
    const h = harness({ maxHeldBytes: 25, maxHistoryBytes: 100 });
    const a = new TcpConversation(client(1), SERVER);
    const b = new TcpConversation(client(2), SERVER);
    h.feed([...a.open(), ...b.open()]);
    const [, a2] = say(a, 'client', 'AAAAAaaaaa', 5);
    const [, b2] = say(b, 'client', 'BBBBBbbbbb', 5);
    h.feed([a2!]);
    h.feed([b2!]);
    expect(h.reassembler.stats.memoryPressure).toBe(0);
    const [c1] = say(b, 'client', 'cccccccccccccccc');
    h.feed([c1!]);
    expect(h.reassembler.stats.memoryPressure).toBe(1);
    expect(h.flows[0]).toMatchObject({ text: ['aaaaa', ''], gaps: [[0, 0, 5]] });
    expect(h.flows[1]).toMatchObject({ text: ['', ''], gaps: [] });
    expect(h.reassembler.stats.heldBytes).toBeLessThanOrEqual(25);
  });

  it('at the end, delivers what every flow holds and closes it', () => {
    const h = harness();
    const c = new TcpConversation(client(1), SERVER);
    const opening = c.open();
    const [, second] = say(c, 'client', 'lostfound', 4);
    h.feed([...opening, second!]);
    h.reassembler.finish();
    expect(h.flows[0]).toMatchObject({ text: ['foun', ''], gaps: [[0, 0, 4]], closed: 'end' });
    expect(h.reassembler.flowCount).toBe(0);
    expect(h.reassembler.stats.heldBytes).toBe(0);
  });
});
