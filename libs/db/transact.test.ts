import { describe, expect, it } from 'vitest';
import { createConn, emptyDb } from './conn.js';
import type { Db } from './db.js';
import { DiagonError } from './errors.js';
import { DB0, TX0 } from './schema.js';
import { registerTxFn } from './transact.js';
import { kw, Uuid } from './values.js';

/** The current [attribute value] pairs of an entity, attributes by ident. */
function facts(db: Db, e: number): [string, unknown][] {
  return db.datoms('eavt', e).map((d) => [db.ident(d.a)!, d.v]);
}

function failure(fn: () => unknown): DiagonError {
  try {
    fn();
  } catch (e) {
    if (e instanceof DiagonError) return e;
    throw e;
  }
  throw new Error('expected a DiagonError, nothing was thrown');
}

const PEOPLE_SCHEMA = `[
  {:db/ident :person/name :db/valueType :db.type/string :db/cardinality :db.cardinality/one}
  {:db/ident :person/email :db/valueType :db.type/string :db/cardinality :db.cardinality/one :db/unique :db.unique/identity}
  {:db/ident :person/ssn :db/valueType :db.type/string :db/unique :db.unique/value}
  {:db/ident :person/age :db/valueType :db.type/long :db/cardinality :db.cardinality/one :db/index true}
  {:db/ident :person/friend :db/valueType :db.type/ref :db/cardinality :db.cardinality/many}
  {:db/ident :person/nick :db/valueType :db.type/string :db/cardinality :db.cardinality/many}
  {:db/ident :person/address :db/valueType :db.type/ref :db/isComponent true}
  {:db/ident :address/city :db/valueType :db.type/string}
  {:db/ident :person/status :db/valueType :db.type/keyword}
  {:db/ident :person/born :db/valueType :db.type/instant}
  {:db/ident :person/id :db/valueType :db.type/uuid}
  {:db/ident :person/score :db/valueType :db.type/double}
  {:db/ident :person/big :db/valueType :db.type/bigint}
  {:db/ident :person/active :db/valueType :db.type/boolean}
  {:db/ident :person/photo :db/valueType :db.type/bytes}
  {:db/ident :person/point :db/valueType :db.type/tuple :db/tupleTypes [:db.type/long :db.type/string]}
  {:db/ident :person/tags :db/valueType :db.type/tuple :db/tupleType :db.type/keyword}
  {:db/ident :person/first :db/valueType :db.type/string}
  {:db/ident :person/last :db/valueType :db.type/string}
  {:db/ident :person/first+last :db/valueType :db.type/tuple :db/tupleAttrs [:person/first :person/last] :db/unique :db.unique/identity}
  {:db/ident :color/red}
]`;

function people() {
  return createConn(PEOPLE_SCHEMA);
}

describe('schema as data', () => {
  it('installs attributes as entities in the db partition and reads them back', () => {
    const db = emptyDb(PEOPLE_SCHEMA);
    const name = db.attr('person/name')!;
    expect(name.id).toBeGreaterThanOrEqual(DB0);
    expect(name).toMatchObject({ valueType: 'string', many: false, unique: null });
    expect(db.attr(':person/email')).toMatchObject({ unique: 'identity', index: true });
    expect(db.attr(kw('person/friend'))).toMatchObject({ isRef: true, many: true });
    expect(db.attr('person/first+last')!.tupleAttrs).toEqual([
      db.attr('person/first')!.id,
      db.attr('person/last')!.id,
    ]);
    expect(db.schema.flexibility).toBe('write');
    // :db/valueType is a ref to an ident entity, as in Datomic.
    const [typeDatom] = db.datoms('eavt', name.id, 'db/valueType');
    expect(db.ident(typeDatom!.v as number)).toBe('db.type/string');
    expect(db.entid(kw('color/red'))).toBeGreaterThanOrEqual(DB0);
  });

  it("accepts DataScript's schema object, in 'read' flexibility by default", () => {
    const db = emptyDb({
      'person/friend': {
        ':db/valueType': ':db.type/ref',
        ':db/cardinality': ':db.cardinality/many',
      },
      alias: { ':db/cardinality': ':db.cardinality/many' },
      email: { 'db/unique': 'db.unique/identity' },
    });
    expect(db.schema.flexibility).toBe('read');
    expect(db.attr('person/friend')).toMatchObject({ isRef: true, many: true });
    expect(db.attr('alias')).toMatchObject({ valueType: null, many: true });
    const r = db.with([{ email: 'a@b', anything: 42 }]);
    expect(r.dbAfter.attr('anything')).toMatchObject({ valueType: null, many: false });
  });

  it("refuses undeclared attributes under 'write' flexibility", () => {
    const conn = people();
    const e = failure(() => conn.transact([{ 'person/nam': 'typo' }]));
    expect(e.code).toBe('db.error/unknown-attribute');
    expect(e.message).toMatch(/:person\/nam/);
    expect(e.message).toMatch(/\{:person\/nam "typo"\}/);
  });

  it('enforces value types and names the offending form', () => {
    const conn = people();
    const cases: [unknown, RegExp][] = [
      [{ 'person/name': 42 }, /:person\/name: expected :db.type\/string/],
      [{ 'person/age': 1.5 }, /:db.type\/long/],
      [{ 'person/age': '7' }, /:db.type\/long/],
      [{ 'person/born': '2020-01-01' }, /:db.type\/instant/],
      [{ 'person/active': 'yes' }, /:db.type\/boolean/],
      [{ 'person/id': 'not-a-uuid' }, /:db.type\/uuid/],
      [{ 'person/photo': 'abc' }, /:db.type\/bytes/],
      [{ 'person/big': 1.5 }, /:db.type\/bigint/],
      [{ 'person/point': [1, 2] }, /element 1 must be :db.type\/string/],
      [{ 'person/point': [1] }, /expected 2 elements/],
      [{ 'person/tags': ['a', 3] }, /tuple elements must be :db.type\/keyword/],
      [{ 'person/first+last': ['a', 'b'] }, /composite tuple/],
      [{ 'person/name': null }, /cannot be nil/],
    ];
    for (const [form, message] of cases) {
      const e = failure(() => conn.transact([form]));
      expect(['db.error/wrong-type', 'db.error/nil-value', 'db.error/invalid-tx-data']).toContain(
        e.code,
      );
      expect(e.message).toMatch(message);
    }
    expect(conn.db.basisT).toBe(1);
  });

  it('coerces where the JS form is unambiguous: keywords from strings, uuids from text, bigint from safe integers', () => {
    const conn = people();
    const id = '550e8400-e29b-41d4-a716-446655440000';
    const r = conn.transact([
      {
        'db/id': 'p',
        'person/status': 'active',
        'person/id': id,
        'person/big': 7,
        'person/tags': ['x', ':y'],
      },
    ]);
    const e = r.tempids.p!;
    const got = Object.fromEntries(facts(conn.db, e));
    expect(got['person/status']).toBe(kw('active'));
    expect(got['person/id']).toEqual(new Uuid(id));
    expect(got['person/big']).toBe(7n);
    expect(got['person/tags']).toEqual([kw('x'), kw('y')]);
  });

  it('alters attributes only in safe ways', () => {
    const conn = people();
    conn.transact([
      { 'db/id': 1, 'person/nick': 'a' },
      { 'db/id': 2, 'person/nick': 'a' },
      { 'db/id': 3, 'person/nick': ['b', 'c'] },
    ]);
    const nick = conn.db.attr('person/nick')!.id;
    expect(
      failure(() => conn.transact([[':db/add', nick, 'db/valueType', ':db.type/long']])).code,
    ).toBe('db.error/schema-alteration');
    expect(
      failure(() => conn.transact([[':db/add', nick, 'db/unique', ':db.unique/value']])).message,
    ).toMatch(/share "a"/);
    expect(
      failure(() => conn.transact([[':db/add', nick, 'db/cardinality', ':db.cardinality/one']]))
        .message,
    ).toMatch(/several values/);
    conn.transact([[':db/add', nick, 'db/index', true]]);
    expect(conn.db.datoms('avet', 'person/nick', 'a').map((d) => d.e)).toEqual([1, 2]);
    conn.transact([
      [':db/add', conn.db.attr('person/name')!.id, 'db/doc', 'what a person is called'],
    ]);
    expect(conn.db.attr('person/name')!.doc).toBe('what a person is called');
    expect(
      failure(() =>
        conn.transact([[':db/add', kw('db/ident'), 'db/cardinality', ':db.cardinality/many']]),
      ).message,
    ).toMatch(/system entity/);
  });

  it('keeps attribute definitions in the db partition', () => {
    const conn = people();
    conn.transact([{ 'db/id': 5, 'person/name': 'x' }]);
    const e = failure(() => conn.transact([[':db/add', 5, 'db/valueType', ':db.type/string']]));
    expect(e.message).toMatch(/db partition/);
  });
});

describe('tx-data forms', () => {
  it('resolves string and negative tempids, the same tempid naming one entity', () => {
    const conn = people();
    const r = conn.transact([
      { 'db/id': 'ivan', 'person/name': 'Ivan', 'person/friend': 'petr' },
      { 'db/id': -1, 'person/name': 'Petr' },
      [':db/add', 'petr', 'person/name', 'Petr'],
      ['db/add', 'ivan', 'person/nick', 'Vanya'],
    ]);
    expect(r.tempids.ivan).toBeGreaterThan(0);
    expect(r.tempids.petr).not.toBe(r.tempids['-1']);
    expect(facts(conn.db, r.tempids.ivan!)).toEqual(
      expect.arrayContaining([
        ['person/name', 'Ivan'],
        ['person/friend', r.tempids.petr],
        ['person/nick', 'Vanya'],
      ]),
    );
    expect(r.tempids['db/current-tx']).toBe(TX0 + 2);
  });

  it('reads tx-data from EDN, keywords as idents', () => {
    const conn = people();
    const r = conn.transact(
      '[{:db/id "a" :person/name "Ann" :person/status :active :person/nick #{"x" "y"}} [:db/add "a" :person/age 30]]',
    );
    const got = facts(conn.db, r.tempids.a!);
    expect(got).toContainEqual(['person/status', kw('active')]);
    expect(got.filter(([a]) => a === 'person/nick').map(([, v]) => v)).toEqual(['x', 'y']);
    expect(got).toContainEqual(['person/age', 30]);
  });

  it('nests maps as new entities, reverse refs in maps, and components', () => {
    const conn = people();
    const r = conn.transact([
      {
        'db/id': 'ann',
        'person/name': 'Ann',
        'person/address': { 'address/city': 'Oslo' },
        'person/friend': [{ 'person/name': 'Bob' }, { 'person/name': 'Cid' }],
        'person/_friend': { 'person/name': 'Dee' },
      },
    ]);
    const db = conn.db;
    const ann = r.tempids.ann!;
    const friends = db.datoms('eavt', ann, 'person/friend').map((d) => d.v as number);
    expect(friends.map((f) => facts(db, f)[0]![1]).sort()).toEqual(['Bob', 'Cid']);
    const [addr] = db.datoms('eavt', ann, 'person/address');
    expect(facts(db, addr!.v as number)).toEqual([['address/city', 'Oslo']]);
    const fans = db.datoms('vaet', ann, 'person/friend').map((d) => d.e);
    expect(fans).toHaveLength(1);
    expect(facts(db, fans[0]!)).toContainEqual(['person/name', 'Dee']);
  });

  it('upserts through :db.unique/identity, unifying tempids that claim the same identity', () => {
    const conn = people();
    const first = conn.transact([{ 'person/email': 'a@x', 'person/name': 'A' }]);
    const [a] = conn.db.datoms('avet', 'person/email', 'a@x');
    const second = conn.transact([{ 'db/id': 't', 'person/email': 'a@x', 'person/age': 40 }]);
    expect(second.tempids.t).toBe(a!.e);
    expect(facts(conn.db, a!.e)).toEqual(
      expect.arrayContaining([
        ['person/name', 'A'],
        ['person/age', 40],
      ]),
    );
    const third = conn.transact([
      [':db/add', 'x', 'person/email', 'new@x'],
      [':db/add', 'y', 'person/email', 'new@x'],
      [':db/add', 'y', 'person/name', 'N'],
    ]);
    expect(third.tempids.x).toBe(third.tempids.y);
    expect(first.dbAfter.basisT).toBe(2);
    const e = failure(() =>
      conn.transact([
        { 'db/id': 'z', 'person/email': 'a@x' },
        [':db/add', 'z', 'person/email', 'new@x'],
      ]),
    );
    expect(e.code).toBe('db.error/unique-conflict');
  });

  it('upserts through composite tuples and keeps them in step with their parts', () => {
    const conn = people();
    const r = conn.transact([{ 'db/id': 'p', 'person/first': 'Ada', 'person/last': 'L' }]);
    const p = r.tempids.p!;
    expect(facts(conn.db, p)).toContainEqual(['person/first+last', ['Ada', 'L']]);
    conn.transact([[':db/retract', p, 'person/last', 'L']]);
    expect(facts(conn.db, p)).toContainEqual(['person/first+last', ['Ada', null]]);
    conn.transact([[':db/retract', p, 'person/first']]);
    expect(facts(conn.db, p).find(([a]) => a === 'person/first+last')).toBeUndefined();
    conn.transact([{ 'db/id': p, 'person/first': 'A', 'person/last': 'B' }]);
    const e = failure(() => conn.transact([{ 'person/first': 'A', 'person/last': 'B' }]));
    expect(e.code).toBe('db.error/unique-conflict');
  });

  it('resolves lookup refs and idents wherever an entity goes', () => {
    const conn = people();
    conn.transact([
      { 'person/email': 'a@x', 'person/name': 'A' },
      { 'person/email': 'b@x', 'person/name': 'B' },
    ]);
    conn.transact([
      [':db/add', ['person/email', 'a@x'], 'person/friend', ['person/email', 'b@x']],
      { 'db/id': [':person/email', 'b@x'], 'person/status': kw('color/red') },
    ]);
    const a = conn.db.entid(['person/email', 'a@x'])!;
    const b = conn.db.entid(['person/email', 'b@x'])!;
    expect(conn.db.datoms('eavt', a, 'person/friend').map((d) => d.v)).toEqual([b]);
    const e = failure(() =>
      conn.transact([[':db/add', ['person/email', 'nobody'], 'person/age', 1]]),
    );
    expect(e.code).toBe('db.error/lookup-ref-not-found');
    expect(
      failure(() => conn.transact([[':db/add', ['person/name', 'A'], 'person/age', 1]])).message,
    ).toMatch(/not :db\/unique/);
    expect(failure(() => conn.transact([[':db/add', kw('no/such'), 'person/age', 1]])).code).toBe(
      'db.error/entity-not-found',
    );
  });

  it('elides redundant assertions and replaces cardinality-one values', () => {
    const conn = people();
    const r1 = conn.transact([{ 'db/id': 'p', 'person/name': 'A', 'person/nick': ['x'] }]);
    const p = r1.tempids.p!;
    const r2 = conn.transact([{ 'db/id': p, 'person/name': 'A', 'person/nick': ['x', 'y'] }]);
    expect(
      r2.txData.filter((d) => d.e === p).map((d) => [conn.db.ident(d.a), d.v, d.added]),
    ).toEqual([['person/nick', 'y', true]]);
    const r3 = conn.transact([{ 'db/id': p, 'person/name': 'B' }]);
    expect(r3.txData.filter((d) => d.e === p).map((d) => [d.v, d.added])).toEqual([
      ['A', false],
      ['B', true],
    ]);
  });

  it('refuses two values for one cardinality-one attribute in one transaction, and add+retract of one datom', () => {
    const conn = people();
    const e = failure(() =>
      conn.transact([
        { 'db/id': 1, 'person/name': 'A' },
        { 'db/id': 1, 'person/name': 'B' },
      ]),
    );
    expect(e.code).toBe('db.error/datoms-conflict');
    conn.transact([{ 'db/id': 1, 'person/name': 'A' }]);
    const e2 = failure(() =>
      conn.transact([
        [':db/add', 1, 'person/nick', 'n'],
        [':db/retract', 1, 'person/nick', 'n'],
      ]),
    );
    expect(e2.code).toBe('db.error/datoms-conflict');
  });

  it('detects conflicts whatever was stored before and whatever the order of the forms', () => {
    const conn = people();
    conn.transact([{ 'db/id': 1, 'person/age': 0, 'person/nick': 'x' }]);
    for (const tx of [
      [
        [':db/add', 1, 'person/age', 0],
        [':db/add', 1, 'person/age', 2],
      ],
      [
        [':db/add', 1, 'person/age', 2],
        [':db/add', 1, 'person/age', 0],
      ],
      [
        [':db/add', 1, 'person/nick', 'x'],
        [':db/retract', 1, 'person/nick', 'x'],
      ],
      [
        [':db/retract', 1, 'person/nick', 'x'],
        [':db/add', 1, 'person/nick', 'x'],
      ],
    ]) {
      expect(failure(() => conn.transact(tx)).code, JSON.stringify(tx)).toBe(
        'db.error/datoms-conflict',
      );
    }
    conn.transact([
      [':db/add', 1, 'person/age', 0],
      [':db/add', 1, 'person/age', 0],
    ]);
    conn.transact([
      [':db/retract', 1, 'person/age', 0],
      [':db/add', 1, 'person/age', 5],
    ]);
    expect(facts(conn.db, 1)).toContainEqual(['person/age', 5]);
  });

  it('gives new entities ids above every explicit id in the transaction', () => {
    const conn = people();
    const r = conn.transact([
      { 'db/id': 7, 'person/name': 'a' },
      { 'db/id': 't', 'person/name': 'b' },
      { 'person/age': 3 },
    ]);
    expect(r.tempids.t).toBe(8);
    expect(facts(conn.db, 7)).toEqual([['person/name', 'a']]);
    expect(conn.db.datoms('aevt', 'person/age').map((d) => d.e)).toEqual([9]);
    expect(conn.db.maxEid).toBe(9);
  });

  it('rejects unique-value conflicts naming attribute, value and both entities', () => {
    const conn = people();
    conn.transact([{ 'db/id': 1, 'person/ssn': '123' }]);
    const e = failure(() => conn.transact([{ 'db/id': 2, 'person/ssn': '123' }]));
    expect(e.code).toBe('db.error/unique-conflict');
    expect(e.message).toMatch(
      /:person\/ssn "123" is held by entity 1, cannot assert it for entity 2/,
    );
    expect(e.data).toMatchObject({ attribute: 'person/ssn', value: '123', entities: [1, 2] });
  });

  it('retracts with and without a value, whole entities recursing into components, and references to them', () => {
    const conn = people();
    const r = conn.transact([
      {
        'db/id': 'a',
        'person/name': 'A',
        'person/nick': ['x', 'y'],
        'person/address': { 'address/city': 'Oslo' },
      },
      { 'db/id': 'b', 'person/name': 'B', 'person/friend': 'a' },
    ]);
    const { a, b } = r.tempids as { a: number; b: number };
    const addr = conn.db.datoms('eavt', a, 'person/address')[0]!.v as number;
    conn.transact([[':db/retract', a, 'person/nick', 'x']]);
    expect(facts(conn.db, a).filter(([k]) => k === 'person/nick')).toEqual([['person/nick', 'y']]);
    conn.transact([[':db/retract', a, 'person/nick']]);
    expect(facts(conn.db, a).filter(([k]) => k === 'person/nick')).toEqual([]);
    conn.transact([['db/retractEntity', a]]);
    expect(facts(conn.db, a)).toEqual([]);
    expect(facts(conn.db, addr)).toEqual([]);
    expect(facts(conn.db, b)).toEqual([['person/name', 'B']]);
    expect(() => conn.transact([[':db/retract', 'tmp', 'person/name', 'B']])).toThrow(
      /cannot retract from tempid/,
    );
  });

  it('compares and swaps', () => {
    const conn = people();
    conn.transact([{ 'db/id': 1, 'person/age': 30 }]);
    conn.transact([[':db/cas', 1, 'person/age', 30, 31]]);
    expect(facts(conn.db, 1)).toContainEqual(['person/age', 31]);
    const e = failure(() => conn.transact([['db.fn/cas', 1, 'person/age', 30, 32]]));
    expect(e.code).toBe('db.error/cas-failed');
    expect(e.message).toMatch(/expected 30, found 31/);
    conn.transact([[':db/cas', 1, 'person/name', null, 'first']]);
    expect(facts(conn.db, 1)).toContainEqual(['person/name', 'first']);
  });

  it('expands registered transaction functions against the database before the transaction', () => {
    registerTxFn('test/inc-age', (db, e, by) => {
      const [d] = db.datoms('eavt', e, 'person/age');
      return [[':db/add', e, 'person/age', (d?.v as number) + (by as number)]];
    });
    registerTxFn('test/twice', (_db, e) => [['test/inc-age', e, 1], ['test/noop']]);
    registerTxFn('test/noop', () => []);
    registerTxFn('test/forever', (_db, e) => [['test/forever', e]]);
    registerTxFn('test/boom', () => {
      throw new Error('kaboom');
    });
    const conn = people();
    conn.transact([{ 'db/id': 1, 'person/age': 1 }]);
    conn.transact('[[:test/inc-age 1 10]]');
    expect(facts(conn.db, 1)).toContainEqual(['person/age', 11]);
    conn.transact([['test/twice', 1]]);
    expect(facts(conn.db, 1)).toContainEqual(['person/age', 12]);
    conn.transact([
      [':db.fn/call', (_db: Db, e: number) => [[':db/add', e, 'person/name', 'called']], 1],
    ]);
    expect(facts(conn.db, 1)).toContainEqual(['person/name', 'called']);
    expect(failure(() => conn.transact([['test/forever', 1]])).code).toBe('db.error/tx-fn-depth');
    const boom = failure(() => conn.transact([['test/boom']]));
    expect(boom.code).toBe('db.error/tx-fn');
    expect(boom.message).toMatch(/kaboom/);
    expect(failure(() => conn.transact([['test/unknown', 1]])).message).toMatch(
      /registered tx function/,
    );
    expect(() => registerTxFn('db/add', () => [])).toThrow(/built in/);
  });

  it('records :db/txInstant and tx metadata on the transaction entity', () => {
    const conn = people();
    const before = Date.now();
    const r = conn.transact([{ 'db/id': 1, 'person/name': 'A' }], { 'db/doc': 'initial import' });
    const tx = r.tempids['db/current-tx']!;
    const txFacts = Object.fromEntries(facts(conn.db, tx));
    expect((txFacts['db/txInstant'] as Date).getTime()).toBeGreaterThanOrEqual(before);
    expect(txFacts['db/doc']).toBe('initial import');
    const r2 = conn.transact([
      { 'db/id': 'datomic.tx', 'db/doc': 'via datomic.tx' },
      { 'db/id': 1, 'person/age': 1 },
    ]);
    expect(facts(conn.db, r2.tempids['db/current-tx']!)).toContainEqual([
      'db/doc',
      'via datomic.tx',
    ]);
    const past = new Date(0);
    expect(failure(() => conn.transact([], { 'db/txInstant': past })).code).toBe(
      'db.error/past-tx-instant',
    );
    const future = new Date(Date.now() + 86_400_000);
    conn.transact([], { 'db/txInstant': future });
    expect(conn.db.datoms('eavt', TX0 + conn.db.basisT, 'db/txInstant')[0]!.v).toEqual(future);
    expect(failure(() => conn.transact([[':db/retract', tx, 'db/txInstant']])).message).toMatch(
      /permanent/,
    );
    expect(
      failure(() => conn.transact([[':db/add', 1, 'db/txInstant', new Date()]])).message,
    ).toMatch(/transaction itself/);
  });

  it('reports malformed forms clearly', () => {
    const conn = people();
    const cases: [unknown, string, RegExp][] = [
      ['not edn [', 'edn/parse', /never closed|EDN/],
      [42, 'db.error/invalid-tx-data', /list of forms/],
      [[42], 'db.error/invalid-tx-data', /map or a non-empty list form/],
      [[[]], 'db.error/invalid-tx-data', /non-empty list form/],
      [[['db/add', 1, 'person/name']], 'db.error/invalid-tx-data', /takes 3 arguments/],
      [[['db/add', 0, 'person/name', 'x']], 'db.error/invalid-entity', /not an entity id/],
      [[['db/add', 1.5, 'person/name', 'x']], 'db.error/invalid-entity', /not an entity id/],
      [[{ 'person/friend': 'dangling' }], 'db.error/tempid-not-an-entity', /used only as a value/],
      [[{ 42: 'x' }], 'db.error/unknown-attribute', /not an attribute/],
    ];
    for (const [txData, code, message] of cases) {
      const e = failure(() => conn.transact(txData));
      expect(e.code, String(txData)).toBe(code);
      expect(e.message).toMatch(message);
    }
    expect(conn.db.basisT).toBe(1);
  });

  it('leaves the connection unchanged and tells no listener when a transaction fails', () => {
    const conn = people();
    const reports: number[] = [];
    conn.listen('l', (r) => reports.push(r.dbAfter.basisT));
    conn.transact([{ 'db/id': 1, 'person/name': 'A' }]);
    const before = conn.db;
    failure(() => conn.transact([{ 'db/id': 1, 'person/age': 'old' }]));
    expect(conn.db).toBe(before);
    expect(reports).toEqual([2]);
    expect(conn.unlisten('l')).toBe(true);
    conn.transact([{ 'db/id': 1, 'person/age': 3 }]);
    expect(reports).toEqual([2]);
  });

  it('accepts datoms as tx-data, as DataScript does', () => {
    const conn = people();
    const r = conn.transact([{ 'db/id': 1, 'person/name': 'A' }]);
    const [d] = r.txData.filter((x) => x.e === 1);
    const copy = emptyDb(PEOPLE_SCHEMA).with([d]);
    expect(facts(copy.dbAfter, 1)).toEqual([['person/name', 'A']]);
  });
});
