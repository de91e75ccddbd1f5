/**
 * The operator against a real kube-apiserver (test/k8s/apiserver.ts), real Postgres and
 * real NATS: create, update, status, finalizer and both deletion policies, drift repair (a
 * deleted Deployment comes back), pause, relisting, and leader election between two
 * operators. There is no controller manager, so the test plays it where needed (a
 * Deployment's available replica). Skipped unless the API server is built on this machine.
 */
import { readFileSync } from 'node:fs';
import { KubeConfig, loadYaml } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KeyPair } from '../../libs/identity/index.js';
import { getPool, listMembers } from '../../libs/storage/index.js';
import { ResilientInformer } from '../../operator/informer.js';
import { Operator } from '../../operator/operator.js';
import type { PoolResource } from '../../operator/pool.js';
import { dashboardMetrics, families, samples, total } from '../support/metrics.js';
import { type TestNats, testNats } from '../support/nats.js';
import { type TestPostgres, testPostgres } from '../support/postgres.js';
import { apiServerAvailable, startApiServer, type TestApiServer } from './apiserver.js';

const NS = 'diagon-test';
const POOLS = `/apis/diagon.dev/v1alpha1/namespaces/${NS}/pools`;
const DEPLOYMENTS = `/apis/apps/v1/namespaces/${NS}/deployments`;
const keys = Array.from({ length: 4 }, () => KeyPair.generate());

async function until<T>(
  what: string,
  f: () => Promise<T | undefined | false>,
  ms = 20_000,
): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe.skipIf(!apiServerAvailable())('the Pool operator against a real API server', () => {
  let api: TestApiServer;
  let pg: TestPostgres;
  let nats: TestNats;
  let config: KubeConfig;
  const operators: Operator[] = [];
  const operator = (identity: string) => {
    const o = new Operator({
      config,
      sql: pg.sql,
      bus: nats.bus,
      namespace: NS,
      leaseNamespace: NS,
      leaseName: 'diagon-operator',
      identity,
      transactor: { image: 'diagon:test', env: [{ name: 'NATS_URL', value: 'nats://nats:4222' }] },
      leaseSeconds: 3,
      renewMs: 500,
    });
    operators.push(o);
    o.start();
    return o;
  };
  const getPoolCr = async (name: string) => {
    const r = await api.request<PoolResource>('GET', `${POOLS}/${name}`);
    return r.status === 200 ? r.body : undefined;
  };
  const condition = (p: PoolResource | undefined, type: string) =>
    p?.status?.conditions?.find((c) => c.type === type)?.status;

  beforeAll(async () => {
    api = await startApiServer();
    config = new KubeConfig();
    config.loadFromFile(api.kubeconfigPath);
    const crd = loadYaml(readFileSync('charts/diagon/files/crd-pools.yaml', 'utf8'));
    expect(
      (await api.request('POST', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions', crd))
        .status,
    ).toBe(201);
    await until('the CRD to be established', async () => {
      const r = await api.request<{ status?: { conditions?: { type: string; status: string }[] } }>(
        'GET',
        '/apis/apiextensions.k8s.io/v1/customresourcedefinitions/pools.diagon.dev',
      );
      return r.body.status?.conditions?.some(
        (c) => c.type === 'Established' && c.status === 'True',
      );
    });
    await api.request('POST', '/api/v1/namespaces', {
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: { name: NS },
    });
    pg = await testPostgres('k8s_operator', 8);
    const { migrate } = await import('../../libs/storage/index.js');
    await migrate(pg.sql);
    nats = await testNats();
  }, 120_000);
  afterAll(async () => {
    for (const o of operators) await o.stop();
    await nats?.close();
    await pg?.drop();
    await api?.stop();
  });

  it('creates, updates, reports status, repairs drift, pauses and deletes as the policy says', async () => {
    const a = operator('a');
    await until('a to lead', async () => a.isLeader);
    const created = await api.request('POST', POOLS, {
      apiVersion: 'diagon.dev/v1alpha1',
      kind: 'Pool',
      metadata: { name: 'p1' },
      spec: {
        members: keys.slice(0, 3).map((k) => ({ did: k.did })),
        governance: { proposalTTL: '1h' },
      },
    });
    expect(created.status).toBe(201);
    const p = await until('StorageReady', async () => {
      const x = await getPoolCr('p1');
      return condition(x, 'StorageReady') === 'True' && condition(x, 'StreamsReady') === 'True'
        ? x
        : undefined;
    });
    expect(p.metadata.finalizers).toContain('diagon.dev/finalizer');
    expect(p.status?.memberCount).toBe(3);
    expect(p.status?.basisT).toBe(0);
    expect(p.status?.observedGeneration).toBe(p.metadata.generation);
    expect(condition(p, 'TransactorReady')).toBe('False');
    expect((await listMembers(pg.sql, 'p1')).map((m) => m.did).sort()).toEqual(
      keys
        .slice(0, 3)
        .map((k) => k.did)
        .sort(),
    );
    expect((await getPool(pg.sql, 'p1'))?.policy).toMatchObject({
      ttlMs: 3_600_000,
      proposerVotes: true,
    });
    const dep = await until('the transactor Deployment', async () => {
      const r = await api.request<{
        metadata: { ownerReferences: { kind: string }[] };
        spec: unknown;
      }>('GET', `${DEPLOYMENTS}/diagon-transactor-p1`);
      return r.status === 200 ? r.body : undefined;
    });
    expect(dep.metadata.ownerReferences[0]!.kind).toBe('Pool');

    // Update: a fourth member and a threshold.
    const patched = await api.request(
      'PATCH',
      `${POOLS}/p1`,
      {
        spec: {
          members: keys.map((k) => ({ did: k.did })),
          governance: { threshold: { num: 3, den: 4 } },
        },
      },
      { contentType: 'application/merge-patch+json' },
    );
    expect(patched.status).toBe(200);
    await until(
      'four members in Postgres',
      async () => (await listMembers(pg.sql, 'p1')).length === 4,
    );
    expect((await getPool(pg.sql, 'p1'))?.policy).toMatchObject({ threshold: { num: 3, den: 4 } });

    // Playing the controller manager: the Deployment has an available replica → Ready.
    await api.request(
      'PATCH',
      `${DEPLOYMENTS}/diagon-transactor-p1/status`,
      { status: { replicas: 1, availableReplicas: 1, readyReplicas: 1 } },
      { contentType: 'application/merge-patch+json' },
    );
    const ready = await until('Ready', async () => {
      const x = await getPoolCr('p1');
      return condition(x, 'Ready') === 'True' ? x : undefined;
    });
    expect(ready.status?.phase).toBe('Ready');
    expect(ready.status?.memberCount).toBe(4);

    // Drift: a deleted Deployment comes back.
    expect((await api.request('DELETE', `${DEPLOYMENTS}/diagon-transactor-p1`)).status).toBe(200);
    await until(
      'the Deployment back',
      async () => (await api.request('GET', `${DEPLOYMENTS}/diagon-transactor-p1`)).status === 200,
    );

    // Paused: nothing is changed, and the status says so.
    await api.request(
      'PATCH',
      `${POOLS}/p1`,
      { spec: { paused: true } },
      { contentType: 'application/merge-patch+json' },
    );
    await until('Paused', async () => (await getPoolCr('p1'))?.status?.phase === 'Paused');
    await api.request('DELETE', `${DEPLOYMENTS}/diagon-transactor-p1`);
    await new Promise((r) => setTimeout(r, 1500));
    expect((await api.request('GET', `${DEPLOYMENTS}/diagon-transactor-p1`)).status).toBe(404);
    await api.request(
      'PATCH',
      `${POOLS}/p1`,
      { spec: { paused: false } },
      { contentType: 'application/merge-patch+json' },
    );
    await until(
      'the Deployment after unpausing',
      async () => (await api.request('GET', `${DEPLOYMENTS}/diagon-transactor-p1`)).status === 200,
    );

    // Deletion with Retain keeps the data; with Delete removes it.
    await api.request('DELETE', `${POOLS}/p1`);
    await until('p1 gone', async () => (await getPoolCr('p1')) === undefined);
    expect(await getPool(pg.sql, 'p1')).toBeDefined();
    await api.request('POST', POOLS, {
      apiVersion: 'diagon.dev/v1alpha1',
      kind: 'Pool',
      metadata: { name: 'p2' },
      spec: { members: [{ did: keys[0]!.did }], deletionPolicy: 'Delete' },
    });
    await until('p2 in Postgres', async () => (await getPool(pg.sql, 'p2')) !== undefined);
    await until('p2 has the finalizer', async () =>
      (await getPoolCr('p2'))?.metadata.finalizers?.includes('diagon.dev/finalizer'),
    );
    await api.request('DELETE', `${POOLS}/p2`);
    await until('p2 gone', async () => (await getPoolCr('p2')) === undefined);
    expect(await getPool(pg.sql, 'p2')).toBeUndefined();
  }, 120_000);

  it('counts its reconciles under the names the dashboard charts', async () => {
    const text = await operators[0]!.metrics.registry.metrics();
    const exported = families(text);
    const charted = [...dashboardMetrics()].filter((n) => !n.startsWith('diagon_'));
    expect(charted.length).toBeGreaterThanOrEqual(3);
    expect(charted.filter((n) => !exported.has(n))).toEqual([]);
    // The test above reconciled p1 and p2 many times, successfully.
    expect(
      total(samples(text), 'controller_runtime_reconcile_total', { result: 'success' }),
    ).toBeGreaterThan(3);
  });

  it('hands over to a second operator when the leader stops', async () => {
    const [a] = operators;
    const b = operator('b');
    await new Promise((r) => setTimeout(r, 1500));
    expect(a!.isLeader).toBe(true);
    expect(b.isLeader).toBe(false);
    await a!.stop();
    operators.shift();
    await until('b to lead', async () => b.isLeader, 10_000);
    await api.request('POST', POOLS, {
      apiVersion: 'diagon.dev/v1alpha1',
      kind: 'Pool',
      metadata: { name: 'p3' },
      spec: { members: [{ did: keys[1]!.did }] },
    });
    await until('p3 reconciled by b', async () => (await getPool(pg.sql, 'p3')) !== undefined);
    const lease = await api.request<{ spec: { holderIdentity: string; renewTime: string } }>(
      'GET',
      `/apis/coordination.k8s.io/v1/namespaces/${NS}/leases/diagon-operator`,
    );
    expect(lease.body.spec.holderIdentity).toBe('b');
    expect(lease.body.spec.renewTime).toMatch(/\.\d{6}Z$/);
  }, 60_000);

  it('relists when its watch goes quiet, handing every object over again', async () => {
    const seen: string[] = [];
    const inf = new ResilientInformer<PoolResource>(config, {
      path: POOLS,
      list: () => api.request('GET', POOLS).then((r) => r.body) as never,
      onObject: (p) => seen.push(p.metadata.name),
      staleMs: 500,
    });
    await inf.start();
    await until('a relist', async () => inf.restarts > 0, 10_000);
    await until(
      'p3 handed over twice',
      async () => seen.filter((n) => n === 'p3').length >= 2,
      10_000,
    );
    await inf.stop();
  }, 30_000);
});
