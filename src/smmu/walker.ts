/**
 * The model's own VMSAv8-64 table walker: it reads 64-bit descriptors from PhysMemory and decodes them as
 * the architecture defines them (valid bit 0; bit 1 table/page vs block; output address bits [47:n];
 * stage-1 AP[7:6], AF[10], nG[11], PXN[53], XN[54]; stage-2 S2AP[7:6], AF[10], XN[54:53]). It shares no
 * code with the page-table module: a bug there cannot hide itself here.
 *
 * Levels follow the architecture: level 3 is the last; a granule of 2^g bytes resolves g-3 bits per level,
 * and the start level is the first whose span covers the input size (no concatenated start tables).
 */
import { TWO_POW_32 } from '../bits.js';
import type { PhysMemory } from '../pgtable/memory.js';
import { POW2, levelShift } from '../units.js';

export type Stage = 1 | 2;

/** One translation table: its root (a PA, or an IPA for a nested stage 1), granule and input size. */
export interface TableConfig {
  readonly root: number;
  /** log2 of the granule: 12 (4K), 14 (16K) or 16 (64K). */
  readonly granuleLog2: number;
  /** Input address size in bits (e.g. 48). */
  readonly ias: number;
  readonly stage: Stage;
}

/** The level a walk of `ias` input bits starts at. */
export function startLevel(granuleLog2: number, ias: number): number {
  const stride = granuleLog2 - 3;
  for (let level = 3; level > 0; level--) if (ias <= granuleLog2 + (4 - level) * stride) return level;
  return 0;
}

/** True when a block descriptor is allowed at `level` (no LPA/DS: 4K L1/L2, 16K L2, 64K L2). */
export function blockAllowed(granuleLog2: number, level: number): boolean {
  if (level === 3) return false;
  if (granuleLog2 === 12) return level === 1 || level === 2;
  return level === 2;
}

/** Walk outcome codes. */
export const WalkStatus = {
  OK: 0,
  /** Invalid descriptor, reserved encoding, or a block where none is allowed. */
  TRANSLATION: 1,
  /** A leaf with AF=0 (no hardware access-flag update modelled). */
  ACCESS_FLAG: 2,
  /** Input address beyond the table's input size. */
  ADDRESS_SIZE: 3,
  /** A stage-1 table address (an IPA) did not translate at stage 2 (nested). */
  STAGE2_TABLE: 4,
} as const;

/** Attribute bits kept from a leaf descriptor: lo bits [11:2] and hi bits [54:52]. */
export const ATTR_LO_MASK = 0xffc;
export function attrHiOf(hi: number): number {
  return (hi >>> 20) & 0x7;
}

/** The result of a walk: reused between calls (no allocation per walk). */
export class WalkResult {
  status: number = WalkStatus.OK;
  /** Level of the leaf (or of the descriptor that faulted). */
  level = 0;
  /** Input address of the start of the leaf's span. */
  inStart = 0;
  /** log2 of the leaf's span (page or block size). */
  sizeLog2 = 0;
  /** Output address of the leaf's span start. */
  outStart = 0;
  attrLo = 0;
  attrHi = 0;
  /** Table descriptors read on the way: count, and per entry level, input span start and next-table address. */
  tables = 0;
  readonly tableLevel = new Int8Array(4);
  readonly tableIn = new Float64Array(4);
  readonly tableNext = new Float64Array(4);
  /**
   * The PA of each next table: the same as tableNext without a table-address translator; under nesting its
   * stage-2 translation (-1 when that translation faulted).
   */
  readonly tableNextPa = new Float64Array(4);

  /** Output address for `addr` inside the leaf. */
  out(addr: number): number {
    return this.outStart + (addr - this.inStart);
  }
}

/** Translate a stage-1 table address (IPA) to a PA for nested walks; -1 when it does not translate. */
export type TableAddrTranslator = (ipa: number) => number;

function outputAddress(lo: number, hi: number, shift: number): number {
  // Bits [47:shift] of the descriptor (shift <= 31 for every level that may hold one).
  const loBits = (lo >>> shift) * POW2[shift]!;
  return (hi & 0xffff) * TWO_POW_32 + loBits;
}

/**
 * Walk `cfg` for `addr` from `level`, reading the table at `table` (a PA, or an IPA translated through
 * `xlate` when given — except the first table when `tableIsPa`: a combined walk-cache entry already holds its
 * PA). Records every table descriptor read into `res` (appending after `res.tables`).
 */
export function walkFrom(
  mem: PhysMemory,
  cfg: TableConfig,
  addr: number,
  level: number,
  table: number,
  res: WalkResult,
  xlate: TableAddrTranslator | null,
  tableIsPa = false,
): WalkResult {
  const g = cfg.granuleLog2;
  const stride = g - 3;
  const idxCount = POW2[stride]!;
  let isPa = tableIsPa;
  let prev = -1;
  for (;;) {
    const shift = levelShift(g, level);
    const span = POW2[shift]!;
    // The index of `addr` in this level's table: bits [shift + stride - 1 : shift], by floor-multiply.
    const q = Math.floor(addr / span);
    const idx = q - Math.floor(q / idxCount) * idxCount;
    let tpa = table;
    if (xlate !== null && !isPa) {
      tpa = xlate(table);
      if (tpa < 0) {
        res.status = WalkStatus.STAGE2_TABLE;
        res.level = level;
        return res;
      }
      if (prev >= 0) res.tableNextPa[prev] = tpa;
    }
    isPa = false;
    prev = -1;
    const dpa = tpa + idx * 8;
    const lo = mem.readLo(dpa);
    const hi = mem.readHi(dpa);
    res.level = level;
    if ((lo & 1) === 0) {
      res.status = WalkStatus.TRANSLATION;
      return res;
    }
    const isTableOrPage = (lo & 2) !== 0;
    const spanStart = q * span;
    if (level < 3 && isTableOrPage) {
      const next = outputAddress(lo, hi, g);
      const t = res.tables;
      if (t < 4) {
        res.tableLevel[t] = level;
        res.tableIn[t] = spanStart;
        res.tableNext[t] = next;
        res.tableNextPa[t] = xlate === null ? next : -1;
        res.tables = t + 1;
        prev = t;
      }
      table = next;
      level++;
      continue;
    }
    if (level === 3 ? !isTableOrPage : !blockAllowed(g, level)) {
      res.status = WalkStatus.TRANSLATION;
      return res;
    }
    if ((lo & 0x400) === 0) {
      res.status = WalkStatus.ACCESS_FLAG;
      return res;
    }
    res.status = WalkStatus.OK;
    res.inStart = spanStart;
    res.sizeLog2 = shift;
    res.outStart = outputAddress(lo, hi, shift);
    res.attrLo = lo & ATTR_LO_MASK;
    res.attrHi = attrHiOf(hi);
    return res;
  }
}

/** A full walk of `cfg` for `addr` from the root. */
export function walk(
  mem: PhysMemory,
  cfg: TableConfig,
  addr: number,
  res: WalkResult,
  xlate: TableAddrTranslator | null = null,
): WalkResult {
  res.tables = 0;
  if (addr >= POW2[cfg.ias]!) {
    res.status = WalkStatus.ADDRESS_SIZE;
    res.level = startLevel(cfg.granuleLog2, cfg.ias);
    return res;
  }
  return walkFrom(mem, cfg, addr, startLevel(cfg.granuleLog2, cfg.ias), cfg.root, res, xlate);
}

/** Stage-1 leaf attributes: not global (nG). */
export function s1NotGlobal(attrLo: number): boolean {
  return (attrLo & 0x800) !== 0;
}

/** Permissions of a leaf for a (privileged) device transaction. */
export function canRead(stage: Stage, attrLo: number): boolean {
  return stage === 1 ? true : (attrLo & 0x40) !== 0;
}

export function canWrite(stage: Stage, attrLo: number): boolean {
  return stage === 1 ? (attrLo & 0x80) === 0 : (attrLo & 0x80) !== 0;
}

/** Short permission text of a leaf: r/w/x as the device sees them ("rw-", "r-x", …). */
export function permText(stage: Stage, attrLo: number, attrHi: number): string {
  const r = canRead(stage, attrLo) ? 'r' : '-';
  const w = canWrite(stage, attrLo) ? 'w' : '-';
  // Stage 1: XN (bit 54) → attrHi bit 2; stage 2: XN[54:53] → attrHi bits [2:1] (any set = no execute here).
  const xn = stage === 1 ? (attrHi & 4) !== 0 : (attrHi & 6) !== 0;
  return r + w + (xn ? '-' : 'x');
}
