/**
 * Actors: a behavior's state behind a handle and a bounded mailbox. Messages are handled
 * one at a time, in arrival order (so each sender's order is kept); the state is touched
 * only by the actor, so it needs no lock even when `receive` awaits.
 *
 * A behavior is `{ init, receive }`: `init()` gives a fresh state (at spawn and at every
 * restart); `receive(state, msg, ctx)` handles one message and returns the next state
 * (or a promise of it). To answer an `ask`, call `ctx.reply(value)` before `receive`
 * returns (or settles); an ask left unanswered rejects with `actor/no-reply`.
 *
 * When `receive` (or `init`) throws, the actor crashes: the ask being handled rejects
 * with `actor/crashed`, the actor stops handling messages and its supervisor decides
 * (see supervisor.ts); the mailbox is kept, so queued messages are handled after a
 * restart. An actor without a supervisor stops, and `exit` says why.
 */
import { DiagonError } from '../db/errors.js';
import { Envelope } from './envelope.js';
import { Mailbox } from './mailbox.js';
import { AskTimeouts } from './timeouts.js';

export interface Behavior<S, M, R = void> {
  /** A fresh state: at spawn and at every restart. */
  init(): S | Promise<S>;
  /** Handles one message and returns the next state; throwing crashes the actor. */
  receive(state: S, msg: M, ctx: Context<S, M, R>): S | Promise<S>;
}

export interface Context<S, M, R> {
  /** This actor's handle (to tell yourself, or pass along). */
  readonly self: Actor<S, M, R>;
  /** Whether the sender waits for a reply (the message came from `ask`). */
  readonly asked: boolean;
  /** Answers the ask; ignored for a tell. At most once, before `receive` returns. */
  reply(value: R): void;
}

/** Why an actor (or supervisor) ended. */
export type Exit = { reason: 'stopped' } | { reason: 'crashed'; error: unknown };

export type ActorStatus = 'starting' | 'running' | 'suspended' | 'stopped';

export interface SpawnOptions {
  /** Mailbox capacity (default 1000): tell waits, tryTell fails, when it is full. */
  mailbox?: number;
  /** Names the actor in errors. */
  name?: string;
}

export interface AskOptions {
  /**
   * Rejects with `actor/timeout` after this long (default 5000 ms; finite; checked every
   * 10 ms, so it may fire up to 20 ms late, never early).
   */
  timeoutMs?: number;
}

/** What a supervisor manages: an actor or another supervisor. */
export interface Supervised {
  readonly name: string;
  /** 'suspended' while crashed or held by its supervisor. */
  readonly status: string;
  /** Counts restarts, so a failure reported before the latest restart is ignored. */
  readonly generation: number;
  readonly exit: Promise<Exit>;
  /** Stops handling messages after the current one; resolves once idle. */
  suspend(): Promise<void>;
  /** Starts again from a fresh state (after `suspend`). */
  restart(): Promise<void>;
  /** Ends now, without draining: what is queued is refused with `actor/stopped`. */
  halt(exit: Exit): void;
  stop(): Promise<void>;
}

/** What a supervised child reports to its supervisor. */
export interface Parent {
  childFailed(child: Supervised, generation: number, error: unknown): void;
  childExited(child: Supervised): void;
}

/** The error of `tryTell` on a full mailbox (code `actor/mailbox-full`). */
export class MailboxFull extends DiagonError {
  constructor(actor: string, capacity: number) {
    super(
      'actor/mailbox-full',
      `the mailbox of ${actor} is full (${capacity} messages): use tell to wait for room`,
      { actor, capacity },
    );
    this.name = 'MailboxFull';
  }
}

const RESOLVED = Promise.resolve();
const DEFAULT_MAILBOX = 1000;
const DEFAULT_ASK_TIMEOUT_MS = 5000;
let spawned = 0;

export class Actor<S, M, R = void> implements Supervised {
  readonly name: string;
  readonly exit: Promise<Exit>;
  private resolveExit!: (exit: Exit) => void;
  private currentState: S | undefined;
  private currentStatus: ActorStatus = 'starting';
  private gen = 0;
  private readonly mailbox: Mailbox<Envelope<S, M, R>>;
  private readonly timeouts = new AskTimeouts<Envelope<S, M, R>>((env) => this.expire(env));
  /** A drain is scheduled or running (then `suspend` waits for it). */
  private busy = false;
  /** The message being handled. */
  private inFlight: Envelope<S, M, R> | undefined;
  private idleWaiters: (() => void)[] | undefined;
  private stopRequested = false;

  /** Use `spawn` or `Supervisor.spawn`. */
  constructor(
    private readonly behavior: Behavior<S, M, R>,
    opts: SpawnOptions,
    private readonly parent: Parent | undefined,
  ) {
    this.name = opts.name ?? `actor-${++spawned}`;
    this.mailbox = new Mailbox(opts.mailbox ?? DEFAULT_MAILBOX);
    this.exit = new Promise((resolve) => {
      this.resolveExit = resolve;
    });
    void this.start();
  }

  /** The current state, for tests and inspection (undefined while starting). */
  get state(): S | undefined {
    return this.currentState;
  }

  get status(): ActorStatus {
    return this.currentStatus;
  }

  get generation(): number {
    return this.gen;
  }

  /** Messages waiting in the mailbox (the one being handled not counted). */
  get mailboxSize(): number {
    return this.mailbox.size;
  }

  /** Queues `msg`; resolves once it is in the mailbox (waiting while it is full). */
  tell(msg: M): Promise<void> {
    if (this.closed) return Promise.reject(this.stoppedError(undefined));
    const env = new Envelope<S, M, R>(this, msg, undefined, undefined, 0);
    if (this.mailbox.offer(env)) {
      this.schedule();
      return RESOLVED;
    }
    return new Promise((admit, refuse) => {
      env.waiting = { admit, refuse };
      this.mailbox.put(env);
    });
  }

  /** Queues `msg` now or throws `MailboxFull` (`actor/mailbox-full`); never waits. */
  tryTell(msg: M): void {
    if (this.closed) throw this.stoppedError(undefined);
    if (!this.mailbox.offer(new Envelope<S, M, R>(this, msg, undefined, undefined, 0)))
      throw new MailboxFull(this.name, this.mailbox.capacity);
    this.schedule();
  }

  /**
   * Sends `msg` and waits for `ctx.reply`. Rejects with `actor/timeout` (a timed-out
   * message may still be handled), `actor/crashed` (handling it threw),
   * `actor/no-reply`, or `actor/stopped`.
   */
  ask(msg: M, opts?: AskOptions): Promise<R> {
    if (this.closed) return Promise.reject(this.stoppedError(undefined));
    const timeoutMs = opts?.timeoutMs ?? DEFAULT_ASK_TIMEOUT_MS;
    if (!(timeoutMs > 0 && timeoutMs < Number.POSITIVE_INFINITY))
      return Promise.reject(
        new DiagonError(
          'actor/invalid-options',
          `ask needs a finite timeoutMs > 0 (every ask has a deadline); got ${timeoutMs}`,
          { actor: this.name, timeoutMs },
        ),
      );
    return new Promise<R>((resolve, reject) => {
      const env = new Envelope<S, M, R>(this, msg, resolve, reject, timeoutMs);
      this.timeouts.add(env);
      this.mailbox.put(env);
      this.schedule();
    });
  }

  /** Handles what was sent before, then stops; later sends are refused. */
  stop(): Promise<void> {
    if (!this.stopRequested) {
      this.stopRequested = true;
      this.finishStopWhenDrained();
    }
    return this.exit.then(() => undefined);
  }

  /** @internal Counts an ask answered (by ctx.reply). */
  answered(): void {
    this.timeouts.settled();
  }

  /** @internal */
  suspend(): Promise<void> {
    if (this.currentStatus === 'stopped') return RESOLVED;
    this.currentStatus = 'suspended';
    if (!this.busy) return RESOLVED;
    return new Promise((resolve) => (this.idleWaiters ??= []).push(resolve));
  }

  /** @internal */
  restart(): Promise<void> {
    if (this.currentStatus === 'stopped') return RESOLVED;
    this.gen++;
    this.currentStatus = 'starting';
    this.currentState = undefined;
    return this.start();
  }

  /** @internal */
  halt(exit: Exit): void {
    if (this.currentStatus === 'stopped') return;
    this.currentStatus = 'stopped';
    const error = this.stoppedError(exit);
    if (this.inFlight !== undefined) this.refuse(this.inFlight, error);
    for (const env of this.mailbox.clear()) {
      this.refuse(env, error);
      env.waiting?.refuse(error);
    }
    this.timeouts.close();
    this.resolveExit(exit);
  }

  private get closed(): boolean {
    return this.stopRequested || this.currentStatus === 'stopped';
  }

  private async start(): Promise<void> {
    const gen = this.gen;
    let state: S;
    try {
      state = await this.behavior.init();
    } catch (error) {
      if (this.currentStatus === 'starting' && gen === this.gen) this.crash(error);
      return;
    }
    if (this.currentStatus !== 'starting' || gen !== this.gen) return;
    this.currentState = state;
    this.currentStatus = 'running';
    this.schedule();
    this.finishStopWhenDrained();
  }

  private schedule(): void {
    if (this.busy || this.currentStatus !== 'running' || this.mailbox.size === 0) return;
    this.busy = true;
    void RESOLVED.then(this.drain);
  }

  /**
   * Handles messages while running. Synchronous while `receive` is: a promise from it
   * pauses the loop, which goes on from its settlement.
   */
  private readonly drain = (): void => {
    while (this.currentStatus === 'running') {
      const env = this.mailbox.take();
      if (env === undefined) break;
      this.inFlight = env;
      let next: S | Promise<S>;
      try {
        next = this.behavior.receive(this.currentState as S, env.msg, env);
      } catch (error) {
        this.crashed(env, error);
        return;
      }
      if (next instanceof Promise) {
        next.then(
          (state) => {
            this.handled(env, state);
            this.drain();
          },
          (error: unknown) => this.crashed(env, error),
        );
        return;
      }
      this.handled(env, next);
    }
    this.idle();
    this.finishStopWhenDrained();
  };

  private handled(env: Envelope<S, M, R>, state: S): void {
    this.currentState = state;
    env.open = false;
    this.inFlight = undefined;
    if (!env.replied && env.asked)
      this.refuse(
        env,
        new DiagonError(
          'actor/no-reply',
          `${this.name} handled the ask without replying: call ctx.reply(value) in receive`,
          { actor: this.name },
        ),
      );
  }

  private crashed(env: Envelope<S, M, R>, error: unknown): void {
    env.open = false;
    this.inFlight = undefined;
    this.refuse(env, this.crashedError(error));
    this.idle();
    this.crash(error);
  }

  private idle(): void {
    this.busy = false;
    const waiters = this.idleWaiters;
    this.idleWaiters = undefined;
    if (waiters !== undefined) for (const wake of waiters) wake();
  }

  private crash(error: unknown): void {
    if (this.currentStatus === 'stopped') return;
    this.currentStatus = 'suspended';
    if (this.parent !== undefined) this.parent.childFailed(this, this.gen, error);
    else this.halt({ reason: 'crashed', error });
  }

  private finishStopWhenDrained(): void {
    if (
      !this.stopRequested ||
      this.currentStatus !== 'running' ||
      this.busy ||
      this.mailbox.size > 0
    )
      return;
    this.currentStatus = 'stopped';
    this.timeouts.close();
    this.resolveExit({ reason: 'stopped' });
    this.parent?.childExited(this);
  }

  private refuse(env: Envelope<S, M, R>, error: DiagonError): void {
    if (env.fail(error)) this.timeouts.settled();
  }

  private expire(env: Envelope<S, M, R>): void {
    env.fail(
      new DiagonError(
        'actor/timeout',
        `${this.name} did not reply in time (the message may still be handled)`,
        { actor: this.name },
      ),
    );
  }

  /** `exit` when the actor is ending now (its queued messages are refused with this). */
  private stoppedError(exit: Exit | undefined): DiagonError {
    const why =
      exit?.reason === 'crashed' ? `: it ended after a crash (${String(exit.error)})` : '';
    return new DiagonError('actor/stopped', `${this.name} is stopped${why}`, {
      actor: this.name,
      reason: exit?.reason ?? 'stopped',
    });
  }

  private crashedError(cause: unknown): DiagonError {
    return new DiagonError(
      'actor/crashed',
      `${this.name} crashed handling this message: ${String(cause)}`,
      {
        actor: this.name,
        cause,
      },
    );
  }
}

/** Starts an unsupervised actor: if it crashes it stops, and `exit` says why. */
export function spawn<S, M, R = void>(
  behavior: Behavior<S, M, R>,
  opts: SpawnOptions = {},
): Actor<S, M, R> {
  return new Actor(behavior, opts, undefined);
}
