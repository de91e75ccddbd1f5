/**
 * The auth service's configuration: environment variables, validated at start. A bad value
 * stops the service with one message listing every problem and the variable to fix.
 */
import { z } from 'zod';
import { envInt, envVar, loadEnv } from '../../libs/common/env.js';
import { SERVICE_ENV } from '../../libs/common/service.js';

const int = envInt;
const positive = z.coerce.number().positive();
const v = envVar;

/** Every variable, its default, what it does (printed by `--help`) and its check. */
export const AUTH_ENV = {
  AUTH_HOST: v('127.0.0.1', 'address the TCP and HTTP servers listen on', z.string().min(1)),
  AUTH_TCP_PORT: v('7420', 'TCP port of the wire protocol (0 picks a free one)', int(0, 65535)),
  AUTH_HTTP_PORT: v(
    '7421',
    'HTTP port: the JSON API (/v1/openapi.json), /healthz, /readyz, /metrics (0: a free one)',
    int(0, 65535),
  ),
  AUTH_KEY_FILE: v(
    '',
    "the service's key file; created (mode 0600) when missing; unset: a new key per start",
    z.string(),
  ),
  ...SERVICE_ENV,
  AUTH_MAX_CONNECTIONS: v(
    '1000',
    'TCP connections held at once; more are refused',
    int(1, 1_000_000),
  ),
  AUTH_MAX_FRAME_BYTES: v(
    '1048576',
    'largest frame accepted (the length field)',
    int(1024, 64 * 1024 * 1024),
  ),
  AUTH_CHALLENGE_TIMEOUT_MS: v(
    '10000',
    'time to finish the handshake after Connect',
    int(100, 600_000),
  ),
  AUTH_MIN_ELABORATION: v('8', 'fewest characters in an Elaborate message', int(0, 10_000)),
  AUTH_SESSION_TTL_S: v('3600', 'lifetime of a session token', int(10, 30 * 24 * 3600)),
  AUTH_IDLE_TIMEOUT_MS: v(
    '60000',
    'an authenticated peer silent this long is dropped',
    int(1000, 86_400_000),
  ),
  AUTH_PING_INTERVAL_MS: v(
    '20000',
    'the server pings an idle peer this often',
    int(100, 86_400_000),
  ),
  AUTH_FRAME_TIMEOUT_MS: v(
    '10000',
    'a frame started but not finished this long drops the peer',
    int(100, 600_000),
  ),
  AUTH_REQUEST_TIMEOUT_MS: v('10000', 'deadline of a relayed NATS request', int(10, 600_000)),
  AUTH_MAX_IN_FLIGHT: v('64', 'requests one connection may have in flight', int(1, 100_000)),
  AUTH_RATE_IP_PER_S: v('20', 'handshakes per second per client IP (token bucket rate)', positive),
  AUTH_RATE_IP_BURST: v('100', 'handshake burst per client IP', int(1, 1_000_000)),
  AUTH_RATE_DID_PER_S: v('200', 'requests per second per DID', positive),
  AUTH_RATE_DID_BURST: v('400', 'request burst per DID', int(1, 1_000_000)),
  AUTH_ALLOW_POOL_CREATE: v(
    'false',
    'true: POST /v1/pools creates a pool signed by one of its members (else the operator does)',
    z.enum(['true', 'false']).transform((x) => x === 'true'),
  ),
  AUTH_DRAIN_TIMEOUT_MS: v(
    '10000',
    'on SIGTERM, how long requests in flight may finish',
    int(0, 600_000),
  ),
};

export interface AuthConfig {
  host: string;
  tcpPort: number;
  httpPort: number;
  keyFile: string;
  databaseUrl: string;
  schema: string;
  natsUrl: string;
  maxConnections: number;
  maxFrameBytes: number;
  challengeTimeoutMs: number;
  minElaboration: number;
  sessionTtlS: number;
  idleTimeoutMs: number;
  pingIntervalMs: number;
  frameTimeoutMs: number;
  requestTimeoutMs: number;
  maxInFlight: number;
  rateIp: { perSecond: number; burst: number };
  rateDid: { perSecond: number; burst: number };
  drainTimeoutMs: number;
  allowPoolCreate: boolean;
}

/** The configuration from `env` (default `process.env`); throws `config/invalid` listing every problem. */
export function loadAuthConfig(env: Record<string, string | undefined> = process.env): AuthConfig {
  const c = loadEnv('auth', AUTH_ENV, env);
  return {
    host: c.AUTH_HOST,
    tcpPort: c.AUTH_TCP_PORT,
    httpPort: c.AUTH_HTTP_PORT,
    keyFile: c.AUTH_KEY_FILE,
    databaseUrl: c.DATABASE_URL,
    schema: c.DIAGON_SCHEMA,
    natsUrl: c.NATS_URL,
    maxConnections: c.AUTH_MAX_CONNECTIONS,
    maxFrameBytes: c.AUTH_MAX_FRAME_BYTES,
    challengeTimeoutMs: c.AUTH_CHALLENGE_TIMEOUT_MS,
    minElaboration: c.AUTH_MIN_ELABORATION,
    sessionTtlS: c.AUTH_SESSION_TTL_S,
    idleTimeoutMs: c.AUTH_IDLE_TIMEOUT_MS,
    pingIntervalMs: c.AUTH_PING_INTERVAL_MS,
    frameTimeoutMs: c.AUTH_FRAME_TIMEOUT_MS,
    requestTimeoutMs: c.AUTH_REQUEST_TIMEOUT_MS,
    maxInFlight: c.AUTH_MAX_IN_FLIGHT,
    rateIp: { perSecond: c.AUTH_RATE_IP_PER_S, burst: c.AUTH_RATE_IP_BURST },
    rateDid: { perSecond: c.AUTH_RATE_DID_PER_S, burst: c.AUTH_RATE_DID_BURST },
    drainTimeoutMs: c.AUTH_DRAIN_TIMEOUT_MS,
    allowPoolCreate: c.AUTH_ALLOW_POOL_CREATE,
  };
}
