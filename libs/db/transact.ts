/**
 * Transactions: tx-data in, a new database value and a report out.
 *
 * Three phases, as in Datomic:
 *  1. expand: every form (maps, nested maps, list forms, tx functions, `:db/cas`,
 *     `:db/retractEntity`, lookup refs, idents) becomes asserts and retracts, read against
 *     the database before the transaction;
 *  2. resolve tempids: upserts through `:db.unique/identity`, unification of tempids
 *     that claim the same identity, then fresh ids for the rest;
 *  3. apply: redundant assertions are elided, a new value of a cardinality-one attribute
 *     retracts the old one, unique conflicts and conflicting datoms fail the whole
 *     transaction, composite tuples are recomputed, `:db/txInstant` is recorded and
 *     schema changes are read back into the schema.
 * Any error leaves nothing behind: the input value is immutable and the new one is
 * only returned on success.
 */
import type { SortedSet, SortedSetBase, TransientSortedSet } from './btset.js';
import { Datom, PROBE_ORDERS, probe } from './datom.js';
import { Db, type DbState } from './db.js';
import { parseEdn, printEdn } from './edn.js';
import { DiagonError } from './errors.js';
import {
  type Attr,
  attrFromFacts,
  coerceValue,
  DB0,
  FIRST_USER_ATTR,
  identName,
  SCHEMA_ATTRS,
  type Schema,
  SYS,
  TX0,
  untypedAttr,
} from './schema.js';
import { compareValues, describeValue, Keyword, List, type Value } from './values.js';

export interface TxReport {
  readonly dbBefore: Db;
  readonly dbAfter: Db;
  /** The datoms asserted and retracted, in the order they were applied. */
  readonly txData: Datom[];
  /** Each tempid to the entity id it became; the key `db/current-tx` holds the transaction's id. */
  readonly tempids: Record<string, number>;
}

/** Attributes and values asserted on the transaction entity itself. */
export type TxMeta = Record<string, unknown> | Map<unknown, unknown>;

/** A transaction function: gets the database before the transaction and returns tx-data. */
export type TxFn = (db: Db, ...args: unknown[]) => unknown;

const txFns = new Map<string, TxFn>();

/** Registers a transaction function, called in tx-data as `[:my/fn arg ...]` (`["my/fn", ...]` in JS). */
export function registerTxFn(name: string, fn: TxFn): void {
  const ident = identName(name);
  if (ident === null || typeof fn !== 'function') {
    throw new DiagonError('db.error/tx-fn', 'registerTxFn needs a name and a function');
  }
  if (BUILTIN_OPS.has(ident)) {
    throw new DiagonError('db.error/tx-fn', `:${ident} is built in and cannot be replaced`);
  }
  txFns.set(ident, fn);
}

/** Tx functions expand into tx-data that may call tx functions, at most this deep. */
export const MAX_TX_FN_DEPTH = 32;

const BUILTIN_OPS = new Set([
  'db/add',
  'db/retract',
  'db.fn/retractAttribute',
  'db/retractEntity',
  'db.fn/retractEntity',
  'db/cas',
  'db.fn/cas',
  'db.fn/call',
]);

/** The tempid that names the transaction entity itself (for tx metadata). */
const TX_TEMPIDS = new Set(['db/current-tx', 'datomic.tx']);

class TempId {
  eid = 0;
  parent: TempId = this;
  asEntity = false;
  isAttr = false;
  constructor(readonly key: string | number | null) {}
}

function find(t: TempId): TempId {
  while (t.parent !== t) {
    t.parent = t.parent.parent;
    t = t.parent;
  }
  return t;
}

const ADD = 0;
const RETRACT = 1;
const RETRACT_ALL = 2;

interface Op {
  kind: typeof ADD | typeof RETRACT | typeof RETRACT_ALL;
  e: number | TempId;
  attr: Attr;
  /** Stored form for non-refs; an entity id or a TempId for refs; unused for RETRACT_ALL. */
  v: unknown;
  form: unknown;
}

function isPlainObject(x: unknown): x is Record<string, unknown> {
  if (typeof x !== 'object' || x === null) return false;
  const proto = Object.getPrototypeOf(x);
  return proto === Object.prototype || proto === null;
}

function describeForm(form: unknown): string {
  try {
    const s = printEdn(form);
    return s.length > 200 ? `${s.slice(0, 197)}...` : s;
  } catch {
    return describeValue(form);
  }
}

function formError(
  code: string,
  message: string,
  form: unknown,
  extra: Record<string, unknown> = {},
): DiagonError {
  return new DiagonError(code, `${message} in ${describeForm(form)}`, { form, ...extra });
}

/** A key that is equal for equal values, for grouping upsert claims. */
function valueKey(v: unknown): string {
  if (typeof v === 'string') return `s${v}`;
  if (typeof v === 'number') return `n${v}`;
  if (v instanceof Keyword) return `k${v.fqn}`;
  if (v instanceof Date) return `d${v.getTime()}`;
  if (typeof v === 'bigint') return `b${v}`;
  if (v instanceof Uint8Array) return `y${Buffer.from(v).toString('hex')}`;
  if (Array.isArray(v)) return `[${v.map(valueKey).join(',')}]`;
  return `o${String(v)}`;
}

/** Phase 1: tx-data to ops. */
class Expander {
  readonly ops: Op[] = [];
  readonly tempids = new Map<string | number, TempId>();
  readonly anonymous: TempId[] = [];
  readonly txTemp = new TempId('db/current-tx');
  /** Attributes created on first use ('read' flexibility), by ident. */
  readonly autoAttrs = new Map<string, Attr>();
  nextAttrId: number;

  constructor(
    readonly db: Db,
    readonly txEid: number,
  ) {
    this.txTemp.eid = txEid;
    this.txTemp.asEntity = true;
    this.nextAttrId = db.schema.nextAttrId;
  }

  get schema(): Schema {
    return this.db.schema;
  }

  tempid(key: string | number): TempId {
    let t = this.tempids.get(key);
    if (t === undefined) {
      t = new TempId(key);
      this.tempids.set(key, t);
    }
    return t;
  }

  attr(name: unknown, form: unknown): Attr {
    const found = this.schema.resolveAttr(name);
    if (found !== undefined) return found;
    const ident = identName(name);
    if (ident !== null) {
      const auto = this.autoAttrs.get(ident);
      if (auto !== undefined) return auto;
      if (
        this.schema.flexibility === 'read' &&
        /^[^\s:_][^\s]*$/.test(ident) &&
        !ident.includes('/_')
      ) {
        const attr = untypedAttr(this.nextAttrId++, ident);
        this.autoAttrs.set(ident, attr);
        const identAttr = this.schema.attr(SYS.ident)!;
        const cardAttr = this.schema.attr(SYS.cardinality)!;
        this.ops.push({ kind: ADD, e: attr.id, attr: identAttr, v: Keyword.of(ident), form });
        this.ops.push({
          kind: ADD,
          e: attr.id,
          attr: cardAttr,
          v: this.schema.entidOfIdent('db.cardinality/one'),
          form,
        });
        return attr;
      }
    }
    throw formError(
      'db.error/unknown-attribute',
      `${describeValue(name)} is not an attribute; install it first (schema flexibility is '${this.schema.flexibility}')`,
      form,
      { attribute: name },
    );
  }

  /** An ident (Keyword, or a JS string with a leading colon) to its entity id. */
  private ident(name: string, form: unknown): number {
    const e = this.schema.entidOfIdent(name);
    if (e === undefined) {
      throw formError(
        'db.error/entity-not-found',
        `:${name} is not an ident of this database`,
        form,
        {
          ident: name,
        },
      );
    }
    return e;
  }

  private lookupRef(ref: readonly unknown[], form: unknown): number {
    const e = this.db.entid(ref);
    if (e === null) {
      throw formError(
        'db.error/lookup-ref-not-found',
        `lookup ref ${describeValue(ref)} matches no entity`,
        form,
        {
          lookupRef: ref,
        },
      );
    }
    return e;
  }

  isLookupRef(v: unknown): v is readonly [unknown, unknown] {
    if (!Array.isArray(v) || v.length !== 2) return false;
    const a = this.schema.resolveAttr(v[0]);
    return (
      a !== undefined && a.unique !== null && (typeof v[0] === 'string' || v[0] instanceof Keyword)
    );
  }

  /** Where an entity goes: an id, or a TempId to resolve in phase 2. */
  entity(x: unknown, form: unknown): number | TempId {
    if (typeof x === 'number') {
      if (Number.isSafeInteger(x) && x !== 0) return x > 0 ? x : this.tempid(x);
    } else if (typeof x === 'string') {
      if (x.length > 0) {
        const name = x.charCodeAt(0) === 58 ? x.slice(1) : x;
        if (TX_TEMPIDS.has(name)) return this.txTemp;
        return x.charCodeAt(0) === 58 ? this.ident(name, form) : this.tempid(x);
      }
    } else if (x instanceof Keyword) {
      return TX_TEMPIDS.has(x.fqn) ? this.txTemp : this.ident(x.fqn, form);
    } else if (Array.isArray(x)) {
      return this.lookupRef(x, form);
    } else if (x instanceof TempId) return x;
    throw formError(
      'db.error/invalid-entity',
      `${describeValue(x)} is not an entity id, tempid, ident or lookup ref`,
      form,
      {
        entity: x,
      },
    );
  }

  /** A ref value: an entity reference, or a nested map that becomes an entity of its own. */
  refValue(attr: Attr, v: unknown, form: unknown): number | TempId {
    if (isPlainObject(v) || v instanceof Map) return this.map(v, form);
    if (
      typeof v === 'string' &&
      (attr.id === SYS.valueType || attr.id === SYS.cardinality || attr.id === SYS.unique)
    ) {
      return this.ident(identName(v)!, form);
    }
    return this.entity(v, form);
  }

  /** The values of one map entry: a collection for cardinality many, one value otherwise. */
  private valuesOf(attr: Attr, v: unknown): unknown[] {
    if (v instanceof Set) return [...v];
    if (!attr.many || !Array.isArray(v)) return [v];
    if (attr.isRef && this.isLookupRef(v)) return [v];
    return v;
  }

  value(attr: Attr, v: unknown, form: unknown): unknown {
    if (v === null || v === undefined) {
      throw formError(
        'db.error/nil-value',
        `:${attr.ident} cannot be nil; retract the attribute instead`,
        form,
        {
          attribute: attr.ident,
        },
      );
    }
    if (attr.isRef) return this.refValue(attr, v, form);
    try {
      return coerceValue(attr, v);
    } catch (e) {
      if (e instanceof DiagonError) throw formError(e.code, e.message, form, e.data);
      throw e;
    }
  }

  map(m: Map<unknown, unknown> | Record<string, unknown>, form: unknown = m): number | TempId {
    const entries: Iterable<[unknown, unknown]> =
      m instanceof Map ? m.entries() : Object.entries(m);
    let idSpec: unknown;
    const rest: [string, unknown, unknown][] = [];
    for (const [k, v] of entries) {
      const name = identName(k);
      if (name === null) {
        throw formError(
          'db.error/invalid-tx-data',
          `map key ${describeValue(k)} is not an attribute name`,
          form,
        );
      }
      if (name === 'db/id') idSpec = v;
      else rest.push([name, k, v]);
    }
    let e: number | TempId;
    if (idSpec === undefined || idSpec === null) {
      e = new TempId(null);
      this.anonymous.push(e);
    } else e = this.entity(idSpec, form);
    for (const [name, key, v] of rest) {
      const slash = name.indexOf('/');
      const reverse = name.charCodeAt(slash + 1) === 95 || (slash < 0 && name.charCodeAt(0) === 95);
      if (reverse) {
        const forward =
          slash < 0 ? name.slice(1) : `${name.slice(0, slash)}/${name.slice(slash + 2)}`;
        const attr = this.attr(forward, form);
        if (!attr.isRef) {
          throw formError(
            'db.error/invalid-tx-data',
            `reverse attribute :${name} needs :${forward} to be a ref`,
            form,
          );
        }
        const sources = Array.isArray(v) && !this.isLookupRef(v) ? v : [v];
        for (const src of sources) {
          this.ops.push({ kind: ADD, e: this.refValue(attr, src, form), attr, v: e, form });
        }
        continue;
      }
      const attr = this.attr(key, form);
      for (const one of this.valuesOf(attr, v)) {
        this.ops.push({ kind: ADD, e, attr, v: this.value(attr, one, form), form });
      }
    }
    return e;
  }

  form(f: unknown, depth: number): void {
    if (isPlainObject(f) || f instanceof Map) {
      this.map(f);
      return;
    }
    if (f instanceof Datom) {
      const attr = this.attr(f.a, f);
      this.ops.push({ kind: f.added ? ADD : RETRACT, e: f.e, attr, v: f.v, form: f });
      return;
    }
    const items = f instanceof List ? f.items : Array.isArray(f) ? f : null;
    if (items === null || items.length === 0) {
      throw formError(
        'db.error/invalid-tx-data',
        'a tx-data form must be a map or a non-empty list form',
        f,
      );
    }
    const head = items[0];
    const op = typeof head === 'function' ? null : identName(head);
    const arity = (n: number, usage: string) => {
      if (items.length !== n + 1) {
        throw formError('db.error/invalid-tx-data', `:${op} takes ${n} arguments: ${usage}`, f);
      }
    };
    switch (op) {
      case 'db/add': {
        arity(3, '[:db/add e a v]');
        const attrName = identName(items[2]);
        const slash = attrName?.indexOf('/') ?? -1;
        if (attrName !== null && slash >= 0 && attrName.charCodeAt(slash + 1) === 95) {
          const attr = this.attr(`${attrName.slice(0, slash)}/${attrName.slice(slash + 2)}`, f);
          const target = this.entity(items[1], f);
          this.ops.push({
            kind: ADD,
            e: this.refValue(attr, items[3], f),
            attr,
            v: target,
            form: f,
          });
          return;
        }
        const attr = this.attr(items[2], f);
        this.ops.push({
          kind: ADD,
          e: this.entity(items[1], f),
          attr,
          v: this.value(attr, items[3], f),
          form: f,
        });
        return;
      }
      case 'db/retract': {
        if (items.length !== 3 && items.length !== 4) {
          throw formError(
            'db.error/invalid-tx-data',
            ':db/retract takes [:db/retract e a] or [:db/retract e a v]',
            f,
          );
        }
        const e = this.existing(items[1], f);
        const attr = this.attr(items[2], f);
        if (items.length === 3)
          this.ops.push({ kind: RETRACT_ALL, e, attr, v: undefined, form: f });
        else
          this.ops.push({
            kind: RETRACT,
            e,
            attr,
            v: this.retractValue(attr, items[3], f),
            form: f,
          });
        return;
      }
      case 'db.fn/retractAttribute':
        arity(2, '[:db.fn/retractAttribute e a]');
        this.ops.push({
          kind: RETRACT_ALL,
          e: this.existing(items[1], f),
          attr: this.attr(items[2], f),
          v: undefined,
          form: f,
        });
        return;
      case 'db/retractEntity':
      case 'db.fn/retractEntity':
        arity(1, '[:db/retractEntity e]');
        this.retractEntity(this.existing(items[1], f), f, new Set());
        return;
      case 'db/cas':
      case 'db.fn/cas':
        arity(4, '[:db/cas e a old new]');
        this.cas(items[1], items[2], items[3], items[4], f);
        return;
      case 'db.fn/call': {
        const fn = items[1];
        if (typeof fn !== 'function')
          throw formError('db.error/tx-fn', ':db.fn/call needs a function', f);
        this.call(fn as TxFn, items.slice(2), f, depth);
        return;
      }
      default: {
        if (typeof head === 'function') {
          this.call(head as TxFn, items.slice(1), f, depth);
          return;
        }
        const fn = op === null ? undefined : txFns.get(op);
        if (fn === undefined) {
          throw formError(
            'db.error/invalid-tx-data',
            `${describeValue(head)} is neither :db/add, :db/retract, a built-in nor a registered tx function`,
            f,
          );
        }
        this.call(fn, items.slice(1), f, depth);
      }
    }
  }

  /** An entity that must exist already: retracting from a tempid means nothing. */
  private existing(x: unknown, form: unknown): number {
    const e = this.entity(x, form);
    if (e instanceof TempId) {
      if (e === this.txTemp) return e.eid;
      throw formError(
        'db.error/invalid-tx-data',
        `cannot retract from tempid ${describeValue(x)}`,
        form,
      );
    }
    return e;
  }

  private retractValue(attr: Attr, v: unknown, form: unknown): unknown {
    if (!attr.isRef) return this.value(attr, v, form);
    return this.existing(v, form);
  }

  private retractEntity(e: number, form: unknown, seen: Set<number>): void {
    if (seen.has(e)) return;
    seen.add(e);
    for (const d of this.db.scan('eavt', probe(e))) {
      const attr = this.schema.attr(d.a)!;
      this.ops.push({ kind: RETRACT, e, attr, v: d.v, form });
      if (attr.isComponent) this.retractEntity(d.v as number, form, seen);
    }
    for (const d of this.db.scan('vaet', probe(undefined, undefined, e))) {
      this.ops.push({ kind: RETRACT, e: d.e, attr: this.schema.attr(d.a)!, v: e, form });
    }
  }

  private cas(eSpec: unknown, aSpec: unknown, oldV: unknown, newV: unknown, form: unknown): void {
    const e = this.entity(eSpec, form);
    const attr = this.attr(aSpec, form);
    if (attr.many)
      throw formError(
        'db.error/cas',
        `:db/cas needs a cardinality-one attribute, :${attr.ident} is many`,
        form,
      );
    const current = e instanceof TempId ? undefined : this.db.scan('eavt', probe(e, attr.id))[0]?.v;
    const expected =
      oldV === null || oldV === undefined
        ? undefined
        : attr.isRef
          ? this.existing(oldV, form)
          : this.value(attr, oldV, form);
    const same =
      current === undefined || expected === undefined
        ? current === expected
        : compareValues(current, expected) === 0;
    if (!same) {
      throw formError(
        'db.error/cas-failed',
        `compare-and-swap failed on :${attr.ident} of ${describeValue(eSpec)}: expected ${describeValue(expected ?? null)}, found ${describeValue(current ?? null)}`,
        form,
        { entity: eSpec, attribute: attr.ident, expected, actual: current },
      );
    }
    this.ops.push({ kind: ADD, e, attr, v: this.value(attr, newV, form), form });
  }

  private call(fn: TxFn, args: readonly unknown[], form: unknown, depth: number): void {
    if (depth >= MAX_TX_FN_DEPTH) {
      throw formError(
        'db.error/tx-fn-depth',
        `tx functions nested deeper than ${MAX_TX_FN_DEPTH}`,
        form,
      );
    }
    let out: unknown;
    try {
      out = fn(this.db, ...args);
    } catch (e) {
      if (e instanceof DiagonError) throw e;
      throw formError(
        'db.error/tx-fn',
        `tx function failed: ${(e as Error)?.message ?? String(e)}`,
        form,
        { cause: e },
      );
    }
    if (out !== null && out !== undefined && typeof (out as Promise<unknown>).then === 'function') {
      throw formError(
        'db.error/tx-fn',
        'tx functions must be synchronous and return tx-data, not a Promise',
        form,
      );
    }
    for (const f of toForms(out, form)) this.form(f, depth + 1);
  }
}

function toForms(txData: unknown, form?: unknown): readonly unknown[] {
  const data = typeof txData === 'string' ? parseEdn(txData) : txData;
  if (Array.isArray(data)) return data;
  if (data instanceof List) return data.items;
  if (data === null || data === undefined) return [];
  throw new DiagonError(
    'db.error/invalid-tx-data',
    `tx-data must be a list of forms (an array or an EDN vector), got ${describeValue(data)}${form === undefined ? '' : ` from ${describeValue(form)}`}`,
  );
}

/** Phase 2: every tempid gets its entity id. */
function resolveTempids(
  x: Expander,
  db: Db,
  state: DbState,
): { maxEid: number; nextAttrId: number } {
  const claims = new Map<string, TempId | number>();
  const upserts: Op[] = [];
  for (const op of x.ops) {
    if (op.kind === ADD && op.attr.unique === 'identity') upserts.push(op);
  }
  const unify = (a: TempId, b: TempId, op: Op) => {
    if (a === b) return;
    if (a.eid !== 0 && b.eid !== 0 && a.eid !== b.eid) throw upsertConflict(op, a.eid, b.eid);
    b.parent = a;
    if (a.eid === 0) a.eid = b.eid;
  };
  for (let changed = true; changed; ) {
    changed = false;
    for (const op of upserts) {
      let v = op.v;
      if (v instanceof TempId) {
        const r = find(v);
        if (r.eid === 0) continue;
        v = r.eid;
      }
      const key = `${op.attr.id}\u0000${valueKey(v)}`;
      const e = op.e instanceof TempId ? find(op.e) : op.e;
      let claim = claims.get(key);
      if (claim === undefined) {
        const existing = db.scan('avet', probe(undefined, op.attr.id, v))[0]?.e;
        if (existing !== undefined) claim = existing;
        claims.set(key, claim ?? e);
        if (claim === undefined) continue;
      }
      if (claim instanceof TempId) claim = find(claim);
      if (typeof e === 'number') {
        if (claim instanceof TempId) {
          if (claim.eid === 0) {
            claim.eid = e;
            changed = true;
          } else if (claim.eid !== e) throw upsertConflict(op, claim.eid, e);
        } else if (claim !== e) throw upsertConflict(op, claim, e);
      } else if (claim instanceof TempId) {
        if (claim !== e) {
          unify(claim, e, op);
          changed = true;
        }
      } else if (e.eid === 0) {
        e.eid = claim;
        changed = true;
      } else if (e.eid !== claim) throw upsertConflict(op, e.eid, claim);
    }
  }
  for (const op of x.ops) {
    if (op.e instanceof TempId && op.kind === ADD) {
      const r = find(op.e);
      r.asEntity = true;
      if (op.attr.id === SYS.ident) r.isAttr = true;
    }
  }
  let maxEid = state.maxEid;
  let nextAttrId = x.nextAttrId;
  const allocate = (t: TempId) => {
    const r = find(t);
    if (r.eid !== 0 || !r.asEntity) return;
    r.eid = r.isAttr ? nextAttrId++ : ++maxEid;
  };
  for (const t of x.tempids.values()) allocate(t);
  for (const t of x.anonymous) allocate(t);
  for (const t of x.tempids.values()) {
    const r = find(t);
    if (r.eid === 0) {
      throw new DiagonError(
        'db.error/tempid-not-an-entity',
        `tempid ${describeValue(t.key)} is used only as a value; assert something about it to create the entity`,
        { tempid: t.key },
      );
    }
    t.eid = r.eid;
  }
  return { maxEid, nextAttrId };
}

function upsertConflict(op: Op, a: number, b: number): DiagonError {
  return formError(
    'db.error/unique-conflict',
    `upsert conflict: :${op.attr.ident} ${describeValue(op.v instanceof TempId ? op.v.key : op.v)} resolves to entity ${a} and to entity ${b}`,
    op.form,
    { attribute: op.attr.ident, value: op.v, entities: [a, b] },
  );
}

/** An index of the new value: read from the old one until the first write makes it transient. */
class IndexEdit {
  private t: TransientSortedSet<Datom> | null = null;
  constructor(private readonly base: SortedSet<Datom>) {}

  get read(): SortedSetBase<Datom> {
    return this.t ?? this.base;
  }

  get write(): TransientSortedSet<Datom> {
    if (this.t === null) this.t = this.base.transient();
    return this.t;
  }

  result(): SortedSet<Datom> {
    return this.t === null ? this.base : this.t.persistent();
  }
}

/** Phase 3: the indexes of the new value, and the rules of assertion and retraction. */
class Applier {
  readonly eavt: IndexEdit;
  readonly aevt: IndexEdit;
  readonly avet: IndexEdit;
  readonly vaet: IndexEdit;
  /** The datoms this transaction retracted, for the history log. */
  readonly history: Datom[] = [];
  readonly txData: Datom[] = [];
  /** Entities whose schema datoms changed. */
  schemaTouched: Set<number> | null = null;
  /** Composite tuples to recompute: entity → composite attributes. */
  composites: Map<number, Set<Attr>> | null = null;
  /** The :db/txInstant asserted in this transaction, if any. */
  instant: Date | null = null;

  constructor(
    state: DbState,
    private readonly schema: Schema,
    readonly txEid: number,
  ) {
    this.eavt = new IndexEdit(state.cur.eavt);
    this.aevt = new IndexEdit(state.cur.aevt);
    this.avet = new IndexEdit(state.cur.avet);
    this.vaet = new IndexEdit(state.cur.vaet);
  }

  private touched(e: number, attr: Attr): void {
    if (SCHEMA_ATTRS.has(attr.id)) (this.schemaTouched ??= new Set()).add(e);
    const comps = this.schema.compositesOf.get(attr.id);
    if (comps !== undefined) {
      this.composites ??= new Map();
      let set = this.composites.get(e);
      if (set === undefined) this.composites.set(e, (set = new Set()));
      for (const c of comps) set.add(c);
    }
  }

  add(e: number, attr: Attr, v: Value, form: unknown): void {
    if (attr.id === SYS.txInstant) {
      this.txInstant(e, v as Date, form);
      return;
    }
    const eavt = this.eavt.read;
    if (attr.many) {
      if (eavt.get(probe(e, attr.id, v)) !== undefined) return; // redundant: already true
    } else {
      const p = probe(e, attr.id);
      const old = eavt.first(p, p, PROBE_ORDERS.eavt);
      if (old !== undefined) {
        if (compareValues(old.v, v) === 0) return; // redundant: already true
        if (old.tx === this.txEid) {
          throw formError(
            'db.error/datoms-conflict',
            `two values for cardinality-one :${attr.ident} of entity ${e} in one transaction: ${describeValue(old.v)} and ${describeValue(v)}`,
            form,
            { entity: e, attribute: attr.ident, values: [old.v, v] },
          );
        }
        this.retract(old, attr);
      }
    }
    if (attr.unique !== null) {
      const p = probe(undefined, attr.id, v);
      const other = this.avet.read.first(p, p, PROBE_ORDERS.avet);
      if (other !== undefined && other.e !== e) {
        throw formError(
          'db.error/unique-conflict',
          `unique conflict: :${attr.ident} ${describeValue(v)} is held by entity ${other.e}, cannot assert it for entity ${e}`,
          form,
          { attribute: attr.ident, value: v, entities: [other.e, e] },
        );
      }
    }
    const d = new Datom(e, attr.id, v, this.txEid, true);
    this.eavt.write.add(d);
    this.aevt.write.add(d);
    if (attr.index) this.avet.write.add(d);
    if (attr.isRef) this.vaet.write.add(d);
    this.txData.push(d);
    this.touched(e, attr);
  }

  /** The transaction's own instant: kept in the transaction log, not in the indexes. */
  private txInstant(e: number, v: Date, form: unknown): void {
    if (e !== this.txEid) {
      throw formError(
        'db.error/invalid-tx-data',
        ':db/txInstant can only be asserted on the transaction itself (db/current-tx)',
        form,
      );
    }
    if (this.instant !== null && this.instant.getTime() !== v.getTime()) {
      throw formError(
        'db.error/datoms-conflict',
        `two values for :db/txInstant in one transaction: ${describeValue(this.instant)} and ${describeValue(v)}`,
        form,
      );
    }
    this.instant = v;
  }

  /** Retracts the datom equal to `d` (a stored datom or a probe for e, a, v) if it is there. */
  retract(d: Datom, attr: Attr, form?: unknown): void {
    if (attr.id === SYS.txInstant) {
      throw formError(
        'db.error/invalid-tx-data',
        "a transaction's :db/txInstant is permanent and cannot be retracted",
        form ?? d,
      );
    }
    const stored = this.eavt.write.delete(d);
    if (stored === undefined) return;
    if (stored.tx === this.txEid && form !== undefined) {
      throw formError(
        'db.error/datoms-conflict',
        `:${attr.ident} ${describeValue(d.v)} of entity ${d.e} is asserted and retracted in one transaction`,
        form,
        { entity: d.e, attribute: attr.ident, value: d.v },
      );
    }
    this.aevt.write.delete(stored);
    if (attr.index) this.avet.write.delete(stored);
    if (attr.isRef) this.vaet.write.delete(stored);
    const r = new Datom(stored.e, stored.a, stored.v, this.txEid, false);
    this.txData.push(r);
    if (!attr.noHistory) this.history.push(stored);
    this.touched(stored.e, attr);
  }

  current(e: number, a: number): Datom[] {
    const p = probe(e, a);
    return this.eavt.read.range(p, p, PROBE_ORDERS.eavt);
  }

  /** Composite tuples follow their parts: nil where a part is missing, retracted when all are. */
  recomputeComposites(): void {
    if (this.composites === null) return;
    for (const [e, attrs] of this.composites) {
      for (const comp of attrs) {
        const tuple = comp.tupleAttrs!.map((a) => this.current(e, a)[0]?.v ?? null);
        const old = this.current(e, comp.id)[0];
        if (tuple.every((x) => x === null)) {
          if (old !== undefined) this.retract(old, comp);
        } else this.add(e, comp, tuple as Value, tuple);
      }
    }
  }

  /** An attribute that became (un)indexed or a ref moves its datoms into or out of AVET and VAET. */
  reindex(old: Attr, next: Attr): void {
    if (old.index === next.index && old.isRef === next.isRef) return;
    const p = probe(undefined, old.id);
    for (const d of this.aevt.read.range(p, p, PROBE_ORDERS.aevt)) {
      if (next.index && !old.index) this.avet.write.add(d);
      if (!next.index && old.index) this.avet.write.delete(d);
      if (next.isRef && !old.isRef) this.vaet.write.add(d);
    }
  }
}

/** Reads the changed schema entities back into a new schema, refusing unsafe alterations. */
function nextSchema(schema: Schema, ap: Applier, nextAttrId: number): Schema {
  const changes = new Map<number, { ident: string | null; attr: Attr | null }>();
  for (const e of ap.schemaTouched ?? []) {
    const facts = new Map<number, Value>();
    for (const a of [...SCHEMA_ATTRS, SYS.doc]) {
      const ds = ap.current(e, a);
      if (ds.length > 0) facts.set(a, ds[0]!.v);
    }
    if (e >= DB0 && e < FIRST_USER_ATTR) {
      throw new DiagonError(
        'db.error/schema',
        `:${schema.identOf(e) ?? e} is a system entity and cannot change`,
        {
          entity: e,
        },
      );
    }
    const next = attrFromFacts(e, facts, schema);
    const old = schema.attr(e);
    const attr = next.attr;
    if (attr !== null && (e < DB0 || e >= TX0)) {
      throw new DiagonError(
        'db.error/schema',
        `:${attr.ident}: attributes live in the db partition; define them with a new tempid and :db/ident, not on entity ${e}`,
        { entity: e },
      );
    }
    if (attr !== null && attr.valueType === null && schema.flexibility === 'write') {
      throw new DiagonError(
        'db.error/schema',
        `attribute :${attr.ident} needs a :db/valueType (schema flexibility 'write')`,
        {
          attribute: attr.ident,
        },
      );
    }
    if (old !== undefined) {
      checkAlteration(old, attr, ap);
      ap.reindex(old, attr!);
    }
    changes.set(e, next);
  }
  return schema.withChanges(changes, nextAttrId);
}

function checkAlteration(old: Attr, next: Attr | null, ap: Applier): void {
  const fail = (why: string): never => {
    throw new DiagonError('db.error/schema-alteration', `cannot alter :${old.ident}: ${why}`, {
      attribute: old.ident,
    });
  };
  if (next === null) {
    fail('an attribute cannot lose its definition');
    return;
  }
  if (old.valueType !== null && next.valueType !== old.valueType) {
    fail(`its :db/valueType is ${old.valueType} and stays so`);
  }
  if (
    String(old.tupleAttrs) !== String(next.tupleAttrs) ||
    String(old.tupleTypes) !== String(next.tupleTypes)
  ) {
    fail('tuple definitions cannot change');
  }
  const p = probe(undefined, old.id);
  const datoms = () => ap.aevt.read.range(p, p, PROBE_ORDERS.aevt);
  if (old.valueType === null && next.valueType !== null) {
    for (const d of datoms()) {
      try {
        coerceValue(next, d.v);
      } catch {
        fail(`entity ${d.e} holds ${describeValue(d.v)}, which is not :db.type/${next.valueType}`);
      }
    }
  }
  if (old.many && !next.many) {
    const ds = datoms();
    for (let i = 1; i < ds.length; i++) {
      if (ds[i]!.e === ds[i - 1]!.e)
        fail(`entity ${ds[i]!.e} holds several values, so it cannot become cardinality one`);
    }
  }
  if (old.unique === null && next.unique !== null) {
    const ds = ap.avet.read.range(p, p, PROBE_ORDERS.avet);
    for (let i = 1; i < ds.length; i++) {
      if (compareValues(ds[i]!.v, ds[i - 1]!.v) === 0) {
        fail(
          `entities ${ds[i - 1]!.e} and ${ds[i]!.e} share ${describeValue(ds[i]!.v)}, so it cannot become unique`,
        );
      }
    }
  }
}

/** Applies tx-data to a database value; `txMeta` is asserted on the transaction entity. */
export function transact(db: Db, txData: unknown, txMeta?: TxMeta): TxReport {
  const state = db.state();
  const t = state.basisT + 1;
  const txEid = TX0 + t;
  const x = new Expander(db, txEid);
  for (const f of toForms(txData)) x.form(f, 0);
  if (txMeta !== undefined) {
    if (txMeta instanceof Map) x.map(new Map([...txMeta, ['db/id', 'db/current-tx']]));
    else if (isPlainObject(txMeta)) x.map({ ...txMeta, 'db/id': 'db/current-tx' });
    else
      throw new DiagonError(
        'db.error/invalid-tx-data',
        'transaction metadata must be a map of attribute to value',
      );
  }
  for (const op of x.ops) {
    if (op.attr.tupleAttrs !== null && op.kind === ADD) {
      throw formError(
        'db.error/invalid-tx-data',
        `:${op.attr.ident} is a composite tuple; assert its parts instead`,
        op.form,
      );
    }
  }
  const { maxEid: allocated, nextAttrId } = resolveTempids(x, db, state);
  let maxEid = allocated;
  const schema =
    x.autoAttrs.size === 0 ? state.schema : withAutoAttrs(state.schema, x.autoAttrs, nextAttrId);
  const ap = new Applier(state, schema, txEid);
  const entityId = (e: number | TempId) => {
    const id = e instanceof TempId ? find(e).eid : e;
    if (id < DB0 && id > maxEid) maxEid = id;
    return id;
  };
  for (const op of x.ops) {
    const e = entityId(op.e);
    if (op.kind === ADD) {
      const v = op.attr.isRef ? entityId(op.v as number | TempId) : (op.v as Value);
      ap.add(e, op.attr, v, op.form);
    } else if (op.kind === RETRACT) {
      ap.retract(probe(e, op.attr.id, op.v), op.attr, op.form);
    } else {
      if (op.attr.id === SYS.txInstant) ap.retract(probe(e, op.attr.id), op.attr, op.form);
      for (const d of ap.current(e, op.attr.id)) ap.retract(d, op.attr, op.form);
    }
  }
  ap.recomputeComposites();
  const last = state.txLog.len === 0 ? 0 : state.txLog.instant(state.txLog.len - 1);
  if (ap.instant === null) ap.instant = new Date(Math.max(Date.now(), last));
  else if (ap.instant.getTime() < last) {
    throw new DiagonError(
      'db.error/past-tx-instant',
      `:db/txInstant ${describeValue(ap.instant)} is before the previous transaction's ${new Date(last).toISOString()}`,
      { txInstant: ap.instant },
    );
  }
  const instantDatom = new Datom(txEid, SYS.txInstant, ap.instant, txEid, true);
  ap.txData.push(instantDatom);
  const newSchema = ap.schemaTouched === null ? schema : nextSchema(schema, ap, nextAttrId);
  const dbAfter = new Db({
    schema: newSchema,
    cur: {
      eavt: ap.eavt.result(),
      aevt: ap.aevt.result(),
      avet: ap.avet.result(),
      vaet: ap.vaet.result(),
    },
    hist: state.hist.append(txEid, ap.history),
    txLog: state.txLog.append(ap.instant.getTime()),
    basisT: t,
    maxEid,
  });
  const tempids: Record<string, number> = {};
  for (const [key, tmp] of x.tempids) tempids[String(key)] = tmp.eid;
  tempids['db/current-tx'] = txEid;
  return { dbBefore: db, dbAfter, txData: ap.txData, tempids };
}

/** Attributes made on first use must be known while their own transaction applies. */
function withAutoAttrs(
  schema: Schema,
  auto: ReadonlyMap<string, Attr>,
  nextAttrId: number,
): Schema {
  const changes = new Map<number, { ident: string | null; attr: Attr | null }>();
  for (const [ident, attr] of auto) changes.set(attr.id, { ident, attr });
  return schema.withChanges(changes, nextAttrId);
}
