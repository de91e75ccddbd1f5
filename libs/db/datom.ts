/**
 * Datoms and the orders of the four indexes.
 *
 * A datom is `[e a v tx added]`; `a` is the attribute's entity id (attributes are
 * entities, as in Datomic) and `tx` the transaction's entity id. Current indexes hold at
 * most one datom per (e, a, v), so their orders ignore tx; history indexes hold every
 * assertion and retraction, so theirs end with tx and added.
 */
import { Order } from './btset.js';
import { DB0 } from './schema.js';
import { compareValues, type Value } from './values.js';

export class Datom {
  constructor(
    readonly e: number,
    readonly a: number,
    readonly v: Value,
    readonly tx: number,
    readonly added: boolean,
  ) {}

  toJSON(): [number, number, Value, number, boolean] {
    return [this.e, this.a, this.v, this.tx, this.added];
  }
}

export type IndexName = 'eavt' | 'aevt' | 'avet' | 'vaet';
export const INDEX_NAMES: readonly IndexName[] = ['eavt', 'aevt', 'avet', 'vaet'];

export type DatomOrder = Order<Datom>;

const cmpOpt = (a: number | undefined, b: number | undefined): number =>
  a === undefined || b === undefined ? 0 : a - b;
const cmpOptV = (a: unknown, b: unknown): number =>
  a === undefined || b === undefined ? 0 : compareValues(a, b);
const txThenAdded = (x: Datom, y: Datom): number =>
  x.tx - y.tx || (x.added === y.added ? 0 : x.added ? 1 : -1);

const EAVT = 0;
const AEVT = 1;
const AVET = 2;
const VAET = 3;
const HISTORY = 4;
const PROBE = 8;

/**
 * Every datom order in one function, chosen by `mode`, so that the tree code calls one
 * compare function everywhere (see Order). Current indexes hold one datom per (e, a, v)
 * and ignore tx; history orders end with tx and added. Probe orders compare a probe whose
 * trailing components may be `undefined`, which match anything; components are
 * positional, as in Datomic's `datoms`: a probe fixes a prefix of the order, never a gap.
 */
export function compareDatoms(x: Datom, y: Datom, mode: number): number {
  switch (mode) {
    case EAVT:
      return x.e - y.e || x.a - y.a || compareValues(x.v, y.v);
    case AEVT:
      return x.a - y.a || x.e - y.e || compareValues(x.v, y.v);
    case AVET:
      return x.a - y.a || compareValues(x.v, y.v) || x.e - y.e;
    case VAET:
      return (x.v as number) - (y.v as number) || x.a - y.a || x.e - y.e;
    case HISTORY + EAVT:
    case HISTORY + AEVT:
    case HISTORY + AVET:
    case HISTORY + VAET:
      return compareDatoms(x, y, mode - HISTORY) || txThenAdded(x, y);
    case PROBE + EAVT:
      return cmpOpt(x.e, y.e) || cmpOpt(x.a, y.a) || cmpOptV(x.v, y.v) || cmpOpt(x.tx, y.tx);
    case PROBE + AEVT:
      return cmpOpt(x.a, y.a) || cmpOpt(x.e, y.e) || cmpOptV(x.v, y.v) || cmpOpt(x.tx, y.tx);
    case PROBE + AVET:
      return cmpOpt(x.a, y.a) || cmpOptV(x.v, y.v) || cmpOpt(x.e, y.e) || cmpOpt(x.tx, y.tx);
    default:
      return cmpOptV(x.v, y.v) || cmpOpt(x.a, y.a) || cmpOpt(x.e, y.e) || cmpOpt(x.tx, y.tx);
  }
}

const A_SPAN = 2 ** 22;
const E_SPAN = 2 ** 31;
const clamp = (x: number, span: number) => (x < 0 ? 0 : x >= span ? span - 1 : x);

/**
 * The numeric prefix of a datom in each index order (see Order.prefix): the leading
 * entity and attribute ids packed into one exact double (attribute ids above DB0 in 22
 * bits, entity ids in 31). Clamping keeps it non-decreasing beyond those ranges, where
 * ties simply fall back to the full compare. A probe's missing parts are filled low or high.
 */
export function prefixDatom(d: Datom, mode: number, high: boolean): number {
  const e = d.e === undefined ? (high ? E_SPAN - 1 : 0) : clamp(d.e, E_SPAN);
  const a = d.a === undefined ? (high ? A_SPAN - 1 : 0) : clamp(d.a - DB0, A_SPAN);
  switch (mode & 3) {
    case EAVT:
      return e * A_SPAN + a;
    case AEVT:
      return a * E_SPAN + e;
    case AVET:
      return a;
    default: {
      const v = d.v === undefined ? (high ? E_SPAN - 1 : 0) : clamp(d.v as number, E_SPAN);
      return v * A_SPAN + a;
    }
  }
}

const orders = (base: number): Record<IndexName, DatomOrder> => ({
  eavt: new Order(compareDatoms, base + EAVT, prefixDatom),
  aevt: new Order(compareDatoms, base + AEVT, prefixDatom),
  avet: new Order(compareDatoms, base + AVET, prefixDatom),
  vaet: new Order(compareDatoms, base + VAET, prefixDatom),
});

export const CURRENT_ORDERS = orders(0);
export const HISTORY_ORDERS = orders(HISTORY);
export const PROBE_ORDERS = orders(PROBE);

/** A probe datom: components left undefined match anything. */
export function probe(e?: number, a?: number, v?: unknown, tx?: number): Datom {
  return new Datom(e as number, a as number, v as Value, tx as number, true);
}
