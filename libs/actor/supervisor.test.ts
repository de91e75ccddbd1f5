import { afterEach, describe, expect, it, vi } from 'vitest';
import { isDiagonError } from '../db/errors.js';
import type { Actor, Behavior } from './actor.js';
import { type Strategy, type Supervisor, supervisor } from './supervisor.js';

// A lost wakeup hangs a test: let it fail in 10 s rather than the default 60.
vi.setConfig({ testTimeout: 10_000 });

type Msg = 'inc' | 'get' | 'boom';

/** A counter whose init is logged, so a test can see which children restarted. */
function counter(name: string, inits: string[]): Behavior<number, Msg, number> {
  return {
    init: () => {
      inits.push(name);
      return 0;
    },
    receive(n, msg, ctx) {
      if (msg === 'boom') throw new Error(`${name} boom`);
      if (msg === 'inc') return n + 1;
      ctx.reply(n);
      return n;
    },
  };
}

async function crash(child: Actor<number, Msg, number>): Promise<void> {
  await expect(child.ask('boom')).rejects.toMatchObject({ code: 'actor/crashed' });
}

async function threeChildren(strategy: Strategy) {
  const inits: string[] = [];
  const sup = supervisor({ strategy, maxRestarts: 5, withinMs: 60_000 });
  const [a, b, c] = ['a', 'b', 'c'].map((n) => sup.spawn(counter(n, inits), { name: n }));
  for (const child of [a!, b!, c!]) for (let i = 0; i < 3; i++) await child.tell('inc');
  await Promise.all([a!.ask('get'), b!.ask('get'), c!.ask('get')]);
  inits.length = 0;
  return { sup, a: a!, b: b!, c: c!, inits };
}

async function states(...actors: Actor<number, Msg, number>[]): Promise<number[]> {
  return Promise.all(actors.map((x) => x.ask('get')));
}

/** Waits (generously: the machine may be loaded) until `sup` has completed `n` restarts. */
async function restarted(sup: Supervisor, n: number): Promise<void> {
  await vi.waitFor(() => expect(sup.restarts).toBe(n), { timeout: 5000, interval: 5 });
}

afterEach(() => {
  vi.useRealTimers();
});

describe('supervisor strategies', () => {
  it('one-for-one restarts only the crashed child, keeping its handle and mailbox', async () => {
    const { sup, a, b, c, inits } = await threeChildren('one-for-one');
    const crashed = crash(b);
    void b.tell('inc'); // queued behind the crash: handled by the restarted child
    await crashed;
    await restarted(sup, 1);
    expect(await states(a, b, c)).toEqual([3, 1, 3]);
    expect(inits).toEqual(['b']);
  });

  it('one-for-all restarts every child', async () => {
    const { sup, a, b, c, inits } = await threeChildren('one-for-all');
    await crash(b);
    await restarted(sup, 1);
    expect(await states(a, b, c)).toEqual([0, 0, 0]);
    expect(inits).toEqual(['a', 'b', 'c']);
  });

  it('rest-for-one restarts the crashed child and those started after it', async () => {
    const { sup, a, b, c, inits } = await threeChildren('rest-for-one');
    await crash(b);
    await restarted(sup, 1);
    expect(await states(a, b, c)).toEqual([3, 0, 0]);
    expect(inits).toEqual(['b', 'c']);
  });
});

describe('restart intensity and escalation', () => {
  it('a top-level supervisor past its intensity halts its tree and reports it in exit', async () => {
    const inits: string[] = [];
    const sup = supervisor({ maxRestarts: 2, withinMs: 60_000, name: 'top' });
    const a = sup.spawn(counter('a', inits), { name: 'a' });
    const other = sup.spawn(counter('other', inits), { name: 'other' });
    await crash(a);
    await crash(a);
    await restarted(sup, 2);
    const fatal = crash(a);
    const pending = a.ask('get'); // queued behind the fatal crash
    await fatal;
    const exit = await sup.exit;
    expect(exit.reason).toBe('crashed');
    const error = exit.reason === 'crashed' ? exit.error : undefined;
    expect(isDiagonError(error, 'actor/restart-intensity')).toBe(true);
    expect((error as { data: { child: string } }).data.child).toBe('a');
    await expect(pending).rejects.toMatchObject({ code: 'actor/stopped' });
    await expect(other.ask('get')).rejects.toMatchObject({ code: 'actor/stopped' });
    expect([sup.status, a.status, other.status]).toEqual(['stopped', 'stopped', 'stopped']);
    expect(await other.exit).toEqual(exit);
  });

  it('counts only the restarts within the window', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(0);
    const sup = supervisor({ maxRestarts: 1, withinMs: 1000 });
    const a = sup.spawn(counter('a', []));
    await crash(a);
    await restarted(sup, 1);
    vi.setSystemTime(1500);
    await crash(a);
    await restarted(sup, 2);
    expect(sup.status).toBe('running');
    vi.setSystemTime(1600);
    await crash(a);
    expect((await sup.exit).reason).toBe('crashed');
  });

  it('a child supervisor past its intensity escalates; its parent restarts its whole subtree', async () => {
    const inits: string[] = [];
    const root = supervisor({ name: 'root', maxRestarts: 5, withinMs: 60_000 });
    const sibling = root.spawn(counter('sibling', inits), { name: 'sibling' });
    const sub: Supervisor = root.supervisor({ name: 'sub', maxRestarts: 1, withinMs: 60_000 });
    const x = sub.spawn(counter('x', inits), { name: 'x' });
    const y = sub.spawn(counter('y', inits), { name: 'y' });
    for (const child of [sibling, x, y]) await child.tell('inc');
    await states(sibling, x, y);
    inits.length = 0;
    await crash(x);
    await restarted(sub, 1);
    expect(inits).toEqual(['x']);
    await crash(x);
    await restarted(root, 1);
    expect(inits).toEqual(['x', 'x', 'y']);
    expect(await states(sibling, x, y)).toEqual([1, 0, 0]);
    expect([root.status, sub.status]).toEqual(['running', 'running']);
    // The restarted subtree has a fresh intensity budget.
    await crash(y);
    await restarted(sub, 2);
    expect(root.restarts).toBe(1);
  });

  it('escalation reaches the top: every level gives up and the root exit reports the chain', async () => {
    const root = supervisor({ name: 'root', maxRestarts: 0 });
    const sub = root.supervisor({ name: 'sub', maxRestarts: 0 });
    const leaf = sub.spawn(counter('leaf', []), { name: 'leaf' });
    await crash(leaf);
    const exit = await root.exit;
    const error = exit.reason === 'crashed' ? exit.error : undefined;
    expect(isDiagonError(error, 'actor/restart-intensity')).toBe(true);
    const cause = (error as { data: { child: string; cause: unknown } }).data;
    expect(cause.child).toBe('sub');
    expect(isDiagonError(cause.cause, 'actor/restart-intensity')).toBe(true);
    expect([sub.status, leaf.status]).toEqual(['stopped', 'stopped']);
  });

  it('an init that keeps throwing uses up the intensity instead of looping', async () => {
    let starts = 0;
    const sup = supervisor({ maxRestarts: 3, withinMs: 60_000 });
    sup
      .spawn<number, Msg, number>({
        init: () => {
          starts++;
          if (starts > 1) throw new Error('cannot start');
          return 0;
        },
        receive: () => {
          throw new Error('crash');
        },
      })
      .tryTell('inc');
    const exit = await sup.exit;
    expect(exit.reason).toBe('crashed');
    expect(starts).toBe(4);
  });
});

describe('stopping', () => {
  it('stop drains every child, last started first, and a stopped child leaves its supervisor', async () => {
    const order: string[] = [];
    const sup = supervisor();
    const kids = ['a', 'b', 'c'].map((name) => {
      const kid = sup.spawn(counter(name, []), { name });
      void kid.exit.then(() => order.push(name));
      return kid;
    });
    for (const kid of kids) void kid.tell('inc');
    await kids[0]!.stop();
    expect(sup.children.map((c) => c.name)).toEqual(['b', 'c']);
    await sup.stop();
    expect(order).toEqual(['a', 'c', 'b']);
    expect(kids.map((k) => k.state)).toEqual([1, 1, 1]);
    expect(await sup.exit).toEqual({ reason: 'stopped' });
    expect(() => sup.spawn(counter('late', []))).toThrow(
      expect.objectContaining({ code: 'actor/stopped' }),
    );
  });

  it('a child that crashes while its supervisor stops is ended, not restarted', async () => {
    const inits: string[] = [];
    const sup = supervisor();
    const a = sup.spawn(counter('a', inits), { name: 'a' });
    await a.ask('get');
    void a.tell('inc');
    const crashed = a.ask('boom');
    const after = a.ask('get');
    await sup.stop();
    await expect(crashed).rejects.toMatchObject({ code: 'actor/crashed' });
    await expect(after).rejects.toMatchObject({ code: 'actor/stopped' });
    expect((await a.exit).reason).toBe('crashed');
    expect(inits).toEqual(['a']);
    expect(a.state).toBe(1);
  });

  it('refuses options that make no sense', () => {
    expect(() => supervisor({ maxRestarts: -1 })).toThrow(
      expect.objectContaining({ code: 'actor/invalid-options' }),
    );
    expect(() => supervisor({ strategy: 'all-for-none' as Strategy })).toThrow(
      expect.objectContaining({ code: 'actor/invalid-options' }),
    );
  });
});
