/**
 * The Helm chart charts/diagon, rendered by a real helm (test/k8s/tools.sh puts helm and
 * kubectl in $DIAGON_K8S_CACHE/bin): `helm lint --strict`, every rendered object checked
 * against the Kubernetes schemas (kubernetes-models), the security defaults of every
 * container, RBAC, PDBs, the dashboard's metric names, values.schema.json refusing bad
 * values; and, when test/k8s's kube-apiserver is built, every object applied to a real API
 * server (server-side dry run) and the operator's RBAC checked with `kubectl auth can-i`.
 * Skipped when there is no helm binary.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadAllYaml } from '@kubernetes/client-node';
import { CustomResourceDefinition } from 'kubernetes-models/apiextensions.k8s.io/v1';
import { Deployment } from 'kubernetes-models/apps/v1';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { PodDisruptionBudget as PodDisruptionBudgetV1beta1 } from 'kubernetes-models/policy/v1beta1';
import {
  ClusterRole,
  ClusterRoleBinding,
  Role,
  RoleBinding,
} from 'kubernetes-models/rbac.authorization.k8s.io/v1';
import { ConfigMap, Pod, Service, ServiceAccount } from 'kubernetes-models/v1';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KeyPair } from '../../libs/identity/index.js';
import { metricsExportEnabled, telemetryEnabled } from '../../libs/telemetry/index.js';
import { otlpProtocol } from '../../libs/telemetry/setup.js';
import { apiServerAvailable, startApiServer, type TestApiServer } from '../k8s/apiserver.js';
import {
  CHART,
  type Doc,
  exec,
  FULL_VALUES,
  fails,
  find,
  HELM,
  IMAGE,
  type K8sObject,
  KUBECTL,
  kinds,
  type PodSpec,
  type PolicyRule,
  podOf,
  podSpecs,
  RELEASE,
  render,
  renderDocs,
  run,
} from './helm.js';

type Model = new (data: never) => { validate(): void };
const MODELS: Record<string, Model> = {
  'apiextensions.k8s.io/v1/CustomResourceDefinition': CustomResourceDefinition,
  'apps/v1/Deployment': Deployment,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget,
  'policy/v1beta1/PodDisruptionBudget': PodDisruptionBudgetV1beta1,
  'rbac.authorization.k8s.io/v1/ClusterRole': ClusterRole,
  'rbac.authorization.k8s.io/v1/ClusterRoleBinding': ClusterRoleBinding,
  'rbac.authorization.k8s.io/v1/Role': Role,
  'rbac.authorization.k8s.io/v1/RoleBinding': RoleBinding,
  'v1/ConfigMap': ConfigMap,
  'v1/Pod': Pod,
  'v1/Service': Service,
  'v1/ServiceAccount': ServiceAccount,
};

interface ValueSet {
  name: string;
  args: string[];
  /** capture.runAsRoot: the one container allowed to run as user 0. */
  captureAsRoot: boolean;
}
const SETS: ValueSet[] = [
  { name: 'default values', args: [], captureAsRoot: false },
  { name: 'values-full.yaml', args: ['-f', FULL_VALUES], captureAsRoot: true },
  { name: 'capture as user 1000', args: ['--set', 'capture.enabled=true'], captureAsRoot: false },
];

/** The operator's rules on Pools and what they own (a ClusterRole, or a Role). */
const OPERATOR_RULES: PolicyRule[] = [
  {
    apiGroups: ['diagon.dev'],
    resources: ['pools'],
    verbs: ['get', 'list', 'watch', 'update', 'patch'],
  },
  { apiGroups: ['diagon.dev'], resources: ['pools/status'], verbs: ['get', 'update', 'patch'] },
  { apiGroups: ['diagon.dev'], resources: ['pools/finalizers'], verbs: ['update'] },
  {
    apiGroups: ['apps'],
    resources: ['deployments'],
    verbs: ['get', 'list', 'watch', 'create', 'update', 'patch', 'delete'],
  },
  { apiGroups: [''], resources: ['events'], verbs: ['create', 'patch'] },
];

describe.skipIf(HELM === undefined)('the Helm chart charts/diagon', () => {
  describe.each(SETS)('with $name', (set) => {
    let objs: K8sObject[];
    beforeAll(async () => {
      objs = await render(set.args);
    });

    it('passes helm lint --strict', async () => {
      const out = await run(HELM!, ['lint', '--strict', CHART, ...set.args]);
      expect(out).toContain('0 chart(s) failed');
    });

    it('renders only objects that validate against the Kubernetes schemas', () => {
      expect(objs.length).toBeGreaterThan(10);
      for (const o of objs) {
        const where = `${o.kind}/${o.metadata.name}`;
        // The CRD is shared by every release (files/crd-pools.yaml, verbatim).
        if (o.kind !== 'CustomResourceDefinition')
          expect(o.metadata.labels?.['app.kubernetes.io/instance'], where).toBe(RELEASE);
        if (o.kind === 'ServiceMonitor' || o.kind === 'PodMonitor') {
          // No models for prometheus-operator's kinds: the shape is checked below.
          expect(o.apiVersion).toBe('monitoring.coreos.com/v1');
          continue;
        }
        const model = MODELS[`${o.apiVersion}/${o.kind}`];
        expect(model, `a model for ${o.apiVersion} ${o.kind}`).toBeDefined();
        expect(() => new model!(o as never).validate(), where).not.toThrow();
        const clusterScoped = ['CustomResourceDefinition', 'ClusterRole', 'ClusterRoleBinding'];
        if (!clusterScoped.includes(o.kind)) expect(o.metadata.namespace, where).toBeTruthy();
      }
    });

    it('keeps every container locked down (capture: NET_RAW, root only when asked)', () => {
      for (const { owner, pod } of podSpecs(objs)) {
        const psc = pod.securityContext ?? {};
        expect(psc.runAsNonRoot, owner).toBe(true);
        expect(psc.runAsUser, owner).toBe(1000);
        expect(psc.fsGroup, owner).toBe(1000);
        expect(psc.seccompProfile?.type, owner).toBe('RuntimeDefault');
        for (const c of [...(pod.initContainers ?? []), ...pod.containers]) {
          const where = `${owner}/${c.name}`;
          const sc = c.securityContext ?? {};
          expect(c.image, where).toBe(IMAGE);
          expect(sc.readOnlyRootFilesystem, where).toBe(true);
          expect(sc.allowPrivilegeEscalation, where).toBe(false);
          expect(sc.capabilities?.drop, where).toEqual(['ALL']);
          expect(c.resources?.requests, where).toBeDefined();
          expect(c.resources?.limits, where).toBeDefined();
          const root = (sc.runAsUser ?? psc.runAsUser) === 0 || sc.runAsNonRoot === false;
          if (c.name === 'capture') {
            expect(sc.capabilities?.add, where).toEqual(['NET_RAW']);
            expect(root, where).toBe(set.captureAsRoot);
          } else {
            expect(sc.capabilities?.add, where).toBeUndefined();
            expect(root, where).toBe(false);
          }
        }
      }
    });

    it('runs each process from the one image with health probes where it has HTTP', () => {
      const container = (deployment: string, name: string) =>
        podOf(objs, `diagon-${deployment}`).containers.find((c) => c.name === name)!;
      const auth = container('auth', 'auth');
      expect(auth.args).toEqual(['dist/services/auth/main.js']);
      expect(auth.livenessProbe).toMatchObject({ httpGet: { path: '/healthz', port: 'http' } });
      expect(auth.readinessProbe).toMatchObject({ httpGet: { path: '/readyz', port: 'http' } });
      expect(auth.env).toContainEqual({ name: 'AUTH_HOST', value: '0.0.0.0' });
      const operator = container('operator', 'operator');
      expect(operator.args).toEqual(['dist/operator/main.js']);
      expect(operator.livenessProbe).toMatchObject({ httpGet: { path: '/healthz' } });
      expect(operator.readinessProbe).toMatchObject({ httpGet: { path: '/readyz' } });
      expect(operator.env).toEqual(
        expect.arrayContaining([
          { name: 'DIAGON_IMAGE', value: IMAGE },
          { name: 'OPERATOR_LEASE_NAMESPACE', value: 'diagon-test' },
          { name: 'OPERATOR_LEASE_NAME', value: 'diagon-operator' },
          { name: 'DIAGON_POSTGRES_SECRET', value: 'diagon-postgres' },
        ]),
      );
      for (const name of ['consensus', 'indexer']) {
        const c = container(name, name);
        expect(c.args).toEqual([`dist/services/${name}/main.js`]);
        expect(c.livenessProbe).toMatchObject({ httpGet: { path: '/healthz', port: 'ops' } });
        expect(c.readinessProbe).toMatchObject({ httpGet: { path: '/readyz', port: 'ops' } });
        // The port the service listens on is the port the pod declares.
        const port = c.ports?.find((p) => p.name === 'ops')?.containerPort;
        expect(c.env).toContainEqual({
          name: `${name.toUpperCase()}_HTTP_PORT`,
          value: String(port),
        });
      }
      const capture = podOf(objs, 'diagon-auth').containers.find((c) => c.name === 'capture');
      if (set.name === 'default values') expect(capture).toBeUndefined();
      else {
        expect(capture?.args).toEqual(['dist/services/capture/main.js']);
        expect(capture?.env).toContainEqual({ name: 'CAPTURE_DEVICE', value: 'eth0' });
        expect(capture?.env).toContainEqual({ name: 'CAPTURE_PORTS', value: '7420' });
        // No readiness gate on the edge: auth works without its sniffer.
        expect(capture?.livenessProbe).toMatchObject({
          httpGet: { path: '/healthz', port: 'capture-ops' },
        });
        expect(capture?.readinessProbe).toBeUndefined();
      }
    });

    it('gives the operator only the rights it needs, and nothing on Secrets', () => {
      const roles = objs.filter((o) => o.kind === 'ClusterRole' || o.kind === 'Role');
      const rules = roles.flatMap((r) => r.rules as PolicyRule[]);
      expect(rules.flatMap((r) => r.resources)).not.toContain('secrets');
      expect(rules.flatMap((r) => r.verbs)).not.toContain('*');
      const watched = set.name === 'values-full.yaml' ? 'diagon-pools' : undefined;
      const pools = watched
        ? find(objs, 'Role', 'diagon-operator')
        : find(objs, 'ClusterRole', 'diagon-operator');
      expect(pools?.metadata.namespace).toBe(watched);
      expect(pools?.rules).toEqual(OPERATOR_RULES);
      if (watched) expect(find(objs, 'ClusterRole', 'diagon-operator')).toBeUndefined();
      expect(find(objs, 'Role', 'diagon-operator-leader-election')?.rules).toEqual([
        { apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['create'] },
        {
          apiGroups: ['coordination.k8s.io'],
          resources: ['leases'],
          resourceNames: ['diagon-operator'],
          verbs: ['get', 'update'],
        },
      ]);
    });
  });

  it('sets only variables the processes read', async () => {
    const declared = (files: string[]) =>
      new Set(
        files.flatMap((f) =>
          [...readFileSync(f, 'utf8').matchAll(/^\s+([A-Z][A-Z0-9_]+): (?:envVar|v)\(/gm)].map(
            (m) => m[1]!,
          ),
        ),
      );
    const common = 'libs/common/service.ts';
    const sources: Record<string, string[]> = {
      auth: ['services/auth/config.ts', common],
      capture: ['services/capture/service.ts', common],
      consensus: ['services/consensus/service.ts', common],
      indexer: ['services/indexer/service.ts', common],
      operator: ['operator/main.ts', common],
    };
    let checked = 0;
    for (const { owner, pod } of podSpecs(await render(['-f', FULL_VALUES])))
      for (const c of pod.containers) {
        const files = sources[c.name];
        if (files === undefined) continue;
        const vars = declared(files);
        for (const { name } of c.env ?? []) {
          // Node's own; the OpenTelemetry SDK's (and the pod fields they are built from).
          if (name === 'NODE_OPTIONS' || /^(OTEL|K8S)_/.test(name)) continue;
          expect(vars.has(name), `${owner}/${c.name}: ${name}`).toBe(true);
          checked++;
        }
      }
    expect(checked).toBeGreaterThan(20);
  });

  it('points every process at the OTLP collector when one is set, and none otherwise', async () => {
    const diagon = ['auth', 'capture', 'consensus', 'indexer', 'operator'];
    const containers = (objs: K8sObject[]) =>
      podSpecs(objs).flatMap(({ pod }) => pod.containers.filter((c) => diagon.includes(c.name)));
    const envOf = (c: { env?: { name: string; value?: string }[] }) =>
      Object.fromEntries((c.env ?? []).map((e) => [e.name, e.value]));
    const full = containers(await render(['-f', FULL_VALUES]));
    expect(new Set(full.map((c) => c.name))).toEqual(new Set(diagon));
    for (const c of full) {
      const env = envOf(c);
      // Read as the services read them.
      expect(telemetryEnabled(env) && metricsExportEnabled(env), c.name).toBe(true);
      expect(otlpProtocol(env, 'TRACES')).toBe('http/json');
      expect(env).toMatchObject({
        OTEL_EXPORTER_OTLP_ENDPOINT: 'http://otel-collector.monitoring:4318',
        OTEL_METRIC_EXPORT_INTERVAL: '15000',
      });
      // $(K8S_POD_NAME) expands only when defined before it.
      const names = (c.env ?? []).map((e) => e.name);
      expect(names.indexOf('K8S_POD_NAME')).toBeLessThan(names.indexOf('OTEL_RESOURCE_ATTRIBUTES'));
      expect(env.OTEL_RESOURCE_ATTRIBUTES).toBe(
        'k8s.pod.name=$(K8S_POD_NAME),k8s.namespace.name=$(K8S_NAMESPACE_NAME)',
      );
    }
    for (const c of containers(await render([])))
      expect(
        Object.keys(envOf(c)).filter((n) => n.startsWith('OTEL_')),
        c.name,
      ).toEqual([]);
  });

  it('makes PDBs only for components with more than one replica (policy/v1)', async () => {
    const pdbs = (objs: K8sObject[]) => objs.filter((o) => o.kind === 'PodDisruptionBudget');
    const byDefault = pdbs(await render([]));
    expect(byDefault.map((p) => `${p.apiVersion} ${p.metadata.name}`)).toEqual([
      'policy/v1 diagon-consensus',
    ]);
    expect(byDefault[0]?.spec).toMatchObject({ minAvailable: 1 });
    const full = pdbs(await render(['-f', FULL_VALUES]));
    expect(full.map((p) => p.metadata.name).sort()).toEqual(['diagon-auth', 'diagon-consensus']);
  });

  it('renders policy/v1beta1 PDBs for Kubernetes 1.20', async () => {
    const objs = await render(['--kube-version', '1.20.0']);
    const pdb = objs.find((o) => o.kind === 'PodDisruptionBudget')!;
    expect(pdb.apiVersion).toBe('policy/v1beta1');
    expect(() => new PodDisruptionBudgetV1beta1(pdb as never).validate()).not.toThrow();
  });

  it('optional objects appear only when asked for', async () => {
    expect(kinds(await render([]))).not.toEqual(
      expect.arrayContaining(['ServiceMonitor/diagon', 'ConfigMap/diagon-dashboard']),
    );
    const full = await render(['-f', FULL_VALUES]);
    const monitor = find(full, 'ServiceMonitor', 'diagon')!;
    expect(monitor.metadata.labels?.release).toBe('prometheus');
    expect(monitor.spec.endpoints.map((e: { port: string }) => e.port)).toEqual([
      'http',
      'metrics',
    ]);
    // The PodMonitor's ports are ports the pods name (the operator's transactors: ops too).
    const pods = find(full, 'PodMonitor', 'diagon')!;
    const scraped = pods.spec.podMetricsEndpoints.map((e: { port: string }) => e.port);
    expect(scraped).toEqual(['ops', 'capture-ops']);
    const named = podSpecs(full).flatMap(({ pod }) =>
      pod.containers.flatMap((c) => (c.ports ?? []).map((p) => p.name)),
    );
    for (const port of scraped) expect(named).toContain(port);
    expect(named.filter((n) => n === 'ops')).toHaveLength(2);
    const dashboard = find(full, 'ConfigMap', 'diagon-dashboard')!;
    expect(dashboard.metadata.labels?.grafana_dashboard).toBe('1');
    const noCrd = await render(['--set', 'crd.install=false']);
    expect(noCrd.find((o) => o.kind === 'CustomResourceDefinition')).toBeUndefined();
  });

  it('renders the bare services with everything optional off', async () => {
    const off = ['operator.enabled', 'serviceAccount.create', 'tests.enabled', 'crd.install'];
    const objs = await render(off.flatMap((v) => ['--set', `${v}=false`]));
    expect(kinds(objs)).toEqual([
      'Deployment/diagon-auth',
      'Deployment/diagon-consensus',
      'Deployment/diagon-indexer',
      'PodDisruptionBudget/diagon-consensus',
      'Service/diagon-auth',
    ]);
    expect(podOf(objs, 'diagon-auth')).toMatchObject({ serviceAccountName: 'default' });
  });

  it('installs the CRD from its one source, kept on uninstall', async () => {
    const crd = (await render([])).find((o) => o.kind === 'CustomResourceDefinition')!;
    const source = loadAllYaml(readFileSync(join(CHART, 'files/crd-pools.yaml'), 'utf8'))[0];
    expect(crd).toEqual(source);
    expect(crd.metadata.annotations?.['helm.sh/resource-policy']).toBe('keep');
  });

  it('charts a dashboard on exactly the metrics the services export', async () => {
    const exported = new Set<string>();
    for (const dir of readdirSync('services')) {
      const file = join('services', dir, 'metrics.ts');
      if (!existsSync(file)) continue;
      for (const m of readFileSync(file, 'utf8').matchAll(/name: '(diagon_[a-z0-9_]+)'/g))
        exported.add(m[1]!);
    }
    expect(exported.size).toBeGreaterThan(5);
    const full = await render(['-f', FULL_VALUES]);
    const json = JSON.parse(find(full, 'ConfigMap', 'diagon-dashboard')!.data['diagon.json']) as {
      panels: { targets?: { expr: string }[] }[];
    };
    const charted = new Set(
      json.panels
        .flatMap((p) => p.targets ?? [])
        .flatMap((t) => [...t.expr.matchAll(/\bdiagon_[a-z0-9_]+/g)].map((m) => m[0]))
        .map((name) => name.replace(/_(bucket|sum|count)$/, '')),
    );
    expect([...charted].sort()).toEqual([...exported].sort());
  });

  it('has a helm test hook that creates, proposes to and queries a pool over HTTP', async () => {
    const hook = (objs: K8sObject[]) => find(objs, 'Pod', 'diagon-test')!;
    const on = hook(await render(['--set', 'auth.allowPoolCreate=true']));
    expect(on.metadata.annotations?.['helm.sh/hook']).toBe('test');
    const script = (on.spec as PodSpec & { containers: { args: string[] }[] }).containers[0]!
      .args[0]!;
    for (const step of ['keygen --out /tmp/k', 'pool create', 'propose', ' q '])
      expect(script).toContain(step);
    expect(on.spec.containers[0].env).toContainEqual({
      name: 'DIAGON_URL',
      value: 'http://diagon-auth:7421',
    });
    const off = hook(await render([]));
    expect(off.spec.containers[0].args[0]).toContain('auth.allowPoolCreate=true');
  });

  it('values.schema.json and the chart refuse bad values', async () => {
    const template = (...args: string[]) => fails(HELM!, ['template', RELEASE, CHART, ...args]);
    expect(await template('--set', 'image.pullPolicy=Sometimes')).toMatch(/pullPolicy/);
    expect(await template('--set', 'auth.replicas=2')).toMatch(/replicas/);
    expect(await template('--set', 'capture.ports=eth0')).toMatch(/ports/);
    expect(await template('--set', 'postgres.schema=Bad-Name')).toMatch(/schema/);
    expect(await template('--set', 'consensus.replicaCount=-1')).toMatch(/replicaCount/);
    expect(await template('--set', 'auth.replicaCount=2')).toMatch(/auth.keySecret/);
    expect(await template('--set', 'telemetry.otlpProtocol=grpc')).toMatch(/otlpProtocol/);
    expect(await template('--set', 'telemetry.otlpEndpoint=collector:4318')).toMatch(
      /otlpEndpoint/,
    );
  });

  describe.skipIf(KUBECTL === undefined || !apiServerAvailable())(
    'on a real API server (test/k8s, kube-apiserver 1.20)',
    () => {
      let server: TestApiServer;
      let kubeVersion: string;
      const kubectl = (args: string[], input?: string) =>
        run(KUBECTL!, ['--kubeconfig', server.kubeconfigPath, ...args], input);
      const stream = (docs: Doc[]) => docs.map((d) => d.text).join('\n---\n');
      const ensureNamespace = (name: string) =>
        kubectl(
          ['apply', '--server-side', '-f', '-'],
          `apiVersion: v1\nkind: Namespace\nmetadata:\n  name: ${name}\n`,
        );

      beforeAll(async () => {
        server = await startApiServer();
        const v = JSON.parse(await kubectl(['version', '-o', 'json'])) as {
          serverVersion: { gitVersion: string };
        };
        kubeVersion = v.serverVersion.gitVersion;
      }, 150_000);
      afterAll(async () => {
        await server?.stop();
      });

      it.each(SETS.map((s, i) => ({ ...s, ns: `chart-${i}` })))(
        'accepts every object of $name (server-side dry run)',
        async (set) => {
          const docs = await renderDocs([...set.args, '--kube-version', kubeVersion], set.ns);
          for (const ns of new Set([set.ns, ...docs.map((d) => d.obj.metadata.namespace)]))
            if (ns !== undefined) await ensureNamespace(ns);
          // The CRD for real (and Established) first: it is what the Pools will need.
          const crds = docs.filter((d) => d.obj.kind === 'CustomResourceDefinition');
          if (crds.length > 0) {
            await kubectl(['apply', '--server-side', '-f', '-'], stream(crds));
            await kubectl([
              'wait',
              '--for=condition=Established',
              '--timeout=60s',
              'crd/pools.diagon.dev',
            ]);
          }
          // This API server has no prometheus-operator CRDs: the monitors have no kind to be
          // checked against (their shape is checked offline above).
          const rest = docs.filter(
            (d) =>
              !['CustomResourceDefinition', 'ServiceMonitor', 'PodMonitor'].includes(d.obj.kind),
          );
          const out = await kubectl(
            ['apply', '--server-side', '--dry-run=server', '--field-manager=helm', '-f', '-'],
            stream(rest),
          );
          const applied = out.trim().split('\n');
          expect(applied).toHaveLength(rest.length);
          for (const line of applied) expect(line).toMatch(/\(server dry run\)$/);
        },
        120_000,
      );

      it('accepts a Pool with the installed CRD and refuses a malformed one', async () => {
        const pool = (did: string) => ({
          apiVersion: 'diagon.dev/v1alpha1',
          kind: 'Pool',
          metadata: { name: 'demo', namespace: 'chart-0' },
          spec: { members: [{ did }], governance: { threshold: { num: 2, den: 3 } } },
        });
        const dryRun = ['apply', '--server-side', '--dry-run=server', '-f', '-'];
        await expect(
          kubectl(dryRun, JSON.stringify(pool(KeyPair.generate().did))),
        ).resolves.toMatch(/pool.diagon.dev\/demo .*\(server dry run\)/);
        await expect(kubectl(dryRun, JSON.stringify(pool('did:web:example')))).rejects.toThrow(
          /spec.members/,
        );
      });

      it("the operator's RBAC allows what it needs and nothing more", async () => {
        const ns = 'chart-rbac';
        await ensureNamespace(ns);
        const docs = await renderDocs(['--kube-version', kubeVersion], ns);
        const rbac = docs.filter((d) =>
          ['ServiceAccount', 'ClusterRole', 'ClusterRoleBinding', 'Role', 'RoleBinding'].includes(
            d.obj.kind,
          ),
        );
        await kubectl(['apply', '--server-side', '-f', '-'], stream(rbac));
        const as = `--as=system:serviceaccount:${ns}:diagon-operator`;
        // `auth can-i` prints yes or no (and exits 1 for no).
        const can = async (...args: string[]) =>
          (
            await exec(KUBECTL!, [
              '--kubeconfig',
              server.kubeconfigPath,
              'auth',
              'can-i',
              as,
              ...args,
            ])
          ).stdout.trim();
        const yes = [
          ['list', 'pools.diagon.dev', '--all-namespaces'],
          ['watch', 'pools.diagon.dev', '-n', 'anywhere'],
          ['patch', 'pools.diagon.dev', '--subresource=status', '-n', 'anywhere'],
          ['update', 'pools.diagon.dev', '--subresource=finalizers', '-n', 'anywhere'],
          ['create', 'deployments.apps', '-n', 'anywhere'],
          ['delete', 'deployments.apps', '-n', 'anywhere'],
          ['create', 'events', '-n', 'anywhere'],
          ['create', 'leases.coordination.k8s.io', '-n', ns],
          ['update', 'leases.coordination.k8s.io/diagon-operator', '-n', ns],
        ];
        const no = [
          ['get', 'secrets', '-n', ns],
          ['list', 'secrets', '--all-namespaces'],
          ['delete', 'pools.diagon.dev', '-n', 'anywhere'],
          ['create', 'pools.diagon.dev', '-n', 'anywhere'],
          ['update', 'leases.coordination.k8s.io/someone-else', '-n', ns],
          ['create', 'leases.coordination.k8s.io', '-n', 'anywhere'],
          ['create', 'pods', '-n', 'anywhere'],
        ];
        // RBAC's authorizer learns of new bindings through a watch: wait for the first.
        for (let i = 0; i < 50 && (await can(...yes[0]!)) !== 'yes'; i++)
          await new Promise((r) => setTimeout(r, 200));
        for (const args of yes) expect(await can(...args), args.join(' ')).toBe('yes');
        for (const args of no) expect(await can(...args), args.join(' ')).toBe('no');
      });
    },
  );
});
