/**
 * The planners: turn a request and a domain's invalidation-target array into command-queue entries, batched
 * per SMMU with CMD_SYNCs where completion must be awaited.
 *
 * - `invalidateRange` — policy `linux`: what Linux's arm_smmu_domain_inv_range (the per-domain invs driver,
 *   7.1+) emits for (iova, size, granule, leaf), bit for bit; the older drivers emit the same words with range
 *   invalidation (real captures of 6.1, 6.12, 7.0 and 7.3 in samples/ are reproduced word for word).
 * - `tlbiInv` — policy `tlbi`: the same walk over the targets, but LEAF, TTL and the stride come from what
 *   actually changed in the page table (see `tlbiShapeInto` in range.ts).
 *
 * Batching (both policies): targets are visited in array order (SMMU, type, id, ssid), trash skipped. A
 * batch ends with one CMD_SYNC when it holds any command and the next live target is on another SMMU, or is
 * the first S2_VMID_S1_CLEAR after other types, or the first ATS/ATS_FULL after non-ATS types, or there is
 * none. With an SMMU's `forceSync`, a CMD_SYNC is also inserted before a batch would exceed 63 commands.
 * With an SMMU's `repeat` (Tegra264 erratum), each batch without an ATC_INV is followed by a copy of itself.
 * S1_ASID_NESTED targets batch like S1_ASID ones (no boundary between S1_ASID, S1_ASID_NESTED and S2_VMID).
 *
 * VMID of stage-1 commands: S1_ASID targets write VMID 0 under both policies (Linux's `struct arm_smmu_inv`
 * has no VMID, and a plain stage-1 STE is tagged with VMID 0); S1_ASID_NESTED targets write their `vmid`
 * with TLBI_NH_VA / TLBI_NH_ASID, whatever the SMMU's E2H, as Linux's vSMMU path forwards a guest's commands.
 */
import { Opcode } from '../cmdq/opcodes.js';
import * as writers from '../cmdq/writers.js';
import { writeAtcInv, writeTlbiTag } from '../cmdq/writers.js';
import { TYPE_ORDER, tlbAsid, tlbRangeOpcode, tlbTagOpcode, tlbVmid, type Inv, type Invs } from './invs.js';
import type { PlanOutput } from './output.js';
import {
  ATC_SIZE_ALL,
  atcInvAddr,
  atcInvSize,
  emitRilOne,
  emitRilSpan,
  rilOneNumScale,
  emitStrideRange,
  linuxLeafTtl,
  linuxLeafTtlOf,
  perStrideTooBig,
  type Span,
  tlbiShapeInto,
  tlbiTtl,
  type TlbiShape,
} from './range.js';
import { levelMask, type TlbiDescription } from '../tlbi-description.js';
import { log2Of, tgOfGranuleLog2 } from '../units.js';

export type { TlbiDescription };

/** The engine's two policies: `linux` (Linux's range loop, invalidateRange) and `tlbi` (tlbiInv). */
export type Policy = 'linux' | 'tlbi';
/** Both policies, in the order reports show them. */
export const POLICIES: readonly Policy[] = ['linux', 'tlbi'];

/** Per-SMMU options. */
export interface SmmuOptions {
  /** IDR3.RIL: range invalidation (TG/SCALE/NUM/TTL). */
  readonly ril: boolean;
  /** The SMMU runs with CR2.E2H: stage-1 targets use TLBI_EL2_VA / TLBI_EL2_ASID (no VMID). */
  readonly e2h: boolean;
  /** MMU-700 erratum 2812531: a CMD_SYNC before a batch would exceed 63 commands. */
  readonly forceSync: boolean;
  /**
   * Tegra264 invalidation erratum: every batch of TLB invalidations is issued twice, each copy with its
   * CMD_SYNC (batches holding ATC_INVs are not repeated). Default false.
   */
  readonly repeat?: boolean;
  /**
   * IDR5.DS: SCALE is 6 bits (w0[25:20], up to 39), so the range loop covers huge ranges in fewer commands
   * and needs no SCALE-31 workaround. Absent means false.
   */
  readonly ds?: boolean;
}

/** SMMU options indexed by SMMU id (a sparse array is fine). */
export type SmmuTable = ReadonlyArray<SmmuOptions | undefined>;

/** The request Linux's io-pgtable / gather code makes: [iova, iova + size), size 0 meaning everything. */
export interface RangeRequest {
  readonly iova: number;
  readonly size: number;
  /** Size of the leaves being invalidated: a page or block size of every target's pgsize. */
  readonly granule: number;
  readonly leaf: boolean;
}

/** Internal per-plan parameters shared by both policies (one reused object: no allocation per plan). */
interface Core {
  /** [0] = iova, [1] = size of the request (a Float64Array: storing an address allocates nothing). */
  readonly span: Span;
  /** size 0: invalidate everything (whole-tag commands, ATC Size 52). */
  everything: boolean;
  leaf: number;
  /** linux: TTL from Linux's formula per target (granuleShift); tlbi: the fixed `ttl`. */
  linuxTtl: boolean;
  granuleShift: number;
  ttl: number;
  /** Per-stride step without range invalidation, and the base of the whole-tag threshold. */
  strideShift: number;
  /** tlbi: skip S2_VMID_S1_CLEAR on the whole-tag path only when an S2_VMID of the same VMID was flushed. */
  strictS1Clear: boolean;
}

const core: Core = {
  span: new Float64Array(2),
  everything: false,
  leaf: 0,
  linuxTtl: true,
  granuleShift: 12,
  ttl: 0,
  strideShift: 12,
  strictS1Clear: false,
};

// Numeric type codes (TYPE_ORDER, kept in `Invs.typeCode`): the walk compares numbers, not strings.
/** The codec's writers of the one-command plan as this module's own constants (read without an imported cell's check; see range.ts). */
const writeTlbiThenSyncSev = writers.writeTlbiThenSyncSev;
const tlbiRangeLowBits = writers.tlbiRangeLowBits;
const T_S2_VMID = TYPE_ORDER.S2_VMID;
const T_S2_VMID_S1_CLEAR = TYPE_ORDER.S2_VMID_S1_CLEAR;
const T_ATS = TYPE_ORDER.ATS;

/** Linux's arm_smmu_invs_end_batch, on SMMU ids and type codes (ATS and ATS_FULL are the codes ≥ T_ATS). */
function endBatch(curSmmu: number, curType: number, nextSmmu: number, nextType: number): boolean {
  if (curSmmu !== nextSmmu) return true;
  if (curType !== T_S2_VMID_S1_CLEAR && nextType === T_S2_VMID_S1_CLEAR) return true;
  return curType < T_ATS && nextType >= T_ATS;
}

function nextLive(inv: readonly Inv[], i: number, n: number): number {
  while (i < n && inv[i]!.users === 0) i++;
  return i;
}

function optionsOf(smmus: SmmuTable, id: number): SmmuOptions {
  const o = smmus[id];
  if (o === undefined) throw new RangeError(`invs: target on SMMU ${id}, which has no options in the SMMU table`);
  return o;
}

/** Is there a live S2_VMID of `vmid` on `smmu` before index i (they sort just before the S1_CLEAR ones)? */
function hasS2Before(invs: Invs, i: number, smmu: number, vmid: number): boolean {
  const inv = invs.inv;
  const code = invs.typeCode;
  for (let k = i - 1; k >= 0; k--) {
    const e = inv[k]!;
    if (e.smmu !== smmu || code[k]! < T_S2_VMID) return false;
    if (code[k] === T_S2_VMID && e.id === vmid && e.users > 0) return true;
  }
  return false;
}

function tooBig(c: Core, o: SmmuOptions): boolean {
  return c.everything || (!o.ril && perStrideTooBig(c.span[1]!, c.strideShift));
}

/** A TLB target (S1_ASID, S1_ASID_NESTED or S2_VMID, by its type code): one whole-tag command or a ranged loop. */
function planTlb(c: Core, cur: Inv, type: number, o: SmmuOptions, out: PlanOutput): void {
  const asid = tlbAsid(cur, type);
  const vmid = tlbVmid(cur, type);
  if (tooBig(c, o)) {
    const slot = out.add();
    writeTlbiTag(out.buf.u32, slot, tlbTagOpcode(type, o.e2h), asid, vmid);
    return;
  }
  const op = tlbRangeOpcode(type, o.e2h);
  if (o.ril) {
    const pgShift = log2Of(cur.pgsize);
    const ttl = c.linuxTtl ? (c.leaf === 1 ? linuxLeafTtl(c.granuleShift, pgShift) : 0) : c.ttl;
    if (!emitRilOne(out, c.span, op, asid, vmid, pgShift, ttl, c.leaf))
      emitRilSpan(out, c.span, op, asid, vmid, pgShift, ttl, c.leaf);
  } else {
    emitStrideRange(out, op, asid, vmid, c.span[0]!, c.span[1]!, c.strideShift, c.leaf);
  }
}

/** The walk over the targets shared by both policies. Returns the number of entries appended. */
function planCore(c: Core, invs: Invs, smmus: SmmuTable, out: PlanOutput): number {
  const before = out.count;
  const inv = invs.inv;
  const code = invs.typeCode;
  const n = invs.count;
  out.batchLen = 0;
  // The SMMU options of the last target's SMMU (targets are sorted by SMMU: one look-up per SMMU).
  let oSmmu = -1;
  let o: SmmuOptions = RIL_OPTIONS;
  // ATC_INV Size and Address: the same for every ATS target of the plan, computed at the first one.
  let atcSize = -1;
  let atcAddr = 0;
  let i = nextLive(inv, 0, n);
  while (i < n) {
    const cur = inv[i]!;
    const type = code[i]!;
    const smmu = cur.smmu;
    const j = nextLive(inv, i + 1, n);
    if (smmu !== oSmmu) {
      o = optionsOf(smmus, smmu);
      oSmmu = smmu;
    }
    if (out.batchLen === 0) out.begin(smmu, o.forceSync, o.repeat === true, o.ds === true);
    if (type <= T_S2_VMID) {
      planTlb(c, cur, type, o, out);
    } else if (type === T_S2_VMID_S1_CLEAR) {
      if (!(tooBig(c, o) && (!c.strictS1Clear || hasS2Before(invs, i, smmu, cur.id)))) {
        const slot = out.add();
        writeTlbiTag(out.buf.u32, slot, Opcode.TLBI_NH_ALL, 0, cur.id);
      }
    } else if (type === T_ATS) {
      if (atcSize < 0) {
        atcSize = c.everything ? ATC_SIZE_ALL : atcInvSize(c.span[0]!, c.span[1]!);
        atcAddr = atcInvAddr(c.span[0]!, atcSize);
      }
      const slot = out.add();
      writeAtcInv(out.buf.u32, slot, cur.id, cur.ssid, atcSize, atcAddr);
    } else {
      // ATS_FULL
      const slot = out.add();
      writeAtcInv(out.buf.u32, slot, cur.id, 0, ATC_SIZE_ALL, 0);
    }
    if (out.batchLen > 0 && (j >= n || endBatch(smmu, type, inv[j]!.smmu, code[j]!))) out.submit();
    i = j;
  }
  return out.count - before;
}

/** A placeholder before the first SMMU's options are looked up (never used for planning). */
const RIL_OPTIONS: SmmuOptions = { ril: true, e2h: false, forceSync: false };

/**
 * The common case without the walk: `invs` holds exactly one entry, live, a TLB target (S1_ASID,
 * S1_ASID_NESTED or S2_VMID) on an SMMU with range invalidation, and the request is a range. The plan is then
 * the range loop of that target and one CMD_SYNC, exactly what planCore would emit. Returns that SMMU's
 * options, or undefined when the case does not apply (the caller takes the walk).
 */
function singleRilOptions(invs: Invs, smmus: SmmuTable): SmmuOptions | undefined {
  if (invs.count !== 1 || invs.typeCode[0]! > T_S2_VMID) return undefined;
  const e = invs.inv[0]!;
  const o = smmus[e.smmu];
  return e.users !== 0 && o !== undefined && o.ril ? o : undefined;
}

/**
 * Emit the range loop of the single TLB target of `invs` (see singleRilOptions; `o` its SMMU's options) over
 * `span`, and its CMD_SYNC. Most requests take one command: that batch is written here at once, from the
 * target's precomputed opcode and tag bits (small, so that V8 inlines it into the planners).
 */
function planSingleRil(
  invs: Invs,
  o: SmmuOptions,
  out: PlanOutput,
  span: Span,
  leaf: number,
  ttl: number,
  pgShift: number,
): number {
  const numScale = rilOneNumScale(span, pgShift, ttl);
  if (numScale < 0 || o.repeat === true) return planSingleRilLoop(invs, o, out, span, leaf, ttl, pgShift);
  const s = out.reserveOneCommandBatch(invs.inv[0]!.smmu);
  const h0 = invs.rangeOp[o.e2h ? 1 : 0]! | numScale;
  writeTlbiThenSyncSev(
    out.buf.u32,
    s,
    h0,
    invs.tagBits[0]!,
    tlbiRangeLowBits(leaf, ttl, tgOfGranuleLog2(pgShift)),
    span[0]!,
  );
  return 2;
}

/** planSingleRil for a request of more than one command, or on an SMMU with `repeat`: the range loop. */
function planSingleRilLoop(
  invs: Invs,
  o: SmmuOptions,
  out: PlanOutput,
  span: Span,
  leaf: number,
  ttl: number,
  pgShift: number,
): number {
  const e = invs.inv[0]!;
  const type = invs.typeCode[0]!;
  const before = out.count;
  out.begin(e.smmu, o.forceSync, o.repeat === true, o.ds === true);
  emitRilSpan(out, span, tlbRangeOpcode(type, o.e2h), tlbAsid(e, type), tlbVmid(e, type), pgShift, ttl, leaf);
  out.submit();
  return out.count - before;
}

/**
 * Policy `linux`: Linux 7.1+'s arm_smmu_domain_inv_range(domain, iova, size, granule, leaf) for the targets
 * `invs`, appended to `out`. Size 0 means everything. Granule 0 is an empty gather (Linux's pgsize 0, whose
 * missing check was 6cc7e5a9c6b0): it plans nothing, not a range computed from log2(0). Other inputs are
 * trusted (see validate.ts for the checks). Returns the number of entries appended.
 */
export function invalidateRange(invs: Invs, req: RangeRequest, smmus: SmmuTable, out: PlanOutput): number {
  if (!(req.granule > 0)) return 0;
  // Kept small, so that V8 inlines it and the single-target case into the caller's loop.
  if (req.size !== 0 && invs.inv.length === 1) {
    const n = linuxSingleRil(invs, req, smmus, out);
    if (n !== 0) return n;
  }
  return linuxWalk(invs, req, smmus, out);
}

/**
 * invalidateRange for one live TLB target on an SMMU with range invalidation (see singleRilTarget), or 0,
 * having written nothing, when `invs` is not that case.
 */
function linuxSingleRil(invs: Invs, req: RangeRequest, smmus: SmmuTable, out: PlanOutput): number {
  const o = singleRilOptions(invs, smmus);
  if (o === undefined) return 0;
  const leaf = req.leaf ? 1 : 0;
  const pgShift = invs.pgShift[0]!;
  const ttl = leaf === 1 ? linuxLeafTtlOf(req.granule, pgShift) : 0;
  // The span travels in core.span (no boxed doubles in calls); the other fields of core are not used.
  const span = core.span;
  span[0] = req.iova;
  span[1] = req.size;
  return planSingleRil(invs, o, out, span, leaf, ttl, pgShift);
}

/** invalidateRange through the walk over the targets (planCore). */
function linuxWalk(invs: Invs, req: RangeRequest, smmus: SmmuTable, out: PlanOutput): number {
  const c = core;
  c.span[0] = req.iova;
  c.span[1] = req.size;
  c.everything = req.size === 0;
  c.leaf = req.leaf ? 1 : 0;
  c.linuxTtl = true;
  c.granuleShift = log2Of(req.granule);
  c.ttl = 0;
  c.strideShift = c.granuleShift;
  c.strictS1Clear = false;
  return planCore(c, invs, smmus, out);
}

/**
 * Policy `tlbi`: invalidate what the description says changed, for the targets `invs`, appended to `out`.
 * LEAF only when no table descriptor was cleared; TTL as precise as the architecture allows; without range
 * invalidation one command per entry of the deepest changed level, or one whole-tag command when that loop
 * would reach 2^(log2(stride) − 3) commands. S2_VMID_S1_CLEAR is skipped on the whole-tag path only when an
 * S2_VMID of the same VMID on the same SMMU took it (S12_VMALL also cleared the stage-1 entries).
 * An empty description (`last` below `start`, e.g. an empty gather's [ULONG_MAX, 0]) plans nothing: no
 * command and no CMD_SYNC, never the wrapped length last − start + 1. Returns the number of entries appended.
 */
export function tlbiInv(tlbi: TlbiDescription, invs: Invs, smmus: SmmuTable, out: PlanOutput): number {
  if (!(tlbi.last >= tlbi.start)) return 0;
  const span = core.span;
  span[0] = tlbi.start;
  span[1] = tlbi.last - tlbi.start + 1;
  const leafMask = levelMask(tlbi.leafLevels);
  const tableMask = levelMask(tlbi.tableLevels);
  const pgShift = log2Of(tlbi.granule);
  if (invs.inv.length === 1) {
    // The single-target case needs LEAF and TTL only (no stride: the SMMU has range invalidation).
    const o = singleRilOptions(invs, smmus);
    const leaf = tableMask === 0 ? 1 : 0;
    if (o !== undefined)
      return planSingleRil(invs, o, out, span, leaf, tlbiTtl(leafMask, tableMask, span, pgShift), invs.pgShift[0]!);
  }
  return tlbiWalk(invs, smmus, out, leafMask, tableMask, pgShift);
}

/** tlbiInv through the walk over the targets (planCore), for the span in core.span. */
function tlbiWalk(
  invs: Invs,
  smmus: SmmuTable,
  out: PlanOutput,
  leafMask: number,
  tableMask: number,
  pgShift: number,
): number {
  const c = core;
  const shape = tlbiShapeInto(SHAPE, leafMask, tableMask, c.span, pgShift);
  c.everything = false;
  c.leaf = shape.leaf;
  c.linuxTtl = false;
  c.granuleShift = pgShift;
  c.ttl = shape.ttl;
  c.strideShift = shape.strideShift;
  c.strictS1Clear = true;
  return planCore(c, invs, smmus, out);
}

/** The shape of the tlbi request being planned (one reused object). */
const SHAPE: TlbiShape = { leaf: 0, ttl: 0, strideShift: 0 };
