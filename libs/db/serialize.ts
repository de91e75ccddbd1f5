/**
 * A database value to bytes and back.
 *
 * Layout (all integers unsigned LEB128 unless noted):
 *   "DGDB" version:u8 flexibility:u8 basisT maxEid { txInstant:f64 }*basisT
 *   currentCount { e a value tx }*             in EAVT order
 *   retractionCount { tx count { e a value tx }* }*   what each transaction retracted
 * Values carry a one-byte tag (see TAG). The schema is not stored: it is data, and is
 * read back from the datoms, which keeps the two from ever disagreeing.
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

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

export class ByteWriter {
  private buf = new Uint8Array(1 << 16);
  private view = new DataView(this.buf.buffer);
  private pos = 0;

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
    this.ensure(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }

  string(s: string): void {
    this.bytes(encoder.encode(s));
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

  constructor(private readonly buf: Uint8Array) {
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }

  fail(why: string): never {
    throw new DiagonError(
      'db.error/serialization',
      `corrupt database bytes at offset ${this.pos}: ${why}`,
      {
        offset: this.pos,
      },
    );
  }

  get done(): boolean {
    return this.pos >= this.buf.length;
  }

  u8(): number {
    if (this.pos >= this.buf.length) this.fail('unexpected end');
    return this.buf[this.pos++]!;
  }

  uint(): number {
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
    try {
      return decoder.decode(this.bytes());
    } catch (e) {
      if (e instanceof DiagonError) throw e;
      return this.fail('invalid UTF-8');
    }
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

/** The schema that the current datoms describe. */
function schemaFromDatoms(flexibility: SchemaFlexibility, datoms: readonly Datom[]): Schema {
  const genesis = Schema.genesis(flexibility);
  const facts = new Map<number, Map<number, Value>>();
  let nextAttrId = genesis.nextAttrId;
  for (const d of datoms) {
    if ((SCHEMA_ATTRS.has(d.a) || d.a === SYS.doc) && genesis.identOf(d.e) === undefined) {
      let f = facts.get(d.e);
      if (f === undefined) facts.set(d.e, (f = new Map()));
      f.set(d.a, d.v);
      nextAttrId = Math.max(nextAttrId, d.e + 1);
    }
  }
  return applySchemaFacts(genesis, facts, nextAttrId);
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
