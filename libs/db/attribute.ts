/**
 * Attribute definitions read from `:db/*` facts: what makes an entity an attribute, the
 * rules a definition must follow, and the order in which a batch of them is read.
 */
import { DiagonError } from './errors.js';
import { type Attr, type Schema, SYS, VALUE_TYPES, type ValueType } from './schema.js';
import { describeValue, Keyword, type Value } from './values.js';

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

export type SchemaFacts = ReadonlyMap<number, ReadonlyMap<number, Value>>;

/**
 * The schema after some entities' `:db/*` facts changed. Definitions are read in
 * dependency order: idents first, then plain attributes, then composite tuples, which
 * name other attributes. `check` sees each entity's old and new definition first.
 */
export function applySchemaFacts(
  schema: Schema,
  facts: SchemaFacts,
  nextAttrId: number,
  check: (eid: number, old: Attr | undefined, next: Attr | null) => void = () => {},
): Schema {
  const identOf = (f: ReadonlyMap<number, Value>) => {
    const k = f.get(SYS.ident);
    return k instanceof Keyword ? k.fqn : null;
  };
  const idents = new Map<number, { ident: string | null; attr: Attr | null }>();
  for (const [e, f] of facts) idents.set(e, { ident: identOf(f), attr: null });
  let next = schema.withChanges(idents, nextAttrId);
  for (const composites of [false, true]) {
    const changes = new Map<number, { ident: string | null; attr: Attr | null }>();
    for (const [e, f] of facts) {
      if (f.has(SYS.tupleAttrs) !== composites) continue;
      const read = attrFromFacts(e, f, next);
      check(e, schema.attr(e), read.attr);
      changes.set(e, read);
    }
    next = next.withChanges(changes, nextAttrId);
  }
  return next;
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
