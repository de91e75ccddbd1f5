/**
 * Child processes of the local cluster, as the operator's Deployments would run them: each
 * service a process of its own, its log lines prefixed with its name, restarted with
 * backoff when it dies, stopped with SIGTERM (then SIGKILL) on the way out.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';

export interface ServiceSpec {
  /** Shown before each log line, e.g. `auth` or `transactor/demo`. */
  name: string;
  /** The compiled entry point, e.g. dist/services/auth/main.js. */
  script: string;
  env: Record<string, string>;
  /** Resolves when a log line says the service is up. */
  readyWhen?: (line: LogLine) => boolean;
}

export interface LogLine {
  level: number;
  msg: string;
  raw: string;
}

const LEVELS: Record<number, string> = {
  10: 'trace',
  20: 'debug',
  30: 'info',
  40: 'warn',
  50: 'error',
  60: 'fatal',
};
const MAX_BACKOFF_MS = 10_000;

/** A pino JSON line as `level msg key=value…`; any other line as it is. */
export function parseLogLine(raw: string): LogLine {
  try {
    const o = JSON.parse(raw) as Record<string, unknown>;
    if (typeof o.msg === 'string' && typeof o.level === 'number')
      return { level: o.level, msg: o.msg, raw };
  } catch {}
  return { level: 30, msg: raw, raw };
}

function formatLine(l: LogLine): string {
  try {
    const o = JSON.parse(l.raw) as Record<string, unknown>;
    const extra = Object.entries(o)
      .filter(([k]) => !['level', 'time', 'pid', 'hostname', 'name', 'msg'].includes(k))
      .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
      .join(' ');
    return `${LEVELS[l.level] ?? l.level} ${l.msg}${extra === '' ? '' : ` ${extra}`}`;
  } catch {
    return l.raw;
  }
}

interface Running {
  spec: ServiceSpec;
  child: ChildProcess | null;
  restarts: number;
  stopping: boolean;
  timer: NodeJS.Timeout | null;
}

export class Supervisor {
  private readonly running = new Map<string, Running>();

  constructor(
    private readonly out: (line: string) => void,
    private readonly quiet: (l: LogLine) => boolean = (l) => l.level < 30,
  ) {}

  /** Starts `spec`; resolves when it is ready (its ready line, or at once without one). */
  start(spec: ServiceSpec, readyTimeoutMs = 30_000): Promise<void> {
    const r: Running = { spec, child: null, restarts: 0, stopping: false, timer: null };
    this.running.set(spec.name, r);
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () =>
          reject(
            new Error(
              `${spec.name} did not report ready within ${readyTimeoutMs} ms; see its log above`,
            ),
          ),
        readyTimeoutMs,
      );
      const ready = () => {
        clearTimeout(timer);
        resolve();
      };
      this.spawn(r, spec.readyWhen === undefined ? undefined : ready);
      if (spec.readyWhen === undefined) ready();
    });
  }

  private spawn(r: Running, onReady?: () => void): void {
    const { spec } = r;
    // DIAGON_NODE_ARGS passes flags NODE_OPTIONS refuses (e.g. --cpu-prof) to every service.
    const nodeArgs = (process.env.DIAGON_NODE_ARGS ?? '').split(' ').filter((a) => a !== '');
    const child = spawn(process.execPath, [...nodeArgs, spec.script], {
      env: { ...process.env, ...spec.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    r.child = child;
    const startedAt = Date.now();
    let readySeen = false;
    const onLine = (raw: string) => {
      const l = parseLogLine(raw);
      if (!readySeen && spec.readyWhen?.(l)) {
        readySeen = true;
        onReady?.();
      }
      if (!this.quiet(l)) this.out(`[${spec.name}] ${formatLine(l)}`);
    };
    createInterface({ input: child.stdout! }).on('line', onLine);
    createInterface({ input: child.stderr! }).on('line', onLine);
    child.once('exit', (code, signal) => {
      r.child = null;
      if (r.stopping) return;
      // A process that ran a while gets a fresh backoff; one that keeps dying waits longer.
      if (Date.now() - startedAt > 30_000) r.restarts = 0;
      const delay = Math.min(MAX_BACKOFF_MS, 250 * 2 ** r.restarts++);
      this.out(`[${spec.name}] exited (${signal ?? code}); restarting in ${delay} ms`);
      r.timer = setTimeout(() => this.spawn(r, readySeen ? undefined : onReady), delay);
    });
  }

  /** The process of a service (for tests and `kill`). */
  pid(name: string): number | undefined {
    return this.running.get(name)?.child?.pid;
  }

  async stop(name: string, graceMs = 10_000): Promise<void> {
    const r = this.running.get(name);
    if (r === undefined) return;
    r.stopping = true;
    if (r.timer !== null) clearTimeout(r.timer);
    this.running.delete(name);
    const child = r.child;
    if (child === null || child.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      const kill = setTimeout(() => child.kill('SIGKILL'), graceMs);
      child.once('exit', () => {
        clearTimeout(kill);
        resolve();
      });
      child.kill('SIGTERM');
    });
  }

  /** Stops everything, in the reverse order of starting. */
  async stopAll(): Promise<void> {
    for (const name of [...this.running.keys()].reverse()) await this.stop(name);
  }
}
