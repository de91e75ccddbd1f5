/**
 * A bounded mailbox: messages in arrival order, at most `capacity` of them; senders that
 * find it full wait in line (first come, first admitted), so every sender's messages keep
 * their order and a fast sender is slowed to the pace of the actor (backpressure).
 */
import { DiagonError } from '../db/errors.js';

/** A message that may wait for room: `waiting` settles its sender's `tell`. */
export interface Letter {
  waiting: { admit: () => void; refuse: (error: unknown) => void } | undefined;
}

export class Mailbox<T extends Letter> {
  private readonly items: T[] = [];
  private readonly waiters: T[] = [];

  constructor(readonly capacity: number) {
    if (!(Number.isInteger(capacity) && capacity >= 1))
      throw new DiagonError(
        'actor/invalid-options',
        `a mailbox capacity is a whole number >= 1; got ${capacity}`,
        { capacity },
      );
  }

  /** Messages held: in the mailbox and waiting for room. */
  get size(): number {
    return this.items.length + this.waiters.length;
  }

  /** Adds `letter` if there is room and nobody waits before it; says whether it did. */
  offer(letter: T): boolean {
    if (this.items.length >= this.capacity || this.waiters.length > 0) return false;
    this.items.push(letter);
    return true;
  }

  /** Adds `letter` now if it can, else puts it in line for the next free slot. */
  put(letter: T): void {
    if (!this.offer(letter)) this.waiters.push(letter);
  }

  /** The oldest message, admitting the first waiting one into the freed slot. */
  take(): T | undefined {
    const letter = this.items.shift();
    if (letter !== undefined && this.waiters.length > 0) {
      const next = this.waiters.shift()!;
      this.items.push(next);
      next.waiting?.admit();
      next.waiting = undefined;
    }
    return letter;
  }

  /** Removes and returns every message, in order: the mailbox's, then the waiting ones. */
  clear(): T[] {
    return [...this.items.splice(0), ...this.waiters.splice(0)];
  }
}
