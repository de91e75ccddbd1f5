/**
 * Entities: a lazy, read-only map view of one entity in one database value. Attribute
 * values load on first `get`; refs come back as entities, so a program can walk the
 * graph (`e.get('person/friend')[0].get('person/name')`), and reverse refs
 * (`e.get('person/_friend')`) walk it backwards.
 */
import { type Datom, probe } from './datom.js';
import type { Db, EntityRef } from './db.js';
import type { Attr } from './schema.js';
import { identName } from './schema.js';
import type { Value } from './values.js';

export type EntityValue = Value | Entity | (Value | Entity)[];

export class Entity {
  private all: Map<string, EntityValue> | null = null;
  private readonly cache = new Map<string, EntityValue | undefined>();

  constructor(
    readonly db: Db,
    readonly eid: number,
  ) {}

  get id(): number {
    return this.eid;
  }

  private wrap(attr: Attr, v: Value): Value | Entity {
    return attr.isRef ? new Entity(this.db, v as number) : v;
  }

  private valueOf(attr: Attr, datoms: Datom[]): EntityValue | undefined {
    if (datoms.length === 0) return undefined;
    if (attr.many) return datoms.map((d) => this.wrap(attr, d.v));
    return this.wrap(attr, datoms[0]!.v);
  }

  /** The value of an attribute: a value, an Entity for a ref, an array for cardinality many. */
  get(attrName: string | { toString(): string }): EntityValue | undefined {
    const name = identName(attrName) ?? String(attrName);
    if (name === 'db/id') return this.eid;
    if (this.cache.has(name)) return this.cache.get(name);
    let out: EntityValue | undefined;
    const slash = name.indexOf('/');
    const reverse = name.charCodeAt(slash + 1) === 95 || (slash < 0 && name.charCodeAt(0) === 95);
    if (reverse) {
      const forward =
        slash < 0 ? name.slice(1) : `${name.slice(0, slash)}/${name.slice(slash + 2)}`;
      const attr = this.db.attr(forward);
      if (attr?.isRef) {
        const sources = this.db
          .scan('vaet', probe(undefined, attr.id, this.eid))
          .map((d) => new Entity(this.db, d.e));
        // A component has one owner: its reverse ref is that owner, not a collection.
        if (sources.length > 0) out = attr.isComponent ? sources[0] : sources;
      }
    } else {
      const attr = this.db.attr(name);
      if (attr !== undefined)
        out = this.valueOf(attr, this.db.scan('eavt', probe(this.eid, attr.id)));
    }
    this.cache.set(name, out);
    return out;
  }

  /** Every attribute of the entity with its value (refs as entities). */
  touch(): Map<string, EntityValue> {
    if (this.all !== null) return this.all;
    const all = new Map<string, EntityValue>();
    const datoms = this.db.scan('eavt', probe(this.eid));
    let i = 0;
    while (i < datoms.length) {
      let j = i;
      while (j < datoms.length && datoms[j]!.a === datoms[i]!.a) j++;
      const attr = this.db.attr(datoms[i]!.a)!;
      all.set(attr.ident, this.valueOf(attr, datoms.slice(i, j))!);
      i = j;
    }
    for (const [k, v] of all) this.cache.set(k, v);
    this.all = all;
    return all;
  }

  keys(): string[] {
    return [...this.touch().keys()];
  }

  [Symbol.iterator](): IterableIterator<[string, EntityValue]> {
    return this.touch().entries();
  }

  /** Plain data: attributes to values, refs as `{ "db/id": n }`. */
  toJSON(): Record<string, unknown> {
    const out: Record<string, unknown> = { 'db/id': this.eid };
    const ref = (x: unknown) => (x instanceof Entity ? { 'db/id': x.eid } : x);
    for (const [k, v] of this.touch()) out[k] = Array.isArray(v) ? v.map(ref) : ref(v);
    return out;
  }

  equals(other: unknown): boolean {
    return other instanceof Entity && other.eid === this.eid && other.db === this.db;
  }
}

/** The entity named by an id, ident or lookup ref, or null when it has no datoms. */
export function entity(db: Db, ref: EntityRef): Entity | null {
  const eid = db.entid(ref);
  if (eid === null) return null;
  return db.hasEntity(eid) ? new Entity(db, eid) : null;
}
