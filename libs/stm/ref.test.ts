import { describe, expect, it, vi } from 'vitest';
import { isDiagonError } from '../db/errors.js';
import { agent, awaitAgents, send } from './agent.js';
import { gate, rejection, tick } from './async.test-support.js';
import { alter, dosync, refSet } from './dosync.js';
import { ref } from './ref.js';

// A lost wakeup hangs a test: let it fail in 10 s rather than the default 60.
vi.setConfig({ testTimeout: 10_000 });

describe('MVCC history', () => {
  it('a read older than the history is a fault: restart, and the history grows', async () => {
    const r = ref(0);
    expect(r.historyCount).toBe(1);
    const readWhileOthersCommit = async (value: number) => {
      const g = gate();
      const seen: number[] = [];
      const reader = dosync(async () => {
        await g.opened;
        seen.push(r.deref());
      });
      await tick();
      await dosync(() => refSet(r, value));
      g.open();
      await reader;
      return seen;
    };
    // No older value to read at the reader's read point: fault, restart, read the new one.
    expect(await readWhileOthersCommit(1)).toEqual([1]);
    await dosync(() => refSet(r, 2));
    expect(r.historyCount).toBe(2);
    // Now the history holds the value as of the read point: a snapshot read, no restart.
    expect(await readWhileOthersCommit(3)).toEqual([2]);
  });

  it('keeps minHistory entries without faults and never more than maxHistory', async () => {
    const r = ref(0, { minHistory: 3, maxHistory: 3 });
    for (let i = 1; i <= 5; i++) await dosync(() => refSet(r, i));
    expect(r.historyCount).toBe(3);
    expect(() => ref(0, { minHistory: 4, maxHistory: 3 })).toThrow(
      expect.objectContaining({ code: 'stm/invalid-history' }),
    );
  });
});

describe('validators and watches', () => {
  it('a rejecting validator aborts the whole transaction: every ref unchanged, no watch, no send', async () => {
    const from = ref(50, { validator: (x) => x >= 0 });
    const to = ref(0);
    const calls: unknown[] = [];
    from.addWatch('w', (...args) => calls.push(args));
    to.addWatch('w', (...args) => calls.push(args));
    const log = agent<string[]>([]);
    const e = await rejection(
      dosync(() => {
        alter(to, (x) => x + 100);
        alter(from, (x) => x - 100);
        send(log, (l) => [...l, 'sent']);
      }),
    );
    expect(isDiagonError(e, 'stm/validator')).toBe(true);
    await awaitAgents(log);
    expect([from.deref(), to.deref(), calls, log.deref()]).toEqual([50, 0, [], []]);
  });

  it('a validator that throws rejects too, and a ref cannot start invalid', async () => {
    const r = ref(1, {
      validator: (x) => {
        if (x > 5) throw new Error('too big');
        return true;
      },
    });
    const e = await rejection(dosync(() => refSet(r, 6)));
    expect(isDiagonError(e, 'stm/validator')).toBe(true);
    expect(r.deref()).toBe(1);
    expect(() => ref(-1, { validator: (x) => x >= 0 })).toThrow(
      expect.objectContaining({ code: 'stm/validator' }),
    );
  });

  it('watches fire once per commit per changed ref with (key, ref, old, new), never for restarts', async () => {
    const a = ref(0);
    const b = ref('');
    const seen: unknown[] = [];
    a.addWatch('wa', (key, r, oldV, newV) => seen.push([key, r === a, oldV, newV]));
    b.addWatch('wb', (key, r, oldV, newV) => seen.push([key, r === b, oldV, newV]));
    const g = gate();
    const holder = dosync(async () => {
      alter(a, (x) => x + 1);
      await g.opened;
    });
    await tick();
    const contender = dosync(() => {
      alter(a, (x) => x + 1);
      alter(a, (x) => x + 1);
      refSet(b, 'x');
    });
    await tick();
    g.open();
    await Promise.all([holder, contender]);
    expect(seen).toEqual([
      ['wa', true, 0, 1],
      ['wa', true, 1, 3],
      ['wb', true, '', 'x'],
    ]);
    expect(a.removeWatch('wa')).toBe(true);
    await dosync(() => alter(a, (x) => x + 1));
    expect(seen).toHaveLength(3);
  });

  it('a throwing watch does not undo the commit: dosync rejects with stm/watch-failed', async () => {
    const a = ref(0);
    const other: number[] = [];
    a.addWatch('bad', () => {
      throw new Error('watch broke');
    });
    a.addWatch('good', (_k, _r, _o, n) => other.push(n));
    const e = await rejection(dosync(() => refSet(a, 1)));
    expect(isDiagonError(e, 'stm/watch-failed')).toBe(true);
    expect(a.deref()).toBe(1);
    expect(other).toEqual([1]);
  });
});
