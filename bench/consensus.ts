/**
 * bench/consensus — governance:
 *
 * - votes verified/s (decode + strict signature check, what the consensus service does per
 *   vote) against `openssl speed -seconds 3 ed25519`'s verify rate in the same run (target
 *   ≥ 80%);
 * - governed commit latency for a 3-member pool over real NATS: propose, two votes, commit
 *   (p50/p99; target p99 < 50 ms);
 * - proposals committed/s with 32 concurrent proposers (each proposal voted by the other
 *   two members).
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { connectNats, HEADER, jsonData, parseJson, subjects } from '../libs/bus/index.js';
import {
  decodeSignedVote,
  elaborationHash,
  encodeSignedProposal,
  encodeSignedVote,
  signProposal,
  signVote,
} from '../libs/governance/index.js';
import { KeyPair } from '../libs/identity/index.js';
import {
  addMember,
  connectPostgres,
  migrate,
  type Sql,
  upsertPool,
} from '../libs/storage/index.js';
import { Consensus } from '../services/consensus/consensus.js';
import { Transactor } from '../services/transactor/transactor.js';

const PG_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

function opensslVerifyRate(): number | null {
  try {
    const out = execFileSync('openssl', ['speed', '-seconds', '3', 'ed25519'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    const line = out.split('\n').find((l) => /EdDSA \(Ed25519\)/.test(l));
    const v = Number(line?.trim().split(/\s+/).at(-1));
    return Number.isFinite(v) ? v : null;
  } catch {
    return null;
  }
}

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
};

export async function run(): Promise<void> {
  const keys = [KeyPair.generate(), KeyPair.generate(), KeyPair.generate()] as const;
  // 1. Votes verified per second.
  const target = signProposal(keys[0], {
    pool: 'bench',
    kind: 'knowledge',
    txData: '[]',
    basisT: 0,
    proposer: keys[0].did,
    createdAt: 0,
  }).id;
  const votes = Array.from({ length: 2000 }, (_, i) =>
    encodeSignedVote(
      signVote(keys[1], {
        pool: 'bench',
        proposal: target,
        support: true,
        elaborationHash: elaborationHash('ok'),
        voter: keys[1].did,
        at: i,
      }),
    ),
  );
  const openssl = opensslVerifyRate();
  let n = 0;
  const start = performance.now();
  while (performance.now() - start < 3000) decodeSignedVote(votes[n++ % votes.length]!);
  const rate = n / ((performance.now() - start) / 1000);
  console.log('\nbench/consensus: votes verified (decode + strict ed25519)');
  console.log(
    `diagon: ${rate.toFixed(0)}/s${openssl === null ? '' : `; openssl speed: ${openssl.toFixed(0)}/s; ${((100 * rate) / openssl).toFixed(1)}% of openssl (target ≥ 80%)`}`,
  );

  // 2 and 3. Governed commits over NATS.
  const schema = `bench_consensus_${randomBytes(4).toString('hex')}`;
  const sql: Sql = await connectPostgres({ url: PG_URL, schema, max: 20 });
  const bus = await connectNats({
    url: process.env.NATS_URL ?? 'nats://127.0.0.1:4222',
    name: 'bench-consensus',
  });
  const pool = `bench-${randomBytes(3).toString('hex')}`;
  try {
    await migrate(sql);
    await upsertPool(sql, pool);
    for (const k of keys) await addMember(sql, pool, { did: k.did, publicKey: k.publicKey });
    const transactor = new Transactor({ pool, sql, bus });
    await transactor.start();
    const consensus = new Consensus({ sql, bus, logKey: KeyPair.generate() });
    await consensus.start();
    let i = 0;
    const governed = async () => {
      const proposer = keys[0];
      const sp = signProposal(proposer, {
        pool,
        kind: 'knowledge',
        txData: `[{:db/id "x" :n ${i++}}]`,
        basisT: 0,
        proposer: proposer.did,
        createdAt: Date.now(),
      });
      const body = jsonData({ proposal: Buffer.from(encodeSignedProposal(sp)).toString('base64') });
      const opened = parseJson(
        await bus.request(subjects.propose(pool), body, {
          headers: { [HEADER.did]: proposer.did },
          timeoutMs: 30_000,
        }),
      ) as { id: string };
      for (const k of [keys[1], keys[2]]) {
        const v = signVote(k, {
          pool,
          proposal: opened.id,
          support: true,
          elaborationHash: elaborationHash('ok'),
          voter: k.did,
          at: Date.now(),
        });
        const r = parseJson(
          await bus.request(
            subjects.vote(pool),
            jsonData({
              vote: Buffer.from(encodeSignedVote(v)).toString('base64'),
              elaboration: 'ok',
            }),
            { timeoutMs: 30_000 },
          ),
        ) as { status: string };
        if (k === keys[2] && r.status !== 'committed')
          throw new Error(`expected committed, got ${r.status}`);
      }
    };
    for (let w = 0; w < 20; w++) await governed();
    const lat: number[] = [];
    for (let w = 0; w < 200; w++) {
      const t0 = performance.now();
      await governed();
      lat.push(performance.now() - t0);
    }
    console.log(
      `\ngoverned commit, 3 members, one client: p50 ${pct(lat, 50).toFixed(1)} ms, p99 ${pct(lat, 99).toFixed(1)} ms (target p99 < 50 ms)`,
    );
    const t0 = performance.now();
    let done = 0;
    const until = t0 + 5000;
    await Promise.all(
      Array.from({ length: 32 }, async () => {
        while (performance.now() < until) {
          await governed();
          done++;
        }
      }),
    );
    console.log(
      `32 concurrent proposers: ${(done / ((performance.now() - t0) / 1000)).toFixed(0)} proposals committed/s`,
    );
    await consensus.stop();
    await transactor.stop();
  } finally {
    await sql.unsafe(`drop schema if exists ${schema} cascade`);
    await sql.end({ timeout: 5 });
    await bus.close();
  }
}
