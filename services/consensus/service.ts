/** The consensus service's definition: its variables and how it starts (see main.ts). */
import { z } from 'zod';
import { envInt, envVar } from '../../libs/common/env.js';
import { defineService, SERVICE_ENV } from '../../libs/common/service.js';
import { KeyPair, loadOrCreateKeyFile } from '../../libs/identity/index.js';
import { postgresReady, serveOps } from '../../libs/telemetry/ops.js';
import { Consensus } from './consensus.js';
import { consensusMetrics } from './metrics.js';

export const CONSENSUS_ENV = {
  CONSENSUS_KEY_FILE: envVar(
    '',
    'the log key that signs checkpoints; created (0600) when missing',
    z.string(),
  ),
  ...SERVICE_ENV,
  CONSENSUS_HTTP_HOST: envVar('0.0.0.0', '/healthz, /readyz and /metrics listen here', z.string()),
  CONSENSUS_HTTP_PORT: envVar('7423', 'on this port (0: any free port)', envInt(0, 65535)),
  PROPOSAL_TTL_MS: envVar(
    '86400000',
    'proposal time-to-live unless the pool policy sets ttlMs',
    envInt(1000, 365 * 86_400_000),
  ),
  TRUST_HALF_LIFE_MS: envVar(
    '2592000000',
    'trust decays towards neutral with this half-life',
    envInt(1000, 1e13),
  ),
};

export const consensusService = defineService({
  name: 'consensus',
  title: 'proposals, signed votes, quorum and the governance log.',
  env: CONSENSUS_ENV,
  async start({ config: c, log, sql, bus }) {
    let key: KeyPair;
    if (c.CONSENSUS_KEY_FILE === '') {
      log.warn(
        'CONSENSUS_KEY_FILE is not set: checkpoints are signed with a new key on every start',
      );
      key = KeyPair.generate();
    } else key = (await loadOrCreateKeyFile(c.CONSENSUS_KEY_FILE)).key;
    const metrics = consensusMetrics({
      defaults: true,
      openProposals: async () =>
        (
          await sql<{ pool: string; n: number }[]>`
            select pool, count(*)::int as n from proposals where status = 'open' group by pool`
        ).map((r) => ({ pool: r.pool, n: r.n })),
    });
    const consensus = new Consensus({
      metrics,
      sql,
      bus,
      logKey: key,
      ttlMs: c.PROPOSAL_TTL_MS,
      trust: { halfLifeMs: c.TRUST_HALF_LIFE_MS },
      log,
    });
    await consensus.start();
    const ops = await serveOps({
      host: c.CONSENSUS_HTTP_HOST,
      port: c.CONSENSUS_HTTP_PORT,
      registry: metrics.registry,
      ready: postgresReady(sql),
    });
    log.info({ logKey: key.did, port: ops.port }, 'consensus ready');
    return {
      async stop() {
        await ops.close();
        await consensus.stop();
      },
    };
  },
});
