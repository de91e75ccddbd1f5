/**
 * Transactions from the log: the datoms a transaction produced, applied again.
 *
 * The transactor logs each transaction's `txData` (the datoms in the order it applied
 * them, ending with the transaction's :db/txInstant); folding them onto the value before
 * gives the value after, with no expansion, tempids or transaction functions. The fold
 * goes through the same phase-3 rules as `transact` (apply.ts), so index membership,
 * history, schema reading and reindexing cannot drift apart from it.
 *
 * Log bytes: "DGTX" version:u8 datoms — a datom run as in serialize.ts, whose flags carry
 * each datom's `added`.
 */
import { Applier, nextSchema } from './apply.js';
import { untypedAttr } from './attribute.js';
import { Datom } from './datom.js';
import { Db } from './db.js';
import { DiagonError } from './errors.js';
import { type Attr, DB0, type Schema, SYS, TX0 } from './schema.js';
import { ByteReader, ByteWriter } from './serialize.js';
import { Keyword } from './values.js';

const MAGIC = [0x44, 0x47, 0x54, 0x58]; // "DGTX"
const VERSION = 1;

export interface ReplayOptions {
  /**
   * The maxEid of the value the transactor made. The datoms alone cannot always say it:
   * `transact` also counts explicit ids that end up in no datom (a retraction of nothing,
   * say). Without it, the highest user-partition id the datoms name is taken.
   */
  readonly maxEid?: number;
}

/**
 * The value after a logged transaction: `txData` as `transact` reported it, applied to
 * the value it was applied to. A transaction that does not fit the value (another t, a
 * retraction of a datom not there) is DiagonError 'db.error/replay'.
 */
export function replayTx(db: Db, txData: readonly Datom[], opts: ReplayOptions = {}): Db {
  const state = db.state();
  const t = state.basisT + 1;
  const txEid = TX0 + t;
  const fail = (why: string, data: Record<string, unknown> = {}) =>
    new DiagonError(
      'db.error/replay',
      `cannot replay transaction ${t} onto the value at basis t ${state.basisT}: ${why}`,
      { t, ...data },
    );
  if (db.isFiltered) throw fail('replay onto the unfiltered database, not a view of it');
  for (const d of txData) {
    if (!(d instanceof Datom)) throw fail('tx-data must be datoms');
    if (d.tx !== txEid)
      throw fail(`a datom belongs to transaction ${d.tx}, not ${txEid}`, { datom: d });
  }
  const instant = txData[txData.length - 1];
  if (
    instant === undefined ||
    instant.e !== txEid ||
    instant.a !== SYS.txInstant ||
    !instant.added ||
    !(instant.v instanceof Date)
  ) {
    throw fail("the last datom must be the transaction's :db/txInstant");
  }
  const nextAttrId = attrIdsAfter(state.schema, txData);
  const schema = withAutoAttrs(state.schema, txData, nextAttrId, fail);
  const ap = new Applier(state, schema, txEid);
  let maxEid = state.maxEid;
  for (const d of txData) {
    const attr = schema.attr(d.a)!;
    if (d.e < DB0 && d.e > maxEid) maxEid = d.e;
    if (!d.added) {
      ap.retract(d, attr);
      continue;
    }
    if (attr.isRef && typeof d.v === 'number' && d.v < DB0 && d.v > maxEid) maxEid = d.v;
    ap.add(d.e, attr, d.v, d);
  }
  // Every datom but the instant lands in ap.txData exactly when the value fits: a
  // retraction of a missing datom, or an assertion already stored, shows as a difference.
  if (ap.txData.length !== txData.length - 1)
    throw fail('its datoms do not match the value (was it logged against another one?)');
  if (opts.maxEid !== undefined) {
    if (opts.maxEid < maxEid) throw fail(`maxEid ${opts.maxEid} is below ids it names`);
    maxEid = opts.maxEid;
  }
  return new Db({
    schema: ap.schemaTouched === null ? schema : nextSchema(schema, ap, nextAttrId),
    cur: {
      eavt: ap.eavt.result(),
      aevt: ap.aevt.result(),
      avet: ap.avet.result(),
      vaet: ap.vaet.result(),
    },
    hist: state.hist.append(txEid, ap.history),
    txLog: state.txLog.append(instant.v.getTime()),
    basisT: t,
    maxEid,
  });
}

/**
 * The next free attribute id after the transaction: ids handed out in the db partition
 * are consecutive from the schema's next one, and each new entity asserts something.
 */
function attrIdsAfter(schema: Schema, txData: readonly Datom[]): number {
  const named = new Set<number>();
  for (const d of txData) if (d.e >= schema.nextAttrId && d.e < TX0) named.add(d.e);
  let next = schema.nextAttrId;
  while (named.has(next)) next++;
  return next;
}

/**
 * The schema the transaction applied under: the one before, plus the attributes made on
 * first use ('read' flexibility), untyped, which the datoms name without the schema knowing.
 */
function withAutoAttrs(
  schema: Schema,
  txData: readonly Datom[],
  nextAttrId: number,
  fail: (why: string, data?: Record<string, unknown>) => DiagonError,
): Schema {
  const unknown = [...new Set(txData.map((d) => d.a))]
    .filter((a) => schema.attr(a) === undefined)
    .sort((x, y) => x - y);
  if (unknown.length === 0) return schema;
  const changes = new Map<number, { ident: string; attr: Attr }>();
  for (const a of unknown) {
    const ident = txData.find((d) => d.e === a && d.a === SYS.ident && d.added)?.v;
    if (!(ident instanceof Keyword)) throw fail(`attribute ${a} is unknown`, { attribute: a });
    changes.set(a, { ident: ident.fqn, attr: untypedAttr(a, ident.fqn) });
  }
  return schema.withChanges(changes, nextAttrId);
}

/** A transaction's datoms as log bytes. */
export function encodeTxData(datoms: readonly Datom[]): Uint8Array {
  const w = new ByteWriter(256 + datoms.length * 16);
  for (const b of MAGIC) w.u8(b);
  w.u8(VERSION);
  w.datoms(datoms);
  return w.finish();
}

/** Log bytes back to datoms; bad bytes are DiagonError 'db.error/serialization'. */
export function decodeTxData(bytes: Uint8Array): Datom[] {
  if (!(bytes instanceof Uint8Array))
    throw new DiagonError('db.error/serialization', 'decodeTxData needs a Uint8Array');
  const r = new ByteReader(bytes, 'db.error/serialization', 'transaction log bytes');
  for (const b of MAGIC) if (r.u8() !== b) r.fail('not logged transaction data (bad magic)');
  const version = r.u8();
  if (version !== VERSION) r.fail(`unsupported version ${version}`);
  const datoms = r.datoms();
  if (!r.done) r.fail('trailing bytes');
  return datoms;
}
