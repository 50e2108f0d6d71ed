/**
 * The re-planning table: what one recovered request's row says (the stream's commands, what each policy
 * emits for the same request, why they differ), stored compactly, and how it is read — one row at a time,
 * as the --json document has it, the different ones only, or joined over the windows of a streamed audit.
 */
import { hexAddr } from '../bits.js';
import { nameOfOpcode } from './interpret.js';

/** Why a request's commands differ from the `linux` policy. */
export const DIFFERENCES = {
  'linux-whole-tag':
    'Linux 7.1 and later (the per-domain arm_smmu_invs driver) replace the per-granule loop by one whole-tag command (NH_ASID / S12_VMALL) when, without range invalidation, the size reaches 512 × granule (arm_smmu_inv_size_too_big); older drivers (6.1 to 7.0) had no such threshold for DMA domains and issue the loop',
  'non-leaf-ttl':
    'the stream sets a TTL hint on a non-leaf (walk-cache) invalidation; since "Set TTL invalidation hint better" (6833b8f2e199) Linux leaves TTL=0 there, because a TTL hint with Leaf=0 is not required to remove blocks at other levels',
  'non-leaf-no-extra-page':
    'the stream invalidates a non-leaf range of N pages with N & 31 == 1 as-is; Linux since eb6c97647be2 adds one page so that no command has SCALE=NUM=TTL=0 with TG≠0 (a reserved, CERROR_ILL encoding)',
  split:
    "the same span, but cut into commands differently from Linux's loop (SCALE = lowest set bit of the remaining page count, NUM = the next 5 bits)",
  span: 'the commands cover a different span than any single Linux request would (e.g. rounded, partial, or merged with a neighbour)',
  'not-plannable':
    'the engine has no target for this command (NH_VAA, EL2_VAA, EL3_*) or the request is outside what it plans',
} as const;
export type DifferenceId = keyof typeof DIFFERENCES;

export interface ReplanRow {
  readonly batch: number;
  /** Entry indices of the stream's commands for this request. */
  readonly entries: readonly number[];
  readonly command: string;
  readonly asid: number;
  readonly vmid: number;
  /** size 0 = everything (whole-tag). */
  readonly iova: number;
  readonly size: number;
  readonly granule: number;
  readonly leaf: boolean;
  readonly pgsize: number;
  readonly streamCommands: number;
  /** Commands (CMD_SYNC excluded) and CMD_SYNCs each policy emits; −1 when not plannable. */
  readonly linuxCommands: number;
  readonly linuxSyncs: number;
  readonly tlbiCommands: number;
  readonly tlbiSyncs: number;
  readonly identical: boolean;
  readonly difference: DifferenceId | null;
}

export interface ReplanSummary {
  readonly requests: number;
  readonly identical: number;
  readonly different: number;
  readonly notPlannable: number;
  readonly stream: { commands: number; syncs: number };
  readonly linux: { commands: number; syncs: number };
  readonly tlbi: { commands: number; syncs: number };
  readonly differences: Partial<Record<DifferenceId, number>>;
  readonly rows: ReplanRow[];
  /** True when the stream was rebuilt from a trace (NUM/SCALE compared in canonical form). */
  readonly fromTrace: boolean;
}

/** The target of a run: opcode, ASID and VMID (0 where the command has none). */
export interface Target {
  op: number;
  asid: number;
  vmid: number;
}

export const DIFFERENCE_IDS = Object.keys(DIFFERENCES) as DifferenceId[];

/**
 * The re-planning table, stored compactly (one slot per request in typed arrays, the entry indices of all
 * requests in one pool): a stream of 2^19 entries has a quarter of a million requests, and one object per
 * request (plus its entries array and boxed addresses) cost more than everything else in the audit. The
 * `ReplanRow` objects are made only when someone reads `rows`.
 */
export class RowTable {
  n = 0;
  private pooled = 0;
  readonly batch: Int32Array;
  /** First index in `pool` of each row's entries; the count is `streamCommands`. */
  readonly poolStart: Int32Array;
  readonly pool: Int32Array;
  readonly op: Uint8Array;
  readonly asid: Int32Array;
  readonly vmid: Int32Array;
  readonly iova: Float64Array;
  readonly size: Float64Array;
  readonly granule: Float64Array;
  readonly pgsize: Float64Array;
  /** Bit 0: leaf; bit 1: identical. */
  readonly bits: Uint8Array;
  readonly streamCommands: Int32Array;
  readonly linuxCommands: Int32Array;
  readonly linuxSyncs: Int32Array;
  readonly tlbiCommands: Int32Array;
  readonly tlbiSyncs: Int32Array;
  /** Index in DIFFERENCE_IDS, or −1 for none. */
  readonly difference: Int8Array;

  /** `capacity` rows holding `poolCapacity` entries in all (each TLBI of the stream is in at most one row). */
  constructor(capacity: number, poolCapacity: number) {
    const c = Math.max(1, capacity);
    this.batch = new Int32Array(c);
    this.poolStart = new Int32Array(c);
    this.pool = new Int32Array(Math.max(1, poolCapacity));
    this.op = new Uint8Array(c);
    this.asid = new Int32Array(c);
    this.vmid = new Int32Array(c);
    this.iova = new Float64Array(c);
    this.size = new Float64Array(c);
    this.granule = new Float64Array(c);
    this.pgsize = new Float64Array(c);
    this.bits = new Uint8Array(c);
    this.streamCommands = new Int32Array(c);
    this.linuxCommands = new Int32Array(c);
    this.linuxSyncs = new Int32Array(c);
    this.tlbiCommands = new Int32Array(c);
    this.tlbiSyncs = new Int32Array(c);
    this.difference = new Int8Array(c);
  }

  /** Append a row; returns its index. The plan counts are set by the caller. */
  push(
    batch: number,
    run: readonly number[],
    op: number,
    t: Target,
    iova: number,
    size: number,
    granule: number,
    leaf: boolean,
    pgsize: number,
    identical: boolean,
  ): number {
    const k = this.n++;
    this.batch[k] = batch;
    this.poolStart[k] = this.pooled;
    for (let j = 0; j < run.length; j++) this.pool[this.pooled++] = run[j]!;
    this.op[k] = op;
    this.asid[k] = t.asid;
    this.vmid[k] = t.vmid;
    this.iova[k] = iova;
    this.size[k] = size;
    this.granule[k] = granule;
    this.pgsize[k] = pgsize;
    this.bits[k] = (leaf ? 1 : 0) | (identical ? 2 : 0);
    this.streamCommands[k] = run.length;
    return k;
  }

  identical(k: number): boolean {
    return (this.bits[k]! & 2) !== 0;
  }

  /** Row k as the public object. */
  row(k: number): ReplanRow {
    const p = this.poolStart[k]!;
    const d = this.difference[k]!;
    return {
      batch: this.batch[k]!,
      entries: Array.from(this.pool.subarray(p, p + this.streamCommands[k]!)),
      command: nameOfOpcode(this.op[k]!),
      asid: this.asid[k]!,
      vmid: this.vmid[k]!,
      iova: this.iova[k]!,
      size: this.size[k]!,
      granule: this.granule[k]!,
      leaf: (this.bits[k]! & 1) !== 0,
      pgsize: this.pgsize[k]!,
      streamCommands: this.streamCommands[k]!,
      linuxCommands: this.linuxCommands[k]!,
      linuxSyncs: this.linuxSyncs[k]!,
      tlbiCommands: this.tlbiCommands[k]!,
      tlbiSyncs: this.tlbiSyncs[k]!,
      identical: this.identical(k),
      difference: d < 0 ? null : DIFFERENCE_IDS[d]!,
    };
  }

  rows(): ReplanRow[] {
    const out: ReplanRow[] = new Array<ReplanRow>(this.n);
    for (let k = 0; k < this.n; k++) out[k] = this.row(k);
    return out;
  }
}

/** The compact table behind each summary `replan` returned (for `differentRows`). */
export const TABLES = new WeakMap<ReplanSummary, RowTable>();

/** A re-planning row as the --json document has it (addresses and sizes as hex strings). */
export type ReplanRowJson = Omit<ReplanRow, 'iova' | 'size' | 'granule'> & {
  iova: string;
  size: string;
  granule: string;
};

function rowToJson(row: ReplanRow): ReplanRowJson {
  return {
    ...row,
    iova: hexAddr(row.iova),
    size: hexAddr(row.size),
    granule: hexAddr(row.granule),
    pgsize: row.pgsize,
  };
}

/**
 * The summary as the --json document has it: its fields in order, rows with hex addresses. Made straight from
 * the compact table (no ReplanRow objects in between) when the summary came from `replan`.
 */
export function replanToJson(rp: ReplanSummary): Record<string, unknown> {
  const parts = PARTS.get(rp);
  if (parts) {
    const rows: ReplanRowJson[] = [];
    for (const p of parts)
      for (let k = 0, n = replanRowCount(p.rp); k < n; k++)
        rows.push(replanRowJson(p.rp, k, p.entryOffset, p.batchOffset));
    return { ...replanTotals(rp), rows, fromTrace: rp.fromTrace };
  }
  const t = TABLES.get(rp);
  if (!t) return { ...rp, rows: rp.rows.map(rowToJson) };
  const rows: ReplanRowJson[] = new Array<ReplanRowJson>(t.n);
  for (let k = 0; k < t.n; k++) rows[k] = replanRowJson(rp, k);
  return { ...replanTotals(rp), rows, fromTrace: rp.fromTrace };
}

/** The summary's counts without its rows (the --json summary of a streamed audit). */
export function replanTotals(rp: ReplanSummary): Omit<ReplanSummary, 'rows' | 'fromTrace'> {
  return {
    requests: rp.requests,
    identical: rp.identical,
    different: rp.different,
    notPlannable: rp.notPlannable,
    stream: rp.stream,
    linux: rp.linux,
    tlbi: rp.tlbi,
    differences: rp.differences,
  };
}

/** Number of rows of a summary (read one at a time with `replanRow` / `replanRowJson`). */
export function replanRowCount(rp: ReplanSummary): number {
  return TABLES.get(rp)?.n ?? rp.rows.length;
}

export function replanRowIdentical(rp: ReplanSummary, k: number): boolean {
  const t = TABLES.get(rp);
  return t ? t.identical(k) : rp.rows[k]!.identical;
}

/** Row k, its entry indices moved by `entryOffset` and its batch by `batchOffset` (a window of a stream). */
export function replanRow(rp: ReplanSummary, k: number, entryOffset = 0, batchOffset = 0): ReplanRow {
  const t = TABLES.get(rp);
  const row = t ? t.row(k) : rp.rows[k]!;
  if (entryOffset === 0 && batchOffset === 0) return row;
  return { ...row, batch: row.batch + batchOffset, entries: row.entries.map((e) => e + entryOffset) };
}

/** Row k as the --json document has it, moved as `replanRow` does. Made straight from the compact table. */
export function replanRowJson(rp: ReplanSummary, k: number, entryOffset = 0, batchOffset = 0): ReplanRowJson {
  const t = TABLES.get(rp);
  if (!t) return rowToJson(replanRow(rp, k, entryOffset, batchOffset));
  const p = t.poolStart[k]!;
  const d = t.difference[k]!;
  const n = t.streamCommands[k]!;
  const entries = new Array<number>(n);
  for (let j = 0; j < n; j++) entries[j] = t.pool[p + j]! + entryOffset;
  // The keys in ReplanRow's order (as `{ ...row, iova, size, granule, pgsize }` gives them).
  return {
    batch: t.batch[k]! + batchOffset,
    entries,
    command: nameOfOpcode(t.op[k]!),
    asid: t.asid[k]!,
    vmid: t.vmid[k]!,
    iova: hexAddr(t.iova[k]!),
    size: hexAddr(t.size[k]!),
    granule: hexAddr(t.granule[k]!),
    leaf: (t.bits[k]! & 1) !== 0,
    pgsize: t.pgsize[k]!,
    streamCommands: n,
    linuxCommands: t.linuxCommands[k]!,
    linuxSyncs: t.linuxSyncs[k]!,
    tlbiCommands: t.tlbiCommands[k]!,
    tlbiSyncs: t.tlbiSyncs[k]!,
    identical: t.identical(k),
    difference: d < 0 ? null : DIFFERENCE_IDS[d]!,
  };
}

/**
 * The first `max` rows that are not identical to the linux policy, in order, without making the other rows'
 * objects (the readable report lists only these).
 */
export function differentRows(rp: ReplanSummary, max: number): ReplanRow[] {
  const parts = PARTS.get(rp);
  if (parts) {
    const out: ReplanRow[] = [];
    for (const p of parts)
      for (let k = 0, n = replanRowCount(p.rp); k < n && out.length < max; k++)
        if (!replanRowIdentical(p.rp, k)) out.push(replanRow(p.rp, k, p.entryOffset, p.batchOffset));
    return out;
  }
  const t = TABLES.get(rp);
  if (!t) return rp.rows.filter((x) => !x.identical).slice(0, max);
  const out: ReplanRow[] = [];
  for (let k = 0; k < t.n && out.length < max; k++) if (!t.identical(k)) out.push(t.row(k));
  return out;
}

/** One window's re-planning, and where its entries and batches sit in the whole stream. */
export interface ReplanPart {
  readonly rp: ReplanSummary;
  readonly entryOffset: number;
  readonly batchOffset: number;
}

/** The windows behind a joined summary (see `joinReplan`). */
const PARTS = new WeakMap<ReplanSummary, readonly ReplanPart[]>();

/**
 * The summary of a stream re-planned a window at a time: `totals` summed over the windows, and either every
 * window's rows (`parts`: made into row objects only when `rows` is read) or the rows kept (`rows`).
 */
export function joinReplan(
  totals: Omit<ReplanSummary, 'rows' | 'fromTrace'>,
  fromTrace: boolean,
  parts: readonly ReplanPart[] | null,
  kept: ReplanRow[],
): ReplanSummary {
  if (parts === null) return { ...totals, rows: kept, fromTrace };
  let rows: ReplanRow[] | null = null;
  const summary: ReplanSummary = {
    ...totals,
    get rows(): ReplanRow[] {
      if (rows === null) {
        rows = [];
        for (const p of parts)
          for (let k = 0, n = replanRowCount(p.rp); k < n; k++)
            rows.push(replanRow(p.rp, k, p.entryOffset, p.batchOffset));
      }
      return rows;
    },
    fromTrace,
  };
  PARTS.set(summary, parts);
  return summary;
}
