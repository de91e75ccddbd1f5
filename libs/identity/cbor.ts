/**
 * Canonical CBOR: the one deterministic encoding of everything Diagon signs or hashes.
 *
 * The accepted values are the intersection of RFC 8949 §4.2.1 "core deterministic encoding"
 * and DAG-CBOR, so the bytes are both, and a content id over them can name the dag-cbor codec:
 *
 * | JS value                                   | CBOR                                          |
 * | ------------------------------------------ | --------------------------------------------- |
 * | `null`, `false`, `true`                    | simple values 22, 20, 21                      |
 * | safe integer `number`, `bigint` in 64 bits | major 0 / 1, shortest argument                |
 * | `string` (well-formed UTF-16)              | major 3, UTF-8                                |
 * | `Uint8Array` (and `Buffer`)                | major 2                                       |
 * | array                                      | major 4, definite length                      |
 * | plain object with string keys              | major 5, keys sorted by their encoded bytes   |
 * | `CID` (multiformats)                       | tag 42 over bytes `0x00 ‖ cid.bytes`          |
 *
 * Refused with a `DiagonError` (`canonical/unsupported`) naming the path of the value:
 * `undefined` (omit the key or use `null`), non-integral numbers, NaN, ±Infinity, integers
 * beyond 2^53 as `number` (use a `bigint`), bigints beyond 64 bits, strings with lone
 * surrogates, and any other object (`Date`, `Map`, class instances): floats have several
 * encodings and decoders that disagree on them, so signed data carries none. `-0` is the
 * integer 0. Decoding is strict: it accepts only bytes this encoder would produce (shortest
 * arguments, sorted unique text keys, no floats, no indefinite lengths, no tags but 42, no
 * trailing bytes), returns integers as `number` when safe and `bigint` otherwise, and fails
 * with `canonical/malformed`. Nesting is limited (`maxDepth`, 64 by default) both ways, and
 * decoding allocates no more than its input holds, so hostile input is cheap to refuse.
 */
import { CID } from 'multiformats/cid';
import { DiagonError } from '../db/errors.js';

export type CanonicalValue =
  | null
  | boolean
  | number
  | bigint
  | string
  | Uint8Array
  | CID
  | readonly CanonicalValue[]
  | { readonly [key: string]: CanonicalValue };

export interface CanonicalOptions {
  /** The deepest nesting of arrays and maps accepted (default 64). */
  maxDepth?: number;
}

export const DEFAULT_MAX_DEPTH = 64;

const CID_TAG = 42;
const MAX_U64 = 2n ** 64n - 1n;
const MIN_N64 = -(2n ** 64n);
const utf8 = new TextEncoder();
const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** A growable byte buffer for the encoder. */
class Writer {
  private buf: Uint8Array;
  private view: DataView;
  length = 0;

  constructor(size = 256) {
    this.buf = new Uint8Array(size);
    this.view = new DataView(this.buf.buffer);
  }

  /** A text string (major type 3), well-formed: ASCII is copied byte by byte. */
  text(s: string): void {
    const n = s.length;
    let ascii = true;
    for (let i = 0; i < n; i++)
      if (s.charCodeAt(i) > 0x7f) {
        ascii = false;
        break;
      }
    if (!ascii) {
      const b = utf8.encode(s);
      this.head(3, b.length);
      this.bytes(b);
      return;
    }
    this.head(3, n);
    this.reserve(n);
    for (let i = 0; i < n; i++) this.buf[this.length + i] = s.charCodeAt(i);
    this.length += n;
  }

  private reserve(n: number): void {
    if (this.length + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.length + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.length));
    this.buf = next;
    this.view = new DataView(next.buffer);
  }

  /** A major type with its argument in the shortest form (RFC 8949 §4.2.1). */
  head(major: number, arg: number | bigint): void {
    const m = major << 5;
    this.reserve(9);
    if (typeof arg === 'bigint' && arg > 0xffffffffn) {
      this.buf[this.length] = m | 27;
      this.view.setBigUint64(this.length + 1, arg);
      this.length += 9;
      return;
    }
    const n = Number(arg);
    if (n < 24) this.buf[this.length++] = m | n;
    else if (n <= 0xff) {
      this.buf[this.length++] = m | 24;
      this.buf[this.length++] = n;
    } else if (n <= 0xffff) {
      this.buf[this.length] = m | 25;
      this.view.setUint16(this.length + 1, n);
      this.length += 3;
    } else if (n <= 0xffffffff) {
      this.buf[this.length] = m | 26;
      this.view.setUint32(this.length + 1, n);
      this.length += 5;
    } else {
      this.buf[this.length] = m | 27;
      this.view.setBigUint64(this.length + 1, BigInt(n));
      this.length += 9;
    }
  }

  bytes(b: Uint8Array): void {
    this.reserve(b.length);
    this.buf.set(b, this.length);
    this.length += b.length;
  }

  result(): Uint8Array {
    return this.buf.slice(0, this.length);
  }
}

/**
 * Where the encoder is, as a stack of `.key` / `[i]` steps: joined into `$.a[0]` only for
 * an error message, so encoding builds no path strings.
 */
type Path = string[];
const pathText = (path: Path) => `$${path.join('')}`;

function unsupported(path: Path, what: string, hint: string): DiagonError {
  const at = pathText(path);
  return new DiagonError(
    'canonical/unsupported',
    `cannot encode ${what} at ${at} canonically: ${hint}`,
    {
      path: at,
    },
  );
}

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return a.length - b.length;
}

function isPlainObject(x: object): x is { readonly [key: string]: CanonicalValue } {
  const proto = Object.getPrototypeOf(x);
  return proto === Object.prototype || proto === null;
}

function encodeInteger(w: Writer, n: number | bigint, path: Path): void {
  if (typeof n === 'bigint' && (n > MAX_U64 || n < MIN_N64))
    throw unsupported(path, `the bigint ${n}`, 'integers are limited to 64 bits (-2^64 .. 2^64-1)');
  if (n >= 0) w.head(0, n);
  else w.head(1, typeof n === 'bigint' ? -1n - n : -1 - n);
}

function encodeString(w: Writer, s: string, path: Path): void {
  // String.prototype.isWellFormed (Node 20; not in TypeScript's ES2023 lib).
  if (!(s as string & { isWellFormed(): boolean }).isWellFormed())
    throw unsupported(path, 'a string with a lone surrogate', 'it has no UTF-8 encoding');
  w.text(s);
}

/** The encoded bytes of map keys: keys repeat across values, so each is encoded once. */
const KEY_CACHE_MAX = 4096;
const keyCache = new Map<string, Uint8Array>();

function keyBytes(k: string, path: Path): Uint8Array {
  let b = keyCache.get(k);
  if (b === undefined) {
    const kw = new Writer(k.length + 9);
    encodeString(kw, k, path);
    b = kw.result();
    if (keyCache.size < KEY_CACHE_MAX) keyCache.set(k, b);
  }
  return b;
}

function encodeValue(w: Writer, v: unknown, path: Path, depth: number, maxDepth: number): void {
  switch (typeof v) {
    case 'boolean':
      w.head(7, v ? 21 : 20);
      return;
    case 'number':
      if (!Number.isInteger(v))
        throw unsupported(
          path,
          `the number ${v}`,
          'signed data carries no floats (nor NaN or Infinity): use an integer, a scaled integer or a string',
        );
      if (!Number.isSafeInteger(v))
        throw unsupported(path, `the number ${v}`, 'integers beyond 2^53 must be bigints');
      encodeInteger(w, v, path);
      return;
    case 'bigint':
      encodeInteger(w, v, path);
      return;
    case 'string':
      encodeString(w, v, path);
      return;
    case 'object':
      break;
    case 'undefined':
      throw unsupported(path, 'undefined', 'omit the key or use null');
    default:
      throw unsupported(path, `a ${typeof v}`, 'functions and symbols are not data');
  }
  if (v === null) {
    w.head(7, 22);
    return;
  }
  if (v instanceof Uint8Array) {
    w.head(2, v.length);
    w.bytes(v);
    return;
  }
  if (Array.isArray(v) || isPlainObject(v)) {
    if (depth >= maxDepth)
      throw unsupported(path, 'a value', `nesting deeper than ${maxDepth} (or a cycle)`);
    if (Array.isArray(v)) encodeArray(w, v, path, depth, maxDepth);
    else encodeMap(w, v, path, depth, maxDepth);
    return;
  }
  // Only after the plain-object test: CID.asCID also accepts any object whose "/" and "bytes"
  // properties are equal, which a plain data map may well have.
  const cid = CID.asCID(v);
  if (cid === null)
    throw unsupported(
      path,
      `a ${v.constructor?.name ?? 'object'}`,
      'only null, booleans, integers, bigints, strings, Uint8Arrays, CIDs, arrays and plain objects are encoded',
    );
  w.head(6, CID_TAG);
  w.head(2, cid.bytes.length + 1);
  w.bytes(Uint8Array.of(0));
  w.bytes(cid.bytes);
}

function encodeArray(
  w: Writer,
  v: readonly unknown[],
  path: Path,
  depth: number,
  maxDepth: number,
): void {
  w.head(4, v.length);
  for (let i = 0; i < v.length; i++) {
    path.push(`[${i}]`);
    encodeValue(w, v[i], path, depth + 1, maxDepth);
    path.pop();
  }
}

function encodeMap(
  w: Writer,
  v: { readonly [key: string]: CanonicalValue },
  path: Path,
  depth: number,
  maxDepth: number,
): void {
  const names = Object.keys(v);
  const keys: { key: string; bytes: Uint8Array }[] = new Array(names.length);
  for (let i = 0; i < names.length; i++) {
    const key = names[i]!;
    path.push(`.${key}`);
    keys[i] = { key, bytes: keyBytes(key, path) };
    path.pop();
  }
  keys.sort((a, b) => compareBytes(a.bytes, b.bytes));
  w.head(5, keys.length);
  for (const { key, bytes } of keys) {
    w.bytes(bytes);
    path.push(`.${key}`);
    encodeValue(w, v[key], path, depth + 1, maxDepth);
    path.pop();
  }
}

/** The canonical CBOR bytes of `value` (see the module comment for the mapping). */
export function encodeCanonical(value: CanonicalValue, opts: CanonicalOptions = {}): Uint8Array {
  const w = new Writer();
  encodeValue(w, value, [], 0, opts.maxDepth ?? DEFAULT_MAX_DEPTH);
  return w.result();
}

function malformed(pos: number, detail: string): DiagonError {
  return new DiagonError('canonical/malformed', `not canonical CBOR at byte ${pos}: ${detail}`, {
    offset: pos,
  });
}

/** The strict decoder: every check it makes says how the input differs from canonical bytes. */
class Reader {
  pos = 0;
  private readonly view: DataView;

  constructor(
    private readonly buf: Uint8Array,
    private readonly maxDepth: number,
  ) {
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }

  private need(n: number, what: string): void {
    if (this.buf.length - this.pos < n)
      throw malformed(this.pos, `${what} runs past the end of the input`);
  }

  /** Reads a head: its major type and argument, refusing non-shortest forms. */
  private head(): { major: number; arg: number | bigint; start: number } {
    const start = this.pos;
    this.need(1, 'an item');
    const ib = this.buf[this.pos++]!;
    const major = ib >> 5;
    const info = ib & 31;
    if (major === 7 && info >= 24 && info <= 27)
      throw malformed(start, info === 24 ? 'simple values past 23' : 'floats are not canonical');
    let arg: number | bigint;
    if (info < 24) arg = info;
    else if (info === 24) {
      this.need(1, 'an argument');
      arg = this.buf[this.pos++]!;
      if (arg < 24) throw malformed(start, 'argument not in its shortest form');
    } else if (info === 25) {
      this.need(2, 'an argument');
      arg = this.view.getUint16(this.pos);
      this.pos += 2;
      if (arg <= 0xff) throw malformed(start, 'argument not in its shortest form');
    } else if (info === 26) {
      this.need(4, 'an argument');
      arg = this.view.getUint32(this.pos);
      this.pos += 4;
      if (arg <= 0xffff) throw malformed(start, 'argument not in its shortest form');
    } else if (info === 27) {
      this.need(8, 'an argument');
      const big = this.view.getBigUint64(this.pos);
      this.pos += 8;
      if (big <= 0xffffffffn) throw malformed(start, 'argument not in its shortest form');
      arg = big <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(big) : big;
    } else if (info === 31) throw malformed(start, 'indefinite lengths are not canonical');
    else throw malformed(start, `reserved additional information ${info}`);
    return { major, arg, start };
  }

  /** A length or count, which must fit what is left of the input (one byte per item at least). */
  private count(arg: number | bigint, perItem: number, start: number): number {
    if (typeof arg === 'bigint' || arg * perItem > this.buf.length - this.pos)
      throw malformed(start, 'a length larger than the rest of the input');
    return arg;
  }

  item(depth: number): CanonicalValue {
    const { major, arg, start } = this.head();
    switch (major) {
      case 0:
        return arg;
      case 1:
        return typeof arg === 'bigint' || arg === Number.MAX_SAFE_INTEGER
          ? -1n - BigInt(arg)
          : -1 - arg;
      case 2: {
        const n = this.count(arg, 1, start);
        // A copy, and a plain Uint8Array even from a Buffer (whose slice() is a view).
        const b = new Uint8Array(this.buf.subarray(this.pos, this.pos + n));
        this.pos += n;
        return b;
      }
      case 3:
        return this.text(arg, start);
      case 4: {
        const n = this.count(arg, 1, start);
        if (depth >= this.maxDepth) throw malformed(start, `nesting deeper than ${this.maxDepth}`);
        const out: CanonicalValue[] = [];
        for (let i = 0; i < n; i++) out.push(this.item(depth + 1));
        return out;
      }
      case 5:
        return this.map(this.count(arg, 2, start), start, depth);
      case 6:
        return this.cid(arg, start);
      default:
        if (arg === 20) return false;
        if (arg === 21) return true;
        if (arg === 22) return null;
        throw malformed(start, arg === 23 ? 'undefined is not canonical' : `simple value ${arg}`);
    }
  }

  private text(arg: number | bigint, start: number): string {
    const n = this.count(arg, 1, start);
    const bytes = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    try {
      return strictUtf8.decode(bytes);
    } catch {
      throw malformed(start, 'a text string that is not valid UTF-8');
    }
  }

  private map(n: number, start: number, depth: number): { [key: string]: CanonicalValue } {
    if (depth >= this.maxDepth) throw malformed(start, `nesting deeper than ${this.maxDepth}`);
    const out: { [key: string]: CanonicalValue } = {};
    let previous: Uint8Array | undefined;
    for (let i = 0; i < n; i++) {
      const keyStart = this.pos;
      const head = this.head();
      if (head.major !== 3) throw malformed(keyStart, 'map keys must be text strings');
      const key = this.text(head.arg, keyStart);
      const keyBytes = this.buf.subarray(keyStart, this.pos);
      if (previous !== undefined && compareBytes(previous, keyBytes) >= 0)
        throw malformed(keyStart, `map key "${key}" is out of order or repeated`);
      previous = keyBytes;
      const value = this.item(depth + 1);
      // '__proto__' must become an own property, not the object's prototype.
      Object.defineProperty(out, key, {
        value,
        enumerable: true,
        writable: true,
        configurable: true,
      });
    }
    return out;
  }

  private cid(tag: number | bigint, start: number): CID {
    if (tag !== CID_TAG) throw malformed(start, `tag ${tag} (only 42, a CID, is allowed)`);
    const contentStart = this.pos;
    const { major, arg } = this.head();
    if (major !== 2) throw malformed(contentStart, 'a CID must be a byte string');
    const n = this.count(arg, 1, contentStart);
    const bytes = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    if (bytes[0] !== 0) throw malformed(contentStart, 'a CID must start with the 0x00 prefix');
    let cid: CID;
    try {
      cid = CID.decode(new Uint8Array(bytes.subarray(1)));
    } catch (e) {
      throw malformed(contentStart, `not a CID (${(e as Error).message})`);
    }
    if (compareBytes(cid.bytes, bytes.subarray(1)) !== 0)
      throw malformed(contentStart, 'a CID not in its canonical form');
    return cid;
  }

  end(): void {
    if (this.pos !== this.buf.length) throw malformed(this.pos, 'trailing bytes after the value');
  }
}

/**
 * The value that `bytes` canonically encode. Throws a `DiagonError` (`canonical/malformed`)
 * for anything `encodeCanonical` would not have produced; never another error.
 */
export function decodeCanonical(bytes: Uint8Array, opts: CanonicalOptions = {}): CanonicalValue {
  const r = new Reader(bytes, opts.maxDepth ?? DEFAULT_MAX_DEPTH);
  const value = r.item(0);
  r.end();
  return value;
}
