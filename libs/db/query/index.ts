/**
 * `q` and `explain`: Datalog queries over database values (and collections), Datomic's
 * language, results as plain JS data.
 */
import { Db } from '../db.js';
import { DiagonError } from '../errors.js';
import { puller } from '../pull.js';
import { valueKey } from '../values.js';
import { lookupAggregate } from './aggregates.js';
import {
  type Binding,
  type BLANK,
  bindableVars,
  type FindElem,
  formText,
  isConst,
  parseQuery,
  parseRules,
  type Query,
  type Rules,
  Var,
} from './parse.js';
import { distinctRows, Relation } from './relation.js';
import { liftOrs, RuleEngine } from './rules.js';
import { type Env, type ExplainStep, Solver, type Source } from './solve.js';

export { registerAggregate } from './aggregates.js';
export { registerFn } from './builtins.js';
export type { ExplainStep } from './solve.js';

function inputError(message: string): never {
  throw new DiagonError('query/input', message);
}

/** The relation a binding form makes of an input value. */
function bindInput(b: Binding, value: unknown, consts: Map<Var, unknown>): Relation | null {
  const vars = (b.kind === 'scalar' || b.kind === 'coll' ? [b.v] : b.vs) as (Var | typeof BLANK)[];
  const keep = vars
    .map((v, i) => [v, i] as const)
    .filter((x): x is readonly [Var, number] => x[0] instanceof Var);
  const relOf = (tuples: readonly unknown[][]) => {
    const rows = tuples.map((t) => keep.map(([, i]) => t[i]));
    return new Relation(
      keep.map(([v]) => v),
      distinctRows(rows, keep.length),
    );
  };
  switch (b.kind) {
    case 'scalar':
      if (value === undefined) inputError(`no value for input ${String(b.v)}`);
      if (b.v instanceof Var) consts.set(b.v, value);
      return null;
    case 'tuple':
      if (!Array.isArray(value) || value.length < b.vs.length) {
        inputError(`input [${b.vs.map(String).join(' ')}] needs an array of ${b.vs.length} values`);
      }
      b.vs.forEach((v, i) => {
        if (v instanceof Var) consts.set(v, value[i]);
      });
      return null;
    case 'coll':
      if (!isIterable(value)) inputError(`input [${String(b.v)} ...] needs a collection`);
      return relOf([...(value as Iterable<unknown>)].map((x) => [x]));
    case 'rel': {
      if (!isIterable(value))
        inputError(`input [[${b.vs.map(String).join(' ')}]] needs a collection of tuples`);
      const tuples = [...(value as Iterable<unknown>)];
      if (!tuples.every((t) => Array.isArray(t) && t.length >= b.vs.length)) {
        inputError(`input [[${b.vs.map(String).join(' ')}]] needs tuples of ${b.vs.length} values`);
      }
      return relOf(tuples as unknown[][]);
    }
  }
}

function isIterable(x: unknown): boolean {
  return x !== null && typeof x === 'object' && Symbol.iterator in x;
}

interface Prepared {
  query: Query;
  /** Every variable the inputs or the clauses can bind. */
  bindable: Set<Var>;
  env: Env;
  solver: Solver;
  where: ReturnType<typeof liftOrs>['clauses'];
}

function prepare(queryInput: unknown, inputs: unknown[], trace: ExplainStep[] | null): Prepared {
  const query = parseQuery(queryInput);
  if (inputs.length !== query.in.length) {
    inputError(
      `the query takes ${query.in.length} input${query.in.length === 1 ? '' : 's'} (:in), ${inputs.length} given`,
    );
  }
  const sources = new Map<string, Source>();
  const consts = new Map<Var, unknown>();
  const rels: Relation[] = [];
  let rules: Rules | null = null;
  query.in.forEach((spec, i) => {
    const value = inputs[i];
    if (spec.kind === 'src') {
      if (!(value instanceof Db) && !(Array.isArray(value) && value.every(Array.isArray))) {
        inputError(`input ${spec.name} must be a database or a collection of tuples`);
      }
      sources.set(spec.name, value as Source);
    } else if (spec.kind === 'rules') rules = parseRules(value);
    else {
      const rel = bindInput(spec.binding, value, consts);
      if (rel !== null) rels.push(rel);
    }
  });
  const lifted = liftOrs(query.where, rules ?? new Map());
  const env: Env = {
    sources,
    rules: rules === null && lifted.rules.size === 0 ? null : new RuleEngine(lifted.rules),
    trace,
    estimates: new Map(),
  };
  const bindable = bindableVars(lifted.clauses);
  for (const r of rels) for (const v of r.vars) bindable.add(v);
  for (const v of consts.keys()) bindable.add(v);
  return { query, bindable, env, solver: new Solver(env, rels, consts), where: lifted.clauses };
}

function elems(q: Query): FindElem[] {
  const f = q.find;
  return f.kind === 'rel' || f.kind === 'tuple' ? f.elems : [f.elem];
}

function elemVar(e: FindElem): Var {
  if (e.kind === 'agg') return e.args.filter((t): t is Var => t instanceof Var).at(-1)!;
  return e.v;
}

/** The result rows of the find elements: grouped and aggregated, pulled, as tuples. */
function findRows(p: Prepared): unknown[][] {
  const { query, solver, env } = p;
  const es = elems(query);
  const needed = [...new Set([...es.map(elemVar), ...query.with])];
  const unbound = needed.filter((v) => !solver.isBound(v) && !p.bindable.has(v));
  if (unbound.length > 0) {
    throw new DiagonError(
      'query/unbound-find',
      `${unbound.join(', ')} in :find or :with is not bound by :where or :in`,
      {
        vars: unbound.map(String),
      },
    );
  }
  const rel = solver.relation(needed);
  const col = (v: Var) => needed.indexOf(v);
  let rows: unknown[][];
  if (es.some((e) => e.kind === 'agg')) {
    const groupBy = es.filter((e) => e.kind !== 'agg').map((e) => col(elemVar(e)));
    const groups = new Map<string, unknown[][]>();
    for (const r of rel.rows) {
      const k = groupBy.map((c) => valueKey(r[c])).join('\u0001');
      const g = groups.get(k);
      if (g === undefined) groups.set(k, [r]);
      else g.push(r);
    }
    rows = [...groups.values()].map((g) =>
      es.map((e) => {
        if (e.kind !== 'agg') return g[0]![col(elemVar(e))];
        const fn = lookupAggregate(e.fn);
        if (fn === undefined) {
          throw new DiagonError(
            'query/unknown-aggregate',
            `unknown aggregate ${e.fn} in ${formText(e.form)}; register it with registerAggregate`,
          );
        }
        const consts = e.args
          .slice(0, -1)
          .map((t) => (isConst(t) ? t.const : t instanceof Var ? solver.consts.get(t) : undefined));
        return fn(
          g.map((r) => r[col(elemVar(e))]),
          ...consts,
        );
      }),
    );
  } else {
    rows = rel.rows.map((r) => es.map((e) => r[col(elemVar(e))]));
    // Rows are distinct over the find and :with variables; dropping :with ones can repeat them.
    if (query.with.length > 0) rows = distinctRows(rows, es.length);
  }
  const pulls = es.map((e, i) => [e, i] as const).filter(([e]) => e.kind === 'pull');
  for (const [e, i] of pulls) {
    if (e.kind !== 'pull') continue;
    const db = env.sources.get(e.src);
    if (!(db instanceof Db))
      throw new DiagonError('query/input', `(pull ${e.src} ...) needs a database source`);
    const pattern = isConst(e.pattern)
      ? e.pattern.const
      : e.pattern instanceof Var
        ? solver.consts.get(e.pattern)
        : undefined;
    if (pattern === undefined)
      throw new DiagonError('query/invalid', `the pattern of ${formText(e.form)} is not given`);
    const memo = new Map<unknown, unknown>();
    const pullOne = puller(db, pattern);
    for (const r of rows) {
      const eid = r[i];
      if (!memo.has(eid)) memo.set(eid, pullOne(eid as number));
      r[i] = memo.get(eid);
    }
  }
  return rows;
}

function shape(q: Query, rows: unknown[][]): unknown {
  const toObject = (r: unknown[]) => Object.fromEntries(q.keys!.map((k, i) => [k, r[i]]));
  switch (q.find.kind) {
    case 'rel':
      return q.keys === null ? rows : rows.map(toObject);
    case 'tuple':
      return rows.length === 0 ? null : q.keys === null ? rows[0] : toObject(rows[0]!);
    case 'coll':
      return rows.map((r) => r[0]);
    case 'scalar':
      return rows.length === 0 ? null : rows[0]![0];
  }
}

/**
 * Runs a Datalog query. `query` is EDN text (Datomic syntax) or its parsed form; inputs
 * follow :in (default `$`): databases (any view), collections of tuples, scalars,
 * tuples, collections, relations and rules (`%`).
 *
 * Results: a relation is an array of distinct tuples; `[?x ...]` an array; `[?x ?y]` one
 * tuple; `?x .` one value; with :keys/:strs/:syms, objects.
 */
export function q(query: unknown, ...inputs: unknown[]): unknown {
  const p = prepare(query, inputs, null);
  p.solver.solve(p.where);
  return shape(p.query, findRows(p));
}

export interface Explanation {
  /** Each step in the order the planner ran it: what, how, rows expected and rows out. */
  steps: ExplainStep[];
  /** Rows in the result. */
  rows: number;
}

/** Runs a query and reports the plan it followed (clause order, index, estimated and actual rows). */
export function explain(query: unknown, ...inputs: unknown[]): Explanation {
  const steps: ExplainStep[] = [];
  const p = prepare(query, inputs, steps);
  p.solver.solve(p.where);
  return { steps, rows: findRows(p).length };
}
