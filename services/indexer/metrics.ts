/** The indexer's Prometheus metrics. */
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { SegmentCache } from '../../libs/db/index.js';

export interface IndexerGauges {
  /** Per pool served: the newest t folded in, and the t of the last merged index root. */
  pools(): { pool: string; basisT: number; mergedT: number }[];
  cache: SegmentCache;
}

export function indexerMetrics(opts: { defaults?: boolean } = {}) {
  const registry = new Registry();
  if (opts.defaults) collectDefaultMetrics({ register: registry, prefix: 'diagon_indexer_' });
  let gauges: IndexerGauges | undefined;
  // The cache counts since it was made; the counters follow it by the difference.
  const seen = new Map<string, number>();
  return {
    registry,
    /** What the gauges read at each scrape (the indexer, once it exists). */
    watch(g: IndexerGauges) {
      gauges = g;
    },
    mergeSeconds: new Histogram({
      name: 'diagon_index_merge_duration_seconds',
      help: "A merge: writing the changed nodes of the pool's four indexes and its new root",
      labelNames: ['pool'] as const,
      buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers: [registry],
    }),
    mergedSegments: new Counter({
      name: 'diagon_index_merged_segments_total',
      help: 'Segments written by merges',
      labelNames: ['pool'] as const,
      registers: [registry],
    }),
    folded: new Counter({
      name: 'diagon_index_folded_datoms_total',
      help: 'Datoms of committed transactions folded into the live index',
      labelNames: ['pool'] as const,
      registers: [registry],
    }),
    querySeconds: new Histogram({
      name: 'diagon_index_query_duration_seconds',
      help: 'Requests answered on the query subject (query, pull, datoms, log), by outcome',
      labelNames: ['pool', 'outcome'] as const,
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10],
      registers: [registry],
    }),
    basisT: new Gauge({
      name: 'diagon_index_basis_t',
      help: 'The newest t the indexer folded in, per pool',
      labelNames: ['pool'] as const,
      registers: [registry],
      collect() {
        for (const p of gauges?.pools() ?? []) this.set({ pool: p.pool }, p.basisT);
      },
    }),
    mergedT: new Gauge({
      name: 'diagon_index_merged_t',
      help: "The t of the pool's newest merged index root",
      labelNames: ['pool'] as const,
      registers: [registry],
      collect() {
        for (const p of gauges?.pools() ?? []) this.set({ pool: p.pool }, p.mergedT);
      },
    }),
    cacheRequests: new Counter({
      name: 'diagon_segment_cache_requests_total',
      help: 'Segment cache lookups, by tier (encoded bytes, decoded nodes) and result (hit, miss)',
      labelNames: ['tier', 'result'] as const,
      registers: [registry],
      collect() {
        if (gauges === undefined) return;
        const s = gauges.cache.stats();
        for (const tier of ['encoded', 'decoded'] as const)
          for (const result of ['hit', 'miss'] as const) {
            const now = s[tier][result === 'hit' ? 'hits' : 'misses'];
            const key = `${tier}/${result}`;
            const delta = now - (seen.get(key) ?? 0);
            seen.set(key, now);
            // Zero too, so every series exists from the first scrape.
            this.inc({ tier, result }, Math.max(0, delta));
          }
      },
    }),
    cacheBytes: new Gauge({
      name: 'diagon_segment_cache_bytes',
      help: 'Bytes held by the segment cache, by tier',
      labelNames: ['tier'] as const,
      registers: [registry],
      collect() {
        if (gauges === undefined) return;
        const s = gauges.cache.stats();
        this.set({ tier: 'encoded' }, s.encoded.bytes);
        this.set({ tier: 'decoded' }, s.decoded.bytes);
      },
    }),
  };
}

export type IndexerMetrics = ReturnType<typeof indexerMetrics>;
