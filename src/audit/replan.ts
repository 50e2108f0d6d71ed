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
 * The engine is only used to plan here; whether the stream is right is judged by rules.ts. This file holds the
 * re-planner (cutting runs, planning them, the summary); Linux's rules reversed (run → request) are in
 * replan-linux.ts, the tlbi description of a request in replan-description.ts, and the rows and their readers
 * in replan-rows.ts (re-exported from here).
 */
import { opcodeAt } from '../cmdq/fields.js';
import { Opcode } from '../cmdq/index.js';
import { PlanOutput, invalidateRange, invsOf, tlbiInv, type InvKey, type Invs, type SmmuTable } from '../tlbi/index.js';
import { Kind, batchEnd, batchStart, type Interpreted } from './interpret.js';
import type { AuditStream } from './stream.js';
import { DESC, tlbiDescriptionInto } from './replan-description.js';
import {
  WHOLE,
  classifyDifference,
  continuesRun,
  plannableRequest,
  primaryRequest,
  runRequests,
  type Candidate,
} from './replan-linux.js';
import {
  DIFFERENCE_IDS,
  RowTable,
  TABLES,
  type DifferenceId,
  type ReplanRow,
  type ReplanSummary,
  type Target,
} from './replan-rows.js';

export { tlbiDescription } from './replan-description.js';
export {
  DIFFERENCES,
  differentRows,
  joinReplan,
  replanRow,
  replanRowCount,
  replanRowIdentical,
  replanRowJson,
  replanToJson,
  replanTotals,
  type DifferenceId,
  type ReplanPart,
  type ReplanRow,
  type ReplanRowJson,
  type ReplanSummary,
} from './replan-rows.js';

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

/** Greedy splitting is tried on runs up to this many commands. */
const GREEDY_LIMIT = 64;

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
      if (opcodeAt(u, e) !== opOnly) continue;
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
    for (let e = 0; e < o.count; e++) if (opcodeAt(u, e) === Opcode.CMD_SYNC) syncs++;
    this.planCommands = o.count - syncs;
    this.planSyncs = syncs;
  }

  /** Plan one candidate under linux; true when it reproduces the stream's commands exactly. */
  private tryLinux(t: Target, run: readonly number[], c: Candidate): boolean {
    const invs = this.invs(t, c.pgsize);
    if (!plannableRequest(c.req, c.pgsize)) return false;
    this.out.clear();
    invalidateRange(invs, c.req, smmuTable(c.ril, t.op, this.ds), this.out);
    return this.sameAs(run, t.op);
  }

  /** Record a request row (plans linux and tlbi again for the counts). */
  private row(b: number, t: Target, run: readonly number[], c: Candidate | null, identical: boolean): void {
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
        if (!identical) difference = classifyDifference(this.out, this.r, t, run, c);
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

  /** Split a run greedily into the longest prefixes that Linux emits for one request. */
  private plan(b: number, t: Target, run: number[]): void {
    // The common case first, without allocating candidates: the primary candidate reproduces the run.
    const p = primaryRequest(this.r, run, this.pageSize);
    if (this.tryLinux(t, run, p)) {
      this.row(b, t, run, p, true);
      return;
    }
    const cands = runRequests(this.r, run, this.pageSize);
    for (let k = 1; k < cands.length; k++)
      if (this.tryLinux(t, run, cands[k]!)) {
        this.row(b, t, run, cands[k]!, true);
        return;
      }
    if (run.length > 1 && run.length <= GREEDY_LIMIT) {
      let s = 0;
      const pieces: { part: number[]; c: Candidate }[] = [];
      while (s < run.length) {
        let found = -1;
        let fc: Candidate | null = null;
        for (let e = run.length; e > s + 0; e--) {
          const part = run.slice(s, e);
          for (const c of runRequests(this.r, part, this.pageSize))
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
        if (last && continuesRun(this.r, last.run, i)) last.run.push(i);
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
