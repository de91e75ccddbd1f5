import { context, trace } from '@opentelemetry/api';
import { InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testNats } from '../../test/support/nats.js';
import type { Bus } from '../bus/bus.js';
import { MemoryBus } from '../bus/memory-bus.js';
import { inSpan, messageHeaders, SpanKind, startTelemetry, telemetryEnabled } from './index.js';

const exporter = new InMemorySpanExporter();
const telemetry = startTelemetry('test', { processor: new SimpleSpanProcessor(exporter) });

/** A client span → request a → (handler) request b → (handler) reply: one trace, parented. */
async function chain(bus: Bus, prefix: string) {
  const subA = bus.subscribe(`${prefix}.a`, async (m) => {
    const r = await bus.request(`${prefix}.b`, m.data, { timeoutMs: 5000 });
    m.respond(r.data);
  });
  const subB = bus.subscribe(`${prefix}.b`, (m) => {
    m.respond(m.data);
  });
  exporter.reset();
  await inSpan('client', SpanKind.INTERNAL, {}, () =>
    bus.request(`${prefix}.a`, new Uint8Array([1]), { timeoutMs: 5000 }),
  );
  await subA.unsubscribe();
  await subB.unsubscribe();
  const spans = exporter.getFinishedSpans();
  const by = (name: string) => spans.find((s) => s.name === name)!;
  const root = by('client');
  const sendA = by(`send ${prefix}.a`);
  const procA = by(`process ${prefix}.a`);
  const sendB = by(`send ${prefix}.b`);
  const procB = by(`process ${prefix}.b`);
  for (const s of [sendA, procA, sendB, procB])
    expect(s.spanContext().traceId).toBe(root.spanContext().traceId);
  const parent = (s: typeof root) => s.parentSpanContext?.spanId;
  expect(parent(sendA)).toBe(root.spanContext().spanId);
  expect(parent(procA)).toBe(sendA.spanContext().spanId);
  expect(parent(sendB)).toBe(procA.spanContext().spanId);
  expect(parent(procB)).toBe(sendB.spanContext().spanId);
  expect(procA.attributes['messaging.system']).toBe('nats');
}

describe('trace context across the bus', () => {
  afterAll(() => telemetry.shutdown());

  it('one trace, each hop the child of the one before, on the in-process bus', async () => {
    const bus = new MemoryBus();
    await chain(bus, 'tel');
    await bus.close();
  });

  describe('on a real NATS', () => {
    let nats: Awaited<ReturnType<typeof testNats>>;
    beforeAll(async () => {
      nats = await testNats();
    });
    afterAll(() => nats.close());
    it('carries traceparent in the NATS headers', async () => {
      await chain(nats.bus, `${nats.prefix}.tel`);
    });
  });

  it('writes W3C traceparent headers for the active span, and none without one', () => {
    expect(messageHeaders(context.active())).toEqual({});
    inSpan('x', SpanKind.INTERNAL, {}, (span) => {
      const h = messageHeaders();
      expect(h.traceparent).toBe(
        `00-${span.spanContext().traceId}-${span.spanContext().spanId}-01`,
      );
      expect(trace.getActiveSpan()).toBe(span);
    });
  });

  it('is off unless an OTLP endpoint is configured, and OTEL_SDK_DISABLED wins', () => {
    expect(telemetryEnabled({})).toBe(false);
    expect(telemetryEnabled({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318' })).toBe(true);
    expect(
      telemetryEnabled({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://x', OTEL_SDK_DISABLED: 'true' }),
    ).toBe(false);
  });
});
