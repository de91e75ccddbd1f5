/**
 * Reads the OTLP/HTTP requests the services send, in either encoding the SDK speaks:
 * `application/x-protobuf` (the default) or `application/json`. Only what tests and
 * benchmarks look at: spans (ids, parent, name, links) and metric names, by service.
 */

export interface OtlpSpan {
  service: string;
  traceId: string;
  spanId: string;
  parentSpanId: string;
  name: string;
  /** Span ids of the spans this one links to. */
  links: string[];
}

type Fields = Map<number, (Uint8Array | bigint)[]>;

/** One protobuf message as its fields (varints as bigint, the rest as bytes). */
function fields(buf: Uint8Array): Fields {
  const out: Fields = new Map();
  let i = 0;
  const varint = (): bigint => {
    let v = 0n;
    for (let shift = 0n; ; shift += 7n) {
      if (i >= buf.length) throw new Error('truncated protobuf varint');
      const b = buf[i++]!;
      v |= BigInt(b & 0x7f) << shift;
      if ((b & 0x80) === 0) return v;
    }
  };
  const take = (n: number) => {
    if (i + n > buf.length) throw new Error('truncated protobuf field');
    const b = buf.subarray(i, i + n);
    i += n;
    return b;
  };
  while (i < buf.length) {
    const tag = Number(varint());
    const [no, wire] = [tag >>> 3, tag & 7];
    if (wire !== 0 && wire !== 1 && wire !== 2 && wire !== 5)
      throw new Error(`protobuf wire type ${wire} is not expected in OTLP`);
    const value =
      wire === 0 ? varint() : wire === 1 ? take(8) : wire === 2 ? take(Number(varint())) : take(4);
    const seen = out.get(no);
    if (seen === undefined) out.set(no, [value]);
    else seen.push(value);
  }
  return out;
}

const messages = (f: Fields, no: number) => (f.get(no) ?? []).map((v) => fields(v as Uint8Array));
const bytes = (f: Fields, no: number) => (f.get(no)?.[0] as Uint8Array | undefined) ?? undefined;
const text = (f: Fields, no: number) => new TextDecoder().decode(bytes(f, no) ?? new Uint8Array());
const hex = (f: Fields, no: number) =>
  Buffer.from(bytes(f, no) ?? new Uint8Array()).toString('hex');

/** `service.name` of a Resource message (KeyValue 1: key, 2: AnyValue with 1: string). */
function serviceOf(resource: Fields | undefined): string {
  for (const kv of resource === undefined ? [] : messages(resource, 1))
    if (text(kv, 1) === 'service.name') return text(messages(kv, 2)[0] ?? new Map(), 1);
  return '?';
}

interface JsonResource {
  resource: { attributes: { key: string; value: { stringValue?: string } }[] };
}
const jsonService = (r: JsonResource) =>
  r.resource.attributes.find((a) => a.key === 'service.name')?.value.stringValue ?? '?';

const isJson = (contentType: string | undefined) => (contentType ?? '').includes('json');

/** The spans of an ExportTraceServiceRequest. */
export function decodeSpans(body: Uint8Array, contentType: string | undefined): OtlpSpan[] {
  const spans: OtlpSpan[] = [];
  if (isJson(contentType)) {
    const req = JSON.parse(new TextDecoder().decode(body)) as {
      resourceSpans: (JsonResource & {
        scopeSpans: {
          spans: {
            traceId: string;
            spanId: string;
            parentSpanId?: string;
            name: string;
            links?: { spanId: string }[];
          }[];
        }[];
      })[];
    };
    for (const rs of req.resourceSpans)
      for (const ss of rs.scopeSpans)
        for (const s of ss.spans)
          spans.push({
            service: jsonService(rs),
            traceId: s.traceId,
            spanId: s.spanId,
            parentSpanId: s.parentSpanId ?? '',
            name: s.name,
            links: (s.links ?? []).map((l) => l.spanId),
          });
    return spans;
  }
  // ResourceSpans 1: resource, 2: ScopeSpans (2: Span: 1 trace id, 2 span id, 4 parent, 5 name, 13 links).
  for (const rs of messages(fields(body), 1)) {
    const service = serviceOf(messages(rs, 1)[0]);
    for (const ss of messages(rs, 2))
      for (const s of messages(ss, 2))
        spans.push({
          service,
          traceId: hex(s, 1),
          spanId: hex(s, 2),
          parentSpanId: hex(s, 4),
          name: text(s, 5),
          links: messages(s, 13).map((l) => hex(l, 2)),
        });
  }
  return spans;
}

/**
 * How many spans an ExportTraceServiceRequest holds, without decoding them (benchmarks
 * count what arrives without spending the machine's time on it).
 */
export function countSpans(body: Uint8Array, contentType: string | undefined): number {
  if (isJson(contentType)) return decodeSpans(body, contentType).length;
  let n = 0;
  for (const rs of messages(fields(body), 1))
    for (const ss of messages(rs, 2)) n += ss.get(2)?.length ?? 0;
  return n;
}

/** Metric names of an ExportMetricsServiceRequest, by service. */
export function decodeMetricNames(
  body: Uint8Array,
  contentType: string | undefined,
): Map<string, string[]> {
  const out = new Map<string, string[]>();
  const add = (service: string, name: string) => {
    const names = out.get(service);
    if (names === undefined) out.set(service, [name]);
    else names.push(name);
  };
  if (isJson(contentType)) {
    const req = JSON.parse(new TextDecoder().decode(body)) as {
      resourceMetrics: (JsonResource & { scopeMetrics: { metrics: { name: string }[] }[] })[];
    };
    for (const rm of req.resourceMetrics)
      for (const sm of rm.scopeMetrics) for (const m of sm.metrics) add(jsonService(rm), m.name);
    return out;
  }
  // ResourceMetrics 1: resource, 2: ScopeMetrics (2: Metric, 1: name).
  for (const rm of messages(fields(body), 1)) {
    const service = serviceOf(messages(rm, 1)[0]);
    for (const sm of messages(rm, 2)) for (const m of messages(sm, 2)) add(service, text(m, 1));
  }
  return out;
}

/** An empty Export…ServiceResponse (success) in the request's encoding. */
export function otlpSuccess(contentType: string | undefined): [string, string] {
  return isJson(contentType) ? ['application/json', '{}'] : ['application/x-protobuf', ''];
}
