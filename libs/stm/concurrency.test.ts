/**
 * Property tests: random transactions interleaved at random awaits (microtasks,
 * setImmediate, short timers) keep every invariant a serial execution would.
 */
import fc from 'fast-check';
import { describe, expect, it, vi } from 'vitest';
import { agent, awaitAgents, send } from './agent.js';
import { alter, commute, dosync, ensure } from './dosync.js';
import { ref } from './ref.js';

// A lost wakeup hangs a test: let it fail in 10 s rather than the default 60.
vi.setConfig({ testTimeout: 10_000 });

/** 0: no await, 1: a microtask, 2: a macrotask turn, 3: a timer of up to 2 ms. */
const pauseArb = fc.integer({ min: 0, max: 3 });

async function pause(kind: number): Promise<void> {
  if (kind === 1) await Promise.resolve();
  else if (kind === 2) await new Promise((resolve) => setImmediate(resolve));
  else if (kind === 3) await new Promise((resolve) => setTimeout(resolve, kind - 2));
}

/** A livelock fails fast with stm/retry-limit instead of hanging the run. */
const LIVELOCK_GUARD = { retryLimit: 1000 };

const REFS = 5;
const INITIAL = 100;

const transferArb = fc.record({
  from: fc.nat(REFS - 1),
  to: fc.nat(REFS - 1),
  amount: fc.integer({ min: 1, max: 30 }),
  pauses: fc.tuple(pauseArb, pauseArb, pauseArb),
  ensures: fc.subarray([...Array(REFS).keys()]),
});

describe('concurrent transactions', () => {
  it('conserve the total across random interleaved transfers, and every snapshot sees it', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(transferArb, { minLength: 1, maxLength: 12 }),
        fc.array(fc.array(pauseArb, { minLength: REFS, maxLength: REFS }), { maxLength: 4 }),
        async (transfers, readers) => {
          const accounts = Array.from({ length: REFS }, () => ref(INITIAL));
          const transfer = (t: (typeof transfers)[number]) =>
            dosync(async () => {
              await pause(t.pauses[0]);
              const available = accounts[t.from]!.deref();
              await pause(t.pauses[1]);
              alter(accounts[t.from]!, (x) => x - Math.min(t.amount, available));
              await pause(t.pauses[2]);
              alter(accounts[t.to]!, (x) => x + Math.min(t.amount, available));
            }, LIVELOCK_GUARD);
          const snapshot = (pauses: number[]) =>
            dosync(async () => {
              let sum = 0;
              for (const [i, account] of accounts.entries()) {
                sum += account.deref();
                await pause(pauses[i]!);
              }
              return sum;
            }, LIVELOCK_GUARD);
          const sums = await Promise.all([...transfers.map(transfer), ...readers.map(snapshot)]);
          for (const sum of sums.slice(transfers.length)) expect(sum).toBe(REFS * INITIAL);
          const total = accounts.reduce((s, a) => s + a.deref(), 0);
          expect(total).toBe(REFS * INITIAL);
          for (const a of accounts) expect(a.deref()).toBeGreaterThanOrEqual(0);
        },
      ),
      { numRuns: 60 },
    );
  });

  it('commit in an order that a serial replay of their reads and writes reproduces', async () => {
    interface Committed {
      reads: Map<number, number>;
      writes: Map<number, number>;
    }
    await fc.assert(
      fc.asyncProperty(
        fc.array(transferArb, { minLength: 1, maxLength: 12 }),
        async (transfers) => {
          const accounts = Array.from({ length: REFS }, () => ref(INITIAL));
          const commits = ref(0);
          // Sends inside dosync are dispatched at commit, in commit order: the log.
          const log = agent<Committed[]>([]);
          await Promise.all(
            transfers.map((t) =>
              dosync(async () => {
                const reads = new Map<number, number>();
                const writes = new Map<number, number>();
                for (const i of t.ensures) reads.set(i, ensure(accounts[i]!));
                // Plain reads from the snapshot, written later: serializable only if no
                // one committed these refs in between (the write restarts otherwise).
                for (const i of [t.from, t.to])
                  if (!reads.has(i)) reads.set(i, accounts[i]!.deref());
                await pause(t.pauses[0]);
                const write = (i: number, delta: number) =>
                  alter(accounts[i]!, (x) => {
                    writes.set(i, x + delta);
                    return x + delta;
                  });
                write(t.from, -t.amount);
                await pause(t.pauses[1]);
                write(t.to, t.amount);
                await pause(t.pauses[2]);
                commute(commits, (n) => n + 1);
                send(log, (l) => [...l, { reads, writes }]);
              }, LIVELOCK_GUARD),
            ),
          );
          await awaitAgents(log);
          const committed = log.deref();
          expect(committed).toHaveLength(transfers.length);
          expect(commits.deref()).toBe(transfers.length);
          const state = Array<number>(REFS).fill(INITIAL);
          for (const { reads, writes } of committed) {
            for (const [i, v] of reads) expect(v).toBe(state[i]);
            for (const [i, v] of writes) state[i] = v;
          }
          expect(accounts.map((a) => a.deref())).toEqual(state);
        },
      ),
      { numRuns: 60 },
    );
  });
});
