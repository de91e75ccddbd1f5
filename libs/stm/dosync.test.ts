import { describe, expect, it, vi } from 'vitest';
import { isDiagonError } from '../db/errors.js';
import { gate, rejection, tick } from './async.test-support.js';
import { alter, commute, dosync, ensure, inDosync, io, refSet } from './dosync.js';
import { type Ref, ref } from './ref.js';

// A lost wakeup hangs a test: let it fail in 10 s rather than the default 60.
vi.setConfig({ testTimeout: 10_000 });

describe('dosync', () => {
  it('commits every change at once and returns the body result', async () => {
    const a = ref(1);
    const b = ref(2);
    const result = await dosync(async () => {
      alter(a, (x) => x + 10);
      await tick();
      refSet(b, 20);
      return a.deref() + b.deref();
    });
    expect(result).toBe(31);
    expect([a.deref(), b.deref()]).toEqual([11, 20]);
  });

  it('keeps writes invisible outside until commit', async () => {
    const a = ref(0);
    const g = gate();
    const tx = dosync(async () => {
      alter(a, () => 5);
      await g.opened;
    });
    await tick();
    expect(a.deref()).toBe(0);
    g.open();
    await tx;
    expect(a.deref()).toBe(5);
  });

  it('joins the outer transaction when nested, so an outer failure undoes the inner write', async () => {
    const a = ref(0);
    const inner = await dosync(async () => {
      const r = await dosync(async () => alter(a, (x) => x + 1));
      expect(a.deref()).toBe(1);
      return r;
    });
    expect(inner).toBe(1);
    const boom = new Error('outer fails');
    const e = await rejection(
      dosync(async () => {
        await dosync(() => alter(a, (x) => x + 1));
        throw boom;
      }),
    );
    expect(e).toBe(boom);
    expect(a.deref()).toBe(1);
  });

  it('aborts on a body error: nothing committed, the error itself rejects dosync', async () => {
    const a = ref('x');
    const boom = new Error('boom');
    const e = await rejection(
      dosync(() => {
        refSet(a, 'y');
        throw boom;
      }),
    );
    expect(e).toBe(boom);
    expect(a.deref()).toBe('x');
  });

  it('refuses ref writes outside a transaction (stm/no-transaction)', () => {
    const a = ref(0);
    for (const op of [
      () => alter(a, (x) => x + 1),
      () => refSet(a, 1),
      () => commute(a, (x) => x + 1),
      () => ensure(a),
    ])
      expect(() => op()).toThrow(expect.objectContaining({ code: 'stm/no-transaction' }));
    expect(a.deref()).toBe(0);
  });

  it('io runs outside a transaction and throws stm/io-in-transaction inside one', async () => {
    expect(io(() => 7)).toBe(7);
    let ran = false;
    const e = await rejection(
      dosync(() =>
        io(() => {
          ran = true;
        }),
      ),
    );
    expect(isDiagonError(e, 'stm/io-in-transaction')).toBe(true);
    expect(ran).toBe(false);
    expect(inDosync()).toBe(false);
    expect(await dosync(() => inDosync())).toBe(true);
  });

  it('refuses alter after commute of the same ref (stm/set-after-commute)', async () => {
    const a = ref(0);
    const e = await rejection(
      dosync(() => {
        commute(a, (x) => x + 1);
        alter(a, (x) => x + 1);
      }),
    );
    expect(isDiagonError(e, 'stm/set-after-commute')).toBe(true);
    expect(a.deref()).toBe(0);
  });

  it('gives up with stm/retry-limit when every attempt conflicts', async () => {
    const a = ref(0);
    // Created outside any transaction, so its commits are other transactions.
    const writer = setInterval(() => void dosync(() => alter(a, (x) => x + 1)), 1);
    let runs = 0;
    try {
      const e = await rejection(
        dosync(
          async () => {
            runs++;
            const seen = a.deref();
            await new Promise((resolve) => setTimeout(resolve, 4));
            refSet(a, seen - 1000);
          },
          { retryLimit: 5 },
        ),
      );
      expect(isDiagonError(e, 'stm/retry-limit')).toBe(true);
      expect(runs).toBe(5);
      expect(a.deref()).toBeGreaterThanOrEqual(5);
    } finally {
      clearInterval(writer);
    }
  });

  it('restarts a body that swallowed its restart instead of committing it', async () => {
    const a = ref(0);
    const g = gate();
    const holder = dosync(async () => {
      alter(a, (x) => x + 1);
      await g.opened;
    });
    await tick();
    let runs = 0;
    const swallower = dosync(() => {
      runs++;
      try {
        alter(a, (x) => x + 100);
      } catch {
        return 'swallowed';
      }
      return 'wrote';
    });
    await tick();
    g.open();
    await holder;
    expect(await swallower).toBe('wrote');
    expect(runs).toBe(2);
    expect(a.deref()).toBe(101);
  });
});

describe('write-write conflicts: first writer wins, the other restarts after it', () => {
  async function race(first: 'a' | 'b'): Promise<{ value: number; runs: Record<string, number> }> {
    const r = ref(1);
    const g = gate();
    const runs = { a: 0, b: 0 };
    const bodies = {
      // a: +1, then waits, then +10; b: doubles.
      a: async () => {
        runs.a++;
        alter(r, (x) => x + 1);
        await g.opened;
        alter(r, (x) => x + 10);
      },
      b: async () => {
        runs.b++;
        alter(r, (x) => x * 2);
        await g.opened;
      },
    };
    const second = first === 'a' ? 'b' : 'a';
    const p1 = dosync(bodies[first]);
    const p2 = dosync(bodies[second]);
    await tick();
    expect(r.deref()).toBe(1);
    expect(runs[second]).toBe(1);
    g.open();
    await Promise.all([p1, p2]);
    return { value: r.deref(), runs };
  }

  it('a writes first: b waits for a to commit, then runs again on its result', async () => {
    expect(await race('a')).toEqual({ value: 24, runs: { a: 1, b: 2 } });
  });

  it('b writes first: a waits for b to commit, then runs again on its result', async () => {
    expect(await race('b')).toEqual({ value: 13, runs: { a: 2, b: 1 } });
  });

  it('an older transaction barges a younger holder: the younger restarts after it', async () => {
    const r = ref(1);
    const g = gate();
    const runs = { older: 0, younger: 0 };
    const older = dosync(async () => {
      runs.older++;
      await g.opened;
      alter(r, (x) => x + 1);
    });
    const younger = dosync(async () => {
      runs.younger++;
      alter(r, (x) => x * 10);
      await g.opened;
    });
    await tick();
    g.open();
    await Promise.all([older, younger]);
    expect(runs).toEqual({ older: 1, younger: 2 });
    expect(r.deref()).toBe(20);
  });

  it('waiting transactions run again one at a time, each restarting once (no thundering herd)', async () => {
    const r = ref(0);
    let attempts = 0;
    await Promise.all(
      Array.from({ length: 20 }, () =>
        dosync(async () => {
          attempts++;
          alter(r, (x) => x + 1);
          await tick();
        }),
      ),
    );
    expect(r.deref()).toBe(20);
    expect(attempts).toBe(20 + 19);
  });

  it('a write to a ref committed after the read point restarts at once', async () => {
    const r = ref(0);
    const g = gate();
    let runs = 0;
    const reader = dosync(async () => {
      runs++;
      const seen = r.deref();
      await g.opened;
      refSet(r, seen + 1);
    });
    await tick();
    await dosync(() => refSet(r, 10));
    g.open();
    await reader;
    expect(runs).toBe(2);
    expect(r.deref()).toBe(11);
  });
});

describe('commute', () => {
  it('re-applies its function at commit on the newest value without restarting', async () => {
    const counter = ref(0);
    const g = gate();
    let runs = 0;
    const tx = dosync(async () => {
      runs++;
      expect(commute(counter, (x) => x + 1)).toBe(1);
      await g.opened;
    });
    await tick();
    await dosync(() => alter(counter, (x) => x + 10));
    g.open();
    await tx;
    expect(runs).toBe(1);
    expect(counter.deref()).toBe(11);
  });

  it('restarts at commit when another transaction holds the ref', async () => {
    const counter = ref(0);
    const g = gate();
    const holder = dosync(async () => {
      alter(counter, (x) => x + 10);
      await g.opened;
    });
    await tick();
    let runs = 0;
    const commuter = dosync(() => {
      runs++;
      commute(counter, (x) => x + 1);
    });
    await tick();
    expect(counter.deref()).toBe(0);
    g.open();
    await Promise.all([holder, commuter]);
    expect(runs).toBe(2);
    expect(counter.deref()).toBe(11);
  });
});

describe('ensure and write skew', () => {
  /**
   * The classic write skew: Alice and Bob are on call and each may go off call if the
   * other is still on. Both read both, then each writes only its own ref. Snapshot
   * isolation lets both commit (nobody on call); `ensure` on the other doctor makes one
   * of them restart, see the other gone, and stay.
   */
  async function twoDoctors(read: (r: Ref<boolean>) => boolean): Promise<boolean[]> {
    const alice = ref(true);
    const bob = ref(true);
    const goOffCall = (me: Ref<boolean>, other: Ref<boolean>) =>
      dosync(async () => {
        const otherOn = read(other);
        const meOn = me.deref();
        await tick();
        if (otherOn && meOn) refSet(me, false);
      });
    await Promise.all([goOffCall(alice, bob), goOffCall(bob, alice)]);
    return [alice.deref(), bob.deref()];
  }

  it('plain reads allow write skew: both doctors go off call', async () => {
    expect(await twoDoctors((r) => r.deref())).toEqual([false, false]);
  });

  it('ensure prevents write skew: exactly one doctor stays on call', async () => {
    const onCall = await twoDoctors((r) => ensure(r));
    expect(onCall.filter(Boolean)).toHaveLength(1);
  });

  it('ensure keeps writers out until the ensuring transaction ends', async () => {
    const r = ref(0);
    const g = gate();
    const ensurer = dosync(async () => {
      ensure(r);
      await g.opened;
    });
    await tick();
    let runs = 0;
    const writer = dosync(() => {
      runs++;
      alter(r, (x) => x + 1);
    });
    await tick();
    expect(r.deref()).toBe(0);
    g.open();
    await Promise.all([ensurer, writer]);
    expect(runs).toBe(2);
    expect(r.deref()).toBe(1);
  });

  it('many transactions that ensure every ref and write one all commit (no livelock)', async () => {
    const refs = [ref(0), ref(0), ref(0)];
    await Promise.all(
      Array.from({ length: 12 }, (_, i) =>
        dosync(
          async () => {
            for (const r of refs) ensure(r);
            await tick();
            alter(refs[i % 3]!, (x) => x + 1);
          },
          { retryLimit: 200 },
        ),
      ),
    );
    expect(refs.map((r) => r.deref())).toEqual([4, 4, 4]);
  });
});
