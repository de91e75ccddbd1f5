/**
 * libs/telemetry: W3C trace context on Diagon's messages and spans around their handling
 * (trace.ts), and the OpenTelemetry SDK set up from `OTEL_*` variables (setup.ts).
 */

export { startTelemetry, type Telemetry, telemetryEnabled } from './setup.js';
export { contextOf, inSpan, messageHeaders, SpanKind, traceIds } from './trace.js';
