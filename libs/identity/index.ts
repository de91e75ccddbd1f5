/**
 * diagon/identity — who signed what.
 *
 * - Keys: `KeyPair.generate()`, `KeyPair.fromSecretKey(seed)`, `publicKeyOf(seed)`; key files
 *   (`saveKeyFile`, `loadKeyFile`: JSON, mode 0600, refused when group/others can read them).
 * - DIDs: `formatDid(publicKey)` → `did:key:z6Mk…`, `parseDid(did)` → public key,
 *   `didMatchesKey(did, publicKey)` (the binding check).
 * - Canonical bytes: `encodeCanonical`/`decodeCanonical` (deterministic CBOR, RFC 8949 §4.2.1
 *   ∩ DAG-CBOR, no floats) and `signingBytes(kind, pool, value)`, which prefixes
 *   `diagon/v1/<kind>/<pool>\0`: everything signed goes through it.
 * - Content ids: `contentId(value)` (CIDv1, dag-cbor, sha2-256 of the canonical bytes),
 *   `rawContentId(bytes)`, `parseContentId(text)`.
 * - Signatures: `sign`, `verify` (strict; `impl: 'noble' | 'node'`), `verifyFast` (node:crypto,
 *   for servers), `verifyValue`/`KeyPair.signValue` for domain-separated values. The strict
 *   policy (ed25519.ts) refuses small- and mixed-order keys, small-order R, S ≥ L, and uses
 *   the cofactorless equation, identically in both implementations.
 *
 * - Session tokens: `issueSessionToken`, `verifySessionToken` (compact JWS, EdDSA, RFC 8037).
 *
 * Errors are `DiagonError`s with codes `identity/*`, `canonical/*`.
 */
export {
  type CanonicalOptions,
  type CanonicalValue,
  DEFAULT_MAX_DEPTH,
  decodeCanonical,
  encodeCanonical,
} from './cbor.js';
export {
  type ContentId,
  contentId,
  DAG_CBOR_CODEC,
  parseContentId,
  RAW_CODEC,
  rawContentId,
  SHA2_256_CODE,
} from './content-id.js';
export { didMatchesKey, ED25519_PUB_CODEC, formatDid, isDid, parseDid } from './did.js';
export {
  checkPublicKey,
  generateSecretKey,
  isSmallOrderEncoding,
  isValidPublicKey,
  PUBLIC_KEY_BYTES,
  publicKeyOf,
  SECRET_KEY_BYTES,
  SIGNATURE_BYTES,
  type SignOptions,
  sign,
  type VerifyImpl,
  type VerifyOptions,
  verify,
  verifyFast,
} from './ed25519.js';
export {
  formatKeyFile,
  KEY_FILE_FORMAT,
  type KeyFile,
  loadKeyFile,
  loadOrCreateKeyFile,
  parseKeyFile,
  type SaveKeyFileOptions,
  saveKeyFile,
} from './key-file.js';
export { KeyPair } from './key-pair.js';
export {
  type IssueOptions,
  issueSessionToken,
  MAX_SESSION_TOKEN_LENGTH,
  SESSION_TOKEN_TYPE,
  type Session,
  type SessionClaims,
  type VerifySessionOptions,
  verifySessionToken,
} from './session-token.js';
export {
  checkPoolName,
  domainPrefix,
  isKindName,
  isPoolName,
  PROTOCOL_VERSION,
  prefixedBytes,
  signingBytes,
  verifyValue,
} from './signing-bytes.js';
export { type SignedMessage, VerifierPool, type VerifierPoolOptions } from './verifier-pool.js';
