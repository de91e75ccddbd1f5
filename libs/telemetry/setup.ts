/**
 * The OpenTelemetry SDK for a service process, configured by the standard `OTEL_*`
 * variables: on when `OTEL_EXPORTER_OTLP_ENDPOINT` (or the signal's own
 * `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` / `…_METRICS_ENDPOINT`) is set and
 * `OTEL_SDK_DISABLED` is not `true`; `OTEL_TRACES_EXPORTER=none` or
 * `OTEL_METRICS_EXPORTER=none` turns one signal off. Spans go to OTLP over HTTP in
 * batches; metrics (the process's prom-client registries, see metrics.ts) every
 * `OTEL_METRIC_EXPORT_INTERVAL` ms (default 60000). The encoding is
 * `OTEL_EXPORTER_OTLP_PROTOCOL` (or the signal's `…_TRACES_PROTOCOL` / `…_METRICS_PROTOCOL`):
 * `http/protobuf`, the specification's default, or `http/json`. Off otherwise (tests, `diagon up`
 * unless asked), when `inSpan` is a no-op; /metrics is served either way.
 */
import { hostname } from 'node:os';
import { OTLPMetricExporter as JsonMetricExporter } from '@opentelemetry/exporter-metrics-otlp-http';
import { OTLPMetricExporter as ProtoMetricExporter } from '@opentelemetry/exporter-metrics-otlp-proto';
import { OTLPTraceExporter as JsonTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPTraceExporter as ProtoTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import {
  defaultResource,
  detectResources,
  envDetector,
  processDetector,
  resourceFromAttributes,
} from '@opentelemetry/resources';
import {
  MeterProvider,
  type MetricReader,
  PeriodicExportingMetricReader,
} from '@opentelemetry/sdk-metrics';
import { BatchSpanProcessor, type SpanProcessor } from '@opentelemetry/sdk-trace-base';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import { ATTR_SERVICE_NAME, ATTR_SERVICE_VERSION } from '@opentelemetry/semantic-conventions';
import { ATTR_HOST_NAME } from '@opentelemetry/semantic-conventions/incubating';
import { DiagonError } from '../db/errors.js';
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

/** The OTLP encoding of a signal: `http/protobuf` (default) or `http/json`. */
export function otlpProtocol(
  env: Env,
  signal: 'TRACES' | 'METRICS',
): 'http/protobuf' | 'http/json' {
  const p = env[`OTEL_EXPORTER_OTLP_${signal}_PROTOCOL`] || env.OTEL_EXPORTER_OTLP_PROTOCOL;
  if (p === undefined || p === '' || p === 'http/protobuf') return 'http/protobuf';
  if (p === 'http/json') return 'http/json';
  throw new DiagonError(
    'telemetry/bad-protocol',
    `OTLP protocol ${JSON.stringify(p)} is not supported: set OTEL_EXPORTER_OTLP_PROTOCOL to http/protobuf or http/json (grpc is not built in; send to a collector over HTTP).`,
  );
}

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
  // Checked before anything starts: a wrong protocol is a configuration error.
  const json = {
    traces: traces && otlpProtocol(env, 'TRACES') === 'http/json',
    metrics: metrics && otlpProtocol(env, 'METRICS') === 'http/json',
  };
  // The SDK's own, the process environment's (OTEL_RESOURCE_ATTRIBUTES) and the process's,
  // the host name (the pod's on Kubernetes), then the service's name and version. All known
  // now: no detector that answers later, so spans leave as soon as they end.
  const resource = defaultResource()
    .merge(detectResources({ detectors: [envDetector, processDetector] }))
    .merge(
      resourceFromAttributes({
        [ATTR_HOST_NAME]: hostname(),
        [ATTR_SERVICE_NAME]: env.OTEL_SERVICE_NAME ?? `diagon-${service}`,
        [ATTR_SERVICE_VERSION]: '0.1.0',
      }),
    );
  const stops: (() => Promise<void>)[] = [];
  if (traces) {
    const provider = new NodeTracerProvider({
      resource,
      spanProcessors: [
        opts.processor ??
          new BatchSpanProcessor(json.traces ? new JsonTraceExporter() : new ProtoTraceExporter()),
      ],
    });
    provider.register();
    stops.push(() => provider.shutdown());
  }
  if (metrics) {
    const interval = Number(env.OTEL_METRIC_EXPORT_INTERVAL ?? 60_000);
    const reader =
      opts.metricReader ??
      new PeriodicExportingMetricReader({
        exporter: json.metrics ? new JsonMetricExporter() : new ProtoMetricExporter(),
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
