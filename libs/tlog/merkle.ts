/**
 * The Merkle tree of RFC 9162 §2.1 (the hash of RFC 6962, SHA-256), exactly:
 *
 *     MTH({})       = SHA-256()
 *     MTH({d0})     = SHA-256(0x00 ‖ d0)                         (the leaf hash)
 *     MTH(D[n])     = SHA-256(0x01 ‖ MTH(D[0:k]) ‖ MTH(D[k:n]))  k = largest power of 2 < n
 *
 * Proofs come in two steps, so a service can fetch what it needs from storage in one go:
 * `inclusionRanges`/`consistencyRanges` give the O(log n) subtrees `[start, end)` whose hashes
 * make the proof, bottom-up (each is a perfect subtree or the right edge of the tree at some
 * size), and `readProof` asks an accessor for them. The in-memory `inclusionProof` and
 * `consistencyProof` hash the subtrees from the leaf hashes: O(n) hashing per proof (the
 * ranges are disjoint), fine for exports and tests; a service that keeps perfect-subtree hashes
 * answers each range with O(log n) lookups instead.
 *
 * Sizes and indices are safe integers (below 2^53) and all arithmetic on them is division, not
 * bit operators, which stop at 32 bits. Verifiers return false for anything malformed; builders
 * throw `tlog/bad-range` or `tlog/bad-hash`.
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { DiagonError } from '../db/errors.js';

export const HASH_BYTES = 32;

/** A subtree of the leaves `start` (included) to `end` (excluded). */
export interface SubtreeRange {
  readonly start: number;
  readonly end: number;
}

/** Leaf hashes in memory: an array, or a function from leaf index to leaf hash. */
export type LeafHashes = readonly Uint8Array[] | ((index: number) => Uint8Array);

/**
 * MTH(D[start:end]) from storage: for example `rootFromLeafHashes` of the leaf hashes `start`
 * to `end` kept in Postgres, or a lookup of stored perfect-subtree hashes.
 */
export type SubtreeHashSource = (start: number, end: number) => Promise<Uint8Array>;

/** The serializable state of a `MerkleLog`: its size and the roots of its perfect subtrees. */
export interface Frontier {
  readonly size: number;
  /** Left to right (largest subtree first), one per bit set in `size`. */
  readonly hashes: readonly Uint8Array[];
}

const LEAF_PREFIX = Uint8Array.of(0x00);
const NODE_PREFIX = Uint8Array.of(0x01);

/** SHA-256(0x00 ‖ leaf). */
export function leafHash(leaf: Uint8Array): Uint8Array {
  return sha256.create().update(LEAF_PREFIX).update(leaf).digest();
}

/** SHA-256(0x01 ‖ left ‖ right). */
export function nodeHash(left: Uint8Array, right: Uint8Array): Uint8Array {
  return sha256.create().update(NODE_PREFIX).update(left).update(right).digest();
}

/** MTH of the empty tree: SHA-256 of no bytes. */
export function emptyRoot(): Uint8Array {
  return sha256(new Uint8Array(0));
}

/** MTH of the tree with these leaf hashes. */
export function rootFromLeafHashes(hashes: readonly Uint8Array[]): Uint8Array {
  for (const [i, h] of hashes.entries()) checkHash(h, `leaf hash ${i}`);
  return hashes.length === 0 ? emptyRoot() : subtreeHash(0, hashes.length, (i) => hashes[i]!);
}

/** The subtrees whose hashes prove leaf `index` is in the tree of `size` (RFC 9162 PATH). */
export function inclusionRanges(index: number, size: number): SubtreeRange[] {
  checkSize(size, 'tree size');
  if (!isSize(index) || index >= size)
    throw new DiagonError('tlog/bad-range', `no leaf ${index} in a tree of ${size}`, {
      index,
      size,
    });
  const out: SubtreeRange[] = [];
  const path = (m: number, start: number, end: number): void => {
    if (end - start <= 1) return;
    const k = splitPoint(end - start);
    if (m < k) {
      path(m, start, start + k);
      out.push({ start: start + k, end });
    } else {
      path(m - k, start + k, end);
      out.push({ start, end: start + k });
    }
  };
  path(index, 0, size);
  return out;
}

/** The subtrees whose hashes prove the tree of `m` is a prefix of the tree of `n` (SUBPROOF). */
export function consistencyRanges(m: number, n: number): SubtreeRange[] {
  checkSize(m, 'old tree size');
  checkSize(n, 'new tree size');
  if (m > n)
    throw new DiagonError('tlog/bad-range', `the old tree (${m}) is larger than the new (${n})`, {
      m,
      n,
    });
  const out: SubtreeRange[] = [];
  const subproof = (m: number, start: number, end: number, complete: boolean): void => {
    if (m === end - start) {
      if (!complete) out.push({ start, end });
      return;
    }
    const k = splitPoint(end - start);
    if (m <= k) {
      subproof(m, start, start + k, complete);
      out.push({ start: start + k, end });
    } else {
      subproof(m - k, start + k, end, false);
      out.push({ start, end: start + k });
    }
  };
  if (m > 0 && m < n) subproof(m, 0, n, true);
  return out;
}

/** The inclusion proof of leaf `index` in the tree of `size`, from leaf hashes in memory. */
export function inclusionProof(index: number, size: number, leaves: LeafHashes): Uint8Array[] {
  return hashRanges(inclusionRanges(index, size), size, leaves);
}

/** The consistency proof from the tree of `m` to the tree of `n`, from leaf hashes in memory. */
export function consistencyProof(m: number, n: number, leaves: LeafHashes): Uint8Array[] {
  return hashRanges(consistencyRanges(m, n), n, leaves);
}

/** The proof for `ranges`, each hash fetched from storage (all at once). */
export async function readProof(
  ranges: readonly SubtreeRange[],
  source: SubtreeHashSource,
): Promise<Uint8Array[]> {
  const hashes = await Promise.all(ranges.map((r) => source(r.start, r.end)));
  for (const [i, h] of hashes.entries())
    checkHash(h, `subtree hash [${ranges[i]!.start}, ${ranges[i]!.end})`);
  return hashes;
}

/** RFC 9162 §2.1.3.2: does `proof` show `hash` is leaf `index` of the tree of `size` and `root`? */
export function verifyInclusion(
  hash: Uint8Array,
  index: number,
  size: number,
  proof: readonly Uint8Array[],
  root: Uint8Array,
): boolean {
  if (!isSize(index) || !isSize(size) || index >= size) return false;
  if (!isHash(hash) || !isHash(root) || !proof.every(isHash)) return false;
  let fn = index;
  let sn = size - 1;
  let r = hash;
  for (const p of proof) {
    if (sn === 0) return false;
    if (isOdd(fn) || fn === sn) {
      r = nodeHash(p, r);
      while (!isOdd(fn) && fn !== 0) [fn, sn] = [half(fn), half(sn)];
    } else {
      r = nodeHash(r, p);
    }
    [fn, sn] = [half(fn), half(sn)];
  }
  return sn === 0 && bytesEqual(r, root);
}

/**
 * RFC 9162 §2.1.4.2: does `proof` show the tree of `m` with `oldRoot` is a prefix of the tree of
 * `n` with `newRoot`? Beyond the RFC (which assumes 0 < m < n): m = n needs an empty proof and
 * equal roots; m = 0 needs an empty proof and `oldRoot` the empty tree's hash.
 */
export function verifyConsistency(
  m: number,
  n: number,
  proof: readonly Uint8Array[],
  oldRoot: Uint8Array,
  newRoot: Uint8Array,
): boolean {
  if (!isSize(m) || !isSize(n) || m > n) return false;
  if (!isHash(oldRoot) || !isHash(newRoot) || !proof.every(isHash)) return false;
  if (m === 0) return proof.length === 0 && bytesEqual(oldRoot, emptyRoot());
  if (m === n) return proof.length === 0 && bytesEqual(oldRoot, newRoot);
  if (proof.length === 0) return false;
  const path = isPowerOfTwo(m) ? [oldRoot, ...proof] : proof;
  let fn = m - 1;
  let sn = n - 1;
  while (isOdd(fn)) [fn, sn] = [half(fn), half(sn)];
  let fr = path[0]!;
  let sr = path[0]!;
  for (const c of path.slice(1)) {
    if (sn === 0) return false;
    if (isOdd(fn) || fn === sn) {
      fr = nodeHash(c, fr);
      sr = nodeHash(c, sr);
      while (!isOdd(fn) && fn !== 0) [fn, sn] = [half(fn), half(sn)];
    } else {
      sr = nodeHash(sr, c);
    }
    [fn, sn] = [half(fn), half(sn)];
  }
  return sn === 0 && bytesEqual(fr, oldRoot) && bytesEqual(sr, newRoot);
}

/**
 * An append-only log that keeps only its compact range: the roots of the perfect subtrees along
 * its right edge, one per bit of the size. Append is amortized O(1) hashes (O(log n) at worst),
 * the root O(log n); the leaves themselves live elsewhere (they are needed only for proofs).
 */
export class MerkleLog {
  #size = 0;
  #frontier: Uint8Array[] = [];

  /** A log restored from `frontier()` (as persisted by a service); throws `tlog/bad-frontier`. */
  static fromFrontier(size: number, hashes: readonly Uint8Array[]): MerkleLog {
    if (!isSize(size))
      throw new DiagonError('tlog/bad-frontier', `${size} is not a tree size`, { size });
    if (hashes.length !== popCount(size))
      throw new DiagonError(
        'tlog/bad-frontier',
        `a tree of ${size} has ${popCount(size)} perfect subtrees on its right edge, not ${hashes.length}`,
        { size, hashes: hashes.length },
      );
    for (const [i, h] of hashes.entries())
      if (!isHash(h))
        throw new DiagonError('tlog/bad-frontier', `frontier hash ${i} is not ${HASH_BYTES} bytes`);
    const log = new MerkleLog();
    log.#size = size;
    log.#frontier = hashes.map((h) => Uint8Array.from(h));
    return log;
  }

  get size(): number {
    return this.#size;
  }

  /** Appends a leaf hash (see `leafHash`); returns its index. */
  append(hash: Uint8Array): number {
    checkHash(hash, 'leaf hash');
    if (this.#size === Number.MAX_SAFE_INTEGER)
      throw new DiagonError('tlog/bad-range', 'the log is full (2^53 - 1 leaves)');
    let node: Uint8Array = Uint8Array.from(hash);
    for (let s = this.#size; isOdd(s); s = half(s)) node = nodeHash(this.#frontier.pop()!, node);
    this.#frontier.push(node);
    return this.#size++;
  }

  /** MTH of the log as it stands. */
  root(): Uint8Array {
    if (this.#frontier.length === 0) return emptyRoot();
    let r = this.#frontier.at(-1)!;
    for (let i = this.#frontier.length - 2; i >= 0; i--) r = nodeHash(this.#frontier[i]!, r);
    return Uint8Array.from(r);
  }

  /** A copy of the state, for `MerkleLog.fromFrontier`. */
  frontier(): Frontier {
    return { size: this.#size, hashes: this.#frontier.map((h) => Uint8Array.from(h)) };
  }
}

/** MTH(D[start:end]) for 0 ≤ start < end. */
function subtreeHash(start: number, end: number, leaf: (index: number) => Uint8Array): Uint8Array {
  if (end - start === 1) return leaf(start);
  const k = splitPoint(end - start);
  return nodeHash(subtreeHash(start, start + k, leaf), subtreeHash(start + k, end, leaf));
}

function hashRanges(
  ranges: readonly SubtreeRange[],
  size: number,
  leaves: LeafHashes,
): Uint8Array[] {
  const leaf = (i: number): Uint8Array => {
    const h = typeof leaves === 'function' ? leaves(i) : leaves[i];
    if (h === undefined)
      throw new DiagonError('tlog/bad-range', `leaf ${i} of a tree of ${size} is missing`, {
        index: i,
        size,
      });
    checkHash(h, `leaf hash ${i}`);
    return h;
  };
  return ranges.map((r) => subtreeHash(r.start, r.end, leaf));
}

/** The largest power of two smaller than n (n ≥ 2). */
function splitPoint(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

function isSize(x: number): boolean {
  return Number.isSafeInteger(x) && x >= 0;
}

function checkSize(x: number, what: string): void {
  if (!isSize(x))
    throw new DiagonError('tlog/bad-range', `${what} ${x} is not a safe non-negative integer`, {
      [what]: x,
    });
}

function isHash(x: Uint8Array): boolean {
  return x instanceof Uint8Array && x.length === HASH_BYTES;
}

function checkHash(x: Uint8Array, what: string): void {
  if (!isHash(x))
    throw new DiagonError('tlog/bad-hash', `${what} is not ${HASH_BYTES} bytes of SHA-256`);
}

function isOdd(x: number): boolean {
  return x % 2 === 1;
}

function half(x: number): number {
  return Math.floor(x / 2);
}

function isPowerOfTwo(x: number): boolean {
  while (x > 1 && !isOdd(x)) x = half(x);
  return x === 1;
}

function popCount(x: number): number {
  let count = 0;
  for (; x > 0; x = half(x)) count += x % 2;
  return count;
}

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}
