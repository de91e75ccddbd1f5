/**
 * Schema as data. Attributes are entities in the db partition; their `:db/*` datoms are
 * read back (attribute.ts) into `Attr` records that the rest of libs/db consults.
 * Enumerated idents (`:db.type/string`, `:db.cardinality/many`, ...) are entities too,
 * and `:db/valueType`, `:db/cardinality` and `:db/unique` are refs to them, as in Datomic.
 *
 * Entity id layout:
 *   1 .. DB0-1      user entities (explicit positive ids are accepted, as in DataScript)
 *   DB0 .. TX0-1    the db partition: attributes and other idents
 *   TX0 + t         the transaction entity of basis t
 */
import { Keyword, type Value } from './values.js';

export const DB0 = 0x10000000;
export const TX0 = 0x20000000;
/** First id handed to attributes defined by users. */
export const FIRST_USER_ATTR = DB0 + 1000;

export const VALUE_TYPES = [
  'string',
  'keyword',
  'long',
  'bigint',
  'double',
  'boolean',
  'instant',
  'uuid',
  'ref',
  'bytes',
  'tuple',
] as const;
export type ValueType = (typeof VALUE_TYPES)[number];

export type SchemaFlexibility = 'read' | 'write';

export interface Attr {
  readonly id: number;
  /** Ident without the colon: `person/name`. */
  readonly ident: string;
  /** null: untyped (only in 'read' flexibility, for attributes created on first use). */
  readonly valueType: ValueType | null;
  readonly many: boolean;
  readonly unique: 'identity' | 'value' | null;
  readonly isComponent: boolean;
  readonly index: boolean;
  readonly noHistory: boolean;
  readonly isRef: boolean;
  /** Composite tuple: the attributes it is made of (ids). */
  readonly tupleAttrs: readonly number[] | null;
  readonly tupleTypes: readonly ValueType[] | null;
  readonly tupleType: ValueType | null;
  readonly doc: string | null;
}

/** System attributes and idents, with fixed ids. */
export const SYS = {
  ident: DB0 + 1,
  valueType: DB0 + 2,
  cardinality: DB0 + 3,
  unique: DB0 + 4,
  isComponent: DB0 + 5,
  index: DB0 + 6,
  noHistory: DB0 + 7,
  doc: DB0 + 8,
  tupleAttrs: DB0 + 9,
  tupleTypes: DB0 + 10,
  tupleType: DB0 + 11,
  txInstant: DB0 + 12,
} as const;

const SYS_ENUMS: [string, number][] = [
  ...VALUE_TYPES.map((t, i): [string, number] => [`db.type/${t}`, DB0 + 100 + i]),
  ['db.cardinality/one', DB0 + 200],
  ['db.cardinality/many', DB0 + 201],
  ['db.unique/identity', DB0 + 300],
  ['db.unique/value', DB0 + 301],
  ['db.part/db', DB0 + 400],
  ['db.part/user', DB0 + 401],
  ['db.part/tx', DB0 + 402],
];

/** Attributes that describe attributes: a datom on one of them changes the schema. */
export const SCHEMA_ATTRS: ReadonlySet<number> = new Set([
  SYS.ident,
  SYS.valueType,
  SYS.cardinality,
  SYS.unique,
  SYS.isComponent,
  SYS.index,
  SYS.noHistory,
  SYS.tupleAttrs,
  SYS.tupleTypes,
  SYS.tupleType,
]);

function sysAttr(id: number, ident: string, valueType: ValueType, extra: Partial<Attr> = {}): Attr {
  return {
    id,
    ident,
    valueType,
    many: false,
    unique: null,
    isComponent: false,
    index: false,
    noHistory: false,
    isRef: valueType === 'ref',
    tupleAttrs: null,
    tupleTypes: null,
    tupleType: null,
    doc: null,
    ...extra,
  };
}

const SYS_ATTRS: Attr[] = [
  sysAttr(SYS.ident, 'db/ident', 'keyword', { unique: 'identity' }),
  sysAttr(SYS.valueType, 'db/valueType', 'ref'),
  sysAttr(SYS.cardinality, 'db/cardinality', 'ref'),
  sysAttr(SYS.unique, 'db/unique', 'ref'),
  sysAttr(SYS.isComponent, 'db/isComponent', 'boolean'),
  sysAttr(SYS.index, 'db/index', 'boolean'),
  sysAttr(SYS.noHistory, 'db/noHistory', 'boolean'),
  sysAttr(SYS.doc, 'db/doc', 'string'),
  sysAttr(SYS.tupleAttrs, 'db/tupleAttrs', 'tuple', { tupleType: 'keyword' }),
  sysAttr(SYS.tupleTypes, 'db/tupleTypes', 'tuple', { tupleType: 'keyword' }),
  sysAttr(SYS.tupleType, 'db/tupleType', 'keyword'),
  sysAttr(SYS.txInstant, 'db/txInstant', 'instant', { index: true }),
];

/** The datoms of the genesis database (t = 0): the system attributes and enum idents. */
export function genesisDatoms(): [number, number, Value][] {
  const out: [number, number, Value][] = [];
  const typeId = (t: ValueType) => DB0 + 100 + VALUE_TYPES.indexOf(t);
  for (const a of SYS_ATTRS) {
    out.push([a.id, SYS.ident, Keyword.of(a.ident)]);
    out.push([a.id, SYS.valueType, typeId(a.valueType!)]);
    out.push([a.id, SYS.cardinality, a.many ? DB0 + 201 : DB0 + 200]);
    if (a.unique === 'identity') out.push([a.id, SYS.unique, DB0 + 300]);
    if (a.index) out.push([a.id, SYS.index, true]);
    if (a.tupleType !== null) out.push([a.id, SYS.tupleType, Keyword.of(`db.type/${a.tupleType}`)]);
  }
  for (const [ident, id] of SYS_ENUMS) out.push([id, SYS.ident, Keyword.of(ident)]);
  return out;
}

/** Strips a leading colon and accepts Keywords: the one way idents enter libs/db. */
export function identName(x: unknown): string | null {
  if (x instanceof Keyword) return x.fqn;
  if (typeof x === 'string' && x.length > 0) return x.charCodeAt(0) === 58 ? x.slice(1) : x;
  return null;
}

/** The schema of one db value: immutable; a change makes a new one. */
export class Schema {
  private constructor(
    readonly flexibility: SchemaFlexibility,
    private readonly byId: ReadonlyMap<number, Attr>,
    private readonly byIdent: ReadonlyMap<string, Attr>,
    /** Every ident (attributes and enums) to its entity id. */
    private readonly idents: ReadonlyMap<string, number>,
    private readonly identsById: ReadonlyMap<number, string>,
    /** Composite tuple attributes by each attribute they are made of. */
    readonly compositesOf: ReadonlyMap<number, readonly Attr[]>,
    /** Next free id in the db partition. */
    readonly nextAttrId: number,
  ) {}

  static genesis(flexibility: SchemaFlexibility): Schema {
    const byId = new Map<number, Attr>();
    const byIdent = new Map<string, Attr>();
    const idents = new Map<string, number>();
    const identsById = new Map<number, string>();
    for (const a of SYS_ATTRS) {
      byId.set(a.id, a);
      byIdent.set(a.ident, a);
      idents.set(a.ident, a.id);
      identsById.set(a.id, a.ident);
    }
    for (const [ident, id] of SYS_ENUMS) {
      idents.set(ident, id);
      identsById.set(id, ident);
    }
    return new Schema(flexibility, byId, byIdent, idents, identsById, new Map(), FIRST_USER_ATTR);
  }

  attr(id: number): Attr | undefined {
    return this.byId.get(id);
  }

  attrByIdent(ident: string): Attr | undefined {
    return this.byIdent.get(ident);
  }

  /** The attribute named by a JS ident (`"person/name"`, `":person/name"`, a Keyword) or id. */
  resolveAttr(x: unknown): Attr | undefined {
    if (typeof x === 'number') return this.byId.get(x);
    const name = identName(x);
    return name === null ? undefined : this.byIdent.get(name);
  }

  entidOfIdent(ident: string): number | undefined {
    return this.idents.get(ident);
  }

  identOf(eid: number): string | undefined {
    return this.identsById.get(eid);
  }

  get attrs(): Iterable<Attr> {
    return this.byId.values();
  }

  withFlexibility(flexibility: SchemaFlexibility): Schema {
    return new Schema(
      flexibility,
      this.byId,
      this.byIdent,
      this.idents,
      this.identsById,
      this.compositesOf,
      this.nextAttrId,
    );
  }

  /** A new schema where the given entities' idents and attribute definitions are replaced. */
  withChanges(
    changes: ReadonlyMap<number, { ident: string | null; attr: Attr | null }>,
    nextAttrId: number,
  ): Schema {
    const byId = new Map(this.byId);
    const byIdent = new Map(this.byIdent);
    const idents = new Map(this.idents);
    const identsById = new Map(this.identsById);
    for (const [eid, { ident, attr }] of changes) {
      const oldIdent = identsById.get(eid);
      if (oldIdent !== undefined) {
        idents.delete(oldIdent);
        identsById.delete(eid);
        if (byIdent.get(oldIdent)?.id === eid) byIdent.delete(oldIdent);
      }
      byId.delete(eid);
      if (ident !== null) {
        idents.set(ident, eid);
        identsById.set(eid, ident);
      }
      if (attr !== null) {
        byId.set(eid, attr);
        byIdent.set(attr.ident, attr);
      }
    }
    const compositesOf = new Map<number, Attr[]>();
    for (const a of byId.values()) {
      for (const part of a.tupleAttrs ?? []) {
        const list = compositesOf.get(part) ?? [];
        list.push(a);
        compositesOf.set(part, list);
      }
    }
    return new Schema(
      this.flexibility,
      byId,
      byIdent,
      idents,
      identsById,
      compositesOf,
      Math.max(nextAttrId, this.nextAttrId),
    );
  }
}
