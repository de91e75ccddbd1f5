import { describe, expect, it } from 'vitest';
import { createConn } from './conn.js';
import { Entity, entity } from './entity.js';
import { kw } from './values.js';

const SCHEMA = `[
  {:db/ident :p/name :db/valueType :db.type/string}
  {:db/ident :p/email :db/valueType :db.type/string :db/unique :db.unique/identity}
  {:db/ident :p/nick :db/valueType :db.type/string :db/cardinality :db.cardinality/many}
  {:db/ident :p/friend :db/valueType :db.type/ref :db/cardinality :db.cardinality/many}
  {:db/ident :p/address :db/valueType :db.type/ref :db/isComponent true}
  {:db/ident :a/city :db/valueType :db.type/string}
]`;

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
    { 'db/id': 'bob', 'p/name': 'Bob', 'p/friend': ['ann'] },
  ]);
  return { conn, ann: r.tempids.ann!, bob: r.tempids.bob! };
}

describe('entity', () => {
  it('reads attributes lazily: values, arrays for cardinality many, entities for refs', () => {
    const { conn, ann, bob } = world();
    const e = entity(conn.db, ann)!;
    expect(e.id).toBe(ann);
    expect(e.get('p/name')).toBe('Ann');
    expect(e.get(':p/name')).toBe('Ann');
    expect(e.get(kw('p/name'))).toBe('Ann');
    expect(e.get('db/id')).toBe(ann);
    expect(e.get('p/nick')).toEqual(['A', 'Annie']);
    expect(e.get('p/missing')).toBeUndefined();
    const [friend] = e.get('p/friend') as Entity[];
    expect(friend).toBeInstanceOf(Entity);
    expect(friend!.get('p/name')).toBe('Bob');
    expect((friend!.get('p/friend') as Entity[])[0]!.equals(e)).toBe(true);
    expect(friend!.id).toBe(bob);
  });

  it('navigates reverse refs; a component has one owner', () => {
    const { conn, ann, bob } = world();
    const b = entity(conn.db, bob)!;
    expect((b.get('p/_friend') as Entity[]).map((x) => x.id)).toEqual([ann]);
    const address = entity(conn.db, ann)!.get('p/address') as Entity;
    expect(address.get('a/city')).toBe('Oslo');
    expect((address.get('p/_address') as Entity).id).toBe(ann);
    expect(b.get('p/_address')).toBeUndefined();
  });

  it('resolves lookup refs and returns null for what does not exist', () => {
    const { conn, ann } = world();
    expect(entity(conn.db, ['p/email', 'ann@x'])!.id).toBe(ann);
    expect(entity(conn.db, ['p/email', 'nobody'])).toBeNull();
    expect(entity(conn.db, 424242)).toBeNull();
  });

  it('touches, iterates and prints as plain data', () => {
    const { conn, ann, bob } = world();
    const e = entity(conn.db, ann)!;
    expect(e.keys().sort()).toEqual(['p/address', 'p/email', 'p/friend', 'p/name', 'p/nick']);
    expect(new Map(e).get('p/name')).toBe('Ann');
    const json = e.toJSON();
    expect(json['db/id']).toBe(ann);
    expect(json['p/friend']).toEqual([{ 'db/id': bob }]);
  });

  it('is a view of one database value: later transactions do not change it', () => {
    const { conn, ann } = world();
    const before = entity(conn.db, ann)!;
    conn.transact([{ 'db/id': ann, 'p/name': 'Anna' }]);
    expect(before.get('p/name')).toBe('Ann');
    expect(entity(conn.db, ann)!.get('p/name')).toBe('Anna');
    expect(entity(conn.db.asOf(2), ann)!.get('p/name')).toBe('Ann');
  });
});
