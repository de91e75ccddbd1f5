/**
 * TCP reassembly over a whole capture: flows keyed by their 4-tuple (IPv4 or IPv6), two
 * TcpStreams each, and the bounds that keep a hostile or lossy capture from holding memory
 * without end: a number of flows (the least recently active one is evicted), bytes held in
 * total (the least recently active flows give up history, then skip their holes), and an
 * idle timeout measured in packet time.
 *
 * The client is the side that sent the SYN; for a flow first seen mid-stream, the side not
 * on a server port. A flow closed by FIN or RST stays known until it idles, so stray late
 * packets do not open a new flow; a new SYN on its 4-tuple does.
 */
import { type EndpointKey, endpointKey, FlowIndex } from './flow-index.js';
import { formatEndpoint, TCP_ACK, TCP_FIN, TCP_RST, TCP_SYN, type TcpSegment } from './ip.js';
import { type StreamCounters, type StreamLimits, TcpStream } from './tcp-stream.js';

/** 0: client → server, 1: server → client. */
export type FlowDirection = 0 | 1;

export interface FlowEndpoints {
  /** `ip:port` (`[ip6]:port` for IPv6). */
  client: string;
  server: string;
}

export type FlowCloseReason = 'fin' | 'reset' | 'idle' | 'evicted' | 'reused' | 'end';

/** What the reassembler tells its user; `S` is the user's state for one flow. */
export interface ReassemblyHandler<S> {
  /** A new flow; `handshake`: its first packet was a SYN, so its streams start at offset 0. */
  open(endpoints: FlowEndpoints, handshake: boolean): S;
  data(
    flow: S,
    direction: FlowDirection,
    bytes: Uint8Array,
    afterGap: boolean,
    timeNs: bigint,
  ): void;
  gap(flow: S, direction: FlowDirection, offset: number, length: number, timeNs: bigint): void;
  conflict(flow: S, direction: FlowDirection, offset: number, length: number, timeNs: bigint): void;
  /** The flow ended: everything it held was delivered first. */
  close(flow: S, reason: FlowCloseReason, timeNs: bigint): void;
}

export interface ReassemblyOptions {
  /** Ports a server listens on: they decide direction when no SYN was seen. */
  serverPorts: ReadonlySet<number>;
  /** Flows tracked at once (default 100 000). */
  maxFlows?: number;
  /** A flow silent this long in packet time is closed (default 5 minutes). */
  idleTimeoutNs?: number;
  /** Out-of-order bytes held per direction before its first hole is skipped (default 4 MiB). */
  maxPendingBytes?: number;
  /** Delivered, unacknowledged bytes kept per direction (default 256 KiB). */
  maxHistoryBytes?: number;
  /** All bytes held across flows (default 512 MiB). */
  maxHeldBytes?: number;
}

export interface ReassemblyStats extends StreamCounters {
  /** Flows opened. */
  flows: number;
  /** Open flows evicted to stay within `maxFlows`. */
  flowsEvicted: number;
  /** Flows closed by the idle timeout. */
  flowsIdle: number;
  /** Times the held-bytes bound forced a flow to give up history or skip holes. */
  memoryPressure: number;
  /** Packets of flows already closed by FIN or RST. */
  packetsAfterClose: number;
}

class Flow<S> {
  streams!: [TcpStream, TcpStream];
  state!: S;
  closed = false;
  lastSeenNs = 0n;
  /** Packet time as a float, for cheap idle comparisons. */
  lastSeen = 0;
  // The list of flows by last activity, least recent first.
  older: Flow<S> | undefined;
  newer: Flow<S> | undefined;

  constructor(
    readonly clientEndpoint: EndpointKey,
    readonly serverEndpoint: EndpointKey,
  ) {}
}

export class TcpReassembler<S> {
  readonly stats: ReassemblyStats = {
    flows: 0,
    flowsEvicted: 0,
    flowsIdle: 0,
    memoryPressure: 0,
    packetsAfterClose: 0,
    retransmissions: 0,
    keepAlives: 0,
    conflicts: 0,
    gaps: 0,
    gapBytes: 0,
    heldBytes: 0,
  };
  private readonly limits: StreamLimits;
  private readonly flows = new FlowIndex<Flow<S>>();
  private oldest: Flow<S> | undefined;
  private newest: Flow<S> | undefined;
  private readonly serverPorts: ReadonlySet<number>;
  private readonly maxFlows: number;
  private readonly idleTimeoutNs: number;
  private readonly maxHeldBytes: number;

  constructor(
    opts: ReassemblyOptions,
    private readonly handler: ReassemblyHandler<S>,
  ) {
    this.serverPorts = opts.serverPorts;
    this.maxFlows = opts.maxFlows ?? 100_000;
    this.idleTimeoutNs = opts.idleTimeoutNs ?? 300e9;
    this.maxHeldBytes = opts.maxHeldBytes ?? 512 * 1024 * 1024;
    this.limits = {
      maxPendingBytes: opts.maxPendingBytes ?? 4 * 1024 * 1024,
      maxHistoryBytes: opts.maxHistoryBytes ?? 256 * 1024,
    };
  }

  /** Flows tracked now (closed ones included until they idle). */
  get flowCount(): number {
    return this.flows.size;
  }

  /**
   * One captured segment at `timeNs`. Returns false when it belongs to no flow worth
   * tracking: first seen without a SYN and on no server port.
   */
  segment(timeNs: bigint, seg: TcpSegment): boolean {
    const now = Number(timeNs);
    this.expireIdle(now);
    const src = endpointKey(seg.src, seg.srcPort);
    const dst = endpointKey(seg.dst, seg.dstPort);
    const opening = (seg.flags & (TCP_SYN | TCP_ACK)) === TCP_SYN;
    let flow = this.flows.get(src, dst);
    if (flow !== undefined && opening && !this.sameSyn(flow, src, seg.seq)) {
      this.remove(flow, 'reused', timeNs);
      flow = undefined;
    }
    if (flow === undefined) {
      const client = this.clientOf(seg, src, dst);
      if (client === undefined) return false;
      flow = this.open(client, client === src ? dst : src, client === src, seg, timeNs);
    }
    this.touch(flow, now, timeNs);
    if (flow.closed) {
      this.stats.packetsAfterClose++;
      return true;
    }
    const direction: FlowDirection = src === flow.clientEndpoint ? 0 : 1;
    if (seg.flags & TCP_RST) {
      this.close(flow, 'reset', timeNs);
      return true;
    }
    const stream = flow.streams[direction];
    stream.segment(seg.seq, (seg.flags & TCP_SYN) !== 0, (seg.flags & TCP_FIN) !== 0, seg.payload);
    if (seg.flags & TCP_ACK) flow.streams[1 - direction]!.acknowledge(seg.ack);
    if (flow.streams[0].finished && flow.streams[1].finished) this.close(flow, 'fin', timeNs);
    if (this.stats.heldBytes > this.maxHeldBytes) this.relieveMemory();
    return true;
  }

  /** The end of the capture: every flow delivers what it holds and closes. */
  finish(): void {
    while (this.oldest !== undefined) this.remove(this.oldest, 'end', this.oldest.lastSeenNs);
  }

  private sameSyn(flow: Flow<S>, src: EndpointKey, seq: number): boolean {
    return !flow.closed && src === flow.clientEndpoint && flow.streams[0].isInitialSequence(seq);
  }

  /** The client's endpoint key, or undefined for a flow on no server port. */
  private clientOf(seg: TcpSegment, src: EndpointKey, dst: EndpointKey) {
    const syn = seg.flags & TCP_SYN;
    if (syn) return seg.flags & TCP_ACK ? dst : src;
    if (this.serverPorts.has(seg.dstPort)) return src;
    if (this.serverPorts.has(seg.srcPort)) return dst;
    return undefined;
  }

  private open(
    client: EndpointKey,
    server: EndpointKey,
    fromClient: boolean,
    seg: TcpSegment,
    timeNs: bigint,
  ): Flow<S> {
    if (this.flows.size >= this.maxFlows && this.oldest !== undefined) {
      // A flow already closed is kept only to absorb stray packets: dropping it loses nothing.
      if (!this.oldest.closed) this.stats.flowsEvicted++;
      this.remove(this.oldest, 'evicted', timeNs);
    }
    const flow = new Flow<S>(client, server);
    flow.streams = [this.streamOf(flow, 0), this.streamOf(flow, 1)];
    const from = formatEndpoint(seg.src, seg.srcPort);
    const to = formatEndpoint(seg.dst, seg.dstPort);
    flow.state = this.handler.open(
      { client: fromClient ? from : to, server: fromClient ? to : from },
      (seg.flags & TCP_SYN) !== 0,
    );
    this.flows.set(client, server, flow);
    this.stats.flows++;
    return flow;
  }

  private streamOf(flow: Flow<S>, direction: FlowDirection): TcpStream {
    const h = this.handler;
    const sink = {
      data: (bytes: Uint8Array, _offset: number, afterGap: boolean) =>
        h.data(flow.state, direction, bytes, afterGap, flow.lastSeenNs),
      gap: (offset: number, length: number) =>
        h.gap(flow.state, direction, offset, length, flow.lastSeenNs),
      conflict: (offset: number, length: number) =>
        h.conflict(flow.state, direction, offset, length, flow.lastSeenNs),
    };
    return new TcpStream(sink, this.limits, this.stats);
  }

  /** Make `flow` the most recently active. */
  private touch(flow: Flow<S>, now: number, timeNs: bigint): void {
    flow.lastSeen = now;
    flow.lastSeenNs = timeNs;
    if (this.newest === flow) return;
    this.unlink(flow);
    flow.older = this.newest;
    if (this.newest !== undefined) this.newest.newer = flow;
    this.newest = flow;
    this.oldest ??= flow;
  }

  private unlink(flow: Flow<S>): void {
    if (flow.older !== undefined) flow.older.newer = flow.newer;
    else if (this.oldest === flow) this.oldest = flow.newer;
    if (flow.newer !== undefined) flow.newer.older = flow.older;
    else if (this.newest === flow) this.newest = flow.older;
    flow.older = flow.newer = undefined;
  }

  private expireIdle(now: number): void {
    while (this.oldest !== undefined && now - this.oldest.lastSeen > this.idleTimeoutNs) {
      if (!this.oldest.closed) this.stats.flowsIdle++;
      this.remove(this.oldest, 'idle', this.oldest.lastSeenNs);
    }
  }

  /** Deliver what `flow` holds, skipping holes, and tell the handler it ended. */
  private close(flow: Flow<S>, reason: FlowCloseReason, timeNs: bigint): void {
    if (flow.closed) return;
    flow.closed = true;
    for (const stream of flow.streams) {
      stream.flush();
      stream.releaseHistory();
    }
    this.handler.close(flow.state, reason, timeNs);
  }

  private remove(flow: Flow<S>, reason: FlowCloseReason, timeNs: bigint): void {
    this.close(flow, reason, timeNs);
    this.unlink(flow);
    this.flows.delete(flow.clientEndpoint, flow.serverEndpoint);
  }

  /**
   * Over the held-bytes bound: the least recently active flows give up their history, then
   * skip their holes (delivering frees what was held).
   */
  private relieveMemory(): void {
    this.stats.memoryPressure++;
    const over = () => this.stats.heldBytes > this.maxHeldBytes;
    for (let f = this.oldest; f !== undefined && over(); f = f.newer)
      for (const stream of f.streams) stream.releaseHistory();
    for (let f = this.oldest; f !== undefined && over(); f = f.newer)
      for (const stream of f.streams) {
        stream.flush();
        stream.releaseHistory();
      }
  }
}
