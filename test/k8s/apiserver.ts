/**
 * A real Kubernetes API server for tests: Debian's `etcd` plus a `kube-apiserver` 1.20 built
 * once per machine by `test/k8s/build-apiserver.sh` into `$DIAGON_K8S_CACHE`
 * (default `/var/cache/diagon-k8s`). No controller-manager, scheduler or kubelet runs, so
 * objects are stored and validated but nothing reconciles them (no Pods from Deployments,
 * no ServiceAccount token Secrets; the `ServiceAccount` admission plugin is disabled so
 * Pods can still be created). 1.20 ignores CEL validation rules and has no `policy/v1`.
 *
 * Every `startApiServer()` gets its own etcd and API server on random loopback ports and a
 * temp dir, removed by `stop()`.
 *
 * Auth: a static bearer token for user `admin` in group `system:masters`; authorization is
 * RBAC, so a chart's Roles can be checked by impersonating (or minting a TokenRequest for)
 * a ServiceAccount.
 *
 * TLS: a throwaway CA and a serving cert for 127.0.0.1/localhost are made with `openssl`.
 * Clients verify against that CA: `kubeconfigPath` embeds it as
 * `certificate-authority-data` (kubectl, `@kubernetes/client-node`), `ca` holds the PEM, and
 * `request()` is an `https` client pinned to it. Node 20's global `fetch` cannot take a CA
 * per request; use `request()` rather than turning off verification process-wide.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { accessSync, closeSync, constants, openSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { Agent, request as httpsRequest } from 'node:https';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const execFileP = promisify(execFile);

export const K8S_CACHE = process.env.DIAGON_K8S_CACHE ?? '/var/cache/diagon-k8s';
export const KUBE_APISERVER_BIN = join(K8S_CACHE, 'bin', 'kube-apiserver');
export const ETCD_BIN = process.env.DIAGON_ETCD_BIN ?? '/usr/bin/etcd';

export interface KubeResponse<T = unknown> {
  status: number;
  /** Parsed JSON when the response is JSON, else the text. */
  body: T;
  headers: Record<string, string | string[] | undefined>;
}

export interface KubeRequestOptions {
  /** Defaults to `application/json` when a body is given. */
  contentType?: string;
  /** Extra headers, e.g. `Impersonate-User`. They override the defaults. */
  headers?: Record<string, string>;
  /** Per-request timeout, default 30 s. */
  timeoutMs?: number;
}

export interface TestApiServer {
  /** `https://127.0.0.1:<port>` */
  url: string;
  /** Bearer token of `admin` (group `system:masters`). */
  token: string;
  /** A kubeconfig (context `diagon-test`, namespace `default`) with the token and the CA. */
  kubeconfigPath: string;
  /** PEM of the CA that signed the serving cert. */
  ca: string;
  /** The same CA as a file. */
  caPath: string;
  /** The temp dir holding certs, etcd data and logs (`etcd.log`, `kube-apiserver.log`). */
  dir: string;
  /**
   * One HTTPS request to the server as `admin` (TLS verified against `ca`). `body` is sent
   * as JSON unless it is a string. Never throws for HTTP error statuses.
   */
  request<T = unknown>(
    method: string,
    path: string,
    body?: unknown,
    options?: KubeRequestOptions,
  ): Promise<KubeResponse<T>>;
  /** Stops kube-apiserver then etcd and deletes `dir`. Idempotent. */
  stop(): Promise<void>;
}

export interface StartApiServerOptions {
  /** Where the temp dir goes; default `os.tmpdir()`. */
  tmpRoot?: string;
  /** How long to wait for `/readyz`, default 90 s. */
  readyTimeoutMs?: number;
  /** Extra kube-apiserver flags, e.g. `['--v=4']`; a later flag overrides an earlier one. */
  extraArgs?: string[];
  /** Keep the temp dir after `stop()` (for reading the logs). */
  keepDir?: boolean;
}

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** Whether the cached kube-apiserver, etcd and openssl are there (for `describe.skipIf`). */
export function apiServerAvailable(): boolean {
  return (
    isExecutable(KUBE_APISERVER_BIN) && isExecutable(ETCD_BIN) && isExecutable('/usr/bin/openssl')
  );
}

/** `n` distinct free loopback ports (all held open until every one is known). */
async function freePorts(n: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from(
      { length: n },
      () =>
        new Promise<ReturnType<typeof createServer>>((resolve, reject) => {
          const s = createServer();
          s.once('error', reject);
          s.listen(0, '127.0.0.1', () => resolve(s));
        }),
    ),
  );
  const ports = servers.map((s) => {
    const addr = s.address();
    if (addr === null || typeof addr === 'string') throw new Error('no port');
    return addr.port;
  });
  await Promise.all(servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
  return ports;
}

async function openssl(cwd: string, args: string[]): Promise<void> {
  await execFileP('/usr/bin/openssl', args, { cwd });
}

/** A CA plus a serving cert for 127.0.0.1/localhost (and the in-cluster names). */
async function makeCerts(dir: string): Promise<void> {
  await openssl(dir, [
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    'ca.key',
    '-out',
    'ca.crt',
    '-days',
    '2',
    '-subj',
    '/CN=diagon-test-ca',
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
  ]);
  await openssl(dir, [
    'req',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    'serving.key',
    '-out',
    'serving.csr',
    '-subj',
    '/CN=kube-apiserver',
  ]);
  await writeFile(
    join(dir, 'serving.ext'),
    [
      'basicConstraints=critical,CA:FALSE',
      'keyUsage=critical,digitalSignature,keyEncipherment',
      'extendedKeyUsage=serverAuth',
      'subjectAltName=IP:127.0.0.1,IP:10.0.0.1,DNS:localhost,DNS:kubernetes,' +
        'DNS:kubernetes.default,DNS:kubernetes.default.svc,' +
        'DNS:kubernetes.default.svc.cluster.local',
      '',
    ].join('\n'),
  );
  await openssl(dir, [
    'x509',
    '-req',
    '-in',
    'serving.csr',
    '-CA',
    'ca.crt',
    '-CAkey',
    'ca.key',
    '-CAcreateserial',
    '-out',
    'serving.crt',
    '-days',
    '2',
    '-extfile',
    'serving.ext',
  ]);
}

function kubeconfigYaml(url: string, ca: string, token: string): string {
  return `apiVersion: v1
kind: Config
clusters:
  - name: diagon-test
    cluster:
      server: ${url}
      certificate-authority-data: ${Buffer.from(ca).toString('base64')}
users:
  - name: admin
    user:
      token: ${token}
contexts:
  - name: diagon-test
    context:
      cluster: diagon-test
      user: admin
      namespace: default
current-context: diagon-test
`;
}

function tail(path: string, lines = 30): string {
  try {
    return readFileSync(path, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

/** Spawns `bin` with stdout+stderr appended to `logPath`. */
function spawnLogged(bin: string, args: string[], logPath: string): ChildProcess {
  const fd = openSync(logPath, 'a');
  try {
    return spawn(bin, args, { stdio: ['ignore', fd, fd] });
  } finally {
    closeSync(fd);
  }
}

function exited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves once the process is gone. */
async function terminate(child: ChildProcess, graceMs = 10_000): Promise<void> {
  if (exited(child)) return;
  await new Promise<void>((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitFor(
  what: string,
  timeoutMs: number,
  children: { child: ChildProcess; name: string; log: string }[],
  probe: () => Promise<boolean>,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    for (const c of children) {
      if (exited(c.child)) {
        throw new Error(
          `${c.name} exited (${c.child.exitCode ?? c.child.signalCode}) while waiting for ` +
            `${what}; last log lines:\n${tail(c.log)}`,
        );
      }
    }
    if (await probe().catch(() => false)) return;
    if (Date.now() > deadline) {
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${what}; last log lines:\n` +
          children.map((c) => `--- ${c.name}\n${tail(c.log)}`).join('\n'),
      );
    }
    await sleep(250);
  }
}

const live = new Set<ChildProcess>();
let exitHookInstalled = false;
/** If the test process ends without `stop()`, don't leave etcd/apiserver behind. */
function track(child: ChildProcess): void {
  live.add(child);
  child.once('exit', () => live.delete(child));
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.once('exit', () => {
      for (const c of live) c.kill('SIGKILL');
    });
  }
}

export async function startApiServer(options: StartApiServerOptions = {}): Promise<TestApiServer> {
  if (!apiServerAvailable()) {
    throw new Error(
      `no kube-apiserver at ${KUBE_APISERVER_BIN} (run test/k8s/build-apiserver.sh) ` +
        `or no etcd at ${ETCD_BIN}`,
    );
  }
  const dir = await mkdtemp(join(options.tmpRoot ?? tmpdir(), 'diagon-k8s-'));
  const children: { child: ChildProcess; name: string; log: string }[] = [];
  let agent: Agent | undefined;
  let stopped = false;

  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    agent?.destroy();
    // API server first, so it does not log etcd errors while shutting down.
    for (const c of [...children].reverse()) await terminate(c.child);
    if (!options.keepDir) await rm(dir, { recursive: true, force: true });
  };

  try {
    const [etcdClient, etcdPeer, apiPort] = await freePorts(3);
    const token = randomBytes(24).toString('hex');

    // etcd
    const etcdLog = join(dir, 'etcd.log');
    const clientUrl = `http://127.0.0.1:${etcdClient}`;
    const peerUrl = `http://127.0.0.1:${etcdPeer}`;
    const etcd = spawnLogged(
      ETCD_BIN,
      [
        '--name=diagon-test',
        `--data-dir=${join(dir, 'etcd')}`,
        `--listen-client-urls=${clientUrl}`,
        `--advertise-client-urls=${clientUrl}`,
        `--listen-peer-urls=${peerUrl}`,
        `--initial-advertise-peer-urls=${peerUrl}`,
        `--initial-cluster=diagon-test=${peerUrl}`,
        '--initial-cluster-state=new',
        '--logger=zap',
        '--log-level=warn',
      ],
      etcdLog,
    );
    track(etcd);
    children.push({ child: etcd, name: 'etcd', log: etcdLog });

    // certs and keys, made while etcd starts
    await makeCerts(dir);
    const saKey = generateKeyPairSync('rsa', { modulusLength: 2048 })
      .privateKey.export({ type: 'pkcs1', format: 'pem' })
      .toString();
    await writeFile(join(dir, 'sa.key'), saKey, { mode: 0o600 });
    await writeFile(join(dir, 'tokens.csv'), `${token},admin,admin,"system:masters"\n`, {
      mode: 0o600,
    });
    await mkdir(join(dir, 'certs'));
    const caPath = join(dir, 'ca.crt');
    const ca = await readFile(caPath, 'utf8');

    await waitFor('etcd /health', 30_000, children, async () => {
      const res = await fetch(`${clientUrl}/health`);
      return res.ok && ((await res.json()) as { health?: string }).health === 'true';
    });

    // kube-apiserver
    const url = `https://127.0.0.1:${apiPort}`;
    const apiLog = join(dir, 'kube-apiserver.log');
    const api = spawnLogged(
      KUBE_APISERVER_BIN,
      [
        '--bind-address=127.0.0.1',
        '--advertise-address=127.0.0.1',
        `--secure-port=${apiPort}`,
        '--insecure-port=0',
        `--cert-dir=${join(dir, 'certs')}`,
        `--tls-cert-file=${join(dir, 'serving.crt')}`,
        `--tls-private-key-file=${join(dir, 'serving.key')}`,
        `--etcd-servers=${clientUrl}`,
        `--token-auth-file=${join(dir, 'tokens.csv')}`,
        '--authorization-mode=RBAC',
        '--anonymous-auth=false',
        '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
        '--api-audiences=https://kubernetes.default.svc.cluster.local',
        `--service-account-key-file=${join(dir, 'sa.key')}`,
        `--service-account-signing-key-file=${join(dir, 'sa.key')}`,
        '--service-cluster-ip-range=10.0.0.0/24',
        '--disable-admission-plugins=ServiceAccount',
        '--allow-privileged=true',
        '--profiling=false',
        '--logtostderr=true',
        '--v=1',
        ...(options.extraArgs ?? []),
      ],
      apiLog,
    );
    track(api);
    children.push({ child: api, name: 'kube-apiserver', log: apiLog });

    const pinned = new Agent({ ca, keepAlive: true });
    agent = pinned;
    const request = <T = unknown>(
      method: string,
      path: string,
      body?: unknown,
      opts: KubeRequestOptions = {},
    ): Promise<KubeResponse<T>> => kubeRequest<T>(pinned, url, token, method, path, body, opts);

    await waitFor(
      'kube-apiserver /readyz',
      options.readyTimeoutMs ?? 90_000,
      children,
      async () => {
        const res = await request('GET', '/readyz', undefined, { timeoutMs: 5000 });
        return res.status === 200;
      },
    );

    const kubeconfigPath = join(dir, 'kubeconfig.yaml');
    await writeFile(kubeconfigPath, kubeconfigYaml(url, ca, token), { mode: 0o600 });

    return { url, token, kubeconfigPath, ca, caPath, dir, request, stop };
  } catch (err) {
    // The error carries the logs' last lines; `keepDir` keeps the whole files.
    await stop();
    throw err;
  }
}

function kubeRequest<T>(
  agent: Agent,
  base: string,
  token: string,
  method: string,
  path: string,
  body: unknown,
  opts: KubeRequestOptions,
): Promise<KubeResponse<T>> {
  const payload =
    body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
  const headers: Record<string, string> = {
    Accept: 'application/json',
    Authorization: `Bearer ${token}`,
  };
  if (payload !== undefined) {
    headers['Content-Type'] = opts.contentType ?? 'application/json';
    headers['Content-Length'] = String(Buffer.byteLength(payload));
  }
  Object.assign(headers, opts.headers);
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      new URL(path, base),
      { method, agent, headers, timeout: opts.timeoutMs ?? 30_000 },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let parsed: unknown = text;
          if ((res.headers['content-type'] ?? '').includes('json') && text !== '') {
            try {
              parsed = JSON.parse(text);
            } catch {
              // leave it as text
            }
          }
          resolve({ status: res.statusCode ?? 0, body: parsed as T, headers: res.headers });
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error(`${method} ${path}: timed out`)));
    req.on('error', reject);
    if (payload !== undefined) req.write(payload);
    req.end();
  });
}
