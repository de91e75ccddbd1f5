/** The indexer service's definition: its variables and how it starts (see main.ts). */
import { z } from 'zod';
import { envInt, envVar } from '../../libs/common/env.js';
import { defineService, SERVICE_ENV } from '../../libs/common/service.js';
import { postgresReady, serveOps } from '../../libs/telemetry/ops.js';
import { Indexer } from './indexer.js';
import { indexerMetrics } from './metrics.js';

export const INDEXER_ENV = {
  INDEXER_POOLS: envVar(
    '',
    'comma-separated pools to serve (unset: every pool, each as soon as it is created)',
    z.string(),
  ),
  INDEXER_REPLICA: envVar(
    '',
    "this replica's name, for its durable consumers (unset: the host name)",
    z.string(),
  ),
  ...SERVICE_ENV,
  INDEXER_HTTP_HOST: envVar('0.0.0.0', '/healthz, /readyz and /metrics listen here', z.string()),
  INDEXER_HTTP_PORT: envVar('7424', 'on this port (0: any free port)', envInt(0, 65535)),
  INDEX_MERGE_DATOMS: envVar('100000', 'merge after this many new datoms', envInt(1, 1e9)),
  INDEX_MERGE_MS: envVar('10000', 'or after this long', envInt(100, 86_400_000)),
  INDEX_KEEP_ROOTS: envVar(
    '3',
    'index roots kept per pool (older ones are collected)',
    envInt(1, 10_000),
  ),
  GC_EVERY_MS: envVar('60000', 'how often garbage collection runs', envInt(1000, 86_400_000)),
  GC_GRACE_MS: envVar(
    '600000',
    'segments younger than this are never collected',
    envInt(0, 86_400_000),
  ),
};

export const indexerService = defineService({
  name: 'indexer',
  title: 'folds committed transactions, merges index segments, answers queries.',
  env: INDEXER_ENV,
  async start({ config: c, log, sql, bus }) {
    const pools = c.INDEXER_POOLS.split(',')
      .map((p) => p.trim())
      .filter((p) => p !== '');
    const metrics = indexerMetrics({ defaults: true });
    const indexer = new Indexer({
      metrics,
      sql,
      bus,
      ...(pools.length > 0 ? { pools } : {}),
      ...(c.INDEXER_REPLICA !== '' ? { replica: c.INDEXER_REPLICA } : {}),
      mergeEveryDatoms: c.INDEX_MERGE_DATOMS,
      mergeEveryMs: c.INDEX_MERGE_MS,
      keepRoots: c.INDEX_KEEP_ROOTS,
      gcEveryMs: c.GC_EVERY_MS,
      gcGraceMs: c.GC_GRACE_MS,
      log,
    });
    await indexer.start();
    const ops = await serveOps({
      host: c.INDEXER_HTTP_HOST,
      port: c.INDEXER_HTTP_PORT,
      registry: metrics.registry,
      ready: postgresReady(sql),
    });
    log.info({ port: ops.port }, 'indexer metrics on /metrics');
    return {
      async stop() {
        await ops.close();
        await indexer.stop();
      },
    };
  },
});
