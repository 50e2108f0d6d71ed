/**
 * VMSAv8-64 translation-table descriptors as two 32-bit halves (lo = bits [31:0], hi = bits [63:32]).
 *
 * Layout written here (48-bit output addresses, no FEAT_LPA/LPA2):
 *  - bit 0 valid; bit 1 type: 1 = table (levels 0-2) or page (level 3), 0 = block (levels 1-2 only);
 *  - output / next-table address bits [47:g] in place (lo bits [31:g], hi bits [15:0]);
 *  - stage 1 leaf: AttrIndx[4:2], NS[5], AP[7:6] (AP[1] = bit 6: EL0 access, AP[2] = bit 7: read-only),
 *    SH[9:8], AF[10], nG[11], Contiguous[52], PXN[53], UXN/XN[54];
 *  - stage 2 leaf: MemAttr[5:2], S2AP[7:6] (bit 6 read, bit 7 write), SH[9:8], AF[10], Contiguous[52],
 *    XN[54:53] (0b00 executable, 0b10 never executable);
 *  - table descriptors carry only the next-level address (NSTable, APTable, XNTable left 0).
 * Every leaf written has AF = 1, so no access-flag fault is taken. Contiguous is never set by `map`.
 */
import type { Granule, Stage } from './config.js';
import { leafAllowed } from './config.js';
import { TWO_POW_32 } from '../bits.js';
import { PageTableError } from './errors.js';
import { levelShift, log2Of } from '../units.js';

export const DescValid = 1 << 0;
/** Bit 1: table (levels 0-2) or page (level 3) when set; block when clear. */
export const DescTypeTableOrPage = 1 << 1;

export const S1AttrIndxShift = 2;
export const S1AttrIndxMask = 0b111 << S1AttrIndxShift;
export const S1Ns = 1 << 5;
/** AP[1], bit 6: the mapping is accessible at EL0 (unprivileged). */
export const S1ApUnpriv = 1 << 6;
/** AP[2], bit 7: read-only. */
export const S1ApReadOnly = 1 << 7;
export const ShShift = 8;
export const ShMask = 0b11 << ShShift;
export const ShNone = 0b00;
export const ShOuter = 0b10;
export const ShInner = 0b11;
export const DescAf = 1 << 10;
export const S1NotGlobal = 1 << 11;

export const S2MemAttrShift = 2;
export const S2MemAttrMask = 0b1111 << S2MemAttrShift;
/** S2AP[0], bit 6: reads permitted. */
export const S2ApRead = 1 << 6;
/** S2AP[1], bit 7: writes permitted. */
export const S2ApWrite = 1 << 7;

/** Bits of the high half (descriptor bit n is hi bit n - 32). */
export const HiContiguous = 1 << (52 - 32);
export const HiPxn = 1 << (53 - 32);
/** Stage 1 UXN/XN (bit 54); also XN[1] at stage 2. */
export const HiUxn = 1 << (54 - 32);
export const HiXnShift = 53 - 32;
export const HiXnMask = 0b11 << HiXnShift;
/** Output address bits [47:32] in the high half. */
export const HiOaMask = 0xffff;

/** MAIR indices assumed by stage-1 AttrIndx (the layout Linux programs): 0 Normal NC, 1 Normal WB, 2 Device-nGnRE. */
export const MairIndex = { noncached: 0, cached: 1, device: 2 } as const;
/** Stage-2 MemAttr[3:0] values (FWB disabled): Normal WB inner+outer, Normal NC inner+outer, Device-nGnRE. */
export const S2MemAttr = { cached: 0b1111, noncached: 0b0101, device: 0b0001 } as const;

export type MemType = keyof typeof MairIndex;

/**
 * Access permissions and memory type of a mapping.
 *  - read / write / exec: what the device may do. Stage 1 cannot express "no read" (AP only has a
 *    read-only bit), so stage 1 requires `read`; stage 2 accepts any non-empty combination.
 *  - priv (stage 1 only): privileged accesses only (AP[1] = 0). Default false: EL0 may access too.
 *  - global (stage 1 only): nG = 0. Default false: nG = 1, the entry is tagged with the ASID.
 *  - ns (stage 1 only): the NS bit (non-secure output from a secure stream). Default false.
 *  - memType: 'cached' (default; inner shareable), 'noncached' or 'device' (outer shareable).
 */
export interface Prot {
  read: boolean;
  write: boolean;
  exec: boolean;
  priv?: boolean;
  global?: boolean;
  ns?: boolean;
  memType?: MemType;
}

export const ProtRW: Prot = { read: true, write: true, exec: false };

/** Leaf attribute bits (everything but valid, type and address) as halves. */
export interface LeafAttrBits {
  lo: number;
  hi: number;
}

/** Encode a Prot as leaf attribute bits for a stage; throws PageTableError('bad-prot') naming the field. */
export function encodeProt(stage: Stage, prot: Prot): LeafAttrBits {
  if (typeof prot !== 'object' || prot === null) throw new PageTableError('bad-prot', 'prot', 'expected an object');
  for (const k of ['read', 'write', 'exec'] as const)
    if (typeof prot[k] !== 'boolean') throw new PageTableError('bad-prot', `prot.${k}`, 'expected a boolean');
  const memType = prot.memType ?? 'cached';
  if (!(memType in MairIndex))
    throw new PageTableError(
      'bad-prot',
      'prot.memType',
      `must be cached, noncached or device (got ${String(memType)})`,
    );
  if (!prot.read && !prot.write) throw new PageTableError('bad-prot', 'prot', 'grants neither read nor write access');
  const sh = memType === 'cached' ? ShInner : ShOuter;
  let lo = DescAf | (sh << ShShift);
  let hi = 0;
  if (stage === 1) {
    if (!prot.read)
      throw new PageTableError('bad-prot', 'prot.read', 'stage 1 descriptors cannot express write-only access');
    lo |= MairIndex[memType] << S1AttrIndxShift;
    if (!prot.write) lo |= S1ApReadOnly;
    if (prot.priv !== true) lo |= S1ApUnpriv;
    if (prot.global !== true) lo |= S1NotGlobal;
    if (prot.ns === true) lo |= S1Ns;
    if (!prot.exec) hi |= HiPxn | HiUxn;
  } else {
    for (const k of ['priv', 'global', 'ns'] as const)
      if (prot[k] === true) throw new PageTableError('bad-prot', `prot.${k}`, 'applies to stage 1 only');
    lo |= S2MemAttr[memType] << S2MemAttrShift;
    if (prot.read) lo |= S2ApRead;
    if (prot.write) lo |= S2ApWrite;
    if (!prot.exec) hi |= HiUxn; // XN[1:0] = 0b10: never executable
  }
  return { lo: lo >>> 0, hi: hi >>> 0 };
}

/** What a descriptor is, as a walker at `level` would interpret it. `reserved` translates as a fault. */
export type DescriptorKind = 'invalid' | 'table' | 'block' | 'page' | 'reserved';

export function descriptorKind(lo: number, level: number, granule: Granule): DescriptorKind {
  if ((lo & DescValid) === 0) return 'invalid';
  const bit1 = (lo & DescTypeTableOrPage) !== 0;
  if (level === 3) return bit1 ? 'page' : 'reserved';
  if (bit1) return 'table';
  return leafAllowed(granule, level) ? 'block' : 'reserved';
}

/** Next-level table address of a table descriptor (bits [47:g]). */
export function tableAddress(lo: number, hi: number, granule: Granule): number {
  const g = log2Of(granule);
  return (lo >>> g) * 2 ** g + (hi & HiOaMask) * TWO_POW_32;
}

/** Output address of a leaf at `level` (bits [47:levelShift]). */
export function leafAddress(lo: number, hi: number, granule: Granule, level: number): number {
  const s = levelShift(log2Of(granule), level);
  const full = (hi & HiOaMask) * TWO_POW_32 + (lo >>> 0);
  return Math.floor(full / 2 ** s) * 2 ** s;
}

/** Stage-1 leaf attribute fields, decoded. */
export interface Stage1Attrs {
  stage: 1;
  attrIndx: number;
  ns: boolean;
  /** AP[2:1] as a 2-bit number (bit 1 = read-only, bit 0 = EL0 access). */
  ap: number;
  sh: number;
  af: boolean;
  nG: boolean;
  contiguous: boolean;
  pxn: boolean;
  uxn: boolean;
}

/** Stage-2 leaf attribute fields, decoded. */
export interface Stage2Attrs {
  stage: 2;
  memAttr: number;
  /** S2AP[1:0] as a 2-bit number (bit 0 read, bit 1 write). */
  s2ap: number;
  sh: number;
  af: boolean;
  contiguous: boolean;
  /** XN[1:0]. */
  xn: number;
}

export function decodeLeafAttrs(stage: Stage, lo: number, hi: number): Stage1Attrs | Stage2Attrs {
  const sh = (lo & ShMask) >>> ShShift;
  const af = (lo & DescAf) !== 0;
  const contiguous = (hi & HiContiguous) !== 0;
  if (stage === 1)
    return {
      stage: 1,
      attrIndx: (lo & S1AttrIndxMask) >>> S1AttrIndxShift,
      ns: (lo & S1Ns) !== 0,
      ap: (lo >>> 6) & 0b11,
      sh,
      af,
      nG: (lo & S1NotGlobal) !== 0,
      contiguous,
      pxn: (hi & HiPxn) !== 0,
      uxn: (hi & HiUxn) !== 0,
    };
  return {
    stage: 2,
    memAttr: (lo & S2MemAttrMask) >>> S2MemAttrShift,
    s2ap: (lo >>> 6) & 0b11,
    sh,
    af,
    contiguous,
    xn: (hi & HiXnMask) >>> HiXnShift,
  };
}

/** The Prot a leaf grants (memType is left out when the attribute value is not one `encodeProt` writes). */
export function leafProt(stage: Stage, lo: number, hi: number): Prot {
  const a = decodeLeafAttrs(stage, lo, hi);
  if (a.stage === 1) {
    const memType = (Object.keys(MairIndex) as MemType[]).find((k) => MairIndex[k] === a.attrIndx);
    return {
      read: true,
      write: (a.ap & 0b10) === 0,
      exec: !a.uxn && !a.pxn,
      priv: (a.ap & 0b01) === 0,
      global: !a.nG,
      ns: a.ns,
      ...(memType !== undefined ? { memType } : {}),
    };
  }
  const memType = (Object.keys(S2MemAttr) as MemType[]).find((k) => S2MemAttr[k] === a.memAttr);
  return {
    read: (a.s2ap & 0b01) !== 0,
    write: (a.s2ap & 0b10) !== 0,
    exec: (a.xn & 0b10) === 0,
    ...(memType !== undefined ? { memType } : {}),
  };
}

/** Short text for a Prot: `rwx` letters, then flags (`priv`, `global`, `ns`, memType when not cached). */
export function protString(p: Prot): string {
  let s = (p.read ? 'r' : '-') + (p.write ? 'w' : '-') + (p.exec ? 'x' : '-');
  if (p.priv === true) s += ' priv';
  if (p.global === true) s += ' global';
  if (p.ns === true) s += ' ns';
  if (p.memType !== undefined && p.memType !== 'cached') s += ` ${p.memType}`;
  return s;
}
