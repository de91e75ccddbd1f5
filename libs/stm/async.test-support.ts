/** Helpers for tests that interleave async work (used by libs/stm and libs/actor tests). */

/** Resolves after one turn of the event loop (after pending I/O and timers callbacks). */
export const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** A promise the test opens when it chooses. */
export function gate(): { open: () => void; opened: Promise<void> } {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { open, opened };
}

/** The error `p` rejects with; throws if it resolves. */
export async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (e) {
    return e;
  }
  throw new Error('expected a rejection');
}
