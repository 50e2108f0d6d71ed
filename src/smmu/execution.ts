/**
 * Command execution of the SMMU model: what a consumed command does to the model's state (its caches and
 * configuration caches, see model.ts), when it does it, and in which order the commands of one batch
 * complete.
 *
 * An invalidation consumed from the queue becomes a pending `Effect`; in adversarial mode it takes effect only
 * when a later CMD_SYNC completes, one command at a time in the order that hurts most (see the ranks), with a
 * round of device traffic after each command that removed something. In generous mode it applies at once and
 * over-invalidates as QEMU does. `apply` removes exactly what Arm IHI 0070 chapter 4 guarantees; where the
 * architecture leaves the outcome open, the adversary keeps the entry (see model.ts).
 */
import { TWO_POW_32 } from '../bits.js';
import { FIELD_IDS, type CheckedEntry } from '../cmdq/check.js';
import { Opcode } from '../cmdq/opcodes.js';
import { granuleLog2OfTg } from '../units.js';
import {
  ATC_PAGE_LOG2,
  AddressFilter,
  GLOBAL_ASID,
  Kind,
  Regime,
  type GroupSelector,
  type TagGroup,
  type TlbEntry,
  type WalkEntry,
} from './caches.js';
import type { SmmuModel } from './model.js';

/**
 * Completion ranks, in the order the adversary completes the commands of a batch at a CMD_SYNC (IHI 0070
 * 4.1.4, 4.7.3: nothing orders the commands of one batch; only the SYNC guarantees all are done). A
 * configuration invalidation (CFGI_*) completes either before everything else or after everything else,
 * chosen at random per command: early, traffic through the new configuration meets TLB entries the batch
 * has not removed yet; late, traffic through the old configuration refills what the batch removed. Then ATC
 * invalidations first (so that traffic refills the ATC from TLB entries still cached), then stage-1 leaf-only
 * invalidations before the stage-1 ones that also reach the walk cache (so that traffic refills leaves
 * through table descriptors still cached), then stage 2 in the same way, then whole-VMID / whole-regime
 * ones. Commands of equal rank complete in a random order.
 */
const RANK_CFG_EARLY = 0;
const RANK_ATC = 1;
const RANK_S1_LEAF = 2;
const RANK_S1 = 3;
const RANK_S2_LEAF = 4;
const RANK_S2 = 5;
const RANK_ALL = 6;
const RANK_CFG_LATE = 7;
const RANK_COUNT = 8;

const F = FIELD_IDS;
/** The largest SCALE a range command may rely on (IDR5.DS = 1; 31 without DS, where SCALE is 5 bits). */
const MAX_DS_SCALE = 39;
const TWO_POW_64 = TWO_POW_32 * TWO_POW_32;
/** Commands a batch may hold on an SMMU with MMU-700 erratum 2812531 before one can be lost. */
const ERRATUM_2812531_BATCH = 63;

/**
 * A consumed invalidation whose effect is not yet guaranteed: the command's fields as the SMMU reads them.
 * Made by `Effect.invalidation` or `Effect.configuration` (the executor reuses completed ones).
 */
export class Effect {
  op = 0;
  rank = 0;
  vmid = 0;
  asid = 0;
  addr = 0;
  tg = 0;
  num = 0;
  scale = 0;
  ttl = 0;
  leaf = 0;
  sid = 0;
  ssid = 0;
  ssv = 0;
  size = 0;
  /** CFGI_STE_RANGE: log2 of the StreamID block, minus one. */
  range = 0;

  /**
   * A TLBI or ATC_INV from its field values. Without IDR3.RIL, TG/NUM/SCALE/TTL are RES0 (IHI 0070 4.4.1.1)
   * and the command is a single-address one; without IDR5.DS, SCALE is 5 bits wide (its top bit is RES0):
   * lax mode tolerates set RES0 bits, and an SMMU that tolerates them "ignores the entirety of" the field
   * (4.1.5).
   */
  static invalidation(
    into: Effect,
    op: number,
    v: Float64Array,
    features: { readonly ril: boolean; readonly ds: boolean },
  ): Effect {
    const ranged = features.ril;
    const scale = ranged ? v[F.scale]! : 0;
    into.op = op;
    into.rank = completionRank(op, v[F.leaf]!);
    into.vmid = v[F.vmid]!;
    into.asid = v[F.asid]!;
    into.addr = v[F.addr]!;
    into.tg = ranged ? v[F.tg]! : 0;
    into.num = ranged ? v[F.num]! : 0;
    into.scale = features.ds || scale < 32 ? scale : scale - 32;
    into.ttl = ranged ? v[F.ttl]! : 0;
    into.leaf = v[F.leaf]!;
    into.sid = v[F.sid]!;
    into.ssid = v[F.ssid]!;
    into.ssv = v[F.ssv]!;
    into.size = v[F.size]!;
    into.range = 0;
    return into;
  }

  /** A CFGI_* from its field values, completing at `rank` (early or late). */
  static configuration(into: Effect, op: number, rank: number, v: Float64Array): Effect {
    into.op = op;
    into.rank = rank;
    into.vmid = 0;
    into.asid = 0;
    into.addr = 0;
    into.tg = 0;
    into.num = 0;
    into.scale = 0;
    into.ttl = 0;
    into.leaf = v[F.leaf]!;
    into.sid = v[F.sid]!;
    into.ssid = v[F.ssid]!;
    into.ssv = 0;
    into.size = 0;
    into.range = v[F.range]!;
    return into;
  }
}

function completionRank(op: number, leaf: number): number {
  switch (op) {
    case Opcode.ATC_INV:
      return RANK_ATC;
    case Opcode.TLBI_S2_IPA:
      return leaf === 1 ? RANK_S2_LEAF : RANK_S2;
    case Opcode.TLBI_S12_VMALL:
    case Opcode.TLBI_NSNH_ALL:
      return RANK_ALL;
    case Opcode.TLBI_NH_VA:
    case Opcode.TLBI_NH_VAA:
    case Opcode.TLBI_EL2_VA:
    case Opcode.TLBI_EL2_VAA:
    case Opcode.TLBI_EL3_VA:
      return leaf === 1 ? RANK_S1_LEAF : RANK_S1;
    default:
      return RANK_S1;
  }
}

function isCfgi(op: number): boolean {
  return op >= Opcode.CFGI_STE && op <= Opcode.CFGI_VMS_PIDM;
}

function isInvalidation(op: number): boolean {
  return (op >= 0x10 && op <= 0x30) || op === Opcode.ATC_INV;
}

const NH = 1 << Regime.NH;
const EL2 = 1 << Regime.EL2;
const EL2_E2H = 1 << Regime.EL2_E2H;
const S1_KINDS = (1 << Kind.S1) | (1 << Kind.NESTED);
const ALL_KINDS = S1_KINDS | (1 << Kind.S2);

/** Executes the legal commands an SMMU model consumes (see the module note). */
export class CommandExecutor {
  /** Invalidations consumed whose effect is pending (adversarial mode); the model's `pending`. */
  readonly pending: Effect[] = [];
  /** MMU-700 2812531: commands consumed since the last CMD_SYNC, and whether this run already lost one. */
  private readonly longBatchLoses: boolean;
  private sinceSync = 0;
  private lostInRun = false;
  /** Tegra264 repeat: the TLBI/CFGI commands (as field values) of this batch and of the one before. */
  private readonly repeatErratum: boolean;
  private batchSig: number[] = [];
  private prevSig: number[] = [];
  private inSync = false;
  private readonly rankScratch: Effect[] = [];
  /** Completed effects, reused for the next commands. */
  private readonly free: Effect[] = [];
  private readonly sel: GroupSelector = { regimes: 0, kinds: 0, vmid: -1 };
  private readonly tlbFilter = new AddressFilter();
  private readonly walkFilter = new AddressFilter();
  private readonly tlbGroups: TagGroup<TlbEntry>[] = [];
  private readonly walkGroups: TagGroup<WalkEntry>[] = [];

  constructor(private readonly m: SmmuModel) {
    const errata = m.errata;
    this.longBatchLoses = errata.includes('mmu700-2812531');
    this.repeatErratum = errata.includes('tegra264-repeat');
    this.walkFilter.tables = true;
  }

  /** Execute one legal command. */
  execute(ce: CheckedEntry, slot: number): void {
    const m = this.m;
    const name = ce.name!;
    const c = m.stats.commands;
    c[name] = (c[name] ?? 0) + 1;
    const op = ce.opcode;
    if (op === Opcode.CMD_SYNC) {
      this.sync(ce, slot);
      return;
    }
    const v = ce.values;
    if (this.repeatErratum && (isInvalidation(op) || isCfgi(op)) && op !== Opcode.ATC_INV) this.noteRepeat(op, v);
    this.sinceSync++;
    if (isCfgi(op)) {
      this.queueCfgi(op, v);
      return;
    }
    if (!isInvalidation(op)) return; // PREFETCH_*, PRI_RESP, RESUME, …
    if (this.longBatchLoses && this.sinceSync > ERRATUM_2812531_BATCH && !this.lostInRun) {
      // MMU-700 erratum 2812531: past 63 commands without a CMD_SYNC an invalidation may be lost.
      this.lostInRun = true;
      m.stats.erratumDropped++;
      return;
    }
    // An ATS Invalidate Request the endpoint does not answer invalidates nothing (reported at the next SYNC).
    if (op === Opcode.ATC_INV && m.endpoints.any && m.endpoints.request(v[F.sid]!)) return;
    const eff = Effect.invalidation(this.free.pop() ?? new Effect(), op, v, m.features);
    if (m.mode === 'generous') this.applyOnce(eff);
    else this.pending.push(eff);
  }

  /** A configuration invalidation: pending until a CMD_SYNC (IHI 0070 3.21.3), completed early or late there. */
  private queueCfgi(op: number, v: Float64Array): void {
    const generous = this.m.mode === 'generous';
    const rank = generous || this.m.rng.below(2) === 0 ? RANK_CFG_EARLY : RANK_CFG_LATE;
    const eff = Effect.configuration(this.free.pop() ?? new Effect(), op, rank, v);
    if (generous) this.applyOnce(eff);
    else this.pending.push(eff);
  }

  private applyOnce(eff: Effect): void {
    this.apply(eff);
    this.free.push(eff);
  }

  /** CMD_SYNC: complete every pending effect (adversarially ordered, traffic between classes), then signal. */
  private sync(ce: CheckedEntry, slot: number): void {
    const m = this.m;
    m.stats.syncs++;
    this.sinceSync = 0;
    this.lostInRun = false;
    if (this.repeatErratum) this.dropUnrepeated();
    this.completePending();
    const v = ce.values;
    if (v[F.cs] === 1 && v[F.msiaddr] !== 0) {
      m.mem.writeU32(v[F.msiaddr]!, v[F.msidata]!);
      m.stats.msiWrites++;
    }
    m.onSyncComplete?.(slot);
  }

  /**
   * Complete pending effects now (what a CMD_SYNC does before it signals): one command at a time, in the
   * adversary's order (see the ranks), with a round of device traffic after each command that removed
   * something. Traffic before the first completion adds nothing beyond what ran after the previous one (or
   * what the driver's side ran once the tables changed): the caches have not changed since; nor does traffic
   * after a command that removed nothing.
   */
  completePending(): void {
    if (this.inSync) return;
    this.inSync = true;
    const p = this.pending;
    if (p.length > 0) {
      const batch = this.rankScratch;
      const rng = this.m.rng;
      let removed = this.removedCount();
      for (let rank = 0; rank < RANK_COUNT; rank++) {
        batch.length = 0;
        for (let i = 0; i < p.length; i++) if (p[i]!.rank === rank) batch.push(p[i]!);
        for (let i = batch.length - 1; i > 0; i--) {
          const j = rng.below(i + 1);
          const t = batch[i]!;
          batch[i] = batch[j]!;
          batch[j] = t;
        }
        for (let i = 0; i < batch.length; i++) {
          this.apply(batch[i]!);
          const now = this.removedCount();
          if (now !== removed) {
            this.m.runTraffic();
            removed = this.removedCount();
          }
        }
      }
      batch.length = 0;
      for (let i = 0; i < p.length; i++) this.free.push(p[i]!);
      p.length = 0;
    }
    this.inSync = false;
  }

  /** Tegra264 repeat: record a TLBI / CFGI of the current batch by its opcode and fields. */
  private noteRepeat(op: number, v: Float64Array): void {
    const sig = this.batchSig;
    sig.push(op, v[F.vmid]!, v[F.asid]!, v[F.addr]!, v[F.tg]!, v[F.num]!, v[F.scale]!, v[F.ttl]!, v[F.leaf]!);
    sig.push(v[F.sid]!, v[F.ssid]!, v[F.range]!);
  }

  /**
   * Tegra264 repeat, at a CMD_SYNC: a batch that is not a copy of the batch before it is the first of a pair,
   * and the adversary drops its TLB invalidations (its ATC_INVs complete as usual).
   */
  private dropUnrepeated(): void {
    const a = this.batchSig;
    const b = this.prevSig;
    let same = a.length === b.length && a.length > 0;
    for (let i = 0; same && i < a.length; i++) same = a[i] === b[i];
    if (!same && a.length > 0) {
      const p = this.pending;
      let k = 0;
      for (let i = 0; i < p.length; i++) {
        if (p[i]!.op === Opcode.ATC_INV) p[k++] = p[i]!;
        else this.m.stats.erratumDropped++;
      }
      p.length = k;
    }
    this.prevSig = a;
    this.batchSig = b;
    b.length = 0;
  }

  /** Entries removed by invalidation so far, over the TLB, the walk cache and the ATC. */
  private removedCount(): number {
    const m = this.m;
    return m.tlb.removed + m.walkCache.removed + m.atc.removed + m.config.removed;
  }

  // ---------------------------------------------------------------- invalidation semantics

  private select(regimes: number, kinds: number, vmid: number): void {
    const s = this.sel;
    s.regimes = regimes;
    s.kinds = kinds;
    s.vmid = vmid;
  }

  /** Apply one invalidation: remove what the architecture guarantees (generous mode: more). */
  private apply(eff: Effect): void {
    const m = this.m;
    // Without stage 2 every entry has VMID 0 and the VMID field is ignored.
    const vmid = m.features.stage2 ? eff.vmid : -1;
    switch (eff.op) {
      case Opcode.TLBI_NH_ALL:
      case Opcode.TLBI_NH_ASID:
        this.select(NH, S1_KINDS, vmid);
        this.killGroups(eff.op === Opcode.TLBI_NH_ASID ? eff.asid : undefined);
        return;
      case Opcode.TLBI_NH_VA:
      case Opcode.TLBI_NH_VAA: {
        const byAsid = eff.op === Opcode.TLBI_NH_VA;
        this.select(NH, S1_KINDS, vmid);
        this.killByAddress(eff, byAsid ? eff.asid : undefined, byAsid);
        return;
      }
      case Opcode.TLBI_EL2_ALL:
        // "All stage 1 NS-EL2/Hyp entries are invalidated, whether ASID-tagged (E2H) or not" (IHI 0070 4.4.2.7):
        // both EL2 regimes, whatever CR2.E2H says now.
        this.select(EL2 | EL2_E2H, ALL_KINDS, -1);
        this.killGroups(undefined);
        return;
      case Opcode.TLBI_EL2_ASID:
        if (!m.e2h) return;
        this.select(EL2_E2H, ALL_KINDS, -1);
        this.killGroups(eff.asid);
        return;
      case Opcode.TLBI_EL2_VA:
      case Opcode.TLBI_EL2_VAA: {
        const byAsid = m.e2h && eff.op === Opcode.TLBI_EL2_VA;
        this.select(m.e2h ? EL2_E2H : EL2, ALL_KINDS, -1);
        this.killByAddress(eff, byAsid ? eff.asid : undefined, byAsid);
        return;
      }
      case Opcode.TLBI_S2_IPA:
        this.select(NH, 1 << Kind.S2, eff.vmid);
        this.killByAddress(eff, 0, false);
        return;
      case Opcode.TLBI_S12_VMALL:
        this.select(NH, ALL_KINDS, eff.vmid);
        this.killGroups(undefined);
        return;
      case Opcode.TLBI_NSNH_ALL:
        this.select(NH, ALL_KINDS, -1);
        this.killGroups(undefined);
        return;
      case Opcode.CFGI_STE:
      case Opcode.CFGI_STE_RANGE:
      case Opcode.CFGI_CD:
      case Opcode.CFGI_CD_ALL:
      case Opcode.CFGI_VMS_PIDM: {
        // Generous mode over-invalidates as QEMU does: a CD invalidation drops the whole StreamID's config.
        const cdOnly = eff.op === Opcode.CFGI_CD || eff.op === Opcode.CFGI_CD_ALL;
        const op = m.mode === 'generous' && cdOnly ? Opcode.CFGI_STE : eff.op;
        if (m.config.invalidate({ op, sid: eff.sid, ssid: eff.ssid, range: eff.range }) > 0) m.dropResolved();
        return;
      }
      case Opcode.ATC_INV:
        this.applyAtcInv(eff);
        return;
      default:
        // EL3_* (no Secure entries are modelled): nothing to remove.
        return;
    }
  }

  private applyAtcInv(eff: Effect): void {
    const m = this.m;
    let first = 0;
    let last = TWO_POW_64 - 1;
    // Size > 52 (legal only with features.atcSizeAbove52 = 'unknown') has an UNKNOWN span (IHI 0070
    // 4.5.1): the adversary invalidates nothing; the generous model everything.
    if (eff.size > 52 && m.mode !== 'generous') return;
    if (eff.size < 52) {
      const span = 2 ** (ATC_PAGE_LOG2 + eff.size);
      first = Math.floor(eff.addr / span) * span;
      last = first + span - 1;
    }
    // The model keys traffic without a PASID at SubstreamID 0. An ATC_INV with SSV=1 carries a PASID
    // prefix, and a PASID-tagged ATS invalidation does not reach entries without a PASID: those need
    // SSV=0 (IHI 0070 4.5.1, S1DSS=0b10). PASID-0 traffic itself is terminated, so nothing is removed.
    if (eff.ssv === 1 && eff.ssid === 0) return;
    m.atc.invalidate(eff.sid, eff.ssv === 1 ? eff.ssid : undefined, first, last);
  }

  /** Remove every TLB and walk-cache entry of the selected groups (one ASID, never globals, when given). */
  private killGroups(asid: number | undefined): void {
    const m = this.m;
    const tg = m.tlb.selectGroups(this.sel, this.tlbGroups);
    for (let i = 0; i < tg.length; i++) m.tlb.removeAll(tg[i]!, asid);
    tg.length = 0;
    const wg = m.walkCache.selectGroups(this.sel, this.walkGroups);
    for (let i = 0; i < wg.length; i++) m.walkCache.removeAll(wg[i]!, asid);
    wg.length = 0;
  }

  /**
   * An invalidation by address (NH_VA, NH_VAA, EL2_VA, EL2_VAA, S2_IPA) on the selected groups: one ASID
   * (plus the global entries when `withGlobal`) or all ASIDs. The mustKill predicate:
   *  - TG = 0: the single address; entries of any granule and level that contain it;
   *  - TG ≠ 0: [addr, addr + (NUM+1)·2^SCALE·granule), no wrap; only entries of that granule; leaf entries
   *    of level TTL (any level when TTL = 0); with Leaf = 0 also table entries at levels < TTL (any level
   *    when TTL = 0); 16K with TTL = 1 and no DS counts as TTL = 0;
   *  - Leaf = 1: walk-cache entries stay.
   */
  private killByAddress(eff: Effect, asid: number | undefined, withGlobal: boolean): void {
    const m = this.m;
    const first = eff.addr;
    let last = eff.addr;
    let g = 0;
    let ttl = 0;
    const generous = m.mode === 'generous';
    const ds = m.features.ds;
    if (eff.tg !== 0) {
      g = granuleLog2OfTg(eff.tg);
      ttl = eff.tg === 2 && eff.ttl === 1 && !ds ? 0 : eff.ttl;
      // With DS, SCALE is 6 bits (w0[25:20]); a SCALE above 39 "is treated as 39" but software must not
      // rely on it (IHI 0070 4.4.1.1): the adversary takes the range to be nothing at all.
      if (!generous && eff.scale > MAX_DS_SCALE) return;
      const range = (eff.num + 1) * 2 ** eff.scale * 2 ** g;
      last = Math.min(eff.addr + range, TWO_POW_64) - 1;
      // A base misaligned for the hinted level makes the invalidated range UNPREDICTABLE: the adversary
      // takes that to be nothing at all.
      if (!generous && misalignedForTtl(eff.addr, g, eff.ttl, ds)) return;
    }
    const leafOnly = eff.leaf === 1 && !generous;
    const filtered = !generous && eff.tg !== 0;
    const tf = this.tlbFilter;
    tf.granuleLog2 = filtered ? g : -1;
    tf.ttl = ttl;
    const tg = m.tlb.selectGroups(this.sel, this.tlbGroups);
    for (let i = 0; i < tg.length; i++) {
      const grp = tg[i]!;
      m.tlb.removeOverlapping(grp, asid, first, last, tf);
      if (withGlobal && asid !== undefined) m.tlb.removeOverlapping(grp, GLOBAL_ASID, first, last, tf);
    }
    tg.length = 0;
    if (leafOnly) return;
    const wf = this.walkFilter;
    wf.granuleLog2 = filtered ? g : -1;
    wf.ttl = ttl;
    const wg = m.walkCache.selectGroups(this.sel, this.walkGroups);
    for (let i = 0; i < wg.length; i++) m.walkCache.removeOverlapping(wg[i]!, asid, first, last, wf);
    wg.length = 0;
  }
}

/** 2^n for the alignment checks below (a table instead of `%` on large values). */
const POW2 = Array.from({ length: 43 }, (_, n) => 2 ** n);

/**
 * True when a range invalidation's base address is misaligned for its TTL hint (Arm IHI 0070 4.4.1.1, 64-bit
 * descriptors): 4K: TTL=1 with Addr[29:12] ≠ 0, TTL=2 with Addr[20:12] ≠ 0; 16K: TTL=2 with Addr[24:12] ≠ 0,
 * TTL 0 or 3 with Addr[13:12] ≠ 0 (and TTL=1 with Addr[35:12] ≠ 0 under DS); 64K: TTL=1 with Addr[41:12] ≠ 0,
 * TTL=2 with Addr[28:12] ≠ 0, TTL 0 or 3 with Addr[15:12] ≠ 0.
 */
export function misalignedForTtl(addr: number, granuleLog2: number, ttl: number, ds: boolean): boolean {
  const bad = (hiBit: number): boolean => {
    const p = POW2[hiBit + 1]!;
    return Math.floor(addr / p) * p !== addr;
  };
  if (granuleLog2 === 12) return ttl === 1 ? bad(29) : ttl === 2 ? bad(20) : false;
  if (granuleLog2 === 14) {
    if (ttl === 2) return bad(24);
    if (ttl === 1) return ds ? bad(35) : bad(13);
    return bad(13);
  }
  if (ttl === 1) return bad(41);
  if (ttl === 2) return bad(28);
  return bad(15);
}
