/**
 * unmap and the description of what it changed.
 *
 * unmap removes whole leaves from iova on. Like Linux's iommu_unmap it stops at the first hole (an address
 * with no leaf) and reports the bytes unmapped so far and the hole. A request whose start or end falls
 * inside a leaf is refused whole (PartialUnmapError naming the leaf, nothing changed); both ends are checked
 * before anything is cleared, so this holds even when a hole lies between them. A table left with no valid
 * descriptor is freed: its descriptor in the parent is cleared and its frame goes back to the allocator with
 * its contents as they were; this repeats upwards, never freeing the start-level table. The result says
 * what changed: the tlbi description (inclusive byte range, levels of cleared leaf descriptors, levels of
 * cleared table descriptors), the freed tables and the Linux-style invalidation requests.
 *
 * The loops walk down once per table, not once per page, and allocate nothing per descriptor.
 */
import { levelsOf } from '../tlbi-description.js';
import { DescriptorBytes, LastLevel } from './config.js';
import type { Level } from './config.js';
import { DescTypeTableOrPage, DescValid, tableAddress } from './descriptor.js';
import { checkRange } from './checks.js';
import { PartialUnmapError } from './errors.js';
import type { TableStore } from './store.js';
import type { FreedTable, LinuxRangeRequest, UnmapResult } from './types.js';
import { leafAt, leafLevelAt } from './walk.js';

/** The unmap operation of one table, with its per-call scratch state (no per-descriptor allocation). */
export class TableUnmapper {
  private hole = -1;
  /** Per level: the lowest and highest address of the leaves cleared (valid where leafMask has the bit). */
  private readonly leafMin = new Float64Array(4);
  private readonly leafMax = new Float64Array(4);
  private leafMask = 0;
  private tableMask = 0;
  private freed: FreedTable[] = [];

  constructor(private readonly t: TableStore) {}

  /** Unmap whole mappings in [iova, iova + size), stopping at the first hole. See the module comment. */
  unmap(iova: number, size: number): UnmapResult {
    const t = this.t;
    checkRange(t, iova, size, null);
    const end = iova + size;
    const firstLevel = leafLevelAt(t, iova);
    if (firstLevel >= 0 && iova % t.spans[firstLevel]! !== 0)
      throw new PartialUnmapError('iova', iova, size, leafAt(t, iova)!);
    // When the first leaf reaches the end, it is also the last one: no second walk.
    const lastLevel = firstLevel >= 0 && size <= t.spans[firstLevel]! ? firstLevel : leafLevelAt(t, end - 1);
    if (lastLevel >= 0 && end % t.spans[lastLevel]! !== 0)
      throw new PartialUnmapError('size', iova, size, leafAt(t, end - 1)!);

    this.hole = -1;
    this.leafMask = 0;
    this.tableMask = 0;
    this.freed = [];
    const nonLeaf: LinuxRangeRequest[] = [];
    const reached = firstLevel < 0 ? iova : this.unmapLevel(t.config.rootPa, t.start, iova, end, nonLeaf);
    if (firstLevel < 0) this.hole = iova;
    const unmapped = reached - iova;
    const freedTables = this.freed;
    this.freed = [];
    if (unmapped === 0)
      return { iova, requested: size, unmapped: 0, holeAt: iova, tlbi: null, freedTables, linuxRequests: [] };
    return {
      iova,
      requested: size,
      unmapped,
      holeAt: this.hole >= 0 ? this.hole : null,
      tlbi: {
        start: iova,
        last: reached - 1,
        leafLevels: levelsOf(this.leafMask),
        tableLevels: levelsOf(this.tableMask),
        granule: t.granule,
      },
      freedTables,
      linuxRequests: this.leafRequestsAfter(nonLeaf),
    };
  }

  /** The non-leaf requests, then one leaf request per level with cleared leaves, smallest leaf size first. */
  private leafRequestsAfter(nonLeaf: LinuxRangeRequest[]): LinuxRangeRequest[] {
    const linuxRequests = nonLeaf;
    for (let l = 3; l >= 0; l--)
      if ((this.leafMask & (1 << l)) !== 0) {
        const s = this.leafMin[l]!;
        linuxRequests.push({ iova: s, size: this.leafMax[l]! - s, granule: this.t.spans[l]!, leaf: true });
      }
    return linuxRequests;
  }

  private noteLeaves(level: number, from: number, to: number): void {
    const bit = 1 << level;
    if ((this.leafMask & bit) === 0) {
      this.leafMask |= bit;
      this.leafMin[level] = from;
      this.leafMax[level] = to;
    } else {
      if (from < this.leafMin[level]!) this.leafMin[level] = from;
      if (to > this.leafMax[level]!) this.leafMax[level] = to;
    }
  }

  /**
   * Clear leaves in [cur, end) of the table at `level`; returns the address reached (end, or the hole).
   * A child table whose last valid descriptor was cleared is freed and its descriptor cleared.
   */
  private unmapLevel(tablePa: number, level: number, cur: number, end: number, nonLeaf: LinuxRangeRequest[]): number {
    const t = this.t;
    const mem = t.memory;
    const span = t.spans[level]!;
    let dpa = t.descriptorFor(tablePa, level, cur);
    if (level === LastLevel) {
      const first = cur;
      for (; cur < end; cur += span, dpa += DescriptorBytes) {
        if ((mem.readLo(dpa) & 3) !== 3) {
          this.hole = cur;
          break;
        }
        mem.write64(dpa, 0, 0);
      }
      if (cur > first) {
        this.noteLeaves(level, first, cur);
        t.countValid(tablePa, -(cur - first) / span);
      }
      return cur;
    }
    let cleared = 0;
    while (cur < end) {
      const lo = mem.readLo(dpa);
      const entryStart = Math.floor(cur / span) * span;
      const entryEnd = entryStart + span;
      if ((lo & DescValid) === 0) {
        this.hole = cur;
        break;
      }
      if ((lo & DescTypeTableOrPage) !== 0) {
        const child = tableAddress(lo, mem.readHi(dpa), t.granule);
        const stop = Math.min(end, entryEnd);
        const reached = this.unmapLevel(child, level + 1, cur, stop, nonLeaf);
        if (t.validCount.get(child) === 0) {
          mem.write64(dpa, 0, 0);
          t.freeTable(child);
          cleared++;
          this.tableMask |= 1 << level;
          this.freed.push({ pa: child, level: level as Level, iova: entryStart, size: span });
          nonLeaf.push({ iova: entryStart, size: span, granule: t.granule, leaf: false });
        }
        cur = reached;
        if (reached < stop) break;
      } else if (t.leafOk[level]!) {
        // The end checks in unmap() guarantee that this leaf lies inside [cur, end).
        mem.write64(dpa, 0, 0);
        cleared++;
        this.noteLeaves(level, entryStart, entryEnd);
        cur = entryEnd;
      } else {
        this.hole = cur; // a reserved encoding translates as a fault: a hole
        break;
      }
      dpa += DescriptorBytes;
    }
    if (cleared !== 0) t.countValid(tablePa, -cleared);
    return cur;
  }
}
