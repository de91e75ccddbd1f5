/**
 * The capture's dissector: captured packets in, one event per wire frame out. Link layer
 * (link.ts), IP and TCP (ip.ts), reassembly per flow and direction (reassembly.ts), then
 * frames (frame-stream.ts) checked against the protocol's order: no request before the
 * server's Authenticated, each message type only in its direction.
 *
 * Packets on no server port are skipped. Payload bytes are kept as views (out-of-order and
 * unacknowledged data): a caller whose capture source reuses its buffers must copy them.
 */
import {
  DEFAULT_MAX_FRAME_SIZE,
  type Decoded,
  type Message,
  type MessageType,
  messageTypeName,
} from '../../libs/wire/index.js';
import { FrameStream } from './frame-stream.js';
import { type IpSkipReason, tcpSegmentOf } from './ip.js';
import { ipPacketOf, type LinkSkipReason } from './link.js';
import {
  type FlowDirection,
  type FlowEndpoints,
  type ReassemblyOptions,
  type ReassemblyStats,
  TcpReassembler,
} from './reassembly.js';

/** client → server is a request, server → client a response. */
export type Direction = 'request' | 'response';

export type FrameStatus =
  /** Decoded, in order. */
  | 'ok'
  /** Frame boundaries intact, but an unknown type or a body that does not decode. */
  | 'malformed'
  /** The length field is over the maximum frame size (the frame itself is not read). */
  | 'too-large'
  /** Decoded, but out of the protocol's order or direction. */
  | 'violation'
  /** Decoded: the first frame found after lost or skipped bytes. */
  | 'after-gap'
  /** A gap or the end of the flow cut the frame short. */
  | 'truncated';

export interface FrameEvent {
  /** The time of the packet that completed the frame (ns since the epoch). */
  timeNs: bigint;
  flow: FlowEndpoints;
  direction: Direction;
  type: MessageType | 'unknown';
  /** The request id (`id`) of a message that has one. */
  requestId?: number;
  /** The client's DID, once a Connect in this flow revealed it. */
  did?: string;
  /** Frame bytes, the 4-byte length included. */
  size: number;
  status: FrameStatus;
  /** Why the status is not ok. */
  detail?: string;
}

export type AnomalyKind =
  | 'violation'
  | 'too-large'
  | 'bad-header'
  | 'malformed'
  | 'skipped-bytes'
  | 'conflicting-overlap'
  | 'gap';

export interface Anomaly {
  timeNs: bigint;
  flow: FlowEndpoints;
  direction: Direction;
  kind: AnomalyKind;
  message: string;
  /** The stream offset and length, for gaps and overlaps. */
  offset?: number;
  length?: number;
}

export type SkipReason = LinkSkipReason | IpSkipReason | 'not-server-port';

export interface CaptureCounters {
  packets: number;
  /** Captured bytes of all packets. */
  bytes: number;
  /** Packets that were TCP segments of a tracked flow. */
  segments: number;
  skipped: Partial<Record<SkipReason, number>>;
  frames: number;
  framesByType: Partial<Record<MessageType | 'unknown', number>>;
  framesByStatus: Partial<Record<FrameStatus, number>>;
  anomalies: number;
  /** Frames found by scanning after lost boundaries. */
  resyncs: number;
  /** Bytes passed over while scanning for a frame. */
  bytesSkipped: number;
  /** Flows, gaps, retransmissions, conflicts, evictions. */
  reassembly: ReassemblyStats;
}

export interface DissectorSink {
  frame(event: FrameEvent): void;
  anomaly(anomaly: Anomaly): void;
}

export interface DissectorOptions {
  /** TCP ports the edge listens on. */
  serverPorts: readonly number[];
  /** Largest frame length field (default libs/wire's, 1 MiB). */
  maxFrameSize?: number;
  reassembly?: Omit<ReassemblyOptions, 'serverPorts'>;
}

const CLIENT_ONLY = new Set<MessageType>([
  'connect',
  'response',
  'elaborate',
  'propose',
  'vote',
  'query',
  'pull',
  'subscribe',
]);
const SERVER_ONLY = new Set<MessageType>([
  'challenge',
  'authenticated',
  'rejected',
  'reply',
  'event',
  'error',
]);
/** What a client may send only after Authenticated. */
const REQUESTS = new Set<MessageType>(['propose', 'vote', 'query', 'pull', 'subscribe', 'ping']);
/** What belongs to the handshake, before Authenticated. */
const HANDSHAKE = new Set<MessageType>([
  'connect',
  'challenge',
  'response',
  'elaborate',
  'authenticated',
  'rejected',
]);

/** Whether the server has authenticated the client; unknown when the capture cannot tell. */
type AuthState = 'pending' | 'authenticated' | 'unknown';

class FlowState {
  did: string | undefined;
  auth: AuthState;
  /** The time of the packet being handled. */
  timeNs = 0n;
  readonly streams: [FrameStream, FrameStream];

  constructor(
    readonly endpoints: FlowEndpoints,
    handshake: boolean,
    streamOf: (flow: FlowState, direction: FlowDirection) => FrameStream,
  ) {
    this.auth = handshake ? 'pending' : 'unknown';
    this.streams = [streamOf(this, 0), streamOf(this, 1)];
  }
}

const DIRECTIONS: readonly Direction[] = ['request', 'response'];

export class Dissector {
  readonly counters: CaptureCounters;
  private readonly reassembler: TcpReassembler<FlowState>;
  private readonly serverPorts: ReadonlySet<number>;
  private readonly maxFrameSize: number;

  constructor(
    opts: DissectorOptions,
    private readonly sink: DissectorSink,
  ) {
    this.serverPorts = new Set(opts.serverPorts);
    this.maxFrameSize = opts.maxFrameSize ?? DEFAULT_MAX_FRAME_SIZE;
    this.reassembler = new TcpReassembler<FlowState>(
      { ...opts.reassembly, serverPorts: this.serverPorts },
      {
        open: (endpoints, handshake) => this.open(endpoints, handshake),
        data: (flow, direction, bytes, _afterGap, timeNs) => {
          flow.timeNs = timeNs;
          flow.streams[direction].push(bytes);
        },
        gap: (flow, direction, offset, length, timeNs) => {
          flow.timeNs = timeNs;
          this.report(flow, direction, 'gap', `${length} bytes never captured`, offset, length);
          // A lost Authenticated would make every later request look like a violation.
          if (direction === 1 && flow.auth === 'pending') flow.auth = 'unknown';
          flow.streams[direction].gap();
        },
        conflict: (flow, direction, offset, length, timeNs) => {
          flow.timeNs = timeNs;
          this.report(
            flow,
            direction,
            'conflicting-overlap',
            'a retransmission carries bytes that differ from the ones first seen',
            offset,
            length,
          );
        },
        close: (flow, _reason, timeNs) => {
          flow.timeNs = timeNs;
          flow.streams[0].end();
          flow.streams[1].end();
        },
      },
    );
    this.counters = {
      packets: 0,
      bytes: 0,
      segments: 0,
      skipped: {},
      frames: 0,
      framesByType: {},
      framesByStatus: {},
      anomalies: 0,
      resyncs: 0,
      bytesSkipped: 0,
      reassembly: this.reassembler.stats,
    };
  }

  /** One captured packet. */
  packet(timestampNs: bigint, linkType: number, data: Uint8Array): void {
    this.counters.packets++;
    this.counters.bytes += data.length;
    const skipped = this.track(timestampNs, linkType, data);
    if (skipped === undefined) this.counters.segments++;
    else this.counters.skipped[skipped] = (this.counters.skipped[skipped] ?? 0) + 1;
  }

  /** Hand the packet's TCP segment to reassembly, or say why there is none. */
  private track(timestampNs: bigint, linkType: number, data: Uint8Array): SkipReason | undefined {
    const ip = ipPacketOf(linkType, data);
    if (typeof ip === 'string') return ip;
    const segment = tcpSegmentOf(ip);
    if (typeof segment === 'string') return segment;
    if (!this.serverPorts.has(segment.srcPort) && !this.serverPorts.has(segment.dstPort))
      return 'not-server-port';
    return this.reassembler.segment(timestampNs, segment) ? undefined : 'not-server-port';
  }

  /** The end of the capture: flows deliver what they hold, frames in progress are truncated. */
  finish(): void {
    this.reassembler.finish();
  }

  private open(endpoints: FlowEndpoints, handshake: boolean): FlowState {
    return new FlowState(endpoints, handshake, (flow, direction) =>
      this.frameStream(flow, direction, handshake),
    );
  }

  private frameStream(flow: FlowState, direction: FlowDirection, synced: boolean): FrameStream {
    return new FrameStream(
      this.maxFrameSize,
      {
        frame: (decoded, typeCode, size, afterGap) =>
          this.frame(flow, direction, decoded, typeCode, size, afterGap),
        tooLarge: (typeCode, size) => {
          const limit = `over the maximum of ${this.maxFrameSize + 4} bytes`;
          this.event(flow, direction, typeNameOf(typeCode), size, 'too-large', limit);
          this.report(flow, direction, 'too-large', `a ${size}-byte frame is ${limit}`);
        },
        badHeader: (error) => this.report(flow, direction, 'bad-header', error.message),
        truncated: (typeCode, size, held) =>
          this.event(
            flow,
            direction,
            typeNameOf(typeCode),
            size,
            'truncated',
            `${held} of ${size} bytes seen`,
          ),
        skipped: (bytes, resynced) => {
          this.counters.bytesSkipped += bytes;
          if (resynced) this.counters.resyncs++;
          if (bytes > 0)
            this.report(
              flow,
              direction,
              'skipped-bytes',
              `${bytes} bytes skipped ${resynced ? 'before the next frame' : 'at the end of the stream'}`,
            );
        },
      },
      synced,
    );
  }

  private frame(
    flow: FlowState,
    direction: FlowDirection,
    decoded: Decoded<Message>,
    typeCode: number,
    size: number,
    afterGap: boolean,
  ): void {
    if (!decoded.ok) {
      this.event(flow, direction, typeNameOf(typeCode), size, 'malformed', decoded.error.message);
      this.report(flow, direction, 'malformed', decoded.error.message);
      return;
    }
    const message = decoded.value;
    if (message.type === 'connect' && direction === 0) flow.did = message.did;
    const violation = this.violationOf(flow, direction, message.type);
    if (message.type === 'authenticated' && direction === 1) flow.auth = 'authenticated';
    const requestId = 'id' in message ? message.id : undefined;
    if (violation !== undefined) {
      this.event(flow, direction, message.type, size, 'violation', violation, requestId);
      this.report(flow, direction, 'violation', violation);
    } else
      this.event(
        flow,
        direction,
        message.type,
        size,
        afterGap ? 'after-gap' : 'ok',
        undefined,
        requestId,
      );
  }

  /** What is out of order about a `type` message in `direction`, or undefined. */
  private violationOf(flow: FlowState, direction: FlowDirection, type: MessageType) {
    if (direction === 1 && CLIENT_ONLY.has(type)) return `${type} sent by the server`;
    if (direction === 0 && SERVER_ONLY.has(type)) return `${type} sent by the client`;
    if (flow.auth === 'pending' && direction === 0 && REQUESTS.has(type))
      return `${type} before the server sent Authenticated`;
    if (flow.auth === 'authenticated' && HANDSHAKE.has(type)) return `${type} after the handshake`;
    return undefined;
  }

  private event(
    flow: FlowState,
    direction: FlowDirection,
    type: MessageType | 'unknown',
    size: number,
    status: FrameStatus,
    detail?: string,
    requestId?: number,
  ): void {
    const c = this.counters;
    c.frames++;
    c.framesByType[type] = (c.framesByType[type] ?? 0) + 1;
    c.framesByStatus[status] = (c.framesByStatus[status] ?? 0) + 1;
    const event: FrameEvent = {
      timeNs: flow.timeNs,
      flow: flow.endpoints,
      direction: DIRECTIONS[direction]!,
      type,
      size,
      status,
    };
    if (requestId !== undefined) event.requestId = requestId;
    if (flow.did !== undefined) event.did = flow.did;
    if (detail !== undefined) event.detail = detail;
    this.sink.frame(event);
  }

  private report(
    flow: FlowState,
    direction: FlowDirection,
    kind: AnomalyKind,
    message: string,
    offset?: number,
    length?: number,
  ): void {
    this.counters.anomalies++;
    const anomaly: Anomaly = {
      timeNs: flow.timeNs,
      flow: flow.endpoints,
      direction: DIRECTIONS[direction]!,
      kind,
      message,
    };
    if (offset !== undefined) anomaly.offset = offset;
    if (length !== undefined) anomaly.length = length;
    this.sink.anomaly(anomaly);
  }
}

function typeNameOf(code: number): MessageType | 'unknown' {
  return messageTypeName(code) ?? 'unknown';
}
