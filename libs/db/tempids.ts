/**
 * Phase 2 of a transaction: every tempid gets its entity id — by upsert through a
 * `:db.unique/identity` value, by joining tempids that claim the same new value, or fresh.
 */
import { probe } from './datom.js';
import type { Db, DbState } from './db.js';
import { DiagonError } from './errors.js';
import type { Expander } from './expand.js';
import { DB0, SYS } from './schema.js';
import { ADD, find, formError, type Op, TempId } from './tx-ops.js';
import { describeValue, valueKey } from './values.js';

/** Phase 2: every tempid gets its entity id. */
export function resolveTempids(
  x: Expander,
  db: Db,
  state: DbState,
): { maxEid: number; nextAttrId: number } {
  const upserts: Op[] = [];
  for (const op of x.ops) {
    if (op.kind === ADD && op.attr.unique === 'identity') upserts.push(op);
  }
  if (upserts.length > 0) resolveUpserts(upserts, db);
  for (const op of x.ops) {
    if (op.kind === ADD && op.e instanceof TempId) {
      const r = find(op.e);
      r.asEntity = true;
      if (op.attr.id === SYS.ident) r.isAttr = true;
    }
  }
  // Explicit ids in the user partition count as taken before any tempid gets one.
  let maxEid = state.maxEid;
  for (const op of x.ops) {
    if (typeof op.e === 'number' && op.e < DB0 && op.e > maxEid) maxEid = op.e;
    if (op.attr.isRef && typeof op.v === 'number' && op.v < DB0 && op.v > maxEid) maxEid = op.v;
  }
  const ids = { maxEid, nextAttrId: x.nextAttrId };
  for (const t of x.tempids.values()) allocate(t, ids);
  for (const t of x.anonymous) allocate(t, ids);
  for (const t of x.tempids.values()) {
    const r = find(t);
    if (r.eid === 0) {
      throw new DiagonError(
        'db.error/tempid-not-an-entity',
        `tempid ${describeValue(t.key)} is used only as a value; assert something about it to create the entity`,
        { tempid: t.key },
      );
    }
    t.eid = r.eid;
  }
  return ids;
}

/** A fresh id for a tempid that did not upsert: attributes in the db partition, the rest in the user one. */
function allocate(t: TempId, ids: { maxEid: number; nextAttrId: number }): void {
  const r = find(t);
  if (r.eid !== 0 || !r.asEntity) return;
  r.eid = r.isAttr ? ids.nextAttrId++ : ++ids.maxEid;
}

/**
 * Upserts: a tempid asserting a :db.unique/identity value that an entity holds becomes
 * that entity; tempids claiming the same new value become one. Repeated until nothing
 * changes, because a resolved tempid can be the value another upsert needs.
 */
function resolveUpserts(upserts: Op[], db: Db): void {
  const claims = new Map<string, TempId | number>();
  for (let changed = true; changed; ) {
    changed = false;
    for (const op of upserts) {
      let v = op.v;
      if (v instanceof TempId) {
        const r = find(v);
        if (r.eid === 0) continue;
        v = r.eid;
      }
      const key = `${op.attr.id}\u0000${valueKey(v)}`;
      const e = op.e instanceof TempId ? find(op.e) : op.e;
      let claim = claims.get(key);
      if (claim === undefined) {
        const existing = db.scan('avet', probe(undefined, op.attr.id, v))[0]?.e;
        claims.set(key, existing ?? e);
        if (existing === undefined) continue;
        claim = existing;
      }
      if (claim instanceof TempId) claim = find(claim);
      changed = claimEntity(claim, e, op) || changed;
    }
  }
}

/** Makes `claim` (the holder of an identity) and `e` (who asserts it) the same entity. */
function claimEntity(claim: TempId | number, e: TempId | number, op: Op): boolean {
  if (typeof e === 'number') {
    if (typeof claim === 'number') {
      if (claim !== e) throw upsertConflict(op, claim, e);
      return false;
    }
    if (claim.eid === e) return false;
    if (claim.eid !== 0) throw upsertConflict(op, claim.eid, e);
    claim.eid = e;
    return true;
  }
  if (typeof claim === 'number') {
    if (e.eid === claim) return false;
    if (e.eid !== 0) throw upsertConflict(op, e.eid, claim);
    e.eid = claim;
    return true;
  }
  if (claim === e) return false;
  if (claim.eid !== 0 && e.eid !== 0 && claim.eid !== e.eid)
    throw upsertConflict(op, claim.eid, e.eid);
  e.parent = claim;
  if (claim.eid === 0) claim.eid = e.eid;
  return true;
}

function upsertConflict(op: Op, a: number, b: number): DiagonError {
  return formError(
    'db.error/unique-conflict',
    `upsert conflict: :${op.attr.ident} ${describeValue(op.v instanceof TempId ? op.v.key : op.v)} resolves to entity ${a} and to entity ${b}`,
    op.form,
    { attribute: op.attr.ident, value: op.v, entities: [a, b] },
  );
}
