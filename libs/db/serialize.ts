/**
 * A database value to bytes and back.
 *
 * Layout (all integers unsigned LEB128 unless noted):
 *   "DGDB" version:u8 flexibility:u8 basisT maxEid { txInstant:f64 }*basisT
 *   currentCount { e a value tx }*             in EAVT order
 *   retractionCount { tx count { e a value tx }* }*   what each transaction retracted
 * Values carry a one-byte tag (see TAG). The schema is not stored: it is data, and is
 * read back from the datoms, which keeps the two from ever disagreeing. ByteWriter and
 * ByteReader also serve segments.ts and the transaction log (replay.ts), which write
 * datoms as delta-coded runs (see DATOM_FLAGS).
 */

import { applySchemaFacts } from './attribute.js';
import { Datom } from './datom.js';
import { buildIndexes, Db } from './db.js';
import { DiagonError } from './errors.js';
import { History, type Retraction, TxLog } from './history.js';
import { SCHEMA_ATTRS, Schema, type SchemaFlexibility, SYS } from './schema.js';
import { describeValue, Keyword, Uuid, type Value } from './values.js';

const MAGIC = [0x44, 0x47, 0x44, 0x42]; // "DGDB"
const VERSION = 1;

const TAG = {
  nil: 0,
  false: 1,
  true: 2,
  int: 3,
  negInt: 4,
  double: 5,
  bigint: 6,
  string: 7,
  keyword: 8,
  instant: 9,
  uuid: 10,
  bytes: 11,
  tuple: 12,
} as const;

/**
 * A datom in a run (ByteWriter.datoms, for segments and the transaction log): a flags
 * byte, then e, a, value, tx, each left out when the flags say so. Bits 0-1, 2-3 and 4-5
 * say how e, a and tx follow from the previous datom's (the first's from zeros): 0
 * unchanged, 1 plus a uint, 2 minus a uint; so sorted runs cost a byte or two per id.
 * Bit 6: the value is the previous one (not written). Bit 7: a retraction.
 */
const DATOM_FLAGS = { sameValue: 0x40, retraction: 0x80 } as const;
const NO_VALUE = Symbol('no value');

const delta = (x: number, prev: number): number => (x === prev ? 0 : x > prev ? 1 : 2);

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

export class ByteWriter {
  private buf: Uint8Array;
  private view: DataView;
  private pos = 0;

  constructor(initialSize = 1 << 16) {
    this.buf = new Uint8Array(initialSize);
    this.view = new DataView(this.buf.buffer);
  }

  /** Empties the writer, keeping its buffer, so one writer can write many small things. */
  reset(): void {
    this.pos = 0;
  }

  private ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.pos));
    this.buf = next;
    this.view = new DataView(next.buffer);
  }

  u8(x: number): void {
    this.ensure(1);
    this.buf[this.pos++] = x;
  }

  uint(x: number): void {
    this.ensure(10);
    while (x >= 0x80) {
      this.buf[this.pos++] = (x % 0x80) | 0x80;
      x = Math.floor(x / 0x80);
    }
    this.buf[this.pos++] = x;
  }

  f64(x: number): void {
    this.ensure(8);
    this.view.setFloat64(this.pos, x);
    this.pos += 8;
  }

  bytes(b: Uint8Array): void {
    this.uint(b.length);
    this.raw(b);
  }

  /** Bytes as they are, without a length. */
  raw(b: Uint8Array): void {
    this.ensure(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }

  string(s: string): void {
    // Short ASCII, the common case, goes straight into the buffer: no array per string.
    const n = s.length;
    if (n < 0x80) {
      this.ensure(n + 1);
      const buf = this.buf;
      let p = this.pos + 1;
      let i = 0;
      for (; i < n; i++) {
        const c = s.charCodeAt(i);
        if (c >= 0x80) break;
        buf[p++] = c;
      }
      if (i === n) {
        buf[this.pos] = n;
        this.pos = p;
        return;
      }
    }
    this.bytes(encoder.encode(s));
  }

  /** A count, then the datoms as a run (see DATOM_FLAGS). */
  datoms(ds: readonly Datom[]): void {
    this.uint(ds.length);
    let e = 0;
    let a = 0;
    let tx = 0;
    let v: unknown = NO_VALUE;
    for (const d of ds) {
      const same = Object.is(d.v, v);
      this.u8(
        delta(d.e, e) |
          (delta(d.a, a) << 2) |
          (delta(d.tx, tx) << 4) |
          (same ? DATOM_FLAGS.sameValue : 0) |
          (d.added ? 0 : DATOM_FLAGS.retraction),
      );
      if (d.e !== e) this.uint(Math.abs(d.e - e));
      if (d.a !== a) this.uint(Math.abs(d.a - a));
      if (!same) this.value(d.v);
      if (d.tx !== tx) this.uint(Math.abs(d.tx - tx));
      e = d.e;
      a = d.a;
      tx = d.tx;
      v = d.v;
    }
  }

  value(v: Value | null): void {
    switch (typeof v) {
      case 'boolean':
        this.u8(v ? TAG.true : TAG.false);
        return;
      case 'number':
        if (Number.isSafeInteger(v) && !Object.is(v, -0)) {
          this.u8(v >= 0 ? TAG.int : TAG.negInt);
          this.uint(Math.abs(v));
        } else {
          this.u8(TAG.double);
          this.f64(v);
        }
        return;
      case 'bigint':
        this.u8(TAG.bigint);
        this.string(v.toString());
        return;
      case 'string':
        this.u8(TAG.string);
        this.string(v);
        return;
    }
    if (v === null) this.u8(TAG.nil);
    else if (v instanceof Keyword) {
      this.u8(TAG.keyword);
      this.string(v.fqn);
    } else if (v instanceof Date) {
      this.u8(TAG.instant);
      this.f64(v.getTime());
    } else if (v instanceof Uuid) {
      this.u8(TAG.uuid);
      this.bytes(Buffer.from(v.value.replaceAll('-', ''), 'hex'));
    } else if (v instanceof Uint8Array) {
      this.u8(TAG.bytes);
      this.bytes(v);
    } else if (Array.isArray(v)) {
      this.u8(TAG.tuple);
      this.uint(v.length);
      for (const x of v) this.value(x);
    } else
      throw new DiagonError('db.error/serialization', `cannot serialize value ${describeValue(v)}`);
  }

  finish(): Uint8Array {
    return this.buf.slice(0, this.pos);
  }
}

export class ByteReader {
  private pos = 0;
  private readonly view: DataView;

  /** `code` and `what` name the error and the bytes in what `fail` throws. */
  constructor(
    private readonly buf: Uint8Array,
    private readonly code = 'db.error/serialization',
    private readonly what = 'database bytes',
  ) {
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }

  fail(why: string): never {
    throw new DiagonError(this.code, `corrupt ${this.what} at offset ${this.pos}: ${why}`, {
      offset: this.pos,
    });
  }

  get done(): boolean {
    return this.pos >= this.buf.length;
  }

  get remaining(): number {
    return this.buf.length - this.pos;
  }

  /** `n` bytes as they are (a view, not a copy). */
  raw(n: number): Uint8Array {
    if (this.pos + n > this.buf.length) this.fail('unexpected end');
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  u8(): number {
    if (this.pos >= this.buf.length) this.fail('unexpected end');
    return this.buf[this.pos++]!;
  }

  uint(): number {
    const first = this.buf[this.pos];
    if (first !== undefined && first < 0x80) {
      this.pos++;
      return first;
    }
    let x = 0;
    let scale = 1;
    for (let i = 0; i < 8; i++) {
      const b = this.u8();
      x += (b & 0x7f) * scale;
      if (b < 0x80) {
        if (!Number.isSafeInteger(x)) this.fail('integer out of range');
        return x;
      }
      scale *= 0x80;
    }
    return this.fail('integer too long');
  }

  f64(): number {
    if (this.pos + 8 > this.buf.length) this.fail('unexpected end');
    const x = this.view.getFloat64(this.pos);
    this.pos += 8;
    return x;
  }

  bytes(): Uint8Array {
    const n = this.uint();
    if (this.pos + n > this.buf.length) this.fail(`length ${n} runs past the end`);
    const out = this.buf.slice(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  string(): string {
    const n = this.uint();
    if (this.pos + n > this.buf.length) this.fail(`length ${n} runs past the end`);
    const start = this.pos;
    try {
      const s = decoder.decode(this.buf.subarray(start, start + n));
      this.pos += n;
      return s;
    } catch {
      return this.fail('invalid UTF-8');
    }
  }

  /** A run of datoms written by ByteWriter.datoms. */
  datoms(): Datom[] {
    const n = this.uint();
    // Every datom takes at least its flags byte: a count beyond that is corrupt, not a huge array.
    if (n > this.remaining) this.fail(`datom count ${n} runs past the end`);
    const out = new Array<Datom>(n);
    let e = 0;
    let a = 0;
    let tx = 0;
    let v: Value | null = null;
    for (let i = 0; i < n; i++) {
      const flags = this.u8();
      e = this.undelta(e, flags & 3);
      a = this.undelta(a, (flags >>> 2) & 3);
      if ((flags & DATOM_FLAGS.sameValue) === 0) v = this.value();
      else if (i === 0) this.fail('the first datom of a run has no previous value');
      tx = this.undelta(tx, (flags >>> 4) & 3);
      out[i] = new Datom(e, a, v as Value, tx, (flags & DATOM_FLAGS.retraction) === 0);
    }
    return out;
  }

  private undelta(prev: number, mode: number): number {
    if (mode === 0) return prev;
    const d = this.uint();
    const x = mode === 1 ? prev + d : mode === 2 ? prev - d : this.fail('bad delta mode');
    if (x < 0 || !Number.isSafeInteger(x)) this.fail(`id ${x} out of range`);
    return x;
  }

  value(depth = 0): Value | null {
    const tag = this.u8();
    switch (tag) {
      case TAG.nil:
        return null;
      case TAG.false:
        return false;
      case TAG.true:
        return true;
      case TAG.int:
        return this.uint();
      case TAG.negInt:
        return -this.uint();
      case TAG.double:
        return this.f64();
      case TAG.bigint: {
        const s = this.string();
        if (!/^-?[0-9]+$/.test(s)) this.fail('bad bigint');
        return BigInt(s);
      }
      case TAG.string:
        return this.string();
      case TAG.keyword:
        return Keyword.of(this.string());
      case TAG.instant:
        return new Date(this.f64());
      case TAG.uuid: {
        const b = this.bytes();
        if (b.length !== 16) this.fail('a uuid is 16 bytes');
        const h = Buffer.from(b).toString('hex');
        return new Uuid(
          `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`,
        );
      }
      case TAG.bytes:
        return this.bytes();
      case TAG.tuple: {
        if (depth > 8) this.fail('tuples nest too deep');
        const n = this.uint();
        if (n > 64) this.fail('tuple too long');
        const out: (Value | null)[] = [];
        for (let i = 0; i < n; i++) out.push(this.value(depth + 1));
        return out;
      }
      default:
        return this.fail(`unknown value tag ${tag}`);
    }
  }
}

export function serializeDb(db: Db): Uint8Array {
  if (db.isFiltered)
    throw new DiagonError(
      'db.error/serialization',
      'serialize the unfiltered database, not a view of it',
    );
  const w = new ByteWriter();
  for (const b of MAGIC) w.u8(b);
  w.u8(VERSION);
  w.u8(db.schema.flexibility === 'write' ? 1 : 0);
  w.uint(db.basisT);
  w.uint(db.maxEid);
  for (let i = 0; i < db.basisT; i++) w.f64(db.txLog.instant(i));
  w.uint(db.cur.eavt.size);
  for (const d of db.cur.eavt) {
    w.uint(d.e);
    w.uint(d.a);
    w.value(d.v);
    w.uint(d.tx);
  }
  const chunks = db.hist.chunks;
  w.uint(chunks.length);
  for (const { tx, datoms } of chunks) {
    w.uint(tx);
    w.uint(datoms.length);
    for (const d of datoms) {
      w.uint(d.e);
      w.uint(d.a);
      w.value(d.v);
      w.uint(d.tx);
    }
  }
  return w.finish();
}

/**
 * The schema that the current datoms describe (only those of db-partition entities matter).
 * Without `nextAttrId`, the next free attribute id is taken to follow the last schema entity.
 */
export function schemaFromDatoms(
  flexibility: SchemaFlexibility,
  datoms: Iterable<Datom>,
  nextAttrId?: number,
): Schema {
  const genesis = Schema.genesis(flexibility);
  const facts = new Map<number, Map<number, Value>>();
  let next = nextAttrId ?? genesis.nextAttrId;
  for (const d of datoms) {
    if ((SCHEMA_ATTRS.has(d.a) || d.a === SYS.doc) && genesis.identOf(d.e) === undefined) {
      let f = facts.get(d.e);
      if (f === undefined) facts.set(d.e, (f = new Map()));
      f.set(d.a, d.v);
      if (nextAttrId === undefined) next = Math.max(next, d.e + 1);
    }
  }
  return applySchemaFacts(genesis, facts, next);
}

export function deserializeDb(bytes: Uint8Array): Db {
  if (!(bytes instanceof Uint8Array))
    throw new DiagonError('db.error/serialization', 'deserializeDb needs a Uint8Array');
  const r = new ByteReader(bytes);
  for (const b of MAGIC) if (r.u8() !== b) r.fail('not a serialized Diagon database (bad magic)');
  const version = r.u8();
  if (version !== VERSION) r.fail(`unsupported format version ${version}`);
  const flexibility: SchemaFlexibility = r.u8() === 1 ? 'write' : 'read';
  const basisT = r.uint();
  const maxEid = r.uint();
  const instants: number[] = [];
  for (let t = 1; t <= basisT; t++) {
    const ms = r.f64();
    if (!Number.isFinite(ms) || (instants.length > 0 && ms < instants[instants.length - 1]!)) {
      r.fail('transaction instants must be finite and never decrease');
    }
    instants.push(ms);
  }
  const cur: Datom[] = [];
  const curCount = r.uint();
  for (let i = 0; i < curCount; i++) {
    const e = r.uint();
    const a = r.uint();
    const v = r.value() as Value;
    cur.push(new Datom(e, a, v, r.uint(), true));
  }
  const chunks: Retraction[] = [];
  const chunkCount = r.uint();
  for (let i = 0; i < chunkCount; i++) {
    const tx = r.uint();
    const n = r.uint();
    const datoms: Datom[] = [];
    for (let j = 0; j < n; j++) {
      const e = r.uint();
      const a = r.uint();
      const v = r.value() as Value;
      datoms.push(new Datom(e, a, v, r.uint(), true));
    }
    chunks.push({ tx, datoms });
  }
  if (!r.done) r.fail('trailing bytes');
  try {
    const schema = schemaFromDatoms(flexibility, cur);
    for (const c of chunks) {
      for (const d of c.datoms)
        if (schema.attr(d.a) === undefined) r.fail(`history datom names unknown attribute ${d.a}`);
    }
    return new Db({
      schema,
      cur: buildIndexes(cur, schema),
      hist: History.from(chunks),
      txLog: TxLog.from(instants),
      basisT,
      maxEid,
    });
  } catch (e) {
    if (e instanceof DiagonError && e.code === 'db.error/serialization') throw e;
    const why = e instanceof Error ? e.message : String(e);
    throw new DiagonError('db.error/serialization', `corrupt database bytes: ${why}`);
  }
}
