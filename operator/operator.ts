/**
 * The operator: while it holds the lease, informers on Pools and on the transactor
 * Deployments feed a work queue keyed by namespace/name; each key is reconciled
 * (reconcile.ts) one at a time, requeued with backoff on failure and after a while on
 * success. A Deployment event queues its Pool, so a deleted Deployment comes back.
 */
import type { KubeConfig, V1Deployment } from '@kubernetes/client-node';
import type { Bus } from '../libs/bus/index.js';
import type { Sql } from '../libs/storage/index.js';
import { ResilientInformer } from './informer.js';
import { Kube } from './kube.js';
import { LeaderElector } from './leader.js';
import { type OperatorMetrics, operatorMetrics } from './metrics.js';
import {
  FIELD_MANAGER,
  GROUP,
  PLURAL,
  type PoolResource,
  type TransactorImage,
  VERSION,
} from './pool.js';
import { WorkQueue } from './queue.js';
import { reconcilePool } from './reconcile.js';

export interface OperatorOptions {
  config: KubeConfig;
  sql: Sql;
  bus: Bus;
  /** Watched namespace; '' for every namespace. */
  namespace: string;
  /** Where the lease lives. */
  leaseNamespace: string;
  leaseName: string;
  identity: string;
  transactor: TransactorImage;
  leaseSeconds?: number;
  renewMs?: number;
  log?: (msg: string) => void;
}

const CONTROLLER = 'pool';

export class Operator {
  readonly kube: Kube;
  readonly metrics: OperatorMetrics;
  private readonly queue: WorkQueue;
  private readonly elector: LeaderElector;
  private informers: { stop(): Promise<void> }[] = [];

  constructor(private readonly o: OperatorOptions) {
    this.kube = new Kube(o.config);
    this.queue = new WorkQueue(
      (key) => this.reconcile(key),
      { concurrency: 2 },
      (key, e) => o.log?.(`reconcile ${key} failed: ${(e as Error).message}; retrying`),
    );
    this.metrics = operatorMetrics(() => this.queue.depth);
    this.elector = new LeaderElector(this.kube, {
      namespace: o.leaseNamespace,
      name: o.leaseName,
      identity: o.identity,
      ...(o.leaseSeconds === undefined ? {} : { leaseSeconds: o.leaseSeconds }),
      ...(o.renewMs === undefined ? {} : { renewMs: o.renewMs }),
      onStarted: () => {
        this.metrics.leader.set({ name: o.leaseName }, 1);
        void this.lead().catch((e: unknown) => o.log?.(`could not start: ${(e as Error).message}`));
      },
      onStopped: () => {
        this.metrics.leader.set({ name: o.leaseName }, 0);
        void this.follow();
      },
      ...(o.log === undefined ? {} : { log: o.log }),
    });
  }

  get isLeader(): boolean {
    return this.elector.isLeader;
  }

  start(): void {
    this.elector.start();
  }

  private enqueue(key: string): void {
    this.metrics.adds.inc({ name: CONTROLLER });
    this.queue.add(key);
  }

  private async lead(): Promise<void> {
    const { namespace } = this.o;
    const ns = namespace === '' ? '' : `/namespaces/${namespace}`;
    const pools = new ResilientInformer<PoolResource>(this.o.config, {
      path: `/apis/${GROUP}/${VERSION}${ns}/${PLURAL}`,
      list: () => this.kube.listPools(namespace) as never,
      onObject: (p) => this.enqueue(`${p.metadata.namespace}/${p.metadata.name}`),
      ...(this.o.log === undefined ? {} : { log: this.o.log }),
    });
    const deployments = new ResilientInformer<V1Deployment>(this.o.config, {
      path: `/apis/apps/v1${ns}/deployments`,
      labelSelector: `app.kubernetes.io/managed-by=${FIELD_MANAGER}`,
      list: () =>
        (namespace === ''
          ? this.kube.apps.listDeploymentForAllNamespaces({
              labelSelector: `app.kubernetes.io/managed-by=${FIELD_MANAGER}`,
            })
          : this.kube.apps.listNamespacedDeployment({
              namespace,
              labelSelector: `app.kubernetes.io/managed-by=${FIELD_MANAGER}`,
            })) as never,
      onObject: (d) => {
        const pool = d.metadata?.labels?.['app.kubernetes.io/instance'];
        if (pool !== undefined) this.enqueue(`${d.metadata!.namespace}/${pool}`);
      },
      ...(this.o.log === undefined ? {} : { log: this.o.log }),
    });
    this.informers = [pools, deployments];
    await pools.start();
    await deployments.start();
  }

  private async follow(): Promise<void> {
    const informers = this.informers;
    this.informers = [];
    for (const i of informers) await i.stop();
  }

  private async reconcile(key: string): Promise<void> {
    if (!this.elector.isLeader) return;
    const [namespace, name] = key.split('/') as [string, string];
    const end = this.metrics.duration.startTimer({ controller: CONTROLLER });
    try {
      const p = await this.kube.getPool(namespace, name);
      if (p === undefined) {
        this.queue.forget(key);
        this.metrics.reconciles.inc({ controller: CONTROLLER, result: 'success' });
        return;
      }
      const r = await reconcilePool(
        {
          kube: this.kube,
          sql: this.o.sql,
          bus: this.o.bus,
          transactor: this.o.transactor,
          ...(this.o.log === undefined ? {} : { log: this.o.log }),
        },
        p,
      );
      if (r.requeueAfterMs !== undefined) this.queue.addAfter(key, r.requeueAfterMs);
      this.metrics.reconciles.inc({
        controller: CONTROLLER,
        result: r.requeueAfterMs === undefined ? 'success' : 'requeue_after',
      });
    } catch (e) {
      this.metrics.reconciles.inc({ controller: CONTROLLER, result: 'error' });
      this.metrics.errors.inc({ controller: CONTROLLER });
      throw e;
    } finally {
      end();
    }
  }

  /** Work done so far (tests wait on it). */
  drained(): Promise<void> {
    return this.queue.drained();
  }

  async stop(): Promise<void> {
    await this.elector.stop();
    await this.follow();
    this.queue.stop();
  }
}
