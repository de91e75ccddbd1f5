/**
 * Checkpoints (C2SP tlog-checkpoint): a signed note whose text is
 *
 *     <origin>\n<tree size, decimal, no leading zeros>\n<base64 root hash>\n[<extension>\n…]
 *
 * The origin of a pool's log is `diagon.dev/pool/<pool>` (`poolOrigin`); the pool's log key
 * signs under that same name, as the spec recommends. After each commit the pool signs a
 * checkpoint of its tree, and `diagon verify` checks exported checkpoints with
 * `verifyCheckpoint`, which refuses with `tlog/bad-checkpoint` and a `reason` in its data:
 * `malformed-note`, `bad-signature`, `unverified`, `malformed-body`, `wrong-origin`.
 */
import { base64 } from '@scure/base';
import { DiagonError, isDiagonError } from '../db/errors.js';
import { checkPoolName, type KeyPair } from '../identity/index.js';
import { HASH_BYTES } from './merkle.js';
import { isKeyName, isNoteText, type NoteVerifier, signNote, verifyNote } from './note.js';

export const POOL_ORIGIN_PREFIX = 'diagon.dev/pool/';

export interface Checkpoint {
  readonly origin: string;
  readonly size: number;
  readonly rootHash: Uint8Array;
  readonly extensions: readonly string[];
}

export interface VerifyCheckpointOptions extends NoteVerifier {
  /** When given, the checkpoint must be for this origin. */
  readonly origin?: string;
}

const SIZE = /^(0|[1-9][0-9]*)$/;
/** How a note fails, as the `reason` of a bad checkpoint. */
const NOTE_FAILURES = new Map([
  ['tlog/bad-note', 'malformed-note'],
  ['tlog/bad-signature', 'bad-signature'],
  ['tlog/unverified-note', 'unverified'],
]);

/** `diagon.dev/pool/<pool>`: the origin line and key name of a pool's log. */
export function poolOrigin(pool: string): string {
  checkPoolName(pool);
  return `${POOL_ORIGIN_PREFIX}${pool}`;
}

/** The note text of a checkpoint; throws `tlog/bad-checkpoint` for a field it cannot write. */
export function formatCheckpoint(checkpoint: {
  origin: string;
  size: number;
  rootHash: Uint8Array;
  extensions?: readonly string[];
}): string {
  const { origin, size, rootHash, extensions = [] } = checkpoint;
  // A log's own origin follows the spec's advice (no spaces or `+`) so it can be a key name.
  if (!isKeyName(origin))
    throw bad('malformed-body', `origin ${JSON.stringify(origin)} is not a key name`);
  if (!Number.isSafeInteger(size) || size < 0)
    throw bad('malformed-body', `tree size ${size} is not a safe non-negative integer`);
  if (!(rootHash instanceof Uint8Array) || rootHash.length !== HASH_BYTES)
    throw bad('malformed-body', `the root hash is not ${HASH_BYTES} bytes`);
  for (const line of extensions)
    if (line === '' || line.includes('\n') || !isNoteText(line))
      throw bad('malformed-body', `extension line ${JSON.stringify(line)} is empty or not a line`);
  return [origin, String(size), base64.encode(rootHash), ...extensions, ''].join('\n');
}

/** The fields of a checkpoint's note text (unsigned); throws `tlog/bad-checkpoint`. */
export function parseCheckpoint(text: string): Checkpoint {
  if (!text.endsWith('\n') || !isNoteText(text))
    throw bad(
      'malformed-body',
      'the text must end in a newline and hold no other control character',
    );
  const lines = text.slice(0, -1).split('\n');
  if (lines.length < 3)
    throw bad('malformed-body', 'expected at least origin, tree size and root hash lines');
  const [origin, size, root, ...extensions] = lines as [string, string, string, ...string[]];
  if (origin === '') throw bad('malformed-body', 'the origin line is empty');
  if (!SIZE.test(size) || !Number.isSafeInteger(Number(size)))
    throw bad('malformed-body', `tree size ${JSON.stringify(size)} is not a decimal below 2^53`);
  let rootHash: Uint8Array;
  try {
    rootHash = base64.decode(root);
  } catch {
    throw bad('malformed-body', `root hash ${JSON.stringify(root)} is not canonical base64`);
  }
  if (rootHash.length !== HASH_BYTES)
    throw bad('malformed-body', `the root hash is ${rootHash.length} bytes, not ${HASH_BYTES}`);
  const empty = extensions.indexOf('');
  if (empty >= 0) throw bad('malformed-body', `extension line ${empty + 1} is empty`);
  return { origin, size: Number(size), rootHash, extensions };
}

/** Signs checkpoint text `body` (checked with `parseCheckpoint`); returns the signed note. */
export function signCheckpoint(body: string, key: KeyPair, keyName: string): string {
  parseCheckpoint(body);
  return signNote(body, key, keyName);
}

/**
 * The checkpoint in `note`, which must carry a valid signature by `publicKey` under `keyName`
 * (other signatures, such as witness cosignatures, are ignored) and, if asked, be for `origin`.
 */
export function verifyCheckpoint(
  note: string | Uint8Array,
  opts: VerifyCheckpointOptions,
): Checkpoint {
  let text: string;
  try {
    text = verifyNote(note, [{ keyName: opts.keyName, publicKey: opts.publicKey }]).text;
  } catch (e) {
    if (!isDiagonError(e) || !NOTE_FAILURES.has(e.code)) throw e;
    throw bad(NOTE_FAILURES.get(e.code)!, e.message, e.data);
  }
  const checkpoint = parseCheckpoint(text);
  if (opts.origin !== undefined && checkpoint.origin !== opts.origin)
    throw bad(
      'wrong-origin',
      `the checkpoint is for ${JSON.stringify(checkpoint.origin)}, not ${JSON.stringify(opts.origin)}`,
    );
  return checkpoint;
}

function bad(reason: string, message: string, data: Record<string, unknown> = {}): DiagonError {
  return new DiagonError('tlog/bad-checkpoint', `bad checkpoint: ${message}`, { ...data, reason });
}
