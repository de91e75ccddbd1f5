/**
 * diagon/bus — how the services talk: request/reply with deadlines, publish, subscriptions
 * with queue groups, over NATS or in process, with one contract.
 *
 * - `Bus`: `request(subject, data, { timeoutMs = 5000, headers })` → reply or DiagonError
 *   `bus/timeout` | `bus/no-responders` | the responder's own code; `publish`;
 *   `subscribe(subject, handler, { queue })` (`*` and `>` wildcards; thrown handler errors
 *   become error replies: a DiagonError keeps its code and data, anything else is logged and
 *   answered as `internal`); `flush`; `drain` (finish in-flight handlers, then close); `close`.
 * - `connectNats({ url, name, timeoutMs, logger })` → `NatsBus` (fails fast with
 *   `bus/unreachable`); `new MemoryBus({ logger })` for the embedded mode and tests.
 * - `HEADER` names (`Diagon-Did`, `Diagon-Request-Id`, `Diagon-Pool`, `Diagon-Error`, W3C
 *   `traceparent`/`tracestate`); `jsonData(x)`, `parseJson(msg, check?)` (`bus/malformed`).
 * - `subjects.*`: every Diagon subject from checked pool/node tokens (`bus/bad-subject`).
 * - `ensureStream(bus, { name, subjects, maxAgeMs })`: a JetStream stream as declared.
 *
 * Other errors: `bus/closed`, `bus/bad-header`, `bus/bad-timeout`, `bus/bad-stream`, `bus/stream`,
 * `bus/failed`.
 */
export {
  type Bus,
  type BusLogger,
  type BusMessage,
  type Handler,
  HEADER,
  type IncomingMessage,
  jsonData,
  messagingAttributes,
  parseJson,
  type RequestOptions,
  type SubscribeOptions,
  type Subscription,
} from './bus.js';
export { MemoryBus, type MemoryBusOptions } from './memory-bus.js';
export { connectNats, NatsBus, type NatsBusOptions } from './nats-bus.js';
export {
  consumeDurable,
  type DurableConsumer,
  type DurablePublishAck,
  ensureStream,
  GOVERNANCE_STREAM,
  lastMessage,
  publishDurable,
  type StoredMessage,
  type StreamDeclaration,
  TX_STREAM,
} from './streams.js';
export { ANY, STREAMS, subjects } from './subjects.js';
