/**
 * Supervisors (Erlang/OTP's, over handles that outlive restarts). A supervisor owns
 * children — actors and other supervisors — in start order. When a child crashes, the
 * strategy says which children restart from a fresh `init()` state:
 *
 * - 'one-for-one': the crashed child only;
 * - 'one-for-all': every child;
 * - 'rest-for-one': the crashed child and every child started after it.
 *
 * Children to restart are first suspended (each finishes the message in hand), last
 * started first, then restarted in start order. Their handles and mailboxes survive, so
 * callers keep talking to them; the message that crashed is dropped (its ask rejected).
 *
 * Restart intensity: at most `maxRestarts` restarts within `withinMs`. One more failure
 * and the supervisor gives up: it suspends all its children and escalates to its own
 * supervisor as a failure of its own (`actor/restart-intensity`), which that one handles
 * by its strategy — restarting this supervisor restarts all of its children fresh. A
 * top-level supervisor has nobody to escalate to: it halts its whole tree (pending asks
 * reject with `actor/stopped`) and its `exit` resolves `{ reason: 'crashed', error }`.
 *
 * A child that stops normally (`stop()`) leaves its supervisor and is not restarted.
 */
import { DiagonError } from '../db/errors.js';
import {
  Actor,
  type Behavior,
  type Exit,
  type Parent,
  type SpawnOptions,
  type Supervised,
} from './actor.js';

export type Strategy = 'one-for-one' | 'one-for-all' | 'rest-for-one';

export interface SupervisorOptions {
  /** Default 'one-for-one'. */
  strategy?: Strategy;
  /** Restarts allowed within `withinMs` before giving up (default 3). */
  maxRestarts?: number;
  /** The window of the restart intensity, in ms (default 5000). */
  withinMs?: number;
  name?: string;
}

export type SupervisorStatus = 'running' | 'suspended' | 'stopping' | 'stopped';

let created = 0;

export class Supervisor implements Supervised, Parent {
  readonly name: string;
  readonly strategy: Strategy;
  readonly maxRestarts: number;
  readonly withinMs: number;
  readonly exit: Promise<Exit>;
  private resolveExit!: (exit: Exit) => void;
  private readonly kids: Supervised[] = [];
  private currentStatus: SupervisorStatus = 'running';
  private gen = 0;
  private restartTimes: number[] = [];
  private restartCount = 0;
  /** Failures, restarts and suspensions, one at a time. */
  private work: Promise<void> = Promise.resolve();

  /** Use `supervisor` or `Supervisor.supervisor`. */
  constructor(
    opts: SupervisorOptions,
    private readonly parent: Parent | undefined,
  ) {
    this.name = opts.name ?? `supervisor-${++created}`;
    this.strategy = opts.strategy ?? 'one-for-one';
    this.maxRestarts = opts.maxRestarts ?? 3;
    this.withinMs = opts.withinMs ?? 5000;
    if (!['one-for-one', 'one-for-all', 'rest-for-one'].includes(this.strategy))
      throw invalid(`unknown strategy ${String(this.strategy)}`);
    if (!(Number.isInteger(this.maxRestarts) && this.maxRestarts >= 0))
      throw invalid(`maxRestarts is a whole number >= 0; got ${this.maxRestarts}`);
    if (!(this.withinMs > 0)) throw invalid(`withinMs must be > 0; got ${this.withinMs}`);
    this.exit = new Promise((resolve) => {
      this.resolveExit = resolve;
    });
  }

  get status(): SupervisorStatus {
    return this.currentStatus;
  }

  get generation(): number {
    return this.gen;
  }

  /** Restarts completed (one per handled failure, however many children it restarted). */
  get restarts(): number {
    return this.restartCount;
  }

  /** The children, in start order. */
  get children(): readonly Supervised[] {
    return this.kids;
  }

  /** Starts a supervised actor. */
  spawn<S, M, R = void>(behavior: Behavior<S, M, R>, opts: SpawnOptions = {}): Actor<S, M, R> {
    this.refuseWhenStopping();
    const child = new Actor(behavior, opts, this);
    this.kids.push(child);
    return child;
  }

  /** Starts a child supervisor (it escalates to this one). */
  supervisor(opts: SupervisorOptions = {}): Supervisor {
    this.refuseWhenStopping();
    const child = new Supervisor(opts, this);
    this.kids.push(child);
    return child;
  }

  /** Stops every child (last started first, each draining its mailbox), then itself. */
  stop(): Promise<void> {
    if (this.currentStatus !== 'stopping' && this.currentStatus !== 'stopped') {
      this.currentStatus = 'stopping';
      void this.stopChildren();
    }
    return this.exit.then(() => undefined);
  }

  /** @internal */
  childFailed(child: Supervised, generation: number, error: unknown): void {
    this.enqueue(() => this.handleFailure(child, generation, error));
  }

  /** @internal */
  childExited(child: Supervised): void {
    const i = this.kids.indexOf(child);
    if (i >= 0) this.kids.splice(i, 1);
  }

  /** @internal */
  suspend(): Promise<void> {
    return this.enqueue(() => this.suspendAll());
  }

  /** @internal */
  restart(): Promise<void> {
    return this.enqueue(async () => {
      if (this.currentStatus !== 'suspended') return;
      this.gen++;
      this.restartTimes = [];
      this.currentStatus = 'running';
      for (const child of this.kids) await child.restart();
    });
  }

  /** @internal */
  halt(exit: Exit): void {
    if (this.currentStatus === 'stopped') return;
    this.currentStatus = 'stopped';
    for (const child of [...this.kids].reverse()) child.halt(exit);
    this.resolveExit(exit);
  }

  private enqueue(task: () => Promise<void>): Promise<void> {
    const run = this.work.then(task);
    // A task that throws is a bug in the tree: end it rather than leave it half-restarted.
    this.work = run.catch((error: unknown) => this.halt({ reason: 'crashed', error }));
    return this.work;
  }

  private async suspendAll(): Promise<void> {
    if (this.currentStatus !== 'running') return;
    this.currentStatus = 'suspended';
    for (const child of [...this.kids].reverse()) await child.suspend();
  }

  private async handleFailure(child: Supervised, generation: number, error: unknown) {
    if (child.generation !== generation || !this.kids.includes(child)) return;
    // Stopping: a crashed child cannot drain, so it ends here.
    if (this.currentStatus === 'stopping') child.halt({ reason: 'crashed', error });
    if (this.currentStatus !== 'running') return;
    const now = Date.now();
    this.restartTimes = this.restartTimes.filter((t) => now - t < this.withinMs);
    if (this.restartTimes.length >= this.maxRestarts) {
      await this.giveUp(child, error);
      return;
    }
    this.restartTimes.push(now);
    const i = this.kids.indexOf(child);
    const targets =
      this.strategy === 'one-for-one'
        ? [child]
        : this.strategy === 'one-for-all'
          ? [...this.kids]
          : this.kids.slice(i);
    for (const target of [...targets].reverse()) await target.suspend();
    for (const target of targets) await target.restart();
    this.restartCount++;
  }

  private async giveUp(child: Supervised, error: unknown): Promise<void> {
    const failure = new DiagonError(
      'actor/restart-intensity',
      `${this.name} gave up: ${child.name} failed after ${this.maxRestarts} restarts within ${this.withinMs} ms (${String(error)})`,
      { supervisor: this.name, child: child.name, cause: error },
    );
    if (this.parent === undefined) {
      this.halt({ reason: 'crashed', error: failure });
      return;
    }
    await this.suspendAll();
    this.parent.childFailed(this, this.gen, failure);
  }

  private async stopChildren(): Promise<void> {
    for (const child of [...this.kids].reverse())
      if (child.status === 'suspended') child.halt({ reason: 'stopped' });
      else await child.stop();
    if (this.currentStatus !== 'stopping') return;
    this.currentStatus = 'stopped';
    this.resolveExit({ reason: 'stopped' });
    this.parent?.childExited(this);
  }

  private refuseWhenStopping(): void {
    if (this.currentStatus === 'stopping' || this.currentStatus === 'stopped')
      throw new DiagonError('actor/stopped', `${this.name} is stopped`, {
        supervisor: this.name,
      });
  }
}

function invalid(message: string): DiagonError {
  return new DiagonError('actor/invalid-options', message);
}

/** Starts a top-level supervisor: past its restart intensity, its `exit` reports why. */
export function supervisor(opts: SupervisorOptions = {}): Supervisor {
  return new Supervisor(opts, undefined);
}
