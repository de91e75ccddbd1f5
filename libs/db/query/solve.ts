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
import { type Datom, probe } from '../datom.js';
import { Db } from '../db.js';
import { DiagonError } from '../errors.js';
import { compareValues, valueKey, valuesEqual } from '../values.js';
import { lookupFn } from './builtins.js';
import {
  type Binding,
  BLANK,
  type Clause,
  clauseVars,
  formText,
  isConst,
  Src,
  type Term,
  Var,
} from './parse.js';
import {
  type DbPattern,
  estimateScan,
  inRange,
  matchRows,
  NO_MATCH,
  resolvePattern,
  rowShape,
  type ValueRange,
} from './patterns.js';
import { distinctRows, join, project, Relation, semiJoin, union } from './relation.js';

export type Source = Db | readonly (readonly unknown[])[];

/** A clause over tuples computed elsewhere (a rule's derived relation), matched by position. */
export interface DerivedClause {
  type: 'derived';
  name: string;
  args: Term[];
  rows: () => readonly (readonly unknown[])[];
  form: unknown;
}

export type SolverClause = Clause | DerivedClause;

export interface RuleCaller {
  /**
   * Rows of a rule call: one column per distinct variable argument, constants matched.
   * `seed` holds the distinct values of the bound variable arguments (null: none bound).
   */
  call(
    clause: Extract<Clause, { type: 'rule' }>,
    bound: Var[],
    seed: Relation | null,
    env: Env,
  ): Relation;
}

export interface ExplainStep {
  clause: string;
  op: string;
  index?: string;
  estimated: number;
  actual: number;
}

export interface Env {
  sources: Map<string, Source>;
  rules: RuleCaller | null;
  trace: ExplainStep[] | null;
  /** Selectivities sampled for this query, by pattern and test. */
  estimates: Map<string, number>;
}

/** Datoms sampled from a scan to estimate what fraction a test keeps. */
const SAMPLE = 32;

/** Below this many rows per scanned entry, a pattern is answered by lookups per row. */
const LOOKUP_RATIO = 4;

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

  private source(name: string, c: SolverClause): Source {
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
  private merge(vars: Var[]): Relation {
    const parts = this.rels.filter((r) => vars.some((v) => r.has(v)));
    if (parts.length === 1) return parts[0]!;
    let merged = parts.length === 0 ? Relation.unit() : parts[0]!;
    for (let i = 1; i < parts.length; i++) merged = join(merged, parts[i]!);
    this.rels = this.rels.filter((r) => !parts.includes(r));
    this.rels.push(merged);
    return merged;
  }

  private replace(old: Relation | null, next: Relation): void {
    this.rels = this.rels.filter((r) => r !== old);
    if (next.size === 0) this.empty = true;
    this.rels.push(next);
  }

  private trace(
    c: SolverClause,
    op: string,
    estimated: number,
    actual: number,
    index?: string,
  ): void {
    this.env.trace?.push({
      clause: formText(c.form),
      op,
      estimated,
      actual,
      ...(index ? { index } : {}),
    });
  }

  /** The value of a term in a row of `rel` (or of a constant / source). */
  private valueGetter(rel: Relation | null, t: Term): (row: readonly unknown[]) => unknown {
    if (t instanceof Var) {
      if (this.consts.has(t)) {
        const v = this.consts.get(t);
        return () => v;
      }
      const col = rel!.col(t);
      return (row) => row[col];
    }
    if (t instanceof Src) {
      const src = this.env.sources.get(t.name === '$' ? this.defaultSrc : t.name);
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
      if (c.type === 'pattern') cand = this.planPattern(c, pending);
      else if (c.type === 'derived') cand = this.planDerived(c);
      else if (c.type === 'rule') cand = this.planRule(c);
      else if (c.type === 'or') cand = this.planOr(c);
      if (cand !== null && (best === null || cand.est < best.est)) best = { clause: c, ...cand };
    }
    return best;
  }

  // ---- predicates and functions ------------------------------------------------------

  private callable(
    c: Extract<SolverClause, { type: 'pred' | 'fn' }>,
  ): (...args: unknown[]) => unknown {
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
    const inputs = c.args.filter((t): t is Var => t instanceof Var && !this.consts.has(t));
    const rel = inputs.length === 0 ? Relation.unit() : this.merge(inputs);
    const getters = c.args.map((t) => this.valueGetter(rel, t));
    const out = bindRows(c, rel, (row) => fn(...getters.map((g) => g(row))), this);
    this.trace(c, 'function', rel.size, out.size);
    this.replace(inputs.length === 0 ? null : rel, out);
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
    const result = this.env.rules!.call({ ...c, args }, free, seed, this.env);
    const out = rel === null ? result : join(rel, result);
    this.trace(c, 'rule', seed?.size ?? 0, out.size);
    this.replace(rel, out);
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

  private joinIn(
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

  private traceFused(rows: number): void {
    for (const c of this.fused) this.trace(c, 'filter-in-scan', rows, rows);
    this.fused = [];
  }

  private planPattern(
    c: Extract<Clause, { type: 'pattern' }>,
    pending: SolverClause[],
  ): { est: number; run: (pending: SolverClause[]) => void } {
    const src = this.source(c.src, c);
    if (!(src instanceof Db)) {
      const est = src.length;
      return {
        est,
        run: () => {
          const m = matchTuples(src, c.terms, this.consts);
          this.joinIn(c, m.vars, m.rows, 'scan-collection', undefined, est);
        },
      };
    }
    const p = resolvePattern(src, c.terms, (v) => this.consts.get(v));
    const shape = rowShape(p);
    const bound = shape.vars.filter((v) => this.rels.some((r) => r.has(v)));
    const scan = estimateScan(src, p);
    if (bound.length === 0) {
      // A constant value the index cannot seek to, or a range, keeps a fraction of the scan:
      // estimate it from an even sample of the attribute's datoms.
      let est = scan;
      if (isConstSlot(p.a) && !isConstSlot(p.e)) {
        const a = p.a.c as number;
        if (isConstSlot(p.v) && indexName(src, p) === 'aevt') {
          const v = p.v.c;
          est = scan * this.selectivity(src, a, `=${valueKey(v)}`, (x) => valuesEqual(x, v));
        } else if (p.v instanceof Var) {
          const r = rangeFromPreds(p.v, pending, this.consts);
          if (r !== null)
            est =
              scan *
              this.selectivity(src, a, `range${valueKey(r.lo)}${valueKey(r.hi)}`, (x) =>
                inRange(x, r),
              );
        }
      }
      return { est, run: (rest) => this.scanPattern(c, src, p, shape, rest, est) };
    }
    const rels = this.rels.filter((r) => bound.some((v) => r.has(v)));
    const rows = rels.reduce((n, r) => n * r.size, 1);
    const lookup = rows * LOOKUP_RATIO < scan;
    const est = lookup
      ? rows * fanout(src, p, bound)
      : Math.min(scan, rows * fanout(src, p, bound));
    return {
      est,
      run: (rest) =>
        lookup
          ? this.lookupPattern(c, src, p, bound, rest, est)
          : this.scanPattern(c, src, p, shape, rest, est),
    };
  }

  /**
   * Pending predicates over only what one pattern binds (and constants), as one test on
   * each matching datom: rows that would be filtered out are never made. The predicates
   * leave `pending`.
   */
  private fuse(
    shape: ReturnType<typeof rowShape>,
    pending: SolverClause[],
  ): ((d: Datom) => boolean) | null {
    const tests: ((d: Datom) => boolean)[] = [];
    for (const c of [...pending]) {
      if (c.type !== 'pred') continue;
      const vars = c.args.filter((t): t is Var => t instanceof Var && !this.consts.has(t));
      if (vars.length === 0 || !vars.every((v) => shape.vars.includes(v))) continue;
      const fn = this.callable(c);
      const getters = c.args.map((t): ((d: Datom) => unknown) => {
        if (t instanceof Var && !this.consts.has(t)) {
          const f = shape.fields[shape.vars.indexOf(t)]!;
          return (d) => d[f];
        }
        const g = this.valueGetter(null, t);
        return () => g([]);
      });
      tests.push((d) => {
        const r = fn(...getters.map((g) => g(d)));
        return r !== null && r !== undefined && r !== false;
      });
      pending.splice(pending.indexOf(c), 1);
      this.fused.push(c);
    }
    if (tests.length === 0) return null;
    if (tests.length === 1) return tests[0]!;
    return (d) => tests.every((t) => t(d));
  }

  /** The fraction of attribute `a`'s datoms whose value passes `test`, from a sample. */
  private selectivity(db: Db, a: number, test: string, keep: (v: unknown) => boolean): number {
    const key = `${a}|${test}`;
    let sel = this.env.estimates.get(key);
    if (sel === undefined) {
      const sample = db.sample('aevt', probeAttr(a), SAMPLE);
      const kept = sample.filter((d) => keep(d.v)).length;
      // Never quite zero: a sample can miss rare values.
      sel = sample.length === 0 ? 1 : Math.max(kept, 0.5) / sample.length;
      this.env.estimates.set(key, sel);
    }
    return sel;
  }

  private scanPattern(
    c: Extract<Clause, { type: 'pattern' }>,
    db: Db,
    p: DbPattern,
    shape: ReturnType<typeof rowShape>,
    pending: SolverClause[],
    est: number,
  ): void {
    const ranged =
      p.v instanceof Var && isConstSlot(p.a) && !isConstSlot(p.e) && db.attr(p.a.c)?.index === true
        ? rangeFromPreds(p.v, pending, this.consts)
        : null;
    const rows: unknown[][] = [];
    const fused = this.fuse(shape, pending);
    matchRows(db, p, ranged, shape, [], rows, fused);
    this.joinIn(
      c,
      shape.vars,
      hasBlanks(db, p) ? distinctRows(rows, shape.vars.length) : rows,
      ranged !== null ? 'range-scan' : 'scan',
      ranged !== null ? 'avet' : indexName(db, p),
      est,
    );
  }

  private lookupPattern(
    c: Extract<Clause, { type: 'pattern' }>,
    db: Db,
    p: DbPattern,
    bound: Var[],
    pending: SolverClause[],
    est: number,
  ): void {
    const rel = this.merge(bound);
    const star = p.e instanceof Var && bound.includes(p.e) ? this.starGroup(c, db, p, pending) : [];
    if (star.length > 0) {
      this.starLookup(
        [c, ...star.map((s) => s.clause)],
        [p, ...star.map((s) => s.p)],
        rel,
        p.e as Var,
        est,
      );
      return;
    }
    if (this.attributeLookup(c, db, p, rel, bound, pending, est)) return;
    const slots = ['e', 'a', 'v', 'tx', 'added'] as const;
    const boundCols = slots.map((f) =>
      p[f] instanceof Var && bound.includes(p[f] as Var) ? rel.col(p[f] as Var) : -1,
    );
    const shape = rowShape({
      e: boundCols[0]! >= 0 ? null : p.e,
      a: boundCols[1]! >= 0 ? null : p.a,
      v: boundCols[2]! >= 0 ? null : p.v,
      tx: boundCols[3]! >= 0 ? null : p.tx,
      added: boundCols[4]! >= 0 ? null : p.added,
    });
    const out: unknown[][] = [];
    const q: DbPattern = { ...p };
    const fused = this.fuse(shape, pending);
    for (const row of rel.rows) {
      for (let i = 0; i < 5; i++) {
        if (boundCols[i]! >= 0) q[slots[i]!] = boundSlot(db, slots[i]!, row[boundCols[i]!]);
      }
      matchRows(db, q, null, shape, row, out, fused);
    }
    const vars = [...rel.vars, ...shape.vars];
    this.trace(c, 'lookup', est, out.length, indexName(db, q));
    this.traceFused(out.length);
    this.replace(rel, new Relation(vars, hasBlanks(db, p) ? distinctRows(out, vars.length) : out));
  }

  /**
   * The commonest lookup, [?e :attr ?v] with ?e bound and a cardinality-one attribute, on
   * an unfiltered database: one descent per row straight to the datom, nothing else made.
   */
  private attributeLookup(
    c: Extract<Clause, { type: 'pattern' }>,
    db: Db,
    p: DbPattern,
    rel: Relation,
    bound: Var[],
    pending: SolverClause[],
    est: number,
  ): boolean {
    if (
      db.isFiltered ||
      !(p.e instanceof Var) ||
      !isConstSlot(p.a) ||
      p.tx !== null ||
      p.added !== null
    )
      return false;
    if (bound.length !== 1 || !(p.v instanceof Var) || p.v === p.e) return false;
    const attr = db.attr(p.a.c);
    if (attr === undefined || attr.many) return false;
    const shape = rowShape({ e: null, a: null, v: p.v, tx: null, added: null });
    const fused = this.fuse(shape, pending);
    const eCol = rel.col(p.e);
    const a = attr.id;
    const out: unknown[][] = [];
    for (const row of rel.rows) {
      const e = row[eCol];
      if (typeof e !== 'number') continue;
      const d = db.valueDatom(e, a);
      if (d === undefined || (fused !== null && !fused(d))) continue;
      const r = row.slice();
      r.push(d.v);
      out.push(r);
    }
    this.trace(c, 'lookup', est, out.length, 'eavt');
    this.traceFused(out.length);
    this.replace(rel, new Relation([...rel.vars, p.v], out));
    return true;
  }

  /** Other pending patterns on the same bound entity with a constant attribute: read together. */
  private starGroup(
    c: Extract<Clause, { type: 'pattern' }>,
    db: Db,
    p: DbPattern,
    pending: SolverClause[],
  ): { clause: Extract<Clause, { type: 'pattern' }>; p: DbPattern }[] {
    if (!isConstSlot(p.a) || p.tx !== null || p.added !== null) return [];
    if (p.v instanceof Var && this.isBound(p.v)) return [];
    const group: { clause: Extract<Clause, { type: 'pattern' }>; p: DbPattern }[] = [];
    const seen = new Set<Var>(p.v instanceof Var ? [p.v] : []);
    for (const other of pending) {
      if (
        other.type !== 'pattern' ||
        other === c ||
        other.src !== c.src ||
        other.terms[0] !== c.terms[0]
      )
        continue;
      const q = resolvePattern(db, other.terms, (v) => this.consts.get(v));
      if (!isConstSlot(q.a) || q.tx !== null || q.added !== null) continue;
      if (q.v instanceof Var && (this.isBound(q.v) || seen.has(q.v))) continue;
      if (q.v instanceof Var) seen.add(q.v);
      group.push({ clause: other, p: q });
    }
    for (const g of group) pending.splice(pending.indexOf(g.clause), 1);
    return group;
  }

  private starLookup(
    clauses: SolverClause[],
    ps: DbPattern[],
    rel: Relation,
    e: Var,
    est: number,
  ): void {
    const db = this.source(
      (clauses[0] as Extract<Clause, { type: 'pattern' }>).src,
      clauses[0]!,
    ) as Db;
    const eCol = rel.col(e);
    const attrs = ps.map((p) => (p.a as { c: number }).c);
    const out: unknown[][] = [];
    const newVars: Var[] = [];
    for (const p of ps) if (p.v instanceof Var) newVars.push(p.v);
    if (this.starByAttribute(db, ps, attrs, rel, eCol, out)) {
      this.traceStar(clauses, est, out.length);
      this.replace(rel, new Relation([...rel.vars, ...newVars], out));
      return;
    }
    for (const row of rel.rows) {
      const datoms = db.scan('eavt', probeEntity(row[eCol] as number));
      let acc: unknown[][] = [row];
      for (let i = 0; i < ps.length && acc.length > 0; i++) {
        const p = ps[i]!;
        const vals = valuesOf(datoms, attrs[i]!);
        const vc = isConstSlot(p.v) ? p.v.c : undefined;
        const next: unknown[][] = [];
        for (const r of acc) {
          for (const v of vals) {
            if (p.v === NO_MATCH) continue;
            if (vc !== undefined) {
              if (valuesEqual(v, vc)) next.push(r);
            } else if (p.v instanceof Var) next.push([...r, v]);
            else next.push(r);
          }
        }
        acc = p.v === null && vals.length > 0 ? acc : next;
      }
      for (const r of acc) out.push(r);
    }
    this.traceStar(clauses, est, out.length);
    this.replace(rel, new Relation([...rel.vars, ...newVars], out));
  }

  private traceStar(clauses: SolverClause[], est: number, actual: number): void {
    const text = clauses.map((c) => formText(c.form)).join(' ');
    this.env.trace?.push({ clause: text, op: 'entity-star', index: 'eavt', estimated: est, actual });
  }

  /**
   * The star read when every attribute is cardinality one on an unfiltered database: one
   * descent per attribute straight to its datom, no arrays of datoms. False when it does not apply.
   */
  private starByAttribute(
    db: Db,
    ps: DbPattern[],
    attrs: number[],
    rel: Relation,
    eCol: number,
    out: unknown[][],
  ): boolean {
    if (db.isFiltered || attrs.some((a) => db.attr(a)?.many !== false)) return false;
    const kinds = ps.map((p) => (p.v instanceof Var ? 0 : p.v === null ? 1 : isConstSlot(p.v) ? 2 : 3));
    if (kinds.includes(3)) return true; // a constant that matches nothing: no rows
    const consts = ps.map((p) => (isConstSlot(p.v) ? p.v.c : undefined));
    next: for (const row of rel.rows) {
      const e = row[eCol];
      if (typeof e !== 'number') continue;
      const r = row.slice();
      for (let i = 0; i < ps.length; i++) {
        const d = db.valueDatom(e, attrs[i]!);
        if (d === undefined) continue next;
        if (kinds[i] === 0) r.push(d.v);
        else if (kinds[i] === 2 && !valuesEqual(d.v, consts[i])) continue next;
      }
      out.push(r);
    }
    return true;
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

function isConstSlot(s: unknown): s is { c: unknown } {
  return s !== null && typeof s === 'object' && !(s instanceof Var);
}

/** A `_` in e, a or v (or in tx, added of a history database) can repeat rows. */
function hasBlanks(db: Db, p: DbPattern): boolean {
  return (
    p.e === null ||
    p.a === null ||
    p.v === null ||
    (db.isHistory && (p.tx === null || p.added === null))
  );
}

/** A bound value in a pattern position: entity and attribute positions take ids. */
function boundSlot(
  db: Db,
  field: 'e' | 'a' | 'v' | 'tx' | 'added',
  value: unknown,
): DbPattern['e'] {
  if (field === 'a' && typeof value !== 'number') {
    const attr = db.attr(value);
    return attr === undefined ? NO_MATCH : { c: attr.id };
  }
  if (field === 'e' && typeof value !== 'number') {
    const e = db.entid(value);
    return e === null ? NO_MATCH : { c: e };
  }
  return { c: value };
}

function indexName(db: Db, p: DbPattern): string {
  if (isConstSlot(p.e)) return 'eavt';
  if (isConstSlot(p.a)) {
    const attr = db.attr(p.a.c);
    if (isConstSlot(p.v) && attr?.index) return 'avet';
    if (isConstSlot(p.v) && attr?.isRef) return 'vaet';
    return 'aevt';
  }
  return 'eavt';
}

/** Expected matches per bound row. */
function fanout(db: Db, p: DbPattern, bound: Var[]): number {
  const attr = isConstSlot(p.a) ? db.attr(p.a.c) : undefined;
  if (p.e instanceof Var && bound.includes(p.e)) return attr !== undefined && !attr.many ? 1 : 3;
  if (attr?.unique) return 1;
  return 10;
}

function probeEntity(e: number): Datom {
  return probe(e);
}

function probeAttr(a: number): Datom {
  return probe(undefined, a);
}

/** The values of attribute `a` among one entity's datoms (sorted by attribute). */
function valuesOf(datoms: Datom[], a: number): unknown[] {
  let lo = 0;
  let hi = datoms.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (datoms[mid]!.a < a) lo = mid + 1;
    else hi = mid;
  }
  const out: unknown[] = [];
  for (let i = lo; i < datoms.length && datoms[i]!.a === a; i++) out.push(datoms[i]!.v);
  return out;
}

/** A value range for `v` from pending comparisons of `v` with constants. */
function rangeFromPreds(
  v: Var,
  pending: SolverClause[],
  consts: Map<Var, unknown>,
): ValueRange | null {
  let range: ValueRange | null = null;
  for (const c of pending) {
    if (c.type !== 'pred' || c.args.length !== 2) continue;
    const op = c.fn;
    if (op !== '<' && op !== '<=' && op !== '>' && op !== '>=') continue;
    const [x, y] = c.args;
    const constOf = (t: Term | undefined) =>
      t instanceof Var
        ? consts.has(t)
          ? { c: consts.get(t) }
          : null
        : t !== undefined && isConst(t)
          ? { c: t.const }
          : null;
    let bound: { c: unknown } | null;
    let flipped: boolean;
    if (x === v && (bound = constOf(y)) !== null) flipped = false;
    else if (y === v && (bound = constOf(x)) !== null) flipped = true;
    else continue;
    // v < c, v <= c, v > c, v >= c (after flipping c < v into v > c).
    const lessThan = (op === '<' || op === '<=') !== flipped;
    const inclusive = op === '<=' || op === '>=';
    range ??= { loInclusive: true, hiInclusive: true };
    if (lessThan) {
      if (range.hi === undefined || compareValues(bound.c, range.hi) < 0) {
        range.hi = bound.c;
        range.hiInclusive = inclusive;
      }
    } else if (range.lo === undefined || compareValues(bound.c, range.lo) > 0) {
      range.lo = bound.c;
      range.loInclusive = inclusive;
    }
  }
  return range;
}

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

export function varsOf(c: SolverClause): Set<Var> {
  if (c.type === 'derived') return new Set(c.args.filter((t): t is Var => t instanceof Var));
  return clauseVars(c);
}

/** Rows of a function clause: its result bound by the binding form (nil binds nothing). */
function bindRows(
  c: Extract<Clause, { type: 'fn' }>,
  rel: Relation,
  call: (row: readonly unknown[]) => unknown,
  solver: Solver,
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
    else if (solver.consts.has(t)) checkCols.push([i, -1 - i]);
    else if (!fresh.includes(t)) {
      fresh.push(t);
      pos.push(i);
    }
  });
  const constOf = (i: number) => solver.consts.get(targets[i] as Var);
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
