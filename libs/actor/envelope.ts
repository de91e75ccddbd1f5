/**
 * A message on its way through an actor: in the mailbox, then handed to `receive` as its
 * `ctx`, with the asker's settle functions when it came from `ask`. One object per
 * message, so a round trip allocates little.
 */
import { DiagonError } from '../db/errors.js';
import type { Actor, Context } from './actor.js';
import type { Letter } from './mailbox.js';
import type { Deadline } from './timeouts.js';

/** One message in the mailbox, and its `ctx` while it is handled. */
export class Envelope<S, M, R> implements Letter, Deadline, Context<S, M, R> {
  waiting: Letter['waiting'];
  /** The ask got its answer, its error, or its timeout. */
  settled = false;
  /** `receive` is still handling this message. */
  open = true;
  replied = false;

  constructor(
    readonly self: Actor<S, M, R>,
    readonly msg: M,
    private readonly resolve: ((reply: R) => void) | undefined,
    private readonly reject: ((error: unknown) => void) | undefined,
    /** 0 for a tell. */
    readonly timeoutMs: number,
  ) {}

  deadline = Number.NaN;

  get asked(): boolean {
    return this.resolve !== undefined;
  }

  reply(value: R): void {
    if (!this.open)
      throw new DiagonError(
        'actor/late-reply',
        `${this.self.name} replied after receive returned: reply before it returns (await inside receive)`,
        { actor: this.self.name },
      );
    if (this.replied)
      throw new DiagonError('actor/already-replied', `${this.self.name} replied twice`, {
        actor: this.self.name,
      });
    this.replied = true;
    if (this.resolve !== undefined && !this.settled) {
      this.settled = true;
      this.resolve(value);
      this.self.answered();
    }
  }

  /** Rejects the ask unless it is settled already; says whether it did. */
  fail(error: unknown): boolean {
    if (this.settled || this.reject === undefined) return false;
    this.settled = true;
    this.reject(error);
    return true;
  }
}
