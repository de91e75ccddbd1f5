/**
 * Value types: which JS values fit which `:db.type/*`, with the few conversions that are
 * unambiguous (keywords from strings, uuids from their text, bigints from safe integers).
 */
import { DiagonError } from './errors.js';
import type { Attr, ValueType } from './schema.js';
import { describeValue, Keyword, Uuid, type Value } from './values.js';

function isStorable(v: unknown): boolean {
  switch (typeof v) {
    case 'string':
    case 'number':
    case 'bigint':
    case 'boolean':
      return true;
    case 'object':
      return (
        v instanceof Keyword ||
        (v instanceof Date && !Number.isNaN(v.getTime())) ||
        v instanceof Uuid ||
        v instanceof Uint8Array ||
        (Array.isArray(v) && v.every(isStorable))
      );
    default:
      return false;
  }
}

/** Checks (and where unambiguous, converts) a scalar value for a type; undefined if it does not fit. */
export function coerceScalar(type: ValueType, v: unknown): Value | undefined {
  switch (type) {
    case 'string':
      return typeof v === 'string' ? v : undefined;
    case 'keyword':
      if (v instanceof Keyword) return v;
      return typeof v === 'string' && v.length > 0 ? Keyword.of(v) : undefined;
    case 'long':
      if (typeof v === 'number') return Number.isSafeInteger(v) ? v : undefined;
      if (
        typeof v === 'bigint' &&
        v >= BigInt(Number.MIN_SAFE_INTEGER) &&
        v <= BigInt(Number.MAX_SAFE_INTEGER)
      ) {
        return Number(v);
      }
      return undefined;
    case 'bigint':
      if (typeof v === 'bigint') return v;
      return typeof v === 'number' && Number.isSafeInteger(v) ? BigInt(v) : undefined;
    case 'double':
      return typeof v === 'number' ? v : undefined;
    case 'boolean':
      return typeof v === 'boolean' ? v : undefined;
    case 'instant':
      return v instanceof Date && !Number.isNaN(v.getTime()) ? v : undefined;
    case 'uuid':
      if (v instanceof Uuid) return v;
      return typeof v === 'string' && Uuid.isText(v) ? new Uuid(v) : undefined;
    case 'bytes':
      return v instanceof Uint8Array ? v : undefined;
    case 'ref':
      return typeof v === 'number' && Number.isSafeInteger(v) && v > 0 ? v : undefined;
    case 'tuple':
      return undefined;
  }
}

/** Checks a non-ref value against an attribute's type; returns the stored form or throws. */
export function coerceValue(attr: Attr, v: unknown): Value {
  const fail = (why: string): never => {
    throw new DiagonError(
      'db.error/wrong-type',
      `value ${describeValue(v)} does not fit attribute :${attr.ident}: ${why}`,
      { attribute: attr.ident, value: v },
    );
  };
  const t = attr.valueType;
  if (t === null) {
    if (!isStorable(v))
      fail(
        'not a storable value (string, number, bigint, boolean, Date, Uuid, keyword, bytes or an array of them)',
      );
    return v as Value;
  }
  if (t !== 'tuple') {
    const c = coerceScalar(t, v);
    return c === undefined ? fail(`expected :db.type/${t}`) : c;
  }
  if (!Array.isArray(v)) return fail('expected a tuple (an array)');
  if (attr.tupleType !== null) {
    if (v.length < 1 || v.length > 8) fail('a homogeneous tuple holds 1 to 8 values');
    return v.map(
      (x) =>
        coerceScalar(attr.tupleType!, x) ??
        fail(`tuple elements must be :db.type/${attr.tupleType}`),
    );
  }
  const types = attr.tupleTypes;
  if (types !== null) {
    if (v.length !== types.length) fail(`expected ${types.length} elements`);
    return v.map((x, i) =>
      x === null
        ? x
        : (coerceScalar(types[i]!, x) ?? fail(`element ${i} must be :db.type/${types[i]}`)),
    ) as Value;
  }
  return fail('composite tuples are computed from their attributes and cannot be asserted');
}
