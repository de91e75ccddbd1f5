/**
 * Where an authenticated request goes on NATS, and in what form: the subject of DESIGN.md
 * for the pool, and a UTF-8 JSON body with the message's fields (bytes as base64). The
 * DID, pool and request id travel in headers, set from the session (TCP connection or HTTP
 * bearer token), never from the client's body. Both transports relay through `relay`.
 */

import { ANY, type Bus, HEADER, jsonData, subjects } from '../../libs/bus/index.js';
import { DiagonError, isDiagonError, printEdn } from '../../libs/db/index.js';
import {
  elaborationHash,
  encodeSignedProposal,
  encodeSignedVote,
  type ProposalBody,
  type ProposalKind,
  type VoteBody,
} from '../../libs/governance/index.js';
import { contextOf, inSpan, messageHeaders, SpanKind } from '../../libs/telemetry/index.js';
import type { Message } from '../../libs/wire/index.js';
import type { AuthMetrics } from './metrics.js';

export interface RelayTarget {
  subject: string;
  data: Uint8Array;
}

/** A signed proposal, as consensus's propose subject takes it. */
export function proposalTarget(
  pool: string,
  p: { body: ProposalBody; signature: Uint8Array },
): RelayTarget {
  const proposal = encodeSignedProposal({ id: '', body: p.body, signature: p.signature });
  return { subject: subjects.propose(pool), data: jsonData({ proposal: b64(proposal) }) };
}

/** A signed vote and the text it explains itself with, as consensus's vote subject takes it. */
export function voteTarget(
  pool: string,
  v: { body: VoteBody; signature: Uint8Array },
  elaboration: string,
): RelayTarget {
  const vote = encodeSignedVote(v);
  return { subject: subjects.vote(pool), data: jsonData({ vote: b64(vote), elaboration }) };
}

/** A request of the indexer's query subject (services/indexer/query.ts). */
export type IndexerRequest =
  | {
      kind: 'query';
      query: string;
      args?: string;
      asOf?: number;
      since?: number;
      history?: boolean;
      basisT?: number;
    }
  | { kind: 'pull'; pattern: string; eid: string; asOf?: number; basisT?: number }
  | {
      kind: 'datoms';
      index: string;
      components?: string;
      asOf?: number;
      limit?: number;
      basisT?: number;
    }
  | { kind: 'log'; from?: number; to?: number };

export function indexerTarget(pool: string, r: IndexerRequest): RelayTarget {
  return { subject: subjects.query(pool), data: jsonData(r) };
}

export function relayTarget(pool: string, did: string, msg: Message): RelayTarget | null {
  switch (msg.type) {
    case 'propose': {
      if (msg.signature === undefined)
        throw new DiagonError(
          'governance/unsigned',
          'a proposal must be signed by its proposer (see PROTOCOL.md)',
        );
      const body: ProposalBody = {
        pool,
        kind: (msg.kind ?? 'knowledge') as ProposalKind,
        txData: msg.txData,
        basisT: msg.basisT ?? 0,
        proposer: did,
        createdAt: msg.createdAt ?? 0,
      };
      return proposalTarget(pool, { body, signature: msg.signature });
    }
    case 'vote': {
      if (msg.vote !== 'yes' && msg.vote !== 'no')
        throw new DiagonError('governance/malformed', 'a vote is "yes" or "no"');
      const elaboration = msg.elaboration ?? '';
      const body: VoteBody = {
        pool,
        proposal: msg.proposal,
        support: msg.vote === 'yes',
        elaborationHash: elaborationHash(elaboration),
        voter: did,
        at: msg.at ?? 0,
      };
      return voteTarget(pool, { body, signature: msg.signature }, elaboration);
    }
    case 'query':
      return indexerTarget(pool, {
        kind: 'query',
        query: msg.query,
        args: msg.args,
        asOf: msg.asOf,
      });
    case 'pull':
      return indexerTarget(pool, {
        kind: 'pull',
        pattern: msg.pattern,
        eid: msg.eid,
        asOf: msg.asOf,
      });
    default:
      return null;
  }
}

/** Who asked: set from the session, never from the request's body. */
export interface RelayOrigin {
  did: string;
  pool: string;
  requestId: string;
  traceparent?: string | undefined;
  tracestate?: string | undefined;
}

export interface RelayDeps {
  bus: Bus;
  metrics: AuthMetrics;
  config: { requestTimeoutMs: number };
}

/**
 * Sends one request on NATS with the origin's headers and the request deadline; counts and
 * times it. Rejects with a DiagonError whose code clients see (`bus/` dropped: `timeout`,
 * `no-responders`), and never with a responder's internal detail.
 */
export async function relay(
  d: RelayDeps,
  type: string,
  target: RelayTarget,
  origin: RelayOrigin,
): Promise<Uint8Array> {
  // The edge's span is a child of the client's trace context (from the frame or the HTTP
  // header); the NATS request below carries the edge's span on.
  const carried: Record<string, string> = {};
  if (origin.traceparent) carried.traceparent = origin.traceparent;
  if (origin.tracestate) carried.tracestate = origin.tracestate;
  return inSpan(
    `relay ${type}`,
    SpanKind.SERVER,
    { 'diagon.pool': origin.pool, 'diagon.did': origin.did, 'diagon.request_id': origin.requestId },
    () => relayInSpan(d, type, target, origin, carried),
    contextOf(carried),
  );
}

async function relayInSpan(
  d: RelayDeps,
  type: string,
  target: RelayTarget,
  origin: RelayOrigin,
  carried: Record<string, string>,
): Promise<Uint8Array> {
  // With telemetry off there is no active span to send on: pass the client's own context.
  const traced = Object.keys(messageHeaders()).length > 0;
  const headers: Record<string, string> = {
    ...(traced ? {} : carried),
    [HEADER.did]: origin.did,
    [HEADER.pool]: origin.pool,
    [HEADER.requestId]: origin.requestId,
  };
  const started = performance.now();
  try {
    const reply = await d.bus.request(target.subject, target.data, {
      headers,
      timeoutMs: d.config.requestTimeoutMs,
    });
    d.metrics.requests.inc({ type, outcome: 'ok' });
    return reply.data;
  } catch (e) {
    const code = isDiagonError(e) ? e.code.replace(/^bus\//, '') : 'internal';
    d.metrics.requests.inc({ type, outcome: code });
    // A responder's internal failure stays in its own log, not on the client's screen.
    if (!isDiagonError(e) || code === 'internal')
      throw new DiagonError(
        'internal',
        `internal error in the service behind ${type}; its log has the details`,
      );
    throw new DiagonError(code, e.message, e.data);
  } finally {
    d.metrics.requestSeconds.observe({ type }, (performance.now() - started) / 1000);
  }
}

/** `relay`, for the subjects whose replies are JSON (consensus's). */
export async function relayJson(
  d: RelayDeps,
  type: string,
  target: RelayTarget,
  origin: RelayOrigin,
): Promise<unknown> {
  return JSON.parse(new TextDecoder().decode(await relay(d, type, target, origin)));
}

/** Replies of the governance subjects are JSON; the wire's Reply carries EDN. */
export function replyText(type: Message['type'], data: Uint8Array): string {
  const text = new TextDecoder().decode(data);
  if (type !== 'propose' && type !== 'vote') return text;
  try {
    return printEdn(JSON.parse(text) as never);
  } catch {
    return text;
  }
}

const b64 = (b: Uint8Array) => Buffer.from(b).toString('base64');

/** The topics a client may subscribe to, and their subjects. */
export const TOPICS = ['tx', 'proposals', 'index'] as const;

export function subscriptionSubject(pool: string, topic: string): string | null {
  switch (topic) {
    case 'tx':
      return subjects.txCommitted(pool);
    case 'proposals':
      return subjects.proposal(pool, ANY);
    case 'index':
      return subjects.indexUpdated(pool);
    default:
      return null;
  }
}
