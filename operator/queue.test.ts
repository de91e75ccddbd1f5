import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { WorkQueue } from './queue.js';

const tick = () => new Promise((r) => setTimeout(r, 1));

describe('WorkQueue', () => {
  it('never processes one key twice at once, and runs a key added meanwhile once more', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.constantFrom('a', 'b', 'c'), { minLength: 1, maxLength: 30 }),
        async (adds) => {
          const running = new Set<string>();
          const runs: string[] = [];
          let overlap = false;
          const q = new WorkQueue(
            async (k) => {
              if (running.has(k)) overlap = true;
              running.add(k);
              runs.push(k);
              await tick();
              running.delete(k);
            },
            { concurrency: 3 },
          );
          for (const k of adds) {
            q.add(k);
            if (Math.random() < 0.3) await tick();
          }
          await q.drained();
          await q.drained();
          expect(overlap).toBe(false);
          // Every key added is processed at least once after its last add.
          for (const k of new Set(adds)) expect(runs).toContain(k);
          q.stop();
        },
      ),
      { numRuns: 60 },
    );
  });

  it('retries a failing key with growing backoff, and forgets failures after a success', async () => {
    const at: number[] = [];
    let failuresLeft = 3;
    const q = new WorkQueue(
      async () => {
        at.push(performance.now());
        if (failuresLeft-- > 0) throw new Error('not yet');
      },
      { baseBackoffMs: 20, maxBackoffMs: 1000 },
    );
    q.add('k');
    for (let i = 0; i < 100 && at.length < 4; i++) await new Promise((r) => setTimeout(r, 20));
    expect(at).toHaveLength(4);
    const gaps = at.slice(1).map((t, i) => t - at[i]!);
    expect(gaps[1]!).toBeGreaterThan(gaps[0]! * 1.5);
    expect(gaps[2]!).toBeGreaterThan(gaps[1]! * 1.5);
    q.stop();
  });
});
