// DataScript 1.8.1's JS API, as far as the benchmarks and differential tests use it.
declare module 'datascript' {
  export type DsDb = { readonly __ds: 'db' };
  export type DsConn = { readonly __ds: 'conn' };
  export type DsEntity = { get(attr: string): unknown; readonly eid: number };
  /** `tx` is negative for a retraction. */
  export type DsDatom = { e: number; a: string; v: unknown; tx: number };
  export type DsTxReport = {
    tempids: Record<string, number>;
    db_before: DsDb;
    db_after: DsDb;
    tx_data: DsDatom[];
  };
  const ds: {
    empty_db(schema?: Record<string, Record<string, unknown>>): DsDb;
    db_with(db: DsDb, txData: unknown[]): DsDb;
    pull(db: DsDb, pattern: string, eid: unknown): Record<string, unknown> | null;
    pull_many(db: DsDb, pattern: string, eids: unknown[]): (Record<string, unknown> | null)[];
    q(query: string, ...inputs: unknown[]): unknown;
    entity(db: DsDb, eid: unknown): DsEntity | null;
    touch(e: DsEntity): DsEntity;
    datoms(db: DsDb, index: string, ...components: unknown[]): DsDatom[];
    create_conn(schema?: Record<string, Record<string, unknown>>): DsConn;
    conn_from_db(db: DsDb): DsConn;
    transact(conn: DsConn, txData: unknown[]): DsTxReport;
  };
  export default ds;
}
