/**
 * Re-planning: recover, from each batch's TLBIs, the invalidation requests they served, run the engine on
 * them under the `linux` and `tlbi` policies, and compare with what the stream did.
 *
 * A request is a run of TLBIs of one target (opcode class, ASID, VMID) in one batch, in queue order, that
 * share TG, TTL and Leaf and cover contiguous addresses (range commands), or step by one constant stride
 * (TG=0 commands: one command per granule, as without range invalidation). A whole-tag TLBI (NH_ASID,
 * EL2_ASID, S12_VMALL) is a request for everything (size 0). When a run is not what Linux emits for one
 * request, it is split greedily into the longest prefixes that are, so that two requests queued under one
 * CMD_SYNC are still recognised.
 *
 * The engine is only used to plan here; whether the stream is right is judged by rules.ts.
 */
import { hexAddr } from '../bits.js';
import { Opcode } from '../cmdq/index.js';
import {
  PlanOutput,
  invalidateRange,
  invsOf,
  tlbiInv,
  type InvKey,
  type Invs,
  type RangeRequest,
  type SmmuTable,
  type TlbiDescription,
} from '../tlbi/index.js';
import { Kind, batchEnd, batchStart, nameOfOpcode, type Interpreted } from './interpret.js';
import type { AuditStream } from './stream.js';
import { granuleLog2OfTg, levelShift, log2Of } from '../units.js';

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

export interface ReplanOptions {
  /** Nested VMIDs: their S2 targets get an S2_VMID_S1_CLEAR entry. */
  readonly nestedVmids: readonly number[];
  /** Page size assumed for a lone TG=0 command (default 4096). */
  readonly pageSize?: number;
  /**
   * The SMMU has IDR5.DS (from the registers, --idr5 or the capture): the engine plans with the 6-bit SCALE
   * (up to 39), as a DS-aware Linux does (default false).
   */
  readonly ds?: boolean;
  /** Called every so often with (batches done, total). */
  readonly onProgress?: (done: number, total: number) => void;
}

/** One SMMU's options, indexed by ds × 4 + ril × 2 + e2h. */
const SMMU_TABLES: readonly SmmuTable[] = [false, true].flatMap((ds) =>
  [false, true].flatMap((ril) => [false, true].map((e2h): SmmuTable => [{ ril, e2h, forceSync: false, ds }])),
);

function smmuTable(ril: boolean, op: number, ds: boolean): SmmuTable {
  return SMMU_TABLES[(ds ? 4 : 0) + (ril ? 2 : 0) + (isE2h(op) ? 1 : 0)]!;
}

/** 2^n for n in [0, 63] (a table: `2 ** n` with a variable n is a slow library call). */
const POW2 = new Float64Array(64).map((_, n) => 2 ** n);

/** x is a multiple of m (m a power of two: exact, no float remainder). */
function isMultiple(x: number, m: number): boolean {
  return Math.floor(x / m) * m === x;
}

/** Addresses the engine plans (52-bit). */
const ADDRESS_LIMIT = 2 ** 52;

/** Leaf sizes (page and block sizes) per page size, as the engine accepts them. */
const LEAF_SIZES: ReadonlyMap<number, readonly number[]> = new Map(
  [12, 14, 16].map((g) => [2 ** g, [3, 2, 1].map((l) => 2 ** levelShift(g, l)).filter((x) => x <= 2 ** 42)]),
);

/** A request the engine can plan for targets of this page size (what its edge validation would accept). */
function plannableRequest(req: RangeRequest, pgsize: number): boolean {
  if (req.iova + req.size > ADDRESS_LIMIT) return false;
  if (req.size === 0) return true;
  const sizes = LEAF_SIZES.get(pgsize);
  if (!sizes || !sizes.includes(req.granule)) return false;
  // granule and pgsize are powers of two here (leaf sizes of a page size).
  return (
    isMultiple(req.iova, req.granule) &&
    isMultiple(req.size, req.granule) &&
    isMultiple(req.iova, pgsize) &&
    isMultiple(req.size, pgsize)
  );
}

/** A request recovered from a run, with the page size and RIL of the SMMU it is planned for. */
interface Candidate {
  req: RangeRequest;
  pgsize: number;
  ril: boolean;
}

/** The primary candidate of the run being planned (one reused object; rows copy its values). */
const PRIMARY: { req: { iova: number; size: number; granule: number; leaf: boolean }; pgsize: number; ril: boolean } = {
  req: { iova: 0, size: 0, granule: 4096, leaf: false },
  pgsize: 4096,
  ril: true,
};

/** The candidate of a whole-tag command: everything (size 0). Never modified. */
const WHOLE: Candidate = { req: { iova: 0, size: 0, granule: 4096, leaf: false }, pgsize: 4096, ril: true };

/** Greedy splitting is tried on runs up to this many commands. */
const GREEDY_LIMIT = 64;

interface Target {
  op: number;
  asid: number;
  vmid: number;
}

function plannable(op: number): boolean {
  return (
    op === Opcode.TLBI_NH_VA ||
    op === Opcode.TLBI_EL2_VA ||
    op === Opcode.TLBI_S2_IPA ||
    op === Opcode.TLBI_NH_ASID ||
    op === Opcode.TLBI_EL2_ASID ||
    op === Opcode.TLBI_S12_VMALL
  );
}

function isS2(op: number): boolean {
  return op === Opcode.TLBI_S2_IPA || op === Opcode.TLBI_S12_VMALL;
}

function isE2h(op: number): boolean {
  return op === Opcode.TLBI_EL2_VA || op === Opcode.TLBI_EL2_ASID;
}

const DIFFERENCE_IDS = Object.keys(DIFFERENCES) as DifferenceId[];

/**
 * The re-planning table, stored compactly (one slot per request in typed arrays, the entry indices of all
 * requests in one pool): a stream of 2^19 entries has a quarter of a million requests, and one object per
 * request (plus its entries array and boxed addresses) cost more than everything else in the audit. The
 * `ReplanRow` objects are made only when someone reads `rows`.
 */
class RowTable {
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
const TABLES = new WeakMap<ReplanSummary, RowTable>();

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

class Replanner {
  private readonly out = new PlanOutput(1024);
  readonly table: RowTable;
  /** Commands (CMD_SYNC excluded) and CMD_SYNCs of `out`, set by counts(). */
  private planCommands = 0;
  private planSyncs = 0;
  private readonly nested: Set<number>;
  private readonly pageSize: number;
  private readonly ds: boolean;
  private readonly invsCache = new Map<number, Invs>();

  constructor(
    private readonly s: AuditStream,
    private readonly r: Interpreted,
    o: ReplanOptions,
  ) {
    this.nested = new Set(o.nestedVmids);
    this.pageSize = o.pageSize ?? 4096;
    this.ds = o.ds === true;
    // Every row holds at least one TLBI, and each TLBI is in at most one row.
    let tlbis = 0;
    for (let i = 0; i < r.n; i++) {
      const k = r.kind[i]!;
      if (k === Kind.RangeTlbi || k === Kind.TagTlbi) tlbis++;
    }
    this.table = new RowTable(tlbis, tlbis);
  }

  private lastInvsKey = -1;
  private lastInvs: Invs | null = null;

  private invs(t: Target, pgsize: number): Invs {
    const key = ((t.op * 65536 + t.asid) * 65536 + t.vmid) * 16 + (31 - Math.clz32(pgsize) - 12); // 0, 2 or 4
    if (key === this.lastInvsKey) return this.lastInvs!;
    let v = this.invsCache.get(key);
    if (!v) v = this.makeInvs(t, pgsize, key);
    this.lastInvsKey = key;
    this.lastInvs = v;
    return v;
  }

  private makeInvs(t: Target, pgsize: number, key: number): Invs {
    const keys: InvKey[] = isS2(t.op)
      ? [{ smmu: 0, type: 'S2_VMID', id: t.vmid, pgsize }]
      : isE2h(t.op) || t.vmid === 0
        ? [{ smmu: 0, type: 'S1_ASID', id: t.asid, pgsize }]
        : // A stage-1 command naming a VMID other than 0: a stage 1 under a nesting parent.
          [{ smmu: 0, type: 'S1_ASID_NESTED', id: t.asid, vmid: t.vmid, pgsize }];
    if (isS2(t.op) && this.nested.has(t.vmid)) keys.push({ smmu: 0, type: 'S2_VMID_S1_CLEAR', id: t.vmid });
    const v = invsOf(keys);
    this.invsCache.set(key, v);
    return v;
  }

  /** Entries of `out` that are not CMD_SYNC, compared with the stream's entries `cmds`. */
  private sameAs(cmds: readonly number[], opOnly: number): boolean {
    const o = this.out;
    const u = o.buf.u32;
    const h = this.s.halves;
    let k = 0;
    for (let e = 0; e < o.count; e++) {
      if ((u[e * 4]! & 0xff) !== opOnly) continue;
      if (k >= cmds.length) return false;
      const i = cmds[k++]! * 4;
      const j = e * 4;
      if (u[j] !== h[i] || u[j + 1] !== h[i + 1] || u[j + 2] !== h[i + 2] || u[j + 3] !== h[i + 3]) return false;
    }
    return k === cmds.length;
  }

  /** Count the commands and CMD_SYNCs of `out` into planCommands / planSyncs. */
  private counts(): void {
    const o = this.out;
    const u = o.buf.u32;
    let syncs = 0;
    for (let e = 0; e < o.count; e++) if ((u[e * 4]! & 0xff) === Opcode.CMD_SYNC) syncs++;
    this.planCommands = o.count - syncs;
    this.planSyncs = syncs;
  }

  /** The Linux request a run of range commands [a, b] would come from (candidates, best first). */
  private requests(run: readonly number[]): { req: RangeRequest; pgsize: number; ril: boolean }[] {
    const r = this.r;
    const first = run[0]!;
    const tg = r.tg[first]!;
    const leaf = r.leaf[first] === 1;
    if (tg !== 0) {
      const pgShift = granuleLog2OfTg(tg);
      const pgsize = 2 ** pgShift;
      let size = 0;
      for (const i of run) size += r.span[i]!;
      const ttl = r.ttl[first]!;
      const granule = leaf && ttl !== 0 ? 2 ** levelShift(pgShift, ttl) : pgsize;
      const out = [{ req: { iova: r.addr[first]!, size, granule, leaf }, pgsize, ril: true }];
      const pages = size / pgsize;
      if (!leaf && pages > 1 && (pages - 1) % 32 === 1)
        out.push({ req: { iova: r.addr[first]!, size: size - pgsize, granule, leaf }, pgsize, ril: true });
      return out;
    }
    const stride = run.length > 1 ? r.addr[run[1]!]! - r.addr[first]! : this.pageSize;
    return [
      { req: { iova: r.addr[first]!, size: stride * run.length, granule: stride, leaf }, pgsize: 4096, ril: false },
    ];
  }

  /** Plan one candidate under linux; true when it reproduces the stream's commands exactly. */
  private tryLinux(t: Target, run: readonly number[], c: { req: RangeRequest; pgsize: number; ril: boolean }): boolean {
    const invs = this.invs(t, c.pgsize);
    if (!plannableRequest(c.req, c.pgsize)) return false;
    this.out.clear();
    invalidateRange(invs, c.req, smmuTable(c.ril, t.op, this.ds), this.out);
    return this.sameAs(run, t.op);
  }

  /** Record a request row (plans linux and tlbi again for the counts). */
  private row(
    b: number,
    t: Target,
    run: readonly number[],
    c: { req: RangeRequest; pgsize: number; ril: boolean } | null,
    identical: boolean,
  ): void {
    const r = this.r;
    const first = run[0]!;
    const tb = this.table;
    const k =
      c !== null
        ? tb.push(b, run, r.op[first]!, t, c.req.iova, c.req.size, c.req.granule, c.req.leaf, c.pgsize, identical)
        : tb.push(b, run, r.op[first]!, t, r.addr[first]!, 0, 0, r.leaf[first] === 1, 0, identical);
    let linuxCommands = -1;
    let linuxSyncs = -1;
    let tlbiCommands = -1;
    let tlbiSyncs = -1;
    let difference: DifferenceId | null = null;
    if (c !== null) {
      const invs = this.invs(t, c.pgsize);
      const smmus = smmuTable(c.ril, t.op, this.ds);
      if (plannableRequest(c.req, c.pgsize)) {
        if (!identical) {
          this.out.clear();
          invalidateRange(invs, c.req, smmus, this.out);
        } // else: `out` still holds the linux plan that matched
        this.counts();
        linuxCommands = this.planCommands;
        linuxSyncs = this.planSyncs;
        if (!identical) difference = this.classify(t, run, c);
        if (c.req.size === 0) {
          tlbiCommands = linuxCommands;
          tlbiSyncs = linuxSyncs;
        } else {
          this.out.clear();
          tlbiInv(tlbiDescriptionInto(DESC, c.req, c.pgsize), invs, smmus, this.out);
          this.counts();
          tlbiCommands = this.planCommands;
          tlbiSyncs = this.planSyncs;
        }
      } else difference = 'not-plannable';
    } else difference = 'not-plannable';
    tb.linuxCommands[k] = linuxCommands;
    tb.linuxSyncs[k] = linuxSyncs;
    tb.tlbiCommands[k] = tlbiCommands;
    tb.tlbiSyncs[k] = tlbiSyncs;
    tb.difference[k] = difference === null ? -1 : DIFFERENCE_IDS.indexOf(difference);
  }

  private classify(
    t: Target,
    run: readonly number[],
    c: { req: RangeRequest; pgsize: number; ril: boolean },
  ): DifferenceId {
    const r = this.r;
    const o = this.out;
    const u = o.buf.u32;
    for (let e = 0; e < o.count; e++) {
      const op = u[e * 4]! & 0xff;
      if ((op === Opcode.TLBI_NH_ASID || op === Opcode.TLBI_S12_VMALL || op === Opcode.TLBI_EL2_ASID) && op !== t.op)
        return 'linux-whole-tag';
    }
    const first = run[0]!;
    if (r.leaf[first] === 0 && r.tg[first] !== 0) {
      if (run.some((i) => r.ttl[i] !== 0)) return 'non-leaf-ttl';
      const pages = c.req.size / c.pgsize;
      if (pages % 32 === 1) return 'non-leaf-no-extra-page';
    }
    // Same span? Compare the union of the linux commands with the request.
    let span = 0;
    for (let e = 0; e < o.count; e++) {
      const op = u[e * 4]! & 0xff;
      if (op !== t.op) continue;
      const scale = (u[e * 4]! >>> 20) & 0x3f;
      const num = (u[e * 4]! >>> 12) & 0x1f;
      const tg = (u[e * 4 + 2]! >>> 10) & 3;
      span += tg === 0 ? c.req.granule : (num + 1) * 2 ** scale * 2 ** granuleLog2OfTg(tg);
    }
    return span === c.req.size ? 'split' : 'span';
  }

  /** The first candidate of `requests(run)` (the only one for leaf or TG=0 runs), in the reused `PRIMARY`. */
  private primary(run: readonly number[]): Candidate {
    const r = this.r;
    const first = run[0]!;
    const tg = r.tg[first]!;
    const leaf = r.leaf[first] === 1;
    const c = PRIMARY;
    const req = c.req;
    req.iova = r.addr[first]!;
    req.leaf = leaf;
    if (tg !== 0) {
      const pgShift = granuleLog2OfTg(tg);
      const pgsize = POW2[pgShift]!;
      let size = 0;
      for (let k = 0; k < run.length; k++) size += r.span[run[k]!]!;
      const ttl = r.ttl[first]!;
      req.size = size;
      req.granule = leaf && ttl !== 0 ? POW2[levelShift(pgShift, ttl)]! : pgsize;
      c.pgsize = pgsize;
      c.ril = true;
    } else {
      const stride = run.length > 1 ? r.addr[run[1]!]! - r.addr[first]! : this.pageSize;
      req.size = stride * run.length;
      req.granule = stride;
      c.pgsize = 4096;
      c.ril = false;
    }
    return c;
  }

  /** Split a run greedily into the longest prefixes that Linux emits for one request. */
  private plan(b: number, t: Target, run: number[]): void {
    // The common case first, without allocating candidates: the primary candidate reproduces the run.
    const p = this.primary(run);
    if (this.tryLinux(t, run, p)) {
      this.row(b, t, run, p, true);
      return;
    }
    const cands = this.requests(run);
    for (let k = 1; k < cands.length; k++)
      if (this.tryLinux(t, run, cands[k]!)) {
        this.row(b, t, run, cands[k]!, true);
        return;
      }
    if (run.length > 1 && run.length <= GREEDY_LIMIT) {
      let s = 0;
      const pieces: { part: number[]; c: { req: RangeRequest; pgsize: number; ril: boolean } }[] = [];
      while (s < run.length) {
        let found = -1;
        let fc: { req: RangeRequest; pgsize: number; ril: boolean } | null = null;
        for (let e = run.length; e > s + 0; e--) {
          const part = run.slice(s, e);
          for (const c of this.requests(part))
            if (this.tryLinux(t, part, c)) {
              found = e;
              fc = c;
              break;
            }
          if (found >= 0) break;
        }
        if (found < 0 || fc === null) break;
        pieces.push({ part: run.slice(s, found), c: fc });
        s = found;
      }
      if (s === run.length) {
        for (const p of pieces) {
          this.tryLinux(t, p.part, p.c); // leaves the piece's linux plan in `out` for row()
          this.row(b, t, p.part, p.c, true);
        }
        return;
      }
    }
    this.row(b, t, run, cands[0]!, false);
  }

  run(onProgress?: (done: number, total: number) => void): RowTable {
    const r = this.r;
    // Runs per target key, in order of first appearance: the batch's first key in (k0, l0), the others (rare)
    // in a Map used only then (clearing a Map allocates, so it is not done per batch).
    const more = new Map<number, { t: Target; run: number[] }[]>();
    for (let b = 0; b < r.batchCount; b++) {
      if (onProgress && (b & 0x3fff) === 0x3fff) onProgress(b, r.batchCount);
      const start = batchStart(r, b);
      const end = batchEnd(r, b);
      let k0 = -1;
      let l0: { t: Target; run: number[] }[] | null = null;
      let moreUsed = false;
      // The list of the last key seen: skips the look-ups.
      let lastKey = -1;
      let lastList: { t: Target; run: number[] }[] | null = null;
      for (let i = start; i < end; i++) {
        const k = r.kind[i]!;
        if (k !== Kind.RangeTlbi && k !== Kind.TagTlbi) continue;
        const op = r.op[i]!;
        const asid = Math.max(r.asid[i]!, 0);
        const vmid = Math.max(r.vmid[i]!, 0);
        if (k === Kind.TagTlbi) {
          if (!plannable(op)) continue; // NH_ALL, NSNH_ALL, EL2_ALL, EL3_ALL: not requests of one target
          const t: Target = { op, asid, vmid };
          const one = [i];
          this.row(b, t, one, WHOLE, this.tryLinux(t, one, WHOLE));
          continue;
        }
        if (!plannable(op)) {
          this.row(b, { op, asid, vmid }, [i], null, false);
          continue;
        }
        const key = op * 2 ** 32 + asid * 2 ** 16 + vmid;
        let list: { t: Target; run: number[] }[] | null = lastList;
        if (key !== lastKey || list === null) {
          if (l0 === null) {
            k0 = key;
            list = l0 = [];
          } else if (key === k0) {
            list = l0;
          } else {
            list = more.get(key) ?? null;
            if (list === null) more.set(key, (list = []));
            moreUsed = true;
          }
          lastKey = key;
          lastList = list;
        }
        const last = list[list.length - 1];
        if (last && this.continues(last.run, i)) last.run.push(i);
        else list.push({ t: { op, asid, vmid }, run: [i] });
      }
      if (l0 !== null) for (const { t, run } of l0) this.plan(b, t, run);
      if (moreUsed) {
        for (const list of more.values()) for (const { t, run } of list) this.plan(b, t, run);
        more.clear();
      }
    }
    return this.table;
  }

  /** Does command i continue the run (same TG/TTL/Leaf, contiguous or constant stride)? */
  private continues(run: readonly number[], i: number): boolean {
    const r = this.r;
    const last = run[run.length - 1]!;
    if (r.tg[i] !== r.tg[last] || r.ttl[i] !== r.ttl[last] || r.leaf[i] !== r.leaf[last]) return false;
    if (r.tg[i] !== 0) return r.addr[i] === r.addr[last]! + r.span[last]!;
    const step = r.addr[i]! - r.addr[last]!;
    if (run.length === 1) return step > 0 && step % 4096 === 0 && Number.isInteger(Math.log2(step));
    return step === r.addr[last]! - r.addr[run[run.length - 2]!]!;
  }
}

const NONE: readonly number[] = [];
const LEVELS: readonly (readonly number[])[] = [[0], [1], [2], [3]];

/** A tlbi description that can be rewritten (the re-planner reuses one). */
interface MutableDescription {
  start: number;
  last: number;
  leafLevels: readonly number[];
  tableLevels: readonly number[];
  granule: number;
}

const DESC: MutableDescription = { start: 0, last: 0, leafLevels: NONE, tableLevels: NONE, granule: 4096 };

/** Table levels lvl..2 and leaf levels lvl+1..3 of a walk flush under a level-lvl descriptor (lvl 1 or 2). */
const WALK_TABLES: readonly (readonly number[])[] = [[], [1, 2], [2]];
const WALK_LEAVES: readonly (readonly number[])[] = [[], [2, 3], [3]];

/**
 * `tlbiDescription` written into `d` (shared, read-only level lists): what the re-planner plans with, so
 * that a request allocates nothing. Same result as `tlbiDescription` for size ≠ 0.
 */
function tlbiDescriptionInto(d: MutableDescription, req: RangeRequest, pgsize: number): TlbiDescription {
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

/** Re-plan a stream's requests and compare. */
export function replan(s: AuditStream, r: Interpreted, o: ReplanOptions): ReplanSummary {
  const rp = new Replanner(s, r, o);
  const t = rp.run(o.onProgress);
  let identical = 0;
  let notPlannable = 0;
  const stream = { commands: 0, syncs: 0 };
  const linux = { commands: 0, syncs: 0 };
  const tlbi = { commands: 0, syncs: 0 };
  const diffCounts = new Int32Array(DIFFERENCE_IDS.length);
  const notPlannableCode = DIFFERENCE_IDS.indexOf('not-plannable');
  // Batches with a planned request (a mark per batch).
  const inBatch = new Uint8Array(Math.max(1, r.batchCount));
  const order: DifferenceId[] = [];
  for (let k = 0; k < t.n; k++) {
    if (t.identical(k)) identical++;
    const d = t.difference[k]!;
    if (d === notPlannableCode) notPlannable++;
    if (d >= 0) {
      if (diffCounts[d] === 0) order.push(DIFFERENCE_IDS[d]!);
      diffCounts[d]!++;
    }
    const lc = t.linuxCommands[k]!;
    if (lc < 0) continue;
    stream.commands += t.streamCommands[k]!;
    inBatch[t.batch[k]!] = 1;
    linux.commands += lc;
    linux.syncs += t.linuxSyncs[k]!;
    if (t.tlbiCommands[k]! >= 0) {
      tlbi.commands += t.tlbiCommands[k]!;
      tlbi.syncs += t.tlbiSyncs[k]!;
    } else {
      tlbi.commands += lc;
      tlbi.syncs += t.linuxSyncs[k]!;
    }
  }
  // In order of first occurrence, as the report lists them.
  const differences: Partial<Record<DifferenceId, number>> = {};
  for (const id of order) differences[id] = diffCounts[DIFFERENCE_IDS.indexOf(id)]!;
  // The stream's own stage-1 clears of nested VMIDs are its counterpart of the planned S2_VMID_S1_CLEAR.
  const nested = new Set(o.nestedVmids);
  if (nested.size > 0)
    for (let i = 0; i < r.n; i++)
      if (r.op[i] === Opcode.TLBI_NH_ALL && r.kind[i] === Kind.TagTlbi && nested.has(r.vmid[i]!)) {
        stream.commands++;
        inBatch[r.batch[i]!] = 1;
      }
  for (let b = 0; b < r.batchCount; b++) if (inBatch[b] === 1 && r.batchSync[b]! >= 0) stream.syncs++;
  let rows: ReplanRow[] | null = null;
  const summary: ReplanSummary = {
    requests: t.n,
    identical,
    different: t.n - identical - notPlannable,
    notPlannable,
    stream,
    linux,
    tlbi,
    differences,
    // Made on first read (the table is compact; most readers need only the counts).
    get rows(): ReplanRow[] {
      return (rows ??= t.rows());
    },
    fromTrace: s.source === 'qemu-trace',
  };
  TABLES.set(summary, t);
  return summary;
}
