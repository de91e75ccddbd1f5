/**
 * One direction of a TCP connection, reassembled: 32-bit sequence numbers unwrapped into
 * stream offsets (a JS number: exact to 2^53 bytes, which no capture reaches), bytes
 * delivered once and in order, out-of-order segments held until the hole before them fills.
 * Like Zeek's TCP_Reassembler: bytes first received win (a retransmission cannot rewrite
 * what was delivered or is held), and a retransmission that carries different bytes is a
 * conflict worth reporting, since a receiver may have seen either version.
 *
 * Delivered bytes stay as history until the peer acknowledges them (and at most
 * `maxHistoryBytes`), so a late retransmission can be compared. The stream keeps views of
 * the payloads it is given, never copies: callers must not reuse a payload's memory.
 */

export interface StreamSink {
  /** Contiguous bytes at `offset`; `afterGap`: bytes before them were lost. */
  data(bytes: Uint8Array, offset: number, afterGap: boolean): void;
  /** `length` bytes at `offset` were never seen and are skipped. */
  gap(offset: number, length: number): void;
  /** A segment disagreed with bytes already delivered or held, over `length` bytes. */
  conflict(offset: number, length: number): void;
}

/** Counters shared by every stream of a reassembler. */
export interface StreamCounters {
  /** Segments that brought no new byte. */
  retransmissions: number;
  keepAlives: number;
  conflicts: number;
  gaps: number;
  gapBytes: number;
  /** Bytes held right now: out-of-order segments and unacknowledged history. */
  heldBytes: number;
}

export interface StreamLimits {
  /** Out-of-order bytes held before the first hole is skipped. */
  maxPendingBytes: number;
  /** Delivered, unacknowledged bytes kept to check retransmissions against. */
  maxHistoryBytes: number;
}

interface Chunk {
  offset: number;
  bytes: Uint8Array;
}

const TWO_32 = 4294967296;

export class TcpStream {
  /** The sequence number of stream offset 0: after the SYN, or the first one seen. */
  private base = 0;
  private started = false;
  private synSeen = false;
  /** The offset of the next byte to deliver. */
  private nextOffset = 0;
  private finOffset = -1;
  private afterGap = false;
  /** Out-of-order chunks past `nextOffset`, sorted, not overlapping. */
  private readonly pending: Chunk[] = [];
  private pendingBytes = 0;
  /** Delivered chunks not yet acknowledged, oldest first. */
  private readonly history: Chunk[] = [];
  private historyBytes = 0;

  constructor(
    private readonly sink: StreamSink,
    private readonly limits: StreamLimits,
    private readonly counters: StreamCounters,
  ) {}

  /** The offset of the next byte to deliver: how many bytes were delivered or skipped. */
  get next(): number {
    return this.nextOffset;
  }

  /** Bytes held out of order. */
  get pendingLength(): number {
    return this.pendingBytes;
  }

  /** The FIN was seen and every byte before it delivered (or skipped). */
  get finished(): boolean {
    return this.finOffset >= 0 && this.nextOffset >= this.finOffset;
  }

  /** `seq` is this stream's initial sequence number (a retransmitted SYN). */
  isInitialSequence(seq: number): boolean {
    return this.synSeen && (seq + 1) >>> 0 === this.base;
  }

  /** A segment of this direction: its sequence number, whether SYN/FIN, its payload. */
  segment(seq: number, syn: boolean, fin: boolean, payload: Uint8Array): void {
    if (syn) {
      if (!this.started) {
        this.base = (seq + 1) >>> 0;
        this.started = this.synSeen = true;
      }
      seq = (seq + 1) >>> 0;
    } else if (!this.started) {
      this.base = seq;
      this.started = true;
    }
    let offset = this.offsetOf(seq);
    const end = offset + payload.length;
    if (fin && this.finOffset < 0) this.finOffset = end;
    if (payload.length === 0) return;
    const next = this.nextOffset;
    if (end <= next) {
      // Keep-alives repeat the last byte (or none) with garbage: not a retransmission.
      if (payload.length === 1 && offset === next - 1 && !syn && !fin) this.counters.keepAlives++;
      else {
        this.counters.retransmissions++;
        this.checkHistory(offset, payload);
      }
      return;
    }
    if (offset < next) {
      this.checkHistory(offset, payload.subarray(0, next - offset));
      payload = payload.subarray(next - offset);
      offset = next;
    }
    if (offset === next && this.pending.length === 0) this.deliver(payload);
    else {
      if (!this.hold(offset, payload)) this.counters.retransmissions++;
      this.drain();
      while (this.pendingBytes > this.limits.maxPendingBytes) this.skipHole();
    }
  }

  /** The peer acknowledged bytes up to sequence number `ack`: forget the history before. */
  acknowledge(ack: number): void {
    if (!this.started) return;
    const upTo = this.offsetOf(ack);
    const h = this.history;
    while (h.length > 0 && h[0]!.offset + h[0]!.bytes.length <= upTo) this.dropHistory();
  }

  /** Skip every hole: deliver all that is held, then report a gap up to a FIN seen. */
  flush(): void {
    while (this.pending.length > 0) this.skipHole();
    if (this.finOffset > this.nextOffset) {
      this.reportGap(this.finOffset - this.nextOffset);
      this.nextOffset = this.finOffset;
    }
  }

  /** Forget all history (to free memory): later retransmissions go unchecked. */
  releaseHistory(): void {
    while (this.history.length > 0) this.dropHistory();
  }

  /** The stream offset of `seq`: the one nearest the next expected byte. */
  private offsetOf(seq: number): number {
    const relative = (seq - this.base) >>> 0;
    return this.nextOffset + ((relative - (this.nextOffset % TWO_32)) | 0);
  }

  private deliver(bytes: Uint8Array): void {
    const offset = this.nextOffset;
    this.nextOffset += bytes.length;
    const afterGap = this.afterGap;
    this.afterGap = false;
    this.history.push({ offset, bytes });
    this.historyBytes += bytes.length;
    this.counters.heldBytes += bytes.length;
    while (this.historyBytes > this.limits.maxHistoryBytes) this.dropHistory();
    this.sink.data(bytes, offset, afterGap);
  }

  private dropHistory(): void {
    const dropped = this.history.shift()!.bytes.length;
    this.historyBytes -= dropped;
    this.counters.heldBytes -= dropped;
  }

  /** Deliver the held chunks that now continue the stream. */
  private drain(): void {
    const p = this.pending;
    while (p.length > 0 && p[0]!.offset === this.nextOffset) {
      const chunk = p.shift()!;
      this.pendingBytes -= chunk.bytes.length;
      this.counters.heldBytes -= chunk.bytes.length;
      this.deliver(chunk.bytes);
    }
  }

  private skipHole(): void {
    this.reportGap(this.pending[0]!.offset - this.nextOffset);
    this.nextOffset = this.pending[0]!.offset;
    this.drain();
  }

  private reportGap(length: number): void {
    this.counters.gaps++;
    this.counters.gapBytes += length;
    this.afterGap = true;
    this.sink.gap(this.nextOffset, length);
  }

  /**
   * Hold the parts of `bytes` (at `offset`, past the next byte) that no held chunk covers;
   * compare the parts that one does. Returns whether any byte was new.
   */
  private hold(offset: number, bytes: Uint8Array): boolean {
    const p = this.pending;
    const end = offset + bytes.length;
    let i = 0;
    while (i < p.length && p[i]!.offset + p[i]!.bytes.length <= offset) i++;
    let at = offset;
    let added = false;
    let conflict = false;
    while (at < end) {
      const chunk = p[i];
      const pieceEnd = chunk === undefined ? end : Math.min(end, chunk.offset);
      if (pieceEnd > at) {
        const piece = bytes.subarray(at - offset, pieceEnd - offset);
        p.splice(i++, 0, { offset: at, bytes: piece });
        this.pendingBytes += piece.length;
        this.counters.heldBytes += piece.length;
        added = true;
        at = pieceEnd;
      }
      if (chunk === undefined || at >= end) break;
      const overlapEnd = Math.min(end, chunk.offset + chunk.bytes.length);
      conflict ||= !sameBytes(chunk, bytes, offset, at, overlapEnd);
      at = overlapEnd;
      i++;
    }
    if (conflict) this.reportConflict(offset, bytes.length);
    return added;
  }

  /** Compare `bytes` (at `offset`, all before the next byte) with the history still kept. */
  private checkHistory(offset: number, bytes: Uint8Array): void {
    const end = offset + bytes.length;
    for (const chunk of this.history) {
      if (chunk.offset >= end) break;
      const from = Math.max(offset, chunk.offset);
      const to = Math.min(end, chunk.offset + chunk.bytes.length);
      if (from < to && !sameBytes(chunk, bytes, offset, from, to)) {
        this.reportConflict(offset, bytes.length);
        return;
      }
    }
  }

  private reportConflict(offset: number, length: number): void {
    this.counters.conflicts++;
    this.sink.conflict(offset, length);
  }
}

/** Whether `chunk` and `bytes` (at `offset`) agree on stream offsets [from, to). */
function sameBytes(chunk: Chunk, bytes: Uint8Array, offset: number, from: number, to: number) {
  const a = chunk.bytes;
  const aShift = chunk.offset;
  for (let o = from; o < to; o++) if (a[o - aShift] !== bytes[o - offset]) return false;
  return true;
}
