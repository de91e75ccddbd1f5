/**
 * Phase 3 of a transaction: the ops meet the indexes. Redundant assertions are elided, a
 * new value of a cardinality-one attribute retracts the old one, conflicts fail the
 * transaction, composite tuples follow their parts, and changed schema entities are read
 * back into the schema.
 */

import { applySchemaFacts } from './attribute.js';
import type { SortedSet, SortedSetBase, TransientSortedSet } from './btset.js';
import { Datom, PROBE_ORDERS, probe } from './datom.js';
import type { DbState } from './db.js';
import { DiagonError } from './errors.js';
import { type Attr, DB0, FIRST_USER_ATTR, SCHEMA_ATTRS, type Schema, SYS, TX0 } from './schema.js';
import { ADD, find, formError, type Op, RETRACT, TempId } from './tx-ops.js';
import { coerceValue } from './value-types.js';
import { compareValues, describeValue, type Value, valueKey } from './values.js';

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
export class Applier {
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
  /** Assertions of values already stored (see restate). */
  private restated: Map<string, Value> | null = null;
  private retractions = 0;
  private retractedKeys: Set<string> | null = null;
  /** The highest user-partition id seen: explicit ids advance it, as in DataScript. */
  maxEid = 0;

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

  private entityId(e: number | TempId): number {
    const id = e instanceof TempId ? find(e).eid : e;
    if (id < DB0 && id > this.maxEid) this.maxEid = id;
    return id;
  }

  apply(op: Op): void {
    const e = this.entityId(op.e);
    if (op.kind === ADD) {
      const v = op.attr.isRef ? this.entityId(op.v as number | TempId) : (op.v as Value);
      this.add(e, op.attr, v, op.form);
    } else if (op.kind === RETRACT) {
      this.retract(probe(e, op.attr.id, op.v), op.attr, op.form);
    } else {
      if (op.attr.id === SYS.txInstant) this.retract(probe(e, op.attr.id), op.attr, op.form);
      for (const d of this.current(e, op.attr.id)) this.retract(d, op.attr, op.form);
    }
  }

  private touched(e: number, attr: Attr): void {
    // Schema attributes and :db/doc all live below the first user attribute's id.
    if (attr.id < FIRST_USER_ATTR) {
      const defines = SCHEMA_ATTRS.has(attr.id) || (attr.id === SYS.doc && e >= DB0 && e < TX0);
      if (defines) (this.schemaTouched ??= new Set()).add(e);
    }
    if (this.schema.compositesOf.size === 0) return;
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
      const stored = eavt.get(probe(e, attr.id, v));
      if (stored !== undefined) {
        if (stored.tx !== this.txEid) this.restate(e, attr, v);
        return;
      }
    } else {
      const p = probe(e, attr.id);
      const old = eavt.first(p, p, PROBE_ORDERS.eavt);
      const restated = this.restated?.get(`${e} ${attr.id}`);
      if (restated !== undefined && compareValues(restated, v) !== 0) {
        throw formError(
          'db.error/datoms-conflict',
          `two values for cardinality-one :${attr.ident} of entity ${e} in one transaction: ${describeValue(restated)} and ${describeValue(v)}`,
          form,
          { entity: e, attribute: attr.ident, values: [restated, v] },
        );
      }
      if (old !== undefined) {
        if (compareValues(old.v, v) === 0) {
          if (old.tx !== this.txEid) this.restate(e, attr, v);
          return;
        }
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
    if (this.retractions > 0 && this.wasRetracted(e, attr.id, v))
      throw addRetractConflict(e, attr, v, form);
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

  /**
   * Datomic refuses conflicting datoms in one transaction whatever was stored before, so
   * an assertion of a value already there, though elided, is remembered: another value for
   * the same cardinality-one attribute, or a retraction of that datom, still conflicts.
   */
  private restate(e: number, attr: Attr, v: Value): void {
    this.restated ??= new Map();
    this.restated.set(`${e} ${attr.id} ${valueKey(v)}`, v);
    if (!attr.many) this.restated.set(`${e} ${attr.id}`, v);
  }

  /** Whether this transaction retracted (e, a, v); the keys are built on first need. */
  private wasRetracted(e: number, a: number, v: Value): boolean {
    if (this.retractedKeys === null) {
      this.retractedKeys = new Set();
      for (const d of this.txData)
        if (!d.added) this.retractedKeys.add(`${d.e} ${d.a} ${valueKey(d.v)}`);
    }
    return this.retractedKeys.has(`${e} ${a} ${valueKey(v)}`);
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
    if (form !== undefined && this.restated?.has(`${d.e} ${d.a} ${valueKey(d.v)}`)) {
      throw addRetractConflict(d.e, attr, d.v, form);
    }
    if (stored.tx === this.txEid && form !== undefined)
      throw addRetractConflict(d.e, attr, d.v, form);
    this.aevt.write.delete(stored);
    if (attr.index) this.avet.write.delete(stored);
    if (attr.isRef) this.vaet.write.delete(stored);
    const r = new Datom(stored.e, stored.a, stored.v, this.txEid, false);
    this.txData.push(r);
    this.retractions++;
    this.retractedKeys?.add(`${r.e} ${r.a} ${valueKey(r.v)}`);
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

function addRetractConflict(e: number, attr: Attr, v: Value, form: unknown): DiagonError {
  return formError(
    'db.error/datoms-conflict',
    `:${attr.ident} ${describeValue(v)} of entity ${e} is asserted and retracted in one transaction`,
    form,
    { entity: e, attribute: attr.ident, value: v },
  );
}

/** Reads the changed schema entities back into a new schema, refusing unsafe alterations. */
export function nextSchema(schema: Schema, ap: Applier, nextAttrId: number): Schema {
  const facts = new Map<number, Map<number, Value>>();
  for (const e of ap.schemaTouched ?? []) {
    if (e >= DB0 && e < FIRST_USER_ATTR) {
      throw new DiagonError(
        'db.error/schema',
        `:${schema.identOf(e) ?? e} is a system entity and cannot change`,
        {
          entity: e,
        },
      );
    }
    const f = new Map<number, Value>();
    for (const a of [...SCHEMA_ATTRS, SYS.doc]) {
      const ds = ap.current(e, a);
      if (ds.length > 0) f.set(a, ds[0]!.v);
    }
    if ((e < DB0 || e >= TX0) && [...f.keys()].some((a) => a !== SYS.ident && a !== SYS.doc)) {
      throw new DiagonError(
        'db.error/schema',
        `attributes live in the db partition; define them with a new tempid and :db/ident, not on entity ${e}`,
        { entity: e },
      );
    }
    facts.set(e, f);
  }
  return applySchemaFacts(schema, facts, nextAttrId, (_e, old, attr) => {
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
  });
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
    // The attribute may not be in AVET yet: sort its datoms by value here.
    const ds = datoms().sort((x, y) => compareValues(x.v, y.v));
    for (let i = 1; i < ds.length; i++) {
      if (compareValues(ds[i]!.v, ds[i - 1]!.v) === 0) {
        fail(
          `entities ${ds[i - 1]!.e} and ${ds[i]!.e} share ${describeValue(ds[i]!.v)}, so it cannot become unique`,
        );
      }
    }
  }
}
