/**
 * Versioned migrations. Each runs once, in order, inside one transaction that holds an
 * advisory lock, so any number of services may start at once: the first applies what is
 * missing, the others wait and find nothing to do. An applied migration whose text has
 * changed is refused (its checksum no longer matches): write a new one instead.
 */
import { createHash } from 'node:crypto';
import { DiagonError } from '../db/errors.js';
import type { Sql } from './connection.js';

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'pools and members',
    sql: `
      create table pools (
        pool text primary key check (pool ~ '^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$'),
        created_at timestamptz not null default now(),
        policy jsonb not null default '{}'
      );
      create table members (
        pool text not null references pools (pool) on delete cascade,
        did text not null check (did like 'did:key:z%'),
        public_key bytea not null check (length(public_key) = 32),
        role text not null default 'member' check (role in ('member', 'observer')),
        added_at timestamptz not null default now(),
        primary key (pool, did)
      );`,
  },
  {
    version: 2,
    name: 'auth challenges',
    sql: `
      create table auth_challenges (
        nonce bytea primary key check (length(nonce) = 32),
        pool text not null references pools (pool) on delete cascade,
        did text not null,
        server_did text not null,
        expires_at timestamptz not null,
        used_at timestamptz
      );
      create index auth_challenges_expiry on auth_challenges (expires_at);`,
  },
];

export interface MigrationReport {
  applied: number[];
  current: number;
}

/** Applies every missing migration; safe to call from many processes at once. */
export async function migrate(
  sql: Sql,
  migrations: readonly Migration[] = MIGRATIONS,
): Promise<MigrationReport> {
  return sql.begin(async (tx) => {
    await tx`select pg_advisory_xact_lock(hashtext('diagon.migrations.' || current_schema()))`;
    await tx`
      create table if not exists schema_migrations (
        version integer primary key,
        name text not null,
        checksum text not null,
        applied_at timestamptz not null default now()
      )`;
    const rows = await tx<{ version: number; checksum: string }[]>`
      select version, checksum from schema_migrations order by version`;
    const done = new Map(rows.map((r) => [r.version, r.checksum]));
    const known = new Set(migrations.map((m) => m.version));
    for (const v of done.keys()) {
      if (!known.has(v)) {
        throw new DiagonError(
          'storage/migration-unknown',
          `The database has migration ${v}, which this version of Diagon does not know: it was migrated by a newer release. Run that release (or newer).`,
          { version: v },
        );
      }
    }
    const applied: number[] = [];
    for (const m of [...migrations].sort((a, b) => a.version - b.version)) {
      const sum = checksum(m.sql);
      const had = done.get(m.version);
      if (had !== undefined) {
        if (had !== sum) {
          throw new DiagonError(
            'storage/migration-changed',
            `Migration ${m.version} (${m.name}) was applied with different text: never edit an applied migration, add a new one.`,
            { version: m.version },
          );
        }
        continue;
      }
      await tx.unsafe(m.sql);
      await tx`insert into schema_migrations (version, name, checksum) values (${m.version}, ${m.name}, ${sum})`;
      applied.push(m.version);
    }
    return { applied, current: Math.max(0, ...known) };
  });
}

function checksum(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}
