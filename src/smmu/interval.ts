/**
 * The interval index of the SMMU model's caches: entries are naturally aligned power-of-two spans (a page,
 * a block, the span of a table descriptor, a 4 KiB ATC page), so the index keeps one sorted sequence of
 * start addresses per span size. A query for [first, last] visits each size present (a handful) and, in
 * each, the entries whose start lies in [alignDown(first, size), last]: exactly the entries that overlap.
 * Cost per query: O(sizes × log n + k) for n entries and k hits — never a scan of every entry.
 *
 * The sorted sequences are "sorted blocks": an array of short sorted arrays (at most 2 × LOAD keys each)
 * with the largest key of each block kept aside for the outer binary search. Equal keys are allowed (a
 * secondary index may hold several entries at one address); removal is by identity.
 */

import { POW2 } from '../units.js';

const LOAD = 256;

/** A sorted multiset of (key, value) pairs in short blocks. */
export class SortedBlocks<T> {
  private keys: number[][] = [];
  private vals: T[][] = [];
  private maxes: number[] = [];
  size = 0;

  /** Index of the first block whose max key is >= key (blocks.length when none). */
  private blockFor(key: number): number {
    const m = this.maxes;
    let lo = 0;
    let hi = m.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (m[mid]! < key) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  insert(key: number, val: T): void {
    this.size++;
    if (this.keys.length === 0) {
      this.keys.push([key]);
      this.vals.push([val]);
      this.maxes.push(key);
      return;
    }
    let b = this.blockFor(key);
    if (b === this.keys.length) b--;
    const ks = this.keys[b]!;
    const vs = this.vals[b]!;
    const p = upperBound(ks, key);
    insertAt(ks, p, key);
    insertAt(vs, p, val);
    if (p === ks.length - 1) this.maxes[b] = key;
    if (ks.length > 2 * LOAD) {
      this.keys.splice(b + 1, 0, ks.splice(LOAD));
      this.vals.splice(b + 1, 0, vs.splice(LOAD));
      this.maxes.splice(b, 1, ks[ks.length - 1]!, this.keys[b + 1]![this.keys[b + 1]!.length - 1]!);
    }
  }

  /** Remove the pair (key, val) (val compared by identity). Returns true when it was present. */
  remove(key: number, val: T): boolean {
    let b = this.blockFor(key);
    while (b < this.keys.length) {
      const ks = this.keys[b]!;
      const vs = this.vals[b]!;
      let p = lowerBound(ks, key);
      for (; p < ks.length && ks[p] === key; p++) {
        if (vs[p] === val) {
          removeAt(ks, p);
          removeAt(vs, p);
          this.size--;
          if (ks.length === 0) {
            removeAt(this.keys, b);
            removeAt(this.vals, b);
            removeAt(this.maxes, b);
          } else if (p === ks.length) this.maxes[b] = ks[ks.length - 1]!;
          return true;
        }
      }
      if (p < ks.length) return false; // passed the key inside this block
      b++;
    }
    return false;
  }

  /** First value stored under exactly `key`, or undefined. */
  get(key: number): T | undefined {
    const b = this.blockFor(key);
    if (b === this.keys.length) return undefined;
    const ks = this.keys[b]!;
    const p = lowerBound(ks, key);
    return ks[p] === key ? this.vals[b]![p] : undefined;
  }

  /** Call `cb(key, val)` for each pair with first <= key <= last, in key order. Stop when cb returns true. */
  range(first: number, last: number, cb: (key: number, val: T) => boolean | void): void {
    this.scan(first, last, cb, null);
  }

  /** Append the values of the pairs with first <= key <= last to `out`, in key order. */
  collect(first: number, last: number, out: T[]): void {
    this.scan(first, last, null, out);
  }

  private scan(
    first: number,
    last: number,
    cb: ((key: number, val: T) => boolean | void) | null,
    out: T[] | null,
  ): void {
    let b = this.blockFor(first);
    if (b === this.keys.length) return;
    let p = lowerBound(this.keys[b]!, first);
    for (; b < this.keys.length; b++, p = 0) {
      const ks = this.keys[b]!;
      const vs = this.vals[b]!;
      for (; p < ks.length; p++) {
        const k = ks[p]!;
        if (k > last) return;
        if (out !== null) out.push(vs[p]!);
        else if (cb!(k, vs[p]!) === true) return;
      }
    }
  }

  /** Append every value to `out`, in key order. */
  values(out: T[]): void {
    for (let b = 0; b < this.vals.length; b++) {
      const vs = this.vals[b]!;
      for (let p = 0; p < vs.length; p++) out.push(vs[p]!);
    }
  }

  forEach(cb: (key: number, val: T) => void): void {
    for (let b = 0; b < this.keys.length; b++) {
      const ks = this.keys[b]!;
      const vs = this.vals[b]!;
      for (let p = 0; p < ks.length; p++) cb(ks[p]!, vs[p]!);
    }
  }
}

/** Insert `x` at index `p` of `a` (shifting the tail up): splice without the array splice returns. */
function insertAt<V>(a: V[], p: number, x: V): void {
  let i = a.length;
  a.push(x);
  for (; i > p; i--) a[i] = a[i - 1]!;
  a[p] = x;
}

/** Remove index `p` of `a` (shifting the tail down), allocating nothing. */
function removeAt<V>(a: V[], p: number): void {
  const n = a.length - 1;
  for (let i = p; i < n; i++) a[i] = a[i + 1]!;
  a.pop();
}

function lowerBound(a: number[], key: number): number {
  let lo = 0;
  let hi = a.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (a[mid]! < key) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function upperBound(a: number[], key: number): number {
  let lo = 0;
  let hi = a.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (a[mid]! <= key) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Largest size (log2 bytes) an index accepts: 2^64 spans everything. */
export const MAX_SIZE_LOG2 = 64;

/**
 * Naturally aligned spans [start, start + 2^sizeLog2) → values. Starts are byte addresses below 2^64
 * (exact as numbers when 4 KiB aligned).
 */

export class IntervalIndex<T> {
  /**
   * Per size: the ordered blocks and a hash of exact starts. Both stay allocated once a size has been used
   * (an index that empties and fills again, as a cache's do all the time, allocates nothing); `sizes` lists
   * the sizes that hold entries now.
   */
  private readonly bySize: (SortedBlocks<T> | undefined)[] = new Array<SortedBlocks<T> | undefined>(MAX_SIZE_LOG2 + 1);
  /** Exact lookups (translation hits) by start address, per size: a hash beside the ordered blocks. */
  private readonly exact: (Map<number, T> | undefined)[] = new Array<Map<number, T> | undefined>(MAX_SIZE_LOG2 + 1);
  /** Sizes present, ascending. */
  private readonly sizes: number[] = [];
  size = 0;

  insert(start: number, sizeLog2: number, val: T): void {
    let s = this.bySize[sizeLog2];
    if (s === undefined) {
      s = new SortedBlocks<T>();
      this.bySize[sizeLog2] = s;
      this.exact[sizeLog2] = new Map<number, T>();
    }
    if (s.size === 0) {
      const sizes = this.sizes;
      let i = sizes.length;
      sizes.push(sizeLog2);
      while (i > 0 && sizes[i - 1]! > sizeLog2) {
        sizes[i] = sizes[i - 1]!;
        i--;
      }
      sizes[i] = sizeLog2;
    }
    s.insert(start, val);
    const m = this.exact[sizeLog2]!;
    if (!m.has(start)) m.set(start, val);
    this.size++;
  }

  remove(start: number, sizeLog2: number, val: T): boolean {
    const s = this.bySize[sizeLog2];
    if (s === undefined || !s.remove(start, val)) return false;
    this.size--;
    const m = this.exact[sizeLog2]!;
    if (m.get(start) === val) {
      const other = s.size === 0 ? undefined : s.get(start);
      if (other === undefined) m.delete(start);
      else m.set(start, other);
    }
    if (s.size === 0) {
      const sizes = this.sizes;
      const i = sizes.indexOf(sizeLog2);
      for (let k = i + 1; k < sizes.length; k++) sizes[k - 1] = sizes[k]!;
      sizes.length--;
    }
    return true;
  }

  /** The value stored at exactly (start, sizeLog2). */
  get(start: number, sizeLog2: number): T | undefined {
    return this.exact[sizeLog2]?.get(start);
  }

  /** A value whose span contains `addr` (the smallest such span), or undefined. */
  find(addr: number): T | undefined {
    const sizes = this.sizes;
    for (let i = 0; i < sizes.length; i++) {
      const sz = sizes[i]!;
      const p = POW2[sz]!;
      const v = this.exact[sz]!.get(Math.floor(addr / p) * p);
      if (v !== undefined) return v;
    }
    return undefined;
  }

  /** Visit every value whose span overlaps [first, last] (inclusive). Stop when cb returns true. */
  overlapping(first: number, last: number, cb: (val: T, start: number, sizeLog2: number) => boolean | void): void {
    const sizes = this.sizes;
    for (let i = 0; i < sizes.length; i++) {
      const sz = sizes[i]!;
      const lo = sz >= MAX_SIZE_LOG2 ? 0 : Math.floor(first / POW2[sz]!) * POW2[sz]!;
      let stop = false;
      this.bySize[sz]!.range(lo, last, (k, v) => {
        if (cb(v, k, sz) === true) {
          stop = true;
          return true;
        }
        return false;
      });
      if (stop) return;
    }
  }

  /** Collect the values overlapping [first, last] into `out` (appended), in the order `overlapping` visits them. */
  collect(first: number, last: number, out: T[]): T[] {
    const sizes = this.sizes;
    for (let i = 0; i < sizes.length; i++) {
      const sz = sizes[i]!;
      const lo = sz >= MAX_SIZE_LOG2 ? 0 : Math.floor(first / POW2[sz]!) * POW2[sz]!;
      this.bySize[sz]!.collect(lo, last, out);
    }
    return out;
  }

  forEach(cb: (val: T, start: number, sizeLog2: number) => void): void {
    for (const sz of this.sizes) this.bySize[sz]!.forEach((k, v) => cb(v, k, sz));
  }

  /** Append every value to `out`, in the order `forEach` visits them. */
  values(out: T[]): T[] {
    for (let i = 0; i < this.sizes.length; i++) this.bySize[this.sizes[i]!]!.values(out);
    return out;
  }
}
