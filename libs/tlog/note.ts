/**
 * Signed notes (C2SP signed-note, as golang.org/x/mod/sumdb/note) with Ed25519 keys:
 *
 *     <text, ending in a newline>
 *     <blank line>
 *     — <key name> <base64(4-byte key id ‖ 64-byte signature over the text)>
 *     …
 *
 * The key id is the first four bytes (big-endian) of SHA-256(key name ‖ 0x0A ‖ 0x01 ‖ public
 * key), and a verifier key is written `<name>+<8 hex digits of the id>+<base64(0x01 ‖ key)>`.
 *
 * Parsing is strict: a note must be UTF-8 without control characters other than newline, the
 * text ends at the last blank line, every line after it must be a signature line, key names are
 * non-empty without spaces or `+`, base64 is canonical, and more than 100 signatures are refused.
 * Verification follows the spec: signatures by unknown keys (name or id differ) are ignored,
 * every signature by a known key must verify (strict ed25519), and at least one must exist.
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { base64 } from '@scure/base';
import { DiagonError } from '../db/errors.js';
import { isValidPublicKey, type KeyPair, PUBLIC_KEY_BYTES, verify } from '../identity/index.js';
import { bytesEqual } from './merkle.js';

/** The signature type byte of Ed25519 note keys. */
export const ED25519_NOTE_KEY = 0x01;
/** The most signatures a note may carry (the spec requires accepting at least 16). */
export const MAX_NOTE_SIGNATURES = 100;

/** One signature line. `signature` excludes the 4-byte key id. */
export interface NoteSignature {
  readonly keyName: string;
  readonly keyId: number;
  readonly signature: Uint8Array;
}

export interface SignedNote {
  readonly text: string;
  readonly signatures: readonly NoteSignature[];
}

/** A trusted Ed25519 key under a name. */
export interface NoteVerifier {
  readonly keyName: string;
  readonly publicKey: Uint8Array;
}

export interface VerifiedNote {
  readonly text: string;
  /** Signatures by the given keys, each key once. */
  readonly verified: readonly NoteSignature[];
  /** Signatures by other keys, ignored (identical ones once). */
  readonly unknown: readonly NoteSignature[];
}

const SIG_PREFIX = '— ';
const utf8 = new TextEncoder();
const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
// Go's unicode.IsSpace, which the reference implementation uses, plus `+`.
const NOT_IN_KEY_NAME =
  /[\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000+]/u;
const LONE_SURROGATE = /\p{Surrogate}/u;

/** Non-empty, without Unicode spaces or `+`. */
export function isKeyName(x: unknown): x is string {
  return typeof x === 'string' && x !== '' && !NOT_IN_KEY_NAME.test(x) && isNoteText(x);
}

/** No ASCII control character but newline, no lone surrogate (which UTF-8 cannot encode). */
export function isNoteText(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 && c !== 0x0a) return false;
  }
  return !LONE_SURROGATE.test(s);
}

/** SHA-256(key name ‖ 0x0A ‖ 0x01 ‖ public key)[:4] as a big-endian uint32. */
export function noteKeyId(keyName: string, publicKey: Uint8Array): number {
  const digest = sha256
    .create()
    .update(utf8.encode(`${keyName}\n`))
    .update(Uint8Array.of(ED25519_NOTE_KEY))
    .update(publicKey)
    .digest();
  return readUint32(digest);
}

/** `<name>+<hex key id>+<base64(0x01 ‖ public key)>`. */
export function formatVerifierKey(keyName: string, publicKey: Uint8Array): string {
  checkKeyName(keyName, 'tlog/bad-verifier-key');
  if (!isValidPublicKey(publicKey))
    throw new DiagonError('tlog/bad-verifier-key', 'not a valid ed25519 public key');
  const key = new Uint8Array(1 + PUBLIC_KEY_BYTES);
  key[0] = ED25519_NOTE_KEY;
  key.set(publicKey, 1);
  return `${keyName}+${hexId(noteKeyId(keyName, publicKey))}+${base64.encode(key)}`;
}

/** The name and key of a verifier key; throws `tlog/bad-verifier-key` saying what is wrong. */
export function parseVerifierKey(vkey: string): NoteVerifier & { keyId: number } {
  const bad = (why: string) =>
    new DiagonError('tlog/bad-verifier-key', `verifier key ${JSON.stringify(vkey)}: ${why}`);
  const parts = vkey.split('+');
  if (parts.length !== 3) throw bad('expected <name>+<hex key id>+<base64 key>');
  const [keyName, id, encoded] = parts as [string, string, string];
  if (!isKeyName(keyName)) throw bad('the name is empty or holds spaces');
  if (!/^[0-9a-f]{8}$/.test(id)) throw bad('the key id is not 8 lowercase hex digits');
  const key = decodeBase64(encoded);
  if (key === undefined || key.length === 0) throw bad('the key is not canonical base64');
  if (key[0] !== ED25519_NOTE_KEY) throw bad(`unknown key type ${key[0]} (only 1, Ed25519)`);
  const publicKey = key.subarray(1);
  if (!isValidPublicKey(publicKey)) throw bad('not a valid ed25519 public key');
  const keyId = noteKeyId(keyName, publicKey);
  if (hexId(keyId) !== id) throw bad(`the key id should be ${hexId(keyId)}`);
  return { keyName, keyId, publicKey: Uint8Array.from(publicKey) };
}

/** The text and signature lines of a note (syntax only); throws `tlog/bad-note`. */
export function parseSignedNote(note: string | Uint8Array): SignedNote {
  const s = typeof note === 'string' ? note : decodeUtf8(note);
  if (!isNoteText(s)) throw malformed('it holds a control character other than newline');
  const split = s.lastIndexOf('\n\n');
  if (split < 0) throw malformed('no blank line separates the text from the signatures');
  const text = s.slice(0, split + 1);
  const block = s.slice(split + 2);
  if (!block.endsWith('\n')) throw malformed('the last signature line does not end in a newline');
  const lines = block.slice(0, -1).split('\n');
  if (lines.length > MAX_NOTE_SIGNATURES)
    throw malformed(`${lines.length} signatures, more than ${MAX_NOTE_SIGNATURES}`);
  const signatures = lines.map((line, i) => {
    const where = `signature line ${i + 1}`;
    if (!line.startsWith(SIG_PREFIX)) throw malformed(`${where} does not start with "— "`);
    const rest = line.slice(SIG_PREFIX.length);
    const space = rest.indexOf(' ');
    const keyName = rest.slice(0, space);
    if (space < 0 || !isKeyName(keyName)) throw malformed(`${where} has no valid key name`);
    const bytes = decodeBase64(rest.slice(space + 1));
    if (bytes === undefined || bytes.length < 5)
      throw malformed(`${where} is not base64 of a key id and a signature`);
    return { keyName, keyId: readUint32(bytes), signature: bytes.slice(4) };
  });
  return { text, signatures };
}

/** The note as text; throws `tlog/bad-note` for a text or signature that cannot be written. */
export function formatSignedNote(note: SignedNote): string {
  checkText(note.text);
  if (note.signatures.length === 0 || note.signatures.length > MAX_NOTE_SIGNATURES)
    throw malformed(`a note carries 1 to ${MAX_NOTE_SIGNATURES} signatures`);
  const lines = note.signatures.map(({ keyName, keyId, signature }) => {
    checkKeyName(keyName, 'tlog/bad-note');
    if (!Number.isInteger(keyId) || keyId < 0 || keyId > 0xffffffff || signature.length === 0)
      throw malformed(`the signature by ${keyName} has no uint32 key id or no bytes`);
    const bytes = new Uint8Array(4 + signature.length);
    new DataView(bytes.buffer).setUint32(0, keyId);
    bytes.set(signature, 4);
    return `${SIG_PREFIX}${keyName} ${base64.encode(bytes)}\n`;
  });
  return `${note.text}\n${lines.join('')}`;
}

/**
 * Signs the text of `note` with `key` under `keyName` and returns the signed note: the existing
 * signatures (if `note` is a parsed note), less any by the same key, then the new one.
 */
export function signNote(note: string | SignedNote, key: KeyPair, keyName: string): string {
  const { text, signatures } = typeof note === 'string' ? { text: note, signatures: [] } : note;
  checkText(text);
  checkKeyName(keyName, 'tlog/bad-note');
  const keyId = noteKeyId(keyName, key.publicKey);
  const signature = key.sign(utf8.encode(text), { impl: 'node' });
  const others = signatures.filter((s) => s.keyName !== keyName || s.keyId !== keyId);
  return formatSignedNote({ text, signatures: [...others, { keyName, keyId, signature }] });
}

/**
 * Opens a note signed by at least one of `verifiers`. Throws `tlog/bad-note` (malformed),
 * `tlog/bad-signature` (a signature by a known key fails), `tlog/unverified-note` (no signature
 * by a known key) or `tlog/bad-verifier-key` (two verifiers share a name and id).
 */
export function verifyNote(
  note: string | Uint8Array,
  verifiers: readonly NoteVerifier[],
): VerifiedNote {
  const known = verifierIndex(verifiers);
  const { text, signatures } = parseSignedNote(note);
  const message = utf8.encode(text);
  const verified: NoteSignature[] = [];
  const unknown: NoteSignature[] = [];
  for (const [i, sig] of signatures.entries()) {
    const id = `${sig.keyName}+${hexId(sig.keyId)}`;
    const publicKey = known.get(id);
    if (publicKey === undefined) {
      if (!unknown.some((u) => sameSigner(u, sig) && bytesEqual(u.signature, sig.signature)))
        unknown.push(sig);
      continue;
    }
    if (!verify(sig.signature, message, publicKey, { impl: 'node' }))
      throw new DiagonError(
        'tlog/bad-signature',
        `signature line ${i + 1} by ${id} does not verify: the note was altered or forged`,
        { line: i + 1, key: id },
      );
    if (!verified.some((v) => sameSigner(v, sig))) verified.push(sig);
  }
  if (verified.length === 0) {
    const signers = signatures.map((s) => `${s.keyName}+${hexId(s.keyId)}`);
    throw new DiagonError(
      'tlog/unverified-note',
      `no signature by a known key: signed by ${signers.join(', ')}; known: ${[...known.keys()].join(', ')}`,
      { signers, known: [...known.keys()] },
    );
  }
  return { text, verified, unknown };
}

function sameSigner(a: NoteSignature, b: NoteSignature): boolean {
  return a.keyName === b.keyName && a.keyId === b.keyId;
}

function verifierIndex(verifiers: readonly NoteVerifier[]): Map<string, Uint8Array> {
  const known = new Map<string, Uint8Array>();
  for (const { keyName, publicKey } of verifiers) {
    checkKeyName(keyName, 'tlog/bad-verifier-key');
    if (!isValidPublicKey(publicKey))
      throw new DiagonError('tlog/bad-verifier-key', `the key of ${keyName} is not valid ed25519`);
    const id = `${keyName}+${hexId(noteKeyId(keyName, publicKey))}`;
    const other = known.get(id);
    if (other !== undefined && !bytesEqual(other, publicKey))
      throw new DiagonError('tlog/bad-verifier-key', `two different keys are named ${id}`, { id });
    known.set(id, publicKey);
  }
  return known;
}

function checkText(text: string): void {
  if (!text.endsWith('\n') || !isNoteText(text))
    throw malformed('the text must end in a newline and hold no other control character');
}

function checkKeyName(keyName: string, code: string): void {
  if (!isKeyName(keyName))
    throw new DiagonError(code, `${JSON.stringify(keyName)} is not a key name`, { keyName });
}

function malformed(why: string): DiagonError {
  return new DiagonError('tlog/bad-note', `malformed signed note: ${why}`, { reason: why });
}

function decodeUtf8(bytes: Uint8Array): string {
  try {
    return strictUtf8.decode(bytes);
  } catch {
    throw malformed('it is not UTF-8');
  }
}

/** Strict standard base64 (padded, zero pad bits), or undefined. */
function decodeBase64(text: string): Uint8Array | undefined {
  try {
    return base64.decode(text);
  } catch {
    return undefined;
  }
}

function readUint32(bytes: Uint8Array): number {
  return new DataView(bytes.buffer, bytes.byteOffset, 4).getUint32(0);
}

function hexId(keyId: number): string {
  return keyId.toString(16).padStart(8, '0');
}
