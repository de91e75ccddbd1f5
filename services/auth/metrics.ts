/** The auth service's Prometheus metrics (one registry per service instance). */
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

export function authMetrics(opts: { defaults?: boolean; mailboxDepth?: () => number } = {}) {
  const registry = new Registry();
  if (opts.defaults) collectDefaultMetrics({ register: registry, prefix: 'diagon_auth_' });
  return {
    registry,
    handshakes: new Counter({
      name: 'diagon_auth_handshakes_total',
      help: 'Handshakes finished, by transport, result and reason',
      labelNames: ['transport', 'result', 'reason'] as const,
      registers: [registry],
    }),
    rateLimited: new Counter({
      name: 'diagon_auth_rate_limited_total',
      help: 'Handshakes and requests refused by a rate limit, by limit',
      labelNames: ['limit'] as const,
      registers: [registry],
    }),
    connections: new Gauge({
      name: 'diagon_auth_connections',
      help: 'TCP connections open',
      registers: [registry],
    }),
    watchStreams: new Gauge({
      name: 'diagon_auth_watch_streams',
      help: 'HTTP event streams (/watch) open',
      registers: [registry],
    }),
    requests: new Counter({
      name: 'diagon_auth_requests_total',
      help: 'Requests relayed to NATS, by message type and outcome',
      labelNames: ['type', 'outcome'] as const,
      registers: [registry],
    }),
    requestSeconds: new Histogram({
      name: 'diagon_auth_request_duration_seconds',
      help: 'Time from a request frame to its relayed reply',
      labelNames: ['type'] as const,
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    }),
    protocolErrors: new Counter({
      name: 'diagon_auth_protocol_errors_total',
      help: 'Connections dropped for a protocol violation, by code',
      labelNames: ['code'] as const,
      registers: [registry],
    }),
    mailboxDepth: new Gauge({
      name: 'diagon_actor_mailbox_depth',
      help: 'Messages waiting in connection actors, summed',
      registers: [registry],
      collect() {
        if (opts.mailboxDepth) this.set(opts.mailboxDepth());
      },
    }),
  };
}

export type AuthMetrics = ReturnType<typeof authMetrics>;
