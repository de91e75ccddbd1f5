/**
 * DataScript's own benchmark data (its repo: bench/datascript/bench/bench.cljc), generated
 * from a seed so that every engine gets the same people and the same trees.
 */
import { rng } from './harness.js';

export interface Person {
  id: string;
  name: string;
  lastName: string;
  fullName: string;
  alias: string[];
  sex: string;
  age: number;
  salary: number;
}

const NAMES = ['Ivan', 'Petr', 'Sergei', 'Oleg', 'Yuri', 'Dmitry', 'Fedor', 'Denis'];
const LAST_NAMES = ['Ivanov', 'Petrov', 'Sidorov', 'Kovalev', 'Kuznetsov', 'Voronoi'];
const ALIASES = [
  'A. C. Q. W.',
  'A. J. Finn',
  'A.A. Fair',
  'Aapeli',
  'Aaron Wolfe',
  'Abigail Van Buren',
  'Jeanne Phillips',
  'Abram Tertz',
  'Abu Nuwas',
  'Acton Bell',
  'Adunis',
];

export function peopleGenerator(seed = 42): () => Person {
  const r = rng(seed);
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(r() * xs.length)]!;
  const int = (n: number) => Math.floor(r() * n);
  let next = 0;
  return () => {
    const name = pick(NAMES);
    const lastName = pick(LAST_NAMES);
    return {
      id: String(++next),
      name,
      lastName,
      fullName: `${name} ${lastName}`,
      alias: Array.from({ length: int(10) }, () => pick(ALIASES)),
      sex: pick([':male', ':female']),
      age: int(100),
      salary: int(100000),
    };
  };
}

/** 20k people in shuffled order, as DataScript's `*people20k`. */
export function people20k(seed = 42): Person[] {
  const gen = peopleGenerator(seed);
  const out = Array.from({ length: 20_000 }, gen);
  const r = rng(seed + 1);
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

/** A person as an entity map, with the id key each engine expects. */
export function personMap(p: Person, idKey: string, id: unknown = p.id): Record<string, unknown> {
  return {
    [idKey]: id,
    name: p.name,
    'last-name': p.lastName,
    'full-name': p.fullName,
    alias: p.alias,
    sex: p.sex,
    age: p.age,
    salary: p.salary,
  };
}

export const BENCH_SCHEMA = {
  follows: { ':db/valueType': ':db.type/ref', ':db/cardinality': ':db.cardinality/many' },
  alias: { ':db/cardinality': ':db.cardinality/many' },
};

/** The tree of `wide-db`: entity `id` follows `width` children, `depth` levels down. */
export function wideTree(
  depth: number,
  width: number,
  idKey: string,
  seed = 7,
): Record<string, unknown>[] {
  const gen = peopleGenerator(seed);
  const out: Record<string, unknown>[] = [];
  const walk = (id: number, d: number) => {
    const man = personMap(gen(), idKey, id);
    if (d > 0) {
      const children = Array.from({ length: width }, (_, i) => id * width + i);
      out.push({ ...man, follows: children });
      for (const c of children) walk(c, d - 1);
    } else out.push(man);
  };
  walk(1, depth);
  return out;
}

/**
 * The chains of `long-db`: `width` chains, each `depth` follows long. Ids start at 1, as
 * the bench's own picture shows (its formula starts at 0, an id DataScript refuses).
 */
export function longChains(depth: number, width: number, idKey: string): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  for (let x = 0; x < width; x++) {
    for (let y = 0; y < depth; y++) {
      const from = x * (depth + 1) + y + 1;
      const to = from + 1;
      out.push({ [idKey]: from, name: 'Ivan', follows: to }, { [idKey]: to, name: 'Ivan' });
    }
  }
  return out;
}
