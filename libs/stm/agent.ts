/**
 * Agents (Clojure's agents): a value changed by actions sent to it, applied one at a time
 * in dispatch order, asynchronously. `send` returns at once. An action may be async; the
 * next one starts after it settles.
 *
 * Dispatches are held while they could still be undone: a send inside `dosync` waits for
 * the commit (and is dropped if the attempt restarts or aborts); a send inside an action
 * waits until that action's new state is set (and is dropped if the action fails).
 *
 * On one event loop there is no thread pool to choose, so `sendOff` is `send`; use it, as
 * in Clojure, to say an action waits on I/O.
 *
 * Errors (the action threw, its promise rejected, or the validator refused its result)
 * follow the error mode: 'fail' (the default without an error handler) keeps the error,
 * refuses new sends and runs nothing more until `restartAgent`; 'continue' (the default
 * with one) calls the handler and goes on with the next action. Errors thrown by the
 * handler itself are ignored, as in Clojure. A watch that throws counts as an error of
 * the action, although its state stays set.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { DiagonError } from '../db/errors.js';
import { inDosync } from './dosync.js';
import { Reference, type Validator, watchFailed } from './reference.js';
import { activeAttempt } from './transaction.js';

/** Computes an agent's next state from its current one. */
export type Action<T> = (state: T) => T | Promise<T>;

export type ErrorMode = 'fail' | 'continue';

export type ErrorHandler<T> = (agent: Agent<T>, error: unknown) => void;

export interface AgentOptions<T> {
  validator?: Validator<T>;
  /** Default: 'continue' when an errorHandler is given, else 'fail'. */
  errorMode?: ErrorMode;
  errorHandler?: ErrorHandler<T>;
}

/** A point in an agent's queue that `awaitAgents` waits for. */
interface Marker {
  resolve(): void;
  reject(error: unknown): void;
}

/** The action running in this async context; its sends wait until `active` is false. */
interface ActionFrame {
  active: boolean;
  held: (() => void)[] | undefined;
}

const actionStorage = new AsyncLocalStorage<ActionFrame>();

export class Agent<T> extends Reference<T> {
  private state: T;
  private failure: { error: unknown } | undefined;
  private readonly queue: (Action<T> | Marker)[] = [];
  private running = false;
  readonly errorMode: ErrorMode;
  readonly errorHandler: ErrorHandler<T> | undefined;

  constructor(initial: T, opts: AgentOptions<T> = {}) {
    super(opts.validator);
    this.validate(initial);
    this.state = initial;
    this.errorHandler = opts.errorHandler;
    this.errorMode = opts.errorMode ?? (opts.errorHandler === undefined ? 'fail' : 'continue');
  }

  deref(): T {
    return this.state;
  }

  /** The error that stopped this agent (errorMode 'fail'), or undefined. */
  get error(): unknown {
    return this.failure?.error;
  }

  get failed(): boolean {
    return this.failure !== undefined;
  }

  /** @internal Queues an action now (the caller decided it is no longer held). */
  enqueue(action: Action<T>): void {
    this.queue.push(action);
    this.kick();
  }

  /** @internal Resolves once every action queued so far has run. */
  mark(): Promise<void> {
    if (this.failure !== undefined) return Promise.reject(failedError(this.failure.error));
    return new Promise((resolve, reject) => {
      this.queue.push({ resolve, reject });
      this.kick();
    });
  }

  /** @internal See restartAgent. */
  restart(state: T, clearActions: boolean): void {
    if (this.failure === undefined)
      throw new DiagonError('stm/agent-not-failed', 'restartAgent on an agent that has not failed');
    this.validate(state);
    this.state = state;
    this.failure = undefined;
    if (clearActions) this.queue.length = 0;
    this.kick();
  }

  private kick(): void {
    if (this.running || this.failure !== undefined || this.queue.length === 0) return;
    this.running = true;
    queueMicrotask(() => void this.drain());
  }

  private async drain(): Promise<void> {
    while (this.failure === undefined && this.queue.length > 0) {
      const item = this.queue.shift()!;
      if (typeof item !== 'function') {
        item.resolve();
        continue;
      }
      const frame: ActionFrame = { active: true, held: undefined };
      try {
        const r = actionStorage.run(frame, item, this.state);
        const next = r instanceof Promise ? await r : r;
        this.validate(next);
        const old = this.state;
        this.state = next;
        frame.active = false;
        const errors = this.watched ? this.notifyWatches(old, next) : [];
        if (frame.held !== undefined) for (const dispatch of frame.held) dispatch();
        if (errors.length > 0) this.fail(watchFailed(errors));
      } catch (e) {
        frame.active = false;
        this.fail(e);
      }
    }
    this.running = false;
  }

  private fail(error: unknown): void {
    if (this.errorMode === 'continue') {
      try {
        this.errorHandler?.(this, error);
      } catch {
        // As in Clojure, a failing error handler is ignored: the agent goes on.
      }
      return;
    }
    this.failure = { error };
    const rest = this.queue.splice(0);
    for (const item of rest)
      if (typeof item === 'function') this.queue.push(item);
      else item.reject(failedError(error));
  }
}

function failedError(cause: unknown): DiagonError {
  return new DiagonError(
    'stm/agent-failed',
    `the agent failed (${String(cause)}): restartAgent it first`,
    { cause },
  );
}

/** A new agent holding `initial` (checked by the validator, if any). */
export function agent<T>(initial: T, opts?: AgentOptions<T>): Agent<T> {
  return new Agent(initial, opts);
}

/** Queues `action` unless this context's action is still running (then holds it). */
function release<T>(target: Agent<T>, action: Action<T>): void {
  const frame = actionStorage.getStore();
  if (frame?.active) (frame.held ??= []).push(() => target.enqueue(action));
  else target.enqueue(action);
}

/**
 * Dispatches `action` to `target` and returns at once. Held until commit inside `dosync`,
 * and until the current action's state is set inside an agent action. Throws
 * `stm/agent-failed` if the agent has failed.
 */
export function send<T>(target: Agent<T>, action: Action<T>): Agent<T> {
  if (target.failed) throw failedError(target.error);
  const tx = activeAttempt();
  if (tx === undefined) release(target, action);
  else tx.defer(() => release(target, action));
  return target;
}

/** `send`, for actions that wait on I/O (on one event loop they are the same). */
export const sendOff = send;

function refuseToWait(op: string): void {
  if (inDosync())
    throw new DiagonError(
      'stm/await-in-transaction',
      `${op} inside a transaction: waiting is a side effect; await after dosync returns`,
    );
  if (actionStorage.getStore()?.active)
    throw new DiagonError(
      'stm/await-in-action',
      `${op} inside an agent action: it could wait for itself; send another action instead`,
    );
}

/**
 * Resolves once every action dispatched to these agents before this call has run. Rejects
 * with `stm/agent-failed` if one of them fails first. Not inside a transaction or action.
 */
export async function awaitAgents<A extends unknown[]>(
  ...agents: { [K in keyof A]: Agent<A[K]> }
): Promise<void> {
  refuseToWait('awaitAgents');
  await Promise.all(agents.map((a) => a.mark()));
}

/** As awaitAgents, but gives up after `timeoutMs`: resolves true if they got there. */
export async function awaitAgentsFor<A extends unknown[]>(
  timeoutMs: number,
  ...agents: { [K in keyof A]: Agent<A[K]> }
): Promise<boolean> {
  refuseToWait('awaitAgentsFor');
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), timeoutMs);
  });
  try {
    return await Promise.race([Promise.all(agents.map((a) => a.mark())).then(() => true), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Clears a failed agent's error and sets its state; its queued actions run next unless
 * `clearActions`. Throws `stm/agent-not-failed`, or `stm/validator` for a rejected state.
 */
export function restartAgent<T>(
  target: Agent<T>,
  state: T,
  opts: { clearActions?: boolean } = {},
): T {
  if (inDosync())
    throw new DiagonError(
      'stm/io-in-transaction',
      'restartAgent inside a transaction: its body may run several times; restart after it commits',
    );
  target.restart(state, opts.clearActions ?? false);
  return state;
}
