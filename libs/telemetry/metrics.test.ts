import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  AggregationTemporality,
  DataPointType,
  type HistogramMetricData,
  MeterProvider,
  MetricReader,
  type SumMetricData,
} from '@opentelemetry/sdk-metrics';
import fc from 'fast-check';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { histogramPoints, PromClientProducer } from './metrics.js';

/** A reader collected by hand (the SDK's export path minus the timer). */
class ManualReader extends MetricReader {
  protected async onForceFlush(): Promise<void> {}
  protected async onShutdown(): Promise<void> {}
}

describe('prom-client registries as OpenTelemetry metrics', () => {
  it('turns counters, gauges and histograms into sums, gauges and bucket histograms', async () => {
    const registry = new Registry();
    registry.setDefaultLabels({ pool: 'p' });
    const c = new Counter({
      name: 'x_total',
      help: 'xs',
      labelNames: ['result'] as const,
      registers: [registry],
    });
    c.inc({ result: 'yes' }, 2);
    c.inc({ result: 'no' });
    new Gauge({ name: 'x_depth', help: 'depth', registers: [registry] }).set(7);
    const h = new Histogram({
      name: 'x_seconds',
      help: 'time',
      buckets: [0.01, 0.1, 1],
      registers: [registry],
    });
    for (const v of [0.003, 0.2, 0.5, 7]) h.observe(v);

    const resource = resourceFromAttributes({ 'service.name': 't' });
    const reader = new ManualReader({
      metricProducers: [new PromClientProducer(resource, () => [registry])],
    });
    const provider = new MeterProvider({ resource, readers: [reader] });
    const { resourceMetrics, errors } = await reader.collect();
    expect(errors).toEqual([]);
    const metrics = resourceMetrics.scopeMetrics.flatMap((s) => s.metrics);
    const byName = (n: string) => metrics.find((m) => m.descriptor.name === n)!;

    const sum = byName('x_total') as SumMetricData;
    expect(sum.dataPointType).toBe(DataPointType.SUM);
    expect(sum.isMonotonic).toBe(true);
    expect(sum.aggregationTemporality).toBe(AggregationTemporality.CUMULATIVE);
    expect(sum.dataPoints.map((p) => [p.attributes, p.value])).toEqual(
      expect.arrayContaining([
        [{ pool: 'p', result: 'yes' }, 2],
        [{ pool: 'p', result: 'no' }, 1],
      ]),
    );
    expect(byName('x_depth').dataPointType).toBe(DataPointType.GAUGE);
    expect(byName('x_depth').dataPoints[0]!.value).toBe(7);

    const hist = byName('x_seconds') as HistogramMetricData;
    expect(hist.descriptor.unit).toBe('s');
    expect(hist.dataPoints).toHaveLength(1);
    expect(hist.dataPoints[0]!.attributes).toEqual({ pool: 'p' });
    expect(hist.dataPoints[0]!.value).toMatchObject({
      buckets: { boundaries: [0.01, 0.1, 1], counts: [1, 0, 2, 1] },
      count: 4,
      sum: 0.003 + 0.2 + 0.5 + 7,
    });
    await provider.shutdown();
  });

  it('keeps every observation in exactly one bucket (any buckets, any values)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.uniqueArray(fc.double({ min: -1e6, max: 1e6, noNaN: true }), {
          minLength: 1,
          maxLength: 8,
        }),
        fc.array(fc.double({ min: -2e6, max: 2e6, noNaN: true }), { maxLength: 40 }),
        async (bounds, values) => {
          const buckets = [...bounds].sort((a, b) => a - b);
          const registry = new Registry();
          const h = new Histogram({ name: 'h', help: 'h', buckets, registers: [registry] });
          for (const v of values) h.observe(v);
          const [family] = await registry.getMetricsAsJSON();
          const [point] = histogramPoints('h', family!.values);
          expect(point!.boundaries).toEqual(buckets);
          expect(point!.counts).toHaveLength(buckets.length + 1);
          expect(point!.counts.reduce((a, b) => a + b, 0)).toBe(values.length);
          // Bucket i holds (boundaries[i-1], boundaries[i]]: OTLP's rule and Prometheus' le.
          const expected = buckets.map(
            (b, i) => values.filter((v) => v <= b && (i === 0 || v > buckets[i - 1]!)).length,
          );
          expected.push(values.filter((v) => v > buckets.at(-1)!).length);
          expect(point!.counts).toEqual(expected);
        },
      ),
      { numRuns: 200 },
    );
  });
});
