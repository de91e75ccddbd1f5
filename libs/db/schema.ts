/**
 * Schema as data. Attributes are entities in the db partition; their `:db/*` datoms are
 * read back into `Attr` records that the rest of libs/db consults. Enumerated idents
 * (`:db.type/string`, `:db.cardinality/many`, ...) are entities too, and `:db/valueType`,
 * `:db/cardinality` and `:db/unique` are refs to them, as in Datomic.
 *
 * Entity id layout:
 *   1 .. DB0-1      user entities (explicit positive ids are accepted, as in DataScript)
 *   DB0 .. TX0-1    the db partition: attributes and other idents
 *   TX0 + t         the transaction entity of basis t
 */
import { DiagonError } from './errors.js';
import { describeValue, Keyword, Uuid, type Value } from './values.js';

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

/** The attribute an entity's schema datoms describe, or null when it is not an attribute. */
export function attrFromFacts(
  eid: number,
  facts: ReadonlyMap<number, Value>,
  schema: Schema,
): { ident: string | null; attr: Attr | null } {
  const identKw = facts.get(SYS.ident);
  const ident = identKw instanceof Keyword ? identKw.fqn : null;
  const typeRef = facts.get(SYS.valueType);
  if (typeRef === undefined) {
    // Without a type, cardinality, uniqueness or indexing still make an attribute: an
    // untyped one, as DataScript schemas declare them ('read' flexibility only).
    const props = [SYS.cardinality, SYS.unique, SYS.index, SYS.noHistory];
    if (!props.some((a) => facts.has(a))) {
      if (facts.has(SYS.isComponent) || facts.has(SYS.tupleAttrs) || facts.has(SYS.tupleTypes)) {
        throw new DiagonError(
          'db.error/schema',
          `entity ${ident ?? eid} has ref or tuple properties but no :db/valueType`,
          { entity: eid },
        );
      }
      return { ident, attr: null };
    }
  }
  if (ident === null) {
    throw new DiagonError('db.error/schema', `attribute entity ${eid} has no :db/ident`, {
      entity: eid,
    });
  }
  const enumName = (id: unknown, prefix: string, what: string): string => {
    const name = typeof id === 'number' ? schema.identOf(id) : undefined;
    if (name === undefined || !name.startsWith(prefix)) {
      throw new DiagonError(
        'db.error/schema',
        `attribute :${ident}: ${describeValue(id)} is not a valid ${what}`,
        { attribute: ident },
      );
    }
    return name.slice(prefix.length);
  };
  const valueType =
    typeRef === undefined ? null : (enumName(typeRef, 'db.type/', ':db/valueType') as ValueType);
  const card = facts.has(SYS.cardinality)
    ? enumName(facts.get(SYS.cardinality), 'db.cardinality/', ':db/cardinality')
    : 'one';
  const unique = facts.has(SYS.unique)
    ? (enumName(facts.get(SYS.unique), 'db.unique/', ':db/unique') as 'identity' | 'value')
    : null;
  const isComponent = facts.get(SYS.isComponent) === true;
  if (isComponent && valueType !== 'ref') {
    throw new DiagonError(
      'db.error/schema',
      `attribute :${ident}: :db/isComponent needs :db.type/ref`,
      {
        attribute: ident,
      },
    );
  }
  const typeOf = (k: unknown): ValueType => {
    const name = k instanceof Keyword ? k.fqn : '';
    const t = name.startsWith('db.type/') ? name.slice(8) : '';
    if (!(VALUE_TYPES as readonly string[]).includes(t) || t === 'tuple' || t === 'ref') {
      throw new DiagonError(
        'db.error/schema',
        `attribute :${ident}: ${describeValue(k)} is not a scalar tuple element type`,
        { attribute: ident },
      );
    }
    return t as ValueType;
  };
  let tupleAttrs: number[] | null = null;
  let tupleTypes: ValueType[] | null = null;
  let tupleType: ValueType | null = null;
  const ta = facts.get(SYS.tupleAttrs) as readonly Keyword[] | undefined;
  const tts = facts.get(SYS.tupleTypes) as readonly Keyword[] | undefined;
  const tt = facts.get(SYS.tupleType);
  if (valueType === 'tuple') {
    const given = [ta, tts, tt].filter((x) => x !== undefined).length;
    if (given !== 1) {
      throw new DiagonError(
        'db.error/schema',
        `tuple attribute :${ident} needs exactly one of :db/tupleAttrs, :db/tupleTypes, :db/tupleType`,
        { attribute: ident },
      );
    }
    if (ta !== undefined) {
      if (ta.length < 2 || ta.length > 8) {
        throw new DiagonError(
          'db.error/schema',
          `composite tuple :${ident} needs 2 to 8 attributes`,
          {
            attribute: ident,
          },
        );
      }
      tupleAttrs = ta.map((k) => {
        const part = schema.attrByIdent(k.fqn);
        if (part === undefined || part.many || part.valueType === 'tuple') {
          throw new DiagonError(
            'db.error/schema',
            `composite tuple :${ident}: ${describeValue(k)} must be an existing cardinality-one, non-tuple attribute`,
            { attribute: ident },
          );
        }
        return part.id;
      });
    } else if (tts !== undefined) {
      if (tts.length < 2 || tts.length > 8) {
        throw new DiagonError('db.error/schema', `tuple :${ident} needs 2 to 8 :db/tupleTypes`, {
          attribute: ident,
        });
      }
      tupleTypes = tts.map(typeOf);
    } else tupleType = typeOf(tt);
  } else if (ta !== undefined || tts !== undefined || tt !== undefined) {
    throw new DiagonError(
      'db.error/schema',
      `attribute :${ident}: tuple properties need :db.type/tuple`,
      {
        attribute: ident,
      },
    );
  }
  const doc = facts.get(SYS.doc);
  return {
    ident,
    attr: {
      id: eid,
      ident,
      valueType,
      many: card === 'many',
      unique,
      isComponent,
      index: facts.get(SYS.index) === true || unique !== null,
      noHistory: facts.get(SYS.noHistory) === true,
      isRef: valueType === 'ref',
      tupleAttrs,
      tupleTypes,
      tupleType,
      doc: typeof doc === 'string' ? doc : null,
    },
  };
}

/** An attribute created on first use under 'read' flexibility: untyped, cardinality one. */
export function untypedAttr(id: number, ident: string): Attr {
  return {
    id,
    ident,
    valueType: null,
    many: false,
    unique: null,
    isComponent: false,
    index: false,
    noHistory: false,
    isRef: false,
    tupleAttrs: null,
    tupleTypes: null,
    tupleType: null,
    doc: null,
  };
}

function isStorable(v: unknown): boolean {
  switch (typeof v) {
    case 'string':
    case 'number':
    case 'bigint':
    case 'boolean':
      return true;
    case 'object':
      return (
        v instanceof Keyword ||
        (v instanceof Date && !Number.isNaN(v.getTime())) ||
        v instanceof Uuid ||
        v instanceof Uint8Array ||
        (Array.isArray(v) && v.every(isStorable))
      );
    default:
      return false;
  }
}

/** Checks (and where unambiguous, converts) a scalar value for a type; undefined if it does not fit. */
export function coerceScalar(type: ValueType, v: unknown): Value | undefined {
  switch (type) {
    case 'string':
      return typeof v === 'string' ? v : undefined;
    case 'keyword':
      if (v instanceof Keyword) return v;
      return typeof v === 'string' && v.length > 0 ? Keyword.of(v) : undefined;
    case 'long':
      if (typeof v === 'number') return Number.isSafeInteger(v) ? v : undefined;
      if (
        typeof v === 'bigint' &&
        v >= BigInt(Number.MIN_SAFE_INTEGER) &&
        v <= BigInt(Number.MAX_SAFE_INTEGER)
      ) {
        return Number(v);
      }
      return undefined;
    case 'bigint':
      if (typeof v === 'bigint') return v;
      return typeof v === 'number' && Number.isSafeInteger(v) ? BigInt(v) : undefined;
    case 'double':
      return typeof v === 'number' ? v : undefined;
    case 'boolean':
      return typeof v === 'boolean' ? v : undefined;
    case 'instant':
      return v instanceof Date && !Number.isNaN(v.getTime()) ? v : undefined;
    case 'uuid':
      if (v instanceof Uuid) return v;
      return typeof v === 'string' && Uuid.isText(v) ? new Uuid(v) : undefined;
    case 'bytes':
      return v instanceof Uint8Array ? v : undefined;
    case 'ref':
      return typeof v === 'number' && Number.isSafeInteger(v) && v > 0 ? v : undefined;
    case 'tuple':
      return undefined;
  }
}

/** Checks a non-ref value against an attribute's type; returns the stored form or throws. */
export function coerceValue(attr: Attr, v: unknown): Value {
  const fail = (why: string): never => {
    throw new DiagonError(
      'db.error/wrong-type',
      `value ${describeValue(v)} does not fit attribute :${attr.ident}: ${why}`,
      { attribute: attr.ident, value: v },
    );
  };
  const t = attr.valueType;
  if (t === null) {
    if (!isStorable(v))
      fail(
        'not a storable value (string, number, bigint, boolean, Date, Uuid, keyword, bytes or an array of them)',
      );
    return v as Value;
  }
  if (t !== 'tuple') {
    const c = coerceScalar(t, v);
    return c === undefined ? fail(`expected :db.type/${t}`) : c;
  }
  if (!Array.isArray(v)) return fail('expected a tuple (an array)');
  if (attr.tupleType !== null) {
    if (v.length < 1 || v.length > 8) fail('a homogeneous tuple holds 1 to 8 values');
    return v.map(
      (x) =>
        coerceScalar(attr.tupleType!, x) ??
        fail(`tuple elements must be :db.type/${attr.tupleType}`),
    );
  }
  const types = attr.tupleTypes;
  if (types !== null) {
    if (v.length !== types.length) fail(`expected ${types.length} elements`);
    return v.map((x, i) =>
      x === null
        ? x
        : (coerceScalar(types[i]!, x) ?? fail(`element ${i} must be :db.type/${types[i]}`)),
    ) as Value;
  }
  return fail('composite tuples are computed from their attributes and cannot be asserted');
}
