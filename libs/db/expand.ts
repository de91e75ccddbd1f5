/**
 * Phase 1 of a transaction: tx-data becomes asserts and retracts. Maps, nested maps,
 * reverse refs, list forms, `:db/cas`, `:db/retractEntity`, transaction functions,
 * lookup refs and idents are all expanded here, read against the database before the
 * transaction, as Datomic does.
 */

import { untypedAttr } from './attribute.js';
import { Datom, probe } from './datom.js';
import type { Db } from './db.js';
import { parseEdn } from './edn.js';
import { DiagonError } from './errors.js';
import { type Attr, identName, type Schema, SYS } from './schema.js';
import { ADD, formError, isPlainObject, type Op, RETRACT, RETRACT_ALL, TempId } from './tx-ops.js';
import { coerceValue } from './value-types.js';
import { compareValues, describeValue, Keyword, List } from './values.js';

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

/** Phase 1: tx-data to ops. */
export class Expander {
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

export function toForms(txData: unknown, form?: unknown): readonly unknown[] {
  const data = typeof txData === 'string' ? parseEdn(txData) : txData;
  if (Array.isArray(data)) return data;
  if (data instanceof List) return data.items;
  if (data === null || data === undefined) return [];
  throw new DiagonError(
    'db.error/invalid-tx-data',
    `tx-data must be a list of forms (an array or an EDN vector), got ${describeValue(data)}${form === undefined ? '' : ` from ${describeValue(form)}`}`,
  );
}
