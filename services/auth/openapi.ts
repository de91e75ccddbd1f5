/** The OpenAPI 3.1 description of the auth service's HTTP API (served at /v1/openapi.json). */
const error = {
  description: 'Refused: `code` is machine-readable, `message` says what to do',
  content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
};

export const AUTH_OPENAPI = {
  openapi: '3.1.0',
  info: {
    title: 'Diagon auth',
    version: '1',
    description:
      'The edge of a Diagon cluster for web clients: the challenge-response handshake that the TCP protocol also performs (libs/wire/PROTOCOL.md), ending in a session token (compact JWS, EdDSA) that every Diagon service verifies offline. Bytes are base64url without padding.',
  },
  paths: {
    '/v1/auth/challenge': {
      post: {
        summary: 'Ask for a challenge to sign',
        requestBody: {
          required: true,
          content: {
            'application/json': {
              schema: {
                type: 'object',
                required: ['pool', 'did'],
                properties: {
                  pool: { type: 'string', pattern: '^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$' },
                  did: {
                    type: 'string',
                    description: 'did:key of an ed25519 key',
                    example: 'did:key:z6Mk…',
                  },
                },
              },
            },
          },
        },
        responses: {
          '200': {
            description: 'The challenge; sign `toSign` with the key of `did`',
            content: {
              'application/json': {
                schema: {
                  type: 'object',
                  required: ['nonce', 'serverDid', 'expiresAt', 'toSign'],
                  properties: {
                    nonce: { type: 'string', description: '32 random bytes' },
                    serverDid: { type: 'string' },
                    expiresAt: { type: 'string', format: 'date-time' },
                    toSign: {
                      type: 'string',
                      description:
                        'The exact bytes to sign: "diagon/v1/handshake/<pool>\\0" followed by canonical CBOR of {client, nonce, server}',
                    },
                  },
                },
              },
            },
          },
          '400': error,
          '403': error,
          '429': error,
        },
      },
    },
    '/v1/auth/session': {
      post: {
        summary: 'Answer a challenge and receive a session token',
        requestBody: {
          required: true,
          content: {
            'application/json': {
              schema: {
                type: 'object',
                required: ['nonce', 'did', 'signature', 'elaboration'],
                properties: {
                  nonce: { type: 'string' },
                  did: { type: 'string' },
                  signature: {
                    type: 'string',
                    description: 'ed25519 signature of toSign (64 bytes)',
                  },
                  elaboration: { type: 'string', description: 'what the client connects for' },
                },
              },
            },
          },
        },
        responses: {
          '200': {
            description: 'Authenticated',
            content: {
              'application/json': {
                schema: {
                  type: 'object',
                  required: ['session', 'expiresAt'],
                  properties: {
                    session: {
                      type: 'string',
                      description: 'compact JWS (typ diagon-session+jwt)',
                    },
                    expiresAt: { type: 'string', format: 'date-time' },
                  },
                },
              },
            },
          },
          '400': error,
          '401': error,
          '403': error,
        },
      },
    },
    '/v1/auth/key': {
      get: {
        summary: "The service's DID and public key, to verify session tokens offline",
        responses: {
          '200': {
            description: 'The key',
            content: {
              'application/json': {
                schema: {
                  type: 'object',
                  properties: { did: { type: 'string' }, publicKey: { type: 'string' } },
                },
              },
            },
          },
        },
      },
    },
    '/healthz': {
      get: { summary: 'The process is alive', responses: { '200': { description: 'ok' } } },
    },
    '/readyz': {
      get: {
        summary: 'Postgres answers and the service accepts connections',
        responses: {
          '200': { description: 'ready' },
          '503': { description: 'not ready, with checks' },
        },
      },
    },
    '/metrics': {
      get: {
        summary: 'Prometheus metrics',
        responses: { '200': { description: 'text exposition format' } },
      },
    },
  },
  components: {
    schemas: {
      Error: {
        type: 'object',
        required: ['code', 'message'],
        properties: {
          code: {
            type: 'string',
            enum: [
              'bad-request',
              'bad-did',
              'protocol-error',
              'did-mismatch',
              'not-member',
              'bad-signature',
              'replayed',
              'challenge-expired',
              'elaboration-too-short',
              'rate-limited',
              'not-found',
              'internal',
            ],
          },
          message: { type: 'string' },
        },
      },
    },
  },
} as const;
