/**
 * The functions and predicates a query can call, by name (Datomic's and DataScript's
 * built-in set), and `registerFn` for more. `get-else`, `get-some`, `missing?` take a
 * database as their first argument (`$`).
 */
import type { Db } from '../db.js';
import { printEdn } from '../edn.js';
import { DiagonError } from '../errors.js';
import { compareValues, Keyword, List, Sym, valuesEqual } from '../values.js';

export type QueryFn = (...args: unknown[]) => unknown;

const fns = new Map<string, QueryFn>();

/** Registers a function or predicate usable in queries as `[(name ...)]`. */
export function registerFn(name: string, fn: QueryFn): void {
  if (typeof name !== 'string' || name.length === 0 || typeof fn !== 'function') {
    throw new DiagonError('query/fn', 'registerFn needs a name and a function');
  }
  fns.set(name, fn);
}

export function lookupFn(name: string): QueryFn | undefined {
  return fns.get(name) ?? BUILTINS.get(name);
}

function argError(name: string, why: string): never {
  throw new DiagonError('query/fn-args', `(${name} ...): ${why}`);
}

function num(name: string, x: unknown): number | bigint {
  if (typeof x === 'number' || typeof x === 'bigint') return x;
  return argError(name, `expected a number, got ${printValue(x)}`);
}

function printValue(x: unknown): string {
  try {
    return printEdn(x);
  } catch {
    return String(x);
  }
}

/** Arithmetic over numbers, or over bigints; mixing the two is an error, as types are in Datomic. */
function arith(
  name: string,
  op: (a: number, b: number) => number,
  opB: (a: bigint, b: bigint) => bigint,
) {
  return (...xs: unknown[]) => {
    if (xs.length === 0) return argError(name, 'needs arguments');
    let acc = num(name, xs[0]);
    for (let i = 1; i < xs.length; i++) {
      const x = num(name, xs[i]);
      if (typeof acc === 'number' && typeof x === 'number') acc = op(acc, x);
      else if (typeof acc === 'bigint' && typeof x === 'bigint') acc = opB(acc, x);
      else argError(name, 'cannot mix bigint and number');
    }
    return acc;
  };
}

const chain =
  (test: (c: number) => boolean) =>
  (...xs: unknown[]): boolean => {
    for (let i = 1; i < xs.length; i++) if (!test(compareValues(xs[i - 1], xs[i]))) return false;
    return true;
  };

/** Clojure's `str`: nil is "", keywords keep their colon, collections print as EDN. */
function str(...xs: unknown[]): string {
  let out = '';
  for (const x of xs) {
    if (x === null || x === undefined) continue;
    if (typeof x === 'string') out += x;
    else if (typeof x === 'number' || typeof x === 'boolean' || typeof x === 'bigint')
      out += String(x);
    else if (x instanceof Keyword) out += `:${x.fqn}`;
    else if (x instanceof Sym) out += x.name;
    else if (x instanceof RegExp) out += x.source;
    else out += printValue(x);
  }
  return out;
}

function regex(name: string, x: unknown): RegExp {
  if (x instanceof RegExp) return x;
  if (typeof x === 'string') return new RegExp(x);
  return argError(name, `expected a regex (re-pattern "...") or a string, got ${printValue(x)}`);
}

/** Clojure's re-find / re-matches results: the match, or [match group...] when there are groups. */
function reResult(m: RegExpMatchArray | null): unknown {
  if (m === null) return null;
  return m.length === 1 ? m[0] : [...m].map((g) => g ?? null);
}

function getElse(db: unknown, e: unknown, a: unknown, dflt: unknown): unknown {
  const d = asDb('get-else', db);
  if (dflt === null || dflt === undefined) argError('get-else', 'the default cannot be nil');
  const attr = d.attr(a);
  if (attr === undefined) return dflt;
  if (attr.many) argError('get-else', `:${attr.ident} is cardinality many`);
  const found = d.datoms('eavt', e, attr.id);
  return found.length === 0 ? dflt : found[0]!.v;
}

function asDb(name: string, x: unknown): Db {
  if (x !== null && typeof x === 'object' && typeof (x as Db).datoms === 'function') return x as Db;
  return argError(name, 'the first argument must be a database ($)');
}

const truthy = (x: unknown) => x !== null && x !== undefined && x !== false;

const BUILTINS = new Map<string, QueryFn>([
  ['=', (...xs) => xs.every((x) => valuesEqual(x, xs[0]))],
  ['==', (...xs) => xs.every((x) => valuesEqual(x, xs[0]))],
  ['not=', (...xs) => !xs.every((x) => valuesEqual(x, xs[0]))],
  ['!=', (...xs) => !xs.every((x) => valuesEqual(x, xs[0]))],
  ['<', chain((c) => c < 0)],
  ['>', chain((c) => c > 0)],
  ['<=', chain((c) => c <= 0)],
  ['>=', chain((c) => c >= 0)],
  [
    '+',
    (...xs) =>
      xs.length === 0
        ? 0
        : arith(
            '+',
            (a, b) => a + b,
            (a, b) => a + b,
          )(...xs),
  ],
  [
    '-',
    (...xs) =>
      xs.length === 1
        ? arith(
            '-',
            (a, b) => a - b,
            (a, b) => a - b,
          )(0, ...xs)
        : arith(
            '-',
            (a, b) => a - b,
            (a, b) => a - b,
          )(...xs),
  ],
  [
    '*',
    (...xs) =>
      xs.length === 0
        ? 1
        : arith(
            '*',
            (a, b) => a * b,
            (a, b) => a * b,
          )(...xs),
  ],
  [
    '/',
    arith(
      '/',
      (a, b) => (b === 0 ? argError('/', 'divide by zero') : a / b),
      (a, b) => (b === 0n ? argError('/', 'divide by zero') : a / b),
    ),
  ],
  [
    'quot',
    arith(
      'quot',
      (a, b) => (b === 0 ? argError('quot', 'divide by zero') : Math.trunc(a / b)),
      (a, b) => (b === 0n ? argError('quot', 'divide by zero') : a / b),
    ),
  ],
  [
    'rem',
    arith(
      'rem',
      (a, b) => (b === 0 ? argError('rem', 'divide by zero') : a % b),
      (a, b) => (b === 0n ? argError('rem', 'divide by zero') : a % b),
    ),
  ],
  [
    'mod',
    arith(
      'mod',
      (a, b) => (b === 0 ? argError('mod', 'divide by zero') : ((a % b) + b) % b),
      (a, b) => (b === 0n ? argError('mod', 'divide by zero') : ((a % b) + b) % b),
    ),
  ],
  [
    'inc',
    (x) =>
      arith(
        'inc',
        (a, b) => a + b,
        (a, b) => a + b,
      )(x, typeof x === 'bigint' ? 1n : 1),
  ],
  [
    'dec',
    (x) =>
      arith(
        'dec',
        (a, b) => a - b,
        (a, b) => a - b,
      )(x, typeof x === 'bigint' ? 1n : 1),
  ],
  ['max', (...xs) => xs.reduce((a, b) => (compareValues(b, a) > 0 ? b : a))],
  ['min', (...xs) => xs.reduce((a, b) => (compareValues(b, a) < 0 ? b : a))],
  ['zero?', (x) => Number(num('zero?', x)) === 0],
  ['pos?', (x) => num('pos?', x) > 0],
  ['neg?', (x) => num('neg?', x) < 0],
  ['even?', (x) => Number(num('even?', x)) % 2 === 0],
  ['odd?', (x) => Math.abs(Number(num('odd?', x)) % 2) === 1],
  ['compare', (a, b) => Math.sign(compareValues(a, b))],
  ['rand', (n) => Math.random() * (n === undefined ? 1 : Number(num('rand', n)))],
  ['rand-int', (n) => Math.floor(Math.random() * Number(num('rand-int', n)))],
  ['true?', (x) => x === true],
  ['false?', (x) => x === false],
  ['nil?', (x) => x === null || x === undefined],
  ['some?', (x) => x !== null && x !== undefined],
  ['not', (x) => !truthy(x)],
  ['and', (...xs) => xs.reduce((acc: unknown, x) => (truthy(acc) ? x : acc), true)],
  ['or', (...xs) => xs.find(truthy) ?? xs[xs.length - 1] ?? null],
  ['identical?', (a, b) => a === b],
  ['identity', (x) => x],
  [
    'keyword',
    (...xs) =>
      Keyword.of(
        xs.length === 2 && xs[0] !== null ? `${xs[0]}/${xs[1]}` : String(xs[xs.length - 1]),
      ),
  ],
  [
    'name',
    (x) =>
      x instanceof Keyword
        ? x.name
        : x instanceof Sym
          ? x.name.split('/').pop()
          : typeof x === 'string'
            ? x
            : argError('name', 'expected a keyword, symbol or string'),
  ],
  ['namespace', (x) => (x instanceof Keyword ? x.ns : argError('namespace', 'expected a keyword'))],
  ['str', str],
  [
    'subs',
    (s, start, end) =>
      typeof s === 'string'
        ? s.substring(Number(start), end === undefined ? undefined : Number(end))
        : argError('subs', 'expected a string'),
  ],
  [
    'count',
    (x) =>
      typeof x === 'string' || Array.isArray(x)
        ? x.length
        : x instanceof Set || x instanceof Map
          ? x.size
          : x instanceof List
            ? x.items.length
            : x === null
              ? 0
              : argError('count', 'expected a string or collection'),
  ],
  ['vector', (...xs) => xs],
  ['list', (...xs) => new List(xs)],
  ['set', (x) => new Set(Array.isArray(x) ? x : [])],
  [
    'range',
    (...xs) => {
      const [start, end, step] =
        xs.length === 1
          ? [0, Number(xs[0]), 1]
          : [Number(xs[0]), Number(xs[1]), Number(xs[2] ?? 1)];
      const out: number[] = [];
      for (let i = start; step > 0 ? i < end : i > end; i += step) out.push(i);
      return out;
    },
  ],
  [
    'empty?',
    (x) =>
      x === null
        ? true
        : Array.isArray(x) || typeof x === 'string'
          ? x.length === 0
          : x instanceof Set
            ? x.size === 0
            : false,
  ],
  [
    'not-empty',
    (x) =>
      Array.isArray(x) && x.length === 0
        ? null
        : typeof x === 'string' && x.length === 0
          ? null
          : x,
  ],
  [
    'contains?',
    (coll, k) =>
      coll instanceof Set || coll instanceof Map
        ? coll.has(k)
        : Array.isArray(coll)
          ? typeof k === 'number' && k >= 0 && k < coll.length
          : false,
  ],
  [
    'get',
    (coll, k, dflt) => {
      const v =
        coll instanceof Map
          ? coll.get(k)
          : Array.isArray(coll) && typeof k === 'number'
            ? coll[k]
            : coll !== null && typeof coll === 'object'
              ? (coll as Record<string, unknown>)[String(k instanceof Keyword ? k.fqn : k)]
              : undefined;
      return v === undefined ? (dflt ?? null) : v;
    },
  ],
  ['pr-str', (...xs) => xs.map(printValue).join(' ')],
  ['re-pattern', (s) => regex('re-pattern', s)],
  [
    're-find',
    (re, s) =>
      typeof s === 'string'
        ? reResult(s.match(new RegExp(regex('re-find', re).source)))
        : argError('re-find', 'expected a string'),
  ],
  [
    're-matches',
    (re, s) =>
      typeof s === 'string'
        ? reResult(s.match(new RegExp(`^(?:${regex('re-matches', re).source})$`)))
        : argError('re-matches', 'expected a string'),
  ],
  [
    're-seq',
    (re, s) =>
      typeof s === 'string'
        ? [...s.matchAll(new RegExp(regex('re-seq', re).source, 'g'))].map((m) => reResult(m))
        : argError('re-seq', 'expected a string'),
  ],
  ['get-else', getElse],
  [
    'get-some',
    (db, e, ...attrs) => {
      const d = asDb('get-some', db);
      for (const a of attrs) {
        const attr = d.attr(a);
        if (attr === undefined) continue;
        const found = d.datoms('eavt', e, attr.id);
        if (found.length > 0) return [Keyword.of(attr.ident), found[0]!.v];
      }
      return null;
    },
  ],
  [
    'missing?',
    (db, e, a) => {
      const d = asDb('missing?', db);
      const attr = d.attr(a);
      return attr === undefined || d.datoms('eavt', e, attr.id).length === 0;
    },
  ],
  ['ground', (x) => x],
  ['tuple', (...xs) => xs],
  ['untuple', (x) => (Array.isArray(x) ? x : argError('untuple', 'expected a tuple'))],
  ['clojure.string/blank?', (s) => s === null || (typeof s === 'string' && s.trim().length === 0)],
  ['clojure.string/includes?', (s, sub) => String(s).includes(String(sub))],
  ['clojure.string/starts-with?', (s, sub) => String(s).startsWith(String(sub))],
  ['clojure.string/ends-with?', (s, sub) => String(s).endsWith(String(sub))],
  ['clojure.string/lower-case', (s) => String(s).toLowerCase()],
  ['clojure.string/upper-case', (s) => String(s).toUpperCase()],
  [
    'clojure.string/capitalize',
    (s) => {
      const t = String(s);
      return t.charAt(0).toUpperCase() + t.slice(1).toLowerCase();
    },
  ],
  ['clojure.string/trim', (s) => String(s).trim()],
  ['clojure.string/triml', (s) => String(s).trimStart()],
  ['clojure.string/trimr', (s) => String(s).trimEnd()],
  ['clojure.string/reverse', (s) => [...String(s)].reverse().join('')],
  ['clojure.string/split', (s, re) => String(s).split(regex('clojure.string/split', re))],
  [
    'clojure.string/join',
    (...xs) =>
      xs.length === 1
        ? (xs[0] as unknown[]).map((x) => str(x)).join('')
        : (xs[1] as unknown[]).map((x) => str(x)).join(String(xs[0])),
  ],
  [
    'clojure.string/replace',
    (s, match, rep) =>
      String(s).replaceAll(
        match instanceof RegExp ? new RegExp(match.source, 'g') : String(match),
        String(rep),
      ),
  ],
]);

/** Names of the built-in functions, for documentation and tests. */
export const BUILTIN_NAMES: readonly string[] = [...BUILTINS.keys()];
