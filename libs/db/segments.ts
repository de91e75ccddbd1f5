/**
 * The durable form of a database value: content-addressed segments under a root.
 *
 * Each current index is stored as its actual B+tree, one segment per node; the two logs
 * (what each transaction retracted, and every transaction's instant) as append-only
 * chunks. A segment is named by the hex SHA-256 of its bytes: it never changes, any
 * cache may keep it, and a node two snapshots share is stored once. Snapshots encode
 * only what this process has not named before (nodes are remembered by identity, so an
 * unchanged subtree costs nothing), and loading fetches a tree level by level, one call
 * per level, through a two-tier cache that shares decoded nodes between loaded values.
 *
 * Segment layout (integers unsigned LEB128 unless noted; values and datom runs as in
 * serialize.ts; a hash is its 32 raw bytes):
 *   "DGS" version:u8 kind:u8 body
 *   1 root      flexibility:u8 basisT maxEid nextAttrId eavt aevt avet vaet:hash
 *               n {hash}*n (retraction chunks)  m {hash}*m (instant chunks)
 *   2 leaf      index:u8 datoms                   the node's keys, in the index's order
 *   3 branch    index:u8 level n {child:hash size}*n     level 1: the children are leaves
 *   4 retracts  n {tx datoms}*n                    what each transaction retracted, in t order
 *   5 instants  firstT n {ms:f64 big-endian}*n     :db/txInstant of t = firstT, firstT+1, ..
 * index: 0 eavt, 1 aevt, 2 avet, 3 vaet. A branch's sizes and largest keys are rebuilt
 * from its children, which are at hand when it is assembled bottom-up.
 *
 * Chunking keeps old chunks byte-identical: instants go 4096 transactions to a chunk;
 * retractions close a chunk at 256 transactions or 4096 datoms. Only the last, open
 * chunk of each log changes from one snapshot to the next.
 */
import { createHash } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import { branchNode, leafNode, SortedSet, type TreeNode } from './btset.js';
import {
  CURRENT_ORDERS,
  type Datom,
  INDEX_NAMES,
  type IndexName,
  PROBE_ORDERS,
  probe,
} from './datom.js';
import { Db } from './db.js';
import { DiagonError } from './errors.js';
import { History, type Retraction, TxLog } from './history.js';
import { type SchemaFlexibility, SYS, TX0 } from './schema.js';
import { ByteReader, ByteWriter, schemaFromDatoms } from './serialize.js';

const SEGMENT_VERSION = 1;
const MAGIC = [0x44, 0x47, 0x53]; // "DGS"
const KIND = { root: 1, leaf: 2, branch: 3, retracts: 4, instants: 5 } as const;
const HASH_BYTES = 32;
const INSTANTS_PER_CHUNK = 4096;
const RETRACTS_PER_CHUNK = 256;
const RETRACTED_DATOMS_PER_CHUNK = 4096;

/** Where a value's segments are: a snapshot, by hash. */
export interface RootDoc {
  readonly version: number;
  readonly basisT: number;
  readonly maxEid: number;
  readonly nextAttrId: number;
  readonly flexibility: SchemaFlexibility;
  /** The root node of each current index. */
  readonly eavt: string;
  readonly aevt: string;
  readonly avet: string;
  readonly vaet: string;
  /** Retraction chunks, in t order. */
  readonly history: readonly string[];
  /** Instant chunks, in t order. */
  readonly instants: readonly string[];
}

export interface Snapshot {
  readonly root: RootDoc;
  /** The root as a segment (kind 1), itself stored under `rootHash`. */
  readonly rootBytes: Uint8Array;
  readonly rootHash: string;
  /** Segments this process has not produced or loaded before, the root among them. */
  readonly segments: Map<string, Uint8Array>;
}

/** Where segments come from; a missing hash is simply absent from the answer. */
export interface SegmentSource {
  fetch(hashes: string[]): Promise<Map<string, Uint8Array>>;
}

/** A segment, decoded. */
export type Segment =
  | { readonly kind: 'root'; readonly root: RootDoc }
  | { readonly kind: 'leaf'; readonly index: IndexName; readonly datoms: Datom[] }
  | {
      readonly kind: 'branch';
      readonly index: IndexName;
      readonly level: number;
      readonly children: string[];
      readonly sizes: number[];
    }
  | { readonly kind: 'retracts'; readonly retractions: Retraction[] }
  | { readonly kind: 'instants'; readonly firstT: number; readonly instants: Float64Array };

function malformed(why: string, data: Record<string, unknown> = {}): DiagonError {
  return new DiagonError('segments/malformed', `malformed segment: ${why}`, data);
}

function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

// ---------------------------------------------------------------------------------------
// Encoding

const writer = new ByteWriter(1 << 16);

function begin(kind: number): ByteWriter {
  writer.reset();
  for (const b of MAGIC) writer.u8(b);
  writer.u8(SEGMENT_VERSION);
  writer.u8(kind);
  return writer;
}

const hashBytes = (hash: string) => Buffer.from(hash, 'hex');

function encodeRoot(root: RootDoc): Uint8Array {
  const w = begin(KIND.root);
  w.u8(root.flexibility === 'write' ? 1 : 0);
  w.uint(root.basisT);
  w.uint(root.maxEid);
  w.uint(root.nextAttrId);
  for (const name of INDEX_NAMES) w.raw(hashBytes(root[name]));
  for (const list of [root.history, root.instants]) {
    w.uint(list.length);
    for (const h of list) w.raw(hashBytes(h));
  }
  return w.finish();
}

function encodeLeaf(index: number, keys: readonly Datom[]): Uint8Array {
  const w = begin(KIND.leaf);
  w.u8(index);
  w.datoms(keys);
  return w.finish();
}

function encodeBranch(index: number, n: TreeNode<Datom>, children: string[]): Uint8Array {
  let level = 0;
  for (let c: TreeNode<Datom> = n; c.children !== null; c = c.children[0]!) level++;
  const w = begin(KIND.branch);
  w.u8(index);
  w.uint(level);
  w.uint(children.length);
  children.forEach((h, i) => {
    w.raw(hashBytes(h));
    w.uint(n.children![i]!.size);
  });
  return w.finish();
}

function encodeRetracts(records: readonly Retraction[]): Uint8Array {
  const w = begin(KIND.retracts);
  w.uint(records.length);
  for (const r of records) {
    w.uint(r.tx);
    w.datoms(r.datoms);
  }
  return w.finish();
}

function encodeInstants(firstT: number, instants: Float64Array): Uint8Array {
  const w = begin(KIND.instants);
  w.uint(firstT);
  w.uint(instants.length);
  for (const ms of instants) w.f64(ms);
  return w.finish();
}

// ---------------------------------------------------------------------------------------
// What this process has named: nodes by identity, log chunks by what identifies their content

/** Per index: a node's hash. Nodes never change, so a known node is never encoded again. */
const nodeHashes: WeakMap<TreeNode<Datom>, string>[] = INDEX_NAMES.map(() => new WeakMap());

/**
 * A retraction record ends a chunk of `count` records. A record is appended once and then
 * shared by every later History, always after the same records, so it names its chunk.
 */
interface ChunkMark {
  readonly hash: string;
  readonly count: number;
  readonly closed: boolean;
}
const retractMarks = new WeakMap<Retraction, ChunkMark>();

/** Per instant buffer (see TxLog.instants): closed chunks by number, and the open tail. */
interface InstantMarks {
  readonly closed: string[];
  tail: { len: number; hash: string } | null;
}
const instantMarks = new WeakMap<ArrayBufferLike, InstantMarks>();
/** Closed instant chunks produced or loaded: a log that moved to a new buffer re-hashes, but never re-sends, them. */
const knownInstantChunks = new Set<string>();
const rootHashes = new WeakMap<Db, string>();

function nodeHash(n: TreeNode<Datom>, index: number, out: Map<string, Uint8Array>): string {
  const known = nodeHashes[index]!.get(n);
  if (known !== undefined) return known;
  const bytes =
    n.children === null
      ? encodeLeaf(index, n.keys!)
      : encodeBranch(
          index,
          n,
          n.children.map((c) => nodeHash(c, index, out)),
        );
  const hash = sha256(bytes);
  nodeHashes[index]!.set(n, hash);
  out.set(hash, bytes);
  return hash;
}

const closes = (records: number, datoms: number) =>
  records >= RETRACTS_PER_CHUNK || datoms >= RETRACTED_DATOMS_PER_CHUNK;

/** The hashes of the closed chunks that end just before record `end`, or null when one is unknown. */
function closedChunksBefore(records: readonly Retraction[], end: number): string[] | null {
  const hashes: string[] = [];
  let i = end - 1;
  while (i >= 0) {
    const mark = retractMarks.get(records[i]!);
    if (mark === undefined || !mark.closed) return null;
    hashes.push(mark.hash);
    i -= mark.count;
  }
  return i === -1 ? hashes.reverse() : null;
}

function retractChunks(hist: History, out: Map<string, Uint8Array>): string[] {
  const records = hist.chunks;
  // Resume after the newest chunk this process named: from its end if it was closed, from
  // its start if it was the open tail; from the first record when the chain is unknown.
  let last = records.length - 1;
  while (last >= 0 && !retractMarks.has(records[last]!)) last--;
  let hashes: string[] = [];
  let from = 0;
  if (last >= 0) {
    const mark = retractMarks.get(records[last]!)!;
    const start = last + 1 - mark.count;
    const before = closedChunksBefore(records, start);
    if (before !== null) {
      hashes = before;
      if (mark.closed) {
        hashes.push(mark.hash);
        from = last + 1;
      } else from = start;
    }
  }
  const chunk = (to: number, closed: boolean) => {
    const end = records[to - 1]!;
    const mark = retractMarks.get(end);
    if (mark !== undefined && mark.count === to - from && mark.closed === closed) {
      hashes.push(mark.hash);
    } else {
      const bytes = encodeRetracts(records.slice(from, to));
      const hash = sha256(bytes);
      retractMarks.set(end, { hash, count: to - from, closed });
      out.set(hash, bytes);
      hashes.push(hash);
    }
    from = to;
  };
  let datoms = 0;
  for (let i = from; i < records.length; i++) {
    datoms += records[i]!.datoms.length;
    if (closes(i + 1 - from, datoms)) {
      chunk(i + 1, true);
      datoms = 0;
    }
  }
  if (from < records.length) chunk(records.length, false);
  return hashes;
}

function marksOf(buffer: ArrayBufferLike): InstantMarks {
  let marks = instantMarks.get(buffer);
  if (marks === undefined) instantMarks.set(buffer, (marks = { closed: [], tail: null }));
  return marks;
}

function instantChunks(log: TxLog, out: Map<string, Uint8Array>): string[] {
  const all = log.instants;
  const marks = marksOf(all.buffer);
  const hashes: string[] = [];
  const full = Math.floor(all.length / INSTANTS_PER_CHUNK);
  for (let k = 0; k < full; k++) {
    let hash = marks.closed[k];
    if (hash === undefined) {
      const from = k * INSTANTS_PER_CHUNK;
      const bytes = encodeInstants(from + 1, all.subarray(from, from + INSTANTS_PER_CHUNK));
      hash = marks.closed[k] = sha256(bytes);
      if (!knownInstantChunks.has(hash)) {
        knownInstantChunks.add(hash);
        out.set(hash, bytes);
      }
    }
    hashes.push(hash);
  }
  const from = full * INSTANTS_PER_CHUNK;
  if (from < all.length) {
    if (marks.tail?.len !== all.length) {
      const bytes = encodeInstants(from + 1, all.subarray(from));
      marks.tail = { len: all.length, hash: sha256(bytes) };
      out.set(marks.tail.hash, bytes);
    }
    hashes.push(marks.tail.hash);
  }
  return hashes;
}

/**
 * The segments of a database value. Only what this process has not produced (or loaded)
 * before is encoded and returned: after a small transaction, a path per touched index and
 * the open tail of each log.
 */
export function snapshotDb(db: Db): Snapshot {
  if (db.isFiltered) {
    throw new DiagonError(
      'db.error/filtered-db',
      'snapshot the unfiltered database, not an asOf, since, history or filtered view of it',
    );
  }
  const segments = new Map<string, Uint8Array>();
  const [eavt, aevt, avet, vaet] = INDEX_NAMES.map((name, i) =>
    nodeHash(db.cur[name].rootNode(), i, segments),
  ) as [string, string, string, string];
  const root: RootDoc = {
    version: SEGMENT_VERSION,
    basisT: db.basisT,
    maxEid: db.maxEid,
    nextAttrId: db.schema.nextAttrId,
    flexibility: db.schema.flexibility,
    eavt,
    aevt,
    avet,
    vaet,
    history: retractChunks(db.hist, segments),
    instants: instantChunks(db.txLog, segments),
  };
  const rootBytes = encodeRoot(root);
  const rootHash = sha256(rootBytes);
  if (rootHashes.get(db) !== rootHash) {
    rootHashes.set(db, rootHash);
    segments.set(rootHash, rootBytes);
  }
  return { root, rootBytes, rootHash, segments };
}

// ---------------------------------------------------------------------------------------
// Decoding

function header(r: ByteReader): number {
  for (const b of MAGIC) if (r.u8() !== b) r.fail('not a Diagon segment (bad magic)');
  const version = r.u8();
  if (version !== SEGMENT_VERSION) r.fail(`unsupported segment version ${version}`);
  const kind = r.u8();
  if (kind < KIND.root || kind > KIND.instants) r.fail(`unknown segment kind ${kind}`);
  return kind;
}

const reader = (bytes: Uint8Array) => new ByteReader(bytes, 'segments/malformed', 'segment');

function hashList(r: ByteReader, n: number): string[] {
  if (n * HASH_BYTES > r.remaining) r.fail(`${n} hashes run past the end`);
  const out = new Array<string>(n);
  for (let i = 0; i < n; i++) out[i] = hex(r.raw(HASH_BYTES));
  return out;
}

const hex = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');

function indexName(r: ByteReader): IndexName {
  const i = r.u8();
  return INDEX_NAMES[i] ?? r.fail(`unknown index ${i}`);
}

function decodeRoot(r: ByteReader): RootDoc {
  const flex = r.u8();
  if (flex > 1) r.fail(`unknown schema flexibility ${flex}`);
  const basisT = r.uint();
  const maxEid = r.uint();
  const nextAttrId = r.uint();
  const [eavt, aevt, avet, vaet] = hashList(r, 4) as [string, string, string, string];
  const history = hashList(r, r.uint());
  const instants = hashList(r, r.uint());
  const flexibility: SchemaFlexibility = flex === 1 ? 'write' : 'read';
  return {
    version: SEGMENT_VERSION,
    basisT,
    maxEid,
    nextAttrId,
    flexibility,
    eavt,
    aevt,
    avet,
    vaet,
    history,
    instants,
  };
}

function assertions(r: ByteReader, datoms: Datom[]): Datom[] {
  for (const d of datoms) if (!d.added) r.fail('a stored datom is a retraction');
  return datoms;
}

/** Decodes and validates a segment; bad bytes are DiagonError 'segments/malformed'. */
export function decodeSegment(bytes: Uint8Array): Segment {
  if (!(bytes instanceof Uint8Array)) throw malformed('a segment is a Uint8Array');
  const r = reader(bytes);
  let seg: Segment;
  switch (header(r)) {
    case KIND.root:
      seg = { kind: 'root', root: decodeRoot(r) };
      break;
    case KIND.leaf:
      seg = { kind: 'leaf', index: indexName(r), datoms: assertions(r, r.datoms()) };
      break;
    case KIND.branch: {
      const index = indexName(r);
      const level = r.uint();
      const n = r.uint();
      if (level < 1 || n < 1) r.fail('a branch has a level and children');
      if (n * (HASH_BYTES + 1) > r.remaining) r.fail(`${n} children run past the end`);
      const children = new Array<string>(n);
      const sizes = new Array<number>(n);
      for (let i = 0; i < n; i++) {
        children[i] = hex(r.raw(HASH_BYTES));
        sizes[i] = r.uint();
        if (sizes[i] === 0) r.fail('an empty child');
      }
      seg = { kind: 'branch', index, level, children, sizes };
      break;
    }
    case KIND.retracts: {
      const n = r.uint();
      if (n > r.remaining) r.fail(`${n} records run past the end`);
      const retractions: Retraction[] = [];
      for (let i = 0; i < n; i++)
        retractions.push({ tx: r.uint(), datoms: assertions(r, r.datoms()) });
      seg = { kind: 'retracts', retractions };
      break;
    }
    default: {
      const firstT = r.uint();
      const n = r.uint();
      if (firstT < 1) r.fail('transactions start at t = 1');
      if (n * 8 > r.remaining) r.fail(`${n} instants run past the end`);
      const instants = new Float64Array(n);
      for (let i = 0; i < n; i++) instants[i] = r.f64();
      seg = { kind: 'instants', firstT, instants };
    }
  }
  if (!r.done) r.fail('trailing bytes');
  return seg;
}

/**
 * The hashes a segment refers to: a root's trees and chunks, a branch's children; none
 * for the rest, whose bodies are not read.
 */
export function segmentChildren(bytes: Uint8Array): string[] {
  if (!(bytes instanceof Uint8Array)) throw malformed('a segment is a Uint8Array');
  const r = reader(bytes);
  const kind = header(r);
  if (kind !== KIND.root && kind !== KIND.branch) return [];
  const seg = decodeSegment(bytes);
  if (seg.kind === 'branch') return seg.children;
  const root = (seg as { root: RootDoc }).root;
  return [...INDEX_NAMES.map((name) => root[name]), ...root.history, ...root.instants];
}

const HASH_RE = /^[0-9a-f]{64}$/;

/** A RootDoc from outside (JSON, a row), checked at the boundary. */
function checkRoot(x: RootDoc): RootDoc {
  const bad = (why: string): never => {
    throw malformed(`root document: ${why}`);
  };
  if (typeof x !== 'object' || x === null) bad('not an object');
  if (x.version !== SEGMENT_VERSION) bad(`unsupported version ${String(x.version)}`);
  for (const k of ['basisT', 'maxEid', 'nextAttrId'] as const) {
    if (!Number.isSafeInteger(x[k]) || x[k] < 0) bad(`${k} must be a non-negative integer`);
  }
  if (x.flexibility !== 'read' && x.flexibility !== 'write') bad('flexibility is read or write');
  for (const name of INDEX_NAMES) if (!HASH_RE.test(String(x[name]))) bad(`${name} is not a hash`);
  for (const k of ['history', 'instants'] as const) {
    if (!Array.isArray(x[k]) || !x[k].every((h) => HASH_RE.test(String(h))))
      bad(`${k} must be a list of hashes`);
  }
  return x;
}

// ---------------------------------------------------------------------------------------
// The cache

interface NodeMeta {
  readonly index: IndexName;
  readonly level: number;
  /** Estimated heap bytes (see leafBytes). */
  readonly size: number;
}

/** A decoded segment as the cache keeps it, with its estimated heap size. */
type Decoded =
  | ({ readonly kind: 'node'; readonly node: TreeNode<Datom> } & NodeMeta)
  | { readonly kind: 'retracts'; readonly retractions: Retraction[]; readonly size: number }
  | {
      readonly kind: 'instants';
      readonly firstT: number;
      readonly instants: Float64Array;
      readonly size: number;
    };

/**
 * Heap estimates: a datom object and its slot, plus its share of the encoded bytes twice
 * over for values (strings widen, numbers box). A branch counts the subtree it keeps
 * alive, so the decoded tier's budget bounds what it really holds.
 */
const NODE_BYTES = 96;
const DATOM_BYTES = 64;
const leafBytes = (count: number, encoded: number) =>
  NODE_BYTES + count * DATOM_BYTES + 2 * encoded;

export interface SegmentCacheOptions {
  /** Budget for encoded segments, in bytes (default 64 MiB). */
  readonly maxEncodedBytes?: number;
  /** Budget for decoded nodes and chunks, in estimated heap bytes (default 256 MiB). */
  readonly maxDecodedBytes?: number;
}

export interface CacheTierStats {
  readonly hits: number;
  readonly misses: number;
  readonly entries: number;
  readonly bytes: number;
}

/**
 * Segments by hash, in two LRU tiers: the bytes, and what they decode to. Decoded nodes
 * are immutable, so one cached node serves every value loaded through this cache.
 *
 * A node the budget evicted may still be alive in a loaded value (a peer holds its
 * current one): such nodes stay findable by hash through weak references, so the next
 * root shares every node it has in common with a live value, whatever the budget.
 */
export class SegmentCache {
  private readonly bytes: LRUCache<string, Uint8Array>;
  private readonly decoded: LRUCache<string, Decoded>;
  private readonly alive = new Map<string, { ref: WeakRef<TreeNode<Datom>>; d: NodeMeta }>();
  private readonly gone = new FinalizationRegistry<string>((hash) => {
    if (this.alive.get(hash)?.ref.deref() === undefined) this.alive.delete(hash);
  });
  private readonly counts = { encoded: { hits: 0, misses: 0 }, decoded: { hits: 0, misses: 0 } };

  constructor(opts: SegmentCacheOptions = {}) {
    this.bytes = new LRUCache({
      maxSize: opts.maxEncodedBytes ?? 64 * 2 ** 20,
      sizeCalculation: (b) => Math.max(1, b.length),
    });
    this.decoded = new LRUCache({
      maxSize: opts.maxDecodedBytes ?? 256 * 2 ** 20,
      sizeCalculation: (d) => Math.max(1, d.size),
    });
  }

  /** @internal */
  getBytes(hash: string): Uint8Array | undefined {
    const b = this.bytes.get(hash);
    this.counts.encoded[b === undefined ? 'misses' : 'hits']++;
    return b;
  }

  /** @internal */
  setBytes(hash: string, bytes: Uint8Array): void {
    this.bytes.set(hash, bytes);
  }

  /** @internal */
  getDecoded(hash: string): Decoded | undefined {
    let d = this.decoded.get(hash);
    if (d === undefined) {
      const found = this.alive.get(hash);
      const node = found?.ref.deref();
      if (node !== undefined) {
        d = { kind: 'node', ...found!.d, node };
        this.decoded.set(hash, d);
      }
    }
    this.counts.decoded[d === undefined ? 'misses' : 'hits']++;
    return d;
  }

  /** @internal */
  setDecoded(hash: string, d: Decoded): void {
    this.decoded.set(hash, d);
    if (d.kind !== 'node' || this.alive.get(hash)?.ref.deref() === d.node) return;
    this.alive.set(hash, {
      ref: new WeakRef(d.node),
      d: { index: d.index, level: d.level, size: d.size },
    });
    this.gone.register(d.node, hash);
  }

  stats(): { encoded: CacheTierStats; decoded: CacheTierStats & { readonly alive: number } } {
    return {
      encoded: {
        ...this.counts.encoded,
        entries: this.bytes.size,
        bytes: this.bytes.calculatedSize,
      },
      decoded: {
        ...this.counts.decoded,
        entries: this.decoded.size,
        bytes: this.decoded.calculatedSize,
        alive: this.alive.size,
      },
    };
  }

  clear(): void {
    this.bytes.clear();
    this.decoded.clear();
    this.alive.clear();
  }
}

// ---------------------------------------------------------------------------------------
// Loading

/** Fetches what the cache lacks in one call, checks every hash, and decodes. */
async function resolve(
  hashes: string[],
  source: SegmentSource,
  cache: SegmentCache | undefined,
): Promise<Map<string, Decoded | { segment: Segment; length: number }>> {
  const out = new Map<string, Decoded | { segment: Segment; length: number }>();
  const wanted: string[] = [];
  for (const h of new Set(hashes)) {
    const hit = cache?.getDecoded(h);
    if (hit !== undefined) {
      out.set(h, hit);
      continue;
    }
    const bytes = cache?.getBytes(h);
    if (bytes !== undefined) out.set(h, { segment: decodeSegment(bytes), length: bytes.length });
    else wanted.push(h);
  }
  if (wanted.length === 0) return out;
  for (const [h, bytes] of await fetchChecked(wanted, source)) {
    cache?.setBytes(h, bytes);
    out.set(h, { segment: decodeSegment(bytes), length: bytes.length });
  }
  return out;
}

/** Segments from the source in one call, each checked against its hash. */
async function fetchChecked(
  hashes: string[],
  source: SegmentSource,
): Promise<Map<string, Uint8Array>> {
  const got = await source.fetch(hashes);
  const out = new Map<string, Uint8Array>();
  for (const h of hashes) {
    const bytes = got.get(h);
    if (bytes === undefined) {
      throw new DiagonError('segments/missing', `segment ${h} is missing from storage`, {
        hash: h,
      });
    }
    const actual = sha256(bytes);
    if (actual !== h) {
      throw new DiagonError(
        'segments/corrupt',
        `segment ${h} is corrupt: its bytes hash to ${actual}`,
        { hash: h, actual },
      );
    }
    out.set(h, bytes);
  }
  return out;
}

interface Wanted {
  readonly hash: string;
  readonly index: number;
  /** The level the parent says this node is at; null for a tree's root. */
  readonly level: number | null;
}

/** The four trees, level by level: one fetch per level for all of them, then bottom-up assembly. */
async function loadTrees(
  root: RootDoc,
  first: Map<string, Decoded | { segment: Segment; length: number }>,
  source: SegmentSource,
  cache: SegmentCache | undefined,
): Promise<Map<string, Decoded & { kind: 'node' }>> {
  const built = new Map<string, Decoded & { kind: 'node' }>();
  const levels: { hash: string; index: number; seg: Segment & { kind: 'branch' } }[][] = [];
  let wanted: Wanted[] = INDEX_NAMES.map((name, index) => ({
    hash: root[name],
    index,
    level: null,
  }));
  let got = first;
  while (wanted.length > 0) {
    const next: Wanted[] = [];
    const branches: (typeof levels)[number] = [];
    for (const w of wanted) {
      const found = got.get(w.hash)!;
      const name = INDEX_NAMES[w.index]!;
      const level = 'segment' in found ? levelOf(found.segment, name) : nodeLevel(found, name);
      if (w.level !== null && level !== w.level)
        throw malformed(`node ${w.hash} is at level ${level}, its parent says ${w.level}`);
      if ('segment' in found) {
        const seg = found.segment;
        if (seg.kind === 'branch') {
          branches.push({ hash: w.hash, index: w.index, seg });
          for (const hash of seg.children) next.push({ hash, index: w.index, level: level - 1 });
          continue;
        }
        const datoms = (seg as { datoms: Datom[] }).datoms;
        const node = leafNode(datoms);
        const decoded = {
          kind: 'node',
          index: name,
          level: 0,
          node,
          size: leafBytes(datoms.length, found.length),
        } as const;
        cache?.setDecoded(w.hash, decoded);
        built.set(w.hash, decoded);
      } else built.set(w.hash, found as Decoded & { kind: 'node' });
    }
    levels.push(branches);
    wanted = next.filter((w) => !built.has(w.hash));
    if (wanted.length > 0)
      got = await resolve(
        wanted.map((w) => w.hash),
        source,
        cache,
      );
  }
  for (let l = levels.length - 1; l >= 0; l--) {
    for (const { hash, index, seg } of levels[l]!) {
      const children = seg.children.map((h) => built.get(h)!);
      const node = branchNode(
        children.map((c) => c.node),
        CURRENT_ORDERS[INDEX_NAMES[index]!],
      );
      let size = NODE_BYTES + 24 * children.length;
      children.forEach((c, i) => {
        if (c.node.size !== seg.sizes[i])
          throw malformed(
            `node ${seg.children[i]} holds ${c.node.size} datoms, its parent says ${seg.sizes[i]}`,
          );
        size += c.size;
      });
      const decoded = { kind: 'node', index: seg.index, level: seg.level, node, size } as const;
      cache?.setDecoded(hash, decoded);
      built.set(hash, decoded);
    }
  }
  return built;
}

function levelOf(seg: Segment, index: IndexName): number {
  if ((seg.kind !== 'leaf' && seg.kind !== 'branch') || seg.index !== index)
    throw malformed(`expected a node of ${index}, found a ${seg.kind} segment`);
  return seg.kind === 'leaf' ? 0 : seg.level;
}

function nodeLevel(d: Decoded, index: IndexName): number {
  if (d.kind !== 'node' || d.index !== index)
    throw malformed(`expected a node of ${index}, found a ${d.kind} segment`);
  return d.level;
}

/**
 * A database value from its root (a RootDoc or the root segment's bytes): every segment is
 * fetched through `cache` (when given) and checked against its hash. A missing segment is
 * 'segments/missing', one whose bytes do not match its hash 'segments/corrupt', bytes that
 * do not decode 'segments/malformed'.
 */
export async function loadSnapshot(
  root: RootDoc | Uint8Array,
  source: SegmentSource,
  cache?: SegmentCache,
): Promise<Db> {
  const { doc, hash: rootHash } = rootOf(root);
  const logs = [...doc.history, ...doc.instants];
  const first = await resolve([...INDEX_NAMES.map((n) => doc[n]), ...logs], source, cache);
  const retractions = doc.history.map((h) => logChunk(h, first.get(h)!, 'retracts', cache));
  const instants = doc.instants.map((h) => logChunk(h, first.get(h)!, 'instants', cache));
  const nodes = await loadTrees(doc, first, source, cache);
  const tree = (name: IndexName) =>
    SortedSet.fromRoot(nodes.get(doc[name])!.node, CURRENT_ORDERS[name]);
  const cur = { eavt: tree('eavt'), aevt: tree('aevt'), avet: tree('avet'), vaet: tree('vaet') };
  const txLog = TxLog.from(instantsOf(doc, instants));
  const hist = History.from(retractionsOf(doc, retractions));
  let schema: ReturnType<typeof schemaFromDatoms>;
  try {
    const schemaDatoms = cur.aevt.range(
      probe(undefined, SYS.ident),
      probe(undefined, SYS.tupleType),
      PROBE_ORDERS.aevt,
    );
    schema = schemaFromDatoms(doc.flexibility, schemaDatoms, doc.nextAttrId);
  } catch (e) {
    throw malformed(`the schema datoms do not make a schema: ${(e as Error).message}`);
  }
  const db = new Db({ schema, cur, hist, txLog, basisT: doc.basisT, maxEid: doc.maxEid });
  for (const [hash, d] of nodes) nodeHashes[INDEX_NAMES.indexOf(d.index)]!.set(d.node, hash);
  markLogs(db, doc, retractions, instants);
  rootHashes.set(db, rootHash);
  return db;
}

function logChunk<K extends 'retracts' | 'instants'>(
  hash: string,
  found: Decoded | { segment: Segment; length: number },
  kind: K,
  cache: SegmentCache | undefined,
): Decoded & { kind: K } {
  let d: Decoded;
  if ('segment' in found) {
    const seg = found.segment;
    if (seg.kind === 'retracts') {
      const datoms = seg.retractions.reduce((n, r) => n + r.datoms.length, 0);
      d = { ...seg, size: leafBytes(datoms, found.length) };
    } else if (seg.kind === 'instants') d = { ...seg, size: NODE_BYTES + 8 * seg.instants.length };
    else throw malformed(`expected a ${kind} chunk, found a ${seg.kind} segment`);
    cache?.setDecoded(hash, d);
  } else d = found;
  if (d.kind !== kind) throw malformed(`expected a ${kind} chunk, found a ${d.kind} segment`);
  return d as Decoded & { kind: K };
}

function instantsOf(
  doc: RootDoc,
  chunks: { firstT: number; instants: Float64Array }[],
): Float64Array {
  const all = new Float64Array(chunks.reduce((n, c) => n + c.instants.length, 0));
  let t = 1;
  for (const c of chunks) {
    if (c.firstT !== t) throw malformed(`instant chunks skip from t ${t} to ${c.firstT}`);
    all.set(c.instants, t - 1);
    t += c.instants.length;
  }
  if (all.length !== doc.basisT)
    throw malformed(`${all.length} transaction instants for basis t ${doc.basisT}`);
  for (let i = 0; i < all.length; i++) {
    if (!Number.isFinite(all[i]!) || (i > 0 && all[i]! < all[i - 1]!))
      throw malformed('transaction instants must be finite and never decrease');
  }
  return all;
}

function retractionsOf(doc: RootDoc, chunks: { retractions: Retraction[] }[]): Retraction[] {
  // A new array: History appends to the one it is given, and chunks may be shared.
  const all = chunks.flatMap((c) => c.retractions);
  let tx = 0;
  for (const r of all) {
    if (r.tx <= tx || r.tx - TX0 > doc.basisT)
      throw malformed(`retraction records out of t order or beyond basis t ${doc.basisT}`);
    tx = r.tx;
  }
  return all;
}

/** Remembers what a loaded value's log chunks are, so that its next snapshot reuses them. */
function markLogs(
  db: Db,
  doc: RootDoc,
  retractions: { retractions: Retraction[] }[],
  instants: { firstT: number; instants: Float64Array }[],
): void {
  retractions.forEach((c, i) => {
    const last = c.retractions[c.retractions.length - 1];
    if (last === undefined) return;
    const datoms = c.retractions.reduce((n, r) => n + r.datoms.length, 0);
    const count = c.retractions.length;
    retractMarks.set(last, { hash: doc.history[i]!, count, closed: closes(count, datoms) });
  });
  const marks = marksOf(db.txLog.instants.buffer);
  for (let k = 0; k < instants.length; k++) {
    const { firstT, instants: ms } = instants[k]!;
    if (firstT !== k * INSTANTS_PER_CHUNK + 1) return;
    const hash = doc.instants[k]!;
    if (ms.length === INSTANTS_PER_CHUNK) {
      marks.closed[k] = hash;
      knownInstantChunks.add(hash);
    } else if (k === instants.length - 1) marks.tail = { len: db.basisT, hash };
    else return;
  }
}

function rootOf(root: RootDoc | Uint8Array): { doc: RootDoc; hash: string } {
  if (!(root instanceof Uint8Array)) {
    const doc = checkRoot(root);
    return { doc, hash: sha256(encodeRoot(doc)) };
  }
  const seg = decodeSegment(root);
  if (seg.kind !== 'root') throw malformed(`expected a root segment, found a ${seg.kind} segment`);
  return { doc: seg.root, hash: sha256(root) };
}

/**
 * Every segment a root reaches, the root's own among them: what garbage collection must
 * keep. Only branches are fetched (one call per level); leaves and chunks are named by
 * their parents.
 */
export async function reachableSegments(
  root: RootDoc | Uint8Array,
  source: SegmentSource,
): Promise<Set<string>> {
  const { doc, hash } = rootOf(root);
  const out = new Set<string>([hash, ...doc.history, ...doc.instants]);
  let wanted = INDEX_NAMES.map((name) => doc[name]);
  for (;;) {
    const fresh = [...new Set(wanted)].filter((h) => !out.has(h));
    if (fresh.length === 0) return out;
    for (const h of fresh) out.add(h);
    const next: string[] = [];
    for (const bytes of (await fetchChecked(fresh, source)).values()) {
      const seg = decodeSegment(bytes);
      if (seg.kind === 'leaf') continue;
      if (seg.kind !== 'branch')
        throw malformed(`expected a tree node, found a ${seg.kind} segment`);
      if (seg.level > 1) next.push(...seg.children);
      else for (const h of seg.children) out.add(h);
    }
    wanted = next;
  }
}
