/**
 * Where an authenticated request goes on NATS, and in what form: the subject of DESIGN.md
 * for the pool, and a UTF-8 JSON body with the message's fields (bytes as base64). The
 * DID, pool and request id travel in headers, set by the connection from its session,
 * never from the client's body.
 */
import { ANY, jsonData, subjects } from '../../libs/bus/index.js';
import type { Message } from '../../libs/wire/index.js';

export interface RelayTarget {
  subject: string;
  data: Uint8Array;
}

export function relayTarget(pool: string, msg: Message): RelayTarget | null {
  switch (msg.type) {
    case 'propose':
      return { subject: subjects.propose(pool), data: jsonData({ txData: msg.txData }) };
    case 'vote':
      return {
        subject: subjects.vote(pool),
        data: jsonData({
          proposal: msg.proposal,
          vote: msg.vote,
          signature: Buffer.from(msg.signature).toString('base64'),
        }),
      };
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
