/**
 * The tlbi description recovered from a stream: given the Linux request a run of TLBIs came from (replan-linux.ts),
 * which levels of the table it changed, as far as the request tells — what the re-planner hands the `tlbi`
 * policy. Also the two small power-of-two helpers the re-planning modules share.
 */
import type { RangeRequest, TlbiDescription } from '../tlbi/index.js';
import { levelShift, log2Of } from '../units.js';

/** 2^n for n in [0, 63] (a table: `2 ** n` with a variable n is a slow library call). */
export const POW2 = new Float64Array(64).map((_, n) => 2 ** n);

/** x is a multiple of m (m a power of two: exact, no float remainder). */
export function isMultiple(x: number, m: number): boolean {
  return Math.floor(x / m) * m === x;
}

const NONE: readonly number[] = [];
const LEVELS: readonly (readonly number[])[] = [[0], [1], [2], [3]];

/** A tlbi description that can be rewritten (the re-planner reuses one). */
export interface MutableDescription {
  start: number;
  last: number;
  leafLevels: readonly number[];
  tableLevels: readonly number[];
  granule: number;
}

export const DESC: MutableDescription = { start: 0, last: 0, leafLevels: NONE, tableLevels: NONE, granule: 4096 };

/** Table levels lvl..2 and leaf levels lvl+1..3 of a walk flush under a level-lvl descriptor (lvl 1 or 2). */
const WALK_TABLES: readonly (readonly number[])[] = [[], [1, 2], [2]];
const WALK_LEAVES: readonly (readonly number[])[] = [[], [2, 3], [3]];

/**
 * `tlbiDescription` written into `d` (shared, read-only level lists): what the re-planner plans with, so
 * that a request allocates nothing. Same result as `tlbiDescription` for size ≠ 0.
 */
export function tlbiDescriptionInto(d: MutableDescription, req: RangeRequest, pgsize: number): TlbiDescription {
  const pgShift = 31 - Math.clz32(pgsize);
  d.start = req.iova;
  d.last = req.iova + req.size - 1;
  d.granule = pgsize;
  if (req.leaf) {
    let level = 3;
    for (let l = 1; l <= 3; l++) if (POW2[levelShift(pgShift, l)]! === req.granule) level = l;
    d.leafLevels = LEVELS[level]!;
    d.tableLevels = NONE;
    return d;
  }
  let lvl = 2;
  for (let l = 1; l <= 2; l++) {
    const bs = POW2[levelShift(pgShift, l)]!;
    if (isMultiple(req.iova, bs) && isMultiple(req.size, bs)) {
      lvl = l;
      break;
    }
  }
  d.tableLevels = WALK_TABLES[lvl]!;
  d.leafLevels = WALK_LEAVES[lvl]!;
  return d;
}

/** The tlbi description of a Linux request: which levels changed, as far as the request tells. */
export function tlbiDescription(req: RangeRequest, pgsize: number): TlbiDescription | null {
  if (req.size === 0) return null;
  const pgShift = log2Of(pgsize);
  const start = req.iova;
  const last = req.iova + req.size - 1;
  if (req.leaf) {
    let level = 3;
    for (let l = 1; l <= 3; l++) if (2 ** levelShift(pgShift, l) === req.granule) level = l;
    return { start, last, leafLevels: LEVELS[level]!, tableLevels: NONE, granule: pgsize };
  }
  // A walk flush: a table freed under a descriptor at the shallowest level whose block size divides both
  // the address and the size; leaves below it may have been cleared at any deeper level.
  let lvl = 2;
  for (let l = 1; l <= 2; l++) {
    const bs = 2 ** levelShift(pgShift, l);
    if (req.iova % bs === 0 && req.size % bs === 0) {
      lvl = l;
      break;
    }
  }
  const tableLevels: number[] = [];
  for (let l = lvl; l <= 2; l++) tableLevels.push(l);
  const leafLevels: number[] = [];
  for (let l = lvl + 1; l <= 3; l++) leafLevels.push(l);
  return { start, last, leafLevels, tableLevels, granule: pgsize };
}
