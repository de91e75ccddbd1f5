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
  appendTxBatch,
  entryHash,
  findByProposal,
  findByProposals,
  getRoot,
  type LogEntry,
  lastCommitInstant,
  logEntry,
  type NewLogEntry,
  type PoolRoot,
  readLog,
  verifyChain,
} from './log.js';
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
  getPoolWithMembers,
  listPools,
  POOL_NAME,
  type PoolRecord,
  upsertPool,
  type WatchPoolsOptions,
  watchPools,
} from './pools.js';
export {
  expireProposals,
  getProposal,
  getTrust,
  insertProposal,
  insertVote,
  listProposals,
  listVotes,
  logMembership,
  membershipHistory,
  type ProposalRecord,
  type ProposalStatus,
  setTrust,
  type TrustRecord,
  updateProposal,
  type VoteRecord,
} from './proposals.js';
export {
  advanceIndexRoot,
  countSegments,
  currentIndexRoot,
  deleteSegments,
  getSegments,
  type IndexRoot,
  listIndexRoots,
  listSegmentHashes,
  pruneIndexRoots,
  putSegments,
} from './segments.js';
