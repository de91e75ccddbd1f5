/**
 * What refs, atoms and agents share (Clojure's ARef): a validator that guards every new
 * value, and watches that hear every change after it is made.
 */
import { DiagonError } from '../db/errors.js';

/** Returns false (or throws) to reject a value; the change is then not made. */
export type Validator<T> = (value: T) => boolean;

/** Called after a change with the key it was added under, the reference, and both values. */
export type Watch<T, R> = (key: unknown, reference: R, oldValue: T, newValue: T) => void;

export abstract class Reference<T> {
  private validator: Validator<T> | undefined;
  private watches: Map<unknown, Watch<T, this>> | undefined;

  constructor(validator: Validator<T> | undefined) {
    this.validator = validator;
  }

  /** The current value (inside a transaction, a ref gives the transaction's view). */
  abstract deref(): T;

  /** Replaces the validator; the current value must pass it. */
  setValidator(validator: Validator<T> | undefined): void {
    if (validator !== undefined) checkValue(validator, this.deref());
    this.validator = validator;
  }

  getValidator(): Validator<T> | undefined {
    return this.validator;
  }

  /** Adds (or replaces) the watch under `key`. */
  addWatch(key: unknown, watch: Watch<T, this>): this {
    if (typeof watch !== 'function')
      throw new DiagonError('stm/invalid-watch', 'addWatch needs a function', { key });
    this.watches ??= new Map();
    this.watches.set(key, watch);
    return this;
  }

  removeWatch(key: unknown): boolean {
    return this.watches?.delete(key) ?? false;
  }

  /** Throws `stm/validator` unless the validator accepts `value`. */
  protected validate(value: T): void {
    if (this.validator !== undefined) checkValue(this.validator, value);
  }

  /** Whether any watch is set. */
  get watched(): boolean {
    return this.watches !== undefined && this.watches.size > 0;
  }

  /**
   * Calls every watch, even when one throws, and returns what they threw: the change has
   * already been made, so the caller decides how to report it.
   */
  protected notifyWatches(oldValue: T, newValue: T): unknown[] {
    if (this.watches === undefined) return [];
    const errors: unknown[] = [];
    for (const [key, watch] of this.watches) {
      try {
        watch(key, this, oldValue, newValue);
      } catch (e) {
        errors.push(e);
      }
    }
    return errors;
  }
}

function checkValue<T>(validator: Validator<T>, value: T): void {
  let ok: boolean;
  try {
    ok = validator(value);
  } catch (cause) {
    throw new DiagonError(
      'stm/validator',
      `the validator threw on the new value: ${String(cause)}`,
      { value, cause },
    );
  }
  if (!ok)
    throw new DiagonError('stm/validator', 'the validator rejected the new value', { value });
}

/** The error for watches that threw after a change was made (the change stays made). */
export function watchFailed(errors: unknown[]): DiagonError {
  return new DiagonError(
    'stm/watch-failed',
    `the change was made, but ${errors.length} watch(es) threw: ${errors.map(String).join('; ')}`,
    { errors },
  );
}
