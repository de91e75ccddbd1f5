/**
 * libs/storage — Postgres through postgres.js: the connection, versioned migrations, and
 * one module per table family.
 */
export {
  type ChallengeRecord,
  insertChallenge,
  purgeChallenges,
  type RedeemOutcome,
  redeemChallenge,
} from './challenges.js';
export {
  connectPostgres,
  type PostgresOptions,
  redact,
  type Sql,
  type TxSql,
} from './connection.js';
export {
  addMember,
  getMember,
  listMembers,
  type MemberRecord,
  type NewMember,
  type Role,
  removeMember,
  replaceMembers,
} from './members.js';
export { MIGRATIONS, type Migration, type MigrationReport, migrate } from './migrations.js';
export {
  checkPoolName,
  deletePool,
  getPool,
  listPools,
  POOL_NAME,
  type PoolRecord,
  upsertPool,
} from './pools.js';
