import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type TestPostgres, testPostgres } from '../../test/support/postgres.js';
import { insertChallenge, purgeChallenges, redeemChallenge } from './challenges.js';
import { connectPostgres } from './connection.js';
import { addMember, getMember, listMembers, removeMember, replaceMembers } from './members.js';
import { MIGRATIONS, migrate } from './migrations.js';
import { deletePool, getPool, listPools, upsertPool, watchPools } from './pools.js';

let pg: TestPostgres;
beforeAll(async () => {
  pg = await testPostgres('storage');
});
afterAll(async () => {
  await pg.drop();
});

const did = (n: number) => `did:key:z6Mk${'abcdefghij'[n]}${'x'.repeat(43)}`;
const key = () => new Uint8Array(randomBytes(32));

describe('migrations', () => {
  it('apply once, and concurrent runners all succeed with one of them applying', async () => {
    const reports = await Promise.all([migrate(pg.sql), migrate(pg.sql), migrate(pg.sql)]);
    const applied = reports.flatMap((r) => r.applied);
    expect(applied).toEqual(MIGRATIONS.map((m) => m.version));
    expect(reports.every((r) => r.current === MIGRATIONS.length)).toBe(true);
    expect((await migrate(pg.sql)).applied).toEqual([]);
  });

  it('refuse an applied migration whose text changed', async () => {
    const edited = MIGRATIONS.map((m) => (m.version === 1 ? { ...m, sql: `${m.sql} ` } : m));
    await expect(migrate(pg.sql, edited)).rejects.toMatchObject({
      code: 'storage/migration-changed',
    });
  });

  it('refuse a database migrated by a newer release', async () => {
    await expect(migrate(pg.sql, MIGRATIONS.slice(0, 0))).rejects.toMatchObject({
      code: 'storage/migration-unknown',
    });
  });

  it('roll back entirely when one migration fails', async () => {
    const broken = [
      ...MIGRATIONS,
      { version: 900, name: 'ok', sql: 'create table t900 (x int)' },
      { version: 901, name: 'bad', sql: 'create table t901 (x nosuchtype)' },
    ];
    await expect(migrate(pg.sql, broken)).rejects.toThrow(/nosuchtype/);
    const [row] = await pg.sql`select to_regclass('t900') as t`;
    expect(row?.t).toBeNull();
  });
});

describe('pools and members', () => {
  beforeAll(async () => {
    await migrate(pg.sql);
  });

  it('create, update, list and delete pools', async () => {
    const a = await upsertPool(pg.sql, 'alpha', { quorum: '2/3' });
    expect(a.policy).toEqual({ quorum: '2/3' });
    const again = await upsertPool(pg.sql, 'alpha', { quorum: '3/4' });
    expect(again.createdAt).toEqual(a.createdAt);
    expect((await getPool(pg.sql, 'alpha'))?.policy).toEqual({ quorum: '3/4' });
    await upsertPool(pg.sql, 'beta');
    expect((await listPools(pg.sql)).map((p) => p.pool)).toEqual(['alpha', 'beta']);
    expect(await deletePool(pg.sql, 'beta')).toBe(true);
    expect(await deletePool(pg.sql, 'beta')).toBe(false);
    expect(await getPool(pg.sql, 'beta')).toBeUndefined();
  });

  it('reject bad pool names before touching the database', async () => {
    for (const bad of ['', 'A', '-a', 'a-', 'a.b', 'a_b', 'x'.repeat(64)]) {
      await expect(upsertPool(pg.sql, bad)).rejects.toMatchObject({
        code: 'storage/bad-pool-name',
      });
    }
  });

  it('add, read, replace and remove members', async () => {
    await upsertPool(pg.sql, 'members');
    const k0 = key();
    await addMember(pg.sql, 'members', { did: did(0), publicKey: k0 });
    await addMember(pg.sql, 'members', { did: did(1), publicKey: key(), role: 'observer' });
    const m0 = await getMember(pg.sql, 'members', did(0));
    expect(m0?.publicKey).toEqual(k0);
    expect(m0?.role).toBe('member');
    expect(await getMember(pg.sql, 'members', did(2))).toBeUndefined();
    const change = await replaceMembers(pg.sql, 'members', [
      { did: did(1), publicKey: key() },
      { did: did(2), publicKey: key() },
    ]);
    expect(change).toEqual({ added: [did(2)], removed: [did(0)] });
    expect((await listMembers(pg.sql, 'members')).map((m) => [m.did, m.role])).toEqual([
      [did(1), 'member'],
      [did(2), 'member'],
    ]);
    expect(await removeMember(pg.sql, 'members', did(1))).toBe(true);
  });

  it('refuse a member of a missing pool, a bad key or a bad DID', async () => {
    await expect(
      addMember(pg.sql, 'nope', { did: did(0), publicKey: key() }),
    ).rejects.toMatchObject({
      code: 'storage/no-such-pool',
    });
    await upsertPool(pg.sql, 'checks');
    await expect(
      addMember(pg.sql, 'checks', { did: did(0), publicKey: new Uint8Array(31) }),
    ).rejects.toThrow(/check/);
    await expect(addMember(pg.sql, 'checks', { did: 'alice', publicKey: key() })).rejects.toThrow(
      /check/,
    );
  });

  it('deleting a pool deletes its members', async () => {
    await upsertPool(pg.sql, 'gone');
    await addMember(pg.sql, 'gone', { did: did(3), publicKey: key() });
    await deletePool(pg.sql, 'gone');
    expect(await listMembers(pg.sql, 'gone')).toEqual([]);
  });
});

describe('watching pools', () => {
  it("hands over existing pools, then a new one as soon as it is created, not other schemas'", async () => {
    await migrate(pg.sql);
    await upsertPool(pg.sql, 'watched-before');
    const other = await testPostgres('storage_other');
    await migrate(other.sql);
    const seen: string[] = [];
    // A re-read only every hour: what arrives in time came by notification.
    const stop = await watchPools(pg.sql, (p) => void seen.push(p), { everyMs: 3_600_000 });
    try {
      expect(seen).toContain('watched-before');
      const created = performance.now();
      await upsertPool(other.sql, 'elsewhere');
      await upsertPool(pg.sql, 'watched-after');
      await upsertPool(pg.sql, 'watched-after', { ttlMs: 1 }); // an update is not a creation
      await expect.poll(() => seen.includes('watched-after'), { timeout: 2000 }).toBe(true);
      expect(performance.now() - created).toBeLessThan(2000);
      expect(seen).not.toContain('elsewhere');
      expect(seen.filter((p) => p === 'watched-after')).toHaveLength(1);
    } finally {
      await stop();
      await other.drop();
    }
  });

  it('tries a pool whose handler failed again on the next re-read', async () => {
    await upsertPool(pg.sql, 'watched-flaky');
    let calls = 0;
    const errors: unknown[] = [];
    const stop = await watchPools(
      pg.sql,
      (p) => {
        if (p !== 'watched-flaky') return;
        calls++;
        if (calls === 1) throw new Error('not yet');
      },
      { everyMs: 50, onError: (e) => errors.push(e) },
    );
    try {
      await expect.poll(() => calls, { timeout: 2000 }).toBe(2);
      expect(errors.map(String)).toEqual(['Error: not yet']);
      await new Promise((r) => setTimeout(r, 200));
      expect(calls).toBe(2);
    } finally {
      await stop();
    }
  });
});

describe('connection', () => {
  it('says where it failed and what to check when Postgres is unreachable', async () => {
    await expect(
      connectPostgres({ url: 'postgres://postgres:secret@127.0.0.1:1/none', connectTimeout: 2 }),
    ).rejects.toThrow(
      /Cannot reach Postgres at postgres:\/\/postgres:\*\*\*@127\.0\.0\.1:1\/none.*DATABASE_URL/,
    );
  });

  it('refuses a schema name that could inject SQL', async () => {
    await expect(connectPostgres({ url: pg.url, schema: 'x; drop table y' })).rejects.toMatchObject(
      {
        code: 'storage/bad-schema',
      },
    );
  });
});

describe('auth challenges', () => {
  const challenge = (expiresInMs: number) => ({
    nonce: new Uint8Array(randomBytes(32)),
    pool: 'auth',
    did: did(1),
    serverDid: did(2),
    expiresAt: new Date(Date.now() + expiresInMs),
  });

  it('redeem a nonce once, and say why a second redemption fails', async () => {
    await migrate(pg.sql);
    await upsertPool(pg.sql, 'auth');
    const c = challenge(60_000);
    await insertChallenge(pg.sql, c);
    const first = await redeemChallenge(pg.sql, c.nonce);
    expect(first).toMatchObject({ ok: true, challenge: { pool: 'auth', did: did(1) } });
    if (first.ok) expect(first.challenge.nonce).toEqual(c.nonce);
    expect(await redeemChallenge(pg.sql, c.nonce)).toEqual({ ok: false, why: 'used' });
    expect(await redeemChallenge(pg.sql, new Uint8Array(32))).toEqual({
      ok: false,
      why: 'unknown',
    });
  });

  it('refuse an expired nonce, and let only one of many concurrent redemptions win', async () => {
    const old = challenge(-1000);
    await insertChallenge(pg.sql, old);
    expect(await redeemChallenge(pg.sql, old.nonce)).toEqual({ ok: false, why: 'expired' });
    const c = challenge(60_000);
    await insertChallenge(pg.sql, c);
    const outcomes = await Promise.all(
      Array.from({ length: 8 }, () => redeemChallenge(pg.sql, c.nonce)),
    );
    expect(outcomes.filter((o) => o.ok)).toHaveLength(1);
    expect(await purgeChallenges(pg.sql, new Date())).toBeGreaterThanOrEqual(1);
    expect(await redeemChallenge(pg.sql, old.nonce)).toEqual({ ok: false, why: 'unknown' });
  });
});
