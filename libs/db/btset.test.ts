import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MAX_KEYS, Order, SortedSet } from './btset.js';

/**
 * Every test runs twice: with a plain order, and with one that has a coarse prefix
 * (many ties), which takes the prefix paths of the tree.
 */
const byValue = (a: number, b: number) => a - b;

const ORDERS = {
  plain: new Order(byValue),
  prefixed: new Order(byValue, 0, (k: number, _mode: number, high: boolean) =>
    k === undefined ? (high ? 1e9 : -1e9) : Math.floor(k / 7),
  ),
};

type Op =
  | { kind: 'add'; key: number }
  | { kind: 'del'; key: number }
  | { kind: 'batch'; adds: number[]; dels: number[] };

const keyArb = fc.integer({ min: 0, max: 3000 });
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ kind: fc.constant('add' as const), key: keyArb }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('del' as const), key: keyArb }) },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('batch' as const),
      adds: fc.array(keyArb, { maxLength: 400 }),
      dels: fc.array(keyArb, { maxLength: 200 }),
    }),
  },
);

function modelApply(model: number[], op: Op): number[] {
  const s = new Set(model);
  if (op.kind === 'add') s.add(op.key);
  else if (op.kind === 'del') s.delete(op.key);
  else {
    for (const k of op.adds) s.add(k);
    for (const k of op.dels) s.delete(k);
  }
  return [...s].sort(byValue);
}

function setApply(set: SortedSet<number>, op: Op): SortedSet<number> {
  if (op.kind === 'add') return set.add(op.key);
  if (op.kind === 'del') return set.delete(op.key);
  const t = set.transient();
  for (const k of op.adds) t.add(k);
  for (const k of op.dels) t.delete(k);
  return t.persistent();
}

describe.each(Object.entries(ORDERS))('SortedSet (%s order)', (_name, cmp) => {
  it('matches a sorted-array model under random adds, deletes and transient batches, keeping old versions intact', () => {
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 60 }), (ops) => {
        let set = SortedSet.empty(cmp);
        let model: number[] = [];
        const versions: [SortedSet<number>, number[]][] = [];
        for (const op of ops) {
          set = setApply(set, op);
          model = modelApply(model, op);
          versions.push([set, model]);
          set.checkInvariants();
          expect(set.size).toBe(model.length);
        }
        for (const [v, m] of versions) expect(v.toArray()).toEqual(m);
      }),
      { numRuns: 150 },
    );
  });

  it('stays correct and balanced while shrinking: merges and borrows between siblings', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 20_000 }),
        fc.array(fc.integer({ min: 0, max: 20_000 }), { minLength: 1, maxLength: 6000 }),
        fc.boolean(),
        (n, dels, transient) => {
          const keys = Array.from({ length: n }, (_, i) => i);
          let set = SortedSet.fromSorted(keys, cmp);
          const model = new Set(keys);
          if (transient) {
            const t = set.transient();
            for (const d of dels) expect(t.delete(d) !== undefined).toBe(model.delete(d));
            set = t.persistent();
          } else {
            for (const d of dels) {
              set = set.delete(d);
              model.delete(d);
            }
          }
          set.checkInvariants();
          expect(set.toArray()).toEqual([...model].sort(byValue));
        },
      ),
      { numRuns: 60 },
    );
  });

  it('shrinks all the way to empty, keeping every invariant on the way', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 3000 }),
        fc.integer(),
        fc.boolean(),
        (n, seed, transient) => {
          const keys = Array.from({ length: n }, (_, i) => i);
          let x = seed >>> 0;
          for (let i = n - 1; i > 0; i--) {
            x = (Math.imul(x, 1103515245) + 12345) >>> 0;
            const j = x % (i + 1);
            [keys[i], keys[j]] = [keys[j]!, keys[i]!];
          }
          let set = SortedSet.fromSorted(
            Array.from({ length: n }, (_, i) => i),
            cmp,
          );
          const t = transient ? set.transient() : null;
          keys.forEach((k, i) => {
            if (t !== null) expect(t.delete(k)).toBe(k);
            else set = set.delete(k);
            if (i % 97 === 0 || n - i < 70) {
              const view = t !== null ? t : set;
              view.checkInvariants();
              expect(view.size).toBe(n - i - 1);
            }
          });
          if (t !== null) set = t.persistent();
          expect(set.size).toBe(0);
          expect(set.toArray()).toEqual([]);
        },
      ),
      { numRuns: 60 },
    );
  });

  it('stays correct when a transient changes runs of neighbouring keys', () => {
    const runArb = fc.record({
      start: fc.integer({ min: 0, max: 5000 }),
      length: fc.integer({ min: 1, max: 80 }),
      step: fc.integer({ min: 1, max: 3 }),
      add: fc.boolean(),
    });
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 4000 }),
        fc.array(runArb, { maxLength: 40 }),
        (n, runs) => {
          const base = SortedSet.fromSorted(
            Array.from({ length: n }, (_, i) => i * 2),
            cmp,
          );
          const model = new Set(base.toArray());
          const t = base.transient();
          for (const { start, length, step, add } of runs) {
            for (let k = start; k < start + length * step; k += step) {
              if (add) expect(t.add(k)).toBe(!model.has(k));
              else expect(t.delete(k) !== undefined).toBe(model.has(k));
              if (add) model.add(k);
              else model.delete(k);
            }
            expect(t.size).toBe(model.size);
          }
          const set = t.persistent();
          set.checkInvariants();
          expect(set.toArray()).toEqual([...model].sort(byValue));
          expect(base.size).toBe(n);
        },
      ),
      { numRuns: 150 },
    );
  });

  it('answers slice, rslice, count, first, nth and get like the model', () => {
    fc.assert(
      fc.property(fc.uniqueArray(keyArb, { maxLength: 2500 }), keyArb, keyArb, (keys, a, b) => {
        const [lo, hi] = a <= b ? [a, b] : [b, a];
        const set = SortedSet.from(keys, cmp);
        const model = [...keys].sort(byValue);
        const inRange = model.filter((k) => k >= lo && k <= hi);
        expect([...set.slice(lo, hi)]).toEqual(inRange);
        expect(set.range(lo, hi)).toEqual(inRange);
        for (const short of [false, true]) {
          const seen: number[] = [];
          set.each(lo, hi, (k) => seen.push(k), cmp, short);
          expect(seen).toEqual(inRange);
        }
        const sample = set.sample(lo, hi, 8);
        expect(sample.length).toBe(Math.min(8, inRange.length));
        expect(sample.every((k) => inRange.includes(k))).toBe(true);
        expect([...set.rslice(hi, lo)]).toEqual([...inRange].reverse());
        expect(set.count(lo, hi)).toBe(inRange.length);
        expect(set.first(lo, hi)).toBe(inRange[0]);
        expect(set.first(lo)).toBe(model.find((k) => k >= lo));
        expect([...set.slice(lo)]).toEqual(model.filter((k) => k >= lo));
        expect([...set.slice(undefined, hi)]).toEqual(model.filter((k) => k <= hi));
        expect([...set.rslice()]).toEqual([...model].reverse());
        const i = model.length === 0 ? 0 : a % model.length;
        expect(set.nth(i)).toBe(model[i]);
        expect(set.get(a)).toBe(model.includes(a) ? a : undefined);
      }),
      { numRuns: 200 },
    );
  });

  it('supports prefix comparators for range scans over compound keys', () => {
    type P = [number, number];
    const full = (x: P, y: P) => x[0] - y[0] || x[1] - y[1];
    const byFirst = new Order((x: P, y: P) => x[0] - y[0]);
    const pairs: P[] = [];
    for (let i = 0; i < 50; i++) for (let j = 0; j < 30; j++) pairs.push([i, j]);
    const set = SortedSet.fromSorted(pairs, full);
    set.checkInvariants();
    expect(set.count([7, 0], [7, 0], byFirst)).toBe(30);
    expect(set.range([7, 0], [9, 0], byFirst)).toEqual(pairs.filter((p) => p[0] >= 7 && p[0] <= 9));
    expect(set.first([7, 0], [7, 0], byFirst)).toEqual([7, 0]);
    expect(set.count([51, 0], [60, 0], byFirst)).toBe(0);
  });

  it('builds trees that keep every invariant, whatever the size', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 200_000 }), (n) => {
        const set = SortedSet.fromSorted(
          Array.from({ length: n }, (_, i) => i),
          cmp,
        );
        set.checkInvariants();
        expect(set.size).toBe(n);
        expect(set.nth(n - 1)).toBe(n === 0 ? undefined : n - 1);
      }),
      { numRuns: 60 },
    );
  });

  it('builds balanced trees from sorted input and rejects unsorted input', () => {
    const keys = Array.from({ length: 100_000 }, (_, i) => i * 2);
    const set = SortedSet.fromSorted(keys, cmp);
    set.checkInvariants();
    expect(set.size).toBe(100_000);
    expect(set.depth()).toBeLessThanOrEqual(4);
    expect(set.nth(77_777)).toBe(155_554);
    expect(() => SortedSet.fromSorted([1, 3, 2], cmp)).toThrow(/out of order/);
    expect(() => SortedSet.fromSorted([1, 1], cmp)).toThrow(/duplicated/);
  });

  it('shares structure: one add copies one path', () => {
    const base = SortedSet.fromSorted(
      Array.from({ length: 10_000 }, (_, i) => i),
      cmp,
    );
    const next = base.add(10_000.5);
    expect(next.size).toBe(base.size + 1);
    expect(base.has(10_000.5)).toBe(false);
    expect(next.has(10_000.5)).toBe(true);
    expect(next.add(3)).toBe(next);
    expect(next.delete(-1)).toBe(next);
  });

  it('keeps nodes large: monotonic appends fill leaves', () => {
    const n = 64_000;
    const t = SortedSet.empty(cmp).transient();
    for (let i = 0; i < n; i++) t.add(i);
    const set = t.persistent();
    set.checkInvariants();
    // As shallow as a tree of completely full nodes can be.
    expect(set.depth()).toBe(Math.ceil(Math.log(n) / Math.log(MAX_KEYS)));
    expect(MAX_KEYS).toBeGreaterThanOrEqual(32);
    expect(() => t.add(1)).toThrow(/after persistent/);
  });
});
