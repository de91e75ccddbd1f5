/**
 * Governance end to end on real NATS and Postgres: proposals and votes through the
 * consensus service, certificates committed by the transactor, the governance log and
 * offline verification of an exported pool.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HEADER, jsonData, parseJson, subjects } from '../libs/bus/index.js';
import { type Client, connect } from '../libs/client/index.js';
import { parseEdn } from '../libs/db/index.js';
import {
  elaborationHash,
  encodeSignedProposal,
  encodeSignedVote,
  type ProposalKind,
  signProposal,
  signVote,
} from '../libs/governance/index.js';
import { KeyPair } from '../libs/identity/index.js';
import { addMember, migrate, readLog, upsertPool } from '../libs/storage/index.js';
import { leafHash, poolOrigin, verifyCheckpoint, verifyInclusion } from '../libs/tlog/index.js';
import { loadAuthConfig } from '../services/auth/config.js';
import { startAuth } from '../services/auth/server.js';
import { Consensus } from '../services/consensus/consensus.js';
import { Trust } from '../services/consensus/trust.js';
import { exportPool, verifyExport } from '../services/consensus/verify.js';
import { Indexer } from '../services/indexer/indexer.js';
import { Transactor } from '../services/transactor/transactor.js';
import { randomPool, type TestNats, testNats } from './support/nats.js';
import { type TestPostgres, testPostgres } from './support/postgres.js';

let pg: TestPostgres;
let nats: TestNats;
const logKey = KeyPair.generate();
const keys = Array.from({ length: 7 }, () => KeyPair.generate());
const [alice, bob, carol, dave] = keys as [KeyPair, KeyPair, KeyPair, KeyPair];
let consensus: Consensus;
const transactors: Transactor[] = [];

beforeAll(async () => {
  // Each transactor holds one connection for its fence: room for the pools of this file.
  pg = await testPostgres('consensus', 30);
  nats = await testNats();
  await migrate(pg.sql);
  consensus = new Consensus({ sql: pg.sql, bus: nats.bus, logKey, sweepEveryMs: 100 });
  await consensus.start();
});
afterAll(async () => {
  await consensus?.stop();
  for (const t of transactors) await t.stop();
  await nats?.close();
  await pg?.drop();
});

async function newPool(members: KeyPair[], policy: Record<string, unknown> = {}): Promise<string> {
  const pool = randomPool();
  await upsertPool(pg.sql, pool, policy);
  for (const k of members) await addMember(pg.sql, pool, { did: k.did, publicKey: k.publicKey });
  const t = new Transactor({ pool, sql: pg.sql, bus: nats.bus });
  await t.start();
  transactors.push(t);
  return pool;
}

let n = 0;
async function propose(
  pool: string,
  key: KeyPair,
  txData = `[{:db/id "x" :note "n${n++}"}]`,
  kind: ProposalKind = 'knowledge',
) {
  const sp = signProposal(key, {
    pool,
    kind,
    txData,
    basisT: 0,
    proposer: key.did,
    createdAt: Date.now(),
  });
  const reply = await nats.bus.request(
    subjects.propose(pool),
    jsonData({ proposal: Buffer.from(encodeSignedProposal(sp)).toString('base64') }),
    { headers: { [HEADER.did]: key.did } },
  );
  return parseJson(reply) as { id: string; status: string; voters: string[] };
}

function signedVote(
  pool: string,
  key: KeyPair,
  proposal: string,
  support = true,
  elaboration = 'I checked it',
) {
  return signVote(key, {
    pool,
    proposal,
    support,
    elaborationHash: elaborationHash(elaboration),
    voter: key.did,
    at: Date.now(),
  });
}

async function sendVote(
  pool: string,
  v: ReturnType<typeof signVote>,
  elaboration = 'I checked it',
) {
  const reply = await nats.bus.request(
    subjects.vote(pool),
    jsonData({ vote: Buffer.from(encodeSignedVote(v)).toString('base64'), elaboration }),
  );
  return parseJson(reply) as { id: string; status: string; yes: number; no: number };
}

const vote = (pool: string, key: KeyPair, proposal: string, support = true) =>
  sendVote(pool, signedVote(pool, key, proposal, support));

async function status(
  pool: string,
  id: string,
): Promise<{ status: string; outcome: Record<string, unknown> | null }> {
  const list = parseJson(await nats.bus.request(subjects.proposals(pool), jsonData({}))) as {
    id: string;
    status: string;
    outcome: Record<string, unknown> | null;
  }[];
  return list.find((p) => p.id === id)!;
}

describe('proposals and votes', () => {
  it('commits a proposal once quorum is reached, records the outcome and signs a checkpoint', async () => {
    const pool = await newPool([alice, bob, carol]);
    const p = await propose(pool, alice, '[{:db/id "a" :name "Ann"}]');
    expect(p).toMatchObject({ status: 'open', voters: [alice.did, bob.did, carol.did].sort() });
    expect(await vote(pool, bob, p.id)).toMatchObject({ status: 'open', yes: 2 }); // 2 of 3 is not > 2/3
    expect(await vote(pool, carol, p.id)).toMatchObject({ status: 'committed' });
    await expect
      .poll(async () => (await status(pool, p.id)).outcome)
      .toMatchObject({ t: 1, proposal: p.id });
    const [entry] = await readLog(pg.sql, pool, 0);
    expect(entry!.proposal).toBe(p.id);
    // The checkpoint is signed right after the answer: wait for the one of all five leaves.
    let checkpoint = '';
    await expect
      .poll(async () => {
        checkpoint =
          (
            parseJson(
              await nats.bus.request(subjects.tlog(pool), jsonData({ kind: 'checkpoint' })),
            ) as {
              checkpoint: string | null;
            }
          ).checkpoint ?? '';
        return checkpoint === ''
          ? 0
          : verifyCheckpoint(checkpoint, { keyName: poolOrigin(pool), publicKey: logKey.publicKey })
              .size;
      })
      .toBe(5);
    const cp = verifyCheckpoint(checkpoint, {
      keyName: poolOrigin(pool),
      publicKey: logKey.publicKey,
    });
    expect(cp.size).toBe(5); // proposal, two votes, certificate, commit
    const leaves = parseJson(
      await nats.bus.request(subjects.tlog(pool), jsonData({ kind: 'leaves' })),
    ) as { leaf: string }[];
    const { proof } = parseJson(
      await nats.bus.request(
        subjects.tlog(pool),
        jsonData({ kind: 'inclusion', index: 1, size: cp.size }),
      ),
    ) as { proof: string[] };
    expect(
      verifyInclusion(
        leafHash(Buffer.from(leaves[1]!.leaf, 'base64')),
        1,
        cp.size,
        proof.map((x) => new Uint8Array(Buffer.from(x, 'base64'))),
        cp.rootHash,
      ),
    ).toBe(true);
  });

  it('records concurrent commits with one checkpoint each and no lost trust update', async () => {
    const pool = await newPool([alice, bob]);
    const count = 8;
    const ids = await Promise.all(
      Array.from({ length: count }, async () => (await propose(pool, alice)).id),
    );
    const votes = await Promise.all(ids.map((id) => vote(pool, bob, id)));
    expect(votes.map((v) => v.status)).toEqual(ids.map(() => 'committed'));
    await expect
      .poll(
        async () =>
          (
            await pg.sql<{ n: number }[]>`
              select count(*)::int as n from tlog_checkpoints where pool = ${pool}`
          )[0]!.n,
      )
      .toBe(count);
    // Each commit's leaves and the checkpoint over them commit together, under the log's
    // head: every checkpoint ends at a commit leaf, and every commit leaf ends one.
    const commits = await pg.sql<{ idx: number }[]>`
      select idx from tlog_leaves where pool = ${pool} and kind = 'commit' order by idx`;
    const sizes = await pg.sql<{ size: number }[]>`
      select size from tlog_checkpoints where pool = ${pool} order by size`;
    expect(sizes.map((s) => Number(s.size))).toEqual(commits.map((c) => Number(c.idx) + 1));
    const x = await exportPool(pg.sql, pool, logKey.did);
    expect(() => verifyExport(x)).not.toThrow();
    const scores = parseJson(await nats.bus.request(subjects.trust(pool), jsonData({}))) as {
      did: string;
      trust: number;
    }[];
    // Neutral 0.5, +0.05 per commit for the proposer and per winning vote for the voter.
    for (const k of [alice, bob])
      expect(scores.find((s) => s.did === k.did)?.trust).toBeCloseTo(0.5 + count * 0.05, 3);
  });

  it('refuses forged signatures, non-members, replays onto another pool, and second votes', async () => {
    const pool = await newPool([alice, bob, carol]);
    const other = await newPool([alice, bob, carol]);
    const p = await propose(pool, alice);
    const forged = signedVote(pool, bob, p.id);
    forged.signature[5] ^= 1;
    await expect(sendVote(pool, forged)).rejects.toMatchObject({
      code: 'governance/bad-signature',
    });
    await expect(vote(pool, dave, p.id)).rejects.toMatchObject({ code: 'consensus/not-a-voter' });
    const good = signedVote(pool, bob, p.id, false);
    await expect(sendVote(other, good)).rejects.toMatchObject({ code: 'governance/wrong-pool' });
    const moved = { ...good, body: { ...good.body, proposal: (await propose(pool, alice)).id } };
    await expect(sendVote(pool, moved)).rejects.toMatchObject({ code: 'governance/bad-signature' });
    // One no of three voters already puts 2/3 out of reach: the proposal is rejected.
    expect(await vote(pool, carol, p.id, true)).toMatchObject({ status: 'open', yes: 2 });
    await expect(vote(pool, carol, p.id, false)).rejects.toMatchObject({
      code: 'consensus/duplicate-vote',
    });
    expect(await sendVote(pool, good)).toMatchObject({ status: 'rejected', no: 1 });
    await expect(sendVote(pool, signedVote(pool, bob, p.id), 'another text')).rejects.toMatchObject(
      { code: 'consensus/elaboration-mismatch' },
    );
    await expect(propose(pool, dave)).rejects.toMatchObject({ code: 'consensus/not-a-member' });
  });

  it('expires a proposal after its TTL and refuses votes after it', async () => {
    const pool = await newPool([alice, bob, carol], { ttlMs: 200 });
    const p = await propose(pool, alice);
    await expect
      .poll(async () => (await status(pool, p.id)).status, { timeout: 5000 })
      .toBe('expired');
    await expect(vote(pool, bob, p.id)).rejects.toMatchObject({ code: 'consensus/expired' });
  });

  it('refuses self-votes when the policy does, without counting the proposer', async () => {
    const pool = await newPool([alice, bob, carol], { proposerVotes: false });
    const p = await propose(pool, alice);
    expect(p.voters).toEqual([bob.did, carol.did].sort());
    await expect(vote(pool, alice, p.id)).rejects.toMatchObject({ code: 'governance/self-vote' });
    await vote(pool, bob, p.id);
    expect(await vote(pool, carol, p.id)).toMatchObject({ status: 'committed' });
  });

  it.each([
    [1, 1],
    [2, 2],
    [3, 3],
    [4, 3],
    [7, 5],
  ])('with %i members, needs %i yes votes (the proposer included)', async (size, needed) => {
    const members = keys.slice(0, size);
    const pool = await newPool(members);
    const p = await propose(pool, members[0]!);
    let last = p.status;
    for (let yes = 2; yes <= size; yes++) {
      expect(last).toBe(yes - 1 >= needed ? 'committed' : 'open');
      if (last === 'committed') break;
      last = (await vote(pool, members[yes - 1]!, p.id)).status;
    }
    expect(last).toBe('committed');
  });

  it('keeps the voter set frozen across a membership change', async () => {
    const pool = await newPool([alice, bob, carol]);
    const p = await propose(pool, alice);
    const m = await propose(
      pool,
      alice,
      JSON.stringify({ add: [{ did: dave.did, role: 'member' }] }),
      'membership',
    );
    await vote(pool, bob, m.id);
    expect(await vote(pool, carol, m.id)).toMatchObject({ status: 'committed' });
    await expect(vote(pool, dave, p.id)).rejects.toMatchObject({ code: 'consensus/not-a-voter' });
    await vote(pool, bob, p.id);
    expect(await vote(pool, carol, p.id)).toMatchObject({ status: 'committed' });
    const q = await propose(pool, dave);
    expect(q.voters).toContain(dave.did);
  });

  it('lets two replicas count concurrent votes and submit once', async () => {
    const second = new Consensus({ sql: pg.sql, bus: nats.bus, logKey });
    await second.start();
    try {
      const pool = await newPool(keys);
      const p = await propose(pool, alice);
      const outcomes = await Promise.allSettled(keys.slice(1).map((k) => vote(pool, k, p.id)));
      // Votes that arrive after the decision are refused as closed; none is lost otherwise.
      for (const o of outcomes)
        if (o.status === 'rejected') expect(o.reason).toMatchObject({ code: 'consensus/closed' });
      expect(outcomes.filter((o) => o.status === 'fulfilled').length).toBeGreaterThanOrEqual(4);
      await expect.poll(async () => (await status(pool, p.id)).status).toBe('committed');
      const certs =
        await pg.sql`select count(*)::int as n from tlog_leaves where pool = ${pool} and kind = 'certificate'`;
      expect(certs[0]!.n).toBe(1);
      expect(await readLog(pg.sql, pool, 0)).toHaveLength(1);
    } finally {
      await second.stop();
    }
  });
});

describe('the whole write path through the edge', () => {
  it('proposes and votes from clients over TCP, commits, and reads the write back', async () => {
    const pool = await newPool([alice, bob, carol]);
    const indexer = new Indexer({ sql: pg.sql, bus: nats.bus, pools: [pool], replica: 'e2e' });
    await indexer.start();
    const config = {
      ...loadAuthConfig({ AUTH_TCP_PORT: '0', AUTH_HTTP_PORT: '0' }),
      minElaboration: 0,
    };
    const auth = await startAuth({ config, sql: pg.sql, bus: nats.bus, key: KeyPair.generate() });
    const clients = await Promise.all(
      [alice, bob, carol].map((key) =>
        connect({ port: auth.tcpPort, pool, key, elaboration: 'e2e test' }),
      ),
    );
    try {
      const [a, b, c] = clients as [Client, Client, Client];
      const opened = parseEdn(await a.propose('[{:db/id "k" :title "Governed"}]')) as
        | Map<unknown, unknown>
        | Record<string, unknown>;
      const id = get(opened, 'id') as string;
      expect(get(parseEdn(await b.vote(id, true, 'looks right')), 'status')).toBe('open');
      expect(get(parseEdn(await c.vote(id, true, 'agreed')), 'status')).toBe('committed');
      const t = (await readLog(pg.sql, pool, 0))[0]!.t;
      await indexer.peer(pool)!.sync(t);
      expect(await a.q('[:find ?v . :where [?e :title ?v]]')).toBe('"Governed"');
      await expect(b.vote(id, true, 'again')).rejects.toMatchObject({ code: 'consensus/closed' });
    } finally {
      await Promise.all(clients.map((x) => x.close()));
      await auth.stop();
      await indexer.stop();
    }
  });
});

/** A key of an EDN map as libs/db reads it (keyword keys). */
function get(m: unknown, key: string): unknown {
  if (m instanceof Map) for (const [k, v] of m) if (String(k).replace(/^:/, '') === key) return v;
  return (m as Record<string, unknown>)[key];
}

describe('an exported pool verified offline', () => {
  it('verifies, and names the entry when a tx_log or vote row is tampered with', async () => {
    const pool = await newPool([alice, bob, carol]);
    for (let i = 0; i < 3; i++) {
      const p = await propose(pool, alice, `[{:db/id "v${i}" :n ${i}}]`);
      await vote(pool, bob, p.id);
      await vote(pool, carol, p.id);
    }
    // Checkpoints are signed just after each commit's answer.
    await expect
      .poll(async () => {
        const [r] = await pg.sql`
          select (select max(size) from tlog_checkpoints where pool = ${pool})::int as signed,
                 (select count(*) from tlog_leaves where pool = ${pool})::int as leaves`;
        return [r!.leaves, r!.signed];
      })
      .toEqual([15, 15]); // 3 × (proposal, two votes, certificate, commit), all signed
    const x = await exportPool(pg.sql, pool, logKey.did);
    expect(verifyExport(x)).toMatchObject({ transactions: 3, votes: 6, leaves: 15 });
    const bad1 = structuredClone(x);
    bad1.txLog[1]!.datoms = Buffer.from('tampered').toString('base64');
    expect(() => verifyExport(bad1)).toThrow(/tx log t 2/);
    const bad2 = structuredClone(x);
    bad2.votes[2]!.support = false;
    expect(() => verifyExport(bad2)).toThrow(/vote of .* on .*: the row does not say/);
    const bad3 = structuredClone(x);
    bad3.votes[0]!.signed = bad3.votes[3]!.signed;
    expect(() => verifyExport(bad3)).toThrow(/vote of/);
    const bad4 = structuredClone(x);
    bad4.checkpoints[0] = bad4.checkpoints[0]!.replace(/\n\d+\n/, '\n1\n');
    expect(() => verifyExport(bad4)).toThrow(/checkpoint/);
  });
});

describe('trust', () => {
  it('rises with accepted proposals, falls with lost votes, and decays towards neutral', async () => {
    let now = Date.now();
    const trust = new Trust(pg.sql, {
      now: () => now,
      halfLifeMs: 1000,
      gain: 0.1,
      loss: 0.1,
      neutral: 0.5,
    });
    const pool = randomPool();
    await upsertPool(pg.sql, pool);
    const p = { pool, proposer: alice.did } as Parameters<Trust['settle']>[1];
    const votes = [
      { voter: bob.did, support: true },
      { voter: carol.did, support: false },
    ] as Parameters<Trust['settle']>[2];
    await trust.settle(pool, p, votes, true);
    expect(await trust.of(pool, alice.did)).toBeCloseTo(0.6);
    expect(await trust.of(pool, bob.did)).toBeCloseTo(0.6);
    expect(await trust.of(pool, carol.did)).toBeCloseTo(0.4);
    now += 1000;
    expect(await trust.of(pool, alice.did)).toBeCloseTo(0.55);
    expect(await trust.of(pool, carol.did)).toBeCloseTo(0.45);
    now += 10_000;
    expect(await trust.of(pool, alice.did)).toBeCloseTo(0.5, 3);
  });
});
