/**
 * Each service of a running cluster (separate processes, real NATS and Postgres) killed
 * with SIGKILL in turn while governed commits go on: the supervisor restarts it, clients
 * retry, and in the end every commit a client was told about is in the log exactly once,
 * the log has no hole, and the exported pool verifies.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DiagonHttp } from '../../libs/client/index.js';
import { isDiagonError } from '../../libs/db/errors.js';
import { verifyExport } from '../../services/consensus/verify.js';
import { memberSessions, type TestCluster, testCluster } from '../support/cluster.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Retries `f` through a restart: unreachable, unavailable, timeouts. */
async function retrying<T>(f: () => Promise<T>, until: number): Promise<T> {
  for (;;) {
    try {
      return await f();
    } catch (e) {
      if (Date.now() > until) throw e;
      await sleep(200);
    }
  }
}

describe('a cluster whose services are killed in turn under load', () => {
  let tc: TestCluster;
  const pool = 'restarts';

  beforeAll(async () => {
    tc = await testCluster('e2e_restart');
  }, 120_000);
  afterAll(async () => {
    await tc?.stop();
  });

  it('loses nothing committed, duplicates nothing, and verifies', async () => {
    const { cluster } = tc;
    const url = cluster.httpUrl;
    const { keys } = await memberSessions(cluster, pool);
    const deadline = Date.now() + 150_000;
    const login = () =>
      Promise.all(
        keys.map((key) => retrying(() => DiagonHttp.login({ url, pool, key }), deadline)),
      );
    let [a, b, c] = await login();
    const committed = new Set<string>();
    const proposed = new Set<string>();
    /** Governs one transaction, retrying each step; answers once it is committed. */
    const govern = async (txData: string) => {
      const p = await retrying(() => a!.propose(txData), deadline);
      proposed.add(p.id);
      for (const voter of [b!, c!]) {
        await retrying(async () => {
          try {
            await voter.vote(p.id, true, 'restart test');
          } catch (e) {
            // A vote whose answer a restart lost: it stands (duplicate), or already decided it.
            if (
              !isDiagonError(e, 'consensus/duplicate-vote') &&
              !isDiagonError(e, 'consensus/closed')
            )
              throw e;
          }
        }, deadline);
      }
      for (;;) {
        const d = await retrying(() => a!.proposal(p.id), deadline);
        if (d.status === 'committed') break;
        if (d.status === 'failed' || d.status === 'rejected' || d.status === 'expired')
          throw new Error(`${p.id} ${d.status}: ${d.error ?? ''}`);
        if (Date.now() > deadline) throw new Error(`${p.id} still ${d.status}`);
        await sleep(100);
      }
      committed.add(p.id);
    };
    await govern('[{:db/ident :n :db/valueType :db.type/long :db/unique :db.unique/identity}]');
    let n = 0;
    let stop = false;
    const load = Promise.all(
      Array.from({ length: 3 }, async () => {
        while (!stop) await govern(`[{:n ${n++}}]`);
      }),
    );
    const sup = cluster.supervisor!;
    for (const name of [`transactor/${pool}`, 'consensus', 'indexer', 'auth']) {
      await sleep(1500);
      const pid = sup.pid(name);
      expect(pid, name).toBeDefined();
      process.kill(pid!, 'SIGKILL');
      for (let i = 0; i < 100 && (sup.pid(name) === undefined || sup.pid(name) === pid); i++)
        await sleep(100);
      expect(sup.pid(name), `${name} restarted`).not.toBe(pid);
    }
    await sleep(1500);
    stop = true;
    await load;
    [a, b, c] = await login();
    const log = await retrying(() => a!.log(), deadline);
    expect(log.map((e) => e.t)).toEqual(log.map((_, i) => i + 1));
    const inLog = log.map((e) => e.proposal);
    expect(new Set(inLog).size).toBe(inLog.length);
    for (const id of committed) expect(inLog, id).toContain(id);
    expect(committed.size).toBeGreaterThan(4);
    const x = await retrying(() => a!.exportPool(), deadline);
    expect(verifyExport(x).transactions).toBe(log.length);
  }, 180_000);
});
