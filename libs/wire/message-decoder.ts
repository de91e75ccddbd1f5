/**
 * Bytes in, messages out: a FrameDecoder followed by decodeMessage. A framing error (bad
 * length or version) stops the decoder until `reset()`; a message error (unknown type,
 * malformed body) is reported and decoding goes on with the next frame, since the framing
 * is intact. Either way the auth service closes the connection; the capture service logs
 * and carries on.
 */
import { type Decoded, FrameDecoder, type FrameOptions, type WireError } from './frame.js';
import { decodeMessage, type Message } from './messages.js';

export class MessageDecoder {
  private readonly frames: FrameDecoder;

  constructor(opts: FrameOptions = {}) {
    this.frames = new FrameDecoder(opts);
  }

  get maxFrameSize(): number {
    return this.frames.maxFrameSize;
  }

  /** The framing error that stopped the decoder, if one did. */
  get failed(): WireError | undefined {
    return this.frames.failed;
  }

  /** Bytes held for the frame in progress (at most 4 + maxFrameSize). */
  get bufferedBytes(): number {
    return this.frames.bufferedBytes;
  }

  reset(): void {
    this.frames.reset();
  }

  push(chunk: Uint8Array): Decoded<Message>[] {
    return this.frames.push(chunk).map((f) => (f.ok ? decodeMessage(f.value) : f));
  }
}
