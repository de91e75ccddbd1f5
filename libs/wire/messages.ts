/**
 * The version-1 message set. Each message is one frame whose body is a canonical CBOR map
 * (libs/identity) with text keys; PROTOCOL.md gives the byte layouts. A receiver ignores
 * keys it does not know, so optional fields can be added within a version; anything a
 * receiver must understand needs a new version.
 *
 * `decodeMessage` is total: a frame of an unknown type or with a malformed body decodes to
 * a `WireError` value, never a throw. `encodeMessage` checks its input with the same rules
 * and throws `wire/invalid-message` on a caller's mistake.
 */
import { DiagonError } from '../db/errors.js';
import { type CanonicalValue, decodeCanonical, encodeCanonical } from '../identity/cbor.js';
import { isPoolName } from '../identity/signing-bytes.js';
import { type Decoded, encodeFrame, type Frame, type FrameOptions } from './frame.js';

/** W3C trace context, carried by every request so a trace can follow it across services. */
export interface TraceContext {
  /** `00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>` */
  traceparent?: string;
  tracestate?: string;
}

// ---- handshake ----

/** Client → server: who I am and which pool I want. */
export interface ConnectMessage {
  type: 'connect';
  did: string;
  publicKey: Uint8Array;
  pool: string;
}
/** Server → client: sign this nonce (see `handshakeSigningBytes`). */
export interface ChallengeMessage {
  type: 'challenge';
  nonce: Uint8Array;
  serverDid: string;
}
/** Client → server: the signature over the handshake transcript. */
export interface ResponseMessage {
  type: 'response';
  signature: Uint8Array;
}
/** Client → server: in the client's words, what it connects for. */
export interface ElaborateMessage {
  type: 'elaborate';
  text: string;
}
/** Server → client: authenticated; `session` is a signed session token. */
export interface AuthenticatedMessage {
  type: 'authenticated';
  session: string;
}
/** Server → client: authentication refused (the server then closes the connection). */
export interface RejectedMessage {
  type: 'rejected';
  code: RejectCode | (string & {});
  reason: string;
}

/** The reject codes the server uses; clients must accept others too. */
export const REJECT_CODES = [
  'bad-signature',
  'did-mismatch',
  'not-member',
  'replayed',
  'challenge-expired',
  'elaboration-too-short',
  'rate-limited',
  'protocol-error',
  'unsupported-version',
  'unavailable',
] as const;
export type RejectCode = (typeof REJECT_CODES)[number];

// ---- requests (client → server), each with a request id chosen by the client ----

/** Propose a transaction: `txData` is EDN tx-data. */
/**
 * Propose a transaction: `txData` is EDN tx-data (JSON for a membership change). With
 * `signature`, the proposal is the libs/governance ProposalBody {pool (the session's),
 * kind (default knowledge), txData, basisT, proposer (the session's DID), createdAt (ms)}
 * signed by the proposer; the consensus service requires it.
 */
export interface ProposeMessage extends TraceContext {
  type: 'propose';
  id: number;
  txData: string;
  kind?: string;
  basisT?: number;
  createdAt?: number;
  signature?: Uint8Array;
}
/**
 * Vote on a proposal (its CID): `vote` is `yes` or `no`, `signature` the voter's signature
 * of the libs/governance VoteBody {pool, proposal, support, elaborationHash (sha-256 hex of
 * `elaboration`), voter (the session's DID), at (ms)}.
 */
export interface VoteMessage extends TraceContext {
  type: 'vote';
  id: number;
  proposal: string;
  vote: string;
  signature: Uint8Array;
  elaboration?: string;
  at?: number;
}
/** A Datalog query in EDN, with its inputs as an EDN vector, optionally as of a basis t. */
export interface QueryMessage extends TraceContext {
  type: 'query';
  id: number;
  query: string;
  args?: string;
  asOf?: number;
}
/** A pull: an EDN pattern and an EDN entity id or lookup ref, optionally as of a basis t. */
export interface PullMessage extends TraceContext {
  type: 'pull';
  id: number;
  pattern: string;
  eid: string;
  asOf?: number;
}
/** Subscribe to a topic; events arrive as Event messages carrying this request's id. */
export interface SubscribeMessage extends TraceContext {
  type: 'subscribe';
  id: number;
  topic: string;
}
/** A heartbeat, from either side; answered by a Pong with the same id. */
export interface PingMessage extends TraceContext {
  type: 'ping';
  id: number;
}

// ---- replies (server → client) ----

/** The result of a request, as EDN. */
export interface ReplyMessage {
  type: 'reply';
  id: number;
  value: string;
}
/** One event of a subscription (`id` is the Subscribe's id), numbered from 0 by `seq`. */
export interface EventMessage {
  type: 'event';
  id: number;
  seq: number;
  value: string;
}
export interface PongMessage {
  type: 'pong';
  id: number;
}
/** A failed request (`id`), or a connection-level error (no `id`). */
export interface ErrorMessage {
  type: 'error';
  id?: number;
  code: string;
  message: string;
}
/** Either side is closing the connection; the server drains requests in flight first. */
export interface ShutdownMessage {
  type: 'shutdown';
  reason: string;
}

export type Message =
  | ConnectMessage
  | ChallengeMessage
  | ResponseMessage
  | ElaborateMessage
  | AuthenticatedMessage
  | RejectedMessage
  | ProposeMessage
  | VoteMessage
  | QueryMessage
  | PullMessage
  | SubscribeMessage
  | PingMessage
  | ReplyMessage
  | EventMessage
  | PongMessage
  | ErrorMessage
  | ShutdownMessage;

export type MessageType = Message['type'];

// ---- the schema ----

type FieldKind =
  | 'text'
  | 'did'
  | 'pool'
  | 'code'
  | 'nonce'
  | 'publicKey'
  | 'signature'
  | 'requestId'
  | 'uint'
  | 'traceparent'
  | 'tracestate';

interface Field {
  key: string;
  kind: FieldKind;
  optional?: boolean;
}

const TRACE_FIELDS: Field[] = [
  { key: 'traceparent', kind: 'traceparent', optional: true },
  { key: 'tracestate', kind: 'tracestate', optional: true },
];
const ID: Field = { key: 'id', kind: 'requestId' };

/** Type byte and fields of every message. */
export const MESSAGE_SCHEMA: Record<MessageType, { code: number; fields: Field[] }> = {
  connect: {
    code: 0x01,
    fields: [
      { key: 'did', kind: 'did' },
      { key: 'publicKey', kind: 'publicKey' },
      { key: 'pool', kind: 'pool' },
    ],
  },
  challenge: {
    code: 0x02,
    fields: [
      { key: 'nonce', kind: 'nonce' },
      { key: 'serverDid', kind: 'did' },
    ],
  },
  response: { code: 0x03, fields: [{ key: 'signature', kind: 'signature' }] },
  elaborate: { code: 0x04, fields: [{ key: 'text', kind: 'text' }] },
  authenticated: { code: 0x05, fields: [{ key: 'session', kind: 'text' }] },
  rejected: {
    code: 0x06,
    fields: [
      { key: 'code', kind: 'code' },
      { key: 'reason', kind: 'text' },
    ],
  },
  propose: {
    code: 0x10,
    fields: [
      ID,
      { key: 'txData', kind: 'text' },
      { key: 'kind', kind: 'text', optional: true },
      { key: 'basisT', kind: 'uint', optional: true },
      { key: 'createdAt', kind: 'uint', optional: true },
      { key: 'signature', kind: 'signature', optional: true },
      ...TRACE_FIELDS,
    ],
  },
  vote: {
    code: 0x11,
    fields: [
      ID,
      { key: 'proposal', kind: 'text' },
      { key: 'vote', kind: 'text' },
      { key: 'signature', kind: 'signature' },
      { key: 'elaboration', kind: 'text', optional: true },
      { key: 'at', kind: 'uint', optional: true },
      ...TRACE_FIELDS,
    ],
  },
  query: {
    code: 0x12,
    fields: [
      ID,
      { key: 'query', kind: 'text' },
      { key: 'args', kind: 'text', optional: true },
      { key: 'asOf', kind: 'uint', optional: true },
      ...TRACE_FIELDS,
    ],
  },
  pull: {
    code: 0x13,
    fields: [
      ID,
      { key: 'pattern', kind: 'text' },
      { key: 'eid', kind: 'text' },
      { key: 'asOf', kind: 'uint', optional: true },
      ...TRACE_FIELDS,
    ],
  },
  subscribe: { code: 0x14, fields: [ID, { key: 'topic', kind: 'text' }, ...TRACE_FIELDS] },
  ping: { code: 0x15, fields: [ID, ...TRACE_FIELDS] },
  reply: { code: 0x20, fields: [ID, { key: 'value', kind: 'text' }] },
  event: {
    code: 0x21,
    fields: [ID, { key: 'seq', kind: 'uint' }, { key: 'value', kind: 'text' }],
  },
  pong: { code: 0x22, fields: [ID] },
  error: {
    code: 0x23,
    fields: [
      { key: 'id', kind: 'requestId', optional: true },
      { key: 'code', kind: 'code' },
      { key: 'message', kind: 'text' },
    ],
  },
  shutdown: { code: 0x30, fields: [{ key: 'reason', kind: 'text' }] },
};

const TYPE_BY_CODE = new Map<number, MessageType>(
  Object.entries(MESSAGE_SCHEMA).map(([name, s]) => [s.code, name as MessageType]),
);

/** The name of a type byte, or undefined for an unknown one. */
export function messageTypeName(code: number): MessageType | undefined {
  return TYPE_BY_CODE.get(code);
}

const DID_SYNTAX = /^did:[a-z0-9]+:[A-Za-z0-9._%:-]+$/;
const MAX_DID_LENGTH = 256;
const CODE_SYNTAX = /^[a-z][a-z0-9._/-]{0,127}$/;
const TRACEPARENT = /^00-(?!0{32})[0-9a-f]{32}-(?!0{16})[0-9a-f]{16}-[0-9a-f]{2}$/;
const TRACESTATE = /^[\x20-\x7e]{0,512}$/;

function bytesOf(n: number): (v: CanonicalValue) => string | undefined {
  return (v) => (v instanceof Uint8Array && v.length === n ? undefined : `${n} bytes`);
}

function text(check: (s: string) => boolean, expected: string) {
  return (v: CanonicalValue) => (typeof v === 'string' && check(v) ? undefined : expected);
}

/** Each kind's check: undefined when `v` fits, else what was expected. */
const CHECKS: Record<FieldKind, (v: CanonicalValue) => string | undefined> = {
  text: text(() => true, 'text'),
  did: text((s) => s.length <= MAX_DID_LENGTH && DID_SYNTAX.test(s), 'a DID (did:method:id)'),
  pool: text(isPoolName, 'a pool name (a DNS label)'),
  code: text((s) => CODE_SYNTAX.test(s), 'a code (lowercase letters, digits, - . _ /)'),
  nonce: bytesOf(32),
  publicKey: bytesOf(32),
  signature: bytesOf(64),
  requestId: (v) =>
    typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 0xffffffff
      ? undefined
      : 'an unsigned 32-bit integer',
  uint: (v) =>
    typeof v === 'number' && Number.isSafeInteger(v) && v >= 0
      ? undefined
      : 'an unsigned integer below 2^53',
  traceparent: text((s) => TRACEPARENT.test(s), 'a W3C traceparent (version 00)'),
  tracestate: text((s) => TRACESTATE.test(s), 'a W3C tracestate (printable ASCII, ≤ 512)'),
};

/** The problem with field `f` of value `v`, or undefined. */
function fieldProblem(f: Field, v: CanonicalValue | undefined): string | undefined {
  if (v === undefined) return f.optional ? undefined : `"${f.key}" is missing`;
  const expected = CHECKS[f.kind](v);
  return expected === undefined ? undefined : `"${f.key}" must be ${expected}`;
}

/** The frame bytes of a message; throws `wire/invalid-message` or `wire/frame-too-large`. */
export function encodeMessage(message: Message, opts: FrameOptions = {}): Uint8Array {
  if (!Object.hasOwn(MESSAGE_SCHEMA, message.type))
    throw new DiagonError('wire/invalid-message', `unknown message type ${message.type}`, {
      type: message.type,
    });
  const schema = MESSAGE_SCHEMA[message.type];
  const fields = message as unknown as Record<string, CanonicalValue | undefined>;
  const body: Record<string, CanonicalValue> = {};
  for (const f of schema.fields) {
    const v = fields[f.key];
    const problem = fieldProblem(f, v);
    if (problem !== undefined)
      throw new DiagonError('wire/invalid-message', `${message.type}: ${problem}`, {
        type: message.type,
        field: f.key,
      });
    if (v !== undefined) body[f.key] = v;
  }
  let bytes: Uint8Array;
  try {
    bytes = encodeCanonical(body);
  } catch (e) {
    // A text field can pass its check and still have no UTF-8 form (a lone surrogate).
    if (!(e instanceof DiagonError)) throw e;
    throw new DiagonError('wire/invalid-message', `${message.type}: ${e.message}`, {
      type: message.type,
      ...e.data,
    });
  }
  return encodeFrame(schema.code, bytes, opts);
}

/** Message bodies are flat maps: two levels leave room for a structured optional field. */
const BODY_MAX_DEPTH = 2;

/** The message a frame holds, or a WireError (`unknown-type`, `malformed`). Never throws. */
export function decodeMessage(frame: Frame): Decoded<Message> {
  const type = messageTypeName(frame.type);
  if (type === undefined)
    return {
      ok: false,
      error: {
        code: 'unknown-type',
        message: `unknown message type 0x${frame.type.toString(16).padStart(2, '0')}`,
        type: frame.type,
      },
    };
  const malformed = (why: string): Decoded<Message> => ({
    ok: false,
    error: { code: 'malformed', message: `malformed ${type} message: ${why}`, type: frame.type },
  });
  let body: CanonicalValue;
  try {
    body = decodeCanonical(frame.body, { maxDepth: BODY_MAX_DEPTH });
  } catch (e) {
    if (e instanceof DiagonError) return malformed(e.message);
    throw e;
  }
  if (typeof body !== 'object' || body === null || Object.getPrototypeOf(body) !== Object.prototype)
    return malformed('the body is not a map');
  const map = body as Record<string, CanonicalValue>;
  const message: Record<string, CanonicalValue> = { type };
  for (const f of MESSAGE_SCHEMA[type].fields) {
    const v = Object.hasOwn(map, f.key) ? map[f.key] : undefined;
    const problem = fieldProblem(f, v);
    if (problem !== undefined) return malformed(problem);
    if (v !== undefined) message[f.key] = v;
  }
  return { ok: true, value: message as unknown as Message };
}
