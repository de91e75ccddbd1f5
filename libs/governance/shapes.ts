/**
 * The field shapes every governance value is checked against at the edge, and `checkShape`,
 * which turns a zod failure into one `DiagonError` listing each bad field by its path.
 */
import { z } from 'zod';
import { DiagonError } from '../db/errors.js';
import { isDid, isPoolName, parseContentId, SIGNATURE_BYTES } from '../identity/index.js';

export const poolName = z.string().refine(isPoolName, 'not a pool name (a DNS label)');

export const did = z.string().refine(isRememberedDid, 'not an ed25519 did:key');

/** A CID in its canonical string form, so that two spellings of one id never compare unequal. */
export const cidText = z.string().refine(isCanonicalCid, 'not a CID in its canonical string form');

/** Milliseconds since the epoch, or a basis t: a non-negative safe integer. */
export const wholeNumber = z.int().min(0);

export const signature = z
  .instanceof(Uint8Array, { message: 'expected bytes' })
  .refine((b) => b.length === SIGNATURE_BYTES, `expected ${SIGNATURE_BYTES} bytes`);

/**
 * DIDs found valid. Parsing one costs more than a tenth of a signature check, a certificate
 * names each voter several times, and validity depends on the text alone: remembering is safe.
 */
const validDids = new Set<string>();
const MAX_REMEMBERED_DIDS = 10_000;

export function isRememberedDid(text: string): boolean {
  if (validDids.has(text)) return true;
  if (!isDid(text)) return false;
  if (validDids.size >= MAX_REMEMBERED_DIDS) validDids.clear();
  validDids.add(text);
  return true;
}

/** Canonical CIDs seen, for the same reason: every vote names its proposal's. */
const canonicalCids = new Set<string>();

export function isCanonicalCid(text: string): boolean {
  if (canonicalCids.has(text)) return true;
  try {
    if (parseContentId(text).toString() !== text) return false;
  } catch {
    return false;
  }
  if (canonicalCids.size >= MAX_REMEMBERED_DIDS) canonicalCids.clear();
  canonicalCids.add(text);
  return true;
}

/**
 * The values each schema returned, so that checking them again costs nothing: a decoded
 * certificate is checked on decoding and again by `verifyCertificate`. Governance values
 * are readonly; one changed after its check would escape a second one.
 */
const passedBy = new WeakMap<z.ZodType, WeakSet<object>>();

/**
 * Records that `value` is what `schema` accepts, for a value built from checked parts (a
 * decoded certificate): `checkShape` then returns it at once.
 */
export function markChecked<T>(schema: z.ZodType<T>, value: T): T {
  if (typeof value !== 'object' || value === null) return value;
  const passed = passedBy.get(schema);
  if (passed === undefined) passedBy.set(schema, new WeakSet([value]));
  else passed.add(value);
  return value;
}

/** Listing every problem would let hostile input make the message huge. */
const MAX_PROBLEMS = 5;

/**
 * `x` as `schema` reads it; otherwise throws `code` (default `governance/malformed`) naming
 * what was checked and each bad field, e.g. `votes.2.body.support: expected boolean`.
 */
export function checkShape<T>(
  schema: z.ZodType<T>,
  x: unknown,
  what: string,
  code = 'governance/malformed',
): T {
  if (typeof x === 'object' && x !== null && passedBy.get(schema)?.has(x)) return x as T;
  const r = schema.safeParse(x);
  if (r.success) return markChecked(schema, r.data);
  const problems = r.error.issues
    .slice(0, MAX_PROBLEMS)
    .map((i) => `${i.path.length > 0 ? i.path.join('.') : '(value)'}: ${i.message}`);
  throw new DiagonError(code, `${what} is not valid: ${problems.join('; ')}`, { what, problems });
}
