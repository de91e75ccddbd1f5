/**
 * The Pool custom resource (diagon.dev/v1alpha1; its schema is
 * charts/diagon/files/crd-pools.yaml): the spec read with the same rules the CRD states (an
 * API server without the CRD's defaults, or an old object, still reads right), what it
 * asks of Postgres, the transactor Deployment it owns, and its status conditions.
 */
import { z } from 'zod';
import { parseDid } from '../libs/identity/index.js';

export const GROUP = 'diagon.dev';
export const VERSION = 'v1alpha1';
export const PLURAL = 'pools';
export const KIND = 'Pool';
export const FINALIZER = 'diagon.dev/finalizer';
export const FIELD_MANAGER = 'diagon-operator';

const duration = z
  .string()
  .regex(/^([0-9]+(ms|s|m|h))+$/, 'a duration such as 90s, 10m or 24h')
  .transform(durationMs);

export const poolSpecSchema = z.object({
  members: z
    .array(
      z.object({
        did: z.string().refine((d) => {
          try {
            parseDid(d);
            return true;
          } catch {
            return false;
          }
        }, 'not an ed25519 did:key'),
        role: z.enum(['member', 'observer']).default('member'),
      }),
    )
    .min(1, 'a pool needs at least one member'),
  governance: z
    .object({
      threshold: z.object({ num: z.int().min(1), den: z.int().min(1) }).optional(),
      selfVote: z.enum(['counts', 'forbidden']).default('counts'),
      proposalTTL: duration.default(durationMs('24h')),
      minimumTrust: z.number().min(0).max(1).optional(),
    })
    .default({ selfVote: 'counts', proposalTTL: durationMs('24h') }),
  schema: z.string().optional(),
  transactor: z
    .object({
      resources: z.record(z.string(), z.unknown()).optional(),
      batchMax: z.int().min(1).max(100_000).default(256),
      batchDelayMs: z.int().min(0).max(10_000).default(0),
    })
    .default({ batchMax: 256, batchDelayMs: 0 }),
  retention: z
    .object({
      indexRootsKept: z.int().min(1).default(3),
      gcAge: duration.default(durationMs('10m')),
    })
    .default({ indexRootsKept: 3, gcAge: durationMs('10m') }),
  capture: z.boolean().default(false),
  deletionPolicy: z.enum(['Retain', 'Delete']).default('Retain'),
  paused: z.boolean().default(false),
});

export type PoolSpec = z.infer<typeof poolSpecSchema>;

export interface Condition {
  type: 'Ready' | 'StorageReady' | 'StreamsReady' | 'TransactorReady';
  status: 'True' | 'False' | 'Unknown';
  reason: string;
  message: string;
  lastTransitionTime: string;
  observedGeneration?: number;
}

export interface PoolStatus {
  phase?: 'Pending' | 'Ready' | 'Degraded' | 'Paused' | 'Deleting';
  basisT?: number;
  headHash?: string;
  memberCount?: number;
  lastCommitTime?: string;
  observedGeneration?: number;
  conditions?: Condition[];
}

export interface PoolResource {
  apiVersion?: string;
  kind?: string;
  metadata: {
    name: string;
    namespace: string;
    uid: string;
    generation?: number;
    resourceVersion?: string;
    deletionTimestamp?: Date;
    finalizers?: string[];
  };
  spec?: unknown;
  status?: PoolStatus;
}

/** `90s`, `10m`, `1h30m`, `250ms` in milliseconds. */
export function durationMs(text: string): number {
  const units: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
  let total = 0;
  for (const [, n, unit] of text.matchAll(/([0-9]+)(ms|s|m|h)/g))
    total += Number(n) * units[unit!]!;
  return total;
}

/** The spec, or why it cannot be read (for the Ready condition). */
export function readSpec(
  p: PoolResource,
): { ok: true; spec: PoolSpec } | { ok: false; why: string } {
  const r = poolSpecSchema.safeParse(p.spec ?? {});
  if (r.success) return { ok: true, spec: r.data };
  const why = r.error.issues
    .slice(0, 5)
    .map((i) => `spec.${i.path.join('.')}: ${i.message}`)
    .join('; ');
  return { ok: false, why };
}

/** The pool's policy as consensus and the transactor read it (`pools.policy`). */
export function policyOf(spec: PoolSpec): Record<string, unknown> {
  const g = spec.governance;
  return {
    ...(g.threshold === undefined ? {} : { threshold: g.threshold }),
    proposerVotes: g.selfVote === 'counts',
    ttlMs: g.proposalTTL,
    ...(g.minimumTrust === undefined ? {} : { minTrust: g.minimumTrust }),
  };
}

export const transactorName = (pool: string) => `diagon-transactor-${pool}`;

export interface TransactorImage {
  image: string;
  /** Environment shared by every transactor (Postgres and NATS). */
  env: { name: string; value?: string; valueFrom?: unknown }[];
}

/** /healthz, /readyz and /metrics of a transactor pod (port `ops`, scraped by the chart's PodMonitor). */
export const TRANSACTOR_OPS_PORT = 7425;

/** The transactor Deployment of a pool, owned by the Pool (server-side applied). */
export function transactorDeployment(p: PoolResource, spec: PoolSpec, t: TransactorImage) {
  const name = transactorName(p.metadata.name);
  const labels = {
    'app.kubernetes.io/name': 'diagon-transactor',
    'app.kubernetes.io/instance': p.metadata.name,
    'app.kubernetes.io/part-of': 'diagon',
    'app.kubernetes.io/managed-by': FIELD_MANAGER,
  };
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: {
      name,
      namespace: p.metadata.namespace,
      labels,
      ownerReferences: [
        {
          apiVersion: `${GROUP}/${VERSION}`,
          kind: KIND,
          name: p.metadata.name,
          uid: p.metadata.uid,
          controller: true,
          blockOwnerDeletion: true,
        },
      ],
    },
    spec: {
      // One writer per pool: a second one would only wait on the fence.
      replicas: 1,
      strategy: { type: 'Recreate' },
      selector: {
        matchLabels: {
          'app.kubernetes.io/name': 'diagon-transactor',
          'app.kubernetes.io/instance': p.metadata.name,
        },
      },
      template: {
        metadata: { labels },
        spec: {
          securityContext: {
            runAsNonRoot: true,
            runAsUser: 1000,
            seccompProfile: { type: 'RuntimeDefault' },
          },
          containers: [
            {
              name: 'transactor',
              image: t.image,
              args: ['dist/services/transactor/main.js'],
              env: [
                ...t.env,
                { name: 'TRANSACTOR_POOL', value: p.metadata.name },
                { name: 'TX_BATCH_MAX', value: String(spec.transactor.batchMax) },
                { name: 'TX_BATCH_DELAY_MS', value: String(spec.transactor.batchDelayMs) },
                { name: 'TRANSACTOR_HTTP_PORT', value: String(TRANSACTOR_OPS_PORT) },
              ],
              ports: [{ name: 'ops', containerPort: TRANSACTOR_OPS_PORT, protocol: 'TCP' }],
              // Live while the process answers; ready while it writes or stands by for the fence.
              livenessProbe: {
                httpGet: { path: '/healthz', port: 'ops' },
                periodSeconds: 10,
                timeoutSeconds: 3,
                failureThreshold: 3,
              },
              readinessProbe: {
                httpGet: { path: '/readyz', port: 'ops' },
                periodSeconds: 5,
                timeoutSeconds: 3,
                failureThreshold: 2,
              },
              ...(spec.transactor.resources === undefined
                ? {}
                : { resources: spec.transactor.resources }),
              securityContext: {
                readOnlyRootFilesystem: true,
                allowPrivilegeEscalation: false,
                capabilities: { drop: ['ALL'] },
              },
            },
          ],
        },
      },
    },
  };
}

/**
 * `next` with each condition's lastTransitionTime kept from `before` when its status did
 * not change (Kubernetes' convention: the time is of the last change, not the last look).
 */
export function mergeConditions(
  before: readonly Condition[] | undefined,
  next: Condition[],
): Condition[] {
  return next.map((c) => {
    const old = before?.find((b) => b.type === c.type);
    return old !== undefined && old.status === c.status
      ? { ...c, lastTransitionTime: old.lastTransitionTime }
      : c;
  });
}

/** Kubernetes MicroTime: RFC 3339 with exactly six fractional digits. */
export function microTime(d: Date): string {
  return d.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

/**
 * The operator's own OpenTelemetry settings, for its transactors: they export where it
 * does. Not its service name or resource attributes (those name the operator's pod).
 */
export function telemetryEnv(
  env: Record<string, string | undefined>,
): { name: string; value: string }[] {
  return Object.entries(env)
    .filter(
      (e): e is [string, string] =>
        e[0].startsWith('OTEL_') &&
        e[0] !== 'OTEL_SERVICE_NAME' &&
        e[0] !== 'OTEL_RESOURCE_ATTRIBUTES' &&
        e[1] !== undefined,
    )
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([name, value]) => ({ name, value }));
}
