/**
 * Trace context for Diagon's messages. W3C trace context (`traceparent`, `tracestate`)
 * travels in NATS headers; `messageHeaders()` gives the active context's headers to send,
 * `inSpan` runs work in a span whose parent is the context a message carried. Without an
 * SDK (telemetry off, the default) spans are no-ops and cost next to nothing, but the
 * headers a request arrived with are still passed on.
 */
import {
  type Attributes,
  type Context,
  context,
  type Link,
  propagation,
  type Span,
  SpanKind,
  SpanStatusCode,
  trace,
} from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';

export { SpanKind };

// Always W3C: the SDK registers the same one when telemetry is on.
propagation.setGlobalPropagator(new W3CTraceContextPropagator());

const tracer = () => trace.getTracer('diagon');

/** The active trace context, to carry work on later under the same parent. */
export function activeContext(): Context {
  return context.active();
}

/** `traceparent` (and `tracestate`) of `ctx`, to send with a message; empty when none. */
export function messageHeaders(ctx: Context = context.active()): Record<string, string> {
  const carrier: Record<string, string> = {};
  propagation.inject(ctx, carrier);
  return carrier;
}

/** The context that a message's headers carry (the active one when they carry none). */
export function contextOf(headers: Record<string, string> | undefined): Context {
  return headers === undefined ? context.active() : propagation.extract(context.active(), headers);
}

/**
 * Runs `f` in a new span (a child of `parent`, default the active context); the span ends
 * when `f` settles, with an error status and the exception recorded when it throws.
 */
export function inSpan<T>(
  name: string,
  kind: SpanKind,
  attributes: Attributes,
  f: (span: Span) => T,
  parent: Context = context.active(),
): T {
  return tracer().startActiveSpan(name, { kind, attributes }, parent, (span) => {
    const fail = (e: unknown) => {
      span.recordException(e instanceof Error ? e : String(e));
      span.setStatus({ code: SpanStatusCode.ERROR, message: (e as Error)?.message ?? String(e) });
      span.end();
    };
    try {
      const r = f(span);
      if (r instanceof Promise)
        return r.then(
          (v) => {
            span.end();
            return v;
          },
          (e: unknown) => {
            fail(e);
            throw e;
          },
        ) as T;
      span.end();
      return r;
    } catch (e) {
      fail(e);
      throw e;
    }
  });
}

/** Whether `ctx` holds a span being recorded (telemetry on and sampled). */
export function isRecorded(ctx: Context): boolean {
  return trace.getSpan(ctx)?.isRecording() === true;
}

/**
 * Records a span that already happened (`start`/`end` from `performance.now()`), under
 * `parent`: for work done for several requests at once and then told apart. Nothing is
 * recorded unless `parent`'s span is.
 */
export function recordSpan(
  name: string,
  kind: SpanKind,
  attributes: Attributes,
  start: number,
  end: number,
  parent: Context,
): void {
  if (!isRecorded(parent)) return;
  tracer().startSpan(name, { kind, attributes, startTime: start }, parent).end(end);
}

/**
 * Runs `f` in a new root span linked to the spans of `links` (contexts): work that serves
 * many traces at once, such as an index merge of many transactions.
 */
export function inLinkedSpan<T>(
  name: string,
  attributes: Attributes,
  links: readonly Context[],
  f: () => Promise<T>,
): Promise<T> {
  const ls: Link[] = [];
  for (const c of links) {
    const sc = trace.getSpanContext(c);
    if (sc !== undefined && trace.isSpanContextValid(sc) && (sc.traceFlags & 1) === 1)
      ls.push({ context: sc });
  }
  return tracer().startActiveSpan(
    name,
    { kind: SpanKind.INTERNAL, attributes, links: ls, root: true },
    async (span) => {
      try {
        return await f();
      } catch (e) {
        span.recordException(e instanceof Error ? e : String(e));
        span.setStatus({ code: SpanStatusCode.ERROR, message: (e as Error)?.message ?? String(e) });
        throw e;
      } finally {
        span.end();
      }
    },
  );
}

/** The active span's trace and span ids, for log lines (undefined without a span). */
export function traceIds(): { trace_id: string; span_id: string } | undefined {
  const s = trace.getActiveSpan()?.spanContext();
  return s === undefined || !trace.isSpanContextValid(s)
    ? undefined
    : { trace_id: s.traceId, span_id: s.spanId };
}
