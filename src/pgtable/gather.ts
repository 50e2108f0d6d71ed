/**
 * Gather: accumulates the changes of several unmaps into one tlbi description, as an iotlb gather does
 * between unmaps and the sync that invalidates them.
 *
 * - The range is the union hull [min start, max last] of the gathered unmaps; the level sets are unions.
 * - Freed tables are concatenated.
 * - Linux-style requests: non-leaf requests are kept one per cleared table descriptor; a leaf request is
 *   merged into an earlier leaf request of the same page size when their ranges overlap or touch (what
 *   Linux's gather does with consecutive pages of one size), otherwise appended.
 * - `isDisjoint(start, size)` / `wouldMerge(start, size)`: whether a new range is disjoint from the
 *   gathered one and not adjacent to it. Linux's gather syncs (flushes) before adding such a range, since the
 *   hull would otherwise invalidate everything in between; a driver asks `wouldMerge` and flushes first when
 *   it is false.
 */
import { levelMask, levelsOf, type TlbiDescription } from '../tlbi-description.js';
import type { FreedTable, LinuxRangeRequest, UnmapResult } from './types.js';

/** What a gather holds: the combined description (null when empty), freed tables, Linux-style requests. */
export interface GatheredChanges {
  tlbi: TlbiDescription | null;
  freedTables: FreedTable[];
  linuxRequests: LinuxRangeRequest[];
  /** Number of non-empty unmaps gathered. */
  unmaps: number;
}

export class Gather {
  private start = 0;
  private last = -1;
  private leafMask = 0;
  private tableMask = 0;
  private granule: number | null = null;
  private count = 0;
  private freedTables: FreedTable[] = [];
  private linuxRequests: LinuxRangeRequest[] = [];

  /** True when nothing has been gathered since the last reset. */
  get isEmpty(): boolean {
    return this.count === 0;
  }

  /** True when the gather is non-empty and [start, start + size) neither overlaps nor touches its range. */
  isDisjoint(start: number, size: number): boolean {
    if (this.count === 0) return false;
    const last = start + size - 1;
    return last + 1 < this.start || start > this.last + 1;
  }

  /** True when adding [start, start + size) would extend the range without covering a gap. */
  wouldMerge(start: number, size: number): boolean {
    return !this.isDisjoint(start, size);
  }

  /** Add one unmap's changes (an unmap that unmapped nothing adds nothing). */
  add(changes: Pick<UnmapResult, 'tlbi' | 'freedTables' | 'linuxRequests'>): void {
    const t = changes.tlbi;
    if (t === null) return;
    if (this.granule !== null && this.granule !== t.granule)
      throw new RangeError(`gather: granule ${t.granule} differs from the gathered granule ${this.granule}`);
    this.granule = t.granule;
    if (this.count === 0) {
      this.start = t.start;
      this.last = t.last;
    } else {
      if (t.start < this.start) this.start = t.start;
      if (t.last > this.last) this.last = t.last;
    }
    this.count++;
    this.leafMask |= levelMask(t.leafLevels);
    this.tableMask |= levelMask(t.tableLevels);
    for (const f of changes.freedTables) this.freedTables.push(f);
    for (const r of changes.linuxRequests) this.addRequest(r);
  }

  private addRequest(r: LinuxRangeRequest): void {
    if (r.leaf)
      for (const q of this.linuxRequests) {
        if (!q.leaf || q.granule !== r.granule) continue;
        if (r.iova > q.iova + q.size || q.iova > r.iova + r.size) continue;
        const s = Math.min(q.iova, r.iova);
        const e = Math.max(q.iova + q.size, r.iova + r.size);
        q.iova = s;
        q.size = e - s;
        return;
      }
    this.linuxRequests.push({ iova: r.iova, size: r.size, granule: r.granule, leaf: r.leaf });
  }

  /** The combined tlbi description, or null when empty. */
  description(): TlbiDescription | null {
    if (this.count === 0 || this.granule === null) return null;
    return {
      start: this.start,
      last: this.last,
      leafLevels: levelsOf(this.leafMask),
      tableLevels: levelsOf(this.tableMask),
      granule: this.granule,
    };
  }

  /** Everything gathered, without resetting. */
  peek(): GatheredChanges {
    return {
      tlbi: this.description(),
      freedTables: this.freedTables.slice(),
      linuxRequests: this.linuxRequests.map((r) => ({ ...r })),
      unmaps: this.count,
    };
  }

  /** Everything gathered; the gather is empty afterwards (what a sync does). */
  take(): GatheredChanges {
    const out = this.peek();
    this.reset();
    return out;
  }

  reset(): void {
    this.start = 0;
    this.last = -1;
    this.leafMask = 0;
    this.tableMask = 0;
    this.granule = null;
    this.count = 0;
    this.freedTables = [];
    this.linuxRequests = [];
  }
}
