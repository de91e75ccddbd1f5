/**
 * A real Postgres for tests: each call gets a fresh schema (dropped by `drop`), so test
 * files run in parallel on one database without seeing each other's rows.
 * `DIAGON_TEST_PG_URL` picks the server (default: the local one CI starts).
 */
import { randomBytes } from 'node:crypto';
import { connectPostgres, type Sql } from '../../libs/storage/connection.js';

export const TEST_PG_URL =
  process.env.DIAGON_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

export interface TestPostgres {
  sql: Sql;
  url: string;
  schema: string;
  drop(): Promise<void>;
}

export async function testPostgres(prefix = 't', max = 4): Promise<TestPostgres> {
  const schema = `${prefix}_${randomBytes(6).toString('hex')}`;
  const sql = await connectPostgres({ url: TEST_PG_URL, schema, max });
  return {
    sql,
    url: TEST_PG_URL,
    schema,
    async drop() {
      await sql.unsafe(`drop schema if exists ${schema} cascade`);
      await sql.end({ timeout: 5 });
    },
  };
}
