import { describe, expect, it } from 'vitest';
import { createConn } from './conn.js';
import { DiagonError } from './errors.js';
import { pull, pullMany, registerXform } from './pull.js';

const SCHEMA = `[
  {:db/ident :p/name :db/valueType :db.type/string}
  {:db/ident :p/email :db/valueType :db.type/string :db/unique :db.unique/identity}
  {:db/ident :p/age :db/valueType :db.type/long}
  {:db/ident :p/nick :db/valueType :db.type/string :db/cardinality :db.cardinality/many}
  {:db/ident :p/friend :db/valueType :db.type/ref :db/cardinality :db.cardinality/many}
  {:db/ident :p/boss :db/valueType :db.type/ref}
  {:db/ident :p/address :db/valueType :db.type/ref :db/isComponent true}
  {:db/ident :a/city :db/valueType :db.type/string}
]`;

/** Ann -> Bob -> Cid -> Ann (friends, a cycle); Dee's boss is Ann; Ann has an address. */
function world() {
  const conn = createConn(SCHEMA);
  const r = conn.transact([
    {
      'db/id': 'ann',
      'p/name': 'Ann',
      'p/email': 'ann@x',
      'p/nick': ['A', 'Annie'],
      'p/friend': ['bob'],
      'p/address': { 'a/city': 'Oslo' },
    },
    { 'db/id': 'bob', 'p/name': 'Bob', 'p/age': 30, 'p/friend': ['cid'] },
    { 'db/id': 'cid', 'p/name': 'Cid', 'p/friend': ['ann'] },
    { 'db/id': 'dee', 'p/name': 'Dee', 'p/boss': 'ann' },
  ]);
  return { db: conn.db, ...(r.tempids as Record<'ann' | 'bob' | 'cid' | 'dee', number>) };
}

describe('pull', () => {
  it('pulls attributes, db/id and nested patterns', () => {
    const { db, ann, bob } = world();
    expect(pull(db, '[:db/id :p/name :p/nick {:p/friend [:p/name :p/age]}]', ann)).toEqual({
      'db/id': ann,
      'p/name': 'Ann',
      'p/nick': ['A', 'Annie'],
      'p/friend': [{ 'p/name': 'Bob', 'p/age': 30 }],
    });
    expect(pull(db, ['p/name', { 'p/friend': ['db/id'] }], ann)).toEqual({
      'p/name': 'Ann',
      'p/friend': [{ 'db/id': bob }],
    });
  });

  it('pulls the wildcard: every attribute, refs as ids, components whole', () => {
    const { db, ann, bob } = world();
    const got = pull(db, '[*]', ann)!;
    expect(got['db/id']).toBe(ann);
    expect(got['p/friend']).toEqual([{ 'db/id': bob }]);
    expect(got['p/address']).toMatchObject({ 'a/city': 'Oslo' });
    expect(pull(db, '[* {:p/friend [:p/name]}]', ann)!['p/friend']).toEqual([{ 'p/name': 'Bob' }]);
  });

  it('pulls reverse refs; a reverse component ref is single', () => {
    const { db, ann, dee, cid } = world();
    expect(pull(db, '[{:p/_boss [:p/name]} {:p/_friend [:db/id]}]', ann)).toEqual({
      'p/_boss': [{ 'p/name': 'Dee' }],
      'p/_friend': [{ 'db/id': cid }],
    });
    const address = pull(db, '[:p/address]', ann)!['p/address'] as { 'db/id': number };
    expect(pull(db, '[{:p/_address [:p/name]}]', address['db/id'])).toEqual({
      'p/_address': { 'p/name': 'Ann' },
    });
    expect(pull(db, '[:p/_boss]', dee)).toBeNull();
  });

  it('recurses without bound until a cycle, and to a given depth', () => {
    const { db, ann, bob, cid } = world();
    expect(pull(db, '[:p/name {:p/friend ...}]', ann)).toEqual({
      'p/name': 'Ann',
      'p/friend': [
        { 'p/name': 'Bob', 'p/friend': [{ 'p/name': 'Cid', 'p/friend': [{ 'db/id': ann }] }] },
      ],
    });
    expect(pull(db, '[:p/name {:p/friend 1}]', ann)).toEqual({
      'p/name': 'Ann',
      'p/friend': [{ 'p/name': 'Bob', 'p/friend': [{ 'db/id': cid }] }],
    });
    expect(pull(db, '[:db/id {:p/friend 2}]', bob)).toEqual({
      'db/id': bob,
      'p/friend': [
        { 'db/id': cid, 'p/friend': [{ 'db/id': ann, 'p/friend': [{ 'db/id': bob }] }] },
      ],
    });
  });

  it('applies :as, :limit, :default and :xform, and the legacy list forms', () => {
    const { db, ann, bob } = world();
    registerXform('test/upper', (v) => String(v).toUpperCase());
    expect(
      pull(
        db,
        '[[:p/name :as "name"] [:p/nick :limit 1] [:p/age :default 0] [:p/email :xform test/upper]]',
        ann,
      ),
    ).toEqual({
      name: 'Ann',
      'p/nick': ['A'],
      'p/age': 0,
      'p/email': 'ANN@X',
    });
    expect(pull(db, '[(limit :p/nick 1) (default :p/age -1)]', ann)).toEqual({
      'p/nick': ['A'],
      'p/age': -1,
    });
    expect(
      pull(
        db,
        [
          ['p/friend', 'as', 'pals'],
          ['p/age', ':default', 1],
        ],
        bob,
      ),
    ).toMatchObject({ pals: [{}], 'p/age': 30 });
    expect(pull(db, '[[:p/nick :limit nil]]', ann)).toEqual({ 'p/nick': ['A', 'Annie'] });
  });

  it('pulls a component named without a sub-pattern whole', () => {
    const { db, ann } = world();
    expect(pull(db, '[:p/address]', ann)!['p/address']).toMatchObject({ 'a/city': 'Oslo' });
  });

  it('returns null when nothing matches, and resolves lookup refs', () => {
    const { db, ann } = world();
    expect(pull(db, '[:p/age]', ann)).toBeNull();
    expect(pull(db, '[*]', 424242)).toEqual({ 'db/id': 424242 });
    expect(pull(db, '[:db/id :p/name]', ['p/email', 'ann@x'])).toEqual({
      'db/id': ann,
      'p/name': 'Ann',
    });
    expect(pull(db, '[:p/name]', ['p/email', 'nobody'])).toBeNull();
    expect(pullMany(db, '[:p/name]', [ann, ['p/email', 'ann@x'], 999])).toEqual([
      { 'p/name': 'Ann' },
      { 'p/name': 'Ann' },
      null,
    ]);
  });

  it('pulls as of a past basis', () => {
    const conn = createConn(SCHEMA);
    conn.transact([{ 'db/id': 1, 'p/name': 'Ann' }]);
    conn.transact([{ 'db/id': 1, 'p/name': 'Anna' }]);
    expect(pull(conn.db, '[:p/name]', 1)).toEqual({ 'p/name': 'Anna' });
    expect(pull(conn.db.asOf(2), '[:p/name]', 1)).toEqual({ 'p/name': 'Ann' });
  });

  it('rejects malformed patterns with a clear error', () => {
    const { db, ann } = world();
    const cases: [unknown, RegExp][] = [
      [':p/name', /a pattern is a vector/],
      ['[:p/nope]', /:p\/nope is not an attribute/],
      ['[{:p/name [:a/city]}]', /not a ref/],
      ['[[:p/name :as]]', /\[attr option value/],
      ['[[:p/name :bogus 1]]', /unknown option :bogus/],
      ['[[:p/nick :limit -1]]', /non-negative integer/],
      ['[[:p/name :xform no/such]]', /not registered/],
      ['[{:p/friend 0}]', /positive integer/],
      ['[(frob :p/name 1)]', /limit attr n/],
      ['[:p/_name]', /needs :p\/name to be a ref/],
      ['[{:db/id [:p/name]}]', /takes no sub-pattern/],
      ['[:p/name', /never closed/],
    ];
    for (const [pattern, message] of cases) {
      let error: unknown;
      try {
        pull(db, pattern, ann);
      } catch (e) {
        error = e;
      }
      expect(error, String(pattern)).toBeInstanceOf(DiagonError);
      expect((error as Error).message, String(pattern)).toMatch(message);
    }
  });
});
