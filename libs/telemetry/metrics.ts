/**
 * Metrics leave a Diagon process two ways from one set of prom-client registries: scraped
 * as Prometheus text on `/metrics`, and — when OTLP export is on — pushed over OTLP/HTTP by
 * the OpenTelemetry SDK, through a MetricProducer that reads the same registries (the
 * bridge OpenTelemetry's other SDKs ship for Prometheus clients; JS has none). Counters
 * become cumulative monotonic sums, gauges gauges, histograms explicit-bucket histograms,
 * under the same names and labels.
 */
import type { Attributes, HrTime } from '@opentelemetry/api';
import { ValueType } from '@opentelemetry/api';
import { hrTime } from '@opentelemetry/core';
import type { Resource } from '@opentelemetry/resources';
import {
  AggregationTemporality,
  type CollectionResult,
  DataPointType,
  type MetricData,
  type MetricProducer,
} from '@opentelemetry/sdk-metrics';
import type { MetricObjectWithValues, MetricValue, Registry } from 'prom-client';

const registries = new Set<Registry>();

/** Exports `registry` over OTLP too (when on); returns what stops that. */
export function exportMetrics(registry: Registry): () => void {
  registries.add(registry);
  return () => registries.delete(registry);
}

const SCOPE = { name: 'diagon', version: '0.1.0' };

/** A MetricProducer over prom-client registries (every exported one unless given). */
export class PromClientProducer implements MetricProducer {
  private readonly startTime: HrTime = hrTime();

  constructor(
    private readonly resource: Resource,
    private readonly from: () => Iterable<Registry> = () => registries,
  ) {}

  async collect(): Promise<CollectionResult> {
    const errors: unknown[] = [];
    const metrics: MetricData[] = [];
    for (const registry of this.from()) {
      let families: MetricObjectWithValues<MetricValue<string>>[];
      try {
        families = await registry.getMetricsAsJSON();
      } catch (e) {
        errors.push(e);
        continue;
      }
      for (const f of families) {
        const m = this.convert(f);
        if (m !== null) metrics.push(m);
      }
    }
    return {
      resourceMetrics: { resource: this.resource, scopeMetrics: [{ scope: SCOPE, metrics }] },
      errors,
    };
  }

  private convert(f: MetricObjectWithValues<MetricValue<string>>): MetricData | null {
    const now = hrTime();
    const descriptor = {
      name: f.name,
      description: f.help,
      unit: f.name.endsWith('_seconds') ? 's' : f.name.endsWith('_bytes') ? 'By' : '',
      valueType: ValueType.DOUBLE,
    };
    const point = <T>(attributes: Attributes, value: T) => ({
      startTime: this.startTime,
      endTime: now,
      attributes,
      value,
    });
    const type = String(f.type);
    if (type === 'counter')
      return {
        descriptor,
        aggregationTemporality: AggregationTemporality.CUMULATIVE,
        dataPointType: DataPointType.SUM,
        isMonotonic: true,
        dataPoints: f.values.map((v) => point(attributes(v.labels), v.value)),
      };
    if (type === 'gauge')
      return {
        descriptor,
        aggregationTemporality: AggregationTemporality.CUMULATIVE,
        dataPointType: DataPointType.GAUGE,
        dataPoints: f.values.map((v) => point(attributes(v.labels), v.value)),
      };
    if (type === 'histogram')
      return {
        descriptor,
        aggregationTemporality: AggregationTemporality.CUMULATIVE,
        dataPointType: DataPointType.HISTOGRAM,
        dataPoints: histogramPoints(f.name, f.values).map((h) =>
          point(h.attributes, {
            buckets: { boundaries: h.boundaries, counts: h.counts },
            sum: h.sum,
            count: h.count,
          }),
        ),
      };
    return null; // summaries: none of Diagon's
  }
}

function attributes(labels: Record<string, string | number | undefined>): Attributes {
  const out: Attributes = {};
  for (const [k, v] of Object.entries(labels)) if (v !== undefined) out[k] = String(v);
  return out;
}

/**
 * prom-client's histogram values (cumulative `_bucket` series by `le`, `_sum`, `_count`),
 * grouped by label set, as OTLP's per-bucket counts over finite boundaries.
 */
export function histogramPoints(
  name: string,
  values: readonly MetricValue<string>[],
): {
  attributes: Attributes;
  boundaries: number[];
  counts: number[];
  sum: number;
  count: number;
}[] {
  const series = new Map<
    string,
    { attributes: Attributes; le: [number, number][]; sum: number; count: number }
  >();
  for (const v of values) {
    const { le, ...rest } = v.labels as Record<string, string | number | undefined>;
    const attrs = attributes(rest);
    const key = JSON.stringify(Object.entries(attrs).sort());
    let s = series.get(key);
    if (s === undefined) {
      s = { attributes: attrs, le: [], sum: 0, count: 0 };
      series.set(key, s);
    }
    const metric = (v as { metricName?: string }).metricName ?? name;
    if (metric === `${name}_bucket`) {
      const bound = le === '+Inf' ? Number.POSITIVE_INFINITY : Number(le);
      s.le.push([bound, v.value]);
    } else if (metric === `${name}_sum`) s.sum = v.value;
    else if (metric === `${name}_count`) s.count = v.value;
  }
  return [...series.values()].map((s) => {
    const cumulative = s.le.sort((a, b) => a[0] - b[0]);
    const boundaries = cumulative.filter(([b]) => Number.isFinite(b)).map(([b]) => b);
    const counts: number[] = [];
    let below = 0;
    for (const [b, c] of cumulative) {
      if (!Number.isFinite(b)) break;
      counts.push(c - below);
      below = c;
    }
    counts.push(s.count - below); // above the last boundary
    return { attributes: s.attributes, boundaries, counts, sum: s.sum, count: s.count };
  });
}
