/**
 * One Pool's reconciliation: a function of what is observed (the resource, Postgres, the
 * transactor Deployment) to actions, safe to run any number of times (CloudNativePG's
 * shape). Deletion first (the finalizer and the deletion policy); then the finalizer; an
 * invalid spec or `paused` stop there and say so in the status; otherwise members and
 * policy into Postgres, the JetStream streams, the transactor Deployment (server-side
 * applied, so a deleted or edited one is put back), and the status with its conditions.
 */
import { type Bus, ensureStream, GOVERNANCE_STREAM, TX_STREAM } from '../libs/bus/index.js';
import { parseDid } from '../libs/identity/index.js';
import {
  deletePool,
  getRoot,
  lastCommitInstant,
  replaceMembers,
  type Sql,
  upsertPool,
} from '../libs/storage/index.js';
import type { Kube } from './kube.js';
import {
  type Condition,
  FINALIZER,
  mergeConditions,
  type PoolResource,
  type PoolSpec,
  type PoolStatus,
  policyOf,
  readSpec,
  type TransactorImage,
  transactorDeployment,
  transactorName,
} from './pool.js';

export interface ReconcileDeps {
  kube: Kube;
  sql: Sql;
  bus: Bus;
  transactor: TransactorImage;
  log?: (msg: string) => void;
}

/** What the caller should do next: nothing, or look again after `requeueAfterMs`. */
export interface ReconcileResult {
  requeueAfterMs?: number;
}

/** How often a Ready pool is looked at again anyway (its basis t moves without events). */
const RESYNC_MS = 30_000;

function condition(
  type: Condition['type'],
  ok: boolean | 'unknown',
  reason: string,
  message: string,
  generation: number | undefined,
): Condition {
  return {
    type,
    status: ok === 'unknown' ? 'Unknown' : ok ? 'True' : 'False',
    reason,
    message,
    lastTransitionTime: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'),
    ...(generation === undefined ? {} : { observedGeneration: generation }),
  };
}

async function writeStatus(d: ReconcileDeps, p: PoolResource, s: PoolStatus): Promise<void> {
  const conditions = mergeConditions(p.status?.conditions, s.conditions ?? []);
  await d.kube.applyStatus(p, {
    ...s,
    conditions,
    ...(p.metadata.generation === undefined ? {} : { observedGeneration: p.metadata.generation }),
  });
}

export async function reconcilePool(d: ReconcileDeps, p: PoolResource): Promise<ReconcileResult> {
  const name = p.metadata.name;
  const gen = p.metadata.generation;
  const finalizers = p.metadata.finalizers ?? [];

  if (p.metadata.deletionTimestamp !== undefined) {
    if (!finalizers.includes(FINALIZER)) return {};
    const spec = readSpec(p);
    const policy = spec.ok ? spec.spec.deletionPolicy : 'Retain';
    if (policy === 'Delete') {
      await deletePool(d.sql, name);
      await d.kube.event(p, 'Normal', 'Deleted', `deleted pool ${name} and its data from Postgres`);
    } else
      await d.kube.event(
        p,
        'Normal',
        'Retained',
        `kept pool ${name}'s data in Postgres (deletionPolicy Retain)`,
      );
    await d.kube.setFinalizers(
      p,
      finalizers.filter((f) => f !== FINALIZER),
    );
    return {};
  }

  if (!finalizers.includes(FINALIZER)) {
    // The update brings the object back through the watch: carry on from there.
    await d.kube.setFinalizers(p, [...finalizers, FINALIZER]);
    return {};
  }

  const read = readSpec(p);
  if (!read.ok) {
    await d.kube.event(p, 'Warning', 'InvalidSpec', read.why);
    await writeStatus(d, p, {
      phase: 'Degraded',
      conditions: [condition('Ready', false, 'InvalidSpec', read.why, gen)],
    });
    return {};
  }
  const spec = read.spec;
  if (spec.paused) {
    await writeStatus(d, p, {
      phase: 'Paused',
      conditions: [
        condition(
          'Ready',
          false,
          'Paused',
          'spec.paused is true: the operator changes nothing',
          gen,
        ),
      ],
    });
    return {};
  }

  const conditions: Condition[] = [];
  try {
    await syncStorage(d, p, spec);
    conditions.push(
      condition('StorageReady', true, 'Synced', 'members and policy are in Postgres', gen),
    );
  } catch (e) {
    const why = `Postgres: ${(e as Error).message}`;
    await writeStatus(d, p, {
      phase: 'Degraded',
      conditions: [
        condition('StorageReady', false, 'SyncFailed', why, gen),
        condition('Ready', false, 'StorageNotReady', why, gen),
      ],
    });
    throw e;
  }

  try {
    await ensureStream(d.bus, TX_STREAM);
    await ensureStream(d.bus, GOVERNANCE_STREAM);
    conditions.push(
      condition('StreamsReady', true, 'Declared', 'the JetStream streams exist', gen),
    );
  } catch (e) {
    const why = `NATS: ${(e as Error).message}`;
    await writeStatus(d, p, {
      phase: 'Degraded',
      conditions: [
        ...conditions,
        condition('StreamsReady', false, 'DeclareFailed', why, gen),
        condition('Ready', false, 'StreamsNotReady', why, gen),
      ],
    });
    throw e;
  }

  const before = await d.kube.getDeployment(p.metadata.namespace, transactorName(name));
  const applied = await d.kube.applyDeployment(transactorDeployment(p, spec, d.transactor));
  if (before === undefined)
    await d.kube.event(
      p,
      'Normal',
      'TransactorCreated',
      `created Deployment ${transactorName(name)}`,
    );
  const available = (applied.status?.availableReplicas ?? 0) >= 1;
  conditions.push(
    condition(
      'TransactorReady',
      available,
      available ? 'Available' : 'Unavailable',
      available
        ? `Deployment ${transactorName(name)} has an available replica`
        : `waiting for Deployment ${transactorName(name)} to have an available replica`,
      gen,
    ),
  );

  const ready = conditions.every((c) => c.status === 'True');
  conditions.push(
    condition(
      'Ready',
      ready,
      ready ? 'Ready' : 'TransactorNotReady',
      ready ? `pool ${name} accepts governed transactions` : 'the transactor is not available yet',
      gen,
    ),
  );
  const root = await getRoot(d.sql, name);
  const last = await lastCommitInstant(d.sql, name);
  await writeStatus(d, p, {
    phase: ready ? 'Ready' : 'Pending',
    basisT: root?.basisT ?? 0,
    ...(root?.headHash ? { headHash: Buffer.from(root.headHash).toString('hex') } : {}),
    memberCount: spec.members.length,
    ...(last === undefined ? {} : { lastCommitTime: last.toISOString().replace(/\.\d{3}Z$/, 'Z') }),
    conditions,
  });
  return { requeueAfterMs: ready ? RESYNC_MS : 5000 };
}

async function syncStorage(d: ReconcileDeps, p: PoolResource, spec: PoolSpec): Promise<void> {
  const name = p.metadata.name;
  await upsertPool(d.sql, name, policyOf(spec));
  const { added, removed } = await replaceMembers(
    d.sql,
    name,
    spec.members.map((m) => ({ did: m.did, publicKey: parseDid(m.did), role: m.role })),
  );
  if (added.length + removed.length > 0)
    await d.kube.event(
      p,
      'Normal',
      'MembersChanged',
      `members added: ${added.length}, removed: ${removed.length}`,
    );
}
