/**
 * A connection: a mutable reference to the latest database value, as DataScript's conn.
 * Every transaction replaces the value atomically; listeners hear each report.
 */
import { Db } from './db.js';
import { DiagonError } from './errors.js';
import type { SchemaFlexibility } from './schema.js';
import { readSchema, type SchemaInput } from './schema-input.js';
import { type TxMeta, type TxReport, transact } from './transact.js';

export interface ConnOptions {
  /**
   * 'read' accepts undeclared attributes untyped, as DataScript does; 'write' requires
   * every attribute to be declared as data first, as Datomic does. Default: 'read' for a
   * DataScript-style schema object or no schema, 'write' for schema given as tx-data.
   */
  schemaFlexibility?: SchemaFlexibility;
}

export type TxListener = (report: TxReport) => void;

export class Conn {
  private value: Db;
  private readonly listeners = new Map<unknown, TxListener>();

  constructor(db: Db) {
    this.value = db;
  }

  /** The latest database value. */
  get db(): Db {
    return this.value;
  }

  /** Applies tx-data (JS data or an EDN string); `txMeta` is asserted on the transaction entity. */
  transact(txData: unknown, txMeta?: TxMeta): TxReport {
    const report = transact(this.value, txData, txMeta);
    this.value = report.dbAfter;
    for (const fn of this.listeners.values()) fn(report);
    return report;
  }

  /** Calls `fn` with the report of every later transaction; a key names it for `unlisten`. */
  listen(key: unknown, fn: TxListener): void {
    if (typeof fn !== 'function')
      throw new DiagonError('db.error/invalid-listener', 'listen needs a function');
    this.listeners.set(key, fn);
  }

  unlisten(key: unknown): boolean {
    return this.listeners.delete(key);
  }

  /** Replaces the value without a transaction (e.g. after reading it from storage). */
  reset(db: Db): void {
    this.value = db;
  }
}

/** A database value with a schema installed (in its first transaction when there is one). */
export function emptyDb(schema?: SchemaInput, opts: ConnOptions = {}): Db {
  const { txData, style } = readSchema(schema);
  const genesis = Db.genesis(opts.schemaFlexibility ?? (style === 'data' ? 'write' : 'read'));
  return txData.length === 0 ? genesis : transact(genesis, txData).dbAfter;
}

export function createConn(schema?: SchemaInput, opts: ConnOptions = {}): Conn {
  return new Conn(emptyDb(schema, opts));
}
