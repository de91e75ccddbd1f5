/**
 * The work queue of the reconciler, as controller-runtime's: keys (namespace/name), each
 * at most once in the queue and never processed twice at once (a key added while it is
 * processed runs again after); failures requeue with exponential backoff per key.
 */
export interface QueueOptions {
  /** First retry delay (default 200 ms), doubled per failure up to `maxBackoffMs`. */
  baseBackoffMs?: number;
  maxBackoffMs?: number;
  /** Keys processed at once (default 2; one key is never processed twice at once). */
  concurrency?: number;
}

export class WorkQueue {
  private readonly queued = new Set<string>();
  private readonly order: string[] = [];
  private readonly active = new Set<string>();
  /** Keys added while active: they run again when the current run ends. */
  private readonly dirty = new Set<string>();
  private readonly failures = new Map<string, number>();
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private running = 0;
  private stopped = false;
  private idle: (() => void)[] = [];
  private readonly o: Required<QueueOptions>;

  constructor(
    private readonly handle: (key: string) => Promise<void>,
    opts: QueueOptions = {},
    private readonly onError: (key: string, e: unknown) => void = () => {},
  ) {
    this.o = { baseBackoffMs: 200, maxBackoffMs: 60_000, concurrency: 2, ...opts };
  }

  /** Keys waiting (not counting those being processed). */
  get depth(): number {
    return this.order.length;
  }

  add(key: string): void {
    if (this.stopped) return;
    if (this.active.has(key)) {
      this.dirty.add(key);
      return;
    }
    if (this.queued.has(key)) return;
    this.queued.add(key);
    this.order.push(key);
    this.pump();
  }

  /** Adds `key` after `ms` (a delayed requeue; an earlier one for the key is replaced). */
  addAfter(key: string, ms: number): void {
    clearTimeout(this.timers.get(key));
    const t = setTimeout(() => {
      this.timers.delete(key);
      this.add(key);
    }, ms);
    t.unref();
    this.timers.set(key, t);
  }

  /** Forgets a key's failures (after success, or when the object is gone). */
  forget(key: string): void {
    this.failures.delete(key);
  }

  private pump(): void {
    while (!this.stopped && this.running < this.o.concurrency && this.order.length > 0) {
      const key = this.order.shift()!;
      this.queued.delete(key);
      this.active.add(key);
      this.running++;
      void this.run(key);
    }
    if (this.running === 0 && this.order.length === 0) for (const f of this.idle.splice(0)) f();
  }

  private async run(key: string): Promise<void> {
    try {
      await this.handle(key);
      this.failures.delete(key);
    } catch (e) {
      const n = (this.failures.get(key) ?? 0) + 1;
      this.failures.set(key, n);
      this.onError(key, e);
      this.addAfter(key, Math.min(this.o.maxBackoffMs, this.o.baseBackoffMs * 2 ** (n - 1)));
    } finally {
      this.active.delete(key);
      this.running--;
      if (this.dirty.delete(key)) this.add(key);
      this.pump();
    }
  }

  /** Resolves when nothing is queued or running (delayed requeues do not count). */
  drained(): Promise<void> {
    if (this.running === 0 && this.order.length === 0) return Promise.resolve();
    return new Promise((r) => this.idle.push(r));
  }

  stop(): void {
    this.stopped = true;
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
  }
}
