/**
 * A ref: a transactional reference, changed only inside `dosync`. It keeps a short
 * history of committed values, each with the commit point (the global clock value) at
 * which it was committed, so a transaction reads the value as of its own read point
 * (MVCC, as Clojure's Ref). The history starts at one entry and grows, up to
 * `maxHistory`, only after a transaction found it too short (a fault), or up to
 * `minHistory` unconditionally.
 */
import { DiagonError } from '../db/errors.js';
import { Reference, type Validator } from './reference.js';
import { type Attempt, activeAttempt, FAULT } from './transaction.js';

export interface RefOptions<T> {
  validator?: Validator<T>;
  /** History entries kept even without faults (default 0, as Clojure). */
  minHistory?: number;
  /** History entries kept at most (default 10, as Clojure). */
  maxHistory?: number;
}

interface TVal<T> {
  value: T;
  point: number;
}

export class Ref<T> extends Reference<T> {
  /** @internal The newest committed value and its commit point. */
  newest: T;
  /** @internal */
  newestPoint = 0;
  /** @internal Older committed values, oldest first. */
  private readonly older: TVal<T>[] = [];
  private faults = 0;
  readonly minHistory: number;
  readonly maxHistory: number;
  /** @internal The transaction attempt that holds this ref for writing. */
  writer: Attempt | undefined;
  /** @internal The in-transaction value, meaningful while `writer` runs. */
  inTx: unknown;
  /** @internal The attempts that `ensure`d this ref (a shared hold: nobody else may write). */
  ensurers: Set<Attempt> | undefined;

  constructor(initial: T, opts: RefOptions<T> = {}) {
    super(opts.validator);
    this.minHistory = opts.minHistory ?? 0;
    this.maxHistory = opts.maxHistory ?? 10;
    if (!(this.minHistory >= 0 && this.maxHistory >= 1 && this.minHistory <= this.maxHistory))
      throw new DiagonError(
        'stm/invalid-history',
        `ref history bounds must satisfy 0 <= minHistory <= maxHistory, 1 <= maxHistory; got ${this.minHistory} and ${this.maxHistory}`,
        { minHistory: this.minHistory, maxHistory: this.maxHistory },
      );
    this.validate(initial);
    this.newest = initial;
  }

  /** Inside a transaction: the in-transaction value, else the value at its read point. */
  deref(): T {
    const tx = activeAttempt();
    return tx === undefined ? this.newest : tx.read(this);
  }

  /** Committed values held (Clojure's ref-history-count). */
  get historyCount(): number {
    return this.older.length + 1;
  }

  /** @internal The newest value committed at or before `point`, or FAULT (counted). */
  valueAt(point: number): T | typeof FAULT {
    if (this.newestPoint <= point) return this.newest;
    for (let i = this.older.length - 1; i >= 0; i--) {
      const tv = this.older[i]!;
      if (tv.point <= point) return tv.value;
    }
    this.faults++;
    return FAULT;
  }

  /** @internal Throws `stm/validator` unless the validator accepts `value`. */
  check(value: T): void {
    this.validate(value);
  }

  /** @internal Installs a committed value; the history grows after faults (as Clojure). */
  install(value: T, point: number): void {
    const count = this.older.length + 1;
    if ((this.faults > 0 && count < this.maxHistory) || count < this.minHistory) {
      this.older.push({ value: this.newest, point: this.newestPoint });
      this.faults = 0;
    } else if (this.older.length > 0) {
      const oldest = this.older.shift()!;
      oldest.value = this.newest;
      oldest.point = this.newestPoint;
      this.older.push(oldest);
    }
    this.newest = value;
    this.newestPoint = point;
  }

  /** @internal Calls the watches; returns what they threw. */
  publish(oldValue: T, newValue: T): unknown[] {
    return this.notifyWatches(oldValue, newValue);
  }
}

/** A new ref holding `initial` (checked by the validator, if any). */
export function ref<T>(initial: T, opts?: RefOptions<T>): Ref<T> {
  return new Ref(initial, opts);
}
