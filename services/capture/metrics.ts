/** The capture service's Prometheus metrics. */
import { Counter, Registry } from 'prom-client';

export function captureMetrics(opts: { packets?: () => number } = {}) {
  const registry = new Registry();
  let counted = 0;
  return {
    registry,
    frames: new Counter({
      name: 'diagon_capture_frames_total',
      help: 'Wire frames decoded, by message type and status',
      labelNames: ['type', 'status'] as const,
      registers: [registry],
    }),
    anomalies: new Counter({
      name: 'diagon_capture_anomalies_total',
      help: 'Protocol violations, gaps, conflicting overlaps and garbage, by kind',
      labelNames: ['kind'] as const,
      registers: [registry],
    }),
    packets: new Counter({
      name: 'diagon_capture_packets_total',
      help: 'Packets captured',
      registers: [registry],
      collect() {
        if (opts.packets === undefined) return;
        const now = opts.packets();
        this.inc(Math.max(0, now - counted));
        counted = now;
      },
    }),
    publishFailures: new Counter({
      name: 'diagon_capture_publish_failures_total',
      help: 'Frame events NATS did not take',
      registers: [registry],
    }),
  };
}
