/**
 * Relations: the sets of bindings a query works on. Rows are arrays, one column per
 * variable; joins hash the smaller side on the shared variables.
 *
 * Every relation is a set: its rows are distinct. Whatever makes rows keeps it so — a
 * scan of distinct datoms, a join or filter of sets — and only what can repeat rows
 * (dropping columns, unions, functions returning collections) removes duplicates.
 */
import { valueKey } from '../values.js';
import type { Var } from './parse.js';

export class Relation {
  constructor(
    readonly vars: Var[],
    readonly rows: unknown[][],
  ) {}

  static unit(): Relation {
    return new Relation([], [[]]);
  }

  col(v: Var): number {
    return this.vars.indexOf(v);
  }

  has(v: Var): boolean {
    return this.vars.includes(v);
  }

  get size(): number {
    return this.rows.length;
  }
}

/** A key for one value: primitives as they are, anything else by its value key. */
function valueId(v: unknown): unknown {
  return typeof v === 'number' || typeof v === 'string' || typeof v === 'boolean' ? v : valueKey(v);
}

/** A key for a row's values at some columns; equal for equal values. */
export function rowKey(row: readonly unknown[], cols: readonly number[]): unknown {
  if (cols.length === 1) return valueId(row[cols[0]!]);
  let k = '';
  for (const c of cols) {
    const v = row[c];
    k += typeof v === 'number' ? `n${v}\u0001` : `${valueKey(v)}\u0001`;
  }
  return k;
}

/**
 * A set of rows of a fixed width. One or two columns (the common cases: an entity, a
 * pair) are keyed without building strings.
 */
export class RowSet {
  private readonly one = new Set<unknown>();
  private readonly two = new Map<unknown, Set<unknown>>();
  private readonly cols: number[];

  constructor(readonly width: number) {
    this.cols = Array.from({ length: width }, (_, i) => i);
  }

  /** Adds a row; false when an equal row was there already. */
  add(row: readonly unknown[]): boolean {
    switch (this.width) {
      case 0: {
        const had = this.one.size > 0;
        this.one.add('');
        return !had;
      }
      case 1: {
        const k = valueId(row[0]);
        if (this.one.has(k)) return false;
        this.one.add(k);
        return true;
      }
      case 2: {
        const k1 = valueId(row[0]);
        const k2 = valueId(row[1]);
        let inner = this.two.get(k1);
        if (inner === undefined) this.two.set(k1, (inner = new Set()));
        if (inner.has(k2)) return false;
        inner.add(k2);
        return true;
      }
      default: {
        const k = rowKey(row, this.cols);
        if (this.one.has(k)) return false;
        this.one.add(k);
        return true;
      }
    }
  }
}

/** Removes duplicate rows. */
export function distinctRows(rows: unknown[][], width: number): unknown[][] {
  if (rows.length < 2) return rows;
  const seen = new RowSet(width);
  return rows.filter((r) => seen.add(r));
}

/** The relation's rows over `vars` only, without duplicates. */
export function project(rel: Relation, vars: Var[]): Relation {
  const cols = vars.map((v) => rel.col(v));
  if (cols.every((c, i) => c === i) && vars.length === rel.vars.length) return rel;
  const rows = rel.rows.map((r) => cols.map((c) => r[c]));
  // Keeping every column only reorders: still a set.
  return new Relation(
    vars,
    vars.length === new Set(rel.vars).size ? rows : distinctRows(rows, vars.length),
  );
}

/** Natural join on the shared variables (a product when there are none). */
export function join(a: Relation, b: Relation): Relation {
  const shared = a.vars.filter((v) => b.has(v));
  const extra = b.vars.filter((v) => !a.has(v));
  const extraCols = extra.map((v) => b.col(v));
  const vars = [...a.vars, ...extra];
  const out: unknown[][] = [];
  if (shared.length === 0) {
    for (const ra of a.rows)
      for (const rb of b.rows) out.push(ra.concat(extraCols.map((c) => rb[c])));
    return new Relation(vars, out);
  }
  const aCols = shared.map((v) => a.col(v));
  const bCols = shared.map((v) => b.col(v));
  // Hash the smaller side; emit rows in a's order either way.
  if (b.size <= a.size) {
    const index = new Map<unknown, unknown[][]>();
    for (const rb of b.rows) {
      const k = rowKey(rb, bCols);
      const list = index.get(k);
      if (list === undefined) index.set(k, [rb]);
      else list.push(rb);
    }
    for (const ra of a.rows) {
      const matches = index.get(rowKey(ra, aCols));
      if (matches === undefined) continue;
      for (const rb of matches) {
        const row = ra.slice();
        for (const c of extraCols) row.push(rb[c]);
        out.push(row);
      }
    }
  } else {
    const index = new Map<unknown, unknown[][]>();
    for (const ra of a.rows) {
      const k = rowKey(ra, aCols);
      const list = index.get(k);
      if (list === undefined) index.set(k, [ra]);
      else list.push(ra);
    }
    for (const rb of b.rows) {
      const matches = index.get(rowKey(rb, bCols));
      if (matches === undefined) continue;
      const tail = extraCols.map((c) => rb[c]);
      for (const ra of matches) out.push(ra.concat(tail));
    }
  }
  return new Relation(vars, out);
}

/** The rows of `a` whose values at the shared variables appear (keep) or do not (drop) in `b`. */
export function semiJoin(a: Relation, b: Relation, keep: boolean): Relation {
  const shared = a.vars.filter((v) => b.has(v));
  const aCols = shared.map((v) => a.col(v));
  const bCols = shared.map((v) => b.col(v));
  const keys = new Set<unknown>();
  for (const rb of b.rows) keys.add(rowKey(rb, bCols));
  return new Relation(
    a.vars,
    a.rows.filter((ra) => keys.has(rowKey(ra, aCols)) === keep),
  );
}

/** The union of relations over the same variables (in any column order), without duplicates. */
export function union(vars: Var[], rels: Relation[]): Relation {
  const rows: unknown[][] = [];
  for (const r of rels) {
    const cols = vars.map((v) => r.col(v));
    for (const row of r.rows) rows.push(cols.map((c) => row[c]));
  }
  return new Relation(vars, distinctRows(rows, vars.length));
}
