import { describe, expect, it, vi } from 'vitest';
import { isDiagonError } from '../db/errors.js';
import { agent, awaitAgents, awaitAgentsFor, restartAgent, send, sendOff } from './agent.js';
import { rejection, tick } from './async.test-support.js';
import { alter, dosync } from './dosync.js';
import { ref } from './ref.js';

// A lost wakeup hangs a test: let it fail in 10 s rather than the default 60.
vi.setConfig({ testTimeout: 10_000 });

describe('agents', () => {
  it('send returns at once; actions run later, one at a time, in dispatch order', async () => {
    const a = agent<number[]>([]);
    let running = 0;
    let maxRunning = 0;
    const slow = (n: number) => async (xs: number[]) => {
      running++;
      maxRunning = Math.max(maxRunning, running);
      await new Promise((resolve) => setTimeout(resolve, n % 3));
      running--;
      return [...xs, n];
    };
    for (let n = 0; n < 10; n++) (n % 2 === 0 ? send : sendOff)(a, slow(n));
    expect(a.deref()).toEqual([]);
    await awaitAgents(a);
    expect(a.deref()).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(maxRunning).toBe(1);
  });

  it('holds sends made in dosync until commit', async () => {
    const a = agent(0);
    let release!: () => void;
    const tx = dosync(async () => {
      send(a, (x) => x + 1);
      await new Promise<void>((resolve) => {
        release = resolve;
      });
    });
    await tick();
    await tick();
    expect(a.deref()).toBe(0);
    release();
    await tx;
    await awaitAgents(a);
    expect(a.deref()).toBe(1);
  });

  it('drops sends of attempts that restart or abort', async () => {
    const a = agent(0);
    const r = ref(0);
    let runs = 0;
    let release!: () => void;
    const holder = dosync(async () => {
      alter(r, (x) => x + 1);
      await new Promise<void>((resolve) => {
        release = resolve;
      });
    });
    await tick();
    const contender = dosync(() => {
      runs++;
      send(a, (x) => x + 1);
      alter(r, (x) => x + 1);
    });
    await tick();
    release();
    await Promise.all([holder, contender]);
    const boom = new Error('abort');
    await expect(
      dosync(() => {
        send(a, (x) => x + 100);
        throw boom;
      }),
    ).rejects.toBe(boom);
    await awaitAgents(a);
    expect(runs).toBe(2);
    expect(a.deref()).toBe(1);
  });

  it('holds sends made in an action until its new state is set', async () => {
    const source = agent(0);
    const copy = agent<number[]>([]);
    send(source, async (x) => {
      send(copy, (seen) => [...seen, source.deref()]);
      await tick();
      await tick();
      return x + 1;
    });
    await awaitAgents(source);
    await awaitAgents(copy);
    expect(copy.deref()).toEqual([1]);
  });

  it("errorMode 'fail' keeps the error, refuses sends, and resumes after restartAgent", async () => {
    const a = agent(0);
    const boom = new Error('boom');
    send(a, () => {
      throw boom;
    });
    send(a, (x) => x + 1);
    const e = await rejection(awaitAgents(a));
    expect(isDiagonError(e, 'stm/agent-failed')).toBe(true);
    expect(a.failed).toBe(true);
    expect(a.error).toBe(boom);
    expect(() => send(a, (x) => x + 1)).toThrow(
      expect.objectContaining({ code: 'stm/agent-failed' }),
    );
    expect(a.deref()).toBe(0);
    expect(() => restartAgent(a, -1)).not.toThrow();
    await awaitAgents(a);
    expect(a.deref()).toBe(0);
    expect(a.failed).toBe(false);
    expect(() => restartAgent(a, 5)).toThrow(
      expect.objectContaining({ code: 'stm/agent-not-failed' }),
    );
  });

  it('restartAgent with clearActions drops the queued actions', async () => {
    const a = agent(0);
    send(a, () => {
      throw new Error('boom');
    });
    send(a, (x) => x + 1);
    await rejection(awaitAgents(a));
    restartAgent(a, 10, { clearActions: true });
    await awaitAgents(a);
    expect(a.deref()).toBe(10);
  });

  it("errorMode 'continue' calls the handler and goes on; a validator rejection is an error", async () => {
    const errors: unknown[] = [];
    const a = agent(0, {
      validator: (x) => x < 100,
      errorHandler: (ag, e) => {
        expect(ag).toBe(a);
        errors.push(e);
      },
    });
    expect(a.errorMode).toBe('continue');
    send(a, (x) => x + 1);
    send(a, () => {
      throw new Error('first');
    });
    send(a, () => 1000);
    send(a, (x) => x + 1);
    await awaitAgents(a);
    expect(a.deref()).toBe(2);
    expect(a.failed).toBe(false);
    expect(errors.map((e) => (e instanceof Error ? e.message : e))).toEqual([
      'first',
      'the validator rejected the new value',
    ]);
  });

  it('awaitAgents waits for what was dispatched before it, and refuses inside dosync', async () => {
    const a = agent(0);
    const b = agent('');
    send(a, async (x) => {
      await new Promise((resolve) => setTimeout(resolve, 5));
      return x + 1;
    });
    send(b, (s) => `${s}b`);
    await awaitAgents(a, b);
    expect([a.deref(), b.deref()]).toEqual([1, 'b']);
    const e = await rejection(dosync(() => awaitAgents(a)));
    expect(isDiagonError(e, 'stm/await-in-transaction')).toBe(true);
    const inAction: unknown[] = [];
    send(a, (x) => {
      awaitAgents(b).catch((err) => inAction.push(err));
      return x;
    });
    await awaitAgents(a);
    expect(isDiagonError(inAction[0], 'stm/await-in-action')).toBe(true);
  });

  it('awaitAgentsFor gives up after its timeout', async () => {
    const a = agent(0);
    let release!: () => void;
    send(a, async (x) => {
      await new Promise<void>((resolve) => {
        release = resolve;
      });
      return x + 1;
    });
    expect(await awaitAgentsFor(20, a)).toBe(false);
    release();
    expect(await awaitAgentsFor(5000, a)).toBe(true);
    expect(a.deref()).toBe(1);
  });

  it('watches see each new state', async () => {
    const a = agent(0);
    const seen: number[][] = [];
    a.addWatch('w', (_k, _a, oldV, newV) => seen.push([oldV, newV]));
    send(a, (x) => x + 1);
    send(a, (x) => x + 2);
    await awaitAgents(a);
    expect(seen).toEqual([
      [0, 1],
      [1, 3],
    ]);
  });
});
