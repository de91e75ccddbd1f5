import fc from 'fast-check';
import { base58btc } from 'multiformats/bases/base58';
import { describe, expect, it } from 'vitest';
import { thrown } from '../../test/support/errors.js';
import type { DiagonError } from '../db/errors.js';
import {
  contentId,
  DAG_CBOR_CODEC,
  encodeCanonical,
  KeyPair,
  parseContentId,
  rawContentId,
} from '../identity/index.js';
import {
  CERTIFICATE_FORMAT,
  type CommitCertificate,
  certificateId,
  DEFAULT_POLICY,
  decodeCertificate,
  elaborationHash,
  encodeCertificate,
  makeCertificate,
  type Policy,
  type ProposalBody,
  parsePolicy,
  proposalId,
  quorumOutOfReach,
  quorumReached,
  type SignedProposal,
  type SignedVote,
  signProposal,
  signVote,
  type Threshold,
  type VoteBody,
  verifyCertificate,
  verifyProposal,
  verifyVote,
  yesNeeded,
} from './index.js';
import { verifyEncodedVote } from './vote.js';

const seed = (n: number) => {
  const s = new Uint8Array(32);
  s[31] = n;
  return s;
};
/** Sixteen members, made once: key generation stays out of the property loops. */
const KEYS = Array.from({ length: 16 }, (_, i) => KeyPair.fromSecretKey(seed(i + 1)));
const key = (i: number) => KEYS[i]!;
const POOL = 'pool-a';
const T0 = 1_700_000_000_000;
const NO_SELF_VOTES: Policy = { ...DEFAULT_POLICY, proposerVotes: false };

function propose(k: KeyPair, over: Partial<ProposalBody> = {}): SignedProposal {
  return signProposal(k, {
    pool: POOL,
    kind: 'knowledge',
    txData: '[[:db/add -1 :person/name "Ivan"]]',
    basisT: 7,
    proposer: k.did,
    createdAt: T0,
    ...over,
  });
}

function vote(k: KeyPair, p: SignedProposal, support: boolean, over: Partial<VoteBody> = {}) {
  return signVote(k, {
    pool: p.body.pool,
    proposal: p.id,
    support,
    elaborationHash: elaborationHash(support ? 'it is right' : 'it is wrong'),
    voter: k.did,
    at: T0 + 1000,
    ...over,
  });
}

const dids = (from: number, to: number) => KEYS.slice(from, to).map((k) => k.did);

/** key(0) proposes to voters key(0..n); `yes` and `no` list who votes what explicitly. */
function scenario(n: number, yes: number[], no: number[] = []): CommitCertificate {
  const p = propose(key(0));
  return makeCertificate(p, dids(0, n), [
    ...yes.map((i) => vote(key(i), p, true)),
    ...no.map((i) => vote(key(i), p, false)),
  ]);
}

const flipBit = (b: Uint8Array, i: number, bit: number) => {
  const out = Uint8Array.from(b);
  out[i]! ^= 1 << bit;
  return out;
};

const withVote = (c: CommitCertificate, i: number, v: SignedVote): CommitCertificate => ({
  ...c,
  votes: c.votes.map((x, j) => (j === i ? v : x)),
});

describe('proposals', () => {
  it('are named by the CID of their canonical bytes and signed by their proposer', () => {
    const p = propose(key(0));
    expect(p.id).toBe(contentId(p.body).toString());
    expect(p.id).toBe(proposalId(p.body));
    expect(parseContentId(p.id).code).toBe(0x71);
    expect(() => verifyProposal(p)).not.toThrow();
    expect(propose(key(0), { basisT: 8 }).id).not.toBe(p.id);
  });

  it('refuses a key that is not the proposer', () => {
    const e = thrown(() => signProposal(key(1), { ...propose(key(0)).body, proposer: key(0).did }));
    expect(e.code).toBe('governance/wrong-signer');
  });

  it('refuses a body of the wrong shape, naming each field', () => {
    const body = propose(key(0)).body;
    const e = thrown(() =>
      proposalId({ ...body, kind: 'other', createdAt: 1.5, extra: 1 } as unknown as ProposalBody),
    );
    expect(e.code).toBe('governance/malformed');
    expect(e.message).toMatch(/kind/);
    expect(e.message).toMatch(/createdAt/);
    expect(e.message).toMatch(/extra/);
    expect(thrown(() => proposalId({ ...body, proposer: 'did:web:x' })).message).toMatch(
      /proposer: not an ed25519 did:key/,
    );
  });

  it('fail verification when the body or id no longer match the signature', () => {
    const p = propose(key(0));
    const body = { ...p.body, txData: '[]' };
    expect(thrown(() => verifyProposal({ ...p, body })).code).toBe('governance/malformed');
    const e = thrown(() => verifyProposal({ ...p, body, id: proposalId(body) }));
    expect(e.code).toBe('governance/bad-signature');
    expect(e.data).toMatchObject({ signer: key(0).did, role: 'proposer' });
  });
});

describe('votes', () => {
  it('hash the elaboration as hex sha-256', () => {
    expect(elaborationHash('abc')).toBe(
      'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad',
    );
  });

  it('verify, and fail once moved to another pool or proposal', () => {
    const p = propose(key(0));
    const v = vote(key(1), p, true);
    expect(() => verifyVote(v)).not.toThrow();
    const moved = { ...v, body: { ...v.body, pool: 'pool-b' } };
    expect(thrown(() => verifyVote(moved)).code).toBe('governance/bad-signature');
    const other = { ...v, body: { ...v.body, proposal: propose(key(0), { basisT: 9 }).id } };
    const e = thrown(() => verifyVote(other));
    expect(e.code).toBe('governance/bad-signature');
    expect(e.data).toMatchObject({ signer: key(1).did, role: 'voter' });
  });

  it('refuse a key that is not the voter, and bodies of the wrong shape', () => {
    const p = propose(key(0));
    expect(thrown(() => vote(key(1), p, true, { voter: key(2).did })).code).toBe(
      'governance/wrong-signer',
    );
    expect(thrown(() => vote(key(1), p, true, { elaborationHash: 'ABC' })).message).toMatch(
      /elaborationHash/,
    );
    // the same id in another base must not pass for it
    const base58 = parseContentId(p.id).toString(base58btc);
    expect(base58).not.toBe(p.id);
    expect(thrown(() => vote(key(1), p, true, { proposal: base58 })).message).toMatch(/proposal/);
  });
});

describe('policy', () => {
  it('defaults to more than 2/3 with the proposer voting yes', () => {
    expect(parsePolicy({})).toEqual({ threshold: { num: 2, den: 3 }, proposerVotes: true });
    expect(parsePolicy({ proposerVotes: false })).toEqual(NO_SELF_VOTES);
    expect(parsePolicy({ threshold: { num: 1, den: 2 } }).threshold).toEqual({ num: 1, den: 2 });
  });

  it.each([
    [{ threshold: { num: 0, den: 3 } }, /threshold\.num/],
    [{ threshold: { num: 3, den: 3 } }, /less than den/],
    [{ threshold: { num: 1.5, den: 3 } }, /threshold\.num/],
    [{ threshold: '2/3' }, /threshold/],
    [{ treshold: { num: 1, den: 2 } }, /treshold/],
    [{ proposerVotes: 'yes' }, /proposerVotes/],
    [null, /value/],
  ])('refuses %j', (json, why) => {
    const e = thrown(() => parsePolicy(json));
    expect(e.code).toBe('governance/bad-policy');
    expect(e.message).toMatch(why);
  });

  it.each([
    [1, 1, true],
    [2, 3, false],
    [3, 3, true],
    [2, 4, false],
    [3, 4, true],
    [4, 6, false],
    [5, 6, true],
    [4, 7, false],
    [5, 7, true],
    [6, 9, false],
    [7, 9, true],
    [0, 0, false],
  ])('2/3: %i yes of %i voters reaches quorum: %s', (yes, voters, expected) => {
    expect(quorumReached(yes, voters, { num: 2, den: 3 })).toBe(expected);
  });

  it('says when quorum is out of reach', () => {
    const t = { num: 2, den: 3 };
    expect(quorumOutOfReach(0, 3, t)).toBe(false);
    expect(quorumOutOfReach(1, 3, t)).toBe(true);
    expect(quorumOutOfReach(1, 4, t)).toBe(false);
    expect(quorumOutOfReach(2, 4, t)).toBe(true);
  });

  it('yesNeeded is the least yes count that reaches quorum', () => {
    fc.assert(
      fc.property(fc.nat(1000), threshold(), (n, t) => {
        const k = yesNeeded(n, t);
        expect(quorumReached(k, n, t)).toBe(true);
        expect(quorumReached(k - 1, n, t)).toBe(false);
      }),
    );
  });

  it('is exact where float products are not', () => {
    const t = { num: 1_000_000_006, den: 1_000_000_007 };
    const k = 8_999_999;
    const [n, yes] = [t.den * k, t.num * k]; // yes/n is exactly num/den
    expect(quorumReached(yes, n, t)).toBe(false);
    expect(quorumReached(yes + 1, n, t)).toBe(true);
    expect((yes + 1) * t.den > n * t.num).toBe(false); // what floats would have said
  });
});

describe('verifyCertificate', () => {
  it('accepts a quorum and counts it', () => {
    const c = scenario(4, [1, 2], [3]);
    expect(verifyCertificate(c, DEFAULT_POLICY)).toEqual({
      ok: true,
      proposal: c.proposal.id,
      yes: 3,
      no: 1,
      voters: 4,
    });
    expect(verifyCertificate(c, DEFAULT_POLICY, { pool: POOL, members: dids(0, 4) }).yes).toBe(3);
  });

  it.each([
    [3, [1], false],
    [3, [1, 2], true],
    [4, [1, 2], true],
    [4, [1], false],
    [6, [1, 2, 3], false],
    [6, [1, 2, 3, 4], true],
    [7, [1, 2, 3], false],
    [7, [1, 2, 3, 4], true],
  ])('at the boundary: %i voters, the proposer and %j say yes → %s', (n, yes, ok) => {
    const run = () => verifyCertificate(scenario(n, yes), DEFAULT_POLICY);
    if (ok) expect(run().yes).toBe(yes.length + 1);
    else expect(thrown(run).code).toBe('governance/no-quorum');
  });

  it('says by how much quorum was missed', () => {
    const e = thrown(() => verifyCertificate(scenario(6, [1, 2, 3], [4]), DEFAULT_POLICY));
    expect(e.code).toBe('governance/no-quorum');
    expect(e.data).toMatchObject({ yes: 4, no: 1, voters: 6, needed: 5 });
    expect(e.message).toMatch(/4 of 6 voters said yes \(1 no\).*2\/3, 5 or more/);
  });

  it('names the voter whose signature is bad', () => {
    const c = scenario(4, [1, 2, 3]);
    const i = c.votes.findIndex((v) => v.body.voter === key(2).did);
    const bad = { ...c.votes[i]!, signature: flipBit(c.votes[i]!.signature, 5, 0) };
    const e = thrown(() => verifyCertificate(withVote(c, i, bad), DEFAULT_POLICY));
    expect(e.code).toBe('governance/bad-signature');
    expect(e.data.signer).toBe(key(2).did);
    expect(e.message).toContain(key(2).did);
  });

  it('refuses a vote from outside the voter set', () => {
    const c = scenario(3, [1, 2]);
    const stranger = vote(key(9), c.proposal, true);
    const e = thrown(() =>
      verifyCertificate({ ...c, votes: [...c.votes, stranger] }, DEFAULT_POLICY),
    );
    expect(e.code).toBe('governance/not-a-voter');
    expect(e.data.voter).toBe(key(9).did);
  });

  it('refuses a proposer outside the voter set when their proposal is their vote', () => {
    const p = propose(key(9));
    const c = makeCertificate(
      p,
      dids(0, 3),
      [0, 1, 2].map((i) => vote(key(i), p, true)),
    );
    expect(thrown(() => verifyCertificate(c, DEFAULT_POLICY)).code).toBe('governance/not-a-voter');
    expect(verifyCertificate(c, NO_SELF_VOTES).yes).toBe(3);
  });

  it('refuses two votes from one voter, agreeing or not', () => {
    const c = scenario(4, [1, 2]);
    const again = vote(key(1), c.proposal, true, { at: T0 + 5 });
    const no = vote(key(1), c.proposal, false);
    for (const extra of [c.votes[0]!, again, no]) {
      const e = thrown(() =>
        verifyCertificate({ ...c, votes: [...c.votes, extra] }, DEFAULT_POLICY),
      );
      expect(e.code).toBe('governance/duplicate-vote');
      expect(e.data.voter).toBe(extra.body.voter);
    }
  });

  it("counts the proposer's explicit yes once and refuses their explicit no", () => {
    expect(verifyCertificate(scenario(4, [0, 1, 2]), DEFAULT_POLICY).yes).toBe(3);
    expect(thrown(() => verifyCertificate(scenario(3, [0, 1]), DEFAULT_POLICY)).code).toBe(
      'governance/no-quorum',
    );
    const e = thrown(() => verifyCertificate(scenario(4, [1, 2, 3], [0]), DEFAULT_POLICY));
    expect(e.code).toBe('governance/duplicate-vote');
    expect(e.data.voter).toBe(key(0).did);
  });

  it('refuses votes and certificates for another pool', () => {
    const c = scenario(3, [1, 2]);
    expect(thrown(() => verifyCertificate({ ...c, pool: 'pool-b' }, DEFAULT_POLICY)).code).toBe(
      'governance/wrong-pool',
    );
    const e = thrown(() => verifyCertificate(c, DEFAULT_POLICY, { pool: 'pool-b' }));
    expect(e.code).toBe('governance/wrong-pool');
    expect(e.data).toEqual({ pool: POOL, other: 'pool-b' });
    const elsewhere = vote(key(1), c.proposal, true, { pool: 'pool-b' });
    expect(thrown(() => verifyCertificate(withVote(c, 0, elsewhere), DEFAULT_POLICY)).code).toBe(
      'governance/wrong-pool',
    );
  });

  it('refuses a vote on another proposal', () => {
    const c = scenario(3, [1, 2]);
    const other = vote(key(1), propose(key(0), { basisT: 99 }), true);
    const e = thrown(() => verifyCertificate(withVote(c, 0, other), DEFAULT_POLICY));
    expect(e.code).toBe('governance/wrong-proposal');
    expect(e.data).toMatchObject({ voter: key(1).did, proposal: c.proposal.id });
  });

  it('refuses self-votes when the policy does', () => {
    const p = propose(key(0));
    const others = [1, 2, 3].map((i) => vote(key(i), p, true));
    expect(verifyCertificate(makeCertificate(p, dids(1, 4), others), NO_SELF_VOTES).yes).toBe(3);
    const inSet = makeCertificate(p, dids(0, 4), others);
    expect(thrown(() => verifyCertificate(inSet, NO_SELF_VOTES)).code).toBe('governance/self-vote');
    const own = makeCertificate(p, dids(1, 4), [...others, vote(key(0), p, true)]);
    const e = thrown(() => verifyCertificate(own, NO_SELF_VOTES));
    expect(e.code).toBe('governance/self-vote');
    expect(e.data.voter).toBe(key(0).did);
  });

  it('refuses what is malformed, before any signature is checked', () => {
    const c = scenario(3, [1, 2]);
    const cases: unknown[] = [
      { ...c, voters: [...c.voters, c.voters[1]] },
      { ...c, proposal: { ...c.proposal, id: 'bafy-not-a-cid' } },
      { ...c, votes: [{ ...c.votes[0]!, signature: new Uint8Array(63) }] },
      {
        ...c,
        votes: [{ body: { ...c.votes[0]!.body, support: 'yes' }, signature: new Uint8Array(64) }],
      },
      { ...c, voters: [{ did: 'did:key:nope' }] },
      { ...c, extra: true },
      null,
    ];
    for (const x of cases)
      expect(thrown(() => verifyCertificate(x as CommitCertificate, DEFAULT_POLICY)).code).toBe(
        'governance/malformed',
      );
  });

  it('refuses a bad policy', () => {
    const policy = { threshold: { num: 3, den: 2 }, proposerVotes: true };
    expect(thrown(() => verifyCertificate(scenario(3, [1, 2]), policy)).code).toBe(
      'governance/bad-policy',
    );
  });

  it('holds the voter set to the members when told them', () => {
    const c = scenario(4, [1, 2, 3]);
    const e = thrown(() => verifyCertificate(c, DEFAULT_POLICY, { members: dids(0, 3) }));
    expect(e.code).toBe('governance/not-a-member');
    expect(e.data.member).toBe(key(3).did);
    const m = thrown(() => verifyCertificate(c, DEFAULT_POLICY, { members: dids(0, 5) }));
    expect(m.code).toBe('governance/missing-voter');
    expect(m.data.member).toBe(key(4).did);
    const p = propose(key(0));
    const without = makeCertificate(
      p,
      dids(1, 4),
      [1, 2, 3].map((i) => vote(key(i), p, true)),
    );
    expect(verifyCertificate(without, NO_SELF_VOTES, { members: dids(0, 4) }).yes).toBe(3);
    expect(
      thrown(() => verifyCertificate(without, NO_SELF_VOTES, { members: dids(1, 4) })).code,
    ).toBe('governance/not-a-member');
  });

  it('cannot tell a cut-down voter set without the members (why `members` matters)', () => {
    const p = propose(key(0));
    const honest = makeCertificate(p, dids(0, 10), [vote(key(1), p, true)]);
    expect(thrown(() => verifyCertificate(honest, DEFAULT_POLICY)).code).toBe(
      'governance/no-quorum',
    );
    const cut = makeCertificate(p, dids(0, 2), honest.votes);
    expect(verifyCertificate(cut, DEFAULT_POLICY).yes).toBe(2);
    const e = thrown(() => verifyCertificate(cut, DEFAULT_POLICY, { members: dids(0, 10) }));
    expect(e.code).toBe('governance/missing-voter');
  });
});

describe('certificate encoding', () => {
  it('round-trips through canonical CBOR, deriving the pool and proposal id', () => {
    const c = scenario(5, [1, 2, 3], [4]);
    const bytes = encodeCertificate(c);
    const back = decodeCertificate(bytes);
    expect(back).toEqual(c);
    expect(verifyCertificate(back, DEFAULT_POLICY).yes).toBe(4);
    expect(certificateId(back)).toBe(certificateId(c));
    expect(certificateId(c)).toBe(rawContentId(bytes, DAG_CBOR_CODEC).toString());
  });

  it('refuses bytes that are not a certificate in canonical order', () => {
    const c = scenario(4, [1, 2, 3]);
    const value = {
      format: CERTIFICATE_FORMAT,
      proposal: { body: c.proposal.body, signature: c.proposal.signature },
      voters: c.voters,
      votes: c.votes,
    };
    expect(decodeCertificate(encodeCanonical(value))).toEqual(c);
    const cases: [unknown, RegExp][] = [
      [{ ...value, votes: [...c.votes].reverse() }, /canonical order/],
      [{ ...value, voters: [...c.voters].reverse() }, /canonical order/],
      [{ ...value, format: 'diagon/v2/certificate' }, /format/],
      [{ ...value, pool: POOL }, /pool/],
      [{ ...value, proposal: { ...value.proposal, id: c.proposal.id } }, /id/],
    ];
    for (const [x, why] of cases) {
      const e = thrown(() => decodeCertificate(encodeCanonical(x as never)));
      expect(e.code).toBe('governance/malformed');
      expect(e.message).toMatch(why);
    }
    const bytes = encodeCertificate(c);
    for (const bad of [bytes.subarray(0, 10), Uint8Array.of(...bytes, 0), new Uint8Array(0)])
      expect(thrown(() => decodeCertificate(bad)).code).toBe('governance/malformed');
    expect(thrown(() => decodeCertificate('x' as never)).code).toBe('governance/malformed');
  });
});

// ---- properties ---------------------------------------------------------------------------

const RUNS = { numRuns: 150 };
type Ballot = 'yes' | 'no' | 'absent';

function threshold(): fc.Arbitrary<Threshold> {
  return fc
    .integer({ min: 2, max: 12 })
    .chain((den) =>
      fc.record({ num: fc.integer({ min: 1, max: den - 1 }), den: fc.constant(den) }),
    );
}

const gcd = (a: number, b: number): number => (b === 0 ? a : gcd(b, a % b));

/** yes/n > num/den, decided differently from the code: equal reduced fractions, else floats. */
function referenceQuorum(yes: number, n: number, t: Threshold): boolean {
  const g1 = gcd(yes, n);
  const g2 = gcd(t.num, t.den);
  if (yes / g1 === t.num / g2 && n / g1 === t.den / g2) return false;
  return yes / n > t.num / t.den;
}

/**
 * A random election: n voters (key(0) among them, proposing, when the proposer votes;
 * otherwise key(15) proposes from outside), each yes, no or absent.
 */
const electionOf = (ballot: fc.Arbitrary<Ballot>) =>
  fc
    .record({
      ballots: fc.array(ballot, { minLength: 1, maxLength: 15 }),
      threshold: fc.oneof(fc.constant(DEFAULT_POLICY.threshold), threshold()),
      proposerVotes: fc.boolean(),
      explicitProposerYes: fc.boolean(),
    })
    .map(({ ballots, threshold, proposerVotes, explicitProposerYes }) => {
      const proposer = proposerVotes ? key(0) : key(15);
      const p = propose(proposer);
      const votes: SignedVote[] = [];
      let yes = proposerVotes ? 1 : 0;
      let no = 0;
      ballots.forEach((b, i) => {
        if (proposerVotes && i === 0) {
          if (explicitProposerYes) votes.push(vote(key(0), p, true));
          return;
        }
        if (b === 'absent') return;
        votes.push(vote(key(i), p, b === 'yes'));
        if (b === 'yes') yes++;
        else no++;
      });
      return {
        cert: makeCertificate(p, dids(0, ballots.length), votes),
        policy: { threshold, proposerVotes } as Policy,
        yes,
        no,
        n: ballots.length,
      };
    });

const election = electionOf(fc.constantFrom<Ballot>('yes', 'no', 'absent'));

/** An election that passed (mostly yes ballots, so that few are filtered out). */
const passed = electionOf(
  fc.oneof(
    { arbitrary: fc.constant<Ballot>('yes'), weight: 6 },
    fc.constant<Ballot>('no'),
    fc.constant<Ballot>('absent'),
  ),
).filter((e) => referenceQuorum(e.yes, e.n, e.policy.threshold));

/** Sort keys for a shuffle of up to 16 items. */
const sortKeys = fc.array(fc.nat(), { minLength: 16, maxLength: 16 });

describe('properties', () => {
  it('a certificate is accepted iff yes × den > voters × num', () => {
    fc.assert(
      fc.property(election, ({ cert, policy, yes, no, n }) => {
        const run = () => verifyCertificate(cert, policy);
        if (referenceQuorum(yes, n, policy.threshold))
          expect(run()).toEqual({ ok: true, proposal: cert.proposal.id, yes, no, voters: n });
        else {
          const e = thrown(run);
          expect(e.code).toBe('governance/no-quorum');
          expect(e.data).toMatchObject({ yes, no, voters: n });
        }
      }),
      RUNS,
    );
  });

  it('flipping any bit of any signature is a bad signature', () => {
    fc.assert(
      fc.property(passed, fc.nat(), fc.nat(63), fc.nat(7), ({ cert, policy }, which, byte, bit) => {
        const i = which % (cert.votes.length + 1);
        const tampered =
          i === cert.votes.length
            ? {
                ...cert,
                proposal: {
                  ...cert.proposal,
                  signature: flipBit(cert.proposal.signature, byte, bit),
                },
              }
            : withVote(cert, i, {
                ...cert.votes[i]!,
                signature: flipBit(cert.votes[i]!.signature, byte, bit),
              });
        expect(thrown(() => verifyCertificate(tampered, policy)).code).toBe(
          'governance/bad-signature',
        );
      }),
      RUNS,
    );
  });

  it('changing the tx-data, the pool or a vote is refused', () => {
    const change = fc.constantFrom(
      'tx-data',
      'tx-data with its id',
      'pool',
      'pool everywhere',
      'support',
      'vote pool',
    );
    fc.assert(
      fc.property(passed, change, fc.nat(), ({ cert, policy }, what, which) => {
        const p = cert.proposal;
        const v = cert.votes.length > 0 ? cert.votes[which % cert.votes.length]! : undefined;
        const txBody = { ...p.body, txData: `${p.body.txData} ` };
        const poolBody = { ...p.body, pool: 'pool-b' };
        // Every other rule is checked before signatures: with votes, a re-identified proposal
        // is refused for the votes that name the old one.
        const voted = cert.votes.length > 0;
        const tampered: Record<string, [CommitCertificate, string | string[]] | undefined> = {
          'tx-data': [{ ...cert, proposal: { ...p, body: txBody } }, 'governance/malformed'],
          'tx-data with its id': [
            { ...cert, proposal: { ...p, body: txBody, id: proposalId(txBody) } },
            voted ? 'governance/wrong-proposal' : 'governance/bad-signature',
          ],
          pool: [{ ...cert, pool: 'pool-b' }, 'governance/wrong-pool'],
          'pool everywhere': [
            {
              ...cert,
              pool: 'pool-b',
              proposal: { ...p, body: poolBody, id: proposalId(poolBody) },
            },
            voted ? 'governance/wrong-pool' : 'governance/bad-signature',
          ],
          // A yes turned into a no may leave the quorum out of reach, or contradict the
          // proposer's own yes: both refused before any signature is checked.
          support: v && [
            withVote(cert, which % cert.votes.length, {
              ...v,
              body: { ...v.body, support: !v.body.support },
            }),
            v.body.support
              ? ['governance/bad-signature', 'governance/no-quorum', 'governance/duplicate-vote']
              : 'governance/bad-signature',
          ],
          'vote pool': v && [
            withVote(cert, which % cert.votes.length, {
              ...v,
              body: { ...v.body, pool: 'pool-b' },
            }),
            'governance/wrong-pool',
          ],
        };
        const t = tampered[what];
        if (t === undefined) return;
        expect([t[1]].flat()).toContain(thrown(() => verifyCertificate(t[0], policy)).code);
      }),
      RUNS,
    );
  });

  it('a repeated vote never counts: it is refused', () => {
    fc.assert(
      fc.property(election, fc.nat(), fc.boolean(), ({ cert, policy }, which, resign) => {
        fc.pre(cert.votes.length > 0);
        const v = cert.votes[which % cert.votes.length]!;
        const k = KEYS.find((x) => x.did === v.body.voter)!;
        const extra = resign ? signVote(k, { ...v.body, at: v.body.at + 1 }) : v;
        const e = thrown(() =>
          verifyCertificate({ ...cert, votes: [...cert.votes, extra] }, policy),
        );
        expect(e.code).toBe('governance/duplicate-vote');
      }),
      RUNS,
    );
  });

  it('the order of votes and voters changes neither the verdict nor the id', () => {
    fc.assert(
      fc.property(election, sortKeys, sortKeys, ({ cert, policy }, k1, k2) => {
        const shuffle = <T>(xs: readonly T[], keys: number[]) =>
          xs
            .map((x, i) => ({ x, k: keys[i]! }))
            .sort((a, b) => a.k - b.k)
            .map(({ x }) => x);
        const mixed = { ...cert, voters: shuffle(cert.voters, k1), votes: shuffle(cert.votes, k2) };
        const verdict = (c: CommitCertificate) => {
          try {
            return verifyCertificate(c, policy);
          } catch (e) {
            return (e as DiagonError).code;
          }
        };
        expect(verdict(mixed)).toEqual(verdict(cert));
        expect(certificateId(mixed)).toBe(certificateId(cert));
        expect(encodeCertificate(mixed)).toEqual(encodeCertificate(cert));
      }),
      RUNS,
    );
  });

  it('changing any byte of an encoded certificate is refused (given the members)', () => {
    fc.assert(
      fc.property(
        passed,
        fc.nat(),
        fc.integer({ min: 1, max: 255 }),
        ({ cert, policy }, at, delta) => {
          const bytes = encodeCertificate(cert);
          const i = at % bytes.length;
          const changed = Uint8Array.from(bytes);
          changed[i] = (changed[i]! + delta) % 256;
          const members = cert.voters.map((v) => v.did);
          if (!policy.proposerVotes) members.push(cert.proposal.body.proposer);
          expect(verifyCertificate(decodeCertificate(bytes), policy, { members }).ok).toBe(true);
          thrown(() => verifyCertificate(decodeCertificate(changed), policy, { members }));
        },
      ),
      RUNS,
    );
  });

  it('decoding arbitrary bytes throws governance/malformed and nothing else', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        expect(thrown(() => decodeCertificate(bytes)).code).toBe('governance/malformed');
      }),
      { numRuns: 200 },
    );
  });
});

describe('votes checked over the bytes received', () => {
  it('accept exactly what verifyVote accepts, and refuse a changed byte or body', () => {
    const voter = KeyPair.generate();
    const body = {
      pool: 'enc',
      proposal: signProposal(voter, {
        pool: 'enc',
        kind: 'knowledge',
        txData: '[]',
        basisT: 0,
        proposer: voter.did,
        createdAt: 1,
      }).id,
      support: true,
      elaborationHash: elaborationHash('why'),
      voter: voter.did,
      at: 5,
    };
    const v = signVote(voter, body);
    const bytes = encodeCanonical(v.body as never);
    expect(verifyEncodedVote(bytes, v.signature)).toEqual(v);
    const other = encodeCanonical({ ...v.body, support: false } as never);
    expect(() => verifyEncodedVote(other, v.signature)).toThrow(
      expect.objectContaining({ code: 'governance/bad-signature' }),
    );
    const cut = bytes.slice(0, -1);
    expect(() => verifyEncodedVote(cut, v.signature)).toThrow(
      expect.objectContaining({ code: 'governance/malformed' }),
    );
  });
});
