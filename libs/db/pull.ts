/**
 * Pull: a declarative, hierarchical selection of an entity's attributes (Datomic's pull).
 *
 * Pattern grammar (EDN or the same shape in JS data):
 *   pattern    = [spec ...]
 *   spec       = attr | "*" | {attr-or-expr: pattern | ... | n, ...} | [attr option ...]
 *              | (limit attr n) | (default attr value)
 *   option     = :as name | :limit n-or-nil | :default value | :xform name
 * `attr` may be reverse (`:person/_friend`). `...` recurses without bound, `n` to depth n;
 * a cycle ends in `{ "db/id": id }`. Cardinality-many values are never silently capped:
 * only an explicit `:limit` caps them. Results are plain objects keyed by ident (or `:as`),
 * refs without a sub-pattern as `{ "db/id": id }`, components pulled whole under `*`.
 */
import { type Datom, probe } from './datom.js';
import type { Db, EntityRef } from './db.js';
import { parseEdn } from './edn.js';
import { DiagonError } from './errors.js';
import { type Attr, identName } from './schema.js';
import { describeValue, Keyword, List, Sym } from './values.js';

export type Xform = (value: unknown) => unknown;
const xforms = new Map<string, Xform>();

/** Registers a function usable as `:xform name` in pull patterns. */
export function registerXform(name: string, fn: Xform): void {
  const n = identName(name);
  if (n === null || typeof fn !== 'function')
    throw new DiagonError('pull/xform', 'registerXform needs a name and a function');
  xforms.set(n, fn);
}

const UNBOUNDED = -1;

interface AttrSpec {
  /** Result key. */
  key: string;
  /** null: `:db/id`. */
  attr: Attr | null;
  reverse: boolean;
  sub: Pattern | null;
  /** Recursion: null none, UNBOUNDED for `...`, otherwise the depth. */
  recurse: number | null;
  limit: number | null;
  hasDefault: boolean;
  defaultValue: unknown;
  xform: Xform | null;
}

interface Pattern {
  wildcard: boolean;
  specs: AttrSpec[];
}

function fail(message: string, form: unknown): never {
  throw new DiagonError(
    'pull/invalid-pattern',
    `pull pattern: ${message}: ${describeValue(form)}`,
    { form },
  );
}

function isRecursionMarker(x: unknown): boolean {
  return (x instanceof Sym && x.name === '...') || x === '...';
}

function entriesOf(x: unknown): [unknown, unknown][] | null {
  if (x instanceof Map) return [...x.entries()];
  if (
    typeof x === 'object' &&
    x !== null &&
    !Array.isArray(x) &&
    !(x instanceof List) &&
    !(x instanceof Keyword)
  ) {
    return Object.entries(x);
  }
  return null;
}

class PatternParser {
  constructor(private readonly db: Db) {}

  pattern(form: unknown): Pattern {
    const items = Array.isArray(form) ? form : form instanceof List ? form.items : null;
    if (items === null) fail('a pattern is a vector of attribute specs', form);
    const p: Pattern = { wildcard: false, specs: [] };
    for (const item of items) this.item(item, p);
    return p;
  }

  private isWildcard(x: unknown): boolean {
    return (
      (x instanceof Sym && x.name === '*') || x === '*' || (x instanceof Keyword && x.fqn === '*')
    );
  }

  private item(item: unknown, p: Pattern): void {
    if (this.isWildcard(item)) {
      p.wildcard = true;
      return;
    }
    const entries = entriesOf(item);
    if (entries !== null) {
      for (const [k, v] of entries) {
        const spec = this.attrExpr(k);
        if (isRecursionMarker(v)) spec.recurse = UNBOUNDED;
        else if (typeof v === 'number') {
          if (!Number.isInteger(v) || v < 1) fail('a recursion depth is a positive integer', item);
          spec.recurse = v;
        } else spec.sub = this.pattern(v);
        if (spec.attr === null) fail(':db/id takes no sub-pattern', item);
        if (!spec.reverse && !spec.attr.isRef && spec.attr.valueType !== null) {
          fail(`:${spec.attr.ident} is not a ref, so it takes no sub-pattern`, item);
        }
        p.specs.push(spec);
      }
      return;
    }
    p.specs.push(this.attrExpr(item));
  }

  /** An attribute name, `[attr opt val ...]`, or the legacy `(limit attr n)` / `(default attr v)`. */
  private attrExpr(x: unknown): AttrSpec {
    if (x instanceof List) {
      const [head, attrName, arg] = x.items;
      const op = head instanceof Sym ? head.name : null;
      if (x.items.length !== 3 || (op !== 'limit' && op !== 'default')) {
        fail('a list form is (limit attr n) or (default attr value)', x);
      }
      const spec = this.attrName(attrName);
      this.option(spec, op, arg, x);
      return spec;
    }
    if (Array.isArray(x)) {
      if (x.length < 3 || x.length % 2 === 0)
        fail('an attribute expression is [attr option value ...]', x);
      const spec = this.attrName(x[0]);
      for (let i = 1; i < x.length; i += 2) {
        const opt = identName(x[i]);
        if (opt === null) fail('an option name is a keyword', x);
        this.option(spec, opt, x[i + 1], x);
      }
      return spec;
    }
    return this.attrName(x);
  }

  private option(spec: AttrSpec, opt: string, v: unknown, form: unknown): void {
    switch (opt) {
      case 'as':
        spec.key = v instanceof Keyword ? v.fqn : typeof v === 'string' ? v : describeValue(v);
        return;
      case 'limit':
        if (v === null) spec.limit = null;
        else if (typeof v === 'number' && Number.isInteger(v) && v >= 0) spec.limit = v;
        else fail(':limit takes a non-negative integer or nil', form);
        return;
      case 'default':
        spec.hasDefault = true;
        spec.defaultValue = v;
        return;
      case 'xform': {
        const name = v instanceof Sym ? v.name : identName(v);
        const fn =
          typeof v === 'function' ? (v as Xform) : name === null ? undefined : xforms.get(name);
        if (fn === undefined)
          fail(`:xform ${describeValue(v)} is not registered (registerXform)`, form);
        spec.xform = fn;
        return;
      }
      default:
        fail(`unknown option :${opt}`, form);
    }
  }

  private attrName(x: unknown): AttrSpec {
    const name = identName(x);
    if (name === null) fail('expected an attribute name', x);
    const base: AttrSpec = {
      key: name,
      attr: null,
      reverse: false,
      sub: null,
      recurse: null,
      limit: null,
      hasDefault: false,
      defaultValue: undefined,
      xform: null,
    };
    if (name === 'db/id') return base;
    const slash = name.indexOf('/');
    if (name.charCodeAt(slash + 1) === 95 || (slash < 0 && name.charCodeAt(0) === 95)) {
      const forward =
        slash < 0 ? name.slice(1) : `${name.slice(0, slash)}/${name.slice(slash + 2)}`;
      const attr = this.db.attr(forward);
      if (attr === undefined || !attr.isRef)
        fail(`reverse attribute :${name} needs :${forward} to be a ref attribute`, x);
      return { ...base, attr, reverse: true };
    }
    const attr = this.db.attr(name);
    if (attr === undefined) fail(`:${name} is not an attribute of this database`, x);
    return { ...base, attr };
  }
}

/** Parsed patterns, per schema value (they name its attributes): by EDN text, or by the form object. */
const patternCache = new WeakMap<
  object,
  { text: Map<string, Pattern>; forms: WeakMap<object, Pattern> }
>();

function parsePattern(db: Db, pattern: unknown): Pattern {
  let cache = patternCache.get(db.schema);
  if (cache === undefined)
    patternCache.set(db.schema, (cache = { text: new Map(), forms: new WeakMap() }));
  if (typeof pattern === 'string') {
    let parsed = cache.text.get(pattern);
    if (parsed === undefined)
      cache.text.set(pattern, (parsed = new PatternParser(db).pattern(parseEdn(pattern))));
    return parsed;
  }
  if (typeof pattern !== 'object' || pattern === null)
    return new PatternParser(db).pattern(pattern);
  let parsed = cache.forms.get(pattern);
  if (parsed === undefined)
    cache.forms.set(pattern, (parsed = new PatternParser(db).pattern(pattern)));
  return parsed;
}

type PullResult = Record<string, unknown>;

class Puller {
  constructor(private readonly db: Db) {}

  private refMap(eid: number): PullResult {
    return { 'db/id': eid };
  }

  /** Pulls `pattern` for one entity; `path` holds the entities above it, for cycle detection. */
  entity(
    eid: number,
    p: Pattern,
    path: Set<number>,
    depths: Map<AttrSpec, number>,
  ): PullResult | null {
    const datoms = this.db.scan('eavt', probe(eid));
    const out: PullResult = {};
    let found = false;
    path.add(eid);
    if (p.wildcard) {
      out['db/id'] = eid;
      let i = 0;
      while (i < datoms.length) {
        let j = i;
        while (j < datoms.length && datoms[j]!.a === datoms[i]!.a) j++;
        const attr = this.db.attr(datoms[i]!.a)!;
        if (!p.specs.some((s) => s.attr === attr && !s.reverse)) {
          out[attr.ident] = this.values(attr, datoms.slice(i, j), null, path, depths);
          found = true;
        }
        i = j;
      }
    }
    for (const spec of p.specs) {
      if (spec.attr === null) {
        out[spec.key] = eid;
        found = true;
        continue;
      }
      let value: unknown;
      if (spec.reverse) value = this.reverse(eid, spec, p, path, depths);
      else {
        const mine = this.attrDatoms(datoms, spec.attr.id);
        if (mine.length > 0) value = this.values(spec.attr, mine, spec, path, depths, p);
      }
      if (value === undefined && spec.hasDefault) value = spec.defaultValue;
      if (value !== undefined) {
        out[spec.key] = spec.xform === null ? value : spec.xform(value);
        found = true;
      }
    }
    path.delete(eid);
    return found || p.wildcard ? out : null;
  }

  private attrDatoms(datoms: Datom[], a: number): Datom[] {
    // An entity's datoms are sorted by attribute: binary search for the run of `a`.
    let lo = 0;
    let hi = datoms.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (datoms[mid]!.a < a) lo = mid + 1;
      else hi = mid;
    }
    let end = lo;
    while (end < datoms.length && datoms[end]!.a === a) end++;
    return end === lo ? [] : datoms.slice(lo, end);
  }

  private target(
    eid: number,
    spec: AttrSpec | null,
    parent: Pattern | undefined,
    path: Set<number>,
    depths: Map<AttrSpec, number>,
    wholeComponent: boolean,
  ): PullResult {
    if (spec !== null && spec.recurse !== null) {
      const depth = depths.get(spec) ?? 0;
      if (path.has(eid) || (spec.recurse !== UNBOUNDED && depth >= spec.recurse))
        return this.refMap(eid);
      depths.set(spec, depth + 1);
      const r = this.entity(eid, parent!, path, depths) ?? this.refMap(eid);
      depths.set(spec, depth);
      return r;
    }
    if (spec !== null && spec.sub !== null)
      return this.entity(eid, spec.sub, path, depths) ?? this.refMap(eid);
    if (wholeComponent && !path.has(eid)) {
      return this.entity(eid, { wildcard: true, specs: [] }, path, depths) ?? this.refMap(eid);
    }
    return this.refMap(eid);
  }

  private values(
    attr: Attr,
    datoms: Datom[],
    spec: AttrSpec | null,
    path: Set<number>,
    depths: Map<AttrSpec, number>,
    parent?: Pattern,
  ): unknown {
    const limited =
      spec?.limit != null && datoms.length > spec.limit ? datoms.slice(0, spec.limit) : datoms;
    // A component is pulled whole unless a sub-pattern or recursion says what to take.
    const one = (d: Datom) =>
      attr.isRef ? this.target(d.v as number, spec, parent, path, depths, attr.isComponent) : d.v;
    return attr.many ? limited.map(one) : one(limited[0]!);
  }

  private reverse(
    eid: number,
    spec: AttrSpec,
    parent: Pattern,
    path: Set<number>,
    depths: Map<AttrSpec, number>,
  ): unknown {
    const attr = spec.attr!;
    let sources = this.db.scan('vaet', probe(undefined, attr.id, eid));
    if (sources.length === 0) return undefined;
    if (spec.limit !== null) sources = sources.slice(0, spec.limit);
    const pulled = sources.map((d) => this.target(d.e, spec, parent, path, depths, false));
    return attr.isComponent ? pulled[0] : pulled;
  }
}

/** Pulls a pattern for one entity; null when nothing matched (`:db/id` and `*` always match). */
export function pull(db: Db, pattern: unknown, ref: EntityRef): PullResult | null {
  const eid = db.entid(ref);
  if (eid === null) return null;
  return new Puller(db).entity(eid, parsePattern(db, pattern), new Set(), new Map());
}

/** A pull of one pattern, parsed once, for many entities (as `:find (pull ?e …)` needs). */
export function puller(db: Db, pattern: unknown): (ref: EntityRef) => PullResult | null {
  const p = parsePattern(db, pattern);
  const puller = new Puller(db);
  return (ref) => {
    const eid = db.entid(ref);
    return eid === null ? null : puller.entity(eid, p, new Set(), new Map());
  };
}

/** Pulls a pattern for each entity, in order. */
export function pullMany(
  db: Db,
  pattern: unknown,
  refs: readonly EntityRef[],
): (PullResult | null)[] {
  const p = parsePattern(db, pattern);
  const puller = new Puller(db);
  return refs.map((ref) => {
    const eid = db.entid(ref);
    return eid === null ? null : puller.entity(eid, p, new Set(), new Map());
  });
}
