/**
 * Bindings from values: tuples matched by position against terms (collections given as
 * sources, derived rule relations), and the binding forms of function clauses.
 */
import { DiagonError } from '../errors.js';
import { valuesEqual } from '../values.js';
import { type Binding, BLANK, type Clause, formText, isConst, type Term, Var } from './parse.js';
import { distinctRows, Relation } from './relation.js';

/**
 * Rows of a collection of tuples matching terms by position (constants equal, variables
 * bind). `distinct` says the tuples are a set already: then, when every position binds a
 * variable of its own, the tuples are the rows as they are.
 */
export function matchTuples(
  tuples: readonly (readonly unknown[])[],
  terms: readonly Term[],
  consts: Map<Var, unknown>,
  distinct = false,
): { vars: Var[]; rows: unknown[][] } {
  const vars: Var[] = [];
  const cols: number[] = [];
  const checks: [number, unknown][] = [];
  const same: [number, number][] = [];
  terms.forEach((t, i) => {
    if (t instanceof Var) {
      if (consts.has(t)) checks.push([i, consts.get(t)]);
      else {
        const j = vars.indexOf(t);
        if (j >= 0) same.push([cols[j]!, i]);
        else {
          vars.push(t);
          cols.push(i);
        }
      }
    } else if (t !== BLANK && isConst(t)) checks.push([i, t.const]);
  });
  if (
    distinct &&
    checks.length === 0 &&
    same.length === 0 &&
    cols.length === terms.length &&
    cols.every((c, i) => c === i)
  ) {
    return { vars, rows: tuples as unknown[][] };
  }
  const rows: unknown[][] = [];
  for (const tuple of tuples) {
    if (!checks.every(([i, c]) => valuesEqual(tuple[i], c))) continue;
    if (!same.every(([i, j]) => valuesEqual(tuple[i], tuple[j]))) continue;
    rows.push(cols.map((c) => tuple[c]));
  }
  // Dropping columns (or a collection given with repeats) can repeat rows.
  return {
    vars,
    rows: distinct && cols.length === terms.length ? rows : distinctRows(rows, vars.length),
  };
}

/** Rows of a function clause: its result bound by the binding form (nil binds nothing). */
export function bindRows(
  c: Extract<Clause, { type: 'fn' }>,
  rel: Relation,
  call: (row: readonly unknown[]) => unknown,
  consts: Map<Var, unknown>,
): Relation {
  const b: Binding = c.binding;
  const targets = b.kind === 'scalar' || b.kind === 'coll' ? [b.v] : b.vs;
  // A target variable bound already turns the binding into an equality check.
  const fresh: Var[] = [];
  const pos: number[] = [];
  const checkCols: [number, number][] = [];
  targets.forEach((t, i) => {
    if (!(t instanceof Var)) return;
    if (rel.has(t)) checkCols.push([i, rel.col(t)]);
    else if (consts.has(t)) checkCols.push([i, -1 - i]);
    else if (!fresh.includes(t)) {
      fresh.push(t);
      pos.push(i);
    }
  });
  const constOf = (i: number) => consts.get(targets[i] as Var);
  const out: unknown[][] = [];
  const emit = (row: readonly unknown[], tuple: readonly unknown[]) => {
    for (const [i, col] of checkCols)
      if (!valuesEqual(tuple[i], col < 0 ? constOf(i) : row[col])) return;
    const r = row.slice();
    for (const i of pos) r.push(tuple[i]);
    out.push(r);
  };
  const bad = (what: string): never => {
    throw new DiagonError('query/binding', `${formText(c.form)}: the function returned ${what}`, {
      clause: c.form,
    });
  };
  for (const row of rel.rows) {
    const result = call(row);
    if (result === null || result === undefined) continue;
    switch (b.kind) {
      case 'scalar':
        emit(row, [result]);
        break;
      case 'tuple':
        if (!Array.isArray(result)) bad('a non-tuple for a tuple binding');
        else emit(row, result);
        break;
      case 'coll':
        if (!(Symbol.iterator in Object(result)) || typeof result === 'string')
          bad('a non-collection for a collection binding');
        for (const x of result as Iterable<unknown>) emit(row, [x]);
        break;
      case 'rel':
        for (const t of result as Iterable<unknown>) {
          if (!Array.isArray(t)) bad('a non-tuple inside a relation binding');
          emit(row, t as unknown[]);
        }
        break;
    }
  }
  // One input row gives at most one row, except through collection and relation bindings.
  const width = rel.vars.length + fresh.length;
  return new Relation(
    [...rel.vars, ...fresh],
    b.kind === 'coll' || b.kind === 'rel' ? distinctRows(out, width) : out,
  );
}
