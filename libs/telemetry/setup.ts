/**
 * The OpenTelemetry SDK for a service process, configured by the standard `OTEL_*`
 * variables: on when `OTEL_EXPORTER_OTLP_ENDPOINT` (or `…_TRACES_ENDPOINT`) is set and
 * `OTEL_SDK_DISABLED` is not `true`; spans go to OTLP over HTTP in batches. Off otherwise
 * (tests, `diagon up` unless asked), when `inSpan` is a no-op.
 */
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BatchSpanProcessor, type SpanProcessor } from '@opentelemetry/sdk-trace-base';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import { ATTR_SERVICE_NAME, ATTR_SERVICE_VERSION } from '@opentelemetry/semantic-conventions';

export interface Telemetry {
  enabled: boolean;
  shutdown(): Promise<void>;
}

export function telemetryEnabled(env: Record<string, string | undefined> = process.env): boolean {
  if (env.OTEL_SDK_DISABLED === 'true') return false;
  return Boolean(env.OTEL_EXPORTER_OTLP_ENDPOINT || env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT);
}

/** Starts tracing for `service` (`diagon-<service>`); `processor` replaces OTLP (tests). */
export function startTelemetry(
  service: string,
  opts: { env?: Record<string, string | undefined>; processor?: SpanProcessor } = {},
): Telemetry {
  if (opts.processor === undefined && !telemetryEnabled(opts.env)) {
    return { enabled: false, shutdown: async () => {} };
  }
  const provider = new NodeTracerProvider({
    resource: resourceFromAttributes({
      [ATTR_SERVICE_NAME]: opts.env?.OTEL_SERVICE_NAME ?? `diagon-${service}`,
      [ATTR_SERVICE_VERSION]: '0.1.0',
    }),
    spanProcessors: [opts.processor ?? new BatchSpanProcessor(new OTLPTraceExporter())],
  });
  provider.register();
  return { enabled: true, shutdown: () => provider.shutdown() };
}
