/**
 * A persistent sorted set: a B+tree with large nodes and structural sharing.
 *
 * Every node knows the size of its subtree, so ranks and range counts cost O(log n).
 * Branch nodes keep the largest key of each child. `transient()` returns an editable
 * view that mutates, in place, only the nodes it created itself, so a batch of
 * changes costs one path copy per touched node instead of one per change; the
 * value it came from is never changed.
 */

export type Comparator<K> = (a: K, b: K) => number;

/**
 * A sort order: a compare function and the mode it is called with. The tree code calls
 * `compare` at a handful of sites; when many orders share one compare function and differ
 * only by `mode` (as the datom orders do), every one of those sites stays monomorphic and
 * the compare is inlined. With one function per order they go megamorphic, which measured
 * about 1.5x slower on the transaction benchmarks.
 */
export class Order<K> {
  constructor(
    readonly compare: (a: K, b: K, mode: number) => number,
    readonly mode: number = 0,
    /**
     * Optional: a number that never decreases along the order (x < y ⇒ prefix(x) <=
     * prefix(y)), for keys and for probes whose missing parts are filled low or `high`.
     * Branches keep their children's prefixes in a number array and compare those first,
     * reaching into a key object only on a tie: a search then touches far fewer objects.
     */
    readonly prefix: ((k: K, mode: number, high: boolean) => number) | null = null,
  ) {}

  static of<K>(x: Order<K> | Comparator<K>): Order<K> {
    return x instanceof Order ? x : new Order(x);
  }
}

/** Nodes hold at most MAX_KEYS entries; removals rebalance nodes that fall below MIN_KEYS. */
export const MAX_KEYS = 64;
export const MIN_KEYS = MAX_KEYS >>> 1;
/** Fill of nodes made by `fromSorted`: room to grow before the first split. */
const BUILD_FILL = (MAX_KEYS * 3) >>> 2;

type Edit = { readonly id: number };

/**
 * A leaf holds keys; a branch holds children and, in `keys`, the largest key of each
 * child, so a search reads one array per level. Every node knows its subtree's size
 * and largest key.
 */
class Node<K> {
  constructor(
    /** Leaf: the keys. Branch: the largest key of each child. */
    public keys: K[] | null,
    /** Branch children; null in a leaf. */
    public children: Node<K>[] | null,
    public size: number,
    /** The largest key in the subtree (undefined only in an empty root). */
    public max: K,
    public edit: Edit | null,
    /** Branch: the order's prefix of each child's largest key (null without a prefix). */
    public prefixes: number[] | null = null,
  ) {}
}

/**
 * A tree node as storage sees it (libs/db/segments): leaf keys, or children and their
 * largest keys. A node reachable from a persistent set never changes again, so it can be
 * named by a hash of its content and shared between loaded values.
 */
export type { Node as TreeNode };

/** A leaf over keys already sorted by the set's order; takes ownership of `keys`. */
export function leafNode<K>(keys: K[]): Node<K> {
  return leaf(keys, null);
}

/** A branch over children in order; sizes, largest keys and prefixes are derived from them. */
export function branchNode<K>(children: Node<K>[], order: Order<K>): Node<K> {
  return branch(children, order, null);
}

function width<K>(n: Node<K>): number {
  return n.children === null ? n.keys!.length : n.children.length;
}

/** First index i with o.compare(keys[i], key, o.mode) >= 0 (or > 0 when `after`). */
function keyIndex<K>(keys: K[], key: K, o: Order<K>, after: boolean): number {
  let lo = 0;
  let hi = keys.length;
  const bound = after ? 0 : -1;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (o.compare(keys[mid]!, key, o.mode) <= bound) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * First child i whose largest key is >= key (or > key when `after`); `kp` is the key's
 * prefix (NaN when the order has none), compared before any key object is read.
 */
function childIndex<K>(n: Node<K>, key: K, o: Order<K>, after: boolean, kp: number): number {
  const prefixes = n.prefixes;
  if (prefixes === null || Number.isNaN(kp)) return keyIndex(n.keys!, key, o, after);
  const keys = n.keys!;
  let lo = 0;
  let hi = keys.length;
  const bound = after ? 0 : -1;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    const p = prefixes[mid]!;
    const c = p < kp ? -1 : p > kp ? 1 : o.compare(keys[mid]!, key, o.mode);
    if (c <= bound) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function prefixOf<K>(o: Order<K>, key: K, high: boolean): number {
  return o.prefix === null ? Number.NaN : o.prefix(key, o.mode, high);
}

/** The prefixes of a branch's children maxes, under the set's order. */
function prefixesOf<K>(o: Order<K>, maxes: K[]): number[] | null {
  if (o.prefix === null) return null;
  const out = new Array<number>(maxes.length);
  for (let i = 0; i < maxes.length; i++) out[i] = o.prefix(maxes[i]!, o.mode, false);
  return out;
}

function leaf<K>(keys: K[], edit: Edit | null): Node<K> {
  return new Node(keys, null, keys.length, keys[keys.length - 1]!, edit);
}

function branch<K>(children: Node<K>[], o: Order<K>, edit: Edit | null): Node<K> {
  let size = 0;
  const maxes = new Array<K>(children.length);
  for (let i = 0; i < children.length; i++) {
    size += children[i]!.size;
    maxes[i] = children[i]!.max;
  }
  return new Node<K>(
    maxes,
    children,
    size,
    children[children.length - 1]!.max,
    edit,
    prefixesOf(o, maxes),
  );
}

function insertAt<T>(arr: T[], i: number, x: T): T[] {
  // A pre-sized copy: slice-then-splice would grow the new array a second time.
  const out = new Array<T>(arr.length + 1);
  for (let j = 0; j < i; j++) out[j] = arr[j]!;
  out[i] = x;
  for (let j = i; j < arr.length; j++) out[j + 1] = arr[j]!;
  return out;
}

/**
 * Where to split an overfull array. An insert at the end keeps the left node full and
 * starts the right one with the new entry, so monotonic loads (new entities, a growing
 * attribute run) fill their nodes; that right node is light until it fills, the one
 * exception to the minimum fill.
 */
function splitPoint(length: number, insertedAt: number): number {
  return insertedAt === length - 1 ? length - 1 : length >>> 1;
}

const EXISTS = null;
type InsertResult<K> = Node<K> | [Node<K>, Node<K>] | typeof EXISTS;

function insert<K>(
  n: Node<K>,
  key: K,
  o: Order<K>,
  edit: Edit | null,
  kp: number,
): InsertResult<K> {
  const editable = edit !== null && n.edit === edit;
  const children = n.children;
  if (children === null) {
    const keys = n.keys!;
    const idx = keyIndex(keys, key, o, false);
    if (idx < keys.length && o.compare(keys[idx]!, key, o.mode) === 0) return EXISTS;
    if (keys.length < MAX_KEYS) {
      if (!editable) return leaf(insertAt(keys, idx, key), edit);
      keys.splice(idx, 0, key);
      n.size++;
      if (idx === keys.length - 1) n.max = key;
      return n;
    }
    const all = insertAt(keys, idx, key);
    const at = splitPoint(all.length, idx);
    return [leaf(all.slice(0, at), edit), leaf(all.slice(at), edit)];
  }
  let idx = childIndex(n, key, o, false, kp);
  if (idx === children.length) idx--;
  else if (o.compare(n.keys![idx]!, key, o.mode) === 0) return EXISTS;
  const r = insert(children[idx]!, key, o, edit, kp);
  if (r === EXISTS) return EXISTS;
  const out = editable ? children : children.slice();
  const maxes = editable ? n.keys! : n.keys!.slice();
  const prefixes = n.prefixes === null ? null : editable ? n.prefixes : n.prefixes.slice();
  if (!Array.isArray(r)) {
    out[idx] = r;
    if (maxes[idx] !== r.max) {
      maxes[idx] = r.max;
      if (prefixes !== null) prefixes[idx] = prefixOf(o, r.max, false);
    }
  } else {
    out.splice(idx, 1, r[0], r[1]);
    maxes.splice(idx, 1, r[0].max, r[1].max);
    if (prefixes !== null)
      prefixes.splice(idx, 1, prefixOf(o, r[0].max, false), prefixOf(o, r[1].max, false));
  }
  if (out.length > MAX_KEYS) {
    const at = splitPoint(out.length, idx + 1);
    return [branch(out.slice(0, at), o, edit), branch(out.slice(at), o, edit)];
  }
  const node = editable ? n : new Node<K>(maxes, out, n.size, n.max, edit, prefixes);
  node.size = n.size + 1;
  node.max = out[out.length - 1]!.max;
  return node;
}

const ABSENT = null;
/** The stored key the last successful `remove` took out (it may differ from the probe). */
let removedKey: unknown;

/** Joins two adjacent siblings into one node, or splits their entries evenly between two. */
function rebalance<K>(a: Node<K>, b: Node<K>, o: Order<K>, edit: Edit | null): Node<K>[] {
  const total = width(a) + width(b);
  if (a.children === null) {
    const keys = a.keys!.concat(b.keys!);
    if (total <= MAX_KEYS) return [leaf(keys, edit)];
    const at = total >>> 1;
    return [leaf(keys.slice(0, at), edit), leaf(keys.slice(at), edit)];
  }
  const children = a.children.concat(b.children!);
  if (total <= MAX_KEYS) return [branch(children, o, edit)];
  const at = total >>> 1;
  return [branch(children.slice(0, at), o, edit), branch(children.slice(at), o, edit)];
}

function remove<K>(n: Node<K>, key: K, o: Order<K>, edit: Edit | null, kp: number): Node<K> | null {
  const editable = edit !== null && n.edit === edit;
  if (n.children === null) {
    const keys = n.keys!;
    const idx = keyIndex(keys, key, o, false);
    if (idx === keys.length || o.compare(keys[idx]!, key, o.mode) !== 0) return ABSENT;
    removedKey = keys[idx];
    if (!editable) {
      const out = keys.slice();
      out.splice(idx, 1);
      return leaf(out, edit);
    }
    keys.splice(idx, 1);
    n.size--;
    n.max = keys[keys.length - 1]!;
    return n;
  }
  const idx = childIndex(n, key, o, false, kp);
  if (idx === n.children.length) return ABSENT;
  const child = remove(n.children[idx]!, key, o, edit, kp);
  if (child === ABSENT) return ABSENT;
  // Editable nodes change in place; otherwise the copies below become the new node.
  const children = editable ? n.children : n.children.slice();
  const maxes = editable ? n.keys! : n.keys!.slice();
  let prefixes = n.prefixes === null ? null : editable ? n.prefixes : n.prefixes.slice();
  const w = width(child);
  if (w >= MIN_KEYS || children.length === 1) {
    if (w === 0) {
      children.splice(idx, 1);
      maxes.splice(idx, 1);
      prefixes?.splice(idx, 1);
      if (children.length === 0) return leaf([], edit);
    } else {
      children[idx] = child;
      if (maxes[idx] !== child.max) {
        maxes[idx] = child.max;
        if (prefixes !== null) prefixes[idx] = prefixOf(o, child.max, false);
      }
    }
  } else {
    // Underflow: join with a sibling or take entries from it.
    const sib = idx > 0 ? idx - 1 : idx + 1;
    const lo = Math.min(idx, sib);
    const joined =
      lo === idx
        ? rebalance(child, children[sib]!, o, edit)
        : rebalance(children[sib]!, child, o, edit);
    children.splice(lo, 2, ...joined);
    maxes.splice(lo, 2, ...joined.map((j) => j.max));
    prefixes = prefixesOf(o, maxes);
  }
  const node = editable ? n : new Node<K>(maxes, children, n.size, n.max, edit, prefixes);
  node.size = n.size - 1;
  node.max = children[children.length - 1]!.max;
  node.prefixes = prefixes;
  return node;
}

function collapseRoot<K>(n: Node<K>): Node<K> {
  while (n.children !== null && n.children.length === 1) n = n.children[0]!;
  return n;
}

/** Number of keys k with o.compare(k, probe, o.mode) < 0 (strict) or <= 0 (inclusive). */
function rank<K>(root: Node<K>, probe: K, o: Order<K>, inclusive: boolean): number {
  let n = root;
  let r = 0;
  // Counting keys <= probe, its missing parts are filled high; keys < probe, low.
  const kp = prefixOf(o, probe, inclusive);
  for (;;) {
    const children = n.children;
    if (children === null) return r + keyIndex(n.keys!, probe, o, inclusive);
    const idx = childIndex(n, probe, o, inclusive, kp);
    if (idx === children.length) return r + n.size;
    for (let i = 0; i < idx; i++) r += children[i]!.size;
    n = children[idx]!;
  }
}

/** Walks keys leaf by leaf from a starting position, forwards or backwards, for `count` keys. */
export class Cursor<K> implements IterableIterator<K> {
  private leafKeys: K[] = [];
  private i = 0;
  private readonly nodes: Node<K>[] = [];
  private readonly idxs: number[] = [];

  constructor(
    root: Node<K>,
    start: number,
    private remaining: number,
    private readonly reverse: boolean,
  ) {
    if (remaining <= 0) return;
    let n = root;
    let pos = start;
    while (n.children !== null) {
      let i = 0;
      while (pos >= n.children[i]!.size) pos -= n.children[i++]!.size;
      this.nodes.push(n);
      this.idxs.push(i);
      n = n.children[i]!;
    }
    this.leafKeys = n.keys!;
    this.i = pos;
  }

  private advanceLeaf(): void {
    const step = this.reverse ? -1 : 1;
    let depth = this.nodes.length - 1;
    while (depth >= 0) {
      const next = this.idxs[depth]! + step;
      if (next >= 0 && next < this.nodes[depth]!.children!.length) {
        this.idxs[depth] = next;
        break;
      }
      depth--;
    }
    let n = this.nodes[depth]!.children![this.idxs[depth]!]!;
    for (let d = depth + 1; d < this.nodes.length; d++) {
      this.nodes[d] = n;
      const i = this.reverse ? n.children!.length - 1 : 0;
      this.idxs[d] = i;
      n = n.children![i]!;
    }
    this.leafKeys = n.keys!;
    this.i = this.reverse ? this.leafKeys.length - 1 : 0;
  }

  next(): IteratorResult<K> {
    if (this.remaining <= 0) return { done: true, value: undefined };
    if (this.i < 0 || this.i >= this.leafKeys.length) this.advanceLeaf();
    this.remaining--;
    const v = this.leafKeys[this.i]!;
    this.i += this.reverse ? -1 : 1;
    return { done: false, value: v };
  }

  [Symbol.iterator](): IterableIterator<K> {
    return this;
  }
}

/** Appends up to `count` keys from position `start` onward; returns how many it took. */
function collect<K>(n: Node<K>, start: number, count: number, out: K[]): number {
  if (count <= 0) return 0;
  if (n.children === null) {
    const keys = n.keys!;
    const end = Math.min(keys.length, start + count);
    for (let i = start; i < end; i++) out.push(keys[i]!);
    return end - start;
  }
  let taken = 0;
  for (const child of n.children) {
    if (start >= child.size) {
      start -= child.size;
      continue;
    }
    taken += collect(child, start, count - taken, out);
    start = 0;
    if (taken >= count) break;
  }
  return taken;
}

/** Visits `count` keys from position `start` on; returns how many it visited. */
function walk<K>(n: Node<K>, start: number, count: number, visit: (k: K) => void): number {
  if (count <= 0) return 0;
  if (n.children === null) {
    const keys = n.keys!;
    const end = Math.min(keys.length, start + count);
    for (let i = start; i < end; i++) visit(keys[i]!);
    return end - start;
  }
  let done = 0;
  for (const child of n.children) {
    if (start >= child.size) {
      start -= child.size;
      continue;
    }
    done += walk(child, start, count - done, visit);
    start = 0;
    if (done >= count) break;
  }
  return done;
}

/**
 * Visits keys from the first one >= `from` while `visit` returns true: one descent by key
 * (no ranks), then leaf by leaf — the cheap way through a short range.
 */
function seekWalk<K>(root: Node<K>, from: K, o: Order<K>, visit: (k: K) => boolean): void {
  const kp = prefixOf(o, from, false);
  const nodes: Node<K>[] = [];
  const idxs: number[] = [];
  let n = root;
  while (n.children !== null) {
    const i = childIndex(n, from, o, false, kp);
    if (i === n.children.length) return;
    nodes.push(n);
    idxs.push(i);
    n = n.children[i]!;
  }
  let keys = n.keys!;
  let i = keyIndex(keys, from, o, false);
  for (;;) {
    for (; i < keys.length; i++) if (!visit(keys[i]!)) return;
    let depth = nodes.length - 1;
    while (depth >= 0 && idxs[depth]! + 1 >= nodes[depth]!.children!.length) depth--;
    if (depth < 0) return;
    idxs[depth]!++;
    n = nodes[depth]!.children![idxs[depth]!]!;
    for (let d = depth + 1; d < nodes.length; d++) {
      nodes[d] = n;
      idxs[d] = 0;
      n = n.children![0]!;
    }
    keys = n.keys!;
    i = 0;
  }
}

/** How many nodes to spread `count` items over: about BUILD_FILL each, never under MIN_KEYS. */
function groupCount(count: number): number {
  let g = Math.ceil(count / BUILD_FILL);
  while (g > 1 && count / g < MIN_KEYS) g--;
  return g;
}

function build<K>(keys: K[], o: Order<K>, edit: Edit | null): Node<K> {
  if (keys.length <= MAX_KEYS) return leaf(keys.slice(), edit);
  const spread = <T, N>(items: T[], make: (part: T[]) => N): N[] => {
    const g = groupCount(items.length);
    const out: N[] = [];
    for (let i = 0; i < g; i++) {
      out.push(
        make(
          items.slice(Math.floor((i * items.length) / g), Math.floor(((i + 1) * items.length) / g)),
        ),
      );
    }
    return out;
  };
  let level = spread(keys, (part) => leaf(part, edit));
  while (level.length > 1) level = spread(level, (part) => branch(part, o, edit));
  return level[0]!;
}

let editIds = 0;

/** What both the persistent and the transient set can answer. */
export abstract class SortedSetBase<K> {
  constructor(
    protected root: Node<K>,
    readonly order: Order<K>,
  ) {}

  get size(): number {
    return this.root.size;
  }

  /** The stored key equal to `key` under `o` (default: the set's order). */
  get(key: K, o: Order<K> = this.order): K | undefined {
    let n = this.root;
    const kp = prefixOf(o, key, false);
    while (n.children !== null) {
      const idx = childIndex(n, key, o, false, kp);
      if (idx === n.children.length) return undefined;
      n = n.children[idx]!;
    }
    const keys = n.keys!;
    const idx = keyIndex(keys, key, o, false);
    return idx < keys.length && o.compare(keys[idx]!, key, o.mode) === 0 ? keys[idx] : undefined;
  }

  has(key: K): boolean {
    return this.get(key) !== undefined;
  }

  /** Number of keys k with from <= k <= to under `o`. */
  count(from?: K, to?: K, o: Order<K> = this.order): number {
    const lo = from === undefined ? 0 : rank(this.root, from, o, false);
    const hi = to === undefined ? this.root.size : rank(this.root, to, o, true);
    return Math.max(0, hi - lo);
  }

  /** Keys k with from <= k <= to (either bound optional), in order. */
  slice(from?: K, to?: K, o: Order<K> = this.order): Cursor<K> {
    const lo = from === undefined ? 0 : rank(this.root, from, o, false);
    const hi = to === undefined ? this.root.size : rank(this.root, to, o, true);
    return new Cursor(this.root, lo, hi - lo, false);
  }

  /** Keys k with from >= k >= to, in reverse order. */
  rslice(from?: K, to?: K, o: Order<K> = this.order): Cursor<K> {
    const hi = from === undefined ? this.root.size : rank(this.root, from, o, true);
    const lo = to === undefined ? 0 : rank(this.root, to, o, false);
    return new Cursor(this.root, hi - 1, hi - lo, true);
  }

  /** Like `slice`, into an array (faster when every key is wanted). */
  range(from?: K, to?: K, o: Order<K> = this.order, out: K[] = []): K[] {
    const lo = from === undefined ? 0 : rank(this.root, from, o, false);
    const hi = to === undefined ? this.root.size : rank(this.root, to, o, true);
    collect(this.root, lo, hi - lo, out);
    return out;
  }

  /** The first key k >= from (and <= to when given). */
  first(from?: K, to?: K, o: Order<K> = this.order): K | undefined {
    let n = this.root;
    if (n.size === 0) return undefined;
    let k: K;
    if (from === undefined) {
      while (n.children !== null) n = n.children[0]!;
      k = n.keys![0]!;
    } else {
      const kp = prefixOf(o, from, false);
      while (n.children !== null) {
        const idx = childIndex(n, from, o, false, kp);
        if (idx === n.children.length) return undefined;
        n = n.children[idx]!;
      }
      const keys = n.keys!;
      const idx = keyIndex(keys, from, o, false);
      if (idx === keys.length) return undefined;
      k = keys[idx]!;
    }
    return to !== undefined && o.compare(k, to, o.mode) > 0 ? undefined : k;
  }

  /**
   * Calls `visit` for each key k with from <= k <= to, in order, building no array. For a
   * range expected to be short (`short`), one descent by key then a compare per key;
   * otherwise two descents give the count and the walk compares nothing.
   */
  each(from: K, to: K, visit: (k: K) => void, o: Order<K> = this.order, short = false): void {
    if (short) {
      seekWalk(this.root, from, o, (k) => {
        if (o.compare(k, to, o.mode) > 0) return false;
        visit(k);
        return true;
      });
      return;
    }
    const lo = rank(this.root, from, o, false);
    walk(this.root, lo, rank(this.root, to, o, true) - lo, visit);
  }

  /** Up to `n` keys spread evenly over from..to (for estimates: a sample, not a scan). */
  sample(from: K | undefined, to: K | undefined, n: number, o: Order<K> = this.order): K[] {
    const lo = from === undefined ? 0 : rank(this.root, from, o, false);
    const hi = to === undefined ? this.root.size : rank(this.root, to, o, true);
    const count = hi - lo;
    if (count <= 0) return [];
    if (count <= n) return this.range(from, to, o);
    const out: K[] = [];
    for (let k = 0; k < n; k++) out.push(this.nth(lo + Math.floor((k * count) / n))!);
    return out;
  }

  /** The key at position i in order. */
  nth(i: number): K | undefined {
    if (i < 0 || i >= this.root.size) return undefined;
    let n = this.root;
    while (n.children !== null) {
      let c = 0;
      while (i >= n.children[c]!.size) i -= n.children[c++]!.size;
      n = n.children[c]!;
    }
    return n.keys![i];
  }

  [Symbol.iterator](): Cursor<K> {
    return new Cursor(this.root, 0, this.root.size, false);
  }

  toArray(): K[] {
    const out: K[] = [];
    collect(this.root, 0, this.root.size, out);
    return out;
  }

  private compare(a: K, b: K): number {
    return this.order.compare(a, b, this.order.mode);
  }

  /** Throws when a structural invariant is broken: order, sizes, fill, largest keys. */
  checkInvariants(): void {
    const check = (n: Node<K>, isRoot: boolean, depth: number): number => {
      const w = width(n);
      // Splits at the end of a node leave the new right node light (see splitPoint), so
      // fill below MIN_KEYS is allowed; an empty node is not.
      if (!isRoot && w === 0) throw new Error('empty node');
      if (w > MAX_KEYS) throw new Error(`overfull node: ${w}`);
      if (n.children === null) {
        const keys = n.keys!;
        for (let i = 1; i < keys.length; i++) {
          if (this.compare(keys[i - 1]!, keys[i]!) >= 0) throw new Error('keys out of order');
        }
        if (n.size !== keys.length) throw new Error('leaf size mismatch');
        if (keys.length > 0 && n.max !== keys[keys.length - 1])
          throw new Error('leaf max is not its last key');
        return depth;
      }
      let size = 0;
      let leafDepth = -1;
      n.children.forEach((c, i) => {
        if (i > 0 && this.compare(n.children![i - 1]!.max, c.max) >= 0)
          throw new Error('children out of order');
        size += c.size;
        const d = check(c, false, depth + 1);
        if (leafDepth !== -1 && d !== leafDepth) throw new Error('leaves at different depths');
        leafDepth = d;
      });
      if (n.max !== n.children[n.children.length - 1]!.max)
        throw new Error('branch max is not its last child max');
      if (n.keys!.length !== n.children.length || n.children.some((c, i) => n.keys![i] !== c.max)) {
        throw new Error('branch keys are not the children maxes');
      }
      const o = this.order;
      if (
        o.prefix !== null &&
        n.children.some((c, i) => n.prefixes![i] !== o.prefix!(c.max, o.mode, false))
      ) {
        throw new Error('branch prefixes are stale');
      }
      if (size !== n.size) throw new Error('branch size mismatch');
      return leafDepth;
    };
    if (this.root.children !== null && this.root.children.length < 2) {
      throw new Error('branch root with one child');
    }
    check(this.root, true, 1);
  }

  /** Tree height (1 for a single leaf); for tests and statistics. */
  depth(): number {
    let d = 1;
    for (let n = this.root; n.children !== null; n = n.children[0]!) d++;
    return d;
  }
}

export class SortedSet<K> extends SortedSetBase<K> {
  static empty<K>(order: Order<K> | Comparator<K>): SortedSet<K> {
    return new SortedSet(leaf<K>([], null), Order.of(order));
  }

  /** The set over a tree built by `leafNode`/`branchNode` (or taken from `rootNode`). */
  static fromRoot<K>(root: Node<K>, order: Order<K>): SortedSet<K> {
    return new SortedSet(root, order);
  }

  /** The root of the tree, for storage: see TreeNode. */
  rootNode(): Node<K> {
    return this.root;
  }

  /** Builds from keys already sorted by `order` with no duplicates (checked). */
  static fromSorted<K>(keys: K[], order: Order<K> | Comparator<K>): SortedSet<K> {
    const o = Order.of(order);
    for (let i = 1; i < keys.length; i++) {
      if (o.compare(keys[i - 1]!, keys[i]!, o.mode) >= 0) {
        throw new RangeError(`fromSorted: keys out of order or duplicated at index ${i}`);
      }
    }
    return new SortedSet(build(keys, o, null), o);
  }

  /** Builds from keys in any order; duplicates are dropped. */
  static from<K>(keys: Iterable<K>, order: Order<K> | Comparator<K>): SortedSet<K> {
    const o = Order.of(order);
    const cmp = (a: K, b: K) => o.compare(a, b, o.mode);
    const arr = [...keys].sort(cmp);
    const out: K[] = [];
    for (const k of arr) if (out.length === 0 || cmp(out[out.length - 1]!, k) !== 0) out.push(k);
    return new SortedSet(build(out, o, null), o);
  }

  add(key: K): SortedSet<K> {
    const r = insert(this.root, key, this.order, null, prefixOf(this.order, key, false));
    if (r === EXISTS) return this;
    return new SortedSet(Array.isArray(r) ? branch(r, this.order, null) : r, this.order);
  }

  delete(key: K): SortedSet<K> {
    const r = remove(this.root, key, this.order, null, prefixOf(this.order, key, false));
    return r === ABSENT ? this : new SortedSet(collapseRoot(r), this.order);
  }

  transient(): TransientSortedSet<K> {
    return new TransientSortedSet(this.root, this.order);
  }
}

/** An editable copy; `persistent()` ends the edit and returns the value. */
export class TransientSortedSet<K> extends SortedSetBase<K> {
  private edit: Edit | null = { id: ++editIds };

  private editToken(): Edit {
    if (this.edit === null) throw new Error('transient set used after persistent()');
    return this.edit;
  }

  /** Adds a key; returns false when it was already there. */
  add(key: K): boolean {
    const r = insert(
      this.root,
      key,
      this.order,
      this.editToken(),
      prefixOf(this.order, key, false),
    );
    if (r === EXISTS) return false;
    this.root = Array.isArray(r) ? branch(r, this.order, this.edit) : r;
    return true;
  }

  /** Removes the key equal to `key`; returns the stored key, or undefined when there was none. */
  delete(key: K): K | undefined {
    const r = remove(
      this.root,
      key,
      this.order,
      this.editToken(),
      prefixOf(this.order, key, false),
    );
    if (r === ABSENT) return undefined;
    this.root = collapseRoot(r);
    return removedKey as K;
  }

  persistent(): SortedSet<K> {
    this.editToken();
    this.edit = null;
    return new SortedSet(this.root, this.order);
  }
}
