import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { DiagonError } from '../../libs/db/errors.js';
import type { FrameEvent } from './dissector.js';
import { addressBytes, ipPacket, linkFrame, TcpConversation } from './packet-builder.js';
import { PcapWriter } from './pcap-file.js';
import {
  DEFAULT_SERVER_PORT,
  dissectCapture,
  formatEventJson,
  formatEventLine,
  formatSummary,
  readCaptureFile,
} from './read.js';
import { captureOf, sampleCapture, sampleFrames, sessionFrames } from './sample-session.js';

const dir = mkdtempSync(join(tmpdir(), 'diagon-capture-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let files = 0;
function file(bytes: Uint8Array, ext = 'pcapng'): string {
  const path = join(dir, `capture-${files++}.${ext}`);
  writeFileSync(path, bytes);
  return path;
}

const FLOWS = 3;
const REQUESTS = 4;
/** Frames per session: 5 of the handshake, 2 per request, Shutdown. */
const PER_FLOW = 5 + 2 * REQUESTS + 1;

describe('readCaptureFile', () => {
  it('reads every frame of a pcapng file, with a summary', async () => {
    const path = file(sampleCapture({ flows: FLOWS, requests: REQUESTS }));
    const { events, summary } = await readCaptureFile(path);
    expect(events).toHaveLength(FLOWS * PER_FLOW);
    expect(new Set(events.map((e) => e.flow.client)).size).toBe(FLOWS);
    expect(summary).toMatchObject({
      format: 'pcapng',
      truncated: false,
      warnings: [],
      anomalies: [],
    });
    expect(summary.counters).toMatchObject({
      frames: FLOWS * PER_FLOW,
      framesByStatus: { ok: FLOWS * PER_FLOW },
      reassembly: { flows: FLOWS },
    });
    expect(summary.startNs).toBe(1_700_000_000_000_000_000n);
  });

  it('reads pcap of either byte order and resolution alike', async () => {
    const frames = sampleFrames({ flows: 2, requests: 2 });
    const reference = (await readCaptureFile(file(captureOf(frames)))).events;
    for (const opts of [
      { bigEndian: true },
      { nanoseconds: true },
      { bigEndian: true, nanoseconds: true },
    ]) {
      const w = new PcapWriter({ linkType: 1, ...opts });
      const bytes = Buffer.concat([
        w.header(),
        ...frames.map((data, i) =>
          w.packet({ timestampNs: 1_700_000_000_000_000_000n + BigInt(i) * 1000n, data }),
        ),
      ]);
      const { events, summary } = await readCaptureFile(file(bytes, 'pcap'));
      expect(summary.format).toBe('pcap');
      expect(events).toEqual(reference);
    }
  });

  it('filters by message type; the counters still count every frame', async () => {
    const path = file(sampleCapture({ flows: 2, requests: 3 }));
    const { events, summary } = await readCaptureFile(path, { filter: 'query' });
    expect(events.map((e) => [e.type, e.requestId])).toEqual([
      ['query', 1],
      ['query', 1],
      ['query', 2],
      ['query', 2],
      ['query', 3],
      ['query', 3],
    ]);
    expect(summary.counters.frames).toBe(2 * (5 + 6 + 1));
    await expect(readCaptureFile(path, { filter: 'queries' })).rejects.toThrow(
      /"queries" is not a message type; use one of: connect, challenge/,
    );
  });

  it('listens on the edge’s default port unless told other ports', async () => {
    expect(DEFAULT_SERVER_PORT).toBe(7420);
    const path = file(sampleCapture({ serverPort: 9000, requests: 1 }));
    const other = await readCaptureFile(path);
    expect(other.events).toEqual([]);
    expect(other.summary.counters.skipped).toEqual({
      'not-server-port': other.summary.counters.packets,
    });
    const told = await readCaptureFile(path, { serverPorts: [9000] });
    expect(told.events).toHaveLength(5 + 2 + 1);
  });

  it('reads a truncated file up to the cut, and says so', async () => {
    const bytes = sampleCapture({ requests: 2 });
    const { events, summary } = await readCaptureFile(file(bytes.subarray(0, bytes.length - 30)));
    expect(summary.truncated).toBe(true);
    expect(summary.warnings[0]).toMatch(/ends inside a record/);
    expect(events.map((e) => e.type)).toEqual(sessionFrames(2).map((f) => f.message.type));
  });

  it('refuses a file that is not a capture', async () => {
    await expect(readCaptureFile(file(new TextEncoder().encode('hello world')))).rejects.toThrow(
      DiagonError,
    );
  });

  it('never throws anything but a DiagonError on a damaged capture', () => {
    const bytes = sampleCapture({ requests: 3, mss: 50 });
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), {
          minLength: 1,
          maxLength: 20,
        }),
        fc.nat(),
        (edits, cut) => {
          const damaged = Uint8Array.from(bytes.subarray(0, bytes.length - (cut % 200)));
          for (const [at, value] of edits) damaged[at % damaged.length] = value;
          try {
            dissectCapture(damaged, {}, () => {});
          } catch (e) {
            expect(e).toBeInstanceOf(DiagonError);
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('formatting', () => {
  const bytes = sampleCapture({ requests: 1 });
  const events: FrameEvent[] = [];
  const summary = dissectCapture(bytes, {}, (e) => events.push(e));

  it('writes one line per frame: time, flow, direction, type, request id, size, status', () => {
    const lines = events.map((e) => formatEventLine(e, summary.startNs!));
    expect(lines[0]).toBe(
      '    0.000003 10.1.0.0:40000 → 10.0.0.1:7420 request  connect       -                  123 ok',
    );
    expect(lines[6]).toBe(
      '    0.000009 10.0.0.1:7420 → 10.1.0.0:40000 response reply         id=1                24 ok',
    );
    const violation = { ...events[5]!, status: 'violation' as const, detail: 'why' };
    expect(formatEventLine(violation, summary.startNs!)).toMatch(/ violation \(why\)$/);
  });

  it('writes one JSON object per frame', () => {
    const json = JSON.parse(formatEventJson(events[5]!));
    expect(json).toEqual({
      timeNs: '1700000000000008000',
      flow: { client: '10.1.0.0:40000', server: '10.0.0.1:7420' },
      direction: 'request',
      type: 'query',
      requestId: 1,
      did: events[0]!.did,
      size: 61,
      status: 'ok',
    });
    expect(formatEventJson(events[5]!)).not.toContain('\n');
  });

  it('sums up the counters', () => {
    const text = formatSummary(summary);
    expect(text).toContain('pcapng: 14 packets');
    expect(text).toContain('1 flows, 8 frames');
    expect(text).toContain('frames by type: connect 1, challenge 1');
    expect(text).toContain('frames by status: ok 8');
  });
});

const tshark = spawnSync('tshark', ['--version']).status === 0;

describe.skipIf(!tshark)('against tshark', () => {
  const run = (args: string[]) => {
    const r = spawnSync('tshark', args, { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`tshark ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };
  const editcap = (args: string[]) => {
    const r = spawnSync('editcap', args, { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`editcap ${args.join(' ')}: ${r.stderr}`);
  };

  /** Sessions, one over IPv6, one seen mid-stream, one reset, plus a UDP datagram. */
  function mixedCapture(): Uint8Array {
    const frames = sampleFrames({ flows: 5, requests: 6, mss: 200 });
    const v6 = new TcpConversation(
      { ip: '2001:db8::9', port: 50000 },
      { ip: '2001:db8::1', port: 7420 },
    );
    frames.push(...v6.open().map((ip) => linkFrame(1, ip)));
    for (const f of sessionFrames(2))
      frames.push(...v6.send(f.from, f.bytes).map((ip) => linkFrame(1, ip)));
    frames.push(linkFrame(1, v6.reset('client')));
    const late = new TcpConversation(
      { ip: '10.3.0.1', port: 45000 },
      { ip: '10.0.0.1', port: 7420 },
    );
    late.open();
    for (const f of sessionFrames(1))
      frames.push(...late.send(f.from, f.bytes).map((ip) => linkFrame(1, ip)));
    const udp = ipPacket(addressBytes('10.0.0.1'), addressBytes('10.0.0.2'), new Uint8Array(8), {
      protocol: 17,
    });
    frames.push(linkFrame(1, udp));
    return captureOf(frames, { format: 'pcap' });
  }

  it('counts the packets and TCP conversations tshark counts', () => {
    const path = file(mixedCapture(), 'pcap');
    const summary = dissectCapture(mixedCapture(), {}, () => {});
    const packets = run(['-r', path, '-T', 'fields', '-e', 'frame.number']).trim().split('\n');
    const tcpPackets = run(['-r', path, '-Y', 'tcp', '-T', 'fields', '-e', 'frame.number'])
      .trim()
      .split('\n');
    const conversations = run(['-r', path, '-q', '-z', 'conv,tcp'])
      .split('\n')
      .filter((line) => line.includes('<->'));
    expect(summary.counters.packets).toBe(packets.length);
    expect(summary.counters.segments).toBe(tcpPackets.length);
    expect(summary.counters.reassembly.flows).toBe(conversations.length);
    expect(conversations.length).toBe(7);
  });

  it('reads what Wireshark’s own writers wrote: pcapng, nanosecond pcap', () => {
    const bytes = sampleCapture({ flows: 2, requests: 3, format: 'pcap' });
    const source = file(bytes, 'pcap');
    const reference: unknown[] = [];
    dissectCapture(bytes, {}, (e) => reference.push(e));
    for (const format of ['pcapng', 'nsecpcap']) {
      const converted = join(dir, `converted-${files++}.${format}`);
      editcap(['-F', format, source, converted]);
      const got: unknown[] = [];
      const summary = dissectCapture(readFileSync(converted), {}, (e) => got.push(e));
      expect(summary.format).toBe(format === 'pcapng' ? 'pcapng' : 'pcap');
      expect(got).toEqual(reference);
    }
  });
});
