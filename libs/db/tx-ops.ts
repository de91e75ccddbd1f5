/**
 * What a transaction expands into: asserts and retracts (`Op`) on entities that are ids or
 * tempids still to resolve, and the error that names the form an op came from.
 */

import { printEdn } from './edn.js';
import { DiagonError } from './errors.js';
import type { Attr } from './schema.js';
import { describeValue } from './values.js';

export class TempId {
  eid = 0;
  parent: TempId = this;
  asEntity = false;
  isAttr = false;
  constructor(readonly key: string | number | null) {}
}

export function find(t: TempId): TempId {
  while (t.parent !== t) {
    t.parent = t.parent.parent;
    t = t.parent;
  }
  return t;
}

export const ADD = 0;
export const RETRACT = 1;
export const RETRACT_ALL = 2;

export interface Op {
  kind: typeof ADD | typeof RETRACT | typeof RETRACT_ALL;
  e: number | TempId;
  attr: Attr;
  /** Stored form for non-refs; an entity id or a TempId for refs; unused for RETRACT_ALL. */
  v: unknown;
  form: unknown;
}

export function isPlainObject(x: unknown): x is Record<string, unknown> {
  if (typeof x !== 'object' || x === null) return false;
  const proto = Object.getPrototypeOf(x);
  return proto === Object.prototype || proto === null;
}

function describeForm(form: unknown): string {
  try {
    const s = printEdn(form);
    return s.length > 200 ? `${s.slice(0, 197)}...` : s;
  } catch {
    return describeValue(form);
  }
}

export function formError(
  code: string,
  message: string,
  form: unknown,
  extra: Record<string, unknown> = {},
): DiagonError {
  return new DiagonError(code, `${message} in ${describeForm(form)}`, { form, ...extra });
}
