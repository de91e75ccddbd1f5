import { Deployment } from 'kubernetes-models/apps/v1';
import { describe, expect, it } from 'vitest';
import { KeyPair } from '../libs/identity/index.js';
import {
  type Condition,
  durationMs,
  mergeConditions,
  microTime,
  type PoolResource,
  policyOf,
  readSpec,
  telemetryEnv,
  transactorDeployment,
} from './pool.js';

const did = KeyPair.generate().did;
const pool = (spec: unknown): PoolResource => ({
  metadata: { name: 'p1', namespace: 'ns', uid: 'u-1', generation: 3 },
  spec,
});

describe('the Pool spec', () => {
  it('reads the defaults the CRD states, and maps governance onto the pool policy', () => {
    const r = readSpec(pool({ members: [{ did }] }));
    if (!r.ok) throw new Error(r.why);
    expect(r.spec.deletionPolicy).toBe('Retain');
    expect(r.spec.members[0]!.role).toBe('member');
    expect(policyOf(r.spec)).toEqual({ proposerVotes: true, ttlMs: 86_400_000 });
    const g = readSpec(
      pool({
        members: [{ did }],
        governance: {
          threshold: { num: 3, den: 4 },
          selfVote: 'forbidden',
          proposalTTL: '1h30m',
          minimumTrust: 0.4,
        },
      }),
    );
    if (!g.ok) throw new Error(g.why);
    expect(policyOf(g.spec)).toEqual({
      threshold: { num: 3, den: 4 },
      proposerVotes: false,
      ttlMs: 5_400_000,
      minTrust: 0.4,
    });
  });

  it('says which field is wrong', () => {
    const r = readSpec(pool({ members: [{ did: 'did:key:nope' }], deletionPolicy: 'Sometimes' }));
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.why).toMatch(/spec\.members\.0\.did/);
      expect(r.why).toMatch(/spec\.deletionPolicy/);
    }
    expect(readSpec(pool({ members: [] })).ok).toBe(false);
  });

  it('reads durations', () => {
    expect(durationMs('250ms')).toBe(250);
    expect(durationMs('1h2m3s')).toBe(3_723_000);
  });
});

describe('the transactor Deployment', () => {
  it('is a valid apps/v1 Deployment owned by the Pool, one replica, locked down', () => {
    const r = readSpec(pool({ members: [{ did }], transactor: { batchMax: 64 } }));
    if (!r.ok) throw new Error(r.why);
    const d = transactorDeployment(pool({}), r.spec, {
      image: 'diagon:test',
      env: [{ name: 'NATS_URL', value: 'nats://n:4222' }],
    });
    expect(() => new Deployment(d as never).validate()).not.toThrow();
    expect(d.metadata.ownerReferences[0]).toMatchObject({
      kind: 'Pool',
      uid: 'u-1',
      controller: true,
    });
    expect(d.spec.replicas).toBe(1);
    const c = d.spec.template.spec.containers[0]!;
    expect(c.env).toContainEqual({ name: 'TRANSACTOR_POOL', value: 'p1' });
    expect(c.env).toContainEqual({ name: 'TX_BATCH_MAX', value: '64' });
    expect(c.ports).toEqual([{ name: 'ops', containerPort: 7425, protocol: 'TCP' }]);
    expect(c.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'ops' });
    expect(c.securityContext).toMatchObject({
      readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'] },
    });
  });
});

describe('telemetry for transactors', () => {
  it("passes the operator's OTEL settings on, but not its own name or resource", () => {
    expect(
      telemetryEnv({
        OTEL_SERVICE_NAME: 'diagon-operator',
        OTEL_RESOURCE_ATTRIBUTES: 'k8s.pod.name=operator-0',
        OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
        OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318',
        NATS_URL: 'nats://n:4222',
        OTEL_SDK_DISABLED: undefined,
      }),
    ).toEqual([
      { name: 'OTEL_EXPORTER_OTLP_ENDPOINT', value: 'http://collector:4318' },
      { name: 'OTEL_EXPORTER_OTLP_PROTOCOL', value: 'http/json' },
    ]);
  });
});

describe('conditions and times', () => {
  const c = (status: Condition['status'], t: string): Condition => ({
    type: 'Ready',
    status,
    reason: 'r',
    message: 'm',
    lastTransitionTime: t,
  });
  it('keep lastTransitionTime while the status stays, and move it when it changes', () => {
    expect(mergeConditions([c('True', 'old')], [c('True', 'new')])[0]!.lastTransitionTime).toBe(
      'old',
    );
    expect(mergeConditions([c('True', 'old')], [c('False', 'new')])[0]!.lastTransitionTime).toBe(
      'new',
    );
    expect(mergeConditions(undefined, [c('True', 'new')])[0]!.lastTransitionTime).toBe('new');
  });
  it('write MicroTime with six fractional digits', () => {
    expect(microTime(new Date('2026-11-24T08:00:00.123Z'))).toBe('2026-11-24T08:00:00.123000Z');
  });
});
