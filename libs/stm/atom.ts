/**
 * An atom: an uncoordinated, synchronous reference (Clojure's atom). On one event loop a
 * swap cannot be interrupted, so it applies its function exactly once. Atoms are not
 * transactional: changing one inside `dosync` happens on every attempt.
 */
import { Reference, type Validator, watchFailed } from './reference.js';

export interface AtomOptions<T> {
  validator?: Validator<T>;
}

export class Atom<T> extends Reference<T> {
  private value: T;

  constructor(initial: T, opts: AtomOptions<T> = {}) {
    super(opts.validator);
    this.validate(initial);
    this.value = initial;
  }

  deref(): T {
    return this.value;
  }

  /** Sets the value to `fn(value)` and returns it. */
  swap(fn: (value: T) => T): T {
    return this.set(fn(this.value));
  }

  /** Sets the value and returns it. */
  reset(value: T): T {
    return this.set(value);
  }

  /** Sets the value to `next` only if it is `expected` (by ===); says whether it did. */
  compareAndSet(expected: T, next: T): boolean {
    if (this.value !== expected) return false;
    this.set(next);
    return true;
  }

  /**
   * Validates, sets, then calls the watches; throws `stm/validator` (nothing changed) or
   * `stm/watch-failed` (changed; a watch threw).
   */
  private set(next: T): T {
    this.validate(next);
    const old = this.value;
    this.value = next;
    if (this.watched) {
      const errors = this.notifyWatches(old, next);
      if (errors.length > 0) throw watchFailed(errors);
    }
    return next;
  }
}

/** A new atom holding `initial` (checked by the validator, if any). */
export function atom<T>(initial: T, opts?: AtomOptions<T>): Atom<T> {
  return new Atom(initial, opts);
}
