/** The transactor's Prometheus metrics (one registry per transactor, labelled with its pool). */
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

export interface TransactorGauges {
  basisT(): number | undefined;
  mailboxDepth(): number;
  active(): boolean;
}

export function transactorMetrics(pool: string, opts: { defaults?: boolean } = {}) {
  const registry = new Registry();
  registry.setDefaultLabels({ pool });
  if (opts.defaults) collectDefaultMetrics({ register: registry, prefix: 'diagon_transactor_' });
  let gauges: TransactorGauges | undefined;
  return {
    registry,
    /** What the gauges read at each scrape (the transactor, once it exists). */
    watch(g: TransactorGauges) {
      gauges = g;
    },
    committed: new Counter({
      name: 'diagon_tx_committed_total',
      help: 'Transactions committed to the log',
      registers: [registry],
    }),
    rejected: new Counter({
      name: 'diagon_tx_rejected_total',
      help: 'Submissions refused or failed, by error code',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
    duration: new Histogram({
      name: 'diagon_tx_duration_seconds',
      help: 'From a certificate reaching the transactor to its commit answered (verify, apply, log)',
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [registry],
    }),
    batchSize: new Histogram({
      name: 'diagon_tx_batch_size',
      help: 'Transactions per Postgres commit (group commit)',
      buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256, 512],
      registers: [registry],
    }),
    basisT: new Gauge({
      name: 'diagon_tx_basis_t',
      help: "The pool's newest t, as its transactor holds it",
      registers: [registry],
      collect() {
        const t = gauges?.basisT();
        if (t !== undefined) this.set(t);
      },
    }),
    active: new Gauge({
      name: 'diagon_transactor_active',
      help: '1 while this transactor holds the fence and writes, 0 on standby',
      registers: [registry],
      collect() {
        this.set(gauges?.active() ? 1 : 0);
      },
    }),
    mailboxDepth: new Gauge({
      name: 'diagon_actor_mailbox_depth',
      help: "Messages waiting in the transactor's actor and submissions waiting for a commit",
      registers: [registry],
      collect() {
        this.set(gauges?.mailboxDepth() ?? 0);
      },
    }),
  };
}

export type TransactorMetrics = ReturnType<typeof transactorMetrics>;
