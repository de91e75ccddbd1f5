/**
 * Leader election on a coordination.k8s.io/v1 Lease (client-node has none): acquire when
 * the lease is free or expired, renew every `renewMs`, and lose leadership when a renewal
 * fails past the lease duration. Writes are guarded by resourceVersion, so two candidates
 * cannot both win. MicroTime fields carry six fractional digits (see pool.ts microTime).
 */
import type { Kube } from './kube.js';
import { microTime } from './pool.js';

export interface LeaderOptions {
  namespace: string;
  name: string;
  identity: string;
  leaseSeconds?: number;
  renewMs?: number;
  onStarted(): void;
  onStopped(): void;
  log?: (msg: string) => void;
}

interface Lease {
  metadata: { name: string; namespace: string; resourceVersion?: string };
  spec: {
    holderIdentity?: string;
    leaseDurationSeconds?: number;
    acquireTime?: string;
    renewTime?: string;
    leaseTransitions?: number;
  };
}

export class LeaderElector {
  private timer: NodeJS.Timeout | null = null;
  private leading = false;
  private lastRenew = 0;
  private stopped = false;
  private readonly leaseSeconds: number;
  private readonly renewMs: number;

  constructor(
    private readonly kube: Kube,
    private readonly o: LeaderOptions,
  ) {
    this.leaseSeconds = o.leaseSeconds ?? 15;
    this.renewMs = o.renewMs ?? 5000;
  }

  get isLeader(): boolean {
    return this.leading;
  }

  start(): void {
    const loop = async () => {
      if (this.stopped) return;
      try {
        await this.tryAcquireOrRenew();
      } catch (e) {
        this.o.log?.(`lease: ${(e as Error).message}`);
        if (this.leading && Date.now() - this.lastRenew > this.leaseSeconds * 1000) this.lose();
      }
      if (!this.stopped)
        this.timer = setTimeout(loop, this.leading ? this.renewMs : this.renewMs / 2);
    };
    void loop();
  }

  private path(name?: string): string {
    const base = `/apis/coordination.k8s.io/v1/namespaces/${this.o.namespace}/leases`;
    return name === undefined ? base : `${base}/${name}`;
  }

  private async tryAcquireOrRenew(): Promise<void> {
    const now = new Date();
    const got = await this.kube.request<Lease>('GET', this.path(this.o.name));
    if (got.status === 404) {
      const created = await this.kube.request<Lease>('POST', this.path(), {
        apiVersion: 'coordination.k8s.io/v1',
        kind: 'Lease',
        metadata: { name: this.o.name, namespace: this.o.namespace },
        spec: {
          holderIdentity: this.o.identity,
          leaseDurationSeconds: this.leaseSeconds,
          acquireTime: microTime(now),
          renewTime: microTime(now),
          leaseTransitions: 0,
        },
      });
      if (created.status === 201) this.win();
      return;
    }
    if (got.status !== 200) throw new Error(`reading the lease: HTTP ${got.status}`);
    const lease = got.body;
    const holder = lease.spec.holderIdentity;
    const renewed = lease.spec.renewTime === undefined ? 0 : Date.parse(lease.spec.renewTime);
    const expired =
      renewed + (lease.spec.leaseDurationSeconds ?? this.leaseSeconds) * 1000 < now.getTime();
    if (holder !== this.o.identity && !expired) {
      if (this.leading) this.lose();
      return;
    }
    const mine = holder === this.o.identity;
    const put = await this.kube.request<Lease>('PUT', this.path(this.o.name), {
      ...lease,
      spec: {
        ...lease.spec,
        holderIdentity: this.o.identity,
        leaseDurationSeconds: this.leaseSeconds,
        renewTime: microTime(now),
        ...(mine
          ? {}
          : {
              acquireTime: microTime(now),
              leaseTransitions: (lease.spec.leaseTransitions ?? 0) + 1,
            }),
      },
    });
    if (put.status === 200) this.win();
    else if (put.status === 409) {
      if (this.leading) this.lose();
    } else throw new Error(`writing the lease: HTTP ${put.status}`);
  }

  private win(): void {
    this.lastRenew = Date.now();
    if (!this.leading) {
      this.leading = true;
      this.o.log?.(`leading (lease ${this.o.namespace}/${this.o.name})`);
      this.o.onStarted();
    }
  }

  private lose(): void {
    this.leading = false;
    this.o.log?.('lost the lease');
    this.o.onStopped();
  }

  /** Stops renewing and, when leading, releases the lease so another takes over at once. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer !== null) clearTimeout(this.timer);
    if (!this.leading) return;
    this.leading = false;
    const got = await this.kube.request<Lease>('GET', this.path(this.o.name)).catch(() => null);
    if (got?.status === 200 && got.body.spec.holderIdentity === this.o.identity)
      await this.kube
        .request('PUT', this.path(this.o.name), {
          ...got.body,
          spec: { ...got.body.spec, holderIdentity: '', renewTime: microTime(new Date(0)) },
        })
        .catch(() => {});
    this.o.onStopped();
  }
}
