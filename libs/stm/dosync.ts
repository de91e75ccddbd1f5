/**
 * `dosync` and the operations on refs inside it (Clojure's names: alter, refSet, commute,
 * ensure, io). How transactions read, conflict and commit: transaction.ts.
 */
import { DiagonError } from '../db/errors.js';
import type { Ref } from './ref.js';
import { Attempt, activeAttempt, runIn, Transaction } from './transaction.js';

/** Attempts per `dosync` before it gives up with `stm/retry-limit` (as Clojure). */
export const RETRY_LIMIT = 10_000;

export interface DosyncOptions {
  /** Attempts before giving up with `stm/retry-limit` (default RETRY_LIMIT). */
  retryLimit?: number;
}

/**
 * Runs `body` in a transaction and commits it; restarts it on conflict. Inside another
 * transaction it joins that one. Rejects with the body's error (nothing committed),
 * `stm/validator`, `stm/retry-limit`, or `stm/watch-failed` (committed; a watch threw).
 */
export function dosync<T>(body: () => T | Promise<T>, opts?: DosyncOptions): Promise<T> {
  let tx: Attempt | undefined;
  let r: T | Promise<T>;
  try {
    if (activeAttempt() !== undefined) return Promise.resolve(body());
    tx = new Attempt(new Transaction(opts?.retryLimit ?? RETRY_LIMIT));
    r = runIn(tx, body);
    if (!(r instanceof Promise)) {
      // The common case, a synchronous body that commits at once: no extra promise.
      tx.commit();
      tx.announce();
      return Promise.resolve(r);
    }
  } catch (e) {
    if (tx === undefined || tx.status === 'committed') return Promise.reject(e);
    r = Promise.reject(e);
  }
  return settle(tx, r, body);
}

/** Finishes an attempt whose body is async (or failed), then restarts until it commits. */
async function settle<T>(tx: Attempt, r: T | Promise<T>, body: () => T | Promise<T>): Promise<T> {
  const { txn } = tx;
  for (let attempts = 1; ; attempts++) {
    let result: T;
    try {
      result = r instanceof Promise ? await r : r;
      tx.commit();
    } catch (e) {
      if (tx.status !== 'retry') {
        tx.finish('aborted');
        throw e;
      }
      if (attempts >= txn.retryLimit)
        throw new DiagonError(
          'stm/retry-limit',
          `the transaction ran ${attempts} times without committing: it keeps conflicting; alter contended refs early, keep the body short, or use commute`,
          { attempts },
        );
      if (tx.blockedOn !== undefined) await tx.blockedOn.finished(txn);
      tx = new Attempt(txn);
      try {
        r = runIn(tx, body);
      } catch (e2) {
        r = Promise.reject(e2);
      }
      continue;
    }
    tx.announce();
    return result;
  }
}

function inTransaction(op: string): Attempt {
  const tx = activeAttempt();
  if (tx === undefined)
    throw new DiagonError(
      'stm/no-transaction',
      `${op} outside a transaction: call it inside dosync(...)`,
      { op },
    );
  return tx;
}

/** Sets the in-transaction value of `ref` to `fn(value)` and returns it. */
export function alter<T>(ref: Ref<T>, fn: (value: T) => T): T {
  return inTransaction('alter').alter(ref, fn);
}

/** Sets the in-transaction value of `ref`. */
export function refSet<T>(ref: Ref<T>, value: T): T {
  return inTransaction('refSet').write(ref, value);
}

/**
 * Applies `fn` now (for the in-transaction value) and again at commit on the newest value:
 * for order-independent changes (counters, set adds) that should not conflict.
 */
export function commute<T>(ref: Ref<T>, fn: (value: T) => T): T {
  return inTransaction('commute').commute(ref, fn);
}

/** Reads `ref` and keeps other transactions from writing it until this one ends. */
export function ensure<T>(ref: Ref<T>): T {
  return inTransaction('ensure').ensure(ref);
}

/** Runs `fn`, but refuses inside a transaction (whose body may run several times). */
export function io<T>(fn: () => T): T {
  if (activeAttempt() !== undefined)
    throw new DiagonError(
      'stm/io-in-transaction',
      'io() inside a transaction: its body may run several times; do side effects after it commits, or send them to an agent (sends wait for the commit)',
    );
  return fn();
}

/** Whether the current async context is inside a running transaction. */
export function inDosync(): boolean {
  return activeAttempt() !== undefined;
}
