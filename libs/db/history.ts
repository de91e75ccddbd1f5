/**
 * The two logs a database keeps beside its indexes. Both are append-only and shared
 * between database values: each value sees its own prefix (`len`), so appending from the
 * newest value costs O(1) and appending from an older one copies its prefix first.
 *
 * - TxLog: the :db/txInstant of every transaction, entry t-1 for transaction t, as plain
 *   numbers. Instants never decrease, so this one array is already in EAVT, AEVT and AVET
 *   order for that attribute; the indexes do not hold these datoms, reads merge them in.
 * - History: for each transaction that retracted something, the datoms it retracted.
 *   The four history indexes (every assertion and retraction) are built from it when a
 *   history or asOf view first needs them, and extended from there.
 *
 * Keeping transactions' leftovers out of the young heap this way (numbers, and one chunk
 * per transaction) is what keeps small transactions cheap for the garbage collector.
 */
import { SortedSet } from './btset.js';
import { Datom, HISTORY_ORDERS, type IndexName } from './datom.js';
import { SYS, TX0 } from './schema.js';

class InstantStore {
  constructor(
    public buf: Float64Array,
    public used: number,
  ) {}
}

export class TxLog {
  private constructor(
    private readonly store: InstantStore,
    readonly len: number,
  ) {}

  static empty(): TxLog {
    return new TxLog(new InstantStore(new Float64Array(64), 0), 0);
  }

  static from(instants: ArrayLike<number>): TxLog {
    const buf = new Float64Array(Math.max(64, instants.length));
    buf.set(instants);
    return new TxLog(new InstantStore(buf, instants.length), instants.length);
  }

  /**
   * Milliseconds of transactions 1..len: a view of the store, to read, never to write.
   * Appends never rewrite an entry below `len` of the same buffer, so the buffer and a
   * length name the content (storage caches its encoded chunks by them).
   */
  get instants(): Float64Array {
    return this.store.buf.subarray(0, this.len);
  }

  /** Milliseconds of transaction t = i + 1. */
  instant(i: number): number {
    return this.store.buf[i]!;
  }

  /** The :db/txInstant datom of transaction t = i + 1. */
  datom(i: number): Datom {
    const tx = TX0 + i + 1;
    return new Datom(tx, SYS.txInstant, new Date(this.store.buf[i]!), tx, true);
  }

  datoms(lo: number, hi: number): Datom[] {
    const out: Datom[] = [];
    for (let i = lo; i < hi; i++) out.push(this.datom(i));
    return out;
  }

  append(ms: number): TxLog {
    let store = this.store;
    if (store.used !== this.len || this.len === store.buf.length) {
      const buf = new Float64Array(Math.max(64, this.len * 2));
      buf.set(store.buf.subarray(0, this.len));
      store = new InstantStore(buf, this.len);
    }
    store.buf[this.len] = ms;
    store.used = this.len + 1;
    return new TxLog(store, this.len + 1);
  }

  /** The number of transactions whose instant is before ms (or at or before, when `inclusive`). */
  countBefore(ms: number, inclusive: boolean): number {
    const buf = this.store.buf;
    let lo = 0;
    let hi = this.len;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const t = buf[mid]!;
      if (t < ms || (inclusive && t === ms)) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}

/** What one transaction retracted: the datoms as they were stored, and the retracting tx. */
export interface Retraction {
  readonly tx: number;
  readonly datoms: readonly Datom[];
}

class RetractionStore {
  /** Built indexes, for the schema value that decided which attributes each holds. */
  readonly built = new Map<IndexName, { len: number; scope: object; set: SortedSet<Datom> }>();
  constructor(readonly chunks: Retraction[]) {}
}

export class History {
  private constructor(
    private readonly store: RetractionStore,
    readonly len: number,
  ) {}

  static empty(): History {
    return new History(new RetractionStore([]), 0);
  }

  static from(chunks: Retraction[]): History {
    return new History(new RetractionStore(chunks), chunks.length);
  }

  get chunks(): readonly Retraction[] {
    return this.store.chunks.slice(0, this.len);
  }

  append(tx: number, datoms: readonly Datom[]): History {
    if (datoms.length === 0) return this;
    let store = this.store;
    if (store.chunks.length !== this.len)
      store = new RetractionStore(store.chunks.slice(0, this.len));
    store.chunks.push({ tx, datoms });
    return new History(store, this.len + 1);
  }

  /**
   * The history index `name`: every retracted assertion and its retraction. `holds` says
   * which attributes the index covers (AVET: indexed ones, VAET: refs) under `scope`, the
   * schema value it comes from.
   */
  index(name: IndexName, scope: object, holds: (a: number) => boolean): SortedSet<Datom> {
    const { built, chunks } = this.store;
    const found = built.get(name);
    const cached = found?.scope === scope ? found : undefined;
    if (cached !== undefined && cached.len === this.len) return cached.set;
    const entries = (from: number): Datom[] => {
      const out: Datom[] = [];
      for (let i = from; i < this.len; i++) {
        const { tx, datoms } = chunks[i]!;
        for (const d of datoms) {
          if (!holds(d.a)) continue;
          out.push(d, new Datom(d.e, d.a, d.v, tx, false));
        }
      }
      return out;
    };
    let set: SortedSet<Datom>;
    if (cached !== undefined && cached.len < this.len) {
      const t = cached.set.transient();
      for (const d of entries(cached.len)) t.add(d);
      set = t.persistent();
    } else set = SortedSet.from(entries(0), HISTORY_ORDERS[name]);
    if (found === undefined || found.len <= this.len)
      built.set(name, { len: this.len, scope, set });
    return set;
  }
}
