/**
 * One governed transaction is one trace across the cluster's processes: the client's span,
 * the edge relaying the proposal and each vote, consensus deciding, the transactor
 * expanding, applying, appending to the log and publishing, the indexer folding — spans
 * from at least four services, each parented by the one that caused it — and the index
 * merge that took the transaction in, a span of its own linked to the fold. The services
 * export OTLP/HTTP (spans in protobuf, the default; metrics in JSON) to a receiver in this
 * test; real NATS and Postgres.
 */

import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inSpan, SpanKind, startTelemetry } from '../../libs/telemetry/index.js';
import { memberSessions, type TestCluster, testCluster } from '../support/cluster.js';
import { freePort } from '../support/net.js';
import { decodeMetricNames, decodeSpans, type OtlpSpan, otlpSuccess } from '../support/otlp.js';

describe('telemetry across the cluster', () => {
  let tc: TestCluster;
  let receiver: Server;
  const received: OtlpSpan[] = [];
  /** Metric names pushed over OTLP, by service. */
  const pushed = new Map<string, Set<string>>();
  const local = new InMemorySpanExporter();
  const telemetry = startTelemetry('e2e-client', { processor: new SimpleSpanProcessor(local) });

  beforeAll(async () => {
    const otlpPort = await freePort();
    receiver = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks);
        const type = req.headers['content-type'];
        if (req.url === '/v1/metrics')
          for (const [service, names] of decodeMetricNames(body, type)) {
            const seen = pushed.get(service) ?? new Set();
            for (const n of names) seen.add(n);
            pushed.set(service, seen);
          }
        if (req.url === '/v1/traces') received.push(...decodeSpans(body, type));
        const [replyType, reply] = otlpSuccess(type);
        res.writeHead(200, { 'content-type': replyType }).end(reply);
      });
    }).listen(otlpPort, '127.0.0.1');
    tc = await testCluster('e2e_trace', {
      OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${otlpPort}`,
      OTEL_BSP_SCHEDULE_DELAY: '200',
      OTEL_METRIC_EXPORT_INTERVAL: '500',
      // Spans in the default encoding (protobuf), metrics in the other one.
      OTEL_EXPORTER_OTLP_METRICS_PROTOCOL: 'http/json',
      INDEX_MERGE_MS: '300',
    });
  }, 120_000);
  afterAll(async () => {
    await tc?.stop();
    await telemetry.shutdown();
    receiver?.close();
  });

  it('makes one governed transaction one trace, with spans from four services, each parented', async () => {
    // A fresh name: the tx stream on the shared test NATS deduplicates by pool and t.
    const pool = `traced-${randomBytes(3).toString('hex')}`;
    const { sessions } = await memberSessions(tc.cluster, pool);
    const [a, b, c] = sessions;
    const traceId = await inSpan('governed transaction', SpanKind.CLIENT, {}, async (span) => {
      const p = await a!.propose('[{:db/ident :n :db/valueType :db.type/long}]');
      await b!.vote(p.id, true, 'traced');
      const last = await c!.vote(p.id, true, 'traced');
      expect(last.status).toBe('committed');
      return span.spanContext().traceId;
    });
    const root = local.getFinishedSpans().find((s) => s.name === 'governed transaction')!;
    const inTrace = () => received.filter((s) => s.traceId === traceId);
    const services = () => new Set(inTrace().map((s) => s.service));
    for (let i = 0; i < 150 && !services().has('diagon-indexer'); i++)
      await new Promise((r) => setTimeout(r, 100));
    expect([...services()].sort()).toEqual(
      expect.arrayContaining([
        'diagon-auth',
        'diagon-consensus',
        'diagon-indexer',
        'diagon-transactor',
      ]),
    );
    // Every span's parent is the client's root or another span of the trace.
    const ids = new Set([root.spanContext().spanId, ...inTrace().map((s) => s.spanId)]);
    for (const s of inTrace()) expect(ids, `${s.service} ${s.name}`).toContain(s.parentSpanId);
    // The chain: the edge relays under the client; consensus under the edge's request; the
    // transactor under consensus's submit; the indexer under the transactor's commit.
    const span = (service: string, name: RegExp) =>
      inTrace().find((s) => s.service === service && name.test(s.name));
    const relay = span('diagon-auth', /^relay propose/)!;
    expect(relay.parentSpanId).toBe(root.spanContext().spanId);
    const submit = span(
      'diagon-transactor',
      new RegExp(`^process diagon\\.pool\\.${pool}\\.tx\\.submit`),
    )!;
    const consensusSend = inTrace().find((s) => s.spanId === submit.parentSpanId)!;
    expect(consensusSend.service).toBe('diagon-consensus');
    const fold = span(
      'diagon-indexer',
      new RegExp(`^process diagon\\.pool\\.${pool}\\.tx\\.committed`),
    )!;
    // The transactor's phases, each a child of its submission's span.
    const publish = inTrace().find((s) => s.spanId === fold.parentSpanId)!;
    expect(publish).toMatchObject({
      service: 'diagon-transactor',
      name: `send diagon.pool.${pool}.tx.committed`,
    });
    for (const name of [`expand ${pool}`, `apply ${pool}`, 'INSERT tx_log', publish.name])
      expect(span('diagon-transactor', new RegExp(`^${name}$`))?.parentSpanId, name).toBe(
        submit.spanId,
      );
    // The merge that took it in: its own trace, linked to the fold.
    const merge = async () => {
      for (let i = 0; i < 100; i++) {
        const m = received.find((s) => s.name === `merge ${pool}` && s.links.includes(fold.spanId));
        if (m !== undefined) return m;
        await new Promise((r) => setTimeout(r, 100));
      }
      return undefined;
    };
    const m = await merge();
    expect(m).toMatchObject({ service: 'diagon-indexer', parentSpanId: '' });
    expect(m!.traceId).not.toBe(traceId);
  }, 90_000);

  it('pushes the metrics of every service over OTLP too (the same names as /metrics)', async () => {
    const want: [string, string][] = [
      ['diagon-auth', 'diagon_auth_handshakes_total'],
      ['diagon-consensus', 'diagon_consensus_votes_total'],
      ['diagon-transactor', 'diagon_tx_committed_total'],
      ['diagon-transactor', 'diagon_tx_duration_seconds'],
      ['diagon-indexer', 'diagon_index_basis_t'],
    ];
    const missing = () => want.filter(([svc, name]) => !pushed.get(svc)?.has(name));
    for (let i = 0; i < 100 && missing().length > 0; i++)
      await new Promise((r) => setTimeout(r, 100));
    expect(missing()).toEqual([]);
  }, 30_000);
});
