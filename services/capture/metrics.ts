/** The capture service's Prometheus metrics. */
import { Counter, Gauge, Registry } from 'prom-client';

export function captureMetrics() {
  const registry = new Registry();
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
    packets: new Gauge({
      name: 'diagon_capture_packets',
      help: 'Packets captured since start',
      registers: [registry],
    }),
    publishFailures: new Counter({
      name: 'diagon_capture_publish_failures_total',
      help: 'Frame events NATS did not take',
      registers: [registry],
    }),
  };
}
