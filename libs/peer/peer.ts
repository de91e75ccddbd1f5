/**
 * A peer: a pool's database value, read straight from storage and kept current.
 *
 * Opening reads the pool's index root and its segments through a two-tier cache (encoded
 * bytes and decoded nodes, both bounded in bytes; libs/db `SegmentCache`), then the log
 * entries after the root, hash-chain checked. Afterwards committed transactions arrive as
 * `tx.committed` events — from a live subscription, or fed by the owner (the indexer feeds
 * its durable JetStream consumer through `apply`) — and fold into the value in t order; a
 * gap (an event lost or early) is filled from the log. `db` is the newest value,
 * `sync(t)` waits until t is visible, and the query engine runs on the values unchanged.
 */
import { type Bus, type BusMessage, type Subscription, subjects } from '../bus/index.js';
import {
  type Db,
  DiagonError,
  decodeTxData,
  emptyDb,
  loadSnapshot,
  replayTx,
  SegmentCache,
} from '../db/index.js';
import {
  currentIndexRoot,
  getRoot,
  getSegments,
  readLog,
  type Sql,
  verifyChain,
} from '../storage/index.js';

export interface PeerOptions {
  sql: Sql;
  pool: string;
  /** Subscribe to `tx.committed` on this bus (omit when the owner calls `apply`). */
  bus?: Bus;
  /** Shared between peers of one process: a segment is fetched and decoded once. */
  cache?: SegmentCache;
}

/** The fields of a `tx.committed` event a peer needs. */
export interface CommittedTx {
  t: number;
  maxEid: number;
  hash: string;
  prevHash: string | null;
  /** base64 of libs/db `encodeTxData`. */
  datoms: string;
}

/** A process-wide default cache: 64 MiB of bytes, 256 MiB of decoded nodes. */
let defaultCache: SegmentCache | undefined;
export function sharedSegmentCache(): SegmentCache {
  defaultCache ??= new SegmentCache({ maxEncodedBytes: 64 << 20, maxDecodedBytes: 256 << 20 });
  return defaultCache;
}

export class Peer {
  private current: Db;
  private head: string | null;
  private readonly waiters: { t: number; resolve: (db: Db) => void }[] = [];
  private sub: Subscription | null = null;
  /** Events that arrived ahead of the value, by t. */
  private readonly early = new Map<number, CommittedTx>();
  private filling: Promise<void> | null = null;
  private closed = false;

  private constructor(
    private readonly o: PeerOptions,
    db: Db,
    head: string | null,
  ) {
    this.current = db;
    this.head = head;
  }

  /** Opens a peer on the pool's latest state. */
  static async open(o: PeerOptions): Promise<Peer> {
    const cache = o.cache ?? sharedSegmentCache();
    const root = await getRoot(o.sql, o.pool);
    if (root === undefined)
      throw new DiagonError('peer/no-pool', `pool ${o.pool} does not exist`, { pool: o.pool });
    const index = await currentIndexRoot(o.sql, o.pool);
    const db =
      index === undefined
        ? emptyDb()
        : await loadSnapshot(index.root, { fetch: (h) => getSegments(o.sql, h) }, cache);
    let head: string | null = null;
    if (db.basisT > 0) {
      const [at] = await readLog(o.sql, o.pool, db.basisT - 1, db.basisT);
      head = at === undefined ? null : Buffer.from(at.hash).toString('hex');
    }
    const peer = new Peer(o, db, head);
    // Subscribe first, then catch up: nothing committed in between is missed.
    if (o.bus !== undefined)
      peer.sub = o.bus.subscribe(subjects.txCommitted(o.pool), (m) => peer.onMessage(m));
    await peer.catchUp();
    return peer;
  }

  get pool(): string {
    return this.o.pool;
  }

  /** The newest value this peer holds. */
  get db(): Db {
    return this.current;
  }

  get basisT(): number {
    return this.current.basisT;
  }

  /** The value at t (waits until the peer has it). */
  async at(t: number, timeoutMs = 10_000): Promise<Db> {
    const db = await this.sync(t, timeoutMs);
    return t === db.basisT ? db : db.asOf(t);
  }

  /** Resolves with a value whose basis is at least t; `peer/timeout` after `timeoutMs`. */
  sync(t: number, timeoutMs = 10_000): Promise<Db> {
    if (this.current.basisT >= t) return Promise.resolve(this.current);
    this.catchUpQuietly();
    return new Promise((resolve, reject) => {
      const w = { t, resolve };
      this.waiters.push(w);
      setTimeout(() => {
        const i = this.waiters.indexOf(w);
        if (i < 0) return;
        this.waiters.splice(i, 1);
        reject(
          new DiagonError(
            'peer/timeout',
            `pool ${this.o.pool} did not reach t ${t} within ${timeoutMs} ms (it is at ${this.current.basisT})`,
          ),
        );
      }, timeoutMs).unref();
    });
  }

  private onMessage(m: BusMessage): void {
    try {
      this.apply(JSON.parse(new TextDecoder().decode(m.data)) as CommittedTx);
    } catch {
      this.catchUpQuietly(); // a malformed event: the log is the truth
    }
  }

  /**
   * Folds a committed transaction in (in order; early ones wait, old ones are ignored).
   * Returns how many datoms were folded now (including early ones it unblocked).
   */
  apply(e: CommittedTx): number {
    if (this.closed || e.t <= this.current.basisT) return 0;
    if (e.t > this.current.basisT + 1) {
      this.early.set(e.t, e);
      this.catchUpQuietly();
      return 0;
    }
    if (e.prevHash !== this.head) {
      this.catchUpQuietly();
      return 0;
    }
    const datoms = decodeTxData(Buffer.from(e.datoms, 'base64'));
    this.fold(e.t, e.hash, datoms, e.maxEid);
    let n = datoms.length;
    for (let next = this.early.get(this.current.basisT + 1); next !== undefined; ) {
      this.early.delete(next.t);
      n += this.apply(next);
      next = this.early.get(this.current.basisT + 1);
    }
    return n;
  }

  private fold(
    t: number,
    hash: string,
    datoms: ReturnType<typeof decodeTxData>,
    maxEid: number,
  ): void {
    const db = replayTx(this.current, datoms, { maxEid });
    if (db.basisT !== t)
      throw new DiagonError('peer/out-of-order', `replaying t ${t} gave t ${db.basisT}`);
    this.current = db;
    this.head = hash;
    for (const k of [...this.early.keys()]) if (k <= t) this.early.delete(k);
    for (let i = this.waiters.length - 1; i >= 0; i--) {
      const w = this.waiters[i]!;
      if (w.t <= t) {
        this.waiters.splice(i, 1);
        w.resolve(db);
      }
    }
  }

  /** The last error of a background catch-up (a broken chain, Postgres unreachable). */
  lastError: unknown = null;

  private catchUpQuietly(): void {
    this.catchUp().catch((e: unknown) => {
      this.lastError = e;
    });
  }

  /** Reads the log after the current basis and folds it in (one catch-up at a time). */
  catchUp(): Promise<void> {
    this.filling ??= (async () => {
      try {
        for (;;) {
          // Events may fold while the log is read: check the page against where it started.
          const from = this.current.basisT;
          const head = this.head;
          const page = await readLog(this.o.sql, this.o.pool, from, Number.MAX_SAFE_INTEGER, 1000);
          if (page.length === 0) return;
          const prev = head === null ? null : new Uint8Array(Buffer.from(head, 'hex'));
          verifyChain(this.o.pool, page, prev, from);
          for (const e of page) {
            if (e.t !== this.current.basisT + 1) continue;
            this.fold(e.t, Buffer.from(e.hash).toString('hex'), decodeTxData(e.datoms), e.maxEid);
          }
        }
      } finally {
        this.filling = null;
      }
    })();
    return this.filling;
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.sub?.unsubscribe().catch(() => {});
  }
}
