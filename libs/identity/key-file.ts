/**
 * Key files: one key pair as JSON, readable by its owner only (mode 0600).
 *
 *     {
 *       "format": "diagon-ed25519-key/v1",
 *       "did": "did:key:z6Mk...",
 *       "publicKey": "<32 bytes, base64url without padding>",
 *       "secretKey": "<32-byte RFC 8032 seed, base64url without padding>"
 *     }
 *
 * `did` and `publicKey` are there for people and tools; loading derives both from
 * `secretKey` and refuses a file where they disagree. Loading also refuses a file that group
 * or others may read or write (on POSIX systems): the error says which `chmod` fixes it.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, mkdir, open, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { base64urlnopad } from '@scure/base';
import { DiagonError } from '../db/errors.js';
import { KeyPair } from './key-pair.js';

export const KEY_FILE_FORMAT = 'diagon-ed25519-key/v1';
const MAX_KEY_FILE_BYTES = 64 * 1024;
const checksModes = process.platform !== 'win32';

export interface KeyFile {
  format: typeof KEY_FILE_FORMAT;
  did: string;
  publicKey: string;
  secretKey: string;
}

export interface SaveKeyFileOptions {
  /** Replace an existing file (atomically, by rename); default false: refuse. */
  overwrite?: boolean;
}

/** The JSON text of a key file for `key`. */
export function formatKeyFile(key: KeyPair): string {
  const file: KeyFile = {
    format: KEY_FILE_FORMAT,
    did: key.did,
    publicKey: base64urlnopad.encode(key.publicKey),
    secretKey: base64urlnopad.encode(key.exportSecretKey()),
  };
  return `${JSON.stringify(file, null, 2)}\n`;
}

function malformed(path: string, why: string): DiagonError {
  return new DiagonError(
    'identity/key-file-malformed',
    `${path} is not a Diagon key file: ${why} (saveKeyFile writes one)`,
    { path },
  );
}

function decodeField(path: string, file: Record<string, unknown>, field: string): Uint8Array {
  const text = file[field];
  if (typeof text !== 'string') throw malformed(path, `"${field}" is missing or not a string`);
  try {
    return base64urlnopad.decode(text);
  } catch {
    throw malformed(path, `"${field}" is not base64url without padding`);
  }
}

/** The key pair a key file's text holds; `path` only names it in errors. */
export function parseKeyFile(text: string, path = 'the key file'): KeyPair {
  let file: unknown;
  try {
    file = JSON.parse(text);
  } catch (e) {
    throw malformed(path, `invalid JSON (${(e as Error).message})`);
  }
  if (typeof file !== 'object' || file === null || Array.isArray(file))
    throw malformed(path, 'the JSON is not an object');
  const fields = file as Record<string, unknown>;
  if (fields.format !== KEY_FILE_FORMAT)
    throw malformed(path, `"format" must be "${KEY_FILE_FORMAT}"`);
  const secretKey = decodeField(path, fields, 'secretKey');
  if (secretKey.length !== 32)
    throw malformed(path, `"secretKey" holds ${secretKey.length} bytes, not 32`);
  const key = KeyPair.fromSecretKey(secretKey);
  const publicKey = decodeField(path, fields, 'publicKey');
  if (Buffer.compare(publicKey, key.publicKey) !== 0 || fields.did !== key.did)
    throw new DiagonError(
      'identity/key-file-mismatch',
      `${path}: "publicKey" or "did" do not belong to "secretKey" (the secret key's DID is ${key.did}); the file was edited or corrupted`,
      { path, did: key.did },
    );
  return key;
}

/** Writes `key` to `path` with mode 0600. */
export async function saveKeyFile(
  path: string,
  key: KeyPair,
  opts: SaveKeyFileOptions = {},
): Promise<void> {
  const target = opts.overwrite ? `${path}.${randomBytes(6).toString('hex')}.tmp` : path;
  let handle: Awaited<ReturnType<typeof open>>;
  try {
    handle = await open(target, 'wx', 0o600);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST')
      throw new DiagonError(
        'identity/key-file-exists',
        `${path} exists already: pass { overwrite: true } to replace it, or choose another path`,
        { path },
      );
    throw e;
  }
  try {
    await handle.writeFile(formatKeyFile(key));
    await handle.sync();
  } finally {
    await handle.close();
  }
  // open's mode is reduced by the umask; this makes sure it is exactly 0600.
  if (checksModes) await chmod(target, 0o600);
  if (target !== path) {
    try {
      await rename(target, path);
    } catch (e) {
      await rm(target, { force: true });
      throw e;
    }
  }
}

/**
 * The key pair in the key file at `path`. Throws a `DiagonError`: `identity/key-file-missing`,
 * `identity/key-file-permissions` (group or others have access: the message gives the chmod),
 * `identity/key-file-malformed` or `identity/key-file-mismatch`.
 */
export async function loadKeyFile(path: string): Promise<KeyPair> {
  let handle: Awaited<ReturnType<typeof open>>;
  try {
    handle = await open(path, 'r');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT')
      throw new DiagonError(
        'identity/key-file-missing',
        `no key file at ${path}: generate a key pair and write it with saveKeyFile`,
        { path },
      );
    throw e;
  }
  try {
    const info = await handle.stat();
    if (!info.isFile()) throw malformed(path, 'it is not a regular file');
    if (checksModes && (info.mode & 0o077) !== 0)
      throw new DiagonError(
        'identity/key-file-permissions',
        `${path} has mode ${(info.mode & 0o777).toString(8).padStart(4, '0')}: a key file must be readable by its owner only; run \`chmod 600 ${path}\``,
        { path, mode: info.mode & 0o777 },
      );
    if (info.size > MAX_KEY_FILE_BYTES) throw malformed(path, 'it is far too large');
    return parseKeyFile(await handle.readFile('utf8'), path);
  } finally {
    await handle.close();
  }
}

/**
 * The key in `path`, or a new one saved there (mode 0600, its directory made 0700 when
 * missing) when the file does not exist.
 */
export async function loadOrCreateKeyFile(
  path: string,
): Promise<{ key: KeyPair; created: boolean }> {
  if (existsSync(path)) return { key: await loadKeyFile(path), created: false };
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const key = KeyPair.generate();
  await saveKeyFile(path, key);
  return { key, created: true };
}
