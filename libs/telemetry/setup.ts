/**
 * The OpenTelemetry SDK for a service process, configured by the standard `OTEL_*`
 * variables: on when `OTEL_EXPORTER_OTLP_ENDPOINT` (or the signal's own
 * `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` / `…_METRICS_ENDPOINT`) is set and
 * `OTEL_SDK_DISABLED` is not `true`; `OTEL_TRACES_EXPORTER=none` or
 * `OTEL_METRICS_EXPORTER=none` turns one signal off. Spans go to OTLP over HTTP in
 * batches; metrics (the process's prom-client registries, see metrics.ts) every
 * `OTEL_METRIC_EXPORT_INTERVAL` ms (default 60000). Off otherwise (tests, `diagon up`
 * unless asked), when `inSpan` is a no-op; /metrics is served either way.
 */
import { OTLPMetricExporter } from '@opentelemetry/exporter-metrics-otlp-http';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  MeterProvider,
  type MetricReader,
  PeriodicExportingMetricReader,
} from '@opentelemetry/sdk-metrics';
import { BatchSpanProcessor, type SpanProcessor } from '@opentelemetry/sdk-trace-base';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import { ATTR_SERVICE_NAME, ATTR_SERVICE_VERSION } from '@opentelemetry/semantic-conventions';
import { PromClientProducer } from './metrics.js';

export interface Telemetry {
  enabled: boolean;
  /** Whether metrics are pushed over OTLP (they are always on /metrics). */
  metrics: boolean;
  shutdown(): Promise<void>;
}

type Env = Record<string, string | undefined>;

const signalOn = (env: Env, signal: 'TRACES' | 'METRICS') =>
  env.OTEL_SDK_DISABLED !== 'true' &&
  env[`OTEL_${signal}_EXPORTER`] !== 'none' &&
  Boolean(env.OTEL_EXPORTER_OTLP_ENDPOINT || env[`OTEL_EXPORTER_OTLP_${signal}_ENDPOINT`]);

export function telemetryEnabled(env: Env = process.env): boolean {
  return signalOn(env, 'TRACES');
}

export function metricsExportEnabled(env: Env = process.env): boolean {
  return signalOn(env, 'METRICS');
}

/**
 * Starts tracing and metric export for `service` (`diagon-<service>`); `processor`
 * replaces the OTLP span exporter and `metricReader` the OTLP metric reader (tests).
 */
export function startTelemetry(
  service: string,
  opts: { env?: Env; processor?: SpanProcessor; metricReader?: MetricReader } = {},
): Telemetry {
  const env = opts.env ?? process.env;
  const traces = opts.processor !== undefined || telemetryEnabled(env);
  const metrics = opts.metricReader !== undefined || metricsExportEnabled(env);
  if (!traces && !metrics) return { enabled: false, metrics: false, shutdown: async () => {} };
  const resource = resourceFromAttributes({
    [ATTR_SERVICE_NAME]: env.OTEL_SERVICE_NAME ?? `diagon-${service}`,
    [ATTR_SERVICE_VERSION]: '0.1.0',
  });
  const stops: (() => Promise<void>)[] = [];
  if (traces) {
    const provider = new NodeTracerProvider({
      resource,
      spanProcessors: [opts.processor ?? new BatchSpanProcessor(new OTLPTraceExporter())],
    });
    provider.register();
    stops.push(() => provider.shutdown());
  }
  if (metrics) {
    const interval = Number(env.OTEL_METRIC_EXPORT_INTERVAL ?? 60_000);
    const reader =
      opts.metricReader ??
      new PeriodicExportingMetricReader({
        exporter: new OTLPMetricExporter(),
        exportIntervalMillis: Number.isFinite(interval) && interval > 0 ? interval : 60_000,
        metricProducers: [new PromClientProducer(resource)],
      });
    const provider = new MeterProvider({ resource, readers: [reader] });
    stops.push(() => provider.shutdown());
  }
  return {
    enabled: traces,
    metrics,
    shutdown: async () => {
      for (const stop of stops) await stop();
    },
  };
}
