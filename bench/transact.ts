/**
 * bench/transact — DataScript's transaction and pull benchmarks on DataScript 1.8.1 and
 * libs/db in the same process: add-1, add-5, add-all, retract-5 and pull (wide 4x5).
 */
import ds from 'datascript';
import { emptyDb, pull } from '../libs/db/index.js';
import { BENCH_SCHEMA, people20k, personMap, wideTree } from './data.js';
import { measure, printTable, type Row } from './harness.js';

export function run(): Row[] {
  const people = people20k();
  const dsPeople = people.map((p) => personMap(p, ':db/id'));
  const dgPeople = people.map((p) => personMap(p, 'db/id'));
  const dsEmpty = ds.empty_db(BENCH_SCHEMA);
  const dgEmpty = emptyDb(BENCH_SCHEMA);
  const rows: Row[] = [];
  const slow = { warmupMs: 1000, sampleMs: 1000, samples: 5 };

  const addOne = ['name', 'last-name', 'sex', 'age', 'salary'] as const;
  rows.push({
    name: 'add-1',
    baseline: measure(() => {
      let db = dsEmpty;
      for (const p of dsPeople)
        for (const a of addOne) db = ds.db_with(db, [[':db/add', p[':db/id'], a, p[a]]]);
      return db;
    }, slow),
    diagon: measure(() => {
      let db = dgEmpty;
      for (const p of dgPeople)
        for (const a of addOne) db = db.with([['db/add', p['db/id'], a, p[a]]]).dbAfter;
      return db;
    }, slow),
  });

  rows.push({
    name: 'add-5',
    baseline: measure(() => {
      let db = dsEmpty;
      for (const p of dsPeople) db = ds.db_with(db, [p]);
      return db;
    }, slow),
    diagon: measure(() => {
      let db = dgEmpty;
      for (const p of dgPeople) db = db.with([p]).dbAfter;
      return db;
    }, slow),
  });

  rows.push({
    name: 'add-all',
    baseline: measure(() => ds.db_with(dsEmpty, dsPeople), slow),
    diagon: measure(() => dgEmpty.with(dgPeople).dbAfter, slow),
  });

  const dsFull = ds.db_with(dsEmpty, dsPeople);
  const dgFull = dgEmpty.with(dgPeople).dbAfter;
  const shuffle = <T>(xs: T[]) => {
    let seed = 11;
    const out = [...xs];
    for (let i = out.length - 1; i > 0; i--) {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      const j = seed % (i + 1);
      [out[i], out[j]] = [out[j]!, out[i]!];
    }
    return out;
  };
  const dsEids = shuffle(ds.datoms(dsFull, ':aevt', 'name').map((d) => d.e));
  const dgEids = shuffle(dgFull.datoms('aevt', 'name').map((d) => d.e));
  rows.push({
    name: 'retract-5',
    baseline: measure(() => {
      let db = dsFull;
      for (const e of dsEids) db = ds.db_with(db, [[':db.fn/retractEntity', e]]);
      return db;
    }, slow),
    diagon: measure(() => {
      let db = dgFull;
      for (const e of dgEids) db = db.with([['db/retractEntity', e]]).dbAfter;
      return db;
    }, slow),
  });

  const dsWide = ds.db_with(ds.empty_db(BENCH_SCHEMA), wideTree(4, 5, ':db/id'));
  const dgWide = emptyDb(BENCH_SCHEMA).with(wideTree(4, 5, 'db/id')).dbAfter;
  rows.push({
    name: 'pull (wide 4x5)',
    baseline: measure(() =>
      ds.pull(dsWide, '[:db/id "last-name" "alias" "sex" "age" "salary" {"follows" ...}]', 1),
    ),
    diagon: measure(() =>
      pull(dgWide, '[:db/id :last-name :alias :sex :age :salary {:follows ...}]', 1),
    ),
  });

  printTable(
    'bench/transact: DataScript 1.8.1 vs libs/db (same process, same data)',
    'datascript',
    rows,
  );
  return rows;
}
