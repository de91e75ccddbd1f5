/**
 * The shapes a schema may be given in: Datomic's (tx-data, as JS or EDN) or DataScript's
 * (an object of attribute → properties), turned into tx-data that installs it.
 */
import { parseEdn } from './edn.js';
import { DiagonError } from './errors.js';
import { identName } from './schema.js';
import { describeValue, Keyword, List } from './values.js';

/**
 * - tx-data: `[{ "db/ident": ":person/name", "db/valueType": ":db.type/string" }]`, or EDN;
 * - DataScript style: `{ "person/friend": { ":db/valueType": ":db.type/ref", ":db/cardinality": ":db.cardinality/many" } }`
 *   (keys and keyword values with or without the colon), or the same as an EDN map.
 */
export type SchemaInput =
  | string
  | readonly unknown[]
  | Record<string, Record<string, unknown>>
  | Map<unknown, unknown>;

export type SchemaStyle = 'none' | 'data' | 'object';

const KEYWORD_PROPS = new Set(['db/valueType', 'db/cardinality', 'db/unique', 'db/tupleType']);
const KEYWORD_LIST_PROPS = new Set(['db/tupleAttrs', 'db/tupleTypes']);
const PLAIN_PROPS = new Set(['db/isComponent', 'db/index', 'db/noHistory', 'db/doc']);

function toKeyword(v: unknown, where: string): Keyword {
  const name = identName(v);
  if (name === null)
    throw new DiagonError('db.error/schema', `${where}: ${describeValue(v)} is not a keyword`);
  return Keyword.of(name);
}

function entries(x: unknown): [unknown, unknown][] | null {
  if (x instanceof Map) return [...x.entries()];
  if (typeof x === 'object' && x !== null && !Array.isArray(x) && !(x instanceof List))
    return Object.entries(x);
  return null;
}

/** One DataScript-style attribute definition as a Datomic attribute map. */
function attributeMap(name: unknown, props: unknown): Record<string, unknown> {
  const ident = identName(name);
  const list = entries(props);
  if (ident === null || list === null) {
    throw new DiagonError(
      'db.error/schema',
      `schema entry ${describeValue(name)} must map an attribute name to an object of properties`,
    );
  }
  const out: Record<string, unknown> = {
    'db/ident': Keyword.of(ident),
    'db/cardinality': Keyword.of('db.cardinality/one'),
  };
  for (const [k, v] of list) {
    const prop = identName(k);
    const where = `schema of :${ident}`;
    if (prop !== null && KEYWORD_PROPS.has(prop)) out[prop] = toKeyword(v, where);
    else if (prop !== null && KEYWORD_LIST_PROPS.has(prop)) {
      if (!Array.isArray(v))
        throw new DiagonError('db.error/schema', `${where}: :${prop} needs a vector of keywords`);
      out[prop] = v.map((x) => toKeyword(x, where));
    } else if (prop !== null && PLAIN_PROPS.has(prop)) out[prop] = v;
    else throw new DiagonError('db.error/schema', `${where}: unknown property ${describeValue(k)}`);
  }
  return out;
}

/** The schema as tx-data, and which style it came in. */
export function readSchema(schema: SchemaInput | undefined): {
  txData: readonly unknown[];
  style: SchemaStyle;
} {
  if (schema === undefined || schema === null) return { txData: [], style: 'none' };
  const data = typeof schema === 'string' ? parseEdn(schema) : schema;
  if (Array.isArray(data)) return { txData: data, style: 'data' };
  if (data instanceof List) return { txData: data.items, style: 'data' };
  const list = entries(data);
  if (list === null) {
    throw new DiagonError(
      'db.error/schema',
      `a schema is tx-data or an object of attributes, got ${describeValue(data)}`,
    );
  }
  return { txData: list.map(([k, v]) => attributeMap(k, v)), style: 'object' };
}
