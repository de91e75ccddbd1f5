/**
 * Token buckets by key (client IP, DID): each key holds up to `burst` tokens, refilled at
 * `perSecond`; taking from an empty bucket is refused. Memory is bounded: at `maxKeys`
 * the least recently used key is forgotten, which only ever forgives (a forgotten key
 * starts full again).
 */
export interface BucketOptions {
  perSecond: number;
  burst: number;
  maxKeys?: number;
  /** Milliseconds now; for tests. */
  clock?: () => number;
}

interface Bucket {
  tokens: number;
  at: number;
}

export class TokenBuckets {
  private readonly buckets = new Map<string, Bucket>();
  private readonly maxKeys: number;
  private readonly clock: () => number;

  constructor(private readonly o: BucketOptions) {
    this.maxKeys = o.maxKeys ?? 100_000;
    this.clock = o.clock ?? (() => performance.now());
  }

  /** Takes `n` tokens from `key`'s bucket; false (nothing taken) when it holds fewer. */
  take(key: string, n = 1): boolean {
    const now = this.clock();
    let b = this.buckets.get(key);
    if (b === undefined) {
      if (this.buckets.size >= this.maxKeys) this.buckets.delete(this.buckets.keys().next().value!);
      b = { tokens: this.o.burst, at: now };
    } else {
      this.buckets.delete(key); // re-inserted: the Map's order is the LRU order
      b.tokens = Math.min(this.o.burst, b.tokens + ((now - b.at) / 1000) * this.o.perSecond);
      b.at = now;
    }
    this.buckets.set(key, b);
    if (b.tokens < n) return false;
    b.tokens -= n;
    return true;
  }

  get size(): number {
    return this.buckets.size;
  }
}
