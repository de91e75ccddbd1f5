/**
 * Data patterns in the solver: how each is planned (its estimated rows, and whether it is
 * scanned or looked up per row) and run — scans with predicates fused in or an AVET
 * range, lookups per row, the direct read of a cardinality-one attribute, and star reads
 * of several attributes of one bound entity.
 */
import { type Datom, probe } from '../datom.js';
import { Db } from '../db.js';
import { compareValues, valueKey, valuesEqual } from '../values.js';
import { matchTuples } from './binding.js';
import type { SolverClause } from './env.js';
import { type Clause, formText, isConst, type Term, Var } from './parse.js';
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
import { distinctRows, Relation } from './relation.js';
import type { Solver } from './solve.js';

/** Datoms sampled from a scan to estimate what fraction a test keeps. */
const SAMPLE = 32;

/** Below this many rows per scanned entry, a pattern is answered by lookups per row. */
const LOOKUP_RATIO = 4;

export function planPattern(
  s: Solver,
  c: Extract<Clause, { type: 'pattern' }>,
  pending: SolverClause[],
): { est: number; run: (pending: SolverClause[]) => void } {
  const src = s.source(c.src, c);
  if (!(src instanceof Db)) {
    const est = src.length;
    return {
      est,
      run: () => {
        const m = matchTuples(src, c.terms, s.consts);
        s.joinIn(c, m.vars, m.rows, 'scan-collection', undefined, est);
      },
    };
  }
  const p = resolvePattern(src, c.terms, (v) => s.consts.get(v));
  const shape = rowShape(p);
  const bound = shape.vars.filter((v) => s.relsWith([v]).length > 0);
  const scan = estimateScan(src, p);
  if (bound.length === 0) {
    // A constant value the index cannot seek to, or a range, keeps a fraction of the scan:
    // estimate it from an even sample of the attribute's datoms.
    let est = scan;
    if (isConstSlot(p.a) && !isConstSlot(p.e)) {
      const a = p.a.c as number;
      if (isConstSlot(p.v) && indexName(src, p) === 'aevt') {
        const v = p.v.c;
        est = scan * selectivity(s, src, a, `=${valueKey(v)}`, (x) => valuesEqual(x, v));
      } else if (p.v instanceof Var) {
        const r = rangeFromPreds(p.v, pending, s.consts);
        if (r !== null)
          est =
            scan *
            selectivity(s, src, a, `range${valueKey(r.lo)}${valueKey(r.hi)}`, (x) => inRange(x, r));
      }
    }
    return { est, run: (rest) => scanPattern(s, c, src, p, shape, rest, est) };
  }
  const rels = s.relsWith(bound);
  const rows = rels.reduce((n, r) => n * r.size, 1);
  const lookup = rows * LOOKUP_RATIO < scan;
  const est = lookup ? rows * fanout(src, p, bound) : Math.min(scan, rows * fanout(src, p, bound));
  return {
    est,
    run: (rest) =>
      lookup
        ? lookupPattern(s, c, src, p, bound, rest, est)
        : scanPattern(s, c, src, p, shape, rest, est),
  };
}

/**
 * Pending predicates over only what one pattern binds (and constants), as one test on
 * each matching datom: rows that would be filtered out are never made. The predicates
 * leave `pending`.
 */
function fuse(
  s: Solver,
  shape: ReturnType<typeof rowShape>,
  pending: SolverClause[],
): ((d: Datom) => boolean) | null {
  const tests: ((d: Datom) => boolean)[] = [];
  for (const c of [...pending]) {
    if (c.type !== 'pred') continue;
    const vars = c.args.filter((t): t is Var => t instanceof Var && !s.consts.has(t));
    if (vars.length === 0 || !vars.every((v) => shape.vars.includes(v))) continue;
    const fn = s.callable(c);
    const getters = c.args.map((t): ((d: Datom) => unknown) => {
      if (t instanceof Var && !s.consts.has(t)) {
        const f = shape.fields[shape.vars.indexOf(t)]!;
        return (d) => d[f];
      }
      const g = s.valueGetter(null, t);
      return () => g([]);
    });
    tests.push((d) => {
      const r = fn(...getters.map((g) => g(d)));
      return r !== null && r !== undefined && r !== false;
    });
    pending.splice(pending.indexOf(c), 1);
    s.markFused(c);
  }
  if (tests.length === 0) return null;
  if (tests.length === 1) return tests[0]!;
  return (d) => tests.every((t) => t(d));
}

/** The fraction of attribute `a`'s datoms whose value passes `test`, from a sample. */
function selectivity(
  s: Solver,
  db: Db,
  a: number,
  test: string,
  keep: (v: unknown) => boolean,
): number {
  const key = `${a}|${test}`;
  let sel = s.environment.estimates.get(key);
  if (sel === undefined) {
    const sample = db.sample('aevt', probeAttr(a), SAMPLE);
    const kept = sample.filter((d) => keep(d.v)).length;
    // Never quite zero: a sample can miss rare values.
    sel = sample.length === 0 ? 1 : Math.max(kept, 0.5) / sample.length;
    s.environment.estimates.set(key, sel);
  }
  return sel;
}

function scanPattern(
  s: Solver,
  c: Extract<Clause, { type: 'pattern' }>,
  db: Db,
  p: DbPattern,
  shape: ReturnType<typeof rowShape>,
  pending: SolverClause[],
  est: number,
): void {
  const ranged =
    p.v instanceof Var && isConstSlot(p.a) && !isConstSlot(p.e) && db.attr(p.a.c)?.index === true
      ? rangeFromPreds(p.v, pending, s.consts)
      : null;
  const rows: unknown[][] = [];
  const fused = fuse(s, shape, pending);
  matchRows(db, p, ranged, shape, [], rows, fused);
  s.joinIn(
    c,
    shape.vars,
    hasBlanks(db, p) ? distinctRows(rows, shape.vars.length) : rows,
    ranged !== null ? 'range-scan' : 'scan',
    ranged !== null ? 'avet' : indexName(db, p),
    est,
  );
}

function lookupPattern(
  s: Solver,
  c: Extract<Clause, { type: 'pattern' }>,
  db: Db,
  p: DbPattern,
  bound: Var[],
  pending: SolverClause[],
  est: number,
): void {
  const rel = s.merge(bound);
  const star = p.e instanceof Var && bound.includes(p.e) ? starGroup(s, c, db, p, pending) : [];
  if (star.length > 0) {
    starLookup(
      s,
      [c, ...star.map((s) => s.clause)],
      [p, ...star.map((s) => s.p)],
      rel,
      p.e as Var,
      est,
    );
    return;
  }
  if (attributeLookup(s, c, db, p, rel, bound, pending, est)) return;
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
  const fused = fuse(s, shape, pending);
  for (const row of rel.rows) {
    for (let i = 0; i < 5; i++) {
      if (boundCols[i]! >= 0) q[slots[i]!] = boundSlot(db, slots[i]!, row[boundCols[i]!]);
    }
    matchRows(db, q, null, shape, row, out, fused);
  }
  const vars = [...rel.vars, ...shape.vars];
  s.trace(c, 'lookup', est, out.length, indexName(db, q));
  s.traceFused(out.length);
  s.replace(rel, new Relation(vars, hasBlanks(db, p) ? distinctRows(out, vars.length) : out));
}

/**
 * The commonest lookup, [?e :attr ?v] with ?e bound and a cardinality-one attribute, on
 * an unfiltered database: one descent per row straight to the datom, nothing else made.
 */
function attributeLookup(
  s: Solver,
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
  if (bound.length !== 1 || bound[0] !== p.e || !(p.v instanceof Var) || p.v === p.e) return false;
  const attr = db.attr(p.a.c);
  if (attr === undefined || attr.many) return false;
  const shape = rowShape({ e: null, a: null, v: p.v, tx: null, added: null });
  const fused = fuse(s, shape, pending);
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
  s.trace(c, 'lookup', est, out.length, 'eavt');
  s.traceFused(out.length);
  s.replace(rel, new Relation([...rel.vars, p.v], out));
  return true;
}

/** Other pending patterns on the same bound entity with a constant attribute: read together. */
function starGroup(
  s: Solver,
  c: Extract<Clause, { type: 'pattern' }>,
  db: Db,
  p: DbPattern,
  pending: SolverClause[],
): { clause: Extract<Clause, { type: 'pattern' }>; p: DbPattern }[] {
  if (!isConstSlot(p.a) || p.tx !== null || p.added !== null) return [];
  if (p.v instanceof Var && s.isBound(p.v)) return [];
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
    const q = resolvePattern(db, other.terms, (v) => s.consts.get(v));
    if (!isConstSlot(q.a) || q.tx !== null || q.added !== null) continue;
    if (q.v instanceof Var && (s.isBound(q.v) || seen.has(q.v))) continue;
    if (q.v instanceof Var) seen.add(q.v);
    group.push({ clause: other, p: q });
  }
  for (const g of group) pending.splice(pending.indexOf(g.clause), 1);
  return group;
}

function starLookup(
  s: Solver,
  clauses: SolverClause[],
  ps: DbPattern[],
  rel: Relation,
  e: Var,
  est: number,
): void {
  const db = s.source((clauses[0] as Extract<Clause, { type: 'pattern' }>).src, clauses[0]!) as Db;
  const eCol = rel.col(e);
  const attrs = ps.map((p) => (p.a as { c: number }).c);
  const out: unknown[][] = [];
  const newVars: Var[] = [];
  for (const p of ps) if (p.v instanceof Var) newVars.push(p.v);
  if (starByAttribute(db, ps, attrs, rel, eCol, out)) {
    traceStar(s, clauses, est, out.length);
    s.replace(rel, new Relation([...rel.vars, ...newVars], out));
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
  traceStar(s, clauses, est, out.length);
  s.replace(rel, new Relation([...rel.vars, ...newVars], out));
}

function traceStar(s: Solver, clauses: SolverClause[], est: number, actual: number): void {
  const text = clauses.map((c) => formText(c.form)).join(' ');
  s.environment.trace?.push({
    clause: text,
    op: 'entity-star',
    index: 'eavt',
    estimated: est,
    actual,
  });
}

/**
 * The star read when every attribute is cardinality one on an unfiltered database: one
 * descent per attribute straight to its datom, no arrays of datoms. False when it does not apply.
 */
function starByAttribute(
  db: Db,
  ps: DbPattern[],
  attrs: number[],
  rel: Relation,
  eCol: number,
  out: unknown[][],
): boolean {
  if (db.isFiltered || attrs.some((a) => db.attr(a)?.many !== false)) return false;
  const kinds = ps.map((p) =>
    p.v instanceof Var ? 0 : p.v === null ? 1 : isConstSlot(p.v) ? 2 : 3,
  );
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
