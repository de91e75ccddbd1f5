/**
 * Helm and kubectl for the chart's tests, and what `helm template` renders, read back as
 * objects. helm comes from $DIAGON_K8S_CACHE/bin (test/k8s/tools.sh) or PATH; kubectl only
 * from the cache.
 */
import { execFile } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join, resolve } from 'node:path';
import { loadAllYaml } from '@kubernetes/client-node';
import { K8S_CACHE } from '../k8s/apiserver.js';

export const CHART = resolve('charts/diagon');
export const FULL_VALUES = resolve('test/chart/values-full.yaml');
export const RELEASE = 'diagon';
export const IMAGE = 'ghcr.io/diagon/diagon:0.1.0';

function executable(path: string): string | undefined {
  try {
    accessSync(path, constants.X_OK);
    return path;
  } catch {
    return undefined;
  }
}

/** helm from the tools cache, else from PATH; kubectl only from the cache (tools.sh). */
export const HELM = [join(K8S_CACHE, 'bin'), ...(process.env.PATH ?? '').split(delimiter)]
  .map((dir) => executable(join(dir, 'helm')))
  .find((p) => p !== undefined);
export const KUBECTL = executable(join(K8S_CACHE, 'bin', 'kubectl'));

export interface Ran {
  ok: boolean;
  stdout: string;
  stderr: string;
}

/** Runs a binary with `input` on stdin, whatever its exit status. */
export function exec(bin: string, args: string[], input = ''): Promise<Ran> {
  return new Promise((done) => {
    const child = execFile(
      bin,
      args,
      { maxBuffer: 32 * 1024 * 1024, timeout: 120_000 },
      (err, stdout, stderr) =>
        done({ ok: err === null, stdout, stderr: stderr || (err?.message ?? '') }),
    );
    child.stdin?.end(input);
  });
}

/** Runs a binary; rejects with its stderr when it fails. */
export async function run(bin: string, args: string[], input?: string): Promise<string> {
  const r = await exec(bin, args, input);
  if (!r.ok) throw new Error(`${bin} ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

export async function fails(bin: string, args: string[]): Promise<string> {
  try {
    await run(bin, args);
  } catch (e) {
    return (e as Error).message;
  }
  throw new Error(`${bin} ${args.join(' ')} succeeded`);
}

export interface Metadata {
  name: string;
  namespace?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}
export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: Metadata;
  // biome-ignore lint/suspicious/noExplicitAny: rendered objects are read field by field
  [field: string]: any;
}
export interface SecurityContext {
  runAsNonRoot?: boolean;
  runAsUser?: number;
  readOnlyRootFilesystem?: boolean;
  allowPrivilegeEscalation?: boolean;
  capabilities?: { drop?: string[]; add?: string[] };
}
export interface Container {
  name: string;
  image: string;
  args?: string[];
  securityContext?: SecurityContext;
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
  livenessProbe?: Record<string, unknown>;
  readinessProbe?: Record<string, unknown>;
  env?: { name: string; value?: string }[];
  ports?: { name?: string; containerPort: number }[];
}
export interface PodSpec {
  securityContext?: SecurityContext & { fsGroup?: number; seccompProfile?: { type: string } };
  containers: Container[];
  initContainers?: Container[];
}
export interface PolicyRule {
  apiGroups: string[];
  resources: string[];
  verbs: string[];
  resourceNames?: string[];
}

/** One rendered document: its text (what kubectl gets) and the object loadAllYaml reads. */
export interface Doc {
  text: string;
  obj: K8sObject;
}

/**
 * `helm template`, one Doc per document. loadAllYaml gives @kubernetes/client-node's typed
 * objects, which rename a few fields (a JSON schema's `default` becomes `_default`), so the
 * API server is sent the rendered text, not the objects re-serialized.
 */
export async function renderDocs(args: string[], namespace = 'diagon-test'): Promise<Doc[]> {
  const out = await run(HELM!, ['template', RELEASE, CHART, '--namespace', namespace, ...args]);
  return out
    .split(/^---$/m)
    .filter((text) => text.replace(/^#.*$/gm, '').trim() !== '')
    .map((text) => ({ text, obj: loadAllYaml(text)[0] as K8sObject }));
}

export const render = async (args: string[], namespace?: string) =>
  (await renderDocs(args, namespace)).map((d) => d.obj);

export const find = (objs: K8sObject[], kind: string, name: string) =>
  objs.find((o) => o.kind === kind && o.metadata.name === name);
export const kinds = (objs: K8sObject[]) => objs.map((o) => `${o.kind}/${o.metadata.name}`).sort();

export function podOf(objs: K8sObject[], deployment: string): PodSpec {
  const d = find(objs, 'Deployment', deployment);
  if (d === undefined) throw new Error(`no Deployment ${deployment} in ${kinds(objs).join(', ')}`);
  return d.spec.template.spec as PodSpec;
}

/** Every pod spec: the Deployments' templates and bare Pods (the `helm test` hook). */
export function podSpecs(objs: K8sObject[]): { owner: string; pod: PodSpec }[] {
  return objs.flatMap((o) =>
    o.kind === 'Deployment'
      ? [{ owner: o.metadata.name, pod: o.spec.template.spec as PodSpec }]
      : o.kind === 'Pod'
        ? [{ owner: o.metadata.name, pod: o.spec as PodSpec }]
        : [],
  );
}
