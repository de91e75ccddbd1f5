import { context, trace } from '@opentelemetry/api';
import { JsonTraceSerializer, ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import { InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testNats } from '../../test/support/nats.js';
import { countSpans, decodeSpans } from '../../test/support/otlp.js';
import type { Bus } from '../bus/bus.js';
import { MemoryBus } from '../bus/memory-bus.js';
import {
  inLinkedSpan,
  inSpan,
  messageHeaders,
  recordSpan,
  SpanKind,
  startTelemetry,
  telemetryEnabled,
} from './index.js';
import { otlpProtocol } from './setup.js';

const exporter = new InMemorySpanExporter();
process.env.OTEL_RESOURCE_ATTRIBUTES = 'deployment.environment.name=test,team=diagon%20core';
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

  it('speaks OTLP in protobuf unless told json, per signal, and refuses other protocols', () => {
    expect(otlpProtocol({}, 'TRACES')).toBe('http/protobuf');
    const env = {
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
      OTEL_EXPORTER_OTLP_METRICS_PROTOCOL: 'http/protobuf',
    };
    expect(otlpProtocol(env, 'TRACES')).toBe('http/json');
    expect(otlpProtocol(env, 'METRICS')).toBe('http/protobuf');
    const grpc = { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://x', OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' };
    expect(() => otlpProtocol(grpc, 'TRACES')).toThrow(/http\/protobuf or http\/json/);
    expect(() => startTelemetry('bad', { env: grpc })).toThrow(
      expect.objectContaining({ code: 'telemetry/bad-protocol' }),
    );
  });

  it('records a span that already happened under a recorded parent, and links a root span', async () => {
    exporter.reset();
    const start = performance.now() - 10; // times from performance.now(), in the past
    let fold = context.active();
    await inSpan('parent', SpanKind.SERVER, {}, async () => {
      recordSpan('phase', SpanKind.INTERNAL, { n: 1 }, start, start + 5, context.active());
      fold = context.active();
    });
    recordSpan('orphan', SpanKind.INTERNAL, {}, start, start + 1, context.active()); // no parent
    await inLinkedSpan('merge', { pool: 'p' }, [fold, context.active()], async () => {});
    const spans = exporter.getFinishedSpans();
    const parent = spans.find((s) => s.name === 'parent')!;
    const phase = spans.find((s) => s.name === 'phase')!;
    expect(phase.parentSpanContext?.spanId).toBe(parent.spanContext().spanId);
    expect(phase.duration[0] * 1e3 + phase.duration[1] / 1e6).toBeCloseTo(5, 3);
    expect(spans.some((s) => s.name === 'orphan')).toBe(false);
    // The resource: our service name, OTEL_RESOURCE_ATTRIBUTES, the process and the host.
    expect(parent.resource.asyncAttributesPending).toBeFalsy(); // spans leave when they end
    expect(parent.resource.attributes).toMatchObject({
      'service.name': 'diagon-test',
      'deployment.environment.name': 'test',
      team: 'diagon core',
      'process.pid': process.pid,
    });
    expect(parent.resource.attributes['host.name']).toBeTruthy();
    const merge = spans.find((s) => s.name === 'merge')!;
    expect(merge.parentSpanContext).toBeUndefined();
    expect(merge.links.map((l) => l.context.spanId)).toEqual([parent.spanContext().spanId]);
  });

  it('decodes the same spans from OTLP protobuf and OTLP JSON (the test receivers)', async () => {
    exporter.reset();
    let fold = context.active();
    await inSpan('a', SpanKind.CLIENT, {}, () =>
      inSpan('b', SpanKind.SERVER, {}, async () => {
        fold = context.active();
      }),
    );
    await inLinkedSpan('c', {}, [fold], async () => {});
    const spans = exporter.getFinishedSpans();
    const proto = decodeSpans(
      ProtobufTraceSerializer.serializeRequest(spans)!,
      'application/x-protobuf',
    );
    const json = decodeSpans(JsonTraceSerializer.serializeRequest(spans)!, 'application/json');
    expect(proto).toEqual(json);
    expect(countSpans(ProtobufTraceSerializer.serializeRequest(spans)!, undefined)).toBe(3);
    expect(countSpans(JsonTraceSerializer.serializeRequest(spans)!, 'application/json')).toBe(3);
    expect(proto.map((s) => [s.service, s.name, s.spanId, s.parentSpanId, s.links])).toEqual(
      spans.map((s) => [
        'diagon-test',
        s.name,
        s.spanContext().spanId,
        s.parentSpanContext?.spanId ?? '',
        s.links.map((l) => l.context.spanId),
      ]),
    );
  });
});
