/**
 * A list+watch cache that keeps going. client-node's informer relists by itself after a
 * 410 (Gone) but stops on any other error: this restarts it after a delay. A watchdog also
 * restarts it when no event has arrived for `staleMs` (a watch that silently died), which
 * relists, and every relist's objects are handed to `onObject` again (level-triggered).
 */
import {
  type KubeConfig,
  type KubernetesObject,
  type ListPromise,
  makeInformer,
} from '@kubernetes/client-node';

export interface ResilientInformerOptions<T extends KubernetesObject> {
  path: string;
  list: ListPromise<T>;
  labelSelector?: string;
  onObject(obj: T, verb: 'add' | 'update' | 'delete'): void;
  /** Restart after this long without an event (default 5 min). */
  staleMs?: number;
  restartMs?: number;
  log?: (msg: string) => void;
}

export class ResilientInformer<T extends KubernetesObject> {
  private informer: ReturnType<typeof makeInformer<T>> | null = null;
  private lastEvent = Date.now();
  private watchdog: NodeJS.Timeout | null = null;
  private stopped = false;
  restarts = 0;

  constructor(
    private readonly config: KubeConfig,
    private readonly o: ResilientInformerOptions<T>,
  ) {}

  async start(): Promise<void> {
    this.stopped = false;
    await this.open();
    const staleMs = this.o.staleMs ?? 300_000;
    this.watchdog = setInterval(
      () => {
        if (Date.now() - this.lastEvent > staleMs) {
          this.o.log?.(`${this.o.path}: no event for ${staleMs} ms; relisting`);
          void this.restart();
        }
      },
      Math.min(staleMs, 30_000),
    );
    this.watchdog.unref();
  }

  /** The cached objects. */
  list(): readonly T[] {
    return this.informer?.list() ?? [];
  }

  private async open(): Promise<void> {
    const inf = makeInformer<T>(this.config, this.o.path, this.o.list, this.o.labelSelector);
    const seen = (verb: 'add' | 'update' | 'delete') => (obj: T) => {
      this.lastEvent = Date.now();
      this.o.onObject(obj, verb);
    };
    inf.on('add', seen('add'));
    inf.on('update', seen('update'));
    inf.on('delete', seen('delete'));
    inf.on('connect', () => {
      this.lastEvent = Date.now();
      // A (re)connect follows a list: every object is current again, even unchanged ones.
      for (const obj of inf.list()) this.o.onObject(obj, 'update');
    });
    inf.on('error', (err: unknown) => {
      if (this.stopped || this.informer !== inf) return;
      this.o.log?.(
        `${this.o.path}: watch failed (${String((err as Error)?.message ?? err)}); restarting`,
      );
      setTimeout(() => void this.restart(), this.o.restartMs ?? 1000).unref();
    });
    this.informer = inf;
    this.lastEvent = Date.now();
    await inf.start();
  }

  private async restart(): Promise<void> {
    if (this.stopped) return;
    this.restarts++;
    const old = this.informer;
    this.informer = null;
    await old?.stop().catch(() => {});
    await this.open().catch((e: unknown) => {
      this.o.log?.(`${this.o.path}: relist failed (${(e as Error).message}); retrying`);
      setTimeout(() => void this.restart(), this.o.restartMs ?? 1000).unref();
    });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.watchdog !== null) clearInterval(this.watchdog);
    await this.informer?.stop().catch(() => {});
    this.informer = null;
  }
}
