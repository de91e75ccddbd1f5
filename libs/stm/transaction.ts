/**
 * Transactions over refs (Clojure's LockingTransaction, for one event loop).
 *
 * MVCC: one global commit clock. An attempt reads every ref as of its read point (the
 * clock when it started): the newest history entry committed at or before it. When the
 * history is too short, the read is a fault: the attempt restarts and the ref's history
 * grows (up to `maxHistory`). Reads are not tracked, so a plain read never conflicts:
 * that is snapshot isolation, and `ensure` is how a transaction protects what it read.
 *
 * Writes are buffered (beside the ref, visible only to the attempt that holds it) and
 * installed at commit, all at one new commit point. Commit is synchronous, so no other commit can interleave with it; transactions
 * interleave only at the `await`s of their bodies.
 *
 * Conflicts are detected eagerly, at `alter`/`refSet`/`ensure` time as in Clojure: the
 * first writer of a ref holds it until it commits or restarts, and `ensure` is a shared
 * hold (many may ensure a ref; nobody else may write it meanwhile). A transaction that
 * needs a ref held by another one restarts, and waits for the holder to finish before it
 * runs again (so a synchronous body never spins) — unless it is older (it started its
 * first attempt earlier), in which case it barges: the younger holder is restarted on the
 * spot and the older one goes on (wound-wait, Clojure's barging without its 10 ms grace).
 * So the oldest transaction never waits, waits never form a cycle, and shared `ensure`
 * holds cannot livelock. When an attempt ends, only the oldest of the transactions waiting
 * for it runs again; the others wait for that one's next attempt, instead of all
 * restarting into the same conflict. A write to a ref committed after the attempt's read
 * point restarts it at once. `commute` takes no hold: its functions run again at commit on the
 * newest value, where a hold by another transaction counts as for a write.
 *
 * `dosync` inside `dosync` joins the outer transaction; AsyncLocalStorage carries the
 * attempt across awaits. A body may run several times, and a restarted attempt's body
 * may still be running (a barged holder in an await): any STM call it makes throws, and
 * it never commits. So bodies must not have side effects (`io` refuses to run in one);
 * agent sends inside them are held until the commit.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { DiagonError } from '../db/errors.js';
import type { Ref } from './ref.js';
import { watchFailed } from './reference.js';

/** Returned by `Ref.valueAt` when the history holds nothing old enough. */
export const FAULT: unique symbol = Symbol('stm/fault');

/** Control flow that restarts an attempt; `dosync` catches it (do not catch it yourself). */
const RETRY = new DiagonError(
  'stm/retry',
  'the transaction must restart (STM control flow that escaped dosync: do not catch it)',
);

type Status = 'running' | 'retry' | 'committed' | 'aborted';

/** What a transaction needs of a ref, for refs of any value type. */
interface AnyRef {
  readonly newest: unknown;
  readonly newestPoint: number;
  readonly watched: boolean;
  writer: Attempt | undefined;
  /** The in-transaction value, meaningful while `writer` runs. */
  inTx: unknown;
  ensurers: Set<Attempt> | undefined;
  check(value: unknown): void;
  install(value: unknown, point: number): void;
  publish(oldValue: unknown, newValue: unknown): unknown[];
}

/** A ref only commuted: its in-transaction value and the functions to apply at commit. */
interface Commuted {
  value: unknown;
  readonly fns: ((value: unknown) => unknown)[];
}

/** The point of the newest commit. */
let clock = 0;

/** Counts dosync calls: a transaction's age, kept across its attempts (lower is older). */
let births = 0;

const storage = new AsyncLocalStorage<Attempt>();

/** A transaction waiting for an attempt of another one to finish. */
interface Waiter {
  readonly txn: Transaction;
  readonly wake: () => void;
}

/** One dosync call, across its attempts. */
export class Transaction {
  /** Lower is older: an older transaction barges a younger holder. */
  readonly age = ++births;
  /**
   * Waiters handed to this transaction while it waits itself: its next attempt adopts
   * them (it starts as soon as it is woken, so they are never left behind).
   */
  queued: Waiter[] = [];

  constructor(readonly retryLimit: number) {}
}

/** One run of a transaction's body, from its read point to its commit or restart. */
export class Attempt {
  status: Status = 'running';
  readonly readPoint = clock;
  /** Refs held for writing (their values in `ref.inTx`). */
  private readonly held: AnyRef[] = [];
  private commuted: Map<AnyRef, Commuted> | undefined;
  private ensured: AnyRef[] | undefined;
  private dispatches: (() => void)[] | undefined;
  /** Watched refs changed by the commit: ref, old value, new value. */
  private changes: [AnyRef, unknown, unknown][] | undefined;
  /** The attempt that made this one restart, if it should wait for it first. */
  blockedOn: Attempt | undefined;
  private waiters: Waiter[] | undefined;

  constructor(readonly txn: Transaction) {
    if (txn.queued.length > 0) {
      this.waiters = txn.queued;
      txn.queued = [];
    }
  }

  read<T>(ref: Ref<T>): T {
    if (ref.writer === this) return ref.inTx as T;
    const commuted = this.commuted?.get(ref);
    if (commuted !== undefined) return commuted.value as T;
    const value = ref.valueAt(this.readPoint);
    if (value === FAULT) throw this.restart(undefined);
    return value;
  }

  write<T>(ref: Ref<T>, value: T): T {
    this.hold(ref);
    ref.inTx = value;
    return value;
  }

  alter<T>(ref: Ref<T>, fn: (value: T) => T): T {
    this.hold(ref);
    const value = fn(ref.inTx as T);
    ref.inTx = value;
    return value;
  }

  ensure<T>(ref: Ref<T>): T {
    if (ref.writer !== this && !ref.ensurers?.has(this)) {
      if (ref.newestPoint > this.readPoint) throw this.restart(undefined);
      if (ref.writer !== undefined) this.contend([ref.writer]);
      (ref.ensurers ??= new Set()).add(this);
      (this.ensured ??= []).push(ref);
    }
    return this.read(ref);
  }

  commute<T>(ref: Ref<T>, fn: (value: T) => T): T {
    if (ref.writer === this) {
      const value = fn(ref.inTx as T);
      ref.inTx = value;
      return value;
    }
    this.commuted ??= new Map();
    let commuted = this.commuted.get(ref);
    if (commuted === undefined) {
      commuted = { value: ref.newest, fns: [] };
      this.commuted.set(ref, commuted);
    }
    commuted.fns.push(fn as (value: unknown) => unknown);
    const value = fn(commuted.value as T);
    commuted.value = value;
    return value;
  }

  /** Holds `ref` for writing (its in-transaction value starts as the one read), or restarts. */
  private hold(ref: AnyRef): void {
    if (ref.writer === this) return;
    if (this.commuted?.has(ref))
      throw new DiagonError(
        'stm/set-after-commute',
        'alter or refSet of a ref this transaction already commuted: commute it again instead',
        { value: ref.newest },
      );
    if (ref.newestPoint > this.readPoint) throw this.restart(undefined);
    this.takeFromOthers(ref);
    ref.writer = this;
    ref.inTx = ref.newest;
    this.held.push(ref);
  }

  /** Frees `ref` of every other holder (writer and ensurers) by barging, or restarts. */
  private takeFromOthers(ref: AnyRef): void {
    if (
      (ref.writer === undefined || ref.writer === this) &&
      (ref.ensurers === undefined || ref.ensurers.size === 0)
    )
      return;
    const holders: Attempt[] = [];
    if (ref.writer !== undefined && ref.writer !== this) holders.push(ref.writer);
    if (ref.ensurers !== undefined)
      for (const other of ref.ensurers) if (other !== this) holders.push(other);
    if (holders.length > 0) this.contend(holders);
  }

  /**
   * Wound-wait: if any holder is older, restart and wait for it; else restart every
   * (younger) holder now, so this attempt can go on.
   */
  private contend(holders: Attempt[]): void {
    let oldest = holders[0]!;
    for (const h of holders) if (h.txn.age < oldest.txn.age) oldest = h;
    if (oldest.txn.age < this.txn.age) throw this.restart(oldest);
    for (const h of holders) {
      h.blockedOn = this;
      h.finish('retry');
    }
  }

  /** Ends this attempt for a restart (releasing its holds at once) and returns RETRY. */
  private restart(blocker: Attempt | undefined): DiagonError {
    this.blockedOn = blocker;
    this.finish('retry');
    return RETRY;
  }

  /** Holds `dispatch` until this attempt commits; drops it if the attempt does not. */
  defer(dispatch: () => void): void {
    (this.dispatches ??= []).push(dispatch);
  }

  /**
   * Re-applies commutes on the newest values, validates every change, installs them all
   * at one new commit point. Synchronous, so it is atomic with respect to other commits.
   * Throws RETRY (to restart) or `stm/validator` (to abort, with nothing installed).
   */
  commit(): void {
    if (this.status !== 'running') throw RETRY;
    if (this.commuted !== undefined)
      for (const [ref, commuted] of this.commuted) {
        this.takeFromOthers(ref);
        let value = ref.newest;
        for (const fn of commuted.fns) value = fn(value);
        commuted.value = value;
      }
    for (const ref of this.held) ref.check(ref.inTx);
    if (this.commuted !== undefined)
      for (const [ref, commuted] of this.commuted) ref.check(commuted.value);
    const point = ++clock;
    for (const ref of this.held) this.install(ref, ref.inTx, point);
    if (this.commuted !== undefined)
      for (const [ref, commuted] of this.commuted) this.install(ref, commuted.value, point);
    this.finish('committed');
  }

  private install(ref: AnyRef, value: unknown, point: number): void {
    if (ref.watched) (this.changes ??= []).push([ref, ref.newest, value]);
    ref.install(value, point);
  }

  /** After a commit: watches (once per changed ref), then the held agent dispatches. */
  announce(): void {
    const errors: unknown[] = [];
    if (this.changes !== undefined)
      for (const [ref, old, value] of this.changes) errors.push(...ref.publish(old, value));
    if (this.dispatches !== undefined) for (const dispatch of this.dispatches) dispatch();
    if (errors.length > 0) throw watchFailed(errors);
  }

  /**
   * Sets the final status and releases every hold. Of the transactions waiting for this
   * attempt, only the oldest runs again now; the others wait for its next attempt, so
   * they do not all restart into the same conflict (a thundering herd).
   */
  finish(status: Exclude<Status, 'running'>): void {
    this.status = status;
    for (const ref of this.held)
      if (ref.writer === this) {
        ref.writer = undefined;
        ref.inTx = undefined;
      }
    if (this.ensured !== undefined) for (const ref of this.ensured) ref.ensurers?.delete(this);
    const waiters = this.waiters;
    if (waiters === undefined) return;
    this.waiters = undefined;
    let first = waiters[0]!;
    for (const w of waiters) if (w.txn.age < first.txn.age) first = w;
    for (const w of waiters) if (w !== first) first.txn.queued.push(w);
    first.wake();
  }

  /** Resolves once this attempt is no longer running (or the attempts it handed `txn` to). */
  finished(txn: Transaction): Promise<void> {
    if (this.status !== 'running') return Promise.resolve();
    return new Promise((wake) => (this.waiters ??= []).push({ txn, wake }));
  }
}

/**
 * The running attempt of the current async context, if any. In an attempt that is
 * restarting (a body still running after its attempt ended) it throws RETRY, so that
 * stale body stops; after a commit or abort, the context is outside any transaction.
 */
export function activeAttempt(): Attempt | undefined {
  const tx = storage.getStore();
  if (tx === undefined || tx.status === 'running') return tx;
  if (tx.status === 'retry') throw RETRY;
  return undefined;
}

/** Runs `body` with `tx` as the current attempt of its async context. */
export function runIn<T>(tx: Attempt, body: () => T): T {
  return storage.run(tx, body);
}
