/**
 * bench/stm — libs/stm and libs/actor against the plain JS they replace, in one process:
 *
 * - uncontended `dosync` over 1 and 10 refs vs the same updates under an async mutex (a
 *   promise chain);
 * - 50 concurrent transactions on one ref, each awaiting inside, vs 50 concurrent
 *   critical sections under the mutex (commits/s, and the retries STM paid);
 * - actor `ask` round trips vs a bare promise round trip.
 *
 * Each row alternates baseline and Diagon samples, so both see the same machine load.
 * AsyncLocalStorage (which dosync needs) turns on Node's promise hooks for the whole
 * process the first time it is used, and every promise costs more from then on. So the
 * baselines are measured twice: before any transaction ran (as in a process without
 * AsyncLocalStorage) and after (the conditions the STM runs in; a process that uses
 * AsyncLocalStorage anyway, e.g. for OpenTelemetry context, pays it already).
 */
import { spawn } from '../libs/actor/index.js';
import { alter, dosync, type Ref, ref } from '../libs/stm/index.js';
import { printTable, type Row, type Timing } from './harness.js';

const SAMPLES = 7;
const SAMPLE_MS = 200;
const WARMUP_MS = 300;
/** Sequential operations per measured op, so the table shows readable figures. */
const BATCH = 1000;
const CONCURRENT = 50;

type AsyncOp = () => Promise<unknown>;

async function sample(op: AsyncOp, ms: number): Promise<number> {
  const start = performance.now();
  let n = 0;
  do {
    await op();
    n++;
  } while (performance.now() - start < ms);
  return (performance.now() - start) / n;
}

function median(xs: number[]): number {
  return [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
}

/**
 * `measure` (harness.ts) for two async operations at once: warm both up, then alternate
 * their samples; the median ms per op of each.
 */
async function measurePair(baseline: AsyncOp, diagon: AsyncOp): Promise<[Timing, Timing]> {
  (globalThis as { gc?: () => void }).gc?.();
  await sample(baseline, WARMUP_MS);
  await sample(diagon, WARMUP_MS);
  const times: [number[], number[]] = [[], []];
  for (let s = 0; s < SAMPLES; s++) {
    times[0].push(await sample(baseline, SAMPLE_MS));
    times[1].push(await sample(diagon, SAMPLE_MS));
  }
  return [
    { msPerOp: median(times[0]), samples: SAMPLES },
    { msPerOp: median(times[1]), samples: SAMPLES },
  ];
}

async function measureOne(op: AsyncOp): Promise<Timing> {
  return (await measurePair(op, op))[0];
}

/** One measured op: `op` BATCH times, each awaited before the next. */
function batched(op: AsyncOp): () => Promise<void> {
  return async () => {
    for (let i = 0; i < BATCH; i++) await op();
  };
}

/** The baseline's lock: each critical section starts when the previous one settled. */
class Mutex {
  private tail: Promise<unknown> = Promise.resolve();

  run<T>(fn: () => T | Promise<T>): Promise<T> {
    const result = this.tail.then(fn);
    this.tail = result.then(
      () => undefined,
      () => undefined,
    );
    return result;
  }
}

const inc = (x: number) => x + 1;
const yieldOnce = () => Promise.resolve();

export async function run(): Promise<Row[]> {
  const mutex = new Mutex();
  const box = { one: 0, ten: new Array<number>(10).fill(0) };
  const mutexOne = batched(() => mutex.run(() => void box.one++));
  const mutexTen = batched(() =>
    mutex.run(() => {
      for (let i = 0; i < 10; i++) box.ten[i]!++;
    }),
  );
  const mutexContended = () =>
    Promise.all(
      Array.from({ length: CONCURRENT }, () =>
        mutex.run(async () => {
          const v = box.one;
          await yieldOnce();
          box.one = v + 1;
        }),
      ),
    );

  const one = ref(0);
  const ten: Ref<number>[] = Array.from({ length: 10 }, () => ref(0));
  let attempts = 0;
  let batches = 0;
  const stmOne = batched(() => dosync(() => alter(one, inc)));
  const stmTen = batched(() =>
    dosync(() => {
      for (const r of ten) alter(r, inc);
    }),
  );
  const stmContended = () => {
    batches++;
    return Promise.all(
      Array.from({ length: CONCURRENT }, () =>
        dosync(async () => {
          attempts++;
          const v = alter(one, inc);
          await yieldOnce();
          return v;
        }),
      ),
    );
  };

  const echo = spawn<number, number, number>(
    {
      init: () => 0,
      receive(n, msg, ctx) {
        ctx.reply(msg);
        return n + 1;
      },
    },
    { name: 'echo' },
  );
  const promise = batched(() => new Promise((resolve) => resolve(1)));
  const ask = batched(() => echo.ask(1));

  // Before any transaction: no promise hooks yet.
  const askBefore = await measurePair(promise, ask);
  const mutexBefore = {
    one: await measureOne(mutexOne),
    ten: await measureOne(mutexTen),
    contended: await measureOne(mutexContended),
  };

  const [mutexOneAls, stmOneAls] = await measurePair(mutexOne, stmOne);
  const [mutexTenAls, stmTenAls] = await measurePair(mutexTen, stmTen);
  const [mutexContendedAls, stmContendedAls] = await measurePair(mutexContended, stmContended);
  const askAfter = await measurePair(promise, ask);
  await echo.stop();

  const stmRows: Row[] = [
    { name: 'dosync, 1 ref', baseline: mutexOneAls, diagon: stmOneAls },
    { name: 'dosync, 10 refs', baseline: mutexTenAls, diagon: stmTenAls },
    {
      name: `${CONCURRENT} concurrent, 1 ref, await inside`,
      baseline: mutexContendedAls,
      diagon: stmContendedAls,
    },
  ];
  printTable(
    `bench/stm: dosync vs an async mutex, same process state (ms per ${BATCH} sequential commits, or per ${CONCURRENT} concurrent ones)`,
    'mutex',
    stmRows,
  );
  const perSec = (t: Timing, n = BATCH) => Math.round((n * 1000) / t.msPerOp).toLocaleString('en');
  console.log(
    `  commits/s: 1 ref ${perSec(stmOneAls)}, 10 refs ${perSec(stmTenAls)}, contended ${perSec(stmContendedAls, CONCURRENT)}` +
      `; contended retries: ${((attempts - batches * CONCURRENT) / batches).toFixed(1)} per ${CONCURRENT} commits`,
  );
  const beforeRows: Row[] = [
    { name: 'dosync, 1 ref', baseline: mutexBefore.one, diagon: stmOneAls },
    { name: 'dosync, 10 refs', baseline: mutexBefore.ten, diagon: stmTenAls },
    {
      name: `${CONCURRENT} concurrent, 1 ref, await inside`,
      baseline: mutexBefore.contended,
      diagon: stmContendedAls,
    },
  ];
  printTable(
    'bench/stm: the same dosync figures vs the mutex measured before AsyncLocalStorage was on',
    'mutex',
    beforeRows,
  );

  const actorRows: Row[] = [
    { name: 'ask, before AsyncLocalStorage', baseline: askBefore[0], diagon: askBefore[1] },
    { name: 'ask, with AsyncLocalStorage on', baseline: askAfter[0], diagon: askAfter[1] },
  ];
  printTable(
    `bench/stm: actor ask vs a bare promise round trip (ms per ${BATCH} round trips)`,
    'promise',
    actorRows,
  );
  console.log(
    `  asks/s: ${perSec(askBefore[1])} before, ${perSec(askAfter[1])} with AsyncLocalStorage`,
  );
  return [...stmRows, ...beforeRows, ...actorRows];
}
