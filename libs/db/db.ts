/**
 * The database value: immutable indexes over datoms, the schema read from them, and
 * views over time (`asOf`, `since`, `history`) and over predicates (`filter`).
 *
 * Current indexes hold the datoms true now; history indexes hold every retracted
 * assertion together with its retraction. A view is the same indexes read differently,
 * so taking one costs nothing.
 */
import { SortedSet } from './btset.js';
import {
  CURRENT_ORDERS,
  Datom,
  type DatomOrder,
  HISTORY_ORDERS,
  type IndexName,
  PROBE_ORDERS,
  probe,
} from './datom.js';
import { DiagonError } from './errors.js';
import { History, TxLog } from './history.js';
import {
  type Attr,
  genesisDatoms,
  identName,
  Schema,
  type SchemaFlexibility,
  SYS,
  TX0,
} from './schema.js';
import { type TxMeta, type TxReport, transact } from './transact.js';
import { coerceValue } from './value-types.js';
import { compareValues, describeValue, type Keyword, type Value } from './values.js';

export interface Indexes {
  readonly eavt: SortedSet<Datom>;
  readonly aevt: SortedSet<Datom>;
  readonly avet: SortedSet<Datom>;
  readonly vaet: SortedSet<Datom>;
}

export type DatomPredicate = (db: Db, datom: Datom) => boolean;

interface View {
  readonly asOfT: number | null;
  readonly sinceT: number | null;
  readonly history: boolean;
  readonly pred: DatomPredicate | null;
}

/** What names an entity in read APIs: an id, an ident, or a lookup ref `[attr, value]`. */
export type EntityRef = number | Keyword | string | readonly [unknown, unknown];

/**
 * Current indexes built in bulk from datoms in any order (one datom per e, a, v). AVET
 * holds the attributes with `:db/index` or `:db/unique`, VAET the refs, as in Datomic.
 */
export function buildIndexes(datoms: Datom[], schema: Schema): Indexes {
  const sorted = (order: DatomOrder, ds: Datom[]) =>
    SortedSet.fromSorted(
      ds.slice().sort((x, y) => order.compare(x, y, order.mode)),
      order,
    );
  const attr = (a: number) => {
    const found = schema.attr(a);
    if (found === undefined)
      throw new DiagonError('db.error/unknown-attribute', `datom names unknown attribute ${a}`);
    return found;
  };
  return {
    eavt: sorted(CURRENT_ORDERS.eavt, datoms),
    aevt: sorted(CURRENT_ORDERS.aevt, datoms),
    avet: sorted(
      CURRENT_ORDERS.avet,
      datoms.filter((d) => attr(d.a).index),
    ),
    vaet: sorted(
      CURRENT_ORDERS.vaet,
      datoms.filter((d) => attr(d.a).isRef),
    ),
  };
}

const txOf = (t: number) => TX0 + t;

/** A probe reused by valueDatom (searches keep no reference to it). */
const LOOKUP = probe(0, 0) as unknown as { e: number; a: number };

/** Ranges of one entity, or of one value, are short: walk them without counting first. */
function isShort(index: IndexName, p: Datom): boolean {
  return (index === 'eavt' && p.e !== undefined) || (index !== 'aevt' && p.v !== undefined);
}

function requireIndexed(attr: Attr): Attr {
  if (!attr.index) {
    throw new DiagonError(
      'db.error/attribute-not-indexed',
      `:${attr.ident} is not in AVET; declare it with :db/index true (or :db/unique) to read it by value`,
      { attribute: attr.ident },
    );
  }
  return attr;
}

function sameEAV(x: Datom, y: Datom): boolean {
  return x.e === y.e && x.a === y.a && compareValues(x.v, y.v) === 0;
}

function mergeSorted(a: Datom[], b: Datom[], order: DatomOrder): Datom[] {
  if (b.length === 0) return a;
  if (a.length === 0) return b;
  const out: Datom[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length)
    out.push(order.compare(a[i]!, b[j]!, order.mode) <= 0 ? a[i++]! : b[j++]!);
  while (i < a.length) out.push(a[i++]!);
  while (j < b.length) out.push(b[j++]!);
  return out;
}

export interface DbState {
  schema: Schema;
  cur: Indexes;
  hist: History;
  txLog: TxLog;
  basisT: number;
  maxEid: number;
}

export class Db {
  readonly schema: Schema;
  /** @internal current datoms */
  readonly cur: Indexes;
  /** @internal retracted assertions and their retractions */
  readonly hist: History;
  /** @internal the :db/txInstant datom of every transaction, in t order */
  readonly txLog: TxLog;
  /** The t of the latest transaction in this value (0 for an empty database). */
  readonly basisT: number;
  /** The highest user-partition entity id handed out so far. */
  readonly maxEid: number;
  private readonly view: View | null;
  private readonly base: Db;

  constructor(state: DbState, view: View | null = null, base?: Db) {
    this.schema = state.schema;
    this.cur = state.cur;
    this.hist = state.hist;
    this.txLog = state.txLog;
    this.basisT = state.basisT;
    this.maxEid = state.maxEid;
    this.view = view;
    this.base = base ?? this;
  }

  /** The genesis database (t = 0): system attributes only. */
  static genesis(flexibility: SchemaFlexibility = 'read'): Db {
    const schema = Schema.genesis(flexibility);
    const datoms = genesisDatoms().map(([e, a, v]) => new Datom(e, a, v, TX0, true));
    return new Db({
      schema,
      cur: buildIndexes(datoms, schema),
      hist: History.empty(),
      txLog: TxLog.empty(),
      basisT: 0,
      maxEid: 0,
    });
  }

  /** @internal the parts a transaction builds on */
  state(): DbState {
    return {
      schema: this.schema,
      cur: this.cur,
      hist: this.hist,
      txLog: this.txLog,
      basisT: this.basisT,
      maxEid: this.maxEid,
    };
  }

  get isFiltered(): boolean {
    return this.view !== null;
  }

  get isHistory(): boolean {
    return this.view?.history ?? false;
  }

  get asOfT(): number | null {
    return this.view?.asOfT ?? null;
  }

  get sinceT(): number | null {
    return this.view?.sinceT ?? null;
  }

  private withView(change: Partial<View>): Db {
    const v: View = {
      asOfT: null,
      sinceT: null,
      history: false,
      pred: null,
      ...this.view,
      ...change,
    };
    return new Db(this.state(), v, this.base);
  }

  /** A t from a t, a transaction entity id or a Date (the latest transaction at or before it). */
  private toT(x: number | Date, what: string): number {
    if (x instanceof Date) {
      // The last transaction whose instant is at or before x (instants never decrease).
      return this.txLog.countBefore(x.getTime(), true);
    }
    if (typeof x !== 'number' || !Number.isSafeInteger(x) || x < 0) {
      throw new DiagonError(
        'db.error/invalid-t',
        `${what} needs a t, a transaction id or a Date, got ${describeValue(x)}`,
      );
    }
    return x >= TX0 ? x - TX0 : x;
  }

  /** The database as it was at t (a t, a transaction id or a Date). */
  asOf(x: number | Date): Db {
    const t = this.toT(x, 'asOf');
    const cur = this.view?.asOfT;
    return this.withView({ asOfT: cur === null || cur === undefined ? t : Math.min(cur, t) });
  }

  /** Only the datoms added after t (still subject to any asOf). */
  since(x: number | Date): Db {
    const t = this.toT(x, 'since');
    return this.withView({ sinceT: Math.max(this.view?.sinceT ?? 0, t) });
  }

  /** Every assertion and retraction ever made (datoms carry `added`). */
  history(): Db {
    return this.withView({ history: true });
  }

  /** Only the datoms the predicate accepts; it gets the unfiltered db and each datom. */
  filter(pred: DatomPredicate): Db {
    const prev = this.view?.pred ?? null;
    const both: DatomPredicate = prev === null ? pred : (db, d) => prev(db, d) && pred(db, d);
    return this.withView({ pred: both });
  }

  /** @internal the history index `name`, built on first use */
  historyIndex(name: IndexName): SortedSet<Datom> {
    const holds =
      name === 'avet'
        ? (a: number) => this.schema.attr(a)?.index === true
        : name === 'vaet'
          ? (a: number) => this.schema.attr(a)?.isRef === true
          : () => true;
    return this.hist.index(name, this.schema, holds);
  }

  /** @internal datoms of an index that match a probe prefix, as this view sees them */
  scan(index: IndexName, p: Datom): Datom[] {
    const found = this.current(index, p);
    return this.view === null ? found : this.applyView(index, found, p);
  }

  /** @internal the current datom of a cardinality-one attribute of an entity, on an unfiltered value */
  valueDatom(e: number, a: number): Datom | undefined {
    if (e > TX0) return this.scan('eavt', probe(e, a))[0];
    LOOKUP.e = e;
    LOOKUP.a = a;
    const p = LOOKUP as unknown as Datom;
    return this.cur.eavt.first(p, p, PROBE_ORDERS.eavt);
  }

  /** @internal like `scan`, but visits each datom instead of building an array */
  scanEach(index: IndexName, p: Datom, visit: (d: Datom) => void): void {
    if (this.view === null) {
      const [lo, hi] = this.txRun(index, p);
      if (lo === hi) {
        this.cur[index].each(p, p, visit, PROBE_ORDERS[index], isShort(index, p));
        return;
      }
    }
    for (const d of this.scan(index, p)) visit(d);
  }

  /** The current datoms matching a probe: the index's, with the transaction log's merged in. */
  private current(index: IndexName, p: Datom): Datom[] {
    let found: Datom[];
    if (isShort(index, p)) {
      found = [];
      this.cur[index].each(p, p, (d) => found.push(d), PROBE_ORDERS[index], true);
    } else found = this.cur[index].range(p, p, PROBE_ORDERS[index]);
    const [lo, hi] = this.txRun(index, p);
    if (lo === hi) return found;
    return mergeSorted(found, this.txLog.datoms(lo, hi), CURRENT_ORDERS[index]);
  }

  /**
   * The entries of the transaction log that match a probe in an index's order: always one
   * contiguous run, because the log is sorted by t, by transaction id and by instant at once.
   */
  private txRun(index: IndexName, p: Datom): [number, number] {
    const log = this.txLog;
    const len = log.len;
    if (len === 0 || index === 'vaet') return [0, 0];
    let e = p.e;
    if (index === 'eavt') {
      if (e === undefined) return [0, len];
    } else {
      if (p.a === undefined) return [0, len];
      if (p.a !== SYS.txInstant) return [0, 0];
      if (index === 'avet' && p.v !== undefined && e === undefined) {
        if (!(p.v instanceof Date)) return [0, 0];
        const ms = p.v.getTime();
        return [log.countBefore(ms, false), log.countBefore(ms, true)];
      }
      if (e === undefined) return [0, len];
    }
    e -= TX0 + 1;
    if (e < 0 || e >= len) return [0, 0];
    const order = PROBE_ORDERS[index];
    return order.compare(log.datom(e), p, order.mode) === 0 ? [e, e + 1] : [0, 0];
  }

  private applyView(index: IndexName, cur: Datom[], p: Datom): Datom[] {
    const v = this.view!;
    const asOfTx = v.asOfT === null ? Number.POSITIVE_INFINITY : txOf(v.asOfT);
    if (v.asOfT !== null) cur = cur.filter((d) => d.tx <= asOfTx);
    let out = cur;
    if (v.history || v.asOfT !== null) {
      const hist = this.historyIndex(index).range(p, p, PROBE_ORDERS[index]);
      if (v.history) {
        out = mergeSorted(
          cur,
          hist.filter((d) => d.tx <= asOfTx),
          HISTORY_ORDERS[index],
        );
      } else {
        // As of t, an (e, a, v) with history is present when its last change by t asserted it.
        const alive: Datom[] = [];
        for (let i = 0; i < hist.length; i++) {
          const d = hist[i]!;
          if (d.tx > asOfTx) continue;
          const next = hist[i + 1];
          if (next !== undefined && next.tx <= asOfTx && sameEAV(d, next)) continue;
          if (d.added) alive.push(d);
        }
        out = mergeSorted(cur, alive, CURRENT_ORDERS[index]);
      }
    }
    if (v.sinceT !== null) {
      const sinceTx = txOf(v.sinceT);
      out = out.filter((d) => d.tx > sinceTx);
    }
    if (v.pred !== null) {
      const pred = v.pred;
      const base = this.base;
      out = out.filter((d) => pred(base, d));
    }
    return out;
  }

  /** @internal whether any datom (as this view sees them) has entity `eid` */
  hasEntity(eid: number): boolean {
    const p = probe(eid);
    if (this.view === null) return this.count('eavt', eid) > 0;
    return this.scan('eavt', p).length > 0;
  }

  /** Resolves an entity reference to its id, or null when nothing matches. */
  entid(ref: EntityRef | unknown): number | null {
    if (typeof ref === 'number') return Number.isSafeInteger(ref) && ref > 0 ? ref : null;
    if (Array.isArray(ref)) {
      if (ref.length !== 2) {
        throw new DiagonError(
          'db.error/lookup-ref',
          `lookup ref ${describeValue(ref)} must be [attribute value]`,
          {
            lookupRef: ref,
          },
        );
      }
      const attr = this.uniqueAttr(ref[0], ref);
      const v = this.coerceFor(attr, ref[1]);
      const found = this.scan('avet', probe(undefined, attr.id, v));
      return found.length > 0 ? found[0]!.e : null;
    }
    const name = identName(ref);
    if (name !== null) return this.schema.entidOfIdent(name) ?? null;
    throw new DiagonError(
      'db.error/invalid-entity',
      `${describeValue(ref)} does not name an entity`,
      {
        entity: ref,
      },
    );
  }

  /** Like `entid`, but a reference that matches nothing is an error. */
  entidStrict(ref: EntityRef | unknown): number {
    const e = this.entid(ref);
    if (e === null) {
      throw new DiagonError(
        Array.isArray(ref) ? 'db.error/lookup-ref-not-found' : 'db.error/entity-not-found',
        `nothing matches ${describeValue(ref)}`,
        { entity: ref },
      );
    }
    return e;
  }

  /** @internal */
  uniqueAttr(name: unknown, ref: unknown): Attr {
    const attr = this.attrStrict(name);
    if (attr.unique === null) {
      throw new DiagonError(
        'db.error/lookup-ref',
        `lookup ref ${describeValue(ref)}: :${attr.ident} is not :db/unique, so it cannot identify an entity`,
        { lookupRef: ref },
      );
    }
    return attr;
  }

  /** The attribute record for an ident (`"person/name"`, a Keyword) or id. */
  attr(name: unknown): Attr | undefined {
    return this.schema.resolveAttr(name);
  }

  /** @internal */
  attrStrict(name: unknown): Attr {
    const attr = this.schema.resolveAttr(name);
    if (attr === undefined) {
      throw new DiagonError(
        'db.error/unknown-attribute',
        `${describeValue(name)} is not an attribute of this database`,
        {
          attribute: name,
        },
      );
    }
    return attr;
  }

  /** The ident of an entity (an attribute or an enum), without the colon. */
  ident(eid: number): string | undefined {
    return this.schema.identOf(eid);
  }

  /** @internal a value in the form an index holds it; refs resolve idents and lookup refs */
  coerceFor(attr: Attr, v: unknown): Value {
    if (attr.isRef) return this.entidStrict(v);
    return coerceValue(attr, v);
  }

  private probeFor(index: IndexName, components: readonly unknown[]): Datom | null {
    if (components.length > 4) {
      throw new DiagonError(
        'db.error/invalid-components',
        `an index has four components, got ${components.length}`,
      );
    }
    const order: Record<IndexName, readonly ('e' | 'a' | 'v' | 'tx')[]> = {
      eavt: ['e', 'a', 'v', 'tx'],
      aevt: ['a', 'e', 'v', 'tx'],
      avet: ['a', 'v', 'e', 'tx'],
      vaet: ['v', 'a', 'e', 'tx'],
    };
    const names = order[index];
    if (names === undefined) {
      throw new DiagonError(
        'db.error/invalid-index',
        `unknown index ${describeValue(index)}; use eavt, aevt, avet or vaet`,
      );
    }
    const given: Partial<Record<'e' | 'a' | 'v' | 'tx', unknown>> = {};
    components.forEach((c, i) => {
      if (c !== undefined && c !== null) given[names[i]!] = c;
    });
    let e: number | undefined;
    if (given.e !== undefined) {
      const r = this.entid(given.e);
      if (r === null) return null;
      e = r;
    }
    const attr = given.a === undefined ? undefined : this.attrStrict(given.a);
    if (index === 'avet' && attr !== undefined) requireIndexed(attr);
    let v: unknown;
    if (given.v !== undefined) {
      if (index === 'vaet') {
        const r = this.entid(given.v);
        if (r === null) return null;
        v = r;
      } else v = attr === undefined ? given.v : this.coerceFor(attr, given.v);
    }
    const tx = given.tx === undefined ? undefined : txOf(this.toT(given.tx as number, 'tx'));
    return probe(e, attr?.id, v, tx);
  }

  /** Datoms of an index whose leading components equal the given ones (Datomic's `datoms`). */
  datoms(index: IndexName, ...components: unknown[]): Datom[] {
    const p = this.probeFor(index, components);
    return p === null ? [] : this.scan(index, p);
  }

  /** Datoms of an index from the first one at or after the components, to the end. */
  seekDatoms(index: IndexName, ...components: unknown[]): Iterable<Datom> {
    const p = this.probeFor(index, components);
    if (p === null) return [];
    const order = PROBE_ORDERS[index];
    if (this.view === null && this.txLog.len === 0)
      return this.cur[index].slice(p, undefined, order);
    return this.scan(index, probe()).filter((d) => order.compare(d, p, order.mode) >= 0);
  }

  /** Datoms of an index from the last one at or before the components, backwards to the start. */
  rseekDatoms(index: IndexName, ...components: unknown[]): Iterable<Datom> {
    const p = this.probeFor(index, components);
    if (p === null) return [];
    const order = PROBE_ORDERS[index];
    if (this.view === null && this.txLog.len === 0)
      return this.cur[index].rslice(p, undefined, order);
    return this.scan(index, probe())
      .filter((d) => order.compare(d, p, order.mode) <= 0)
      .reverse();
  }

  /** AVET datoms of an attribute with start <= v < end (either bound optional). */
  indexRange(attrName: unknown, start?: unknown, end?: unknown): Datom[] {
    const attr = requireIndexed(this.attrStrict(attrName));
    const lo = start === undefined || start === null ? undefined : this.coerceFor(attr, start);
    const hi = end === undefined || end === null ? undefined : this.coerceFor(attr, end);
    const all = this.scan('avet', probe(undefined, attr.id));
    return all.filter(
      (d) =>
        (lo === undefined || compareValues(d.v, lo) >= 0) &&
        (hi === undefined || compareValues(d.v, hi) < 0),
    );
  }

  /**
   * @internal the number of datoms a probe matches: exact and O(log n) on an unfiltered
   * value; on a view, the count of the current datoms (an estimate for the query planner).
   */
  estimate(index: IndexName, p: Datom): number {
    const [lo, hi] = this.txRun(index, p);
    return this.cur[index].count(p, p, PROBE_ORDERS[index]) + hi - lo;
  }

  /** @internal up to n datoms spread evenly over what a probe matches (the current datoms, for estimates) */
  sample(index: IndexName, p: Datom, n: number): Datom[] {
    return this.cur[index].sample(p, p, n, PROBE_ORDERS[index]);
  }

  /** @internal AVET datoms of attribute `a` with lo <= v <= hi (either bound optional), as this view sees them */
  scanRange(a: number, lo: unknown, hi: unknown): Datom[] {
    const from = probe(undefined, a, lo);
    const to = probe(undefined, a, hi);
    const found = this.cur.avet.range(from, to, PROBE_ORDERS.avet);
    if (this.view === null) return found;
    return this.applyView('avet', found, probe(undefined, a)).filter(
      (d) =>
        (lo === undefined || compareValues(d.v, lo) >= 0) &&
        (hi === undefined || compareValues(d.v, hi) <= 0),
    );
  }

  /** How many datoms `datoms(index, ...components)` would return; O(log n) on an unfiltered value. */
  count(index: IndexName, ...components: unknown[]): number {
    const p = this.probeFor(index, components);
    if (p === null) return 0;
    if (this.view === null) {
      const [lo, hi] = this.txRun(index, p);
      return this.cur[index].count(p, p, PROBE_ORDERS[index]) + hi - lo;
    }
    return this.scan(index, p).length;
  }

  /** Speculatively applies tx-data: the report of what `transact` would do, nothing stored. */
  with(txData: unknown, txMeta?: TxMeta): TxReport {
    if (this.view !== null) {
      throw new DiagonError(
        'db.error/filtered-db',
        'cannot transact on a filtered, asOf, since or history database',
      );
    }
    return transact(this, txData, txMeta);
  }
}
