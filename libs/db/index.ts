/**
 * diagon/db — the database value.
 *
 * In JS, attribute idents are keyword names without the colon (`"person/name"`); in EDN
 * they are keywords (`:person/name`). tx-data, schemas and pull patterns may be JS data
 * or EDN strings.
 */
export { SortedSet, TransientSortedSet } from './btset.js';
export { Conn, type ConnOptions, createConn, emptyDb, type TxListener } from './conn.js';
export { Datom, type IndexName } from './datom.js';
export { type DatomPredicate, Db, type EntityRef } from './db.js';
export { parseEdn, parseEdnAll, printEdn } from './edn.js';
export { Entity, type EntityValue, entity } from './entity.js';
export { DiagonError, isDiagonError } from './errors.js';
export { pull, pullMany, registerXform, type Xform } from './pull.js';
export {
  type ExplainStep,
  type Explanation,
  explain,
  q,
  registerAggregate,
  registerFn,
} from './query/index.js';
export { decodeTxData, encodeTxData, type ReplayOptions, replayTx } from './replay.js';
export { type Attr, DB0, type SchemaFlexibility, TX0, type ValueType } from './schema.js';
export type { SchemaInput } from './schema-input.js';
export {
  type CacheTierStats,
  decodeSegment,
  loadSnapshot,
  type RootDoc,
  reachableSegments,
  type Segment,
  SegmentCache,
  type SegmentCacheOptions,
  type SegmentSource,
  type Snapshot,
  segmentChildren,
  snapshotDb,
} from './segments.js';
export { deserializeDb, serializeDb } from './serialize.js';
export {
  MAX_TX_FN_DEPTH,
  registerTxFn,
  type TxFn,
  type TxMeta,
  type TxObserver,
  type TxReport,
  transact,
} from './transact.js';
export { compareValues, Keyword, kw, List, Sym, sym, Tagged, Uuid, type Value } from './values.js';
