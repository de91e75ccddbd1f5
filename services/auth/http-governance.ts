/**
 * Proposals, votes and trust over HTTP, relayed to the consensus service exactly as the
 * wire's Propose and Vote are (relay.ts):
 *
 *     POST /v1/pools/{pool}/proposals/prepare          {kind?, txData, basisT?} → {body, id, toSign}
 *     POST /v1/pools/{pool}/proposals                  {body, signature} → {id, status, voters, expiresAt}
 *     GET  /v1/pools/{pool}/proposals?status=…         → [{id, kind, status, yes, no, …}]
 *     GET  /v1/pools/{pool}/proposals/{id}             → the proposal, its tx-data and its votes
 *     POST /v1/pools/{pool}/proposals/{id}/votes/prepare {support, elaboration} → {body, toSign}
 *     POST /v1/pools/{pool}/proposals/{id}/votes       {body, signature, elaboration} → {id, status, yes, no}
 *     GET  /v1/pools/{pool}/trust                      → [{did, trust}]
 *
 * A signed body must name the session's DID as its signer (403 `wrong-sender`) and the
 * route's pool; its signature is checked by consensus, which refuses a forgery
 * (`governance/bad-signature`) or a second vote (`consensus/duplicate-vote`).
 */
import { base64urlnopad } from '@scure/base';
import { Router } from 'express';
import { z } from 'zod';
import { jsonData, subjects } from '../../libs/bus/index.js';
import {
  PROPOSAL_STATUSES,
  type PreparedProposal,
  type PreparedVote,
  type ProposalDetail,
  type ProposalSummary,
} from '../../libs/client/http-api.js';
import {
  decodeSignedProposal,
  elaborationHash,
  PROPOSAL_KINDS,
  PROPOSAL_SIGNING_KIND,
  type ProposalBody,
  proposalId,
  VOTE_SIGNING_KIND,
  type VoteBody,
} from '../../libs/governance/index.js';
import { proposalBodySchema } from '../../libs/governance/proposal.js';
import { voteBodySchema } from '../../libs/governance/vote.js';
import { type CanonicalValue, signingBytes } from '../../libs/identity/index.js';
import { getProposal, getRoot, listVotes } from '../../libs/storage/index.js';
import type { HttpDeps } from './http.js';
import { check, readBody, readQuery, signature, whole } from './http-input.js';
import { type PoolSession, poolSession, voterSession } from './http-session.js';
import { HttpProblem } from './problem.js';
import { proposalTarget, relayJson, voteTarget } from './relay.js';

const MAX_ELABORATION = 65_536;

const PrepareProposal = z.strictObject({
  kind: z.enum(PROPOSAL_KINDS).optional(),
  txData: z.string(),
  basisT: whole.optional(),
});
const Propose = z.strictObject({ body: proposalBodySchema, signature });
const PrepareVote = z.strictObject({
  support: z.boolean(),
  elaboration: z.string().max(MAX_ELABORATION),
});
const Vote = z.strictObject({
  body: voteBodySchema,
  signature,
  elaboration: z.string().max(MAX_ELABORATION),
});
const ListQuery = z.object({ status: z.enum([...PROPOSAL_STATUSES, 'all']).optional() });

const toSign = (kind: string, pool: string, body: ProposalBody | VoteBody) =>
  base64urlnopad.encode(signingBytes(kind, pool, body as unknown as CanonicalValue));

/** A signed body names the session's DID as its signer and the session's pool. */
function checkSigner(s: PoolSession, pool: string, signer: string, role: string): void {
  if (signer !== s.did)
    throw new HttpProblem(
      403,
      'wrong-sender',
      `the ${role} named in the body is ${signer}, but this session is ${s.did}`,
    );
  if (pool !== s.pool)
    throw new HttpProblem(400, 'wrong-pool', `the body is for pool ${pool}, sent to ${s.pool}`);
}

export function governanceRoutes(d: HttpDeps): Router {
  const r = Router();
  const base = '/v1/pools/:pool/proposals';

  r.post(`${base}/prepare`, async (req, res) => {
    const s = await voterSession(d, req);
    const b = readBody(PrepareProposal, req);
    const body: ProposalBody = {
      pool: s.pool,
      kind: b.kind ?? 'knowledge',
      txData: b.txData,
      basisT: b.basisT ?? (await getRoot(d.sql, s.pool))?.basisT ?? 0,
      proposer: s.did,
      createdAt: Date.now(),
    };
    const out: PreparedProposal = {
      body,
      id: proposalId(body),
      toSign: toSign(PROPOSAL_SIGNING_KIND, s.pool, body),
    };
    res.json(out);
  });

  r.post(base, async (req, res) => {
    const s = await voterSession(d, req);
    const b = readBody(Propose, req);
    checkSigner(s, b.body.pool, b.body.proposer, 'proposer');
    const reply = (await relayJson(d, 'propose', proposalTarget(s.pool, b), s.origin)) as {
      id: string;
    };
    res.status(201).location(`/v1/pools/${s.pool}/proposals/${reply.id}`).json(reply);
  });

  r.get(base, async (req, res) => {
    const s = await poolSession(d, req);
    const { status } = readQuery(ListQuery, req);
    res.json(await proposals(d, s, status === 'all' ? undefined : status));
  });

  r.get(`${base}/:id`, async (req, res) => {
    const s = await poolSession(d, req);
    const id = String(req.params.id);
    const summary = (await proposals(d, s)).find((p) => p.id === id);
    const stored = summary && (await getProposal(d.sql, s.pool, id));
    if (summary === undefined || stored === undefined)
      throw new HttpProblem(404, 'no-proposal', `no proposal ${id} in ${s.pool}`);
    const { body } = decodeSignedProposal(stored.signed);
    const { t, message } = summary.outcome ?? {};
    const out: ProposalDetail = {
      ...summary,
      t: typeof t === 'number' ? t : null,
      error: summary.status === 'failed' && typeof message === 'string' ? message : null,
      txData: body.txData,
      basisT: body.basisT,
      createdAt: body.createdAt,
      votes: (await listVotes(d.sql, s.pool, id)).map((v) => ({
        voter: v.voter,
        support: v.support,
        elaboration: v.elaboration,
        castAt: v.castAt.toISOString(),
      })),
    };
    res.json(out);
  });

  r.post(`${base}/:id/votes/prepare`, async (req, res) => {
    const s = await voterSession(d, req);
    const b = readBody(PrepareVote, req);
    const body = check(
      voteBodySchema,
      {
        pool: s.pool,
        proposal: String(req.params.id),
        support: b.support,
        elaborationHash: elaborationHash(b.elaboration),
        voter: s.did,
        at: Date.now(),
      },
      'vote',
    );
    const out: PreparedVote = { body, toSign: toSign(VOTE_SIGNING_KIND, s.pool, body) };
    res.json(out);
  });

  r.post(`${base}/:id/votes`, async (req, res) => {
    const s = await voterSession(d, req);
    const b = readBody(Vote, req);
    checkSigner(s, b.body.pool, b.body.voter, 'voter');
    if (b.body.proposal !== req.params.id)
      throw new HttpProblem(
        400,
        'wrong-proposal',
        `the vote is on ${b.body.proposal}, posted to proposal ${String(req.params.id)}`,
      );
    res.json(await relayJson(d, 'vote', voteTarget(s.pool, b, b.elaboration), s.origin));
  });

  r.get('/v1/pools/:pool/trust', async (req, res) => {
    const s = await poolSession(d, req);
    const target = { subject: subjects.trust(s.pool), data: jsonData({}) };
    res.json(await relayJson(d, 'trust', target, s.origin));
  });

  return r;
}

function proposals(d: HttpDeps, s: PoolSession, status?: string): Promise<ProposalSummary[]> {
  const target = { subject: subjects.proposals(s.pool), data: jsonData({ status }) };
  return relayJson(d, 'proposals', target, s.origin) as Promise<ProposalSummary[]>;
}
