/**
 * The tlbi description — what an unmap changed in one page table, as the page tables report it and the
 * engine's `tlbi` policy consumes it — and the one conversion between a list of levels and its bitmap.
 * It sits at the core root because both sides use it and neither may import the other (docs/architecture.md).
 */

/** A VMSAv8-64 lookup level (level 3 holds pages). */
export type Level = 0 | 1 | 2 | 3;

/** The levels in order, for iteration. */
export const LEVELS: readonly Level[] = [0, 1, 2, 3];

/**
 * What changed in a page table: the inclusive byte range [start, last], the levels (0-3) whose leaf
 * descriptors were cleared (including leaves made unreachable by a freed table), the levels of the table
 * descriptors that were cleared (a freed level-3 table is reported as 2, the level of the descriptor that
 * pointed to it), and the translation granule (4096, 16384 or 65536; it must equal the pgsize of every TLB
 * target). The range covers every cleared descriptor's span. Level lists are sorted, without repeats; their
 * values are Levels (plain numbers here, so that JSON input can be checked into one by parseTlbi).
 */
export interface TlbiDescription {
  readonly start: number;
  readonly last: number;
  readonly leafLevels: readonly number[];
  readonly tableLevels: readonly number[];
  readonly granule: number;
}

/** The bitmap of a list of levels (bit L = level L). */
export function levelMask(levels: readonly number[]): number {
  let m = 0;
  for (let k = 0; k < levels.length; k++) m |= 1 << levels[k]!;
  return m;
}

/** The sorted list of the levels set in a bitmap (bit L = level L; bits above 3 are ignored). */
export function levelsOf(mask: number): Level[] {
  return LEVELS.filter((l) => (mask & (1 << l)) !== 0);
}
