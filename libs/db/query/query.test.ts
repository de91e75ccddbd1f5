import { describe, expect, it } from 'vitest';
import { createConn } from '../conn.js';
import type { Db } from '../db.js';
import { DiagonError } from '../errors.js';
import { TX0 } from '../schema.js';
import { kw } from '../values.js';
import { explain, q, registerAggregate, registerFn } from './index.js';

const SCHEMA = `[
  {:db/ident :p/name :db/valueType :db.type/string}
  {:db/ident :p/email :db/valueType :db.type/string :db/unique :db.unique/identity}
  {:db/ident :p/age :db/valueType :db.type/long :db/index true}
  {:db/ident :p/friend :db/valueType :db.type/ref :db/cardinality :db.cardinality/many}
  {:db/ident :p/boss :db/valueType :db.type/ref}
  {:db/ident :p/tag :db/valueType :db.type/keyword :db/cardinality :db.cardinality/many}
  {:db/ident :p/salary :db/valueType :db.type/long}
]`;

/** ann(1) -> bob(2) -> cid(3) -> dee(4) (friends); bob's and cid's boss is ann. */
function world(): { db: Db; conn: ReturnType<typeof createConn> } {
  const conn = createConn(SCHEMA);
  conn.transact([
    {
      'db/id': 1,
      'p/name': 'Ann',
      'p/email': 'ann@x',
      'p/age': 40,
      'p/friend': [2],
      'p/tag': ['admin', 'dev'],
      'p/salary': 100,
    },
    {
      'db/id': 2,
      'p/name': 'Bob',
      'p/email': 'bob@x',
      'p/age': 30,
      'p/friend': [3],
      'p/boss': 1,
      'p/tag': ['dev'],
      'p/salary': 80,
    },
    {
      'db/id': 3,
      'p/name': 'Cid',
      'p/email': 'cid@x',
      'p/age': 30,
      'p/friend': [4],
      'p/boss': 1,
      'p/salary': 60,
    },
    { 'db/id': 4, 'p/name': 'Dee', 'p/email': 'dee@x', 'p/age': 20 },
  ]);
  return { db: conn.db, conn };
}

const sorted = (x: unknown) => (x as unknown[]).map((r) => JSON.stringify(r)).sort();

function failure(fn: () => unknown): DiagonError {
  try {
    fn();
  } catch (e) {
    if (e instanceof DiagonError) return e;
    throw e;
  }
  throw new Error('expected a DiagonError');
}

describe('q: find and inputs', () => {
  it('returns relations, collections, tuples, scalars and named maps', () => {
    const { db } = world();
    expect(sorted(q('[:find ?n ?a :where [?e :p/name ?n] [?e :p/age ?a]]', db))).toEqual(
      sorted([
        ['Ann', 40],
        ['Bob', 30],
        ['Cid', 30],
        ['Dee', 20],
      ]),
    );
    expect((q('[:find [?a ...] :where [_ :p/age ?a]]', db) as number[]).sort()).toEqual([
      20, 30, 40,
    ]);
    expect(q('[:find [?n ?a] :where [?e :p/name ?n] [?e :p/age ?a] [(> ?a 35)]]', db)).toEqual([
      'Ann',
      40,
    ]);
    expect(q('[:find ?n . :where [?e :p/email "bob@x"] [?e :p/name ?n]]', db)).toBe('Bob');
    expect(q('[:find ?n . :where [?e :p/email "nobody"] [?e :p/name ?n]]', db)).toBeNull();
    expect(
      q('[:find ?n ?a :keys name age :where [?e :p/name ?n] [?e :p/age ?a] [(< ?a 25)]]', db),
    ).toEqual([{ name: 'Dee', age: 20 }]);
    expect(q('{:find [?n] :where [[?e :p/age 40] [?e :p/name ?n]]}', db)).toEqual([['Ann']]);
  });

  it('binds scalars, tuples, collections, relations, sources and rules from :in', () => {
    const { db } = world();
    expect(q('[:find ?n :in $ ?a :where [?e :p/age ?a] [?e :p/name ?n]]', db, 40)).toEqual([
      ['Ann'],
    ]);
    expect(
      sorted(q('[:find ?n :in $ [?a ...] :where [?e :p/age ?a] [?e :p/name ?n]]', db, [20, 40])),
    ).toEqual(sorted([['Ann'], ['Dee']]));
    expect(
      q('[:find ?e :in $ [?n ?a] :where [?e :p/name ?n] [?e :p/age ?a]]', db, ['Bob', 30]),
    ).toEqual([[2]]);
    expect(
      sorted(
        q('[:find ?e ?x :in $ [[?n ?x]] :where [?e :p/name ?n]]', db, [
          ['Ann', 'a'],
          ['Dee', 'd'],
          ['Zed', 'z'],
        ]),
      ),
    ).toEqual(
      sorted([
        [1, 'a'],
        [4, 'd'],
      ]),
    );
    // A collection of tuples is a source too, and patterns match it by position.
    expect(
      sorted(
        q('[:find ?n ?c :in $ $cities :where [?e :p/name ?n] [$cities ?n ?c]]', db, [
          ['Ann', 'Oslo'],
          ['Bob', 'Rome'],
        ]),
      ),
    ).toEqual(
      sorted([
        ['Ann', 'Oslo'],
        ['Bob', 'Rome'],
      ]),
    );
    expect(q('[:find ?x :in [?x ...] :where [(> ?x 1)]]', [1, 2, 3])).toEqual([[2], [3]]);
    const e = failure(() => q('[:find ?n :in $ ?a :where [?e :p/age ?a] [?e :p/name ?n]]', db));
    expect(e.message).toMatch(/takes 2 inputs/);
    expect(
      failure(() => q('[:find ?n :in $ [?a ...] :where [?e :p/age ?a]]', db, 5)).message,
    ).toMatch(/needs a collection/);
  });

  it('resolves lookup refs, idents and keyword values of ref attributes in patterns', () => {
    const { db } = world();
    expect(q('[:find ?n . :where [[:p/email "ann@x"] :p/name ?n]]', db)).toBe('Ann');
    expect(sorted(q('[:find ?e :where [?e :p/boss [:p/email "ann@x"]]]', db))).toEqual(
      sorted([[2], [3]]),
    );
    expect(sorted(q('[:find ?e :where [?e :p/tag :admin]]', db))).toEqual(sorted([[1]]));
    expect(q('[:find ?e :where [?e :p/nope ?v]]', db)).toEqual([]);
    expect(q('[:find ?e :where [[:p/email "nobody"] :p/name ?e]]', db)).toEqual([]);
    const vt = q(
      '[:find ?t . :where [?a :db/ident :p/age] [?a :db/valueType ?v] [?v :db/ident ?t]]',
      db,
    );
    expect(vt).toBe(kw('db.type/long'));
  });

  it('matches blanks and repeated variables', () => {
    const { db, conn } = world();
    conn.transact([[':db/add', 4, 'p/friend', 4]]);
    expect(q('[:find ?e :where [?e :p/friend ?e]]', conn.db)).toEqual([[4]]);
    expect(sorted(q('[:find ?e :where [?e :p/friend _]]', db))).toEqual(sorted([[1], [2], [3]]));
  });
});

describe('q: predicates, functions and logic', () => {
  it('applies predicates and binds function results in every binding form', () => {
    const { db } = world();
    expect(
      q(
        '[:find ?n :where [?e :p/name ?n] [?e :p/age ?a] [(>= ?a 30)] [(< ?a 40)] [(not= ?n "Cid")]]',
        db,
      ),
    ).toEqual([['Bob']]);
    expect(q('[:find ?x :where [?e :p/email "ann@x"] [?e :p/age ?a] [(* ?a 2) ?x]]', db)).toEqual([
      [80],
    ]);
    expect(
      q('[:find ?f ?l :where [?e :p/email "ann@x"] [?e :p/name ?n] [(tuple ?n "!") [?f ?l]]]', db),
    ).toEqual([['Ann', '!']]);
    expect(sorted(q('[:find ?x :where [(range 3) [?x ...]]]', db))).toEqual(
      sorted([[0], [1], [2]]),
    );
    expect(sorted(q('[:find ?a ?b :where [(vector [1 2] [3 4]) [[?a ?b]]]]', db))).toEqual(
      sorted([
        [1, 2],
        [3, 4],
      ]),
    );
    expect(
      q('[:find ?s :where [?e :p/email "ann@x"] [?e :p/name ?n] [(str ?n "-" 1) ?s]]', db),
    ).toEqual([['Ann-1']]);
    expect(
      q('[:find ?m :where [?e :p/email ?m] [(re-pattern "^a.*x$") ?re] [(re-find ?re ?m)]]', db),
    ).toEqual([['ann@x']]);
    // Function arguments are variables and constants, never nested calls (as in Datomic).
    expect(() =>
      q('[:find ?m :where [?e :p/email ?m] [(re-find (re-pattern "^a") ?m)]]', db),
    ).toThrow(/expected a regex/);
    expect(
      sorted(q('[:find ?n ?b :where [?e :p/name ?n] [(get-else $ ?e :p/boss 0) ?b]]', db)),
    ).toEqual(
      sorted([
        ['Ann', 0],
        ['Bob', 1],
        ['Cid', 1],
        ['Dee', 0],
      ]),
    );
    expect(sorted(q('[:find ?n :where [?e :p/name ?n] [(missing? $ ?e :p/boss)]]', db))).toEqual(
      sorted([['Ann'], ['Dee']]),
    );
    expect(q('[:find ?x :where [(ground 42) ?x]]', db)).toEqual([[42]]);
    expect(
      q(
        '[:find ?u :where [?e :p/email "bob@x"] [?e :p/name ?n] [(clojure.string/upper-case ?n) ?u]]',
        db,
      ),
    ).toEqual([['BOB']]);
    registerFn('test/double', (x) => (x as number) * 2);
    expect(
      q('[:find ?d :where [?e :p/email "dee@x"] [?e :p/age ?a] [(test/double ?a) ?d]]', db),
    ).toEqual([[40]]);
  });

  it('evaluates not, not-join, or, or-join and and', () => {
    const { db } = world();
    expect(sorted(q('[:find ?n :where [?e :p/name ?n] (not [?e :p/boss _])]', db))).toEqual(
      sorted([['Ann'], ['Dee']]),
    );
    // Not those with a friend aged 30: Ann (Bob) and Bob (Cid) go.
    expect(
      sorted(
        q('[:find ?n :where [?e :p/name ?n] (not-join [?e] [?e :p/friend ?f] [?f :p/age 30])]', db),
      ),
    ).toEqual(sorted([['Cid'], ['Dee']]));
    expect(
      sorted(q('[:find ?n :where [?e :p/name ?n] (or [?e :p/age 40] [?e :p/age 20])]', db)),
    ).toEqual(sorted([['Ann'], ['Dee']]));
    expect(
      sorted(
        q(
          '[:find ?n :where [?e :p/name ?n] (or-join [?e] (and [?e :p/tag :dev] [?e :p/age 30]) [?e :p/email "dee@x"])]',
          db,
        ),
      ),
    ).toEqual(sorted([['Bob'], ['Dee']]));
    expect(
      sorted(q('[:find ?n :where (or-join [[?e] ?n] [?e :p/name ?n]) [?e :p/age 30]]', db)),
    ).toEqual(sorted([['Bob'], ['Cid']]));
  });

  it('refuses what cannot be evaluated, naming the clause', () => {
    const { db } = world();
    const cases: [string, string, RegExp][] = [
      [
        '[:find ?e :where [?e :p/age ?a] [(> ?b 1)]]',
        'query/insufficient-bindings',
        /\?b in \[\(> \?b 1\)\] is not bound/,
      ],
      [
        '[:find ?e :where [?e :p/age ?a] [(frobnicate ?a)]]',
        'query/unknown-fn',
        /unknown function frobnicate/,
      ],
      [
        '[:find ?e :where [?e :p/age ?a] (not [?x :p/age 3])]',
        'query/insufficient-bindings',
        /shares no variable/,
      ],
      ['[:find ?e :where (or [?e :p/age 3] [?x :p/age 4])]', 'query/invalid', /same variables/],
      ['[:find ?e :where [?e :p/age ?a] (foo ?e)]', 'query/unknown-rule', /no rules input/],
      ['[:find ?e :where [?e :p/age ?a] 42]', 'query/invalid', /a clause is/],
      ['[:find ?e :where [?e :p/age ?a] [(inc ?a) ?b ?c]]', 'query/invalid', /function clause/],
      ['[:find ?z :where [?e :p/age ?a]]', 'query/unbound-find', /\?z in :find/],
      ['[:find ?e :where [$other ?e :p/age ?a]]', 'query/unknown-source', /\$other/],
      ['[:where [?e :p/age ?a]]', 'query/invalid', /starts with :find|needs :find/],
      ['[:find ?e :wher [?e :p/age ?a]]', 'query/invalid', /unknown query section :wher/],
      [
        '[:find (frob ?e) :where [?e :p/age ?a]]',
        'query/unknown-aggregate',
        /unknown aggregate frob/,
      ],
      ['[:find ?e :where [?e :p/age ?a] [(/ ?a 0) ?x]]', 'query/fn-args', /divide by zero/],
    ];
    for (const [query, code, message] of cases) {
      const e = failure(() => q(query, db));
      expect(e.code, query).toBe(code);
      expect(e.message, query).toMatch(message);
    }
  });
});

describe('q: rules', () => {
  const FOLLOWS =
    '[[(follows ?x ?y) [?x :p/friend ?y]] [(follows ?x ?y) [?x :p/friend ?t] (follows ?t ?y)]]';

  it('evaluates recursive rules, free or with bound arguments', () => {
    const { db } = world();
    expect(sorted(q('[:find ?a ?b :in $ % :where (follows ?a ?b)]', db, FOLLOWS))).toEqual(
      sorted([
        [1, 2],
        [1, 3],
        [1, 4],
        [2, 3],
        [2, 4],
        [3, 4],
      ]),
    );
    expect(sorted(q('[:find ?b :in $ % :where (follows 2 ?b)]', db, FOLLOWS))).toEqual(
      sorted([[3], [4]]),
    );
    expect(sorted(q('[:find ?a :in $ % ?b :where (follows ?a ?b)]', db, FOLLOWS, 3))).toEqual(
      sorted([[1], [2]]),
    );
    expect(
      sorted(
        q(
          '[:find ?n :in $ % :where [?e :p/email "ann@x"] (follows ?e ?f) [?f :p/name ?n]]',
          db,
          FOLLOWS,
        ),
      ),
    ).toEqual(sorted([['Bob'], ['Cid'], ['Dee']]));
  });

  it('terminates on cycles and non-linear recursion', () => {
    const { conn } = world();
    conn.transact([[':db/add', 4, 'p/friend', 1]]);
    const nonLinear =
      '[[(reach ?x ?y) [?x :p/friend ?y]] [(reach ?x ?y) (reach ?x ?t) (reach ?t ?y)]]';
    const all = q('[:find ?a ?b :in $ % :where (reach ?a ?b)]', conn.db, nonLinear) as unknown[];
    expect(all.length).toBe(16);
  });

  it('evaluates mutually recursive rules and recursion through or', () => {
    const { db } = world();
    // Entities at an even or an odd distance from Ann along friend links.
    const rules = `[[(even ?x) [?x :p/email "ann@x"]]
                    [(even ?x) (odd ?y) [?y :p/friend ?x]]
                    [(odd ?x) (even ?y) [?y :p/friend ?x]]]`;
    expect(sorted(q('[:find ?x :in $ % :where (even ?x)]', db, rules))).toEqual(sorted([[1], [3]]));
    expect(sorted(q('[:find ?x :in $ % :where (odd ?x)]', db, rules))).toEqual(sorted([[2], [4]]));
    const viaOr = `[[(anc ?x ?y) (or-join [?x ?y] [?x :p/friend ?y] (and [?x :p/friend ?t] (anc ?t ?y)))]]`;
    expect((q('[:find ?a ?b :in $ % :where (anc ?a ?b)]', db, viaOr) as unknown[]).length).toBe(6);
  });

  it('checks required bindings, arity, and stratification', () => {
    const { db } = world();
    const req = '[[(older [?x] ?y) [?x :p/age ?ax] [?y :p/age ?ay] [(> ?ax ?ay)]]]';
    expect(
      sorted(q('[:find ?y :in $ % :where [?x :p/email "bob@x"] (older ?x ?y)]', db, req)),
    ).toEqual(sorted([[4]]));
    expect(failure(() => q('[:find ?y :in $ % :where (older ?x ?y)]', db, req)).message).toMatch(
      /needs \?x bound/,
    );
    expect(failure(() => q('[:find ?y :in $ % :where (older ?y)]', db, req)).code).toBe(
      'query/rule-arity',
    );
    const unsafe = '[[(big ?x) [(> ?x 10)]]]';
    expect(failure(() => q('[:find ?x :in $ % :where (big ?x)]', db, unsafe)).code).toBe(
      'query/insufficient-bindings',
    );
    expect(q('[:find ?x :in $ % [?x ...] :where (big ?x)]', db, unsafe, [5, 50])).toEqual([[50]]);
    const unstratified =
      '[[(p ?x) [?x :p/age _] (not (q ?x))] [(q ?x) [?x :p/age _] (not (p ?x))]]';
    expect(failure(() => q('[:find ?x :in $ % :where (p ?x)]', db, unstratified)).code).toBe(
      'query/unstratified',
    );
    const strata = '[[(boss ?x) [_ :p/boss ?x]] [(worker ?x) [?x :p/name _] (not (boss ?x))]]';
    expect(sorted(q('[:find ?x :in $ % :where (worker ?x)]', db, strata))).toEqual(
      sorted([[2], [3], [4]]),
    );
  });
});

describe('q: aggregates and pull', () => {
  it('groups by the other find elements and aggregates', () => {
    const { db } = world();
    expect(sorted(q('[:find ?a (count ?e) :where [?e :p/age ?a]]', db))).toEqual(
      sorted([
        [20, 1],
        [30, 2],
        [40, 1],
      ]),
    );
    expect(
      q('[:find (sum ?s) (avg ?s) (min ?s) (max ?s) (median ?s) :where [_ :p/salary ?s]]', db),
    ).toEqual([[240, 80, 60, 100, 80]]);
    expect(q('[:find (count-distinct ?a) :where [_ :p/age ?a]]', db)).toEqual([[3]]);
    // Without :with, the ages form a set; with ?e they are a bag.
    expect(q('[:find (sum ?a) :where [?e :p/age ?a]]', db)).toEqual([[90]]);
    expect(q('[:find (sum ?a) :with ?e :where [?e :p/age ?a]]', db)).toEqual([[120]]);
    expect(q('[:find (max 2 ?a) (min 2 ?a) :with ?e :where [?e :p/age ?a]]', db)).toEqual([
      [
        [40, 30],
        [20, 30],
      ],
    ]);
    const [[variance, stddev]] = q(
      '[:find (variance ?s) (stddev ?s) :where [_ :p/salary ?s]]',
      db,
    ) as number[][];
    expect(variance).toBeCloseTo(266.667, 2);
    expect(stddev).toBeCloseTo(16.33, 2);
    registerAggregate('test/longest', (vs) =>
      vs.reduce((a, b) => (String(b).length > String(a).length ? b : a)),
    );
    expect(q('[:find (test/longest ?n) . :where [_ :p/name ?n]]', db)).toBe('Ann');
    expect(q('[:find (count ?e) . :where [?e :p/age 99]]', db)).toBeNull();
  });

  it('pulls in :find, from the query or from an input pattern', () => {
    const { db } = world();
    expect(
      q('[:find (pull ?e [:p/name {:p/boss [:p/name]}]) . :where [?e :p/email "bob@x"]]', db),
    ).toEqual({
      'p/name': 'Bob',
      'p/boss': { 'p/name': 'Ann' },
    });
    expect(
      q('[:find [(pull ?e ?pat) ...] :in $ ?pat :where [?e :p/age 40]]', db, '[:p/email]'),
    ).toEqual([{ 'p/email': 'ann@x' }]);
  });
});

describe('q: time', () => {
  it('queries asOf, since and history databases, with 5-element patterns', () => {
    const { conn } = world();
    const t0 = conn.db.basisT;
    conn.transact([{ 'db/id': 1, 'p/age': 41 }]);
    conn.transact([{ 'db/id': 1, 'p/age': 42 }]);
    const db = conn.db;
    expect(q('[:find ?a . :where [1 :p/age ?a]]', db)).toBe(42);
    expect(q('[:find ?a . :where [1 :p/age ?a]]', db.asOf(t0))).toBe(40);
    expect(q('[:find ?a . :where [?e :p/age ?a]]', db.since(t0 + 1))).toBe(42);
    const changes = q(
      '[:find ?a ?t ?added :where [1 :p/age ?a ?tx ?added] [(- ?tx 536870912) ?t]]',
      db.history(),
    ) as unknown[][];
    expect(
      changes.sort((x, y) => (x[1] as number) - (y[1] as number) || Number(x[2]) - Number(y[2])),
    ).toEqual([
      [40, t0, true],
      [40, t0 + 1, false],
      [41, t0 + 1, true],
      [41, t0 + 2, false],
      [42, t0 + 2, true],
    ]);
    expect(q('[:find ?a . :where [1 :p/age ?a _ false]]', db.history().asOf(t0 + 1))).toBe(40);
    // Two databases in one query: what changed between two points in time.
    expect(
      sorted(
        q(
          '[:find ?e ?old ?new :in $old $new :where [$old ?e :p/age ?old] [$new ?e :p/age ?new] [(not= ?old ?new)]]',
          db.asOf(t0),
          db,
        ),
      ),
    ).toEqual(sorted([[1, 40, 42]]));
    expect(q(`[:find ?tx . :where [?tx :db/txInstant _] [(= ?tx ${TX0 + t0})]]`, db)).toBe(
      TX0 + t0,
    );
  });
});

describe('planner', () => {
  it('does not let clause order decide the plan', () => {
    const { db } = world();
    const a = explain('[:find ?e ?a :where [?e :p/email "bob@x"] [?e :p/age ?a]]', db);
    const b = explain('[:find ?e ?a :where [?e :p/age ?a] [?e :p/email "bob@x"]]', db);
    expect(a.steps.map((s) => [s.clause, s.op])).toEqual(b.steps.map((s) => [s.clause, s.op]));
    expect(a.steps[0]).toMatchObject({
      clause: '[?e :p/email "bob@x"]',
      index: 'avet',
      estimated: 1,
      actual: 1,
    });
    expect(a.rows).toBe(1);
  });

  it('uses AVET ranges for comparisons on indexed values and reads one entity once for many attributes', () => {
    const { db } = world();
    const r = explain('[:find ?e :where [?e :p/age ?a] [(> ?a 25)] [(< ?a 35)]]', db);
    expect(r.steps[0]).toMatchObject({ op: 'range-scan', index: 'avet', actual: 2 });
    // With more than a handful of people, reading Ann's datoms beats scanning each attribute.
    const { conn } = world();
    conn.transact(
      Array.from({ length: 100 }, (_, i) => ({ 'p/name': `n${i}`, 'p/age': i, 'p/salary': i })),
    );
    const star = explain(
      '[:find ?n ?a ?s :where [?e :p/email "ann@x"] [?e :p/name ?n] [?e :p/age ?a] [?e :p/salary ?s]]',
      conn.db,
    );
    expect(star.steps.map((s) => s.op)).toEqual(['scan', 'entity-star']);
    expect(star.rows).toBe(1);
  });
});
