/**
 * One Postgres connection pool per process (postgres.js). Every Diagon table lives in one
 * schema (default `diagon`), so a cluster can share a database with other software and
 * each test file can own a fresh schema.
 */
import postgres from 'postgres';
import { redactUrl } from '../common/url.js';
import { DiagonError } from '../db/errors.js';

export { redactUrl as redact };

export type Sql = postgres.Sql<Record<string, never>>;
export type TxSql = postgres.TransactionSql<Record<string, never>>;

export interface PostgresOptions {
  /** `postgres://user@host:port/database`. */
  url: string;
  /** Schema holding Diagon's tables (created when missing). Default `diagon`. */
  schema?: string;
  /** Pool size. Default 10. */
  max?: number;
  /** Seconds to wait for a connection before failing. Default 10. */
  connectTimeout?: number;
}

const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

/** Opens a pool, creates the schema when missing, and checks the server answers. */
export async function connectPostgres(options: PostgresOptions): Promise<Sql> {
  const schema = options.schema ?? 'diagon';
  if (!SCHEMA_NAME.test(schema)) {
    throw new DiagonError(
      'storage/bad-schema',
      `Schema name ${JSON.stringify(schema)} is not allowed: use lower-case letters, digits and _, starting with a letter.`,
    );
  }
  const sql: Sql = postgres(options.url, {
    max: options.max ?? 10,
    connect_timeout: options.connectTimeout ?? 10,
    onnotice: () => {},
    connection: { search_path: schema, application_name: 'diagon' },
    // int8 (t, counts) as a number: every t and count here stays below 2^53.
    types: {
      bigint: {
        to: 20,
        from: [20],
        serialize: (x: number | bigint) => String(x),
        parse: (x: string) => Number(x),
      },
    },
  }) as unknown as Sql;
  try {
    await sql.unsafe(`create schema if not exists ${schema}`);
  } catch (e) {
    await sql.end({ timeout: 1 });
    throw new DiagonError(
      'storage/unreachable',
      `Cannot reach Postgres at ${redactUrl(options.url)}: ${(e as Error).message}. Check that it runs and that DATABASE_URL is right.`,
      { cause: (e as Error).message },
    );
  }
  return sql;
}
