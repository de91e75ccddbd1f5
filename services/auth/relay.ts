/**
 * Where an authenticated request goes on NATS, and in what form: the subject of DESIGN.md
 * for the pool, and a UTF-8 JSON body with the message's fields (bytes as base64). The
 * DID, pool and request id travel in headers, set by the connection from its session,
 * never from the client's body.
 */
import { ANY, jsonData, subjects } from '../../libs/bus/index.js';
import { DiagonError, printEdn } from '../../libs/db/index.js';
import {
  elaborationHash,
  encodeSignedProposal,
  encodeSignedVote,
  type ProposalKind,
} from '../../libs/governance/index.js';
import type { Message } from '../../libs/wire/index.js';

export interface RelayTarget {
  subject: string;
  data: Uint8Array;
}

export function relayTarget(pool: string, did: string, msg: Message): RelayTarget | null {
  switch (msg.type) {
    case 'propose': {
      if (msg.signature === undefined)
        throw new DiagonError(
          'governance/unsigned',
          'a proposal must be signed by its proposer (see PROTOCOL.md)',
        );
      const proposal = encodeSignedProposal({
        id: '',
        body: {
          pool,
          kind: (msg.kind ?? 'knowledge') as ProposalKind,
          txData: msg.txData,
          basisT: msg.basisT ?? 0,
          proposer: did,
          createdAt: msg.createdAt ?? 0,
        },
        signature: msg.signature,
      });
      return { subject: subjects.propose(pool), data: jsonData({ proposal: b64(proposal) }) };
    }
    case 'vote': {
      if (msg.vote !== 'yes' && msg.vote !== 'no')
        throw new DiagonError('governance/malformed', 'a vote is "yes" or "no"');
      const elaboration = msg.elaboration ?? '';
      const vote = encodeSignedVote({
        body: {
          pool,
          proposal: msg.proposal,
          support: msg.vote === 'yes',
          elaborationHash: elaborationHash(elaboration),
          voter: did,
          at: msg.at ?? 0,
        },
        signature: msg.signature,
      });
      return { subject: subjects.vote(pool), data: jsonData({ vote: b64(vote), elaboration }) };
    }
    case 'query':
      return {
        subject: subjects.query(pool),
        data: jsonData({ kind: 'query', query: msg.query, args: msg.args, asOf: msg.asOf }),
      };
    case 'pull':
      return {
        subject: subjects.query(pool),
        data: jsonData({ kind: 'pull', pattern: msg.pattern, eid: msg.eid, asOf: msg.asOf }),
      };
    default:
      return null;
  }
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
