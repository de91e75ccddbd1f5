/**
 * The solver: evaluates :where clauses over relations, choosing the order itself.
 *
 * Written order never decides speed. At each step every predicate, function, `not` and
 * `or` whose variables are bound runs at once (they only shrink or extend what is bound);
 * then the producing clause (data pattern, rule call, or) expected to yield the fewest
 * rows runs next, estimated from O(log n) index counts and the sizes of the relations
 * it joins. A pattern that shares variables with a small relation is answered by index
 * lookups per row; several patterns on one bound entity read that entity's datoms once;
 * a range predicate on an indexed value becomes an AVET range scan.
 */
import { DiagonError } from '../errors.js';
import { bindRows, matchTuples } from './binding.js';
import { lookupFn } from './builtins.js';
import type { DerivedClause, Env, SolverClause, Source } from './env.js';
import { type Clause, clauseVars, formText, isConst, Src, type Term, Var } from './parse.js';
import { planPattern } from './pattern-steps.js';
import { join, project, Relation, semiJoin, union } from './relation.js';

export { matchTuples } from './binding.js';
export type { DerivedClause, Env, ExplainStep, RuleCaller, SolverClause, Source } from './env.js';

function insufficient(c: SolverClause, vars: Var[]): never {
  throw new DiagonError(
    'query/insufficient-bindings',
    `${vars.map(String).join(', ')} in ${formText(c.form)} ${vars.length === 1 ? 'is' : 'are'} not bound by any clause or input`,
    { clause: c.form, vars: vars.map(String) },
  );
}

export class Solver {
  /** Independent relations: their product is what is bound. */
  private rels: Relation[];
  readonly consts: Map<Var, unknown>;
  private empty = false;

  constructor(
    private readonly env: Env,
    rels: Relation[] = [],
    consts: Map<Var, unknown> = new Map(),
    private readonly defaultSrc = '$',
  ) {
    this.rels = rels.filter((r) => r.vars.length > 0 || r.size === 0);
    this.consts = consts;
    if (rels.some((r) => r.size === 0)) this.empty = true;
  }

  /** Whether a clause matched nothing, so nothing more can match. */
  get isEmpty(): boolean {
    return this.empty;
  }

  isBound(v: Var): boolean {
    return this.consts.has(v) || this.rels.some((r) => r.has(v));
  }

  /** @internal */
  source(name: string, c: SolverClause): Source {
    const key = name === '$' ? this.defaultSrc : name;
    const src = this.env.sources.get(key);
    if (src === undefined) {
      throw new DiagonError(
        'query/unknown-source',
        `source ${key} in ${formText(c.form)} is not an input of the query`,
        {
          clause: c.form,
        },
      );
    }
    return src;
  }

  /** The one relation holding all of `vars` (joining, or taking the product of, what holds them). */
  /** @internal */
  merge(vars: Var[]): Relation {
    const parts = this.rels.filter((r) => vars.some((v) => r.has(v)));
    if (parts.length === 1) return parts[0]!;
    let merged = parts.length === 0 ? Relation.unit() : parts[0]!;
    for (let i = 1; i < parts.length; i++) merged = join(merged, parts[i]!);
    this.rels = this.rels.filter((r) => !parts.includes(r));
    this.rels.push(merged);
    return merged;
  }

  /** @internal */
  replace(old: Relation | null, next: Relation): void {
    this.rels = this.rels.filter((r) => r !== old);
    if (next.size === 0) this.empty = true;
    this.rels.push(next);
  }

  /** @internal */
  trace(c: SolverClause, op: string, estimated: number, actual: number, index?: string): void {
    this.env.trace?.push({
      clause: formText(c.form),
      op,
      estimated,
      actual,
      ...(index ? { index } : {}),
    });
  }

  /** The value of a term in a row of `rel` (or of a constant / source). */
  /** @internal */
  valueGetter(rel: Relation | null, t: Term): (row: readonly unknown[]) => unknown {
    if (t instanceof Var) {
      if (this.consts.has(t)) {
        const v = this.consts.get(t);
        return () => v;
      }
      const col = rel!.col(t);
      return (row) => row[col];
    }
    if (t instanceof Src) {
      // A source named in a function's arguments is that input, even inside `($2 not …)`,
      // whose prefix changes only the implicit source of its patterns (as DataScript does).
      const src = this.env.sources.get(t.name);
      return () => src;
    }
    if (isConst(t)) return () => t.const;
    return () => undefined;
  }

  /** Evaluates clauses; afterwards `relation(vars)` gives their bindings. */
  solve(clauses: readonly SolverClause[]): void {
    const pending = [...clauses];
    // Variables each clause shares with the others: what a `not` or `or` joins on.
    const outside = (c: SolverClause) => {
      const vs = new Set<Var>();
      for (const other of clauses) if (other !== c) for (const v of varsOf(other)) vs.add(v);
      return vs;
    };
    while (pending.length > 0 && !this.empty) {
      if (this.runReady(pending, outside)) continue;
      const pick = this.choose(pending);
      if (pick === null) {
        const c = pending[0]!;
        // A rule call left waiting on a required argument says which one it needs.
        if (c.type === 'rule') {
          pending.shift();
          this.rule(
            c,
            c.args.filter((t): t is Var => t instanceof Var && this.isBound(t)),
          );
          continue;
        }
        insufficient(
          c,
          [...varsOf(c)].filter((v) => !this.isBound(v)),
        );
      }
      pending.splice(pending.indexOf(pick.clause), 1);
      pick.run(pending);
    }
  }

  /** Runs the first clause that needs no choice (a filter or an extension); false if none. */
  private runReady(pending: SolverClause[], outside: (c: SolverClause) => Set<Var>): boolean {
    for (let i = 0; i < pending.length; i++) {
      const c = pending[i]!;
      if (c.type === 'pred' && c.args.every((t) => !(t instanceof Var) || this.isBound(t))) {
        pending.splice(i, 1);
        this.predicate(c);
        return true;
      }
      if (c.type === 'fn' && c.args.every((t) => !(t instanceof Var) || this.isBound(t))) {
        pending.splice(i, 1);
        this.fn(c);
        return true;
      }
      if (c.type === 'not') {
        const joinVars =
          c.join ?? [...clauseVars(c)].filter((v) => this.isBound(v) || outside(c).has(v));
        if (joinVars.length === 0) {
          throw new DiagonError(
            'query/insufficient-bindings',
            `${formText(c.form)} shares no variable with the rest of the query, so it cannot exclude anything`,
            { clause: c.form },
          );
        }
        if (joinVars.every((v) => this.isBound(v))) {
          pending.splice(i, 1);
          this.not(c, joinVars);
          return true;
        }
      }
    }
    return false;
  }

  private choose(
    pending: SolverClause[],
  ): { clause: SolverClause; run: (pending: SolverClause[]) => void } | null {
    let best: { clause: SolverClause; est: number; run: (pending: SolverClause[]) => void } | null =
      null;
    for (const c of pending) {
      let cand: { est: number; run: (pending: SolverClause[]) => void } | null = null;
      if (c.type === 'pattern') cand = planPattern(this, c, pending);
      else if (c.type === 'derived') cand = this.planDerived(c);
      else if (c.type === 'rule') cand = this.planRule(c);
      else if (c.type === 'or') cand = this.planOr(c);
      if (cand !== null && (best === null || cand.est < best.est)) best = { clause: c, ...cand };
    }
    return best;
  }

  // ---- predicates and functions ------------------------------------------------------

  /** @internal */
  callable(c: Extract<SolverClause, { type: 'pred' | 'fn' }>): (...args: unknown[]) => unknown {
    const fn = lookupFn(c.fn);
    if (fn === undefined) {
      throw new DiagonError(
        'query/unknown-fn',
        `unknown function ${c.fn} in ${formText(c.form)}; register it with registerFn`,
        {
          clause: c.form,
        },
      );
    }
    return (...args) => {
      try {
        return fn(...args);
      } catch (e) {
        if (e instanceof DiagonError)
          throw new DiagonError(e.code, `${e.message} in ${formText(c.form)}`, e.data);
        throw new DiagonError(
          'query/fn',
          `${c.fn} failed in ${formText(c.form)}: ${(e as Error)?.message ?? e}`,
          {
            clause: c.form,
          },
        );
      }
    };
  }

  private predicate(c: Extract<Clause, { type: 'pred' }>): void {
    const fn = this.callable(c);
    const vars = c.args.filter((t): t is Var => t instanceof Var && !this.consts.has(t));
    const truthy = (x: unknown) => x !== null && x !== undefined && x !== false;
    if (vars.length === 0) {
      const ok = truthy(fn(...c.args.map((t) => this.valueGetter(null, t)([]))));
      this.trace(c, 'filter', 1, ok ? 1 : 0);
      if (!ok) this.empty = true;
      return;
    }
    const rel = this.merge(vars);
    const getters = c.args.map((t) => this.valueGetter(rel, t));
    const rows = rel.rows.filter((row) => truthy(fn(...getters.map((g) => g(row)))));
    this.trace(c, 'filter', rel.size, rows.length);
    this.replace(rel, new Relation(rel.vars, rows));
  }

  private fn(c: Extract<Clause, { type: 'fn' }>): void {
    const fn = this.callable(c);
    const b = c.binding;
    const targets = b.kind === 'scalar' || b.kind === 'coll' ? [b.v] : b.vs;
    // Inputs, and targets bound already (then the binding is an equality check on them).
    const joined = [...c.args, ...targets].filter(
      (t): t is Var => t instanceof Var && !this.consts.has(t) && this.isBound(t),
    );
    const rel = joined.length === 0 ? Relation.unit() : this.merge(joined);
    const getters = c.args.map((t) => this.valueGetter(rel, t));
    const out = bindRows(c, rel, (row) => fn(...getters.map((g) => g(row))), this.consts);
    this.trace(c, 'function', rel.size, out.size);
    this.replace(joined.length === 0 ? null : rel, out);
  }

  // ---- not and or ----------------------------------------------------------------------

  private sub(seed: Relation, src: string): Solver {
    return new Solver(this.env, [seed], new Map(this.consts), src === '$' ? this.defaultSrc : src);
  }

  private not(c: Extract<Clause, { type: 'not' }>, joinVars: Var[]): void {
    const free = joinVars.filter((v) => !this.consts.has(v));
    const rel = free.length === 0 ? Relation.unit() : this.merge(free);
    const inner = this.sub(free.length === 0 ? Relation.unit() : project(rel, free), c.src);
    inner.solve(c.clauses);
    const matched = inner.relation(free);
    const kept =
      free.length === 0
        ? matched.size > 0
          ? new Relation(rel.vars, [])
          : rel
        : semiJoin(rel, matched, false);
    this.trace(c, 'not', rel.size, kept.size);
    this.replace(free.length === 0 ? null : rel, kept);
    if (kept.size === 0) this.empty = true;
  }

  private planOr(c: Extract<Clause, { type: 'or' }>): { est: number; run: () => void } | null {
    const joinVars = c.join !== null ? [...c.join.required, ...c.join.free] : [...clauseVars(c)];
    if (c.join !== null && !c.join.required.every((v) => this.isBound(v))) return null;
    const bound = joinVars.filter((v) => this.isBound(v));
    const boundRels = this.rels.filter((r) => bound.some((v) => r.has(v)));
    // Prefer an or once it can join what is bound; on its own it is evaluated whole.
    const est = bound.length > 0 ? Math.min(...boundRels.map((r) => r.size), 1e6) : 1e6;
    return { est, run: () => this.or(c, joinVars) };
  }

  private or(c: Extract<Clause, { type: 'or' }>, joinVars: Var[]): void {
    const bound = joinVars.filter((v) => this.isBound(v) && !this.consts.has(v));
    const rel = bound.length === 0 ? null : this.merge(bound);
    const seed = rel === null ? Relation.unit() : project(rel, bound);
    const outVars = joinVars.filter((v) => !this.consts.has(v));
    const results = c.branches.map((branch) => {
      const inner = this.sub(seed, c.src);
      inner.solve(branch);
      // A branch that matched nothing stops early, before binding all it would have.
      if (inner.isEmpty) return new Relation(outVars, []);
      const missing = outVars.filter((v) => !inner.isBound(v));
      if (missing.length > 0) insufficient(c, missing);
      return inner.relation(outVars);
    });
    const merged = union(outVars, results);
    const out = rel === null ? merged : join(rel, merged);
    this.trace(c, 'or', seed.size, out.size);
    this.replace(rel, out);
  }

  // ---- rules and derived relations -------------------------------------------------------

  private planRule(c: Extract<Clause, { type: 'rule' }>): { est: number; run: () => void } | null {
    if (this.env.rules === null) {
      throw new DiagonError(
        'query/unknown-rule',
        `rule ${c.name} in ${formText(c.form)}: the query has no rules input (%)`,
        {
          clause: c.form,
        },
      );
    }
    // A call that leaves a required argument unbound waits for a clause that binds it.
    const required = this.env.rules.requiredArgs(c.name);
    if (required.some((i) => c.args[i] instanceof Var && !this.isBound(c.args[i] as Var)))
      return null;
    const bound = c.args.filter((t): t is Var => t instanceof Var && this.isBound(t));
    const rels = this.rels.filter((r) => bound.some((v) => r.has(v)));
    const est = bound.length > 0 ? 10 * Math.max(1, ...rels.map((r) => r.size)) : 1e7;
    return { est, run: () => this.rule(c, bound) };
  }

  private rule(c: Extract<Clause, { type: 'rule' }>, bound: Var[]): void {
    const free = bound.filter((v) => !this.consts.has(v));
    const rel = free.length === 0 ? null : this.merge(free);
    const seed = rel === null ? null : project(rel, free);
    const args = c.args.map((t) =>
      t instanceof Var && this.consts.has(t) ? { const: this.consts.get(t) } : t,
    );
    const result = this.env.rules!.call({ ...c, args }, free, seed, this.ruleEnv(c));
    const out = rel === null ? result : join(rel, result);
    this.trace(c, 'rule', seed?.size ?? 0, out.size);
    this.replace(rel, out);
  }

  /** The environment a rule body runs in: `($2 rule …)` makes $2 its implicit source. */
  private ruleEnv(c: Extract<Clause, { type: 'rule' }>): Env {
    const name = c.src === '$' ? this.defaultSrc : c.src;
    if (name === '$') return this.env;
    const sources = new Map(this.env.sources).set('$', this.source(name, c));
    return { ...this.env, sources, estimates: new Map() };
  }

  private planDerived(c: DerivedClause): { est: number; run: () => void } {
    const bound = c.args.filter((t): t is Var => t instanceof Var && this.isBound(t));
    const size = c.rows().length;
    const rels = this.rels.filter((r) => bound.some((v) => r.has(v)));
    const est = bound.length > 0 ? Math.min(size, ...rels.map((r) => r.size)) : size;
    return { est, run: () => this.derived(c) };
  }

  private derived(c: DerivedClause): void {
    const m = matchTuples(c.rows(), c.args, this.consts, true);
    this.joinIn(c, m.vars, m.rows, 'derived');
  }

  // ---- data patterns -------------------------------------------------------------------

  /** @internal */
  joinIn(
    c: SolverClause,
    vars: Var[],
    rows: unknown[][],
    op: string,
    index?: string,
    est = rows.length,
  ): void {
    const produced = new Relation(vars, rows);
    const shared = vars.filter((v) => this.rels.some((r) => r.has(v)));
    const rel = shared.length === 0 ? null : this.merge(shared);
    const out = rel === null ? produced : join(rel, produced);
    this.trace(c, op, est, out.size, index);
    this.traceFused(out.size);
    this.replace(rel, out);
  }

  /** Predicates applied inside the last scan or lookup (see fuse), for explain. */
  private fused: SolverClause[] = [];

  /** @internal a predicate a scan applies itself */
  markFused(c: SolverClause): void {
    this.fused.push(c);
  }

  /** @internal the relations holding any of `vars` */
  relsWith(vars: Var[]): Relation[] {
    return this.rels.filter((r) => vars.some((v) => r.has(v)));
  }

  /** @internal */
  get environment(): Env {
    return this.env;
  }

  /** @internal */
  traceFused(rows: number): void {
    for (const c of this.fused) this.trace(c, 'filter-in-scan', rows, rows);
    this.fused = [];
  }

  /** The bindings of `vars` (all must be bound), without duplicates. */
  relation(vars: Var[]): Relation {
    if (this.empty) return new Relation(vars, []);
    const unbound = vars.filter((v) => !this.isBound(v));
    if (unbound.length > 0) {
      throw new DiagonError(
        'query/insufficient-bindings',
        `${unbound.join(', ')} ${unbound.length === 1 ? 'is' : 'are'} not bound`,
        {
          vars: unbound.map(String),
        },
      );
    }
    const free = vars.filter((v) => !this.consts.has(v));
    const rel = free.length === 0 ? Relation.unit() : this.merge(free);
    const projected = project(rel, free);
    if (free.length === vars.length) return projected;
    const cols = vars.map((v) => (this.consts.has(v) ? -1 : free.indexOf(v)));
    const consts = vars.map((v) => this.consts.get(v));
    return new Relation(
      vars,
      projected.rows.map((r) => cols.map((c, i) => (c < 0 ? consts[i] : r[c]))),
    );
  }

  /** The rows of `vars` (all bound), duplicates possible where other columns were dropped. */
  rows(vars: Var[]): unknown[][] {
    if (this.empty) return [];
    const free = vars.filter((v) => !this.consts.has(v));
    const rel = free.length === 0 ? Relation.unit() : this.merge(free);
    const cols = vars.map((v) => (this.consts.has(v) ? -1 : rel.col(v)));
    const consts = vars.map((v) => this.consts.get(v));
    if (cols.every((c, i) => c === i) && cols.length === rel.vars.length) return rel.rows;
    return rel.rows.map((r) => cols.map((c, i) => (c < 0 ? consts[i] : r[c])));
  }

  /** Every relation's variables and consts: for find specs and tests. */
  boundVars(): Var[] {
    return [...this.consts.keys(), ...this.rels.flatMap((r) => r.vars)];
  }
}

export function varsOf(c: SolverClause): Set<Var> {
  if (c.type === 'derived') return new Set(c.args.filter((t): t is Var => t instanceof Var));
  return clauseVars(c);
}
