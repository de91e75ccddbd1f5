/**
 * A small benchmark harness: warm up, then take samples until a time budget is spent,
 * and report the median ms per operation. Benchmarks print numbers; they assert nothing.
 */

export interface Timing {
  msPerOp: number;
  samples: number;
}

export interface MeasureOptions {
  /** Time spent warming up before measuring (default 1000 ms). */
  warmupMs?: number;
  /** Time each sample runs for at least (default 500 ms). */
  sampleMs?: number;
  /** Samples taken (default 5); the median is reported. */
  samples?: number;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1]!;
}

/** Collects garbage between measurements when node runs with --expose-gc (npm run bench does). */
function settle(): void {
  (globalThis as { gc?: () => void }).gc?.();
}

/** Median ms per call of `op` (each call must do the whole operation once). */
export function measure(op: () => unknown, opts: MeasureOptions = {}): Timing {
  settle();
  const warmupMs = opts.warmupMs ?? 1000;
  const sampleMs = opts.sampleMs ?? 500;
  const samples = opts.samples ?? 5;
  const until = performance.now() + warmupMs;
  do op();
  while (performance.now() < until);
  const times: number[] = [];
  for (let s = 0; s < samples; s++) {
    const start = performance.now();
    let n = 0;
    do {
      op();
      n++;
    } while (performance.now() - start < sampleMs);
    times.push((performance.now() - start) / n);
  }
  return { msPerOp: median(times), samples };
}

/**
 * Median ms per call of each op, sampling them in turn (A B A B ...), so that drift in
 * the machine's speed falls on all of them alike: for comparing variants of one thing.
 */
export function measureAlternating(ops: (() => unknown)[], opts: MeasureOptions = {}): Timing[] {
  settle();
  const sampleMs = opts.sampleMs ?? 300;
  const samples = opts.samples ?? 9;
  for (const op of ops) {
    const until = performance.now() + (opts.warmupMs ?? 500);
    do op();
    while (performance.now() < until);
  }
  const times: number[][] = ops.map(() => []);
  for (let s = 0; s < samples; s++) {
    ops.forEach((op, i) => {
      const start = performance.now();
      let n = 0;
      do {
        op();
        n++;
      } while (performance.now() - start < sampleMs);
      times[i]!.push((performance.now() - start) / n);
    });
  }
  return times.map((t) => ({ msPerOp: median(t), samples }));
}

export interface Row {
  name: string;
  baseline: Timing;
  diagon: Timing;
}

function fmt(ms: number): string {
  return ms >= 100 ? ms.toFixed(0) : ms >= 1 ? ms.toFixed(2) : ms.toFixed(4);
}

/** Prints rows as a table: baseline ms/op, Diagon ms/op, and how many times faster Diagon is. */
export function printTable(title: string, baselineName: string, rows: Row[]): void {
  console.log(`\n${title}`);
  const header = ['benchmark', `${baselineName} ms/op`, 'diagon ms/op', 'speedup'];
  const lines = rows.map((r) => [
    r.name,
    fmt(r.baseline.msPerOp),
    fmt(r.diagon.msPerOp),
    `${(r.baseline.msPerOp / r.diagon.msPerOp).toFixed(2)}x`,
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  console.log(line(header));
  for (const l of lines) console.log(line(l));
}

/** A seeded PRNG (mulberry32), so every engine and every run sees the same data. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
