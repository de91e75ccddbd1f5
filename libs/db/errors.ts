/**
 * The one error type of the database. `code` is stable (tests and callers switch on it);
 * `message` says what happened and, where it can, what to do; `data` names the offending
 * form or values.
 */
export class DiagonError extends Error {
  readonly code: string;
  readonly data: Record<string, unknown>;

  constructor(code: string, message: string, data: Record<string, unknown> = {}) {
    super(message);
    this.name = 'DiagonError';
    this.code = code;
    this.data = data;
  }
}

export function isDiagonError(x: unknown, code?: string): x is DiagonError {
  return x instanceof DiagonError && (code === undefined || x.code === code);
}
