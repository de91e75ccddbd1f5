import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type TestPostgres, testPostgres } from '../../test/support/postgres.js';
import {
  appendTxBatch,
  findByProposal,
  getRoot,
  type NewLogEntry,
  readLog,
  verifyChain,
} from './log.js';
import { migrate } from './migrations.js';
import { upsertPool } from './pools.js';
import {
  advanceIndexRoot,
  currentIndexRoot,
  deleteSegments,
  getSegments,
  listIndexRoots,
  pruneIndexRoots,
  putSegments,
} from './segments.js';

let pg: TestPostgres;
beforeAll(async () => {
  pg = await testPostgres('log');
  await migrate(pg.sql);
});
afterAll(async () => {
  await pg.drop();
});

const entry = (t: number): NewLogEntry => ({
  t,
  txEid: 536870912 + t,
  maxEid: 100 + t,
  instant: new Date(1_700_000_000_000 + t),
  proposal: `bafy-proposal-${t}-${randomBytes(3).toString('hex')}`,
  certificate: new Uint8Array(randomBytes(40)),
  datoms: new Uint8Array(randomBytes(20)),
});

describe('the tx log', () => {
  it('appends batches as one hash chain and advances the root', async () => {
    await upsertPool(pg.sql, 'chain');
    const first = await appendTxBatch(pg.sql, 'chain', 0, null, [entry(1), entry(2), entry(3)]);
    const second = await appendTxBatch(pg.sql, 'chain', 3, first[2]!.hash, [entry(4)]);
    const root = await getRoot(pg.sql, 'chain');
    expect(root).toMatchObject({ basisT: 4, indexT: 0, indexRoot: null });
    expect(root!.headHash).toEqual(second[0]!.hash);
    const log = await readLog(pg.sql, 'chain', 0);
    expect(log.map((e) => e.t)).toEqual([1, 2, 3, 4]);
    expect(() => verifyChain('chain', log)).not.toThrow();
    expect(() => verifyChain('chain', log.slice(2), log[1]!.hash, 2)).not.toThrow();
    expect(await findByProposal(pg.sql, 'chain', log[1]!.proposal)).toMatchObject({ t: 2 });
  });

  it('detects a changed, dropped or reordered entry', async () => {
    const log = await readLog(pg.sql, 'chain', 0);
    const changed = log.map((e, i) => (i === 1 ? { ...e, datoms: new Uint8Array([1, 2, 3]) } : e));
    expect(() => verifyChain('chain', changed)).toThrow(/broken at t 2: its hash/);
    expect(() => verifyChain('chain', [log[0]!, log[2]!])).toThrow(/broken at t 3: expected t 2/);
    expect(() => verifyChain('other', log)).toThrow(/broken at t 1/);
  });

  it('fences a writer whose basis moved, and commits each proposal once', async () => {
    await upsertPool(pg.sql, 'fence');
    const a = appendTxBatch(pg.sql, 'fence', 0, null, [entry(1)]);
    const b = appendTxBatch(pg.sql, 'fence', 0, null, [entry(1)]);
    const outcomes = await Promise.allSettled([a, b]);
    expect(outcomes.filter((o) => o.status === 'fulfilled')).toHaveLength(1);
    const lost = outcomes.find((o) => o.status === 'rejected') as PromiseRejectedResult;
    expect(lost.reason).toMatchObject({ code: 'storage/basis-moved' });
    const [stored] = await readLog(pg.sql, 'fence', 0);
    const again = { ...entry(2), proposal: stored!.proposal };
    await expect(appendTxBatch(pg.sql, 'fence', 1, stored!.hash, [again])).rejects.toMatchObject({
      code: 'storage/duplicate-proposal',
    });
    expect((await getRoot(pg.sql, 'fence'))!.basisT).toBe(1); // nothing of the failed batch
  });
});

describe('segments and index roots', () => {
  const seg = (s: string) => {
    const bytes = new TextEncoder().encode(s);
    return [createHash('sha256').update(bytes).digest('hex'), bytes] as const;
  };

  it('stores segments once and reads back what exists', async () => {
    const [h1, b1] = seg('one');
    const [h2, b2] = seg('two');
    await putSegments(pg.sql, new Map([[h1, b1]]));
    await putSegments(
      pg.sql,
      new Map([
        [h1, b1],
        [h2, b2],
      ]),
    );
    const got = await getSegments(pg.sql, [h1, h2, 'f'.repeat(64)]);
    expect([...got.keys()].sort()).toEqual([h1, h2].sort());
    expect(got.get(h2)).toEqual(b2);
    expect(await deleteSegments(pg.sql, [h2])).toBe(1);
    expect((await getSegments(pg.sql, [h2])).size).toBe(0);
  });

  it('advances the index root only from the t it was at', async () => {
    await upsertPool(pg.sql, 'roots');
    const root = (t: number) => ({ t, rootHash: seg(`root-${t}`)[0], root: new Uint8Array([t]) });
    await advanceIndexRoot(pg.sql, 'roots', 0, root(5));
    await expect(advanceIndexRoot(pg.sql, 'roots', 0, root(6))).rejects.toMatchObject({
      code: 'storage/root-moved',
    });
    await advanceIndexRoot(pg.sql, 'roots', 5, root(9));
    expect(await currentIndexRoot(pg.sql, 'roots')).toMatchObject({ t: 9 });
    expect((await listIndexRoots(pg.sql, 'roots')).map((r) => r.t)).toEqual([9, 5]);
    expect(await pruneIndexRoots(pg.sql, 'roots', 1)).toBe(1);
    expect((await listIndexRoots(pg.sql, 'roots')).map((r) => r.t)).toEqual([9]);
  });
});
