/**
 * The indexer: for each pool it serves, a peer (libs/peer) fed by a durable JetStream
 * consumer of `tx.committed`, a responder in the `diagon-indexer` queue group on the
 * pool's query subject, and a merge loop. A merge (every `mergeEveryDatoms` datoms or
 * `mergeEveryMs`, whichever first, when anything is new) writes the changed tree nodes of
 * the peer's value as segments and advances the pool's index root by conditional put;
 * an advisory lock per pool lets only one replica merge it at a time. Garbage collection
 * runs every `gcEveryMs` in whichever replica takes its lock.
 */
import { hostname } from 'node:os';
import {
  type Bus,
  consumeDurable,
  type DurableConsumer,
  ensureStream,
  type Subscription,
  subjects,
  TX_STREAM,
} from '../../libs/bus/index.js';
import { isDiagonError, snapshotDb } from '../../libs/db/index.js';
import { type CommittedTx, Peer, sharedSegmentCache } from '../../libs/peer/index.js';
import {
  advanceIndexRoot,
  getRoot,
  putSegments,
  type Sql,
  watchPools,
} from '../../libs/storage/index.js';
import {
  activeContext,
  type Context,
  inLinkedSpan,
  isRecorded,
} from '../../libs/telemetry/index.js';
import { collectGarbage, type GcReport } from './gc.js';
import type { IndexerMetrics } from './metrics.js';
import { answer } from './query.js';

/** A merge span links to at most this many of the transactions it folded in. */
const MERGE_LINKS = 128;

export interface IndexerOptions {
  sql: Sql;
  bus: Bus;
  /**
   * Pools to serve; default every pool in Postgres, each served as soon as it is created
   * (notified by Postgres; re-read every `discoverEveryMs` as well).
   */
  pools?: string[];
  /** This replica's name (its durable consumers are named after it). Default the host name. */
  replica?: string;
  mergeEveryDatoms?: number;
  mergeEveryMs?: number;
  keepRoots?: number;
  gcEveryMs?: number;
  gcGraceMs?: number;
  discoverEveryMs?: number;
  /** Where merges, folds, queries and the segment cache are counted (metrics.ts). */
  metrics?: IndexerMetrics;
  log?: { info(o: object, msg: string): void; warn(o: object, msg: string): void };
}

export interface MergeReport {
  pool: string;
  t: number;
  segments: number;
  ms: number;
}

class PoolIndex {
  lastMergedT = 0;
  datomsSinceMerge = 0;
  lastMergeAt = Date.now();
  merging: Promise<MergeReport | null> | null = null;
  /** The trace contexts of transactions folded since the last merge (the newest, bounded). */
  folded: Context[] = [];

  constructor(
    readonly peer: Peer,
    readonly consumer: DurableConsumer,
    readonly sub: Subscription,
  ) {}
}

export class Indexer {
  private readonly pools = new Map<string, PoolIndex>();
  private timers: NodeJS.Timeout[] = [];
  private stopped = false;
  private unwatch: () => Promise<void> = async () => {};
  readonly merges: MergeReport[] = [];
  private readonly o: Required<Omit<IndexerOptions, 'pools' | 'log' | 'metrics'>> &
    Pick<IndexerOptions, 'pools' | 'log' | 'metrics'>;

  constructor(opts: IndexerOptions) {
    this.o = {
      replica: hostname().replace(/[^A-Za-z0-9_-]/g, '-'),
      mergeEveryDatoms: 100_000,
      mergeEveryMs: 10_000,
      keepRoots: 3,
      gcEveryMs: 60_000,
      gcGraceMs: 10 * 60_000,
      discoverEveryMs: 30_000,
      ...opts,
    };
    opts.metrics?.watch({
      pools: () =>
        [...this.pools].map(([pool, idx]) => ({
          pool,
          basisT: idx.peer.basisT,
          mergedT: idx.lastMergedT,
        })),
      cache: sharedSegmentCache(),
    });
  }

  async start(): Promise<void> {
    await ensureStream(this.o.bus, TX_STREAM);
    if (this.o.pools !== undefined) for (const pool of this.o.pools) await this.serve(pool);
    else
      this.unwatch = await watchPools(this.o.sql, (pool) => this.serve(pool), {
        everyMs: this.o.discoverEveryMs,
        onError: (e) => this.o.log?.warn({ err: String(e) }, 'cannot serve a pool yet'),
      });
    const every = (ms: number, f: () => Promise<unknown>) => {
      const t = setInterval(
        () =>
          void f().catch((e: unknown) =>
            this.o.log?.warn({ err: String(e) }, 'indexer task failed'),
          ),
        ms,
      );
      t.unref();
      this.timers.push(t);
    };
    every(Math.min(1000, this.o.mergeEveryMs), () => this.mergeDue());
    every(this.o.gcEveryMs, () => this.gc());
  }

  private async serve(pool: string): Promise<void> {
    if (this.pools.has(pool) || this.stopped) return;
    const { sql, bus } = this.o;
    const peer = await Peer.open({ sql, pool });
    const consumer = await consumeDurable(
      bus,
      {
        stream: TX_STREAM.name,
        durable: `indexer-${this.o.replica}-${pool}`,
        filterSubject: subjects.txCommitted(pool),
      },
      (m) => {
        const e = JSON.parse(new TextDecoder().decode(m.data)) as CommittedTx;
        const folded = peer.apply(e);
        const idx = this.pools.get(pool);
        if (idx !== undefined) {
          idx.datomsSinceMerge += folded;
          const ctx = activeContext(); // the fold's span, for the next merge to link to
          if (isRecorded(ctx)) {
            idx.folded.push(ctx);
            if (idx.folded.length > MERGE_LINKS) idx.folded.shift();
          }
        }
        this.o.metrics?.folded.inc({ pool }, folded);
      },
    );
    const sub = bus.subscribe(
      subjects.query(pool),
      async (m) => {
        const started = performance.now();
        let outcome = 'ok';
        try {
          m.respond(new TextEncoder().encode(await answer(peer, sql, m)));
        } catch (e) {
          outcome = isDiagonError(e) ? e.code : 'internal';
          throw e;
        } finally {
          this.o.metrics?.querySeconds.observe(
            { pool, outcome },
            (performance.now() - started) / 1000,
          );
        }
      },
      { queue: 'diagon-indexer' },
    );
    const idx = new PoolIndex(peer, consumer, sub);
    idx.lastMergedT = (await getRoot(sql, pool))?.indexT ?? 0;
    this.pools.set(pool, idx);
    await bus.flush();
    this.o.log?.info({ pool, t: peer.basisT }, 'serving pool');
  }

  /** The peer of a pool this indexer serves. */
  peer(pool: string): Peer | undefined {
    return this.pools.get(pool)?.peer;
  }

  private async mergeDue(): Promise<void> {
    for (const [pool, idx] of this.pools) {
      const due =
        idx.datomsSinceMerge >= this.o.mergeEveryDatoms ||
        Date.now() - idx.lastMergeAt >= this.o.mergeEveryMs;
      if (due && idx.peer.basisT > idx.lastMergedT) await this.merge(pool);
    }
  }

  /** Merges the pool's novelty into storage now; null when there is nothing to do or another replica merges. */
  merge(pool: string): Promise<MergeReport | null> {
    const idx = this.pools.get(pool);
    if (idx === undefined) return Promise.resolve(null);
    if (idx.merging === null) {
      const links = idx.folded;
      idx.folded = [];
      idx.merging = inLinkedSpan(`merge ${pool}`, { 'diagon.pool': pool }, links, () =>
        this.runMerge(pool, idx),
      ).finally(() => {
        idx.merging = null;
      });
    }
    return idx.merging;
  }

  private async runMerge(pool: string, idx: PoolIndex): Promise<MergeReport | null> {
    const { sql } = this.o;
    const conn = await sql.reserve();
    const lock = `diagon.indexer.${pool}`;
    try {
      const [r] = await conn<
        { ok: boolean }[]
      >`select pg_try_advisory_lock(hashtext(${lock})) as ok`;
      if (!r?.ok) return null;
      try {
        const started = performance.now();
        const db = idx.peer.db;
        const current = (await getRoot(conn, pool))?.indexT ?? 0;
        idx.lastMergeAt = Date.now();
        idx.datomsSinceMerge = 0;
        if (db.basisT <= current) {
          idx.lastMergedT = current;
          return null;
        }
        const snap = snapshotDb(db);
        await putSegments(conn, new Map([...snap.segments, [snap.rootHash, snap.rootBytes]]));
        await advanceIndexRoot(sql, pool, current, {
          t: db.basisT,
          rootHash: snap.rootHash,
          root: snap.rootBytes,
        });
        idx.lastMergedT = db.basisT;
        const report = {
          pool,
          t: db.basisT,
          segments: snap.segments.size,
          ms: performance.now() - started,
        };
        this.o.metrics?.mergeSeconds.observe({ pool }, report.ms / 1000);
        this.o.metrics?.mergedSegments.inc({ pool }, report.segments);
        this.merges.push(report);
        if (this.merges.length > 100) this.merges.shift();
        this.o.log?.info(report, 'merged novelty into the index');
        return report;
      } catch (e) {
        if (isDiagonError(e) && e.code === 'storage/root-moved') return null;
        throw e;
      } finally {
        await conn`select pg_advisory_unlock(hashtext(${lock}))`;
      }
    } finally {
      conn.release();
    }
  }

  /** One garbage collection (null when another replica is collecting). */
  gc(): Promise<GcReport | null> {
    return collectGarbage(this.o.sql, { keepRoots: this.o.keepRoots, graceMs: this.o.gcGraceMs });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.unwatch();
    for (const t of this.timers) clearInterval(t);
    for (const idx of this.pools.values()) {
      await idx.sub.unsubscribe().catch(() => {});
      await idx.consumer.stop().catch(() => {});
      await idx.merging?.catch(() => {});
      await idx.peer.close();
    }
    this.pools.clear();
  }
}
