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
  {
    version: 3,
    name: 'tx log, segments and index roots',
    sql: `
      alter table pools
        add column basis_t bigint not null default 0,
        add column head_hash bytea,
        add column index_t bigint not null default 0,
        add column index_root text;
      create table tx_log (
        pool text not null references pools (pool) on delete cascade,
        t bigint not null check (t > 0),
        tx_eid bigint not null,
        max_eid bigint not null,
        instant timestamptz not null,
        hash bytea not null check (length(hash) = 32),
        prev_hash bytea check (prev_hash is null or length(prev_hash) = 32),
        proposal text not null,
        certificate bytea not null,
        datoms bytea not null,
        primary key (pool, t),
        unique (pool, proposal)
      );
      create table segments (
        hash text primary key check (hash ~ '^[0-9a-f]{64}$'),
        bytes bytea not null,
        created_at timestamptz not null default now()
      );
      create table index_roots (
        pool text not null references pools (pool) on delete cascade,
        t bigint not null,
        root_hash text not null,
        root bytea not null,
        created_at timestamptz not null default now(),
        primary key (pool, t)
      );`,
  },
  {
    version: 4,
    name: 'proposals, votes, trust and the governance log',
    sql: `
      create table proposals (
        pool text not null references pools (pool) on delete cascade,
        id text not null,
        kind text not null,
        proposer text not null,
        signed bytea not null,
        voters text[] not null,
        policy jsonb not null,
        status text not null default 'open'
          check (status in ('open', 'approved', 'committed', 'failed', 'rejected', 'expired')),
        yes integer not null default 0,
        no integer not null default 0,
        opened_at timestamptz not null default now(),
        expires_at timestamptz not null,
        decided_at timestamptz,
        outcome jsonb,
        primary key (pool, id)
      );
      create index proposals_open on proposals (pool, status, expires_at);
      create table votes (
        pool text not null,
        proposal text not null,
        voter text not null,
        support boolean not null,
        signed bytea not null,
        elaboration text not null,
        cast_at timestamptz not null default now(),
        primary key (pool, proposal, voter),
        foreign key (pool, proposal) references proposals (pool, id) on delete cascade
      );
      create table trust (
        pool text not null references pools (pool) on delete cascade,
        did text not null,
        score double precision not null,
        updated_at timestamptz not null,
        primary key (pool, did)
      );
      create table membership_log (
        pool text not null references pools (pool) on delete cascade,
        seq bigserial,
        did text not null,
        change text not null check (change in ('added', 'removed')),
        role text,
        at timestamptz not null default now(),
        primary key (pool, seq)
      );
      create table tlog_leaves (
        pool text not null references pools (pool) on delete cascade,
        idx bigint not null,
        kind text not null,
        ref text not null,
        leaf bytea not null,
        leaf_hash bytea not null,
        primary key (pool, idx)
      );
      create table tlog_checkpoints (
        pool text not null references pools (pool) on delete cascade,
        size bigint not null,
        root bytea not null,
        note text not null,
        signed_at timestamptz not null default now(),
        primary key (pool, size)
      );`,
  },
  {
    version: 5,
    name: 'the governance log size per pool, so a leaf is appended in one statement',
    sql: `
      create table tlog_heads (
        pool text primary key references pools (pool) on delete cascade,
        size bigint not null check (size >= 0)
      );
      insert into tlog_heads (pool, size)
        select pool, max(idx) + 1 from tlog_leaves group by pool;`,
  },
  {
    version: 6,
    name: 'a notification when a pool is created, so services serve it at once',
    sql: `
      create function pool_created() returns trigger language plpgsql as $$
      begin
        perform pg_notify('diagon_pools',
          json_build_object('schema', tg_table_schema, 'pool', new.pool)::text);
        return null;
      end $$;
      create trigger pool_created after insert on pools
        for each row execute function pool_created();`,
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
