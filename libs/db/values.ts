/**
 * The values a datom can hold and that EDN reads into, and their one total order.
 *
 * JS mapping: strings, numbers (long and double), bigint, booleans, `Date` (instant),
 * `Uuid`, `Keyword`, `Uint8Array` (bytes) and arrays (tuples). Keywords and symbols are
 * interned, so `===` compares them.
 */

export class Keyword {
  private static readonly table = new Map<string, Keyword>();
  /** Namespace-qualified name without the colon: `person/name`. */
  readonly fqn: string;
  readonly ns: string | null;
  readonly name: string;

  private constructor(fqn: string) {
    this.fqn = fqn;
    const slash = fqn.indexOf('/');
    this.ns = slash > 0 ? fqn.slice(0, slash) : null;
    this.name = slash > 0 ? fqn.slice(slash + 1) : fqn;
  }

  /** Interns `person/name` (a leading colon is accepted and dropped). */
  static of(name: string): Keyword {
    const fqn = name.charCodeAt(0) === 58 ? name.slice(1) : name;
    let k = Keyword.table.get(fqn);
    if (k === undefined) {
      k = new Keyword(fqn);
      Keyword.table.set(fqn, k);
    }
    return k;
  }

  toString(): string {
    return `:${this.fqn}`;
  }
}

export class Sym {
  private static readonly table = new Map<string, Sym>();
  readonly name: string;

  private constructor(name: string) {
    this.name = name;
  }

  static of(name: string): Sym {
    let s = Sym.table.get(name);
    if (s === undefined) {
      s = new Sym(name);
      Sym.table.set(name, s);
    }
    return s;
  }

  toString(): string {
    return this.name;
  }
}

/** An EDN list `( … )`, kept apart from vectors because queries give lists meaning. */
export class List {
  readonly items: readonly unknown[];
  constructor(items: readonly unknown[]) {
    this.items = items;
  }
}

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export class Uuid {
  /** Canonical lower-case text form. */
  readonly value: string;
  constructor(text: string) {
    const v = text.toLowerCase();
    if (!UUID_RE.test(v)) throw new TypeError(`not a UUID: ${JSON.stringify(text)}`);
    this.value = v;
  }
  static isText(s: string): boolean {
    return UUID_RE.test(s.toLowerCase());
  }
  toString(): string {
    return this.value;
  }
}

/** A tagged literal with no reader of its own (`#my/tag value`), kept as data. */
export class Tagged {
  readonly tag: string;
  readonly value: unknown;
  constructor(tag: string, value: unknown) {
    this.tag = tag;
    this.value = value;
  }
}

export const kw = Keyword.of;
export const sym = Sym.of;

/** What a datom may hold. */
export type Value =
  | string
  | number
  | bigint
  | boolean
  | Date
  | Uuid
  | Keyword
  | Uint8Array
  | readonly (Value | null)[];

function typeRank(x: unknown): number {
  switch (typeof x) {
    case 'boolean':
      return 1;
    case 'number':
      return 2;
    case 'bigint':
      return 3;
    case 'string':
      return 4;
    case 'object':
      if (x === null) return 0;
      if (x instanceof Keyword) return 5;
      if (x instanceof Date) return 6;
      if (x instanceof Uuid) return 7;
      if (x instanceof Uint8Array) return 8;
      if (Array.isArray(x)) return 9;
      if (x instanceof Sym) return 10;
      return 11;
    default:
      return x === undefined ? 0 : 12;
  }
}

function compareNumbers(a: number, b: number): number {
  if (a < b) return -1;
  if (a > b) return 1;
  if (a === b) return 0;
  // NaN sorts after every number and equals itself.
  const an = Number.isNaN(a);
  const bn = Number.isNaN(b);
  return an === bn ? 0 : an ? 1 : -1;
}

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    if (a[i] !== b[i]) return a[i]! < b[i]! ? -1 : 1;
  }
  return a.length - b.length;
}

function compareSlow(a: unknown, b: unknown): number {
  const ra = typeRank(a);
  const rb = typeRank(b);
  if (ra !== rb) return ra < rb ? -1 : 1;
  switch (ra) {
    case 0:
      return 0;
    case 1:
      return a === b ? 0 : a ? 1 : -1;
    case 2:
      return compareNumbers(a as number, b as number);
    case 3:
      return (a as bigint) < (b as bigint) ? -1 : (a as bigint) > (b as bigint) ? 1 : 0;
    case 4:
      return (a as string) < (b as string) ? -1 : (a as string) > (b as string) ? 1 : 0;
    case 5: {
      const x = (a as Keyword).fqn;
      const y = (b as Keyword).fqn;
      return x < y ? -1 : x > y ? 1 : 0;
    }
    case 6:
      return compareNumbers((a as Date).getTime(), (b as Date).getTime());
    case 7: {
      const x = (a as Uuid).value;
      const y = (b as Uuid).value;
      return x < y ? -1 : x > y ? 1 : 0;
    }
    case 8:
      return compareBytes(a as Uint8Array, b as Uint8Array);
    case 9: {
      const x = a as readonly unknown[];
      const y = b as readonly unknown[];
      const n = Math.min(x.length, y.length);
      for (let i = 0; i < n; i++) {
        const c = compareValues(x[i], y[i]);
        if (c !== 0) return c;
      }
      return x.length - y.length;
    }
    case 10: {
      const x = (a as Sym).name;
      const y = (b as Sym).name;
      return x < y ? -1 : x > y ? 1 : 0;
    }
    default:
      return 0;
  }
}

/** The total order of values in every index: by kind first, then within the kind. */
export function compareValues(a: unknown, b: unknown): number {
  if (a === b) return 0;
  const ta = typeof a;
  if (ta === typeof b) {
    if (ta === 'number') return compareNumbers(a as number, b as number);
    if (ta === 'string') return (a as string) < (b as string) ? -1 : 1;
  }
  return compareSlow(a, b);
}

export function valuesEqual(a: unknown, b: unknown): boolean {
  return a === b || compareValues(a, b) === 0;
}

/** A string that is equal for equal values (as compareValues sees them), for hashing. */
export function valueKey(v: unknown): string {
  if (typeof v === 'string') return `s${v}`;
  if (typeof v === 'number') return `n${v}`;
  if (v instanceof Keyword) return `k${v.fqn}`;
  if (v instanceof Date) return `d${v.getTime()}`;
  if (typeof v === 'bigint') return `b${v}`;
  if (typeof v === 'boolean') return v ? 't' : 'f';
  if (v instanceof Uuid) return `u${v.value}`;
  if (v instanceof Uint8Array) return `y${Buffer.from(v).toString('hex')}`;
  if (Array.isArray(v)) return `[${v.map(valueKey).join(',')}]`;
  if (v === null || v === undefined) return '_';
  return `o${String(v)}`;
}

/** A short printable form of a value for error messages. */
export function describeValue(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v.length > 80 ? `${v.slice(0, 77)}...` : v);
  if (typeof v === 'bigint') return `${v}N`;
  if (v instanceof Keyword) return v.toString();
  if (v instanceof Date)
    return `#inst "${Number.isNaN(v.getTime()) ? 'Invalid Date' : v.toISOString()}"`;
  if (v instanceof Uuid) return `#uuid "${v.value}"`;
  if (v instanceof Uint8Array) return `#bytes[${v.length}]`;
  if (Array.isArray(v)) return `[${v.map(describeValue).join(' ')}]`;
  if (v === null) return 'nil';
  if (v === undefined) return 'undefined';
  if (typeof v === 'object') {
    try {
      return JSON.stringify(v).slice(0, 80);
    } catch {
      return Object.prototype.toString.call(v);
    }
  }
  return String(v);
}
