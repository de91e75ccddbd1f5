/** The consensus service's Prometheus metrics. */
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

const SECONDS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 3600];

export function consensusMetrics(
  opts: { defaults?: boolean; openProposals?: () => Promise<{ pool: string; n: number }[]> } = {},
) {
  const registry = new Registry();
  if (opts.defaults) collectDefaultMetrics({ register: registry, prefix: 'diagon_consensus_' });
  return {
    registry,
    proposals: new Counter({
      name: 'diagon_consensus_proposals_total',
      help: 'Proposals received: opened (by kind) or refused (by error code)',
      labelNames: ['pool', 'result', 'kind', 'reason'] as const,
      registers: [registry],
    }),
    votes: new Counter({
      name: 'diagon_consensus_votes_total',
      help: 'Votes received: counted (yes or no) or refused (by error code)',
      labelNames: ['pool', 'result', 'reason'] as const,
      registers: [registry],
    }),
    decisions: new Counter({
      name: 'diagon_consensus_decisions_total',
      help: 'Proposals decided, by outcome (committed, failed, rejected, expired)',
      labelNames: ['pool', 'outcome'] as const,
      registers: [registry],
    }),
    quorumSeconds: new Histogram({
      name: 'diagon_consensus_quorum_seconds',
      help: 'From a proposal opening to the vote that reached its quorum',
      labelNames: ['pool'] as const,
      buckets: SECONDS,
      registers: [registry],
    }),
    commitSeconds: new Histogram({
      name: 'diagon_consensus_commit_seconds',
      help: 'From quorum to the transactor (or the membership change) answering',
      labelNames: ['pool'] as const,
      buckets: SECONDS,
      registers: [registry],
    }),
    open: new Gauge({
      name: 'diagon_consensus_proposals_open',
      help: 'Proposals open for votes, per pool (read from Postgres at each scrape)',
      labelNames: ['pool'] as const,
      registers: [registry],
      async collect() {
        if (opts.openProposals === undefined) return;
        const rows = await opts.openProposals();
        this.reset();
        for (const r of rows) this.set({ pool: r.pool }, r.n);
      },
    }),
  };
}

export type ConsensusMetrics = ReturnType<typeof consensusMetrics>;
