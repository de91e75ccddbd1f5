/**
 * diagon/client — the client SDK: `connect({host, port, pool, key})` authenticates with the
 * auth edge and returns a `Client` with `propose`, `vote`, `q`, `pull`, `subscribe`, `ping`
 * and `close`; every call has a deadline, and a dropped connection is re-established with
 * backoff (events: `disconnected`, `reconnected`, `reconnectFailed`, `shutdown`, `close`).
 */
export { type CallOptions, Client, type ClientOptions, connect } from './client.js';
