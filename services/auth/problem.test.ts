import { describe, expect, it } from 'vitest';
import { problem, statusOf } from './problem.js';

describe('statusOf', () => {
  it('maps the codes of NATS replies and libraries to HTTP statuses', () => {
    const cases: [string, number][] = [
      ['governance/malformed', 400],
      ['governance/bad-signature', 400],
      ['edn/parse', 400],
      ['query/bad-request', 400],
      ['malformed', 400],
      ['identity/bad-session', 401],
      ['identity/session-expired', 401],
      ['consensus/not-a-member', 403],
      ['consensus/wrong-sender', 403],
      ['observer', 403],
      ['consensus/no-proposal', 404],
      ['consensus/no-pool', 404],
      ['consensus/duplicate-vote', 409],
      ['consensus/closed', 409],
      ['consensus/expired', 409],
      ['tx/conflict', 409],
      ['rate-limited', 429],
      ['internal', 500],
      ['something/unheard-of', 500],
      ['no-responders', 503],
      ['closed', 503],
      ['transactor/unavailable', 503],
      ['timeout', 504],
      ['peer/timeout', 504],
    ];
    expect(cases.map(([code]) => [code, statusOf(code)])).toEqual(cases);
  });

  it('builds RFC 9457 problem details', () => {
    expect(problem(409, 'consensus/duplicate-vote', 'the first vote stands')).toEqual({
      type: 'https://diagon.dev/problems/consensus/duplicate-vote',
      title: 'Conflict',
      status: 409,
      detail: 'the first vote stands',
      code: 'consensus/duplicate-vote',
    });
  });
});
