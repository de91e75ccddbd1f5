/** The transactor service's definition: its variables and how it starts (see main.ts). */
import { z } from 'zod';
import { envInt, envVar } from '../../libs/common/env.js';
import { defineService, SERVICE_ENV } from '../../libs/common/service.js';
import { serveOps } from '../../libs/telemetry/ops.js';
import { transactorMetrics } from './metrics.js';
import { Transactor } from './transactor.js';

export const TRANSACTOR_ENV = {
  TRANSACTOR_POOL: envVar(
    '',
    'the pool this transactor writes',
    z.string().regex(/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/, 'must be a pool name'),
    true,
  ),
  ...SERVICE_ENV,
  TRANSACTOR_HTTP_HOST: envVar('0.0.0.0', '/healthz, /readyz and /metrics listen here', z.string()),
  TRANSACTOR_HTTP_PORT: envVar('7425', 'on this port (0: any free port)', envInt(0, 65535)),
  TX_BATCH_MAX: envVar('256', 'most transactions in one Postgres commit', envInt(1, 100_000)),
  TX_BATCH_DELAY_MS: envVar('0', 'how long a batch waits for more requests', envInt(0, 10_000)),
  TX_FENCE_RETRY_MS: envVar(
    '1000',
    'how often a standby transactor retries the fence',
    envInt(10, 600_000),
  ),
};

export const transactorService = defineService({
  name: 'transactor',
  title: 'the one writer of a pool: verifies certificates, applies, logs, publishes.',
  env: TRANSACTOR_ENV,
  async start({ config: c, log, sql, bus }) {
    const metrics = transactorMetrics(c.TRANSACTOR_POOL, { defaults: true });
    const transactor = new Transactor({
      metrics,
      pool: c.TRANSACTOR_POOL,
      sql,
      bus,
      batchMax: c.TX_BATCH_MAX,
      batchDelayMs: c.TX_BATCH_DELAY_MS,
      fenceRetryMs: c.TX_FENCE_RETRY_MS,
      log: log.child({ pool: c.TRANSACTOR_POOL }),
    });
    await transactor.start();
    const ops = await serveOps({
      host: c.TRANSACTOR_HTTP_HOST,
      port: c.TRANSACTOR_HTTP_PORT,
      registry: metrics.registry,
      // A standby is ready too: it is doing its job (waiting for the fence).
      ready: () =>
        transactor.status === 'active' || transactor.status === 'standby'
          ? null
          : `this transactor is ${transactor.status}`,
    });
    log.info({ port: ops.port }, 'transactor metrics on /metrics');
    return {
      async stop() {
        await ops.close();
        await transactor.stop();
      },
    };
  },
});
