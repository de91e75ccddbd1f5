/**
 * diagon/wire — the TCP protocol between clients and the auth edge (PROTOCOL.md has the
 * byte layouts).
 *
 * - Frames: `length u32 BE ‖ version u8 ‖ type u8 ‖ body`, at most `maxFrameSize` (1 MiB by
 *   default) checked from the header before anything is allocated. `encodeFrame`,
 *   `FrameDecoder` (any chunking; `reset()` to resynchronize; `bufferedBytes` ≤ 4 + max).
 * - Messages: `encodeMessage(msg)` → frame bytes (throws `wire/invalid-message` on a bad
 *   message); `decodeMessage(frame)` → `{ ok: true, value }` or `{ ok: false, error }`, never a
 *   throw; `MessageDecoder` = both in one streaming decoder. Handshake: Connect, Challenge,
 *   Response, Elaborate, Authenticated, Rejected; then requests with an `id` and optional W3C
 *   trace context (Propose, Vote, Query, Pull, Subscribe, Ping) and their answers (Reply,
 *   Event, Pong, Error); Shutdown from either side.
 * - `handshakeSigningBytes(transcript)`: what the client signs in Response.
 * - `formatHexDump(bytes)`: `hexdump -C`-style dumps, for logs and the capture service.
 */
export {
  DEFAULT_MAX_FRAME_SIZE,
  type Decoded,
  encodeFrame,
  FRAME_HEADER_BYTES,
  type Frame,
  FrameDecoder,
  type FrameOptions,
  MIN_PAYLOAD_BYTES,
  WIRE_VERSION,
  type WireError,
  type WireErrorCode,
} from './frame.js';
export {
  HANDSHAKE_KIND,
  type HandshakeTranscript,
  handshakeSigningBytes,
  NONCE_BYTES,
} from './handshake.js';
export { formatHexDump } from './hex-dump.js';
export { MessageDecoder } from './message-decoder.js';
export {
  type AuthenticatedMessage,
  type ChallengeMessage,
  type ConnectMessage,
  decodeMessage,
  type ElaborateMessage,
  type ErrorMessage,
  type EventMessage,
  encodeMessage,
  MESSAGE_SCHEMA,
  type Message,
  type MessageType,
  messageTypeName,
  type PingMessage,
  type PongMessage,
  type ProposeMessage,
  type PullMessage,
  type QueryMessage,
  REJECT_CODES,
  type RejectCode,
  type RejectedMessage,
  type ReplyMessage,
  type ResponseMessage,
  type ShutdownMessage,
  type SubscribeMessage,
  type TraceContext,
  type VoteMessage,
} from './messages.js';
