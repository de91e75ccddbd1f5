import http from 'node:http';
import https from 'node:https';
/**
 * The Kubernetes calls the operator makes, through @kubernetes/client-node 1.x: Pools and
 * their status (server-side apply with the operator's field manager), the transactor
 * Deployments, Events, and Leases.
 */
import {
  AppsV1Api as Apps,
  type AppsV1Api,
  CoordinationV1Api as Coordination,
  type CoordinationV1Api,
  CoreV1Api as Core,
  type CoreV1Api,
  CustomObjectsApi as Custom,
  type CustomObjectsApi,
  type KubeConfig,
  PatchStrategy,
  setHeaderOptions,
  type V1Deployment,
} from '@kubernetes/client-node';
import {
  FIELD_MANAGER,
  GROUP,
  KIND,
  PLURAL,
  type PoolResource,
  type PoolStatus,
  VERSION,
} from './pool.js';

const apply = setHeaderOptions('Content-Type', PatchStrategy.ServerSideApply);
const merge = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

/** The HTTP status of a client-node error (its ApiException has `code`). */
export function statusOf(e: unknown): number | undefined {
  const c =
    (e as { code?: unknown; statusCode?: unknown }).code ??
    (e as { statusCode?: unknown }).statusCode;
  return typeof c === 'number' ? c : undefined;
}

export class Kube {
  readonly custom: CustomObjectsApi;
  readonly apps: AppsV1Api;
  readonly core: CoreV1Api;
  readonly coordination: CoordinationV1Api;

  constructor(readonly config: KubeConfig) {
    this.custom = config.makeApiClient(Custom);
    this.apps = config.makeApiClient(Apps);
    this.core = config.makeApiClient(Core);
    this.coordination = config.makeApiClient(Coordination);
  }

  async listPools(
    namespace: string,
  ): Promise<{ items: PoolResource[]; metadata?: { resourceVersion?: string } }> {
    const base = { group: GROUP, version: VERSION, plural: PLURAL };
    return namespace === ''
      ? this.custom.listClusterCustomObject(base)
      : this.custom.listNamespacedCustomObject({ ...base, namespace });
  }

  async getPool(namespace: string, name: string): Promise<PoolResource | undefined> {
    try {
      return (await this.custom.getNamespacedCustomObject({
        group: GROUP,
        version: VERSION,
        plural: PLURAL,
        namespace,
        name,
      })) as PoolResource;
    } catch (e) {
      if (statusOf(e) === 404) return undefined;
      throw e;
    }
  }

  /** Server-side applies the operator's part of the status. */
  async applyStatus(p: PoolResource, status: PoolStatus): Promise<void> {
    await this.custom.patchNamespacedCustomObjectStatus(
      {
        group: GROUP,
        version: VERSION,
        plural: PLURAL,
        namespace: p.metadata.namespace,
        name: p.metadata.name,
        body: {
          apiVersion: `${GROUP}/${VERSION}`,
          kind: KIND,
          metadata: { name: p.metadata.name },
          status,
        },
        fieldManager: FIELD_MANAGER,
        force: true,
      },
      apply,
    );
  }

  /** Sets the finalizers (a merge patch guarded by resourceVersion: a stale view fails with 409). */
  async setFinalizers(p: PoolResource, finalizers: string[]): Promise<void> {
    await this.custom.patchNamespacedCustomObject(
      {
        group: GROUP,
        version: VERSION,
        plural: PLURAL,
        namespace: p.metadata.namespace,
        name: p.metadata.name,
        body: { metadata: { finalizers, resourceVersion: p.metadata.resourceVersion } },
      },
      merge,
    );
  }

  async applyDeployment(d: ReturnType<typeof Object>): Promise<V1Deployment> {
    const body = d as unknown as V1Deployment;
    return this.apps.patchNamespacedDeployment(
      {
        name: body.metadata!.name!,
        namespace: body.metadata!.namespace!,
        body,
        fieldManager: FIELD_MANAGER,
        force: true,
      },
      apply,
    );
  }

  async getDeployment(namespace: string, name: string): Promise<V1Deployment | undefined> {
    try {
      return await this.apps.readNamespacedDeployment({ namespace, name });
    } catch (e) {
      if (statusOf(e) === 404) return undefined;
      throw e;
    }
  }

  /** An Event on the Pool (best effort: an Event that cannot be written changes nothing). */
  async event(
    p: PoolResource,
    type: 'Normal' | 'Warning',
    reason: string,
    message: string,
  ): Promise<void> {
    const now = new Date();
    await this.core
      .createNamespacedEvent({
        namespace: p.metadata.namespace,
        body: {
          metadata: { generateName: `${p.metadata.name}.`, namespace: p.metadata.namespace },
          involvedObject: {
            apiVersion: `${GROUP}/${VERSION}`,
            kind: KIND,
            name: p.metadata.name,
            namespace: p.metadata.namespace,
            uid: p.metadata.uid,
          },
          type,
          reason,
          message,
          firstTimestamp: now,
          lastTimestamp: now,
          count: 1,
          source: { component: FIELD_MANAGER },
        },
      })
      .catch(() => {});
  }

  /**
   * A raw JSON request to the API server. Leases go this way: their MicroTime fields need
   * six fractional digits, and client-node's serializer writes Dates with three.
   */
  async request<T>(
    method: string,
    path: string,
    body?: unknown,
  ): Promise<{ status: number; body: T }> {
    const cluster = this.config.getCurrentCluster();
    if (cluster === null) throw new Error('the kubeconfig names no cluster');
    const url = new URL(path, cluster.server);
    const opts: https.RequestOptions = {
      method,
      hostname: url.hostname,
      port: url.port,
      path: `${url.pathname}${url.search}`,
      headers: { 'content-type': 'application/json', accept: 'application/json' },
    };
    await this.config.applyToHTTPSOptions(opts);
    const send = url.protocol === 'https:' ? https.request : http.request;
    return new Promise((resolve, reject) => {
      const req = send(opts, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          try {
            resolve({
              status: res.statusCode ?? 0,
              body: (text === '' ? undefined : JSON.parse(text)) as T,
            });
          } catch (e) {
            reject(e);
          }
        });
      });
      req.on('error', reject);
      req.setTimeout(10_000, () => req.destroy(new Error(`${method} ${path}: no answer in 10 s`)));
      req.end(body === undefined ? undefined : JSON.stringify(body));
    });
  }
}
