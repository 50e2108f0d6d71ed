/**
 * An independent mini-walker for the page-table tests: reads VMSAv8-64 descriptors from a PhysMemory with
 * BigInt arithmetic and its own geometry, without using anything from src/pgtable except the memory's
 * readU32. The tests judge the page-table code by what this walker finds in memory.
 */
import type { PhysMemory } from '../src/pgtable/memory.js';

export interface RefConfig {
  stage: 1 | 2;
  granule: number;
  ias: number;
  startLevel: number;
  rootPa: number;
}

/** log2 of the granule, by table lookup. */
export function refGranuleBits(granule: number): number {
  const bits = { 4096: 12, 16384: 14, 65536: 16 }[granule];
  if (bits === undefined) throw new Error(`bad granule ${granule}`);
  return bits;
}

/** The level whose tables, with the levels below, first cover `ias` bits. */
export function refStartLevel(granule: number, ias: number): number {
  const g = refGranuleBits(granule);
  for (let level = 3; level >= 0; level--) if (g + (4 - level) * (g - 3) >= ias) return level;
  throw new Error('ias too large');
}

/** Bytes one descriptor at `level` maps. */
export function refSpan(granule: number, level: number): number {
  const g = refGranuleBits(granule);
  return 2 ** (g + (3 - level) * (g - 3));
}

/** Block (leaf below level 3) permitted? 4K: levels 1 and 2; 16K and 64K: level 2 only. */
export function refBlockOk(granule: number, level: number): boolean {
  return granule === 4096 ? level === 1 || level === 2 : level === 2;
}

export function readDesc(mem: PhysMemory, pa: number): bigint {
  return BigInt(mem.readU32(pa)) | (BigInt(mem.readU32(pa + 4)) << 32n);
}

const OaMask48 = (1n << 48n) - 1n;

/** Output (or next-table) address of a descriptor, keeping bits [47:lowBit]. */
export function refAddress(desc: bigint, lowBit: number): number {
  return Number(((desc & OaMask48) >> BigInt(lowBit)) << BigInt(lowBit));
}

export type RefKind = 'table' | 'leaf' | 'fault';

export function refKind(desc: bigint, granule: number, level: number): RefKind {
  if ((desc & 1n) === 0n) return 'fault';
  const bit1 = (desc & 2n) !== 0n;
  if (level === 3) return bit1 ? 'leaf' : 'fault';
  if (bit1) return 'table';
  return refBlockOk(granule, level) ? 'leaf' : 'fault';
}

/** A valid descriptor found in memory. */
export interface RefEntry {
  level: number;
  /** First input address it covers. */
  iova: number;
  kind: 'table' | 'leaf';
  desc: bigint;
  /** Where the descriptor sits. */
  at: number;
  /** Output address (leaf) or next-table address (table). */
  target: number;
}

/** Every valid descriptor reachable from the root, keyed "level:iova". */
export function refSnapshot(mem: PhysMemory, cfg: RefConfig): Map<string, RefEntry> {
  const out = new Map<string, RefEntry>();
  const g = refGranuleBits(cfg.granule);
  const visit = (tablePa: number, level: number, base: number, entries: number): void => {
    const span = refSpan(cfg.granule, level);
    for (let i = 0; i < entries; i++) {
      const at = tablePa + i * 8;
      if ((mem.readU32(at) & 1) === 0) continue;
      const desc = readDesc(mem, at);
      const kind = refKind(desc, cfg.granule, level);
      if (kind === 'fault') continue;
      const iova = base + i * span;
      const target = refAddress(desc, kind === 'table' ? g : Math.log2(span));
      out.set(`${level}:${iova}`, { level, iova, kind, desc, at, target });
      if (kind === 'table') visit(target, level + 1, iova, 2 ** (g - 3));
    }
  };
  const rootEntries = 2 ** (cfg.ias - Math.log2(refSpan(cfg.granule, cfg.startLevel)));
  visit(cfg.rootPa, cfg.startLevel, 0, rootEntries);
  return out;
}

/** Translate one address by walking memory; null on a fault. */
export function refTranslate(mem: PhysMemory, cfg: RefConfig, iova: number): { pa: number; level: number } | null {
  const g = refGranuleBits(cfg.granule);
  let table = cfg.rootPa;
  for (let level = cfg.startLevel; level <= 3; level++) {
    const span = refSpan(cfg.granule, level);
    const index = Math.floor(iova / span) % 2 ** (g - 3);
    const desc = readDesc(mem, table + index * 8);
    const kind = refKind(desc, cfg.granule, level);
    if (kind === 'fault') return null;
    if (kind === 'table') {
      table = refAddress(desc, g);
      continue;
    }
    return { pa: refAddress(desc, Math.log2(span)) + (iova % span), level };
  }
  return null;
}
