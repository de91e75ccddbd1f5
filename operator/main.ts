/** The operator process (`--help` lists its variables). */
import { hostname } from 'node:os';
import { KubeConfig } from '@kubernetes/client-node';
import { z } from 'zod';
import { envInt, envVar } from '../libs/common/env.js';
import { defineService, runService, SERVICE_ENV } from '../libs/common/service.js';
import { serveOps } from '../libs/telemetry/ops.js';
import { Operator } from './operator.js';
import { telemetryEnv } from './pool.js';

export const OPERATOR_ENV = {
  OPERATOR_NAMESPACE: envVar(
    '',
    'namespace whose Pools are reconciled (unset: every namespace)',
    z.string(),
  ),
  OPERATOR_LEASE_NAMESPACE: envVar(
    'default',
    "namespace of the leader election's Lease",
    z.string().min(1),
  ),
  OPERATOR_LEASE_NAME: envVar('diagon-operator', "the leader election's Lease", z.string().min(1)),
  OPERATOR_IDENTITY: envVar('', 'this replica in the Lease (unset: the host name)', z.string()),
  OPERATOR_METRICS_PORT: envVar('8080', '/metrics, /healthz and /readyz', envInt(0, 65535)),
  DIAGON_IMAGE: envVar(
    'ghcr.io/diagon/diagon:0.1.0',
    'the image of the transactor Deployments',
    z.string().min(1),
  ),
  DIAGON_POSTGRES_SECRET: envVar(
    '',
    'Secret holding DATABASE_URL for the transactors (unset: DATABASE_URL is copied as a value)',
    z.string(),
  ),
  DIAGON_POSTGRES_SECRET_KEY: envVar('url', 'its key', z.string().min(1)),
  ...SERVICE_ENV,
};

export const operatorService = defineService({
  name: 'operator',
  title: 'reconciles Pool resources: members and policy, streams, one transactor each, status.',
  script: 'dist/operator/main.js',
  env: OPERATOR_ENV,
  async start({ config: c, env, log, sql, bus }) {
    const kc = new KubeConfig();
    kc.loadFromDefault();
    const databaseUrl =
      c.DIAGON_POSTGRES_SECRET === ''
        ? { name: 'DATABASE_URL', value: c.DATABASE_URL }
        : {
            name: 'DATABASE_URL',
            valueFrom: {
              secretKeyRef: { name: c.DIAGON_POSTGRES_SECRET, key: c.DIAGON_POSTGRES_SECRET_KEY },
            },
          };
    const operator = new Operator({
      config: kc,
      sql,
      bus,
      namespace: c.OPERATOR_NAMESPACE,
      leaseNamespace: c.OPERATOR_LEASE_NAMESPACE,
      leaseName: c.OPERATOR_LEASE_NAME,
      identity: c.OPERATOR_IDENTITY || hostname(),
      transactor: {
        image: c.DIAGON_IMAGE,
        env: [
          databaseUrl,
          { name: 'DIAGON_SCHEMA', value: c.DIAGON_SCHEMA },
          { name: 'NATS_URL', value: c.NATS_URL },
          ...telemetryEnv(env),
        ],
      },
      log: (msg) => log.info(msg),
    });
    operator.start();
    const ops = await serveOps({
      port: c.OPERATOR_METRICS_PORT,
      registry: operator.metrics.registry,
      // Ready as leader or as a standby waiting for the Lease.
      ready: () => null,
    });
    return {
      async stop() {
        await operator.stop();
        await ops.close();
      },
    };
  },
});

runService(operatorService);
