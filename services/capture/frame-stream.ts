/**
 * One direction of a flow's reassembled bytes, cut into wire frames (libs/wire) and
 * decoded. A frame inside one delivered chunk is decoded from a view of it, without a copy;
 * one split across chunks is gathered into a buffer of its declared size. (libs/wire's
 * MessageDecoder copies every frame and does not say where a frame ended, which the
 * capture needs for sizes and for resynchronizing.)
 *
 * After a gap, a framing error, or in a flow first seen mid-stream, the frame boundaries
 * are lost. The stream then scans for a plausible header (length within bounds, version 1,
 * a known type, a body that starts with a CBOR map) and accepts it only once the whole
 * frame decodes: frames are found, never invented. Scanning holds at most one maximum
 * frame plus the last chunk delivered.
 */
import {
  type Decoded,
  decodeMessage,
  FRAME_HEADER_BYTES,
  type Message,
  MIN_PAYLOAD_BYTES,
  messageTypeName,
  WIRE_VERSION,
  type WireError,
} from '../../libs/wire/index.js';

export interface FrameSink {
  /** A whole frame with its boundaries known: a message, or a message error. */
  frame(decoded: Decoded<Message>, typeCode: number, size: number, afterGap: boolean): void;
  /** A header whose length is over the maximum (`size` = 4 + length): boundaries lost. */
  tooLarge(typeCode: number, size: number): void;
  /** A header no frame can have (length below 2, another version): boundaries lost. */
  badHeader(error: WireError): void;
  /** A frame the stream broke off inside: `held` of its `size` bytes were seen. */
  truncated(typeCode: number, size: number, held: number): void;
  /** Bytes passed over looking for a frame; `resynced`: a frame was found after them. */
  skipped(bytes: number, resynced: boolean): void;
}

/** Version and type: the bytes of a frame that say whether it can be one. */
const HEAD_BYTES = FRAME_HEADER_BYTES + MIN_PAYLOAD_BYTES;
/** Every message body is a non-empty CBOR map: major type 5 in the first body byte. */
const CBOR_MAP_MASK = 0xe0;
const CBOR_MAP = 0xa0;
const EMPTY = new Uint8Array(0);

const u32 = (b: Uint8Array, at: number) =>
  ((b[at]! << 24) | (b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!) >>> 0;

function decodeFrame(frame: Uint8Array): Decoded<Message> {
  return decodeMessage({
    version: WIRE_VERSION,
    type: frame[FRAME_HEADER_BYTES + 1]!,
    body: frame.subarray(HEAD_BYTES),
  });
}

export class FrameStream {
  /** The head of a frame split across chunks, before its size is known. */
  private readonly head = new Uint8Array(HEAD_BYTES);
  private headFill = 0;
  /**
   * A frame split across chunks, once its size is known: its bytes so far, in a buffer
   * grown as they arrive (a header alone must not make it allocate a maximum frame).
   */
  private partial: Uint8Array | undefined;
  private partialSize = 0;
  private partialFill = 0;
  private scanning: boolean;
  private scanBuffer = EMPTY;
  private scanLength = 0;
  private skippedBytes = 0;
  /** The next frame follows lost bytes. */
  private afterGap = false;

  /** `synced`: the stream starts at a frame boundary (its connection's first byte). */
  constructor(
    private readonly maxFrameSize: number,
    private readonly sink: FrameSink,
    synced: boolean,
  ) {
    this.scanning = !synced;
  }

  push(chunk: Uint8Array): void {
    let input: Uint8Array | undefined = chunk;
    while (input !== undefined) input = this.scanning ? this.scan(input, false) : this.cut(input);
  }

  /** Bytes were lost before the next push: drop the frame in progress, then resynchronize. */
  gap(): void {
    this.end();
    this.startScanning();
    this.afterGap = true;
  }

  /** The stream is over: a frame in progress is truncated. */
  end(): void {
    let input: Uint8Array | undefined = EMPTY;
    while (input !== undefined) input = this.scanning ? this.scan(input, true) : this.cut(input);
    if (this.partial !== undefined)
      this.sink.truncated(
        this.partial[FRAME_HEADER_BYTES + 1]!,
        this.partialSize,
        this.partialFill,
      );
    else if (this.headFill > 0) this.sink.skipped(this.headFill, false);
    this.partial = undefined;
    this.headFill = 0;
  }

  private startScanning(): void {
    this.scanning = true;
    this.partial = undefined;
    this.headFill = 0;
  }

  /**
   * Cut `input` into frames; returns the bytes to scan when a bad header loses the
   * boundaries, else undefined once all is consumed.
   */
  private cut(input: Uint8Array): Uint8Array | undefined {
    let i = 0;
    if (this.partial !== undefined) {
      i = this.fillPartial(input);
      if (this.partial !== undefined) return undefined;
    } else if (this.headFill > 0) {
      const n = Math.min(HEAD_BYTES - this.headFill, input.length);
      this.head.set(input.subarray(0, n), this.headFill);
      this.headFill += n;
      if (this.headFill < HEAD_BYTES) return undefined;
      this.headFill = 0;
      if (!this.headerFits(this.head, 0)) return concat(this.head.subarray(1), input.subarray(n));
      this.startPartial(this.head);
      i = this.fillPartial(input.subarray(n)) + n;
      if (this.partial !== undefined) return undefined;
    }
    while (i < input.length) {
      const left = input.length - i;
      if (left < HEAD_BYTES) {
        this.head.set(input.subarray(i));
        this.headFill = left;
        return undefined;
      }
      if (!this.headerFits(input, i)) return input.subarray(i + 1);
      const size = FRAME_HEADER_BYTES + u32(input, i);
      if (left < size) {
        this.startPartial(input.subarray(i));
        return undefined;
      }
      const frame = input.subarray(i, i + size);
      this.emit(decodeFrame(frame), frame);
      i += size;
    }
    return undefined;
  }

  /** Start a split frame with `start`, its first bytes (a header that fits, at least). */
  private startPartial(start: Uint8Array): void {
    this.partialSize = FRAME_HEADER_BYTES + u32(start, 0);
    this.partial = new Uint8Array(Math.min(this.partialSize, Math.max(2 * start.length, 4096)));
    this.partial.set(start);
    this.partialFill = start.length;
  }

  /** Copy the start of `input` into the partial frame; emit it when whole. Returns bytes used. */
  private fillPartial(input: Uint8Array): number {
    const n = Math.min(this.partialSize - this.partialFill, input.length);
    const needed = this.partialFill + n;
    if (needed > this.partial!.length) {
      const grown = new Uint8Array(Math.min(this.partialSize, 2 * needed));
      grown.set(this.partial!.subarray(0, this.partialFill));
      this.partial = grown;
    }
    const partial = this.partial!;
    partial.set(input.subarray(0, n), this.partialFill);
    this.partialFill = needed;
    if (needed === this.partialSize) {
      this.partial = undefined;
      this.emit(decodeFrame(partial), partial);
    }
    return n;
  }

  /** Whether the header at `at` can start a frame; if not, reports it and starts scanning. */
  private headerFits(bytes: Uint8Array, at: number): boolean {
    const length = u32(bytes, at);
    const version = bytes[at + FRAME_HEADER_BYTES]!;
    const type = bytes[at + FRAME_HEADER_BYTES + 1]!;
    if (length > this.maxFrameSize) this.sink.tooLarge(type, FRAME_HEADER_BYTES + length);
    else if (length < MIN_PAYLOAD_BYTES)
      this.sink.badHeader({
        code: 'frame-too-small',
        message: `frame length ${length} is below ${MIN_PAYLOAD_BYTES} (version and type bytes)`,
        length,
      });
    else if (version !== WIRE_VERSION)
      this.sink.badHeader({
        code: 'unsupported-version',
        message: `protocol version ${version} is not supported (this side speaks ${WIRE_VERSION})`,
        version,
      });
    else return true;
    this.startScanning();
    this.skippedBytes = 1;
    return false;
  }

  private emit(decoded: Decoded<Message>, frame: Uint8Array): void {
    const afterGap = this.afterGap;
    this.afterGap = false;
    this.sink.frame(decoded, frame[FRAME_HEADER_BYTES + 1]!, frame.length, afterGap);
  }

  /** A frame could start at `at`: the check before paying for a decode. */
  private plausible(b: Uint8Array, at: number): boolean {
    const length = u32(b, at);
    return (
      length > MIN_PAYLOAD_BYTES &&
      length <= this.maxFrameSize &&
      b[at + FRAME_HEADER_BYTES] === WIRE_VERSION &&
      messageTypeName(b[at + FRAME_HEADER_BYTES + 1]!) !== undefined &&
      (b[at + HEAD_BYTES]! & CBOR_MAP_MASK) === CBOR_MAP
    );
  }

  /**
   * Append `input` and look for a frame that decodes. Returns the bytes after it (to cut
   * normally) once one is found, else undefined. `final`: no more bytes will come, so a
   * candidate that is not whole is no frame.
   */
  private scan(input: Uint8Array, final: boolean): Uint8Array | undefined {
    this.append(input);
    const buf = this.scanBuffer;
    const n = this.scanLength;
    let p = 0;
    for (;;) {
      while (p + HEAD_BYTES < n && !this.plausible(buf, p)) p++;
      if (p + HEAD_BYTES >= n) {
        if (final) p = n;
        break;
      }
      const size = FRAME_HEADER_BYTES + u32(buf, p);
      if (p + size > n) {
        if (!final) break;
        p++;
        continue;
      }
      const frame = buf.subarray(p, p + size);
      const decoded = decodeFrame(frame);
      if (!decoded.ok) {
        p++;
        continue;
      }
      const skipped = this.skippedBytes + p;
      this.skippedBytes = 0;
      this.scanning = false;
      // The rest is a view of this buffer: the next scan must start another.
      this.scanBuffer = EMPTY;
      this.scanLength = 0;
      if (skipped > 0 || this.afterGap) {
        this.afterGap = true;
        this.sink.skipped(skipped, true);
      }
      this.emit(decoded, frame);
      return buf.subarray(p + size, n);
    }
    this.skippedBytes += p;
    buf.copyWithin(0, p, n);
    this.scanLength = n - p;
    if (final && this.skippedBytes > 0) {
      this.sink.skipped(this.skippedBytes, false);
      this.skippedBytes = 0;
    }
    return undefined;
  }

  private append(input: Uint8Array): void {
    const needed = this.scanLength + input.length;
    if (needed > this.scanBuffer.length) {
      const grown = new Uint8Array(Math.max(needed, 2 * this.scanBuffer.length, 4096));
      grown.set(this.scanBuffer.subarray(0, this.scanLength));
      this.scanBuffer = grown;
    }
    this.scanBuffer.set(input, this.scanLength);
    this.scanLength = needed;
  }
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}
