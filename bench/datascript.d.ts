// DataScript 1.8.1's JS API, as far as the benchmarks and differential tests use it.
declare module 'datascript' {
  type DsDb = { readonly __ds: 'db' };
  type DsEntity = { get(attr: string): unknown; readonly eid: number };
  type DsDatom = { e: number; a: string; v: unknown; tx: number };
  const ds: {
    empty_db(schema?: Record<string, Record<string, unknown>>): DsDb;
    db_with(db: DsDb, txData: unknown[]): DsDb;
    pull(db: DsDb, pattern: string, eid: unknown): Record<string, unknown> | null;
    pull_many(db: DsDb, pattern: string, eids: unknown[]): (Record<string, unknown> | null)[];
    q(query: string, ...inputs: unknown[]): unknown;
    entity(db: DsDb, eid: unknown): DsEntity | null;
    touch(e: DsEntity): DsEntity;
    datoms(db: DsDb, index: string, ...components: unknown[]): DsDatom[];
    create_conn(schema?: Record<string, Record<string, unknown>>): unknown;
    transact(conn: unknown, txData: unknown[]): { tempids: Record<string, number>; db_after: DsDb };
  };
  export default ds;
}
