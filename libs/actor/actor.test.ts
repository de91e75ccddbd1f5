import fc from 'fast-check';
import { describe, expect, it, vi } from 'vitest';
import { isDiagonError } from '../db/errors.js';
import { gate, rejection, tick } from '../stm/async.test-support.js';
import { type Behavior, type Context, MailboxFull, spawn } from './actor.js';

// A lost wakeup hangs a test: let it fail in 10 s rather than the default 60.
vi.setConfig({ testTimeout: 10_000 });

type CounterMsg = { add: number } | 'get' | 'boom';

const counter: Behavior<number, CounterMsg, number> = {
  init: () => 0,
  receive(n, msg, ctx) {
    if (msg === 'boom') throw new Error('boom');
    if (msg === 'get') ctx.reply(n);
    else return n + msg.add;
    return n;
  },
};

describe('actor', () => {
  it('handles tells and asks in order and replies to asks', async () => {
    const a = spawn(counter, { name: 'counter' });
    expect(a.name).toBe('counter');
    await a.tell({ add: 2 });
    a.tryTell({ add: 3 });
    expect(await a.ask('get')).toBe(5);
    expect(a.state).toBe(5);
    expect(a.status).toBe('running');
  });

  it('waits for an async init: messages sent meanwhile are handled after it', async () => {
    const a = spawn<number, CounterMsg, number>({
      init: async () => {
        await tick();
        return 100;
      },
      receive: counter.receive,
    });
    expect(a.status).toBe('starting');
    await a.tell({ add: 1 });
    expect(await a.ask('get')).toBe(101);
  });

  it('keeps each sender’s order through a tiny mailbox and an async receive', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 3 }),
        fc.array(fc.array(fc.integer({ min: 0, max: 2 }), { maxLength: 15 }), {
          minLength: 1,
          maxLength: 4,
        }),
        async (capacity, senders) => {
          const seen: [number, number][] = [];
          const a = spawn<null, [number, number, number]>(
            {
              init: () => null,
              async receive(state, [sender, seq, pause]) {
                if (pause > 0) await tick();
                seen.push([sender, seq]);
                return state;
              },
            },
            { mailbox: capacity },
          );
          await Promise.all(
            senders.map(async (pauses, sender) => {
              // Even senders await each tell; odd ones fire them all at once.
              const sends = pauses.map((pause, seq) => {
                const sent = a.tell([sender, seq, pause]);
                return sender % 2 === 0 ? sent : undefined;
              });
              for (const sent of sends) await sent;
            }),
          );
          await a.stop();
          for (const [sender, pauses] of senders.entries())
            expect(seen.filter(([s]) => s === sender).map(([, seq]) => seq)).toEqual(
              pauses.map((_, seq) => seq),
            );
        },
      ),
      { numRuns: 50 },
    );
  });

  it('backpressure: tell waits while the mailbox is full, tryTell throws MailboxFull', async () => {
    const g = gate();
    const handled: number[] = [];
    const a = spawn<null, number>(
      {
        init: () => null,
        async receive(state, n) {
          if (n === 1) await g.opened;
          handled.push(n);
          return state;
        },
      },
      { mailbox: 2 },
    );
    await a.tell(1);
    await tick(); // 1 is being handled; the mailbox is empty again
    await a.tell(2);
    await a.tell(3);
    let fourIn = false;
    const four = a.tell(4).then(() => {
      fourIn = true;
    });
    let full: unknown;
    try {
      a.tryTell(5);
    } catch (e) {
      full = e;
    }
    expect(full).toBeInstanceOf(MailboxFull);
    expect(isDiagonError(full, 'actor/mailbox-full')).toBe(true);
    await tick();
    await tick();
    expect(fourIn).toBe(false);
    g.open();
    await four;
    await a.stop();
    expect(handled).toEqual([1, 2, 3, 4]);
  });

  it('ask rejects with actor/timeout when the reply is too slow', async () => {
    const g = gate();
    const a = spawn<null, 'slow', string>({
      init: () => null,
      async receive(state, _msg, ctx) {
        await g.opened;
        ctx.reply('late');
        return state;
      },
    });
    const e = await rejection(a.ask('slow', { timeoutMs: 20 }));
    expect(isDiagonError(e, 'actor/timeout')).toBe(true);
    g.open();
    expect(await a.ask('slow', { timeoutMs: 5000 })).toBe('late');
  });

  it('an ask never times out early, and needs a finite timeout', async () => {
    const g = gate();
    const a = spawn<null, 'slow', string>({
      init: () => null,
      async receive(state) {
        await g.opened;
        return state;
      },
    });
    const start = performance.now();
    const e = await rejection(a.ask('slow', { timeoutMs: 30 }));
    expect(isDiagonError(e, 'actor/timeout')).toBe(true);
    expect(performance.now() - start).toBeGreaterThanOrEqual(30);
    for (const timeoutMs of [0, -1, Number.POSITIVE_INFINITY, Number.NaN])
      expect(
        isDiagonError(await rejection(a.ask('slow', { timeoutMs })), 'actor/invalid-options'),
      ).toBe(true);
    g.open();
  });

  it('stop handles what was sent before it, then refuses tell, tryTell and ask', async () => {
    const a = spawn(counter);
    for (let i = 0; i < 5; i++) void a.tell({ add: 1 });
    const stopped = a.stop();
    expect(isDiagonError(await rejection(a.tell({ add: 1 })), 'actor/stopped')).toBe(true);
    await stopped;
    expect(a.state).toBe(5);
    expect(a.status).toBe('stopped');
    expect(await a.exit).toEqual({ reason: 'stopped' });
    expect(isDiagonError(await rejection(a.ask('get')), 'actor/stopped')).toBe(true);
    expect(() => a.tryTell('get')).toThrow(expect.objectContaining({ code: 'actor/stopped' }));
  });

  it('an unsupervised crash rejects that ask with actor/crashed and the queued ones with actor/stopped', async () => {
    const a = spawn(counter);
    const crashed = a.ask('boom');
    const queued = a.ask('get');
    const e = await rejection(crashed);
    expect(isDiagonError(e, 'actor/crashed')).toBe(true);
    expect((e as { data: { cause: Error } }).data.cause.message).toBe('boom');
    expect(await rejection(queued)).toMatchObject({
      code: 'actor/stopped',
      data: { reason: 'crashed' },
    });
    const exit = await a.exit;
    expect(exit.reason).toBe('crashed');
    expect(a.status).toBe('stopped');
  });

  it('an ask handled without a reply rejects with actor/no-reply; a reply after receive throws', async () => {
    let saved: Context<null, string, string> | undefined;
    const a = spawn<null, string, string>({
      init: () => null,
      receive(state, msg, ctx) {
        if (msg === 'save') saved = ctx;
        return state;
      },
    });
    expect(isDiagonError(await rejection(a.ask('nothing')), 'actor/no-reply')).toBe(true);
    await rejection(a.ask('save'));
    expect(() => saved!.reply('late')).toThrow(
      expect.objectContaining({ code: 'actor/late-reply' }),
    );
  });

  it('a second reply crashes the actor with actor/already-replied; the first one stands', async () => {
    const a = spawn<null, string, string>({
      init: () => null,
      receive(state, _msg, ctx) {
        ctx.reply('first');
        ctx.reply('second');
        return state;
      },
    });
    expect(await a.ask('x')).toBe('first');
    const exit = await a.exit;
    expect(exit.reason === 'crashed' && isDiagonError(exit.error, 'actor/already-replied')).toBe(
      true,
    );
  });

  it('refuses a mailbox that cannot hold a message', () => {
    expect(() => spawn(counter, { mailbox: 0 })).toThrow(
      expect.objectContaining({ code: 'actor/invalid-options' }),
    );
  });
});
