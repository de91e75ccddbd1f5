/**
 * Aggregates for :find: each gets the values of its variable in one group (a bag: the
 * rows of find and :with variables are a set, the aggregated column may repeat) and any
 * constant arguments before it, as in `(max 3 ?x)`.
 */
import { DiagonError } from '../errors.js';
import { compareValues, valueKey } from '../values.js';

export type Aggregate = (values: unknown[], ...constArgs: unknown[]) => unknown;

const custom = new Map<string, Aggregate>();

/** Registers an aggregate usable in :find as `(name ?x)`. */
export function registerAggregate(name: string, fn: Aggregate): void {
  if (typeof name !== 'string' || name.length === 0 || typeof fn !== 'function') {
    throw new DiagonError('query/aggregate', 'registerAggregate needs a name and a function');
  }
  custom.set(name, fn);
}

function numbers(name: string, xs: unknown[]): number[] {
  return xs.map((x) => {
    if (typeof x === 'number') return x;
    if (typeof x === 'bigint') return Number(x);
    throw new DiagonError('query/aggregate', `(${name} ...) needs numbers, got ${String(x)}`);
  });
}

function distinct(xs: unknown[]): unknown[] {
  const seen = new Map<string, unknown>();
  for (const x of xs) {
    const k = valueKey(x);
    if (!seen.has(k)) seen.set(k, x);
  }
  return [...seen.values()];
}

const sorted = (xs: unknown[]) => [...xs].sort(compareValues);

function variance(xs: number[]): number {
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  return xs.reduce((a, b) => a + (b - mean) ** 2, 0) / xs.length;
}

function sum(xs: unknown[]): unknown {
  if (xs.every((x) => typeof x === 'bigint')) return (xs as bigint[]).reduce((a, b) => a + b, 0n);
  return numbers('sum', xs).reduce((a, b) => a + b, 0);
}

function sample(n: number, xs: unknown[]): unknown[] {
  const pool = distinct(xs);
  for (let i = pool.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [pool[i], pool[j]] = [pool[j], pool[i]];
  }
  return pool.slice(0, n);
}

const BUILTIN: Record<string, Aggregate> = {
  count: (xs) => xs.length,
  'count-distinct': (xs) => distinct(xs).length,
  sum,
  avg: (xs) => {
    const ns = numbers('avg', xs);
    return ns.reduce((a, b) => a + b, 0) / ns.length;
  },
  median: (xs) => {
    const ns = numbers('median', xs).sort((a, b) => a - b);
    const mid = ns.length >> 1;
    return ns.length % 2 === 1 ? ns[mid] : (ns[mid - 1]! + ns[mid]!) / 2;
  },
  variance: (xs) => variance(numbers('variance', xs)),
  stddev: (xs) => Math.sqrt(variance(numbers('stddev', xs))),
  distinct: (xs) => new Set(distinct(xs)),
  rand: (xs, n) =>
    n === undefined
      ? xs[Math.floor(Math.random() * xs.length)]
      : Array.from({ length: Number(n) }, () => xs[Math.floor(Math.random() * xs.length)]),
  sample: (xs, n) => sample(Number(n), xs),
  min: (xs, n) =>
    n === undefined
      ? xs.reduce((a, b) => (compareValues(b, a) < 0 ? b : a))
      : sorted(xs).slice(0, Number(n)),
  max: (xs, n) =>
    n === undefined
      ? xs.reduce((a, b) => (compareValues(b, a) > 0 ? b : a))
      : sorted(xs).reverse().slice(0, Number(n)),
};

export function lookupAggregate(name: string): Aggregate | undefined {
  return custom.get(name) ?? BUILTIN[name];
}
