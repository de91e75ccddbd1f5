/**
 * The JSON Schemas (2020-12, as OpenAPI 3.1 uses them) of the HTTP API's bodies: the
 * `components.schemas` of openapi.ts. They describe libs/client/http-api.ts.
 */
const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const str = (description?: string) => ({
  type: 'string',
  ...(description === undefined ? {} : { description }),
});
const whole = (description?: string) => ({
  type: 'integer',
  minimum: 0,
  ...(description === undefined ? {} : { description }),
});
const time = { type: 'string', format: 'date-time' };
const obj = (properties: Record<string, unknown>, required = Object.keys(properties)) => ({
  type: 'object',
  required,
  properties,
});
const strict = (properties: Record<string, unknown>, required = Object.keys(properties)) => ({
  ...obj(properties, required),
  additionalProperties: false,
});
const list = (items: unknown) => ({ type: 'array', items });

export const SCHEMAS = {
  Problem: obj({
    type: { type: 'string', format: 'uri', description: 'https://diagon.dev/problems/<code>' },
    title: str('the HTTP status text'),
    status: { type: 'integer', minimum: 400, maximum: 599 },
    detail: str('what happened and what to do'),
    code: str('stable and machine-readable, e.g. consensus/duplicate-vote'),
  }),
  Did: {
    type: 'string',
    pattern: '^did:key:z[1-9A-HJ-NP-Za-km-z]+$',
    description: 'ed25519 did:key',
  },
  PoolName: { type: 'string', pattern: '^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$' },
  Base64url: { type: 'string', pattern: '^[A-Za-z0-9_-]*={0,2}$', description: 'bytes, base64url' },
  Signature: { ...ref('Base64url'), description: 'an ed25519 signature (64 bytes), base64url' },
  Role: { type: 'string', enum: ['member', 'observer'] },
  Member: strict({ did: ref('Did'), role: ref('Role') }),
  ProposalKind: { type: 'string', enum: ['knowledge', 'proposal', 'prune', 'membership'] },
  ProposalStatus: {
    type: 'string',
    enum: ['open', 'approved', 'committed', 'failed', 'rejected', 'expired'],
  },

  ChallengeRequest: obj({ pool: ref('PoolName'), did: ref('Did') }),
  Challenge: obj({
    nonce: { ...ref('Base64url'), description: '32 random bytes' },
    serverDid: ref('Did'),
    expiresAt: time,
    toSign: {
      ...ref('Base64url'),
      description:
        'The exact bytes to sign: "diagon/v1/handshake/<pool>\\0" followed by canonical CBOR of {client, nonce, server}',
    },
  }),
  SessionRequest: obj({
    nonce: ref('Base64url'),
    did: ref('Did'),
    signature: ref('Signature'),
    elaboration: str('what the client connects for'),
  }),
  Session: obj({
    session: str('compact JWS (EdDSA, typ diagon-session+jwt): send as Authorization: Bearer'),
    expiresAt: time,
  }),
  ServiceKey: obj({ did: ref('Did'), publicKey: ref('Base64url') }),
  Readiness: obj({ ok: { type: 'boolean' }, checks: { type: 'object' } }),

  PolicyInput: strict(
    {
      threshold: strict({
        num: { type: 'integer', minimum: 1 },
        den: { type: 'integer', minimum: 1 },
      }),
      proposerVotes: { type: 'boolean' },
      ttlMs: { type: 'integer', minimum: 1000 },
    },
    [],
  ),
  PoolCreateBody: strict(
    {
      pool: ref('PoolName'),
      members: { ...list(ref('Member')), minItems: 1 },
      policy: ref('PolicyInput'),
      createdAt: whole('ms since the epoch; within 10 minutes of the server clock'),
    },
    ['pool', 'members', 'createdAt'],
  ),
  PoolCreateRequest: strict({
    body: ref('PoolCreateBody'),
    signature: {
      ...ref('Signature'),
      description:
        'by a voting member named in body, over "diagon/v1/pool-create/<pool>\\0" + canonical CBOR of body',
    },
  }),
  PoolCreated: obj({ pool: ref('PoolName'), members: list(ref('Member')), createdAt: time }),
  PoolSummary: obj({
    pool: ref('PoolName'),
    basisT: whole(),
    members: whole('how many members'),
    role: ref('Role'),
  }),
  PoolInfo: obj({
    pool: ref('PoolName'),
    createdAt: time,
    basisT: whole(),
    headHash: { type: ['string', 'null'], description: 'hex sha-256 of the last log entry' },
    indexT: whole(),
    members: list(ref('Member')),
    policy: { type: 'object' },
  }),

  ProposalBody: strict({
    pool: ref('PoolName'),
    kind: ref('ProposalKind'),
    txData: str('EDN tx-data; JSON {add, remove, policy} for kind membership'),
    basisT: whole('the basis t the proposer saw'),
    proposer: ref('Did'),
    createdAt: whole('ms since the epoch'),
  }),
  PrepareProposalRequest: strict(
    { kind: ref('ProposalKind'), txData: str(), basisT: whole('default: the current basis') },
    ['txData'],
  ),
  PreparedProposal: obj({
    body: ref('ProposalBody'),
    id: str('the proposal CID'),
    toSign: {
      ...ref('Base64url'),
      description:
        'the exact bytes to sign: "diagon/v1/proposal/<pool>\\0" + canonical CBOR of body',
    },
  }),
  ProposeRequest: strict({ body: ref('ProposalBody'), signature: ref('Signature') }),
  ProposeReply: obj({
    id: str('the proposal CID'),
    status: ref('ProposalStatus'),
    voters: list(ref('Did')),
    expiresAt: time,
  }),
  ProposalSummary: obj({
    id: str(),
    kind: ref('ProposalKind'),
    proposer: ref('Did'),
    status: ref('ProposalStatus'),
    yes: whole(),
    no: whole(),
    voters: list(ref('Did')),
    openedAt: time,
    expiresAt: time,
    outcome: {
      type: ['object', 'null'],
      description: 'the commit {t, hash, …} or {code, message}',
    },
  }),
  ProposalDetail: {
    allOf: [
      ref('ProposalSummary'),
      obj({
        t: { type: ['integer', 'null'] },
        error: { type: ['string', 'null'] },
        txData: str(),
        basisT: whole(),
        createdAt: whole(),
        votes: list(
          obj({
            voter: ref('Did'),
            support: { type: 'boolean' },
            elaboration: str(),
            castAt: time,
          }),
        ),
      }),
    ],
  },
  VoteBody: strict({
    pool: ref('PoolName'),
    proposal: str('the proposal CID'),
    support: { type: 'boolean' },
    elaborationHash: { type: 'string', pattern: '^[0-9a-f]{64}$', description: 'sha-256 hex' },
    voter: ref('Did'),
    at: whole('ms since the epoch'),
  }),
  PrepareVoteRequest: strict({ support: { type: 'boolean' }, elaboration: str() }),
  PreparedVote: obj({
    body: ref('VoteBody'),
    toSign: {
      ...ref('Base64url'),
      description: 'the exact bytes to sign: "diagon/v1/vote/<pool>\\0" + canonical CBOR of body',
    },
  }),
  VoteRequest: strict({
    body: ref('VoteBody'),
    signature: ref('Signature'),
    elaboration: str('the text whose sha-256 is body.elaborationHash'),
  }),
  VoteReply: obj({ id: str(), status: ref('ProposalStatus'), yes: whole(), no: whole() }),
  TrustScore: obj({ did: ref('Did'), trust: { type: 'number', minimum: 0, maximum: 1 } }),

  QueryRequest: strict(
    {
      query: str('a Datalog query, EDN'),
      args: str('EDN vector of the inputs after $'),
      asOf: whole(),
      since: whole(),
      history: { type: 'boolean' },
      basisT: whole('wait until this t is visible'),
    },
    ['query'],
  ),
  PullRequest: strict(
    { pattern: str('EDN'), eid: str('an id or lookup ref, EDN'), asOf: whole(), basisT: whole() },
    ['pattern', 'eid'],
  ),
  DatomsRequest: strict(
    {
      index: { type: 'string', enum: ['eavt', 'aevt', 'avet', 'vaet'] },
      components: str('EDN vector of leading components'),
      asOf: whole(),
      limit: { type: 'integer', minimum: 1 },
      basisT: whole(),
    },
    ['index'],
  ),
  Edn: obj({ edn: str('the result as EDN text') }),
  LogEntry: obj({
    t: whole(),
    tx: whole(),
    instant: time,
    hash: str('hex sha-256'),
    proposal: str(),
  }),
  CommittedEvent: obj({
    pool: ref('PoolName'),
    t: whole(),
    tx: whole(),
    maxEid: whole(),
    instant: time,
    hash: str(),
    prevHash: { type: ['string', 'null'] },
    proposal: str(),
    datoms: str('base64 of the encoded datoms'),
  }),
  PoolExport: obj({
    format: { const: 'diagon-export/v1' },
    pool: ref('PoolName'),
    logKey: ref('Did'),
    policy: { type: 'object' },
    members: list(obj({ did: ref('Did'), role: str() })),
    membership: list(
      obj({
        did: ref('Did'),
        change: { enum: ['added', 'removed'] },
        role: { type: ['string', 'null'] },
        at: time,
      }),
    ),
    txLog: list({
      allOf: [
        ref('CommittedEvent'),
        obj({ certificate: str('base64 of the encoded commit certificate') }),
      ],
    }),
    proposals: list(
      obj({
        id: str(),
        kind: str(),
        status: str(),
        signed: str('base64'),
        voters: list(ref('Did')),
      }),
    ),
    votes: list(
      obj({
        proposal: str(),
        voter: ref('Did'),
        support: { type: 'boolean' },
        signed: str('base64'),
        elaboration: str(),
      }),
    ),
    leaves: list(obj({ idx: whole(), kind: str(), ref: str(), leaf: str('base64') })),
    checkpoints: list(str('a signed C2SP checkpoint')),
  }),
};
