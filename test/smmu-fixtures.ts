/**
 * Hand-written translation tables for the SMMU model's tests: descriptors are written bit by bit here (not
 * through the page-table module), so the walker is checked against the architecture's encoding directly.
 */
import { encodeHalves, makeCommand, CommandChecker, type Command, type CommandName } from '../src/cmdq/index.js';
import { PhysMemory } from '../src/pgtable/memory.js';
import { SmmuModel, type SmmuModelOptions } from '../src/smmu/model.js';
import type { TableConfig } from '../src/smmu/walker.js';

export const VALID = 1;
export const TABLE = 2; // bit 1: table (levels 0-2) or page (level 3)
export const AF = 1 << 10;
export const NG = 1 << 11;
export const AP_RO = 1 << 7; // stage 1 AP[2]
export const S2_R = 1 << 6;
export const S2_W = 1 << 7;

/** Stage-1 read/write, non-global leaf attributes. */
export const S1_RW = AF | NG;
/** Stage-1 global leaf. */
export const S1_GLOBAL = AF;
/** Stage-2 read/write. */
export const S2_RW = AF | S2_R | S2_W;

/** Span shift of a level for a granule shift g. */
export function shiftOf(g: number, level: number): number {
  return g + (3 - level) * (g - 3);
}

function write64(mem: PhysMemory, pa: number, value: number, attrLo: number, hiBits = 0): void {
  const lo = (value % 2 ** 32) >>> 0;
  const hi = Math.floor(value / 2 ** 32);
  mem.write64(pa, (lo | attrLo) >>> 0, (hi | hiBits) >>> 0);
}

/** A table built by hand: explicit frame addresses, descriptors written with raw bits. */
export class HandTable {
  readonly cfg: TableConfig;
  constructor(
    readonly mem: PhysMemory,
    root: number,
    readonly g = 12,
    ias = 48,
    stage: 1 | 2 = 1,
  ) {
    this.cfg = { root, granuleLog2: g, ias, stage };
  }

  private slot(table: number, level: number, va: number): number {
    const idx = Math.floor(va / 2 ** shiftOf(this.g, level)) % 2 ** (this.g - 3);
    return table + idx * 8;
  }

  /** Table descriptor at `level` of `table` for `va`, pointing at `next`. */
  table(table: number, level: number, va: number, next: number): void {
    write64(this.mem, this.slot(table, level, va), next, VALID | TABLE);
  }

  /** Page (level 3) descriptor. */
  page(table: number, va: number, out: number, attrs = S1_RW, hi = 0): void {
    write64(this.mem, this.slot(table, 3, va), out, VALID | TABLE | attrs, hi);
  }

  /** Block descriptor at level 1 or 2. */
  block(table: number, level: number, va: number, out: number, attrs = S1_RW, hi = 0): void {
    write64(this.mem, this.slot(table, level, va), out, VALID | attrs, hi);
  }

  clear(table: number, level: number, va: number): void {
    this.mem.write64(this.slot(table, level, va), 0, 0);
  }
}

/** Encode a command through the codec into its halves. */
export function cmd<N extends CommandName>(
  name: N,
  fields: Partial<Record<string, number>> = {},
  checker?: CommandChecker,
): number[] {
  return encodeHalves(makeCommand(name, fields as never) as Command, checker);
}

/** Submit commands (halves arrays) to a model's queue. */
export function submit(model: SmmuModel, ...cmds: number[][]): void {
  const u32 = new Uint32Array(cmds.length * 4);
  cmds.forEach((c, i) => u32.set(c, i * 4));
  model.submit(u32, 0, cmds.length);
}

export const SYNC = (): number[] => cmd('CMD_SYNC', { cs: 2, msh: 3, msiattr: 15 });

export function newModel(opts: SmmuModelOptions = {}): { mem: PhysMemory; model: SmmuModel } {
  const mem = new PhysMemory();
  return { mem, model: new SmmuModel(mem, { trafficPerRound: 0, ...opts }) };
}
