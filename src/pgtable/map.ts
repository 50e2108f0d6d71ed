/**
 * map: fills [iova, iova + size) with the largest leaves the alignment of iova, pa and the remaining size
 * allow, allocating zeroed table frames as needed. The range is checked for existing leaves first, so a
 * refused map changes nothing; a map that runs out of table frames (OutOfFramesError from the allocator)
 * takes back what it wrote before rethrowing.
 *
 * The loops walk down once per table, not once per page, and allocate nothing per descriptor.
 */
import { hexAddr, modFloor, TWO_POW_32 } from '../bits.js';
import { DescriptorBytes, LastLevel } from './config.js';
import { DescTypeTableOrPage, DescValid, descriptorKind, encodeProt, leafAddress, tableAddress } from './descriptor.js';
import type { Prot } from './descriptor.js';
import { checkRange } from './checks.js';
import { OverlapError } from './errors.js';
import type { ExistingLeaf } from './errors.js';
import type { TableStore } from './store.js';
import type { MapResult } from './types.js';

/** The map operation of one table, with its per-call scratch state (no per-descriptor allocation). */
export class TableMapper {
  private attrLo = 0;
  private attrHi = 0;
  private readonly leafCount: [number, number, number, number] = [0, 0, 0, 0];

  constructor(private readonly t: TableStore) {}

  /** Map [iova, iova + size) to [pa, pa + size). Throws PageTableError subclasses; a refused map changes nothing. */
  map(iova: number, pa: number, size: number, prot: Prot): MapResult {
    const t = this.t;
    checkRange(t, iova, size, pa);
    const attrs = encodeProt(t.config.stage, prot);
    const existing = this.firstLeafIn(t.config.rootPa, t.start, iova, iova + size);
    if (existing !== null) throw new OverlapError('iova', iova, size, existing);
    this.attrLo = attrs.lo;
    this.attrHi = attrs.hi;
    this.leafCount.fill(0);
    t.tablesAllocated = 0;
    try {
      this.mapLevel(t.config.rootPa, t.start, iova, iova + size, pa);
    } catch (e) {
      // Out of table frames part-way: take back what this call wrote, so that a refused map changes nothing.
      this.discardRange(t.config.rootPa, t.start, iova, iova + size);
      throw e;
    }
    return {
      iova,
      pa,
      size,
      leaves: [this.leafCount[0], this.leafCount[1], this.leafCount[2], this.leafCount[3]],
      tablesAllocated: t.tablesAllocated,
    };
  }

  private mapLevel(tablePa: number, level: number, cur: number, end: number, out: number): void {
    const t = this.t;
    const mem = t.memory;
    const span = t.spans[level]!;
    let dpa = t.descriptorFor(tablePa, level, cur);
    if (level === LastLevel) {
      const lo = this.attrLo | DescValid | DescTypeTableOrPage;
      const hi = this.attrHi;
      const first = cur;
      for (; cur < end; cur += span, out += span, dpa += DescriptorBytes)
        mem.write64(dpa, (modFloor(out, TWO_POW_32) | lo) >>> 0, (Math.floor(out / TWO_POW_32) | hi) >>> 0);
      const n = (end - first) / span;
      this.leafCount[3] += n;
      t.countValid(tablePa, n);
      return;
    }
    const canLeaf = t.leafOk[level]!;
    let added = 0;
    try {
      while (cur < end) {
        const next = Math.min(end, Math.floor(cur / span) * span + span);
        const lo = mem.readLo(dpa);
        if (canLeaf && next - cur === span && modFloor(out, span) === 0 && (lo & DescValid) === 0) {
          mem.write64(
            dpa,
            (modFloor(out, TWO_POW_32) | this.attrLo | DescValid) >>> 0,
            (Math.floor(out / TWO_POW_32) | this.attrHi) >>> 0,
          );
          this.leafCount[level]!++;
          added++;
        } else {
          let child: number;
          if ((lo & DescValid) === 0) {
            child = t.allocTable();
            mem.write64(
              dpa,
              (modFloor(child, TWO_POW_32) | DescValid | DescTypeTableOrPage) >>> 0,
              Math.floor(child / TWO_POW_32),
            );
            added++;
          } else if ((lo & DescTypeTableOrPage) !== 0) {
            child = tableAddress(lo, mem.readHi(dpa), t.granule);
          } else {
            // firstLeafIn found no leaf here, so this cannot happen unless memory was changed behind our back.
            throw new Error(`internal: leaf descriptor at ${hexAddr(dpa)} appeared during map`);
          }
          this.mapLevel(child, level + 1, cur, next, out);
        }
        out += next - cur;
        cur = next;
        dpa += DescriptorBytes;
      }
    } finally {
      // Also when a frame allocation fails below: the count must match what was written.
      if (added !== 0) t.countValid(tablePa, added);
    }
  }

  /**
   * Clear every leaf in [cur, end) and free the tables left empty (the rollback of a failed map: the range
   * held no leaf before it, and every leaf written lies inside it).
   */
  private discardRange(tablePa: number, level: number, cur: number, end: number): void {
    const t = this.t;
    const mem = t.memory;
    const span = t.spans[level]!;
    let dpa = t.descriptorFor(tablePa, level, cur);
    let cleared = 0;
    while (cur < end) {
      const next = Math.min(end, Math.floor(cur / span) * span + span);
      const kind = descriptorKind(mem.readLo(dpa), level, t.granule);
      if (kind === 'table') {
        const child = tableAddress(mem.readLo(dpa), mem.readHi(dpa), t.granule);
        this.discardRange(child, level + 1, cur, next);
        if (t.validCount.get(child) === 0) {
          mem.write64(dpa, 0, 0);
          t.freeTable(child);
          cleared++;
        }
      } else if (kind === 'block' || kind === 'page') {
        mem.write64(dpa, 0, 0);
        cleared++;
      }
      cur = next;
      dpa += DescriptorBytes;
    }
    if (cleared !== 0) t.countValid(tablePa, -cleared);
  }

  /** The first valid leaf overlapping [cur, end), or null. Reads only. */
  private firstLeafIn(tablePa: number, level: number, cur: number, end: number): ExistingLeaf | null {
    const t = this.t;
    const mem = t.memory;
    const span = t.spans[level]!;
    let dpa = t.descriptorFor(tablePa, level, cur);
    while (cur < end) {
      const entryStart = Math.floor(cur / span) * span;
      const next = Math.min(end, entryStart + span);
      const lo = mem.readLo(dpa);
      if ((lo & DescValid) !== 0) {
        const tableOrPage = (lo & DescTypeTableOrPage) !== 0;
        if (level === LastLevel ? tableOrPage : !tableOrPage && t.leafOk[level]!)
          return {
            iova: entryStart,
            size: span,
            pa: leafAddress(lo, mem.readHi(dpa), t.granule, level),
            level,
          };
        if (level < LastLevel && tableOrPage) {
          const found = this.firstLeafIn(tableAddress(lo, mem.readHi(dpa), t.granule), level + 1, cur, next);
          if (found !== null) return found;
        }
      }
      cur = next;
      dpa += DescriptorBytes;
    }
    return null;
  }
}
