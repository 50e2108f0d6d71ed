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
import { Opcode } from '../cmdq/index.js';
import {
  PlanOutput,
  invalidateRange,
  invsOf,
  levelShift,
  tlbiInv,
  type InvKey,
  type Invs,
  type RangeRequest,
  type SmmuTable,
  type TlbiDescription,
} from '../tlbi/index.js';
import { Kind, batchEnd, batchStart, type Interpreted } from './interpret.js';
import type { AuditStream } from './stream.js';

/** Why a request's commands differ from the `linux` policy. */
export const DIFFERENCES = {
  'linux-whole-tag':
    'Linux 7.0 replaces the per-granule loop by one whole-tag command (NH_ASID / S12_VMALL) when, without range invalidation, the size reaches 512 × granule (arm_smmu_inv_size_too_big); older kernels (e.g. 6.1) had no such threshold for DMA domains and issue the loop',
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
  /** Called every so often with (batches done, total). */
  readonly onProgress?: (done: number, total: number) => void;
}

const SMMU_TABLES: Record<string, SmmuTable> = {
  '00': [{ ril: false, e2h: false, forceSync: false }],
  '10': [{ ril: true, e2h: false, forceSync: false }],
  '01': [{ ril: false, e2h: true, forceSync: false }],
  '11': [{ ril: true, e2h: true, forceSync: false }],
};

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
  return (
    req.iova % req.granule === 0 && req.size % req.granule === 0 && req.iova % pgsize === 0 && req.size % pgsize === 0
  );
}

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

class Replanner {
  private readonly out = new PlanOutput(1024);
  private readonly rows: ReplanRow[] = [];
  private readonly nested: Set<number>;
  private readonly pageSize: number;
  private readonly invsCache = new Map<number, Invs>();

  constructor(
    private readonly s: AuditStream,
    private readonly r: Interpreted,
    o: ReplanOptions,
  ) {
    this.nested = new Set(o.nestedVmids);
    this.pageSize = o.pageSize ?? 4096;
  }

  private invs(t: Target, pgsize: number): Invs {
    const key = ((t.op * 65536 + t.asid) * 65536 + t.vmid) * 16 + (Math.log2(pgsize) - 12); // 0, 2 or 4
    let v = this.invsCache.get(key);
    if (v) return v;
    const keys: InvKey[] = isS2(t.op)
      ? [{ smmu: 0, type: 'S2_VMID', id: t.vmid, pgsize }]
      : [{ smmu: 0, type: 'S1_ASID', id: t.asid, vmid: isE2h(t.op) ? 0 : t.vmid, pgsize }];
    if (isS2(t.op) && this.nested.has(t.vmid)) keys.push({ smmu: 0, type: 'S2_VMID_S1_CLEAR', id: t.vmid });
    v = invsOf(keys);
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

  private counts(): { commands: number; syncs: number } {
    const o = this.out;
    let syncs = 0;
    for (let e = 0; e < o.count; e++) if ((o.buf.u32[e * 4]! & 0xff) === Opcode.CMD_SYNC) syncs++;
    return { commands: o.count - syncs, syncs };
  }

  /** The Linux request a run of range commands [a, b] would come from (candidates, best first). */
  private requests(run: readonly number[]): { req: RangeRequest; pgsize: number; ril: boolean }[] {
    const r = this.r;
    const first = run[0]!;
    const tg = r.tg[first]!;
    const leaf = r.leaf[first] === 1;
    if (tg !== 0) {
      const pgShift = 10 + 2 * tg;
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
    invalidateRange(invs, c.req, SMMU_TABLES[`${c.ril ? 1 : 0}${isE2h(t.op) ? 1 : 0}`]!, this.out);
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
    let linuxCommands = -1;
    let linuxSyncs = -1;
    let tlbiCommands = -1;
    let tlbiSyncs = -1;
    let difference: DifferenceId | null = null;
    if (c !== null) {
      const invs = this.invs(t, c.pgsize);
      const smmus = SMMU_TABLES[`${c.ril ? 1 : 0}${isE2h(t.op) ? 1 : 0}`]!;
      if (plannableRequest(c.req, c.pgsize)) {
        if (!identical) {
          this.out.clear();
          invalidateRange(invs, c.req, smmus, this.out);
        } // else: `out` still holds the linux plan that matched
        ({ commands: linuxCommands, syncs: linuxSyncs } = this.counts());
        if (!identical) difference = this.classify(t, run, c);
        const desc = c.req.size === 0 ? null : tlbiDescription(c.req, c.pgsize);
        if (desc === null) {
          tlbiCommands = linuxCommands;
          tlbiSyncs = linuxSyncs;
        } else {
          this.out.clear();
          tlbiInv(desc, invs, smmus, this.out);
          ({ commands: tlbiCommands, syncs: tlbiSyncs } = this.counts());
        }
      } else difference = 'not-plannable';
    } else difference = 'not-plannable';
    this.rows.push({
      batch: b,
      entries: run,
      command: r.name(first),
      asid: t.asid,
      vmid: t.vmid,
      iova: c?.req.iova ?? r.addr[first]!,
      size: c?.req.size ?? 0,
      granule: c?.req.granule ?? 0,
      leaf: c?.req.leaf ?? r.leaf[first] === 1,
      pgsize: c?.pgsize ?? 0,
      streamCommands: run.length,
      linuxCommands,
      linuxSyncs,
      tlbiCommands,
      tlbiSyncs,
      identical,
      difference,
    });
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
      span += tg === 0 ? c.req.granule : (num + 1) * 2 ** scale * 2 ** (10 + 2 * tg);
    }
    return span === c.req.size ? 'split' : 'span';
  }

  /** Split a run greedily into the longest prefixes that Linux emits for one request. */
  private plan(b: number, t: Target, run: number[]): void {
    const cands = this.requests(run);
    for (const c of cands)
      if (this.tryLinux(t, run, c)) {
        this.row(b, t, run, c, true);
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

  run(onProgress?: (done: number, total: number) => void): ReplanRow[] {
    const r = this.r;
    for (let b = 0; b < r.batchCount; b++) {
      if (onProgress && (b & 0x3fff) === 0x3fff) onProgress(b, r.batchCount);
      const start = batchStart(r, b);
      const end = batchEnd(r, b);
      // Runs per target, in queue order.
      const runs = new Map<number, { t: Target; run: number[] }[]>();
      for (let i = start; i < end; i++) {
        const k = r.kind[i]!;
        if (k !== Kind.RangeTlbi && k !== Kind.TagTlbi) continue;
        const op = r.op[i]!;
        const t: Target = { op, asid: Math.max(r.asid[i]!, 0), vmid: Math.max(r.vmid[i]!, 0) };
        if (k === Kind.TagTlbi) {
          if (!plannable(op)) continue; // NH_ALL, NSNH_ALL, EL2_ALL, EL3_ALL: not requests of one target
          this.row(
            b,
            t,
            [i],
            { req: { iova: 0, size: 0, granule: 4096, leaf: false }, pgsize: 4096, ril: true },
            this.wholeSame(t, i),
          );
          continue;
        }
        if (!plannable(op)) {
          this.row(b, t, [i], null, false);
          continue;
        }
        const key = op * 2 ** 32 + t.asid * 2 ** 16 + t.vmid;
        let list = runs.get(key);
        if (!list) runs.set(key, (list = []));
        const last = list[list.length - 1];
        if (last && this.continues(last.run, i)) last.run.push(i);
        else list.push({ t, run: [i] });
      }
      for (const list of runs.values()) for (const { t, run } of list) this.plan(b, t, run);
    }
    return this.rows;
  }

  private wholeSame(t: Target, i: number): boolean {
    return this.tryLinux(t, [i], { req: { iova: 0, size: 0, granule: 4096, leaf: false }, pgsize: 4096, ril: true });
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

/** The tlbi description of a Linux request: which levels changed, as far as the request tells. */
export function tlbiDescription(req: RangeRequest, pgsize: number): TlbiDescription | null {
  if (req.size === 0) return null;
  const pgShift = Math.log2(pgsize);
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
  const rows = rp.run(o.onProgress);
  let identical = 0;
  let notPlannable = 0;
  const stream = { commands: 0, syncs: 0 };
  const linux = { commands: 0, syncs: 0 };
  const tlbi = { commands: 0, syncs: 0 };
  const differences: Partial<Record<DifferenceId, number>> = {};
  const batches = new Set<number>();
  for (const row of rows) {
    if (row.identical) identical++;
    if (row.difference === 'not-plannable') notPlannable++;
    if (row.difference) differences[row.difference] = (differences[row.difference] ?? 0) + 1;
    if (row.linuxCommands < 0) continue;
    stream.commands += row.streamCommands;
    batches.add(row.batch);
    linux.commands += row.linuxCommands;
    linux.syncs += row.linuxSyncs;
    if (row.tlbiCommands >= 0) {
      tlbi.commands += row.tlbiCommands;
      tlbi.syncs += row.tlbiSyncs;
    } else {
      tlbi.commands += row.linuxCommands;
      tlbi.syncs += row.linuxSyncs;
    }
  }
  // The stream's own stage-1 clears of nested VMIDs are its counterpart of the planned S2_VMID_S1_CLEAR.
  const nested = new Set(o.nestedVmids);
  for (let i = 0; i < r.n; i++)
    if (r.op[i] === Opcode.TLBI_NH_ALL && r.kind[i] === Kind.TagTlbi && nested.has(r.vmid[i]!)) {
      stream.commands++;
      batches.add(r.batch[i]!);
    }
  for (const b of batches) if (r.batchSync[b]! >= 0) stream.syncs++;
  return {
    requests: rows.length,
    identical,
    different: rows.length - identical - notPlannable,
    notPlannable,
    stream,
    linux,
    tlbi,
    differences,
    rows,
    fromTrace: s.source === 'qemu-trace',
  };
}
