/**
 * Ask deadlines on one process-wide ticker, so an ask costs an array push rather than a
 * clock read and a timer. The ticker runs every TICK_MS while some ask is pending. An ask
 * is stamped at the first tick after it was sent and expires at the first tick past its
 * stamp + timeoutMs: never early, at most two ticks late (plus whatever delays the event
 * loop). Like AbortSignal.timeout's timer, the ticker is unref'd: pending asks alone do
 * not keep the process alive (what the actor waits for does).
 */

export const TICK_MS = 10;

/** An ask: `settled` once answered, refused or expired. */
export interface Deadline {
  readonly timeoutMs: number;
  /** performance.now() past which it expires; NaN until the first tick stamps it. */
  deadline: number;
  readonly settled: boolean;
}

interface Ticked {
  /** Stamps new asks and expires due ones; says whether any is still pending. */
  tick(now: number): boolean;
}

const watched = new Set<Ticked>();
let ticker: NodeJS.Timeout | undefined;

function tick(): void {
  const now = performance.now();
  for (const t of watched) if (!t.tick(now)) watched.delete(t);
  if (watched.size === 0) {
    clearInterval(ticker);
    ticker = undefined;
  }
}

/** The asks of one actor, in the order they were sent. */
export class AskTimeouts<T extends Deadline> implements Ticked {
  private pending: T[] = [];
  /** pending[0, stamped) have deadlines. */
  private stamped = 0;
  /** The earliest deadline among the stamped asks. */
  private next = Number.POSITIVE_INFINITY;
  private live = 0;

  constructor(private readonly expire: (ask: T) => void) {}

  add(ask: T): void {
    if (this.live++ === 0) {
      watched.add(this);
      ticker ??= setInterval(tick, TICK_MS).unref();
    }
    this.pending.push(ask);
    // Asks mostly settle in order; drop the settled ones before they pile up (a stream of
    // asks answered within microtasks may see no tick for a while).
    if (this.pending.length > 2 * this.live + 64) this.dropSettled();
  }

  private dropSettled(): void {
    const kept: T[] = [];
    let stamped = 0;
    for (const [i, ask] of this.pending.entries()) {
      if (ask.settled) continue;
      kept.push(ask);
      if (i < this.stamped) stamped++;
    }
    this.pending = kept;
    this.stamped = stamped;
  }

  /** Counts an ask answered or refused (not by its timeout). */
  settled(): void {
    this.live--;
  }

  /** Forgets every ask (the caller settles them). */
  close(): void {
    this.pending = [];
    this.stamped = 0;
    this.next = Number.POSITIVE_INFINITY;
    this.live = 0;
  }

  tick(now: number): boolean {
    const pending = this.pending;
    for (let i = this.stamped; i < pending.length; i++) {
      const ask = pending[i]!;
      if (ask.settled) continue;
      ask.deadline = now + ask.timeoutMs;
      if (ask.deadline < this.next) this.next = ask.deadline;
    }
    this.stamped = pending.length;
    if (this.live === 0) {
      this.close();
      return false;
    }
    if (now < this.next) return true;
    const kept: T[] = [];
    let next = Number.POSITIVE_INFINITY;
    for (const ask of pending) {
      if (ask.settled) continue;
      if (ask.deadline <= now) {
        this.live--;
        this.expire(ask);
      } else {
        kept.push(ask);
        if (ask.deadline < next) next = ask.deadline;
      }
    }
    this.pending = kept;
    this.stamped = kept.length;
    this.next = next;
    return this.live > 0;
  }
}
