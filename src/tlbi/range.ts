/**
 * THE range arithmetic of the engine, and the only place in the project that does it:
 * - the range-invalidation loop (TG / SCALE / NUM / TTL) of SMMUs with IDR3.RIL,
 * - the per-stride loop (one command per granule or block, range fields 0) of SMMUs without it,
 * - the whole-tag threshold (when a per-stride loop would be too long),
 * - the TTL level hint (Linux's formula, and the level geometry of the tlbi description),
 * - the ATC_INV span (smallest naturally aligned power-of-two block of 4 KiB pages).
 *
 * Addresses and sizes are plain numbers (exact up to 2^53); nothing here uses 32-bit operators on values
 * that may exceed 2^31, and nothing allocates per emitted command. Inputs are trusted (the edge validates).
 */
import { bitLength53, ctz53, xor53 } from '../bits.js';
import * as writers from '../cmdq/writers.js';
import { FORCE_SYNC_BATCH, type PlanOutput } from './output.js';
import { granuleLog2OfTg, levelShift, log2Of, tgOfGranuleLog2 } from '../units.js';

/**
 * 2^32 and 2^-32 (multiplying by 2^-32 is exact, and cheaper than dividing by 2^32). Local constants (bits.ts
 * has TWO_POW_32): V8 folds a module's own `const`, while an imported binding is read through a cell with a
 * TDZ check, which the range loop would pay on every command.
 */
const TWO_POW_32 = 4294967296;
const TWO_POW_M32 = 1 / TWO_POW_32;

/**
 * The codec's writers the hot paths call, as this module's own constants: the field layout of a command lives
 * in src/cmdq/ only, and a module-local binding is read without an imported cell's TDZ check (or a loader's
 * getter), so the small ones inline into the range loop as its own arithmetic would.
 */
const tlbiNumScaleBits = writers.tlbiNumScaleBits;
const tlbiRangeLowBits = writers.tlbiRangeLowBits;
const tlbiTagBits = writers.tlbiTagBits;
const writeTlbiRange = writers.writeTlbiRange;
const writeTlbiRangeH0 = writers.writeTlbiRangeH0;

/**
 * Most commands the range loop emits for a page count below 2^31: one per 5-bit group of the count from its
 * lowest set bit up, ceil(31 / 5) = 7.
 */
export const RIL_MAX_CMDS_31 = 7;
/** RIL_MAX_CMDS_31 for the hot path (an exported binding is read through a cell). */
const MAX_CMDS_31 = 7;

/** A forceSync batch holding more commands than this could reach FORCE_SYNC_BATCH within one range loop. */
const RIL_FORCE_SYNC_ROOM = FORCE_SYNC_BATCH - MAX_CMDS_31;

/** 2^n for n in [0, 63], as exact doubles. */
const POW2 = new Float64Array(64).map((_, n) => 2 ** n);

/** 2^-n for n in [0, 63], exact. */
const POW2_NEG = new Float64Array(64).map((_, n) => 2 ** -n);

/** Largest SCALE the 5-bit field holds without DS (w0[24:20]). */
export const MAX_SCALE = 31;
/**
 * Largest SCALE with IDR5.DS (6-bit field w0[25:20]; values above 39 are not to be relied on, IHI 0070
 * 4.4.1.1). 31 × 2^39 pages exceed any 52-bit range of any granule.
 */
export const MAX_SCALE_DS = 39;
/** Largest NUM+1 a range command covers in one chunk (NUM is 5 bits). */
export const MAX_NUM = 31;
/** log2 of the 4 KiB unit ATC_INV always works in. */
export const ATC_PAGE_SHIFT = 12;
/** ATC_INV Size that covers every address. */
export const ATC_SIZE_ALL = 52;

/**
 * Bytes one range TLBI covers: (NUM + 1) · 2^SCALE granules of the TG's size (IHI 0070 4.4.1.1); `numField`
 * and `scale` are the command's field values, `tg` its TG field (1/2/3; 0 is not a range command: the caller
 * knows the stride it covers). The engine's home of the span: reports, audit and the page ask it; the model
 * judges with its own copy (src/smmu), and the tests' BigInt oracle is a third.
 */
export function tlbiRangeBytes(numField: number, scale: number, tg: number): number {
  return (numField + 1) * POW2[scale]! * POW2[granuleLog2OfTg(tg)]!;
}

/**
 * Linux's TTL for a leaf invalidation of `2^granuleShift`-byte leaves in a table of 2^pgShift-byte pages:
 * 4 − ((granuleShift − 3) / (pgShift − 3)), integer division (4K: 4K → 3, 2M → 2, 1G → 1).
 */
export function linuxLeafTtl(granuleShift: number, pgShift: number): number {
  return 4 - (((granuleShift - 3) / (pgShift - 3)) | 0); // truncation = floor: both are positive
}

/**
 * linuxLeafTtl for leaves of `granule` bytes (a power of two) in a table of 2^pgShift-byte pages, with the
 * common case — leaves of the page size, TTL 3 — decided by one comparison (no log2, no division).
 */
export function linuxLeafTtlOf(granule: number, pgShift: number): number {
  return granule === POW2[pgShift]! ? 3 : linuxLeafTtl(log2Of(granule), pgShift);
}

/**
 * The whole-tag threshold: true when a per-stride loop over `size` bytes with a stride of 2^strideShift
 * would reach 2^(strideShift − 3) commands, i.e. size ≥ 2^(strideShift − 3) × 2^strideShift (2 MiB for
 * 4 KiB). Linux applies it only without range invalidation; size 0 ("everything") is handled by callers.
 */
export function perStrideTooBig(size: number, strideShift: number): boolean {
  return size >= POW2[2 * strideShift - 3]!;
}

/**
 * The range-invalidation loop: commands covering [iova, iova + size) for a table of 2^pgShift-byte pages,
 * each with NUM = num − 1, SCALE = scale, and advancing by num × 2^(scale + pgShift) bytes, where scale is
 * the lowest set bit of the remaining page count and num the 5 bits from there. When `ttl` is 0 and the page
 * count ends in 0b00001, one page is added so that no command has SCALE = NUM = TTL = 0 (reserved).
 *
 * `opcode` is a range-capable TLBI; `asid`/`vmid` are written as given (0 where the opcode has no such
 * field). `size` must be a non-zero multiple of 2^pgShift. Linux writes SCALE into a 5-bit field, which for
 * a remaining page count whose lowest set bit is ≥ 32 (sizes ≥ 2^44 bytes at 4K) would truncate it and
 * under-invalidate; here such a chunk is emitted at SCALE 31 instead (more commands, never less coverage).
 * With DS (`out.ds`: the batch's SMMU has IDR5.DS) SCALE is 6 bits and that workaround applies only above
 * SCALE 39; page counts below 2^31 give the same commands either way (their SCALE is at most 30).
 */
export function emitRilRange(
  out: PlanOutput,
  opcode: number,
  asid: number,
  vmid: number,
  iova: number,
  size: number,
  pgShift: number,
  ttl: number,
  leaf: number,
): void {
  const span = SCRATCH_SPAN;
  span[0] = iova;
  span[1] = size;
  emitRilSpan(out, span, opcode, asid, vmid, pgShift, ttl, leaf);
}

/**
 * A byte range handed to the range loops: [0] = iova, [1] = size. A Float64Array, so that storing an address
 * (a double above 2^30) allocates nothing, and a call that is not inlined passes no boxed doubles.
 */
export type Span = Float64Array;

/** The span `emitRilRange` and `tlbiShape` pass on (one reused array). */
const SCRATCH_SPAN: Span = new Float64Array(2);

/**
 * `emitRilRange` for the span [span[0], span[0] + span[1]). The planners call this form: addresses above
 * 2^30 are doubles, which a call that is not inlined would box (allocate) when passed as arguments; read
 * from a Float64Array, they are not.
 */
export function emitRilSpan(
  out: PlanOutput,
  span: Span,
  opcode: number,
  asid: number,
  vmid: number,
  pgShift: number,
  ttl: number,
  leaf: number,
): void {
  const pgsize = POW2[pgShift]!;
  const pages = span[1]! * POW2_NEG[pgShift]!; // exact: a multiply by 2^-pgShift, not a divide
  let p = pages | 0;
  if (p !== pages || p < 0 || (out.forceSync && out.batchLen > RIL_FORCE_SYNC_ROOM)) {
    emitRilRangeGeneral(out, span, opcode, asid, vmid, pgShift, ttl, leaf);
    return;
  }
  // Fast path: the page count is an integer below 2^31, so the loop emits at most RIL_MAX_CMDS_31
  // commands (one per 5-bit group of the count): room for them is made once, and the entries are written
  // straight into the typed arrays (with forceSync, only when the batch cannot reach its limit meanwhile).
  // The function is kept small enough (bytecode) for V8 to inline it into the planners.
  if (ttl === 0 && (p & 31) === 1) p++;
  out.ensure(MAX_CMDS_31);
  const buf = out.buf;
  const q = buf.u32;
  const smmuOf = out.smmuOf;
  const smmu = out.smmu;
  let s = buf.count;
  out.batchLen -= s;
  const h1 = tlbiTagBits(asid, vmid);
  const h2 = tlbiRangeLowBits(leaf, ttl, tgOfGranuleLog2(pgShift));
  let addr = span[0]!;
  // The remaining page count reaches 0 exactly when the address reaches iova + size: p counts the pages
  // still to cover, and after the non-leaf extra page p stays even, so it never stops at 1 (past the end).
  while (p !== 0) {
    const scale = 31 - Math.clz32(p & -p);
    const num = (p >>> scale) & 31;
    const chunk = num << scale;
    p -= chunk;
    const hi = Math.floor(addr * TWO_POW_M32);
    const i = s << 2;
    q[i] = opcode | tlbiNumScaleBits(num - 1, scale);
    q[i + 1] = h1;
    q[i + 2] = h2 | (addr - hi * TWO_POW_32);
    q[i + 3] = hi;
    smmuOf[s] = smmu;
    s++;
    addr += chunk * pgsize;
  }
  buf.count = s;
  out.batchLen += s;
}

/**
 * The range loop's most common case in one command: when the page count (after the non-leaf extra page) is
 * num × 2^scale with num ≤ 31 — 1, 2 or 512 pages, one block — the loop emits exactly one command, NUM =
 * num − 1 at SCALE = scale, written here straight into the typed arrays. Returns false, having written
 * nothing, when the request needs the loop (emitRilSpan). Kept small so
 * that V8 inlines it into the planners (emitRilSpan, too big to be inlined after them, is then called only
 * for the other requests).
 */
export function emitRilOne(
  out: PlanOutput,
  span: Span,
  opcode: number,
  asid: number,
  vmid: number,
  pgShift: number,
  ttl: number,
  leaf: number,
): boolean {
  const numScale = rilOneNumScale(span, pgShift, ttl);
  if (numScale < 0) return false;
  // add() closes a full forceSync batch first, as the loop does.
  const s = out.add();
  writeTlbiRangeH0(out.buf.u32, s, opcode | numScale, asid, vmid, leaf, ttl, tgOfGranuleLog2(pgShift), span[0]!);
  return true;
}

/**
 * The NUM and SCALE bits (w0) of the one command that covers [span[0], span[0] + span[1]) — see
 * emitRilOne — or -1 when the range loop needs more than one command.
 */
export function rilOneNumScale(span: Span, pgShift: number, ttl: number): number {
  const pages = span[1]! * POW2_NEG[pgShift]!;
  let p = pages | 0;
  if (p !== pages) return -1;
  if (ttl === 0 && (p & 31) === 1) p++;
  const scale = 31 - Math.clz32(p & -p);
  const num = p >>> scale;
  return num > 31 ? -1 : tlbiNumScaleBits(num - 1, scale);
}

/** The range loop for large page counts, or for a forceSync batch that may reach its limit meanwhile. */
function emitRilRangeGeneral(
  out: PlanOutput,
  span: Span,
  opcode: number,
  asid: number,
  vmid: number,
  pgShift: number,
  ttl: number,
  leaf: number,
): void {
  const iova = span[0]!;
  const size = span[1]!;
  const tg = tgOfGranuleLog2(pgShift);
  let pages = size / POW2[pgShift]!;
  if (ttl === 0 && pages % 32 === 1) pages++;
  const end = iova + size;
  let addr = iova;
  if (pages <= 0x7fffffff) {
    // The page count fits a 31-bit integer (a forceSync batch near its limit: out.add() syncs as needed).
    let p = pages | 0;
    while (addr < end && p !== 0) {
      const scale = 31 - Math.clz32(p & -p);
      const num = (p >>> scale) & 31;
      p -= num << scale;
      const s = out.add();
      writeTlbiRange(out.buf.u32, s, opcode, asid, vmid, num - 1, scale, leaf, ttl, tg, addr);
      addr += num * POW2[scale + pgShift]!;
    }
    return;
  }
  // Largest SCALE the field holds: 31 without DS, 39 with it. A remaining count whose lowest set bit is above
  // it goes out in chunks of at most MAX_NUM × 2^maxScale pages.
  const maxScale = out.ds ? MAX_SCALE_DS : MAX_SCALE;
  while (addr < end && pages !== 0) {
    let scale = ctz53(pages);
    let num: number;
    if (scale <= maxScale) {
      num = (pages / POW2[scale]!) % 32;
    } else {
      scale = maxScale;
      num = Math.min(MAX_NUM, pages / POW2[maxScale]!);
    }
    pages -= num * POW2[scale]!;
    const s = out.add();
    writeTlbiRange(out.buf.u32, s, opcode, asid, vmid, num - 1, scale, leaf, ttl, tg, addr);
    addr += num * POW2[scale + pgShift]!;
  }
}

/**
 * The per-stride loop: one command per 2^strideShift bytes of [iova, iova + size), with TG = TTL = NUM =
 * SCALE = 0 (a non-range command hits every entry that contains its address, whatever its size).
 */
export function emitStrideRange(
  out: PlanOutput,
  opcode: number,
  asid: number,
  vmid: number,
  iova: number,
  size: number,
  strideShift: number,
  leaf: number,
): void {
  const stride = POW2[strideShift]!;
  const end = iova + size;
  for (let addr = iova; addr < end; addr += stride) {
    const s = out.add();
    writeTlbiRange(out.buf.u32, s, opcode, asid, vmid, 0, 0, leaf, 0, 0, addr);
  }
}

/**
 * ATC_INV Size for [iova, iova + size): the bit length of first_page XOR last_page (4 KiB pages), so that
 * 2^Size pages, naturally aligned, contain the range; size 0 means everything (Size 52).
 */
export function atcInvSize(iova: number, size: number): number {
  if (size === 0) return ATC_SIZE_ALL;
  const first = Math.floor(iova / POW2[ATC_PAGE_SHIFT]!);
  const last = Math.floor((iova + size - 1) / POW2[ATC_PAGE_SHIFT]!);
  return bitLength53(xor53(first, last));
}

/** ATC_INV Address for a given Size: the first page rounded down to 2^Size pages (0 for Size 52). */
export function atcInvAddr(iova: number, sizeField: number): number {
  if (sizeField >= ATC_SIZE_ALL) return 0;
  const first = Math.floor(iova / POW2[ATC_PAGE_SHIFT]!);
  const block = POW2[sizeField]!;
  return (first - (first % block)) * POW2[ATC_PAGE_SHIFT]!;
}

/** Leaf levels a table of 2^pgShift-byte pages may hold without LPA2/52-bit descriptors. */
export function leafLevelAllowed(pgShift: number, level: number): boolean {
  if (level === 3 || level === 2) return true;
  return level === 1 && pgShift === 12;
}

/** Levels at which a table descriptor may sit (levels 0-2; 64K tables start at level 1). */
export function tableLevelAllowed(pgShift: number, level: number): boolean {
  if (level === 1 || level === 2) return true;
  return level === 0 && pgShift !== 16;
}

/** LEAF, TTL and stride chosen for a tlbi description (see `tlbiShape`). */
export interface TlbiShape {
  /** 1 when only leaf descriptors were cleared (no table descriptor), else 0. */
  leaf: number;
  /** TTL for range commands: a level 1-3, or 0 (any level). */
  ttl: number;
  /** log2 of the per-stride step without range invalidation: the entry size of the smallest changed level. */
  strideShift: number;
}

/**
 * Choose LEAF, TTL and the stride for a tlbi description: bitmaps of the levels whose leaf descriptors
 * (bit L = level L) and table descriptors were cleared, over [start, start + size) in a table of
 * 2^pgShift-byte pages.
 *
 * - LEAF = 1 only when no table descriptor was cleared.
 * - Leaf: TTL = L when L is the only leaf level; otherwise 0.
 * - Non-leaf: Leaf = 0 with TTL = t must remove level-t leaves and table entries at levels < t. So t = L when
 *   L is the only leaf level and every cleared table level is < L; t = (deepest table level) + 1 when no
 *   leaf level was cleared; otherwise 0. (At 16K without DS, TTL = 1 reads as 0, so t = 1 becomes 2.)
 * - A TTL = t is kept only when start and size are multiples of the level-t entry size (the architecture
 *   makes a misaligned base with a level hint UNPREDICTABLE); otherwise 0.
 * - Stride: the entry size of the deepest changed level (leaf or table), when start and size are multiples
 *   of it; otherwise the page size.
 */
export function tlbiShape(
  leafMask: number,
  tableMask: number,
  start: number,
  size: number,
  pgShift: number,
): TlbiShape {
  const span = SCRATCH_SPAN;
  span[0] = start;
  span[1] = size;
  return tlbiShapeInto({ leaf: 0, ttl: 0, strideShift: 0 }, leafMask, tableMask, span, pgShift);
}

/** True when x (a non-negative integer below 2^53) is a multiple of 2^shift: exact multiplies, no division. */
function isMultipleOfPow2(x: number, shift: number): boolean {
  return Math.floor(x * POW2_NEG[shift]!) * POW2[shift]! === x;
}

/**
 * `tlbiShape` for the span [span[0], span[0] + span[1]), written into `shape` (which is returned): the planners reuse
 * one object, so a plan allocates nothing.
 */
export function tlbiShapeInto(
  shape: TlbiShape,
  leafMask: number,
  tableMask: number,
  span: Span,
  pgShift: number,
): TlbiShape {
  shape.leaf = tableMask === 0 ? 1 : 0;
  shape.ttl = tlbiTtl(leafMask, tableMask, span, pgShift);
  shape.strideShift = tlbiStrideShift(leafMask | tableMask, span, pgShift);
  return shape;
}

/**
 * The TTL of `tlbiShape` (LEAF is 1 exactly when `tableMask` is 0): what a range loop needs, without the
 * stride (the single-target plan with range invalidation asks only this).
 */
export function tlbiTtl(leafMask: number, tableMask: number, span: Span, pgShift: number): number {
  const singleLeaf = leafMask !== 0 && (leafMask & (leafMask - 1)) === 0 ? 31 - Math.clz32(leafMask) : -1;
  let ttl = 0;
  if (tableMask === 0) {
    if (singleLeaf >= 0) ttl = singleLeaf;
  } else if (leafMask === 0) {
    ttl = 32 - Math.clz32(tableMask); // the deepest table level + 1
  } else if (singleLeaf > 31 - Math.clz32(tableMask)) {
    ttl = singleLeaf;
  }
  if (ttl === 1 && pgShift === 14) ttl = 2;
  if (ttl === 0) return 0;
  // Start and size are multiples of the page (the edge checks it): only a larger unit needs a look.
  const unitShift = levelShift(pgShift, ttl);
  return unitShift > pgShift && !spanAligned(span, unitShift) ? 0 : ttl;
}

/** The stride of `tlbiShape`, from the bitmap of every changed level (`all`, leaf or table). */
function tlbiStrideShift(all: number, span: Span, pgShift: number): number {
  const strideShift = levelShift(pgShift, all === 0 ? 3 : 31 - Math.clz32(all));
  return strideShift > pgShift && !spanAligned(span, strideShift) ? pgShift : strideShift;
}

/** True when the span's start and size are multiples of 2^shift. */
function spanAligned(span: Span, shift: number): boolean {
  return isMultipleOfPow2(span[0]!, shift) && isMultipleOfPow2(span[1]!, shift);
}
