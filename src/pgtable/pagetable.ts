/**
 * An I/O page table (VMSAv8-64 stage 1 or stage 2) kept as real descriptors in a PhysMemory.
 *
 * map: fills [iova, iova + size) with the largest leaves the alignment of iova, pa and the remaining size
 * allow, allocating zeroed table frames as needed. The range is checked for existing leaves first, so a
 * refused map changes nothing; a map that runs out of table frames (OutOfFramesError from the allocator)
 * takes back what it wrote before rethrowing.
 *
 * unmap: removes whole leaves from iova on. Like Linux's iommu_unmap it stops at the first hole (an address
 * with no leaf) and reports the bytes unmapped so far and the hole. A request whose start or end falls
 * inside a leaf is refused whole (PartialUnmapError naming the leaf, nothing changed); both ends are checked
 * before anything is cleared, so this holds even when a hole lies between them. A table left with no valid
 * descriptor is freed: its descriptor in the parent is cleared and its frame goes back to the allocator with
 * its contents as they were; this repeats upwards, never freeing the start-level table. The result says
 * what changed: the tlbi description (inclusive byte range, levels of cleared leaf descriptors, levels of
 * cleared table descriptors), the freed tables and the Linux-style invalidation requests.
 *
 * The hot loops walk down once per table, not once per page, and allocate nothing per descriptor.
 */
import { hex64, hexAddr, modFloor, TWO_POW_32 } from '../bits.js';
import { LEVELS, levelsOf, type TlbiDescription } from '../tlbi-description.js';
import { log2Of } from '../units.js';
import {
  DescriptorBytes,
  LastLevel,
  checkGeometry,
  entriesAt,
  leafAllowed,
  levelSpan,
  startLevelFor,
} from './config.js';
import type { Granule, Level, PageTableConfig, Stage } from './config.js';
import {
  DescTypeTableOrPage,
  DescValid,
  decodeLeafAttrs,
  descriptorKind,
  encodeProt,
  leafAddress,
  tableAddress,
} from './descriptor.js';
import type { DescriptorKind, Prot, Stage1Attrs, Stage2Attrs } from './descriptor.js';
import { OverlapError, PageTableError, PartialUnmapError } from './errors.js';
import type { ExistingLeaf } from './errors.js';
import { FrameAllocator, PhysMemory } from './memory.js';

export interface PageTableOptions {
  stage: Stage;
  /** 4096, 16384 or 65536. */
  granule: number;
  /** Input address size, 32..48 bits. */
  ias: number;
  /** Output address size, 32..48 bits (default 48). */
  oas?: number;
  /** Memory holding the tables (default: a new PhysMemory). Share one between tables and the SMMU model. */
  memory?: PhysMemory;
  /**
   * Where table frames come from (frame size = granule). Default: a pool of min(1 GiB, 2^(oas-2)) bytes at
   * the top of the output address space.
   */
  allocator?: FrameAllocator;
}

/** What one `map` call wrote. */
export interface MapResult {
  iova: number;
  pa: number;
  size: number;
  /** Number of leaf descriptors written at each level (index = level 0..3). */
  leaves: [number, number, number, number];
  /** Table frames allocated (and zeroed) by this call. */
  tablesAllocated: number;
}

export type { TlbiDescription };

/** A table frame freed by an unmap. */
export interface FreedTable {
  /** Physical address of the freed table. */
  pa: number;
  /** Level of the (now cleared) descriptor that pointed to it; the table itself held level + 1 descriptors. */
  level: Level;
  /** First input address of the span that descriptor covered. */
  iova: number;
  /** Bytes the descriptor covered (its level's block size). */
  size: number;
}

/**
 * A Linux-style invalidation request, as io-pgtable would hand it to the SMMU driver (the engine's
 * `invalidateRange` request): leaf requests invalidate leaf entries of the given page size; non-leaf
 * requests (a freed table) invalidate walk-cache entries too, with the translation granule.
 */
export interface LinuxRangeRequest {
  iova: number;
  size: number;
  granule: number;
  leaf: boolean;
}

export interface UnmapResult {
  /** The request. */
  iova: number;
  requested: number;
  /** Bytes unmapped: the whole request, or up to the first hole. */
  unmapped: number;
  /** First address in the request with no mapping, when the unmap stopped there; otherwise null. */
  holeAt: number | null;
  /** What changed; null when nothing was unmapped. */
  tlbi: TlbiDescription | null;
  freedTables: FreedTable[];
  /**
   * Linux-style requests derived from the same change: one non-leaf request per cleared table descriptor
   * (its span, granule = the translation granule), in the order they were cleared, then one leaf request
   * per leaf size (covering the leaves of that size, granule = that size), smallest size first.
   */
  linuxRequests: LinuxRangeRequest[];
}

/** One descriptor read by `walk`. */
export interface WalkStep {
  level: Level;
  /** The table read at this level. */
  tablePa: number;
  index: number;
  /** Address of the descriptor (tablePa + 8 * index). */
  descriptorPa: number;
  lo: number;
  hi: number;
  /** The 64-bit descriptor as 0x + 16 hex digits. */
  hex: string;
  kind: DescriptorKind;
}

export interface LeafInfo {
  level: Level;
  kind: 'block' | 'page';
  /** First input address of the leaf. */
  iova: number;
  size: number;
  /** First output address of the leaf. */
  pa: number;
  attrs: Stage1Attrs | Stage2Attrs;
}

export interface WalkResult {
  iova: number;
  steps: WalkStep[];
  /** The leaf reached, or null when the walk ended on an invalid or reserved descriptor. */
  leaf: LeafInfo | null;
  /** The translation of iova, or null. */
  pa: number | null;
}

function isUint(v: unknown): boolean {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

function notInteger(field: string, v: unknown): PageTableError {
  return new PageTableError('not-integer', field, `expected a non-negative integer, got ${String(v)}`);
}

function misaligned(field: string, v: number, granule: number): PageTableError {
  return new PageTableError('misaligned', field, `${hexAddr(v)} is not a multiple of the ${granule / 1024}K granule`);
}

export class IoPageTable {
  readonly config: PageTableConfig;
  readonly memory: PhysMemory;
  readonly allocator: FrameAllocator;

  private readonly granule: Granule;
  private readonly start: Level;
  /** Descriptors in a full (non-start) table. */
  private readonly tableEntries: number;
  private readonly spans: number[];
  private readonly leafOk: boolean[];
  private readonly inputLimit: number;
  private readonly outputLimit: number;

  // Per-call scratch state (no per-descriptor allocation).
  private attrLo = 0;
  private attrHi = 0;
  private readonly leafCount: [number, number, number, number] = [0, 0, 0, 0];
  private tablesAllocated = 0;
  private hole = -1;
  private readonly leafMin = new Float64Array(4);
  private readonly leafMax = new Float64Array(4);
  private leafMask = 0;
  private tableMask = 0;
  private freed: FreedTable[] = [];
  /**
   * Valid descriptors in each live table, keyed by the table's physical address, so that an unmap knows in
   * O(1) whether it left a table empty. Kept in step with every descriptor this class writes.
   */
  private readonly validCount = new Map<number, number>();

  constructor(options: PageTableOptions) {
    const { stage, granule, ias, oas } = checkGeometry({
      stage: options.stage,
      granule: options.granule,
      ias: options.ias,
      oas: options.oas ?? 48,
    });
    this.granule = granule;
    this.start = startLevelFor(granule, ias);
    this.tableEntries = 2 ** (log2Of(granule) - 3);
    this.spans = LEVELS.map((l) => levelSpan(granule, l));
    this.leafOk = LEVELS.map((l) => l >= this.start && leafAllowed(granule, l));
    this.inputLimit = 2 ** ias;
    this.outputLimit = 2 ** oas;
    this.memory = options.memory ?? new PhysMemory();
    if (options.allocator) {
      if (options.allocator.frameSize !== granule)
        throw new PageTableError(
          'bad-config',
          'allocator',
          `frame size ${options.allocator.frameSize} differs from the granule ${granule}`,
        );
      if (options.allocator.limit > this.outputLimit)
        throw new PageTableError(
          'bad-config',
          'allocator',
          `frames up to ${hexAddr(options.allocator.limit)} lie outside the ${oas}-bit output address space`,
        );
      this.allocator = options.allocator;
    } else {
      const pool = Math.min(2 ** 30, 2 ** (oas - 2));
      this.allocator = new FrameAllocator(granule, this.outputLimit - pool, pool);
    }
    const rootPa = this.allocTable();
    this.tablesAllocated = 0;
    this.config = Object.freeze({ stage, granule, ias, oas, startLevel: this.start, rootPa });
  }

  /** Number of descriptors in the start-level table. */
  get rootEntries(): number {
    return entriesAt(this.granule, this.config.ias, this.start);
  }

  // ---------------------------------------------------------------- map

  /** Map [iova, iova + size) to [pa, pa + size). Throws PageTableError subclasses; a refused map changes nothing. */
  map(iova: number, pa: number, size: number, prot: Prot): MapResult {
    this.checkRange(iova, size, pa);
    const attrs = encodeProt(this.config.stage, prot);
    const existing = this.firstLeafIn(this.config.rootPa, this.start, iova, iova + size);
    if (existing !== null) throw new OverlapError('iova', iova, size, existing);
    this.attrLo = attrs.lo;
    this.attrHi = attrs.hi;
    this.leafCount.fill(0);
    this.tablesAllocated = 0;
    try {
      this.mapLevel(this.config.rootPa, this.start, iova, iova + size, pa);
    } catch (e) {
      // Out of table frames part-way: take back what this call wrote, so that a refused map changes nothing.
      this.discardRange(this.config.rootPa, this.start, iova, iova + size);
      throw e;
    }
    return {
      iova,
      pa,
      size,
      leaves: [this.leafCount[0], this.leafCount[1], this.leafCount[2], this.leafCount[3]],
      tablesAllocated: this.tablesAllocated,
    };
  }

  private mapLevel(tablePa: number, level: number, cur: number, end: number, out: number): void {
    const mem = this.memory;
    const span = this.spans[level]!;
    let dpa = tablePa + modFloor(Math.floor(cur / span), this.tableEntries) * DescriptorBytes;
    if (level === LastLevel) {
      const lo = this.attrLo | DescValid | DescTypeTableOrPage;
      const hi = this.attrHi;
      const first = cur;
      for (; cur < end; cur += span, out += span, dpa += DescriptorBytes)
        mem.write64(dpa, (modFloor(out, TWO_POW_32) | lo) >>> 0, (Math.floor(out / TWO_POW_32) | hi) >>> 0);
      const n = (end - first) / span;
      this.leafCount[3] += n;
      this.validCount.set(tablePa, this.validCount.get(tablePa)! + n);
      return;
    }
    const canLeaf = this.leafOk[level]!;
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
            child = this.allocTable();
            mem.write64(
              dpa,
              (modFloor(child, TWO_POW_32) | DescValid | DescTypeTableOrPage) >>> 0,
              Math.floor(child / TWO_POW_32),
            );
            added++;
          } else if ((lo & DescTypeTableOrPage) !== 0) {
            child = tableAddress(lo, mem.readHi(dpa), this.granule);
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
      if (added !== 0) this.validCount.set(tablePa, this.validCount.get(tablePa)! + added);
    }
  }

  /**
   * Clear every leaf in [cur, end) and free the tables left empty (the rollback of a failed map: the range
   * held no leaf before it, and every leaf written lies inside it).
   */
  private discardRange(tablePa: number, level: number, cur: number, end: number): void {
    const mem = this.memory;
    const span = this.spans[level]!;
    let dpa = tablePa + modFloor(Math.floor(cur / span), this.tableEntries) * DescriptorBytes;
    let cleared = 0;
    while (cur < end) {
      const next = Math.min(end, Math.floor(cur / span) * span + span);
      const kind = descriptorKind(mem.readLo(dpa), level, this.granule);
      if (kind === 'table') {
        const child = tableAddress(mem.readLo(dpa), mem.readHi(dpa), this.granule);
        this.discardRange(child, level + 1, cur, next);
        if (this.validCount.get(child) === 0) {
          mem.write64(dpa, 0, 0);
          this.freeTable(child);
          cleared++;
        }
      } else if (kind === 'block' || kind === 'page') {
        mem.write64(dpa, 0, 0);
        cleared++;
      }
      cur = next;
      dpa += DescriptorBytes;
    }
    if (cleared !== 0) this.validCount.set(tablePa, this.validCount.get(tablePa)! - cleared);
  }

  private allocTable(): number {
    const pa = this.allocator.alloc();
    this.memory.zero(pa, this.granule);
    this.validCount.set(pa, 0);
    this.tablesAllocated++;
    return pa;
  }

  private freeTable(pa: number): void {
    this.validCount.delete(pa);
    this.allocator.free(pa);
  }

  /** The first valid leaf overlapping [cur, end), or null. Reads only. */
  private firstLeafIn(tablePa: number, level: number, cur: number, end: number): ExistingLeaf | null {
    const mem = this.memory;
    const span = this.spans[level]!;
    let dpa = tablePa + modFloor(Math.floor(cur / span), this.tableEntries) * DescriptorBytes;
    while (cur < end) {
      const entryStart = Math.floor(cur / span) * span;
      const next = Math.min(end, entryStart + span);
      const lo = mem.readLo(dpa);
      if ((lo & DescValid) !== 0) {
        const tableOrPage = (lo & DescTypeTableOrPage) !== 0;
        if (level === LastLevel ? tableOrPage : !tableOrPage && this.leafOk[level]!)
          return {
            iova: entryStart,
            size: span,
            pa: leafAddress(lo, mem.readHi(dpa), this.granule, level),
            level,
          };
        if (level < LastLevel && tableOrPage) {
          const found = this.firstLeafIn(tableAddress(lo, mem.readHi(dpa), this.granule), level + 1, cur, next);
          if (found !== null) return found;
        }
      }
      cur = next;
      dpa += DescriptorBytes;
    }
    return null;
  }

  // ---------------------------------------------------------------- unmap

  /** Unmap whole mappings in [iova, iova + size), stopping at the first hole. See the module comment. */
  unmap(iova: number, size: number): UnmapResult {
    this.checkRange(iova, size, null);
    const end = iova + size;
    const firstLevel = this.leafLevelAt(iova);
    if (firstLevel >= 0 && iova % this.spans[firstLevel]! !== 0)
      throw new PartialUnmapError('iova', iova, size, this.leafAt(iova)!);
    // When the first leaf reaches the end, it is also the last one: no second walk.
    const lastLevel = firstLevel >= 0 && size <= this.spans[firstLevel]! ? firstLevel : this.leafLevelAt(end - 1);
    if (lastLevel >= 0 && end % this.spans[lastLevel]! !== 0)
      throw new PartialUnmapError('size', iova, size, this.leafAt(end - 1)!);

    this.hole = -1;
    this.leafMask = 0;
    this.tableMask = 0;
    this.freed = [];
    const nonLeaf: LinuxRangeRequest[] = [];
    const reached = firstLevel < 0 ? iova : this.unmapLevel(this.config.rootPa, this.start, iova, end, nonLeaf);
    if (firstLevel < 0) this.hole = iova;
    const unmapped = reached - iova;
    const freedTables = this.freed;
    this.freed = [];
    if (unmapped === 0)
      return { iova, requested: size, unmapped: 0, holeAt: iova, tlbi: null, freedTables, linuxRequests: [] };
    const linuxRequests = nonLeaf;
    for (let l = 3; l >= 0; l--)
      if ((this.leafMask & (1 << l)) !== 0) {
        const s = this.leafMin[l]!;
        linuxRequests.push({ iova: s, size: this.leafMax[l]! - s, granule: this.spans[l]!, leaf: true });
      }
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
        granule: this.granule,
      },
      freedTables,
      linuxRequests,
    };
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
    const mem = this.memory;
    const span = this.spans[level]!;
    let dpa = tablePa + modFloor(Math.floor(cur / span), this.tableEntries) * DescriptorBytes;
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
        this.validCount.set(tablePa, this.validCount.get(tablePa)! - (cur - first) / span);
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
        const child = tableAddress(lo, mem.readHi(dpa), this.granule);
        const stop = Math.min(end, entryEnd);
        const reached = this.unmapLevel(child, level + 1, cur, stop, nonLeaf);
        if (this.validCount.get(child) === 0) {
          mem.write64(dpa, 0, 0);
          this.freeTable(child);
          cleared++;
          this.tableMask |= 1 << level;
          this.freed.push({ pa: child, level: level as Level, iova: entryStart, size: span });
          nonLeaf.push({ iova: entryStart, size: span, granule: this.granule, leaf: false });
        }
        cur = reached;
        if (reached < stop) break;
      } else if (this.leafOk[level]!) {
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
    if (cleared !== 0) this.validCount.set(tablePa, this.validCount.get(tablePa)! - cleared);
    return cur;
  }

  // ---------------------------------------------------------------- lookups

  /** The leaf translating `iova`, or null. */
  /** Level of the leaf translating `iova`, or -1 (no allocation). */
  private leafLevelAt(iova: number): number {
    const mem = this.memory;
    let tablePa = this.config.rootPa;
    for (let level = this.start as number; level <= LastLevel; level++) {
      const dpa = tablePa + modFloor(Math.floor(iova / this.spans[level]!), this.tableEntries) * DescriptorBytes;
      const lo = mem.readLo(dpa);
      if ((lo & DescValid) === 0) return -1;
      const bit1 = (lo & DescTypeTableOrPage) !== 0;
      if (level === LastLevel) return bit1 ? level : -1;
      if (!bit1) return this.leafOk[level]! ? level : -1;
      tablePa = tableAddress(lo, mem.readHi(dpa), this.granule);
    }
    return -1;
  }

  leafAt(iova: number): ExistingLeaf | null {
    const mem = this.memory;
    let tablePa = this.config.rootPa;
    for (let level = this.start as number; level <= LastLevel; level++) {
      const span = this.spans[level]!;
      const dpa = tablePa + modFloor(Math.floor(iova / span), this.tableEntries) * DescriptorBytes;
      const lo = mem.readLo(dpa);
      const kind = descriptorKind(lo, level, this.granule);
      if (kind === 'table') tablePa = tableAddress(lo, mem.readHi(dpa), this.granule);
      else if (kind === 'block' || kind === 'page')
        return {
          iova: Math.floor(iova / span) * span,
          size: span,
          pa: leafAddress(lo, mem.readHi(dpa), this.granule, level),
          level,
        };
      else return null;
    }
    return null;
  }

  /** The output address `iova` translates to, or null when it is not mapped. */
  iovaToPhys(iova: number): number | null {
    this.checkAddress('iova', iova, this.inputLimit, 'outside-ias');
    const leaf = this.leafAt(iova);
    return leaf === null ? null : leaf.pa + (iova - leaf.iova);
  }

  /** Walk the table for `iova`, listing every descriptor read. */
  walk(iova: number): WalkResult {
    this.checkAddress('iova', iova, this.inputLimit, 'outside-ias');
    const mem = this.memory;
    const steps: WalkStep[] = [];
    let tablePa = this.config.rootPa;
    for (let level = this.start as number; level <= LastLevel; level++) {
      const span = this.spans[level]!;
      const index = modFloor(Math.floor(iova / span), this.tableEntries);
      const descriptorPa = tablePa + index * DescriptorBytes;
      const lo = mem.readLo(descriptorPa);
      const hi = mem.readHi(descriptorPa);
      const kind = descriptorKind(lo, level, this.granule);
      steps.push({ level: level as Level, tablePa, index, descriptorPa, lo, hi, hex: hex64(lo, hi), kind });
      if (kind === 'table') {
        tablePa = tableAddress(lo, hi, this.granule);
        continue;
      }
      if (kind === 'block' || kind === 'page') {
        const base = Math.floor(iova / span) * span;
        const pa = leafAddress(lo, hi, this.granule, level);
        return {
          iova,
          steps,
          leaf: {
            level: level as Level,
            kind,
            iova: base,
            size: span,
            pa,
            attrs: decodeLeafAttrs(this.config.stage, lo, hi),
          },
          pa: pa + (iova - base),
        };
      }
      break;
    }
    return { iova, steps, leaf: null, pa: null };
  }

  /** Every leaf in the table in address order (for dumps and tests; allocates one object per leaf). */
  leaves(): ExistingLeaf[] {
    const out: ExistingLeaf[] = [];
    const visit = (tablePa: number, level: number, base: number, count: number): void => {
      const span = this.spans[level]!;
      for (let i = 0; i < count; i++) {
        const dpa = tablePa + i * DescriptorBytes;
        const lo = this.memory.readLo(dpa);
        const kind = descriptorKind(lo, level, this.granule);
        const iova = base + i * span;
        if (kind === 'table')
          visit(tableAddress(lo, this.memory.readHi(dpa), this.granule), level + 1, iova, this.tableEntries);
        else if (kind === 'block' || kind === 'page')
          out.push({ iova, size: span, pa: leafAddress(lo, this.memory.readHi(dpa), this.granule, level), level });
      }
    };
    visit(this.config.rootPa, this.start, 0, this.rootEntries);
    return out;
  }

  /**
   * Free every table frame, the start-level table included, without clearing any descriptor (what tearing
   * down a domain does). The table must not be used afterwards.
   */
  release(): number {
    let n = 0;
    const visit = (tablePa: number, level: number, count: number): void => {
      for (let i = 0; i < count && level < LastLevel; i++) {
        const dpa = tablePa + i * DescriptorBytes;
        const lo = this.memory.readLo(dpa);
        if (descriptorKind(lo, level, this.granule) === 'table')
          visit(tableAddress(lo, this.memory.readHi(dpa), this.granule), level + 1, this.tableEntries);
      }
      this.freeTable(tablePa);
      n++;
    };
    visit(this.config.rootPa, this.start, this.rootEntries);
    return n;
  }

  // ---------------------------------------------------------------- argument checks

  private checkAddress(field: string, v: number, limit: number, kind: 'outside-ias' | 'outside-oas'): void {
    if (!isUint(v)) throw notInteger(field, v);
    if (v >= limit)
      throw new PageTableError(
        kind,
        field,
        `${hexAddr(v)} is outside the ${kind === 'outside-ias' ? this.config.ias : this.config.oas}-bit ${kind === 'outside-ias' ? 'input' : 'output'} address space`,
      );
  }

  private checkRange(iova: number, size: number, pa: number | null): void {
    if (!isUint(iova)) throw notInteger('iova', iova);
    if (!isUint(size)) throw notInteger('size', size);
    if (pa !== null && !isUint(pa)) throw notInteger('pa', pa);
    if (size === 0) throw new PageTableError('zero-size', 'size', 'must not be zero');
    const gr = this.granule;
    if (iova % gr !== 0) throw misaligned('iova', iova, gr);
    if (pa !== null && pa % gr !== 0) throw misaligned('pa', pa, gr);
    if (size % gr !== 0) throw misaligned('size', size, gr);
    const ias = this.config.ias;
    if (iova >= this.inputLimit)
      throw new PageTableError('outside-ias', 'iova', `${hexAddr(iova)} is outside the ${ias}-bit input address space`);
    if (iova + size > this.inputLimit)
      throw new PageTableError(
        'outside-ias',
        'size',
        `[${hexAddr(iova)}, +${hexAddr(size)}) runs past the ${ias}-bit input address space`,
      );
    if (pa !== null) {
      const oas = this.config.oas;
      if (pa >= this.outputLimit)
        throw new PageTableError('outside-oas', 'pa', `${hexAddr(pa)} is outside the ${oas}-bit output address space`);
      if (pa + size > this.outputLimit)
        throw new PageTableError(
          'outside-oas',
          'size',
          `pa [${hexAddr(pa)}, +${hexAddr(size)}) runs past the ${oas}-bit output address space`,
        );
    }
  }
}
