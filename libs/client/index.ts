/**
 * diagon/client — the client SDKs of the auth edge.
 *
 * - TCP (client.ts): `connect({host, port, pool, key})` authenticates over the wire protocol
 *   and returns a `Client` with `propose`, `vote`, `q`, `pull`, `subscribe`, `ping` and
 *   `close`; every call has a deadline, and a dropped connection is re-established with
 *   backoff (events: `disconnected`, `reconnected`, `reconnectFailed`, `shutdown`, `close`).
 * - HTTP (http.ts): `DiagonHttp.login({url, pool, key})` and `DiagonHttp.createPool(…)`; the
 *   instance reads and governs a pool over the JSON API (`info`, `pools`, `propose`,
 *   `proposals`, `proposal`, `vote`, `q`, `pull`, `datoms`, `log`, `trust`, `exportPool`,
 *   `watch`). The API's shapes are in http-api.ts.
 */
export { type CallOptions, Client, type ClientOptions, connect } from './client.js';
export {
  type CreatePoolOptions,
  DiagonHttp,
  type LoginOptions,
  type QueryOptions,
} from './http.js';
export type {
  LogEntryJson,
  MemberRole,
  PoolCreateBody,
  PoolCreated,
  PoolInfo,
  PoolPolicyInput,
  PoolSummary,
  PreparedProposal,
  PreparedVote,
  Problem,
  ProposalDetail,
  ProposalStatus,
  ProposalSummary,
  ProposeReply,
  TrustScore,
  VoteReply,
  WatchEvent,
} from './http-api.js';
export type { HttpOptions } from './http-request.js';
export { readEvents, type ServerSentEvent } from './sse.js';
