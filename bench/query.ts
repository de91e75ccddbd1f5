/**
 * bench/query — DataScript's query benchmarks on DataScript 1.8.1 and libs/db in the same
 * process, EDN strings as input to both: q1–q4, q2-swapped, qpred1/2, the rule benchmarks
 * over the wide and long follow graphs, and pull in :find.
 */
import ds from 'datascript';
import { emptyDb, q } from '../libs/db/index.js';
import { BENCH_SCHEMA, longChains, people20k, personMap, wideTree } from './data.js';
import { measure, measureAlternating, printTable, type Row } from './harness.js';

/** A query for both engines: DataScript's JS API names attributes with strings. */
function both(edn: string): [string, string] {
  return [
    edn.replace(/:([a-z][\w-]*)(?=[\s\]])/g, (m, a) =>
      ['find', 'in', 'where', 'keys'].includes(a) ? m : `"${a}"`,
    ),
    edn,
  ];
}

const RULES =
  '[[(follows ?x ?y) [?x :follows ?y]] [(follows ?x ?y) [?x :follows ?t] (follows ?t ?y)]]';

export function run(): Row[] {
  const people = people20k();
  const dsDb = ds.db_with(
    ds.empty_db(BENCH_SCHEMA),
    people.map((p) => personMap(p, ':db/id')),
  );
  const dgDb = emptyDb(BENCH_SCHEMA).with(people.map((p) => personMap(p, 'db/id'))).dbAfter;
  const rows: Row[] = [];
  const one = (name: string, edn: string, ...inputs: unknown[]) => {
    const [dsQ, dgQ] = both(edn);
    const dsN = (ds.q(dsQ, dsDb, ...inputs) as unknown[]).length;
    const dgN = (q(dgQ, dgDb, ...inputs) as unknown[]).length;
    if (dsN !== dgN) throw new Error(`${name}: DataScript found ${dsN} rows, libs/db ${dgN}`);
    // Sampled in turn, so drift in the machine's speed falls on both engines alike.
    const [baseline, diagon] = measureAlternating([
      () => ds.q(dsQ, dsDb, ...inputs),
      () => q(dgQ, dgDb, ...inputs),
    ]);
    rows.push({ name: `${name} (${dgN} rows)`, baseline: baseline!, diagon: diagon! });
  };
  one('q1', '[:find ?e :where [?e :name "Ivan"]]');
  one('q2', '[:find ?e ?a :where [?e :name "Ivan"] [?e :age ?a]]');
  one('q2-swapped', '[:find ?e ?a :where [?e :age ?a] [?e :name "Ivan"]]');
  one('q3', '[:find ?e ?a :where [?e :name "Ivan"] [?e :age ?a] [?e :sex ":male"]]');
  one(
    'q4',
    '[:find ?e ?l ?a :where [?e :name "Ivan"] [?e :last-name ?l] [?e :age ?a] [?e :sex ":male"]]',
  );
  one('qpred1', '[:find ?e ?s :where [?e :salary ?s] [(> ?s 50000)]]');
  one('qpred2', '[:find ?e ?s :in $ ?min_s :where [?e :salary ?s] [(> ?s ?min_s)]]', 50000);

  const rule = (
    name: string,
    dsGraph: ReturnType<typeof ds.empty_db>,
    dgGraph: ReturnType<typeof emptyDb>,
  ) => {
    const [dsQ, dgQ] = both('[:find ?e ?e2 :in $ % :where (follows ?e ?e2)]');
    const [dsRules, dgRules] = both(RULES);
    const dsN = (ds.q(dsQ, dsGraph, dsRules) as unknown[]).length;
    const dgN = (q(dgQ, dgGraph, dgRules) as unknown[]).length;
    if (dsN !== dgN) throw new Error(`${name}: DataScript found ${dsN} rows, libs/db ${dgN}`);
    rows.push({
      name: `${name} (${dgN} rows)`,
      baseline: measure(() => ds.q(dsQ, dsGraph, dsRules)),
      diagon: measure(() => q(dgQ, dgGraph, dgRules)),
    });
  };
  const graph = (data: (key: string) => Record<string, unknown>[]) =>
    [
      ds.db_with(ds.empty_db(BENCH_SCHEMA), data(':db/id')),
      emptyDb(BENCH_SCHEMA).with(data('db/id')).dbAfter,
    ] as const;
  for (const [d, w] of [
    [3, 3],
    [5, 3],
    [7, 3],
    [4, 6],
  ] as const) {
    rule(`rules-wide-${d}x${w}`, ...graph((k) => wideTree(d, w, k)));
  }
  for (const [d, w] of [
    [10, 3],
    [30, 3],
    [30, 5],
  ] as const) {
    rule(`rules-long-${d}x${w}`, ...graph((k) => longChains(d, w, k)));
  }
  one('pull-in-find', '[:find (pull ?e [:name :last-name :age]) :where [?e :name "Ivan"]]');

  printTable(
    'bench/query: DataScript 1.8.1 vs libs/db (same process, same data, EDN text queries)',
    'datascript',
    rows,
  );
  // Clause order should not matter: time q2 and q2-swapped in turn, for a fair ratio.
  const [q2, swapped] = measureAlternating([
    () => q('[:find ?e ?a :where [?e :name "Ivan"] [?e :age ?a]]', dgDb),
    () => q('[:find ?e ?a :where [?e :age ?a] [?e :name "Ivan"]]', dgDb),
  ]);
  console.log(
    `\nlibs/db q2 ${q2!.msPerOp.toFixed(2)} ms and q2-swapped ${swapped!.msPerOp.toFixed(2)} ms, timed in turn: ratio ${(swapped!.msPerOp / q2!.msPerOp).toFixed(2)}`,
  );
  return rows;
}
