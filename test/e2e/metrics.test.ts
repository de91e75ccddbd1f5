/**
 * Every service process serves /healthz, /readyz and /metrics, and between them they export
 * every metric the chart's Grafana dashboard queries (the operator's are checked in
 * test/k8s/operator.test.ts, where it runs). The numbers follow what happened: a governed
 * commit, a transaction the transactor refuses, a duplicate vote, a proposal left open and
 * a query. Real processes (`diagon up`'s cluster), real NATS and Postgres.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { memberSessions, type TestCluster, testCluster } from '../support/cluster.js';
import { dashboardMetrics, families, type Sample, samples, total } from '../support/metrics.js';

// Fresh names: the tx stream on the shared test NATS deduplicates by pool and t.
const POOL = `metered-${randomBytes(3).toString('hex')}`;

describe('metrics across the cluster', () => {
  let tc: TestCluster;
  beforeAll(async () => {
    tc = await testCluster('e2e_metrics');
  }, 120_000);
  afterAll(async () => {
    await tc?.stop();
  });

  const scrape = async () => {
    const out = new Map<string, string>();
    for (const [name, url] of tc.cluster.ops) {
      const res = await fetch(`${url}/metrics`);
      expect(res.status, name).toBe(200);
      out.set(name, await res.text());
    }
    return out;
  };
  const all = (scrapes: Map<string, string>): Sample[] => [...scrapes.values()].flatMap(samples);

  it('serves health, readiness and metrics on every service', async () => {
    const { sessions } = await memberSessions(tc.cluster, POOL);
    expect([...tc.cluster.ops.keys()]).toEqual(
      expect.arrayContaining(['auth', 'consensus', 'indexer', `transactor/${POOL}`]),
    );
    for (const [name, url] of tc.cluster.ops) {
      expect((await fetch(`${url}/healthz`)).status, name).toBe(200);
      // capture is not ready without libpcap rights; it says why (test/capture.test.ts).
      if (name !== 'capture') expect((await fetch(`${url}/readyz`)).status, name).toBe(200);
    }
    const consensus = tc.cluster.ops.get('consensus')!;
    const missing = await fetch(`${consensus}/nothing`);
    expect(missing.status).toBe(404);
    expect(await missing.text()).toMatch(/try \/healthz, \/readyz or \/metrics/);
    expect(sessions).toHaveLength(3);
  }, 60_000);

  it('counts what happened, and exports every metric the dashboard charts', async () => {
    const [a, b, c] = (await memberSessions(tc.cluster, `${POOL}-2`)).sessions;
    const pool = `${POOL}-2`;
    const schema = await a!.propose('[{:db/ident :n :db/valueType :db.type/long}]');
    await b!.vote(schema.id, true, 'ok');
    expect((await c!.vote(schema.id, true, 'ok')).status).toBe('committed');
    await expect(b!.vote(schema.id, true, 'again')).rejects.toThrow(/votes are closed/);
    // Approved by quorum, refused by the transactor: :n holds longs.
    const bad = await a!.propose('[{:n "not a long"}]');
    await b!.vote(bad.id, true, 'ok');
    expect((await c!.vote(bad.id, true, 'ok')).status).toBe('failed');
    await a!.propose('[{:n 1}]'); // left open

    // The indexer folds asynchronously: wait until it reports the committed t.
    let scrapes = await scrape();
    const basisT = () => total(all(scrapes), 'diagon_tx_basis_t', { pool });
    for (let i = 0; i < 100; i++) {
      const indexed = total(all(scrapes), 'diagon_index_basis_t', { pool });
      if (basisT() > 0 && indexed === basisT()) break;
      await new Promise((r) => setTimeout(r, 100));
      scrapes = await scrape();
    }
    expect(total(all(scrapes), 'diagon_index_basis_t', { pool })).toBe(basisT());
    expect(await a!.q('[:find ?e :where [?e :db/ident :n]]')).toMatch(/\d/);
    scrapes = await scrape();
    const s = all(scrapes);
    expect(basisT()).toBeGreaterThan(0);

    const transactor = samples(scrapes.get(`transactor/${pool}`)!);
    expect(total(transactor, 'diagon_tx_committed_total')).toBe(1);
    expect(total(transactor, 'diagon_tx_batch_size_count')).toBe(1);
    expect(total(transactor, 'diagon_tx_duration_seconds_count')).toBe(1);
    const refused = transactor.filter((x) => x.name === 'diagon_tx_rejected_total');
    expect(refused).toHaveLength(1);
    expect(refused[0]!.labels.reason).toBe('db.error/wrong-type');
    expect(total(transactor, 'diagon_transactor_active')).toBe(1);

    expect(total(s, 'diagon_consensus_votes_total', { pool, result: 'yes' })).toBe(4);
    expect(total(s, 'diagon_consensus_votes_total', { pool, result: 'refused' })).toBe(1);
    expect(total(s, 'diagon_consensus_proposals_total', { pool, result: 'opened' })).toBe(3);
    expect(total(s, 'diagon_consensus_decisions_total', { pool, outcome: 'committed' })).toBe(1);
    expect(total(s, 'diagon_consensus_decisions_total', { pool, outcome: 'failed' })).toBe(1);
    expect(total(s, 'diagon_consensus_quorum_seconds_count', { pool })).toBe(2);
    expect(total(s, 'diagon_consensus_proposals_open', { pool })).toBe(1);
    expect(total(s, 'diagon_index_query_duration_seconds_count', { pool, outcome: 'ok' })).toBe(1);
    expect(
      total(s, 'diagon_auth_handshakes_total', { result: 'authenticated' }),
    ).toBeGreaterThanOrEqual(6);

    const exported = new Set([...scrapes.values()].flatMap((t) => [...families(t)]));
    const charted = [...dashboardMetrics()].filter((n) => n.startsWith('diagon_'));
    expect(charted.length).toBeGreaterThan(20);
    expect(charted.filter((n) => !exported.has(n))).toEqual([]);
  }, 90_000);
});
