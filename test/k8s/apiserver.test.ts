/**
 * Smoke test of the real API server used by the operator's tests: a CRD with a structural
 * schema and the status subresource, a custom resource's whole life, RBAC in force, the
 * kubeconfig usable by @kubernetes/client-node, and no processes left after `stop()`.
 * Skipped unless `test/k8s/build-apiserver.sh` has run on this machine.
 *
 * TLS stays verified: requests go through `server.request()` (node:https pinned to the
 * throwaway CA), not the global `fetch`, which cannot take a CA per request in Node 20.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { promisify } from 'node:util';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiServerAvailable, startApiServer, type TestApiServer } from './apiserver.js';

const execFileP = promisify(execFile);

const GROUP = 'test.diagon.dev';
const CRD_NAME = `widgets.${GROUP}`;
const WIDGETS = `/apis/${GROUP}/v1/namespaces/default/widgets`;

interface Condition {
  type: string;
  status: string;
}
interface Widget {
  apiVersion: string;
  kind: string;
  metadata: { name: string; resourceVersion?: string; generation?: number; uid?: string };
  spec: { size: number; color?: string };
  status?: { phase?: string; observedGeneration?: number };
}

const widgetCrd = {
  apiVersion: 'apiextensions.k8s.io/v1',
  kind: 'CustomResourceDefinition',
  metadata: { name: CRD_NAME },
  spec: {
    group: GROUP,
    scope: 'Namespaced',
    names: { plural: 'widgets', singular: 'widget', kind: 'Widget', listKind: 'WidgetList' },
    versions: [
      {
        name: 'v1',
        served: true,
        storage: true,
        subresources: { status: {} },
        schema: {
          openAPIV3Schema: {
            type: 'object',
            properties: {
              spec: {
                type: 'object',
                required: ['size'],
                properties: {
                  size: { type: 'integer', minimum: 1 },
                  color: { type: 'string' },
                },
              },
              status: {
                type: 'object',
                properties: {
                  phase: { type: 'string' },
                  observedGeneration: { type: 'integer' },
                },
              },
            },
          },
        },
      },
    ],
  },
};

/** pids of processes whose command line mentions `dir` (etcd and kube-apiserver do). */
async function processesUsing(dir: string): Promise<string[]> {
  try {
    const { stdout } = await execFileP('pgrep', ['-f', dir]);
    return stdout.trim().split('\n').filter(Boolean);
  } catch (err) {
    if ((err as { code?: number }).code === 1) return []; // pgrep: nothing matched
    throw err;
  }
}

describe.skipIf(!apiServerAvailable())('real kube-apiserver', () => {
  let server: TestApiServer;

  beforeAll(async () => {
    server = await startApiServer();
  }, 120_000);

  afterAll(async () => {
    await server?.stop();
  }, 60_000);

  it('is ready and reports version 1.20', async () => {
    const version = await server.request<{ major: string; minor: string; gitVersion: string }>(
      'GET',
      '/version',
    );
    expect(version.status).toBe(200);
    expect(version.body.major).toBe('1');
    expect(version.body.minor).toBe('20');
    expect((await server.request('GET', '/readyz')).status).toBe(200);
  });

  it('rejects requests without the token', async () => {
    const res = await server.request('GET', '/api/v1/namespaces', undefined, {
      headers: { Authorization: '' },
    });
    expect(res.status).toBe(401);
  });

  it('serves a CRD with a status subresource through a Widget’s whole life', async () => {
    const created = await server.request(
      'POST',
      '/apis/apiextensions.k8s.io/v1/customresourcedefinitions',
      widgetCrd,
    );
    expect(created.status).toBe(201);

    // Established
    const deadline = Date.now() + 30_000;
    for (;;) {
      const crd = await server.request<{ status?: { conditions?: Condition[] } }>(
        'GET',
        `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${CRD_NAME}`,
      );
      const conds = crd.body.status?.conditions ?? [];
      if (conds.some((c) => c.type === 'Established' && c.status === 'True')) break;
      if (Date.now() > deadline) throw new Error(`CRD not Established: ${JSON.stringify(conds)}`);
      await new Promise((r) => setTimeout(r, 200));
    }

    // create (the new resource's handler can lag Established by a moment: retry 404)
    const widget: Widget = {
      apiVersion: `${GROUP}/v1`,
      kind: 'Widget',
      metadata: { name: 'w1' },
      spec: { size: 3 },
    };
    let post = await server.request<Widget>('POST', WIDGETS, widget);
    for (let i = 0; post.status === 404 && i < 50; i++) {
      await new Promise((r) => setTimeout(r, 200));
      post = await server.request<Widget>('POST', WIDGETS, widget);
    }
    expect(post.status).toBe(201);
    expect(post.body.metadata.generation).toBe(1);

    // the structural schema is enforced
    const bad = await server.request<{ reason: string }>('POST', WIDGETS, {
      ...widget,
      metadata: { name: 'w2' },
      spec: { size: 'big' },
    });
    expect(bad.status).toBe(422);
    expect(bad.body.reason).toBe('Invalid');

    // status through /status: status changes, spec changes there are ignored
    const withStatus: Widget = {
      ...post.body,
      spec: { size: 99 },
      status: { phase: 'Ready', observedGeneration: 1 },
    };
    const put = await server.request<Widget>('PUT', `${WIDGETS}/w1/status`, withStatus);
    expect(put.status).toBe(200);
    expect(put.body.status).toEqual({ phase: 'Ready', observedGeneration: 1 });
    expect(put.body.spec.size).toBe(3);
    expect(put.body.metadata.generation).toBe(1);

    // and a merge patch of /status
    const patch = await server.request<Widget>(
      'PATCH',
      `${WIDGETS}/w1/status`,
      { status: { phase: 'Degraded' } },
      { contentType: 'application/merge-patch+json' },
    );
    expect(patch.status).toBe(200);
    expect(patch.body.status?.phase).toBe('Degraded');

    // spec update bumps generation, keeps status
    const spec = await server.request<Widget>(
      'PATCH',
      `${WIDGETS}/w1`,
      { spec: { color: 'blue' } },
      { contentType: 'application/merge-patch+json' },
    );
    expect(spec.status).toBe(200);
    expect(spec.body.metadata.generation).toBe(2);
    expect(spec.body.status?.phase).toBe('Degraded');

    // delete
    const del = await server.request('DELETE', `${WIDGETS}/w1`);
    expect(del.status).toBe(200);
    expect((await server.request('GET', `${WIDGETS}/w1`)).status).toBe(404);
  });

  it('enforces RBAC (an unbound ServiceAccount may not list widgets)', async () => {
    const res = await server.request<{ reason: string }>('GET', WIDGETS, undefined, {
      headers: { 'Impersonate-User': 'system:serviceaccount:default:nobody' },
    });
    expect(res.status).toBe(403);
    expect(res.body.reason).toBe('Forbidden');
  });

  it('writes a kubeconfig that @kubernetes/client-node can use (TLS verified)', async () => {
    const kc = new KubeConfig();
    kc.loadFromFile(server.kubeconfigPath);
    expect(kc.getCurrentCluster()?.server).toBe(server.url);
    expect(kc.getCurrentCluster()?.skipTLSVerify).toBeFalsy();
    const core = kc.makeApiClient(CoreV1Api);
    const namespaces = await core.listNamespace();
    expect(namespaces.items.map((n) => n.metadata?.name)).toContain('default');
  });

  it('stops cleanly: no processes and no temp dir left', async () => {
    const dir = server.dir;
    expect(await processesUsing(dir)).toHaveLength(2); // etcd + kube-apiserver
    await server.stop();
    expect(await processesUsing(dir)).toEqual([]);
    expect(existsSync(dir)).toBe(false);
  }, 60_000);
});
