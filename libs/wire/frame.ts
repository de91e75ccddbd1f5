/**
 * Frames: a 4-byte big-endian length, then that many bytes of payload, whose first two bytes
 * are the protocol version and the message type:
 *
 *     length (u32 BE) ‖ version (u8) ‖ type (u8) ‖ body (length − 2 bytes)
 *
 * `FrameDecoder` cuts a byte stream into frames whatever its chunking. It checks the length
 * from the 4-byte header alone, before allocating anything, so a peer can make it hold at
 * most 4 + `maxFrameSize` bytes. It copies every payload, so callers may reuse their chunk
 * buffers (pcap does).
 */
import { DiagonError } from '../db/errors.js';

/** The wire protocol version this library speaks (the version byte of every frame). */
export const WIRE_VERSION = 1;
/** Default largest length field accepted: 1 MiB. */
export const DEFAULT_MAX_FRAME_SIZE = 1024 * 1024;
export const FRAME_HEADER_BYTES = 4;
/** A payload holds at least the version and type bytes. */
export const MIN_PAYLOAD_BYTES = 2;

export interface Frame {
  version: number;
  /** The message type byte (see MESSAGE_TYPES). */
  type: number;
  /** The message body: canonical CBOR for version 1. */
  body: Uint8Array;
}

export type WireErrorCode =
  | 'frame-too-large'
  | 'frame-too-small'
  | 'unsupported-version'
  | 'unknown-type'
  | 'malformed';

/** A decoding failure, as a value: the decoders never throw. */
export interface WireError {
  code: WireErrorCode;
  message: string;
  /** The frame's length field, for frame-too-large and frame-too-small. */
  length?: number;
  /** The frame's version byte, for unsupported-version. */
  version?: number;
  /** The frame's type byte, for unknown-type and malformed. */
  type?: number;
}

export type Decoded<T> = { ok: true; value: T } | { ok: false; error: WireError };

export interface FrameOptions {
  /** Largest length field accepted or produced (default 1 MiB). */
  maxFrameSize?: number;
}

function maxFrameSizeOf(opts: FrameOptions): number {
  const max = opts.maxFrameSize ?? DEFAULT_MAX_FRAME_SIZE;
  if (!Number.isInteger(max) || max < MIN_PAYLOAD_BYTES || max > 0xffffffff)
    throw new DiagonError(
      'wire/bad-option',
      `maxFrameSize must be an integer from ${MIN_PAYLOAD_BYTES} to 2^32-1, not ${max}`,
    );
  return max;
}

/**
 * The bytes of one frame. Throws `wire/frame-too-large` past `maxFrameSize`, `wire/bad-type`
 * for a type that is not a byte.
 */
export function encodeFrame(type: number, body: Uint8Array, opts: FrameOptions = {}): Uint8Array {
  if (!Number.isInteger(type) || type < 0 || type > 0xff)
    throw new DiagonError('wire/bad-type', `a frame's type is one byte (0-255), not ${type}`, {
      type,
    });
  const length = MIN_PAYLOAD_BYTES + body.length;
  const max = maxFrameSizeOf(opts);
  if (length > max)
    throw new DiagonError(
      'wire/frame-too-large',
      `a ${length}-byte frame exceeds the maximum of ${max} bytes`,
      { length, max },
    );
  const out = new Uint8Array(FRAME_HEADER_BYTES + length);
  new DataView(out.buffer).setUint32(0, length);
  out[4] = WIRE_VERSION;
  out[5] = type;
  out.set(body, FRAME_HEADER_BYTES + MIN_PAYLOAD_BYTES);
  return out;
}

/**
 * Cuts a byte stream into frames. `push` returns what the new bytes completed, in order.
 * A bad header or version is reported once; the decoder then ignores input until `reset()`
 * (a connection closes; the capture service resynchronizes).
 */
export class FrameDecoder {
  readonly maxFrameSize: number;
  private readonly header = new Uint8Array(FRAME_HEADER_BYTES);
  private headerFilled = 0;
  private payload: Uint8Array | undefined;
  private payloadFilled = 0;
  private failure: WireError | undefined;

  constructor(opts: FrameOptions = {}) {
    this.maxFrameSize = maxFrameSizeOf(opts);
  }

  /** The error that stopped the decoder, if one did. */
  get failed(): WireError | undefined {
    return this.failure;
  }

  /** Bytes held for the frame in progress (at most 4 + maxFrameSize). */
  get bufferedBytes(): number {
    return this.headerFilled + (this.payload?.length ?? 0);
  }

  /** Drops any partial frame and a failure: decoding starts afresh at the next byte. */
  reset(): void {
    this.headerFilled = 0;
    this.payload = undefined;
    this.payloadFilled = 0;
    this.failure = undefined;
  }

  push(chunk: Uint8Array): Decoded<Frame>[] {
    const out: Decoded<Frame>[] = [];
    let i = 0;
    while (i < chunk.length && this.failure === undefined) {
      if (this.payload === undefined) {
        const n = Math.min(FRAME_HEADER_BYTES - this.headerFilled, chunk.length - i);
        this.header.set(chunk.subarray(i, i + n), this.headerFilled);
        this.headerFilled += n;
        i += n;
        if (this.headerFilled === FRAME_HEADER_BYTES) this.startPayload(out);
      } else {
        const n = Math.min(this.payload.length - this.payloadFilled, chunk.length - i);
        this.payload.set(chunk.subarray(i, i + n), this.payloadFilled);
        this.payloadFilled += n;
        i += n;
        if (this.payloadFilled === this.payload.length) this.finishPayload(out);
      }
    }
    return out;
  }

  private fail(out: Decoded<Frame>[], error: WireError): void {
    this.failure = error;
    this.headerFilled = 0;
    this.payload = undefined;
    out.push({ ok: false, error });
  }

  private startPayload(out: Decoded<Frame>[]): void {
    const length = new DataView(this.header.buffer).getUint32(0);
    this.headerFilled = 0;
    if (length > this.maxFrameSize)
      this.fail(out, {
        code: 'frame-too-large',
        message: `frame length ${length} exceeds the maximum of ${this.maxFrameSize} bytes`,
        length,
      });
    else if (length < MIN_PAYLOAD_BYTES)
      this.fail(out, {
        code: 'frame-too-small',
        message: `frame length ${length} is below ${MIN_PAYLOAD_BYTES} (version and type bytes)`,
        length,
      });
    else {
      this.payload = new Uint8Array(length);
      this.payloadFilled = 0;
    }
  }

  private finishPayload(out: Decoded<Frame>[]): void {
    const payload = this.payload!;
    this.payload = undefined;
    const version = payload[0]!;
    if (version === WIRE_VERSION)
      out.push({ ok: true, value: { version, type: payload[1]!, body: payload.subarray(2) } });
    else
      this.fail(out, {
        code: 'unsupported-version',
        message: `protocol version ${version} is not supported (this side speaks ${WIRE_VERSION})`,
        version,
      });
  }
}
