/**
 * Diagon sessions as the edge sees them, for tests and benchmarks of the capture service:
 * the handshake with real keys, signature and session token, then requests and their
 * answers, encoded as libs/wire frames; and whole capture files of such sessions.
 */
import { KeyPair } from '../../libs/identity/key-pair.js';
import { issueSessionToken } from '../../libs/identity/session-token.js';
import { encodeMessage, handshakeSigningBytes, type Message } from '../../libs/wire/index.js';
import { type Endpoint, linkFrame, type Side, TcpConversation } from './packet-builder.js';
import { PcapngWriter, PcapWriter } from './pcap-file.js';

export interface SampleFrame {
  from: Side;
  message: Message;
  /** The frame bytes (`encodeMessage`). */
  bytes: Uint8Array;
}

const seeded = (n: number) => KeyPair.fromSecretKey(new Uint8Array(32).fill(n));
const SERVER_KEY = seeded(200);
const NONCE = Uint8Array.from({ length: 32 }, (_, i) => i);

/** The handshake of the client with key seed `clientSeed` into `pool`, as frames. */
export function handshakeFrames(clientSeed = 1, pool = 'demo'): SampleFrame[] {
  const client = seeded(clientSeed);
  const signature = client.sign(
    handshakeSigningBytes({ pool, nonce: NONCE, clientDid: client.did, serverDid: SERVER_KEY.did }),
  );
  const session = issueSessionToken(SERVER_KEY, {
    did: client.did,
    pool,
    ttlSeconds: 3600,
    now: new Date(1_700_000_000_000),
  });
  return framesOf([
    ['client', { type: 'connect', did: client.did, publicKey: client.publicKey, pool }],
    ['server', { type: 'challenge', nonce: NONCE, serverDid: SERVER_KEY.did }],
    ['client', { type: 'response', signature }],
    ['client', { type: 'elaborate', text: 'reading the capture tests' }],
    ['server', { type: 'authenticated', session }],
  ]);
}

/** Request `id` and its answer: queries with replies, and a ping with its pong. */
function requestFrames(id: number): SampleFrame[] {
  if (id % 10 === 0)
    return framesOf([
      ['client', { type: 'ping', id }],
      ['server', { type: 'pong', id }],
    ]);
  return framesOf([
    ['client', { type: 'query', id, query: '[:find ?e :where [?e :name "Ada"]]', asOf: 1000 + id }],
    ['server', { type: 'reply', id, value: `#{[${id}]}` }],
  ]);
}

export function framesOf(messages: [Side, Message][]): SampleFrame[] {
  return messages.map(([from, message]) => ({ from, message, bytes: encodeMessage(message) }));
}

/** A whole session: handshake, `requests` requests and answers, then Shutdown. */
export function sessionFrames(requests: number, clientSeed = 1): SampleFrame[] {
  const frames = handshakeFrames(clientSeed);
  for (let id = 1; id <= requests; id++) frames.push(...requestFrames(id));
  frames.push(...framesOf([['client', { type: 'shutdown', reason: 'done' }]]));
  return frames;
}

export interface SampleCaptureOptions {
  /** Concurrent sessions, each a TCP connection from its own port (default 1). */
  flows?: number;
  /** Requests per session (default 10). */
  requests?: number;
  serverPort?: number;
  linkType?: number;
  format?: 'pcap' | 'pcapng';
  /** Largest TCP payload (default 1460). */
  mss?: number;
  startNs?: bigint;
}

/** The link frames of sessions interleaved, each session its own TCP connection. */
export function sampleFrames(opts: SampleCaptureOptions = {}): Uint8Array[] {
  const flows = opts.flows ?? 1;
  const linkType = opts.linkType ?? 1;
  const server: Endpoint = { ip: '10.0.0.1', port: opts.serverPort ?? 7420 };
  const perFlow: Uint8Array[][] = [];
  for (let f = 0; f < flows; f++) {
    const client: Endpoint = {
      ip: `10.1.${(f >> 8) & 0xff}.${f & 0xff}`,
      port: 40000 + (f % 20000),
    };
    const tcp = new TcpConversation(client, server, { client: 1000 * f, server: 7 * f });
    const packets = tcp.open();
    for (const frame of sessionFrames(opts.requests ?? 10, (f % 200) + 1))
      packets.push(...tcp.send(frame.from, frame.bytes, opts.mss));
    packets.push(...tcp.close());
    perFlow.push(packets.map((ip) => linkFrame(linkType, ip)));
  }
  const out: Uint8Array[] = [];
  for (let i = 0; perFlow.some((p) => i < p.length); i++)
    for (const packets of perFlow) if (i < packets.length) out.push(packets[i]!);
  return out;
}

/** A capture file holding `frames` of `linkType`, one microsecond apart. */
export function captureOf(
  frames: Uint8Array[],
  opts: { linkType?: number; format?: 'pcap' | 'pcapng'; startNs?: bigint } = {},
): Uint8Array {
  const linkType = opts.linkType ?? 1;
  const start = opts.startNs ?? 1_700_000_000_000_000_000n;
  const packets = frames.map((data, i) => ({ timestampNs: start + BigInt(i) * 1000n, data }));
  if (opts.format === 'pcap') {
    const w = new PcapWriter({ linkType });
    return Buffer.concat([w.header(), ...packets.map((p) => w.packet(p))]);
  }
  const w = new PcapngWriter();
  return Buffer.concat([
    w.sectionHeader(),
    w.interfaceDescription({ linkType }),
    ...packets.map((p) => w.packet(0, p)),
  ]);
}

/** A capture of sample sessions (see SampleCaptureOptions). */
export function sampleCapture(opts: SampleCaptureOptions = {}): Uint8Array {
  return captureOf(sampleFrames(opts), opts);
}
