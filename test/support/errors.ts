/** The DiagonError `f` throws (and fails the test when it throws nothing or something else). */
import { expect } from 'vitest';
import { DiagonError } from '../../libs/db/errors.js';

export function thrown(f: () => unknown): DiagonError {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(DiagonError);
    return e as DiagonError;
  }
  throw new Error('expected a DiagonError, but nothing was thrown');
}
