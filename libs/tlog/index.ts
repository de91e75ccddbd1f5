/**
 * diagon/tlog — a transparency log per pool: every governance decision is a leaf of an
 * RFC 9162 Merkle tree, and the pool's log key signs a checkpoint of the tree after each commit,
 * so anyone can check offline that an exported pool's history is the one that was signed.
 *
 * - Merkle tree (merkle.ts): `leafHash`, `nodeHash`, `emptyRoot`, `rootFromLeafHashes`;
 *   proofs as subtree ranges (`inclusionRanges`, `consistencyRanges`, fetched from storage with
 *   `readProof`) or from leaf hashes in memory (`inclusionProof`, `consistencyProof`);
 *   `verifyInclusion`, `verifyConsistency` (RFC 9162 §2.1.3.2, §2.1.4.2; false when invalid);
 *   `MerkleLog` (append, O(log n) root, `frontier()` / `MerkleLog.fromFrontier` to persist).
 * - Leaves (leaf.ts): `encodeLeaf({kind, pool, body})` =
 *   `signingBytes('tlog-leaf', pool, {kind, body})` for kinds `proposal`, `vote`,
 *   `certificate`, `commit`; `decodeLeaf`.
 * - Signed notes (note.ts, C2SP signed-note with Ed25519): `parseSignedNote`,
 *   `formatSignedNote`, `signNote`, `verifyNote`, `noteKeyId`, and verifier keys
 *   `<name>+<hex id>+<base64(0x01 ‖ key)>` (`formatVerifierKey`, `parseVerifierKey`).
 * - Checkpoints (checkpoint.ts, C2SP tlog-checkpoint): `poolOrigin(pool)` =
 *   `diagon.dev/pool/<pool>`, `formatCheckpoint`, `parseCheckpoint`, `signCheckpoint`,
 *   `verifyCheckpoint` (→ {origin, size, rootHash, extensions}).
 *
 * Errors are `DiagonError`s with codes `tlog/*`: `bad-range`, `bad-hash`, `bad-frontier`,
 * `bad-leaf`, `bad-note`, `bad-signature`, `unverified-note`, `bad-verifier-key`,
 * `bad-checkpoint` (with `data.reason`).
 */
export {
  type Checkpoint,
  formatCheckpoint,
  POOL_ORIGIN_PREFIX,
  parseCheckpoint,
  poolOrigin,
  signCheckpoint,
  type VerifyCheckpointOptions,
  verifyCheckpoint,
} from './checkpoint.js';
export {
  decodeLeaf,
  encodeLeaf,
  isLeafKind,
  LEAF_DOMAIN,
  LEAF_KINDS,
  type LeafEntry,
  type LeafKind,
} from './leaf.js';
export {
  consistencyProof,
  consistencyRanges,
  emptyRoot,
  type Frontier,
  HASH_BYTES,
  inclusionProof,
  inclusionRanges,
  type LeafHashes,
  leafHash,
  MerkleLog,
  nodeHash,
  readProof,
  rootFromLeafHashes,
  type SubtreeHashSource,
  type SubtreeRange,
  verifyConsistency,
  verifyInclusion,
} from './merkle.js';
export {
  ED25519_NOTE_KEY,
  formatSignedNote,
  formatVerifierKey,
  isKeyName,
  MAX_NOTE_SIGNATURES,
  type NoteSignature,
  type NoteVerifier,
  noteKeyId,
  parseSignedNote,
  parseVerifierKey,
  type SignedNote,
  signNote,
  type VerifiedNote,
  verifyNote,
} from './note.js';
