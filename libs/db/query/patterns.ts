/**
 * Data patterns against a database: constants resolved (idents, lookup refs, refs given
 * as keywords), the index that answers them chosen, and their matches turned into rows.
 */
import { type Datom, type IndexName, probe } from '../datom.js';
import type { Db } from '../db.js';
import { DiagonError } from '../errors.js';
import { TX0 } from '../schema.js';
import { compareValues, Keyword, valuesEqual } from '../values.js';
import { BLANK, isConst, type Term, Var } from './parse.js';

/** A constant that cannot match anything (an unknown attribute, a lookup ref to nobody). */
export const NO_MATCH: unique symbol = Symbol('no-match');

/** A pattern position: a variable, `_` (null), or a resolved constant. */
export type Slot = Var | null | typeof NO_MATCH | { c: unknown };

export interface DbPattern {
  e: Slot;
  a: Slot;
  v: Slot;
  tx: Slot;
  added: Slot;
}

/** A range on the value, pushed into the scan from predicates like [(> ?v 10)]. */
export interface ValueRange {
  lo?: unknown;
  loInclusive: boolean;
  hi?: unknown;
  hiInclusive: boolean;
}

const isC = (s: Slot): s is { c: unknown } =>
  s !== null && typeof s === 'object' && !(s instanceof Var);

function entityConst(db: Db, x: unknown): Slot {
  if (typeof x === 'number') return Number.isSafeInteger(x) && x > 0 ? { c: x } : NO_MATCH;
  if (Array.isArray(x) || x instanceof Keyword || typeof x === 'string') {
    try {
      const e = db.entid(x);
      return e === null ? NO_MATCH : { c: e };
    } catch (err) {
      if (err instanceof DiagonError && err.code === 'db.error/unknown-attribute') return NO_MATCH;
      throw err;
    }
  }
  return NO_MATCH;
}

/** Resolves a pattern's constants against a database. `bound` supplies values for variables. */
export function resolvePattern(
  db: Db,
  terms: readonly Term[],
  bound?: (v: Var) => unknown,
): DbPattern {
  const slot = (t: Term | undefined): Slot => {
    if (t === undefined || t === BLANK) return null;
    if (t instanceof Var) {
      const b = bound?.(t);
      return b === undefined ? t : { c: b };
    }
    if (isConst(t)) return { c: t.const };
    return null;
  };
  const [te, ta, tv, ttx, tadded] = terms;
  let e = slot(te);
  let a = slot(ta);
  let v = slot(tv);
  let tx = slot(ttx);
  const added = slot(tadded);
  if (isC(e)) e = entityConst(db, e.c);
  let refAttr = false;
  if (isC(a)) {
    const attr = typeof a.c === 'number' ? db.attr(a.c) : db.attr(a.c);
    if (attr === undefined) a = NO_MATCH;
    else {
      a = { c: attr.id };
      refAttr = attr.isRef;
    }
  }
  if (isC(v) && refAttr) v = entityConst(db, v.c);
  if (isC(tx)) {
    const t = tx.c;
    tx =
      typeof t === 'number' && Number.isSafeInteger(t) && t >= 0
        ? { c: t >= TX0 ? t : TX0 + t }
        : entityConst(db, t);
  }
  return { e, a, v, tx, added };
}

/** How the matches of a pattern are found: which index, with which leading components. */
export function chooseIndex(db: Db, p: DbPattern): { index: IndexName; probe: Datom } {
  const c = (s: Slot) => (isC(s) ? s.c : undefined);
  const e = c(p.e) as number | undefined;
  const a = c(p.a) as number | undefined;
  const v = c(p.v);
  if (e !== undefined)
    return { index: 'eavt', probe: probe(e, a, a === undefined ? undefined : v) };
  if (a !== undefined) {
    const attr = db.attr(a)!;
    if (v !== undefined && attr.index) return { index: 'avet', probe: probe(undefined, a, v) };
    if (v !== undefined && attr.isRef) return { index: 'vaet', probe: probe(undefined, a, v) };
    return { index: 'aevt', probe: probe(undefined, a) };
  }
  return { index: 'eavt', probe: probe() };
}

/** The number of index entries a scan would read (exact on plain databases, an estimate on views). */
export function estimateScan(db: Db, p: DbPattern): number {
  if (p.e === NO_MATCH || p.a === NO_MATCH || p.v === NO_MATCH || p.tx === NO_MATCH) return 0;
  const { index, probe: pr } = chooseIndex(db, p);
  return db.estimate(index, pr);
}

export function inRange(v: unknown, r: ValueRange): boolean {
  if (r.lo !== undefined) {
    const c = compareValues(v, r.lo);
    if (c < 0 || (c === 0 && !r.loInclusive)) return false;
  }
  if (r.hi !== undefined) {
    const c = compareValues(v, r.hi);
    if (c > 0 || (c === 0 && !r.hiInclusive)) return false;
  }
  return true;
}

const noMatch = (p: DbPattern) =>
  p.e === NO_MATCH ||
  p.a === NO_MATCH ||
  p.v === NO_MATCH ||
  p.tx === NO_MATCH ||
  p.added === NO_MATCH;

/**
 * Appends to `out` one row per datom matching the pattern's constants (and a pushed-down
 * value range): `prefix` followed by the pattern's variables in shape order. One pass
 * over the index, no intermediate arrays.
 */
export function matchRows(
  db: Db,
  p: DbPattern,
  range: ValueRange | null,
  shape: RowShape,
  prefix: readonly unknown[],
  out: unknown[][],
  accept: ((d: Datom) => boolean) | null = null,
): void {
  if (noMatch(p)) return;
  const { index, probe: pr } = chooseIndex(db, p);
  const ranged = range !== null && index === 'aevt' && db.attr(pr.a)!.index;
  // The index matched a prefix of the constants; check the rest.
  const vCovered = index === 'avet' || index === 'vaet' || (index === 'eavt' && pr.a !== undefined);
  const vc = isC(p.v) && !vCovered ? p.v.c : undefined;
  const vFast = typeof vc === 'string' || (typeof vc === 'number' && !Number.isNaN(vc));
  const txc = isC(p.tx) ? (p.tx.c as number) : undefined;
  const addedc = isC(p.added) ? p.added.c : undefined;
  const { fields, same } = shape;
  const n = prefix.length;
  const width = n + fields.length;
  const emit = (d: Datom) => {
    if (vc !== undefined && (vFast ? d.v !== vc : !valuesEqual(d.v, vc))) return;
    if (txc !== undefined && d.tx !== txc) return;
    if (addedc !== undefined && d.added !== addedc) return;
    if (range !== null && !inRange(d.v, range)) return;
    if (same.length > 0 && !same.every(([x, y]) => valuesEqual(d[x], d[y]))) return;
    if (accept !== null && !accept(d)) return;
    const row = new Array<unknown>(width);
    for (let i = 0; i < n; i++) row[i] = prefix[i];
    for (let i = 0; i < fields.length; i++) row[n + i] = d[fields[i]!];
    out.push(row);
  };
  if (ranged) for (const d of db.scanRange(pr.a, range.lo, range.hi)) emit(d);
  else db.scanEach(index, pr, emit);
}

/** Which datom field each pattern variable reads, and the checks for a repeated variable. */
export interface RowShape {
  vars: Var[];
  fields: (keyof Pick<Datom, 'e' | 'a' | 'v' | 'tx' | 'added'>)[];
  same: [keyof Datom, keyof Datom][];
}

export function rowShape(p: DbPattern): RowShape {
  const vars: Var[] = [];
  const fields: RowShape['fields'] = [];
  const same: RowShape['same'] = [];
  const names = ['e', 'a', 'v', 'tx', 'added'] as const;
  for (const f of names) {
    const s = p[f];
    if (!(s instanceof Var)) continue;
    const i = vars.indexOf(s);
    if (i >= 0) same.push([fields[i]!, f]);
    else {
      vars.push(s);
      fields.push(f);
    }
  }
  return { vars, fields, same };
}
