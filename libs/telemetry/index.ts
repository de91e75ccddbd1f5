/**
 * libs/telemetry: W3C trace context on Diagon's messages and spans around their handling
 * (trace.ts), and the OpenTelemetry SDK set up from `OTEL_*` variables (setup.ts).
 */

export type { Context } from '@opentelemetry/api';
export { exportMetrics, PromClientProducer } from './metrics.js';
export { type OpsServer, postgresReady, serveOps } from './ops.js';
export {
  metricsExportEnabled,
  startTelemetry,
  type Telemetry,
  telemetryEnabled,
} from './setup.js';
export {
  activeContext,
  contextOf,
  inLinkedSpan,
  inSpan,
  isRecorded,
  messageHeaders,
  recordSpan,
  SpanKind,
  traceIds,
} from './trace.js';
