/**
 * The OpenAPI 3.1 description of the auth service's HTTP API, served at `/v1/openapi.json`
 * and `/openapi.json`. Every route, its request body, its answers and their problems.
 */
import { STATUS_CODES } from 'node:http';
import { SCHEMAS } from './openapi-schemas.js';

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const json = (schema: unknown) => ({ 'application/json': { schema } });
const body = (name: string) => ({ required: true, content: json(ref(name)) });
const ok = (description: string, schema: unknown) => ({ description, content: json(schema) });
const list = (name: string) => ({ type: 'array', items: ref(name) });

/** Problem answers for `statuses`. */
function problems(...statuses: number[]) {
  return Object.fromEntries(
    statuses.map((s) => [
      String(s),
      {
        description: STATUS_CODES[s],
        content: { 'application/problem+json': { schema: ref('Problem') } },
      },
    ]),
  );
}

/** A bad body (400), too large (413), not JSON (415). */
const BODY = [400, 413, 415];
/** No or a bad session (401), another pool, not a member or an observer (403), too fast (429). */
const SESSION = [401, 403, 429];
/** No service answered (503) or not in time (504). */
const RELAY = [503, 504];

const pool = {
  name: 'pool',
  in: 'path',
  required: true,
  schema: ref('PoolName'),
  description: "the session's pool",
};
const proposalId = {
  name: 'id',
  in: 'path',
  required: true,
  schema: { type: 'string' },
  description: 'the proposal CID',
};
const secured = { security: [{ session: [] }] };

/** A route of a pool, behind a session. */
function poolOp<T extends object>(op: T, parameters: unknown[] = []) {
  return { ...secured, parameters: [pool, ...parameters], ...op };
}

/** A read relayed to the indexers: a JSON request, the answer as EDN text. */
function ednRead(summary: string, request: string, answer: string) {
  return {
    post: poolOp({
      summary,
      requestBody: body(request),
      responses: {
        '200': ok(answer, ref('Edn')),
        ...problems(...BODY, ...SESSION, 404, ...RELAY),
      },
    }),
  };
}

export const AUTH_OPENAPI = {
  openapi: '3.1.0',
  info: {
    title: 'Diagon auth',
    version: '1',
    description:
      'The edge of a Diagon cluster for web clients and the CLI: the challenge-response login (the same checks as the TCP protocol, libs/wire/PROTOCOL.md) ending in a session token (compact JWS, EdDSA), then every operation on a pool: proposals and signed votes (relayed to consensus), queries (relayed to the indexers), the tx log, trust, an export for offline verification, and a stream of events. Bytes are base64url. Errors are RFC 9457 problem details.',
  },
  servers: [{ url: 'http://127.0.0.1:7421' }],
  paths: {
    '/v1/auth/challenge': {
      post: {
        summary: 'Ask for a challenge to sign',
        requestBody: body('ChallengeRequest'),
        responses: {
          '200': ok('The challenge; sign `toSign` with the key of `did`', ref('Challenge')),
          ...problems(...BODY, 403, 429),
        },
      },
    },
    '/v1/auth/session': {
      post: {
        summary: 'Answer a challenge and receive a session token',
        requestBody: body('SessionRequest'),
        responses: {
          '200': ok('Authenticated', ref('Session')),
          ...problems(...BODY, 401, 403),
        },
      },
    },
    '/v1/auth/key': {
      get: {
        summary: "The service's DID and public key, to verify session tokens offline",
        responses: { '200': ok('The key', ref('ServiceKey')) },
      },
    },
    '/v1/pools': {
      get: {
        ...secured,
        summary: "The pools the session's DID is a member of",
        responses: { '200': ok('The pools', list('PoolSummary')), ...problems(...SESSION) },
      },
      post: {
        summary: 'Create a pool (when the edge allows it: AUTH_ALLOW_POOL_CREATE)',
        description:
          'No session: the body is signed by a voting member it names (message kind pool-create, in the new pool), and must be fresh.',
        requestBody: body('PoolCreateRequest'),
        responses: {
          '201': ok('Created', ref('PoolCreated')),
          ...problems(...BODY, 401, 403, 409, 429),
        },
      },
    },
    '/v1/pools/{pool}': {
      get: poolOp({
        summary: 'The pool: basis, head, index, members and policy',
        responses: { '200': ok('The pool', ref('PoolInfo')), ...problems(...SESSION, 404) },
      }),
    },
    '/v1/pools/{pool}/proposals/prepare': {
      post: poolOp({
        summary: 'A proposal body to sign, for clients without a CBOR encoder',
        requestBody: body('PrepareProposalRequest'),
        responses: {
          '200': ok('Sign `toSign`, then POST {body, signature}', ref('PreparedProposal')),
          ...problems(...BODY, ...SESSION),
        },
      }),
    },
    '/v1/pools/{pool}/proposals': {
      post: poolOp({
        summary: 'Propose a transaction (members only)',
        description:
          'body.proposer must be the session DID; relayed to consensus, which verifies the signature and opens the proposal.',
        requestBody: body('ProposeRequest'),
        responses: {
          '201': ok('Opened (or already decided)', ref('ProposeReply')),
          ...problems(...BODY, ...SESSION, 404, 409, ...RELAY),
        },
      }),
      get: poolOp(
        {
          summary: 'Proposals, by status',
          responses: {
            '200': ok('The proposals, oldest first', list('ProposalSummary')),
            ...problems(400, ...SESSION, ...RELAY),
          },
        },
        [
          {
            name: 'status',
            in: 'query',
            schema: {
              type: 'string',
              enum: ['open', 'approved', 'committed', 'failed', 'rejected', 'expired', 'all'],
              default: 'all',
            },
          },
        ],
      ),
    },
    '/v1/pools/{pool}/proposals/{id}': {
      get: poolOp(
        {
          summary: 'One proposal: its counts, outcome, tx-data and votes',
          responses: {
            '200': ok('The proposal', ref('ProposalDetail')),
            ...problems(...SESSION, 404, ...RELAY),
          },
        },
        [proposalId],
      ),
    },
    '/v1/pools/{pool}/proposals/{id}/votes/prepare': {
      post: poolOp(
        {
          summary: 'A vote body to sign, for clients without a CBOR encoder',
          requestBody: body('PrepareVoteRequest'),
          responses: {
            '200': ok(
              'Sign `toSign`, then POST {body, signature, elaboration}',
              ref('PreparedVote'),
            ),
            ...problems(...BODY, ...SESSION),
          },
        },
        [proposalId],
      ),
    },
    '/v1/pools/{pool}/proposals/{id}/votes': {
      post: poolOp(
        {
          summary: 'Vote on a proposal (members only; one vote each, the first stands)',
          requestBody: body('VoteRequest'),
          responses: {
            '200': ok('Counted', ref('VoteReply')),
            ...problems(...BODY, ...SESSION, 404, 409, ...RELAY),
          },
        },
        [proposalId],
      ),
    },
    '/v1/pools/{pool}/q': ednRead('A Datalog query', 'QueryRequest', 'The result'),
    '/v1/pools/{pool}/pull': ednRead('Pull an entity', 'PullRequest', 'The entity map'),
    '/v1/pools/{pool}/datoms': ednRead(
      'Datoms of an index',
      'DatomsRequest',
      '[[e a v tx added] …]',
    ),
    '/v1/pools/{pool}/log': {
      get: poolOp(
        {
          summary: 'Committed transactions with from < t <= to',
          responses: {
            '200': ok('The entries', list('LogEntry')),
            ...problems(400, ...SESSION, 404, ...RELAY),
          },
        },
        [
          { name: 'from', in: 'query', schema: { type: 'integer', minimum: 0 } },
          { name: 'to', in: 'query', schema: { type: 'integer', minimum: 0 } },
        ],
      ),
    },
    '/v1/pools/{pool}/trust': {
      get: poolOp({
        summary: "Members' trust scores",
        responses: {
          '200': ok('The scores', list('TrustScore')),
          ...problems(...SESSION, ...RELAY),
        },
      }),
    },
    '/v1/pools/{pool}/export': {
      get: poolOp({
        summary: 'The whole pool as one document, for offline verification (diagon verify)',
        responses: {
          '200': ok('The export', ref('PoolExport')),
          ...problems(...SESSION, 404, ...RELAY),
        },
      }),
    },
    '/v1/pools/{pool}/watch': {
      get: poolOp(
        {
          summary: 'Server-Sent Events: committed transactions and proposal events',
          description:
            '`event: tx` with `id: <t>` and data a CommittedEvent; `event: proposal` with data {pool, event, id, …}; a comment every 15 s. Reconnecting with Last-Event-ID (or ?from=t) first replays every transaction after t.',
          responses: {
            '200': {
              description: 'The event stream',
              content: { 'text/event-stream': { schema: { type: 'string' } } },
            },
            ...problems(400, ...SESSION),
          },
        },
        [
          { name: 'Last-Event-ID', in: 'header', schema: { type: 'string' } },
          { name: 'from', in: 'query', schema: { type: 'integer', minimum: 0 } },
        ],
      ),
    },
    '/v1/openapi.json': {
      get: {
        summary: 'This document',
        responses: { '200': ok('OpenAPI 3.1', { type: 'object' }) },
      },
    },
    '/openapi.json': {
      get: {
        summary: 'This document',
        responses: { '200': ok('OpenAPI 3.1', { type: 'object' }) },
      },
    },
    '/healthz': {
      get: {
        summary: 'The process is alive',
        responses: { '200': ok('ok', { type: 'object', properties: { ok: { const: true } } }) },
      },
    },
    '/readyz': {
      get: {
        summary: 'Postgres answers and the service accepts connections',
        responses: {
          '200': ok('ready', ref('Readiness')),
          '503': ok('not ready, with checks', ref('Readiness')),
        },
      },
    },
    '/metrics': {
      get: {
        summary: 'Prometheus metrics',
        responses: {
          '200': {
            description: 'text exposition format',
            content: { 'text/plain': { schema: { type: 'string' } } },
          },
        },
      },
    },
  },
  components: {
    securitySchemes: {
      session: {
        type: 'http',
        scheme: 'bearer',
        bearerFormat: 'JWS',
        description: 'the session token of POST /v1/auth/session',
      },
    },
    schemas: SCHEMAS,
  },
};
