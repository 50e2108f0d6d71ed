/**
 * Reading a table: the leaf (or its level) translating one address, a walk listing every descriptor read,
 * every leaf in address order, and the teardown that frees every frame. Only `release` changes anything.
 */
import { hex64, modFloor } from '../bits.js';
import { DescriptorBytes, LastLevel } from './config.js';
import type { Level } from './config.js';
import {
  DescTypeTableOrPage,
  DescValid,
  decodeLeafAttrs,
  descriptorKind,
  leafAddress,
  tableAddress,
} from './descriptor.js';
import type { ExistingLeaf } from './errors.js';
import type { TableStore } from './store.js';
import type { WalkResult, WalkStep } from './types.js';

/** Level of the leaf translating `iova`, or -1 (no allocation). */
export function leafLevelAt(t: TableStore, iova: number): number {
  const mem = t.memory;
  let tablePa = t.config.rootPa;
  for (let level = t.start as number; level <= LastLevel; level++) {
    const dpa = t.descriptorFor(tablePa, level, iova);
    const lo = mem.readLo(dpa);
    if ((lo & DescValid) === 0) return -1;
    const bit1 = (lo & DescTypeTableOrPage) !== 0;
    if (level === LastLevel) return bit1 ? level : -1;
    if (!bit1) return t.leafOk[level]! ? level : -1;
    tablePa = tableAddress(lo, mem.readHi(dpa), t.granule);
  }
  return -1;
}

/** The leaf translating `iova`, or null. */
export function leafAt(t: TableStore, iova: number): ExistingLeaf | null {
  const mem = t.memory;
  let tablePa = t.config.rootPa;
  for (let level = t.start as number; level <= LastLevel; level++) {
    const span = t.spans[level]!;
    const dpa = t.descriptorFor(tablePa, level, iova);
    const lo = mem.readLo(dpa);
    const kind = descriptorKind(lo, level, t.granule);
    if (kind === 'table') tablePa = tableAddress(lo, mem.readHi(dpa), t.granule);
    else if (kind === 'block' || kind === 'page')
      return {
        iova: Math.floor(iova / span) * span,
        size: span,
        pa: leafAddress(lo, mem.readHi(dpa), t.granule, level),
        level,
      };
    else return null;
  }
  return null;
}

/** Walk the table for `iova` (already checked), listing every descriptor read. */
export function walkTable(t: TableStore, iova: number): WalkResult {
  const mem = t.memory;
  const steps: WalkStep[] = [];
  let tablePa = t.config.rootPa;
  for (let level = t.start as number; level <= LastLevel; level++) {
    const span = t.spans[level]!;
    const index = modFloor(Math.floor(iova / span), t.tableEntries);
    const descriptorPa = tablePa + index * DescriptorBytes;
    const lo = mem.readLo(descriptorPa);
    const hi = mem.readHi(descriptorPa);
    const kind = descriptorKind(lo, level, t.granule);
    steps.push({ level: level as Level, tablePa, index, descriptorPa, lo, hi, hex: hex64(lo, hi), kind });
    if (kind === 'table') {
      tablePa = tableAddress(lo, hi, t.granule);
      continue;
    }
    if (kind === 'block' || kind === 'page') {
      const base = Math.floor(iova / span) * span;
      const pa = leafAddress(lo, hi, t.granule, level);
      return {
        iova,
        steps,
        leaf: {
          level: level as Level,
          kind,
          iova: base,
          size: span,
          pa,
          attrs: decodeLeafAttrs(t.config.stage, lo, hi),
        },
        pa: pa + (iova - base),
      };
    }
    break;
  }
  return { iova, steps, leaf: null, pa: null };
}

/** Every leaf in the table in address order (for dumps and tests; allocates one object per leaf). */
export function allLeaves(t: TableStore): ExistingLeaf[] {
  const out: ExistingLeaf[] = [];
  const visit = (tablePa: number, level: number, base: number, count: number): void => {
    const span = t.spans[level]!;
    for (let i = 0; i < count; i++) {
      const dpa = tablePa + i * DescriptorBytes;
      const lo = t.memory.readLo(dpa);
      const kind = descriptorKind(lo, level, t.granule);
      const iova = base + i * span;
      if (kind === 'table') visit(tableAddress(lo, t.memory.readHi(dpa), t.granule), level + 1, iova, t.tableEntries);
      else if (kind === 'block' || kind === 'page')
        out.push({ iova, size: span, pa: leafAddress(lo, t.memory.readHi(dpa), t.granule, level), level });
    }
  };
  visit(t.config.rootPa, t.start, 0, t.rootEntries);
  return out;
}

/** Free every table frame, the start-level table included, without clearing any descriptor; the count freed. */
export function releaseAll(t: TableStore): number {
  let n = 0;
  const visit = (tablePa: number, level: number, count: number): void => {
    for (let i = 0; i < count && level < LastLevel; i++) {
      const dpa = tablePa + i * DescriptorBytes;
      const lo = t.memory.readLo(dpa);
      if (descriptorKind(lo, level, t.granule) === 'table')
        visit(tableAddress(lo, t.memory.readHi(dpa), t.granule), level + 1, t.tableEntries);
    }
    t.freeTable(tablePa);
    n++;
  };
  visit(t.config.rootPa, t.start, t.rootEntries);
  return n;
}
