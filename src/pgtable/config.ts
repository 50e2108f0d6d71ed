/**
 * Translation-table geometry (VMSAv8-64, no 52-bit addressing, no concatenated start tables): which levels
 * a table of a given granule and input size uses, how many bits each level resolves, and which levels may
 * hold a block.
 *
 * With granule shift g (12, 14, 16) each table holds 2^(g-3) eight-byte descriptors, so each level resolves
 * b = g - 3 address bits. Level 3 is always the last level and resolves bits [g + b - 1 : g]; level L
 * resolves the b bits above level L + 1. The start level is the highest level needed to cover `ias` bits;
 * its table may hold fewer than 2^b entries (e.g. 64K granule, 48-bit input: a level-1 table of 64 entries).
 */
import type { Level } from '../tlbi-description.js';
import { levelShift, log2Of } from '../units.js';
import { PageTableError } from './errors.js';

export type Stage = 1 | 2;
export type Granule = 4096 | 16384 | 65536;
export type { Level };

export const GRANULES: readonly Granule[] = [4096, 16384, 65536];
export const MinInputBits = 32;
export const MaxInputBits = 48;
export const MinOutputBits = 32;
export const MaxOutputBits = 48;
/** The last level of every walk. */
export const LastLevel = 3;
/** Bytes per descriptor. */
export const DescriptorBytes = 8;

/**
 * What a walker needs to read a table from memory alone: the stage, the granule, the input and output
 * sizes, the start level and the physical address of the start-level table (what TTBR / VTTBR points at).
 */
export interface PageTableConfig {
  readonly stage: Stage;
  readonly granule: Granule;
  /** Input address size in bits (VA for stage 1, IPA for stage 2): T0SZ = 64 - ias. */
  readonly ias: number;
  /** Output address size in bits (IPS / PS). */
  readonly oas: number;
  readonly startLevel: Level;
  /** Physical address of the start-level table. */
  readonly rootPa: number;
}

/** Address bits resolved by one full table of this granule (g - 3). */
export function bitsPerLevel(granule: Granule): number {
  return log2Of(granule) - 3;
}

/** Bytes mapped by one descriptor at `level`. */
export function levelSpan(granule: Granule, level: number): number {
  return 2 ** levelShift(log2Of(granule), level);
}

/** The start level for an input size: the level whose descriptors together cover `ias` bits. */
export function startLevelFor(granule: Granule, ias: number): Level {
  const g = log2Of(granule);
  const levels = Math.ceil((ias - g) / (g - 3));
  return (4 - levels) as Level;
}

/** Descriptors in the table at `level` (fewer than a full table only at the start level). */
export function entriesAt(granule: Granule, ias: number, level: number): number {
  const start = startLevelFor(granule, ias);
  if (level === start) return 2 ** (ias - levelShift(log2Of(granule), level));
  return 2 ** bitsPerLevel(granule);
}

/**
 * True when a leaf (block or page) descriptor may sit at `level`. Level 3 holds pages; level 2 holds blocks
 * in every granule (2M, 32M, 512M); level 1 holds 1G blocks with the 4K granule only (16K and 64K would need
 * FEAT_LPA2/DS or 52-bit output); level 0 never holds a block here.
 */
export function leafAllowed(granule: Granule, level: number): boolean {
  if (level === 3 || level === 2) return true;
  return level === 1 && granule === 4096;
}

/** The leaf sizes this granule supports, largest first, with their levels. */
export function leafSizes(granule: Granule): { level: Level; size: number }[] {
  const out: { level: Level; size: number }[] = [];
  for (let l = 1; l <= 3; l++)
    if (leafAllowed(granule, l)) out.push({ level: l as Level, size: levelSpan(granule, l) });
  return out;
}

/** Options for building a page table. */
export interface GeometryInput {
  stage: Stage;
  granule: number;
  ias: number;
  oas: number;
}

/** Check a stage / granule / ias / oas combination; returns it typed, or throws a PageTableError naming the field. */
export function checkGeometry(input: GeometryInput): { stage: Stage; granule: Granule; ias: number; oas: number } {
  const { stage, granule, ias, oas } = input;
  if (stage !== 1 && stage !== 2)
    throw new PageTableError('bad-config', 'stage', `must be 1 or 2 (got ${String(stage)})`);
  if (!(GRANULES as readonly number[]).includes(granule))
    throw new PageTableError('bad-config', 'granule', `must be 4096, 16384 or 65536 (got ${String(granule)})`);
  if (!Number.isInteger(ias) || ias < MinInputBits || ias > MaxInputBits)
    throw new PageTableError(
      'bad-config',
      'ias',
      `must be an integer from ${MinInputBits} to ${MaxInputBits} (got ${String(ias)})`,
    );
  if (!Number.isInteger(oas) || oas < MinOutputBits || oas > MaxOutputBits)
    throw new PageTableError(
      'bad-config',
      'oas',
      `must be an integer from ${MinOutputBits} to ${MaxOutputBits} (got ${String(oas)})`,
    );
  return { stage, granule: granule as Granule, ias, oas };
}
