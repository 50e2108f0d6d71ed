/**
 * The SMMUv3 model: a command queue consumed in order, a stream table, a TLB / walk cache / ATC that
 * translate device traffic the way hardware may, and command execution that removes exactly what the
 * architecture guarantees (Arm IHI 0070 chapter 4) and nothing more.
 *
 * Adversarial semantics (the default): an invalidation consumed from the queue takes effect only when a
 * later CMD_SYNC completes. Before and while the SYNC completes, device traffic goes on over the addresses
 * of the pending change, refilling caches from whatever is still cached (a stale TLB entry feeds the ATC; a
 * stale walk-cache entry leads into a freed table frame). At the SYNC the pending commands complete one at a
 * time in the order that hurts most — ATC invalidations first, then stage-1 leaf-only TLB invalidations, the
 * other stage-1 ones, stage 2 likewise, then whole-VMID / whole-regime ones; equal ranks in a random order —
 * with traffic between commands: nothing orders the commands of one batch, so the only order a correct
 * driver is immune to is the one it enforces with CMD_SYNCs of its own.
 *
 * "Generous" mode applies each invalidation at once and over-invalidates as QEMU does (TG, TTL and Leaf are
 * ignored; walk-cache entries go with every address invalidation), for realistic hit rates.
 *
 * Where the architecture leaves the outcome open, the adversary keeps the entry: a range whose base is
 * misaligned for its TTL hint (UNPREDICTABLE range) removes nothing; TG ≠ 0 removes only entries of that
 * granule, TTL only leaves of that level. One case the architecture closes the other way: a combined nested
 * entry splintered by a smaller stage-2 page is matched by any address of its stage-1 leaf.
 */
import { modFloor, TWO_POW_32 } from '../bits.js';
import { CheckedEntry, CommandChecker, FIELD_IDS, type CommandIssue } from '../cmdq/check.js';
import { withFeatures, type SmmuFeatures } from '../cmdq/features.js';
import { OPCODE_NAME, Opcode, type CommandName } from '../cmdq/opcodes.js';
import type { PhysMemory } from '../pgtable/memory.js';
import {
  ATC_PAGE_LOG2,
  AtcCache,
  AtcEntry,
  GLOBAL_ASID,
  Kind,
  Regime,
  TaggedCache,
  TlbEntry,
  WalkEntry,
  type KindValue,
  type RegimeValue,
  type TagGroup,
  type TaggedEntry,
} from './caches.js';
import { ConfigCache } from './config-cache.js';
import { AtsEndpoints } from './ats-endpoints.js';
import { CommandQueue, CmdqError } from './queue.js';
import { Rng } from './rng.js';
import type { ContextDescriptor, StreamConfig } from './streams.js';
import { NestedTableUses } from './table-uses.js';
import {
  WalkResult,
  WalkStatus,
  canRead,
  canWrite,
  s1NotGlobal,
  startLevel,
  walkFrom,
  type TableConfig,
} from './walker.js';
import { granuleLog2OfTg, levelShift } from '../units.js';

export type ModelMode = 'adversarial' | 'generous';

export interface SmmuModelOptions {
  /** A name for reports (the SMMU id of the workload). */
  readonly id?: number;
  readonly features?: Partial<SmmuFeatures>;
  /** SMMU_CR2.E2H: EL2 invalidations act on the EL2-E2H regime (with ASIDs). */
  readonly e2h?: boolean;
  readonly mode?: ModelMode;
  /** Lax RES0 checking (set RES0 bits ignored rather than CERROR_ILL). */
  readonly lax?: boolean;
  readonly tlbCapacity?: number;
  readonly walkCapacity?: number;
  readonly atcCapacity?: number;
  /** Physical address of the command queue ring, and log2 of its entry count. */
  readonly queueBase?: number;
  readonly queueLog2Size?: number;
  readonly seed?: number;
  /** Addresses each traffic target translates per traffic round (besides its first and last page). */
  readonly trafficPerRound?: number;
  /** Implementation errata the model enforces (the adversary uses what each one allows). */
  readonly errata?: readonly SmmuErratum[];
}

/**
 * Errata the model can enforce:
 * - `mmu700-2812531`: Arm MMU-700 erratum 2812531: a run of more than 63 commands without a CMD_SYNC may
 *   lose an invalidation (the model drops the first invalidation consumed at position 64 or later of such a
 *   run); Linux's workaround is ARM_SMMU_OPT_CMDQ_FORCE_SYNC (the engine's `forceSync`).
 * - `tegra264-repeat`: NVIDIA Tegra264: entries can escape a TLB or configuration invalidation, so every
 *   such batch with its CMD_SYNC must be issued twice; ATC invalidations are not affected (the model drops
 *   the invalidations of a batch unless it repeats the batch just before it: the first of a pair is lost).
 */
export type SmmuErratum = 'mmu700-2812531' | 'tegra264-repeat';
export const SMMU_ERRATA: readonly SmmuErratum[] = ['mmu700-2812531', 'tegra264-repeat'];

/** Commands a batch may hold on an SMMU with MMU-700 erratum 2812531 before one can be lost. */
const ERRATUM_2812531_BATCH = 63;

/** Device traffic that goes on while invalidations are pending: a stream, SubstreamID and input range. */
export interface TrafficTarget {
  readonly sid: number;
  readonly ssid: number;
  readonly first: number;
  readonly last: number;
}

/** Translation outcome codes. */
export const XlateStatus = {
  OK: 0,
  BAD_STREAM: 1,
  BAD_SUBSTREAM: 2,
  TRANSLATION: 3,
  PERMISSION: 4,
  ADDRESS_SIZE: 5,
} as const;

export const XLATE_STATUS_NAMES = [
  'ok',
  'bad-streamid',
  'bad-substreamid',
  'translation',
  'permission',
  'address-size',
] as const;

/** Where a translation came from. */
export const XlateSource = { NONE: 0, ATC: 1, TLB: 2, WALK: 3, BYPASS: 4 } as const;

/** A stage-1 context resolved from a stream and SubstreamID: everything the caches tag with. */
export interface ResolvedContext {
  readonly sid: number;
  readonly ssid: number;
  readonly kind: KindValue;
  readonly regime: RegimeValue;
  readonly vmid: number;
  readonly asid: number;
  readonly s1: TableConfig | null;
  readonly s2: TableConfig | null;
  readonly ats: boolean;
}

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

/** A consumed invalidation whose effect is not yet guaranteed. */
class Effect {
  constructor(
    readonly op: number,
    readonly rank: number,
    readonly vmid: number,
    readonly asid: number,
    readonly addr: number,
    readonly tg: number,
    readonly num: number,
    readonly scale: number,
    readonly ttl: number,
    readonly leaf: number,
    readonly sid: number,
    readonly ssid: number,
    readonly ssv: number,
    readonly size: number,
    /** CFGI_STE_RANGE: log2 of the StreamID block, minus one. */
    readonly range = 0,
  ) {}
}

const F = FIELD_IDS;
/** The largest SCALE a range command may rely on (IDR5.DS = 1; 31 without DS, where SCALE is 5 bits). */
const MAX_DS_SCALE = 39;
const TWO_POW_64 = TWO_POW_32 * TWO_POW_32;

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

export interface ModelStats {
  commands: Record<string, number>;
  syncs: number;
  msiWrites: number;
  illegal: number;
  /** Invalidations the adversary dropped under an erratum (MMU-700 2812531, Tegra264 repeat). */
  erratumDropped: number;
  translations: number;
  faults: number;
  atcHits: number;
  tlbHits: number;
  walks: number;
  trafficRounds: number;
}

/** A record of a CERROR_ILL: the slot, the raw words and why. */
export interface QueueErrorRecord {
  readonly slot: number;
  readonly halves: readonly number[];
  readonly issue: CommandIssue;
}

export class SmmuModel {
  readonly id: number;
  readonly mem: PhysMemory;
  readonly features: SmmuFeatures;
  readonly e2h: boolean;
  readonly mode: ModelMode;
  readonly queue: CommandQueue;
  readonly checker: CommandChecker;
  readonly rng: Rng;
  readonly tlb: TaggedCache<TlbEntry>;
  readonly walkCache: TaggedCache<WalkEntry>;
  readonly atc: AtcCache;
  /** Where nested stage-1 tables sit in IPA space (for the checker's scope after stage-2 changes). */
  readonly tableUses = new NestedTableUses();
  /** The stream table in memory, as software wrote it (the SMMU translates with `config`). */
  readonly streams = new Map<number, StreamConfig>();
  /** The STEs and CDs the SMMU has cached (IHI 0070 16.2, 3.21.3); see config-cache.ts. */
  readonly config = new ConfigCache();
  /** Bumped whenever the stream table changes (for observers that derive data from it). */
  streamsVersion = 0;
  readonly stats: ModelStats = {
    commands: {},
    syncs: 0,
    msiWrites: 0,
    illegal: 0,
    erratumDropped: 0,
    translations: 0,
    faults: 0,
    atcHits: 0,
    tlbHits: 0,
    walks: 0,
    trafficRounds: 0,
  };
  /** The last command error (CERROR_ILL), if any since the last acknowledge. */
  lastError: QueueErrorRecord | null = null;
  /** The ATS endpoints' answers to ATC invalidation (timeouts: CERROR_ATC_INV_SYNC; see ats-endpoints.ts). */
  readonly endpoints = new AtsEndpoints();
  /** Invalidations consumed whose effect is pending (adversarial mode). */
  readonly pending: Effect[] = [];
  /** Called after each CMD_SYNC completes (its slot index). */
  onSyncComplete: ((slot: number) => void) | null = null;

  private readonly trafficPerRound: number;
  /** MMU-700 2812531: commands consumed since the last CMD_SYNC, and whether this run already lost one. */
  private readonly longBatchLoses: boolean;
  private sinceSync = 0;
  private lostInRun = false;
  /** Tegra264 repeat: the TLBI/CFGI commands (as field values) of this batch and of the one before. */
  private readonly repeatErratum: boolean;
  private batchSig: number[] = [];
  private prevSig: number[] = [];
  private traffic: readonly TrafficTarget[] = [];
  private readonly ctxCache = new Map<number, ResolvedContext | null>();
  private readonly res = new WalkResult();
  private readonly res2 = new WalkResult();
  private readonly entry = new CheckedEntry();
  private readonly h = new Uint32Array(4);
  private inSync = false;
  private readonly rankScratch: Effect[] = [];
  private nestedCtx: ResolvedContext | null = null;
  private readonly tableXlate = (ipa: number): number => this.s2TableAddr(ipa);

  // Outputs of the last translate().
  lastStatus: number = XlateStatus.OK;
  lastSource: number = XlateSource.NONE;
  /** The TLB entry the last translation used or created (null for ATC hits, bypass and faults). */
  lastEntry: TlbEntry | null = null;
  /** On a walk fault: log2 of the span of the level that faulted (lets prefetch skip unmapped space). */
  lastFaultSpanLog2 = 12;

  constructor(mem: PhysMemory, opts: SmmuModelOptions = {}) {
    this.id = opts.id ?? 0;
    this.mem = mem;
    this.features = withFeatures(opts.features);
    this.e2h = opts.e2h ?? false;
    this.mode = opts.mode ?? 'adversarial';
    this.rng = new Rng((opts.seed ?? 1) * 7919 + this.id);
    this.tlb = new TaggedCache<TlbEntry>(opts.tlbCapacity ?? 1 << 20, this.rng, (e) => e.ipa);
    this.walkCache = new TaggedCache<WalkEntry>(opts.walkCapacity ?? 1 << 18, this.rng, null);
    this.atc = new AtcCache(opts.atcCapacity ?? 1 << 20, this.rng);
    this.queue = new CommandQueue(mem, opts.queueBase ?? 0xf_0000_0000 + this.id * 0x100_0000, opts.queueLog2Size ?? 8);
    this.checker = new CommandChecker({ features: this.features, queue: 'non-secure', lax: opts.lax ?? false });
    this.trafficPerRound = opts.trafficPerRound ?? 8;
    this.longBatchLoses = opts.errata?.includes('mmu700-2812531') ?? false;
    this.repeatErratum = opts.errata?.includes('tegra264-repeat') ?? false;
  }

  // ---------------------------------------------------------------- stream table

  /**
   * Set up a stream at once: write its STE and CDs and drop what the SMMU cached for it, as a completed
   * CFGI_STE + CMD_SYNC would (for set-up code and tests). Consumers that change a live configuration
   * use `writeStream` / `writeStreamInvalid` and issue the CFGI_* commands themselves.
   */
  setStream(cfg: StreamConfig): void {
    this.writeStream(cfg);
    if (this.config.dropStream(cfg.sid) > 0) this.ctxCache.clear();
  }

  /** `setStream` for an invalid STE (abort): written and any cached copy dropped at once. */
  removeStream(sid: number): void {
    this.writeStreamInvalid(sid);
    if (this.config.dropStream(sid) > 0) this.ctxCache.clear();
  }

  /** Write a stream's STE and CD table in memory only: cached copies stay until a CFGI_* completes. */
  writeStream(cfg: StreamConfig): void {
    this.streams.set(cfg.sid, cfg);
    this.streamsVersion++;
  }

  /** Make a stream's STE invalid (V = 0) in memory only: cached copies stay until a CFGI_* completes. */
  writeStreamInvalid(sid: number): void {
    this.streams.delete(sid);
    this.streamsVersion++;
  }

  /** Lose every cached STE and CD (the SMMU was powered off or reset). */
  forgetConfig(): void {
    this.config.ste.clear();
    this.config.cd.clear();
    this.ctxCache.clear();
  }

  /** The cache tags of (sid, ssid) from the cached STE/CD (fetched if not cached), or null when invalid. */
  resolve(sid: number, ssid: number): ResolvedContext | null {
    const key = sid * 2 ** 20 + ssid;
    const hit = this.ctxCache.get(key);
    if (hit !== undefined) return hit;
    const st = this.config.steOf(sid, this.streams);
    const s1 = st !== null && (st.mode === 'stage1' || st.mode === 'nested');
    const ctx = this.contextOf(sid, ssid, st, s1 ? this.config.cdOf(sid, ssid, this.streams) : null);
    this.ctxCache.set(key, ctx);
    return ctx;
  }

  /** The cache tags of (sid, ssid) as the stream table in memory gives them (what the checker judges by). */
  resolveLive(sid: number, ssid: number): ResolvedContext | null {
    const st = this.streams.get(sid) ?? null;
    return this.contextOf(sid, ssid, st, st?.cds?.get(ssid) ?? null);
  }

  private contextOf(
    sid: number,
    ssid: number,
    st: StreamConfig | null,
    cd: ContextDescriptor | null,
  ): ResolvedContext | null {
    let ctx: ResolvedContext | null = null;
    if (st !== null) {
      const vmid = this.features.stage2 ? st.vmid : 0;
      if (st.mode === 'bypass') {
        ctx = { sid, ssid, kind: Kind.S1, regime: Regime.NH, vmid, asid: 0, s1: null, s2: null, ats: st.ats };
      } else if (st.mode === 'stage2') {
        ctx = st.s2
          ? { sid, ssid, kind: Kind.S2, regime: Regime.NH, vmid, asid: 0, s1: null, s2: st.s2, ats: st.ats }
          : null;
      } else {
        if (cd !== null && (st.mode === 'stage1' || st.s2 !== undefined)) {
          const regime = st.regime === 'el2' ? Regime.EL2 : st.regime === 'el2-e2h' ? Regime.EL2_E2H : Regime.NH;
          const nested = st.mode === 'nested';
          ctx = {
            sid,
            ssid,
            kind: nested ? Kind.NESTED : Kind.S1,
            regime,
            vmid: regime === Regime.NH ? vmid : 0,
            asid: regime === Regime.EL2 ? 0 : cd.asid,
            s1: cd.table,
            s2: nested ? st.s2! : null,
            ats: st.ats,
          };
        }
      }
    }
    return ctx;
  }

  // ---------------------------------------------------------------- translation

  /**
   * Translate one device access as hardware may: ATC (ATS streams), TLB, walk cache, then the tables in
   * memory, filling every cache on the way. Returns the output address, or -1 with `lastStatus` set.
   */
  translate(sid: number, ssid: number, addr: number, write = false): number {
    this.stats.translations++;
    this.lastEntry = null;
    const st = this.config.steOf(sid, this.streams);
    if (st === null) return this.fail(XlateStatus.BAD_STREAM);
    if (st.mode === 'bypass') {
      this.lastSource = XlateSource.BYPASS;
      this.lastStatus = XlateStatus.OK;
      return addr;
    }
    const ctx = this.resolve(sid, ssid);
    if (ctx === null) return this.fail(XlateStatus.BAD_SUBSTREAM);
    if (ctx.ats) {
      const a = this.atc.lookup(sid, ssid, addr);
      if (a !== undefined) {
        this.stats.atcHits++;
        this.lastSource = XlateSource.ATC;
        if ((a.perm & (write ? 2 : 1)) === 0) return this.fail(XlateStatus.PERMISSION);
        this.lastStatus = XlateStatus.OK;
        return a.outPage + modFloor(addr, 4096);
      }
    }
    const e = this.lookupOrWalk(ctx, addr);
    if (e === null) return -1;
    const pa = e.outStart + (addr - e.inStart);
    const perm = this.permOf(e);
    if (ctx.ats) {
      const page = Math.floor(addr / 4096) * 4096;
      const ipa = e.kind === Kind.NESTED ? e.ipa + (page - e.inStart) : -1;
      this.atc.insert(new AtcEntry(sid, ssid, page, Math.floor(pa / 4096) * 4096, perm, ipa));
    }
    if ((perm & (write ? 2 : 1)) === 0) return this.fail(XlateStatus.PERMISSION);
    this.lastStatus = XlateStatus.OK;
    return pa;
  }

  private fail(status: number): number {
    this.lastStatus = status;
    this.stats.faults++;
    return -1;
  }

  /** Read (bit 0) / write (bit 1) permission of a TLB entry. */
  permOf(e: TlbEntry): number {
    const stage = e.kind === Kind.S2 ? 2 : 1;
    let p = (canRead(stage, e.attrLo) ? 1 : 0) | (canWrite(stage, e.attrLo) ? 2 : 0);
    if (e.kind === Kind.NESTED) p &= (canRead(2, e.s2AttrLo) ? 1 : 0) | (canWrite(2, e.s2AttrLo) ? 2 : 0);
    return p;
  }

  private lookupOrWalk(ctx: ResolvedContext, addr: number): TlbEntry | null {
    const global = ctx.kind !== Kind.S2;
    const hit = this.tlb.lookup(ctx.regime, ctx.kind, ctx.vmid, ctx.asid, addr, global);
    if (hit !== undefined) {
      this.stats.tlbHits++;
      this.lastSource = XlateSource.TLB;
      this.lastEntry = hit;
      return hit;
    }
    this.stats.walks++;
    this.lastSource = XlateSource.WALK;
    let e: TlbEntry | null;
    if (ctx.kind === Kind.S2) e = this.walkS2(ctx.vmid, ctx.s2!, addr);
    else if (ctx.kind === Kind.S1) e = this.walkS1(ctx, addr);
    else e = this.walkNested(ctx, addr);
    this.lastEntry = e;
    return e;
  }

  /** Walk one stage for `addr`, starting from the deepest walk-cache entry, caching table descriptors. */
  private walkStage(
    res: WalkResult,
    regime: RegimeValue,
    kind: KindValue,
    vmid: number,
    asid: number,
    cfg: TableConfig,
    addr: number,
    xlate: ((ipa: number) => number) | null,
  ): boolean {
    res.tables = 0;
    const g = cfg.granuleLog2;
    if (addr >= 2 ** cfg.ias) {
      res.status = WalkStatus.ADDRESS_SIZE;
      res.level = startLevel(g, cfg.ias);
      this.lastFaultSpanLog2 = levelShift(g, res.level);
      this.lastStatus = XlateStatus.ADDRESS_SIZE;
      this.stats.faults++;
      return false;
    }
    let level = startLevel(g, cfg.ias);
    let table = cfg.root;
    const nested = kind === Kind.NESTED;
    const we = this.walkCache.lookup(regime, kind, vmid, asid, addr, false);
    if (we !== undefined) {
      // A nested entry is a combined structure: it continues at the PA it holds, without a stage-2 lookup.
      level = we.level + 1;
      table = we.nextPa;
    } else if (nested) this.tableUses.note(regime, vmid, asid, cfg.root, g, 0, cfg.ias);
    walkFrom(this.mem, cfg, addr, level, table, res, xlate, we !== undefined);
    for (let t = 0; t < res.tables; t++) {
      const lv = res.tableLevel[t]!;
      const nextPa = res.tableNextPa[t]!;
      if (nextPa < 0) continue; // the next table's stage-2 translation faulted: nothing to combine
      const shift = levelShift(g, lv);
      this.walkCache.insert(
        new WalkEntry(regime, kind, vmid, asid, res.tableIn[t]!, shift, lv, g, res.tableNext[t]!, nextPa),
      );
      if (nested) this.tableUses.note(regime, vmid, asid, res.tableNext[t]!, g, res.tableIn[t]!, shift);
    }
    if (res.status !== WalkStatus.OK) {
      this.lastFaultSpanLog2 = levelShift(g, res.level);
      this.lastStatus = XlateStatus.TRANSLATION;
      this.stats.faults++;
      return false;
    }
    return true;
  }

  private walkS1(ctx: ResolvedContext, addr: number): TlbEntry | null {
    const res = this.res;
    const cfg = ctx.s1!;
    if (!this.walkStage(res, ctx.regime, Kind.S1, ctx.vmid, ctx.asid, cfg, addr, null)) return null;
    const global = ctx.regime !== Regime.EL2 && !s1NotGlobal(res.attrLo);
    const asidKey = ctx.regime === Regime.EL2 ? 0 : global ? GLOBAL_ASID : ctx.asid;
    return this.insertSingleStage(res, ctx.regime, Kind.S1, ctx.vmid, asidKey, ctx.asid, cfg);
  }

  /** Cache the leaf of a single-stage walk (stage 1 or stage 2) in the TLB. */
  private insertSingleStage(
    res: WalkResult,
    regime: RegimeValue,
    kind: KindValue,
    vmid: number,
    asidKey: number,
    srcAsid: number,
    cfg: TableConfig,
  ): TlbEntry {
    const e = new TlbEntry(
      regime,
      kind,
      vmid,
      asidKey,
      srcAsid,
      res.inStart,
      res.sizeLog2,
      res.outStart,
      res.level,
      cfg.granuleLog2,
      res.attrLo,
      res.attrHi,
      -1,
      0,
      0,
      0,
      0,
    );
    this.tlb.insert(e);
    return e;
  }

  private walkS2(vmid: number, cfg: TableConfig, ipa: number): TlbEntry | null {
    const hit = this.tlb.lookup(Regime.NH, Kind.S2, vmid, 0, ipa, false);
    if (hit !== undefined) return hit;
    const res = this.res2;
    if (!this.walkStage(res, Regime.NH, Kind.S2, vmid, 0, cfg, ipa, null)) return null;
    return this.insertSingleStage(res, Regime.NH, Kind.S2, vmid, 0, 0, cfg);
  }

  /** Stage-2 translation of a stage-1 table address under nesting (cached as a stage-2 entry). */
  private s2TableAddr(ipa: number): number {
    const ctx = this.nestedCtx!;
    const e = this.walkS2(ctx.vmid, ctx.s2!, ipa);
    return e === null ? -1 : e.outStart + (ipa - e.inStart);
  }

  private walkNested(ctx: ResolvedContext, addr: number): TlbEntry | null {
    const res = this.res;
    const cfg = ctx.s1!;
    this.nestedCtx = ctx;
    if (!this.walkStage(res, ctx.regime, Kind.NESTED, ctx.vmid, ctx.asid, cfg, addr, this.tableXlate)) return null;
    const s1In = res.inStart;
    const s1Size = res.sizeLog2;
    const s1Out = res.outStart;
    const s1Level = res.level;
    const s1Lo = res.attrLo;
    const s1Hi = res.attrHi;
    const ipa = s1Out + (addr - s1In);
    const e2 = this.walkS2(ctx.vmid, ctx.s2!, ipa);
    if (e2 === null) return null;
    const sizeLog2 = Math.min(s1Size, e2.sizeLog2);
    const span = 2 ** sizeLog2;
    const inStart = Math.floor(addr / span) * span;
    const ipaStart = Math.floor(ipa / span) * span;
    const global = !s1NotGlobal(s1Lo);
    const e = new TlbEntry(
      ctx.regime,
      Kind.NESTED,
      ctx.vmid,
      global ? GLOBAL_ASID : ctx.asid,
      ctx.asid,
      inStart,
      sizeLog2,
      e2.outStart + (ipaStart - e2.inStart),
      s1Level,
      cfg.granuleLog2,
      s1Lo,
      s1Hi,
      ipaStart,
      e2.level,
      e2.granuleLog2,
      e2.attrLo,
      e2.attrHi,
      s1Size,
    );
    this.tlb.insert(e);
    return e;
  }

  /**
   * Fill the caches for every mapped address in [first, last] of (sid, ssid): one translation per leaf
   * (per 4 KiB page for ATS streams, whose ATC holds 4 KiB entries); unmapped space is skipped a whole
   * table span at a time. Returns the number of translations made.
   */
  prefetch(sid: number, ssid: number, first: number, last: number): number {
    const ctx = this.resolve(sid, ssid);
    if (ctx === null) return 0;
    let n = 0;
    let a = Math.floor(first / 4096) * 4096;
    while (a <= last) {
      n++;
      const pa = this.translate(sid, ssid, a, false);
      let step: number;
      if (pa >= 0 || this.lastStatus === XlateStatus.PERMISSION) {
        if (ctx.ats || this.lastEntry === null) step = 4096;
        else step = this.lastEntry.inStart + 2 ** this.lastEntry.sizeLog2 - a;
      } else {
        const span = 2 ** this.lastFaultSpanLog2;
        step = span - modFloor(a, span);
      }
      a += step;
    }
    return n;
  }

  // ---------------------------------------------------------------- traffic

  /** Device traffic that runs while invalidations are pending (until cleared). */
  setTraffic(targets: readonly TrafficTarget[]): void {
    this.traffic = targets;
  }

  clearTraffic(): void {
    this.traffic = [];
  }

  /** One round of traffic: per target, its first and last page and a few random pages in between. */
  runTraffic(): void {
    const ts = this.traffic;
    if (ts.length === 0) return;
    this.stats.trafficRounds++;
    for (let i = 0; i < ts.length; i++) {
      const t = ts[i]!;
      const firstPage = Math.floor(t.first / 4096) * 4096;
      const lastPage = Math.floor(t.last / 4096) * 4096;
      this.translate(t.sid, t.ssid, firstPage, false);
      if (lastPage !== firstPage) this.translate(t.sid, t.ssid, lastPage, false);
      const pages = (lastPage - firstPage) / 4096 + 1;
      if (pages > 2) {
        const n = Math.min(this.trafficPerRound, pages - 2);
        for (let k = 0; k < n; k++)
          this.translate(t.sid, t.ssid, firstPage + 4096 * (1 + this.rng.below(pages - 2)), false);
      }
    }
  }

  // ---------------------------------------------------------------- command queue

  /**
   * Producer side, as a driver does it: write `count` entries from `u32` (4 halves each, starting at entry
   * `from`) at PROD, publishing and letting the SMMU consume whenever the ring fills, then consume all.
   * Stops early (returning the number written) if the queue stalls on an error.
   */
  submit(u32: Uint32Array, from: number, count: number): number {
    const q = this.queue;
    for (let k = 0; k < count; k++) {
      if (q.full) {
        this.process();
        if (q.full) return k;
      }
      const i = (from + k) * 4;
      q.push(u32[i]!, u32[i + 1]!, u32[i + 2]!, u32[i + 3]!);
    }
    this.process();
    return count;
  }

  /** Consume entries until CONS reaches PROD or an error stops the queue. */
  process(): void {
    const q = this.queue;
    const h = this.h;
    const ce = this.entry;
    while (!q.stalled && !q.empty) {
      q.readCons(h);
      if (!this.checker.check(h[0]!, h[1]!, h[2]!, h[3]!, ce)) {
        this.stats.illegal++;
        this.lastError = { slot: q.slotOf(q.cons), halves: [h[0]!, h[1]!, h[2]!, h[3]!], issue: ce.error! };
        q.raise(CmdqError.ILL);
        return;
      }
      // A CMD_SYNC after an ATC invalidation that timed out stops on CERROR_ATC_INV_SYNC: not consumed, no
      // completion signal, nothing completed (IHI 0070 4.7.3, 3.9.1.4); GERRORN makes it execute again.
      if (ce.opcode === Opcode.CMD_SYNC && this.endpoints.takeReport()) {
        q.raise(CmdqError.ATC_INV_SYNC);
        return;
      }
      this.execute(ce, q.slotOf(q.cons));
      q.consume();
    }
  }

  /**
   * The endpoint of `sid` lets its next `n` ATS Invalidate Requests time out (0: it answers; Infinity: it
   * never answers until `resetEndpoint`).
   */
  setEndpointTimeouts(sid: number, n: number): void {
    this.endpoints.setTimeouts(sid, n);
  }

  /** Function-level reset of an ATS endpoint: its ATC is emptied and it answers invalidations again. */
  resetEndpoint(sid: number): void {
    this.endpoints.reset(sid);
    this.atc.invalidate(sid, undefined, 0, TWO_POW_64 - 1);
  }

  /** Producer: acknowledge a command error (GERRORN := GERROR) and resume consumption at CONS. */
  acknowledgeError(): void {
    this.queue.acknowledge();
    this.lastError = null;
    this.process();
  }

  /** Execute one legal command (exposed for unit tests that bypass the ring). */
  execute(ce: CheckedEntry, slot = 0): void {
    const name = ce.name!;
    const c = this.stats.commands;
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
      this.stats.erratumDropped++;
      return;
    }
    // An ATS Invalidate Request the endpoint does not answer invalidates nothing (reported at the next SYNC).
    if (op === Opcode.ATC_INV && this.endpoints.any && this.endpoints.request(v[F.sid]!)) return;
    // Lax mode tolerates set RES0 bits; an SMMU that tolerates them "ignores the entirety of" the reserved
    // field (IHI 0070 4.1.5): without IDR3.RIL, TG/NUM/SCALE/TTL are RES0 (4.4.1.1) and the command is a
    // single-address one; without IDR5.DS, SCALE is 5 bits wide (its top bit is RES0).
    const ranged = this.features.ril;
    const scale = ranged ? v[F.scale]! : 0;
    const eff = new Effect(
      op,
      completionRank(op, v[F.leaf]!),
      v[F.vmid]!,
      v[F.asid]!,
      v[F.addr]!,
      ranged ? v[F.tg]! : 0,
      ranged ? v[F.num]! : 0,
      this.features.ds || scale < 32 ? scale : scale - 32,
      ranged ? v[F.ttl]! : 0,
      v[F.leaf]!,
      v[F.sid]!,
      v[F.ssid]!,
      v[F.ssv]!,
      v[F.size]!,
    );
    if (this.mode === 'generous') this.apply(eff);
    else this.pending.push(eff);
  }

  /** A configuration invalidation: pending until a CMD_SYNC (IHI 0070 3.21.3), completed early or late there. */
  private queueCfgi(op: number, v: Float64Array): void {
    const generous = this.mode === 'generous';
    const rank = generous || this.rng.below(2) === 0 ? RANK_CFG_EARLY : RANK_CFG_LATE;
    const eff = new Effect(op, rank, 0, 0, 0, 0, 0, 0, 0, v[F.leaf]!, v[F.sid]!, v[F.ssid]!, 0, 0, v[F.range]!);
    if (generous) this.apply(eff);
    else this.pending.push(eff);
  }

  /** CMD_SYNC: complete every pending effect (adversarially ordered, traffic between classes), then signal. */
  private sync(ce: CheckedEntry, slot: number): void {
    this.stats.syncs++;
    this.sinceSync = 0;
    this.lostInRun = false;
    if (this.repeatErratum) this.dropUnrepeated();
    this.completePending();
    const v = ce.values;
    if (v[F.cs] === 1 && v[F.msiaddr] !== 0) {
      this.mem.writeU32(v[F.msiaddr]!, v[F.msidata]!);
      this.stats.msiWrites++;
    }
    this.onSyncComplete?.(slot);
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
      let removed = this.removedCount();
      for (let rank = 0; rank < RANK_COUNT; rank++) {
        batch.length = 0;
        for (let i = 0; i < p.length; i++) if (p[i]!.rank === rank) batch.push(p[i]!);
        for (let i = batch.length - 1; i > 0; i--) {
          const j = this.rng.below(i + 1);
          const t = batch[i]!;
          batch[i] = batch[j]!;
          batch[j] = t;
        }
        for (let i = 0; i < batch.length; i++) {
          this.apply(batch[i]!);
          const now = this.removedCount();
          if (now !== removed) {
            this.runTraffic();
            removed = this.removedCount();
          }
        }
      }
      batch.length = 0;
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
        else this.stats.erratumDropped++;
      }
      p.length = k;
    }
    this.prevSig = a;
    this.batchSig = b;
    b.length = 0;
  }

  /** Entries removed by invalidation so far, over the TLB, the walk cache and the ATC. */
  private removedCount(): number {
    return this.tlb.removed + this.walkCache.removed + this.atc.removed + this.config.removed;
  }

  // ---------------------------------------------------------------- invalidation semantics

  /** Apply one invalidation: remove what the architecture guarantees (generous mode: more). */
  private apply(eff: Effect): void {
    const stage2 = this.features.stage2;
    const vmidMatch = (g: TagGroup<TaggedEntry>): boolean => !stage2 || g.vmid === eff.vmid;
    switch (eff.op) {
      case Opcode.TLBI_NH_ALL:
        this.killGroups((g) => g.regime === Regime.NH && g.kind !== Kind.S2 && vmidMatch(g), undefined);
        return;
      case Opcode.TLBI_NH_ASID:
        this.killGroups((g) => g.regime === Regime.NH && g.kind !== Kind.S2 && vmidMatch(g), eff.asid);
        return;
      case Opcode.TLBI_NH_VA:
      case Opcode.TLBI_NH_VAA: {
        const byAsid = eff.op === Opcode.TLBI_NH_VA;
        const sel = (g: TagGroup<TaggedEntry>): boolean => g.regime === Regime.NH && g.kind !== Kind.S2 && vmidMatch(g);
        this.killByAddress(eff, sel, byAsid ? eff.asid : undefined, byAsid);
        return;
      }
      case Opcode.TLBI_EL2_ALL:
        // "All stage 1 NS-EL2/Hyp entries are invalidated, whether ASID-tagged (E2H) or not" (IHI 0070 4.4.2.7):
        // both EL2 regimes, whatever CR2.E2H says now.
        this.killGroups((g) => g.regime === Regime.EL2 || g.regime === Regime.EL2_E2H, undefined);
        return;
      case Opcode.TLBI_EL2_ASID:
        if (this.e2h) this.killGroups((g) => g.regime === Regime.EL2_E2H, eff.asid);
        return;
      case Opcode.TLBI_EL2_VA:
      case Opcode.TLBI_EL2_VAA: {
        const r = this.e2h ? Regime.EL2_E2H : Regime.EL2;
        const byAsid = this.e2h && eff.op === Opcode.TLBI_EL2_VA;
        this.killByAddress(eff, (g) => g.regime === r, byAsid ? eff.asid : undefined, byAsid);
        return;
      }
      case Opcode.TLBI_S2_IPA:
        this.killByAddress(eff, (g) => g.regime === Regime.NH && g.kind === Kind.S2 && g.vmid === eff.vmid, 0, false);
        return;
      case Opcode.TLBI_S12_VMALL:
        this.killGroups((g) => g.regime === Regime.NH && g.vmid === eff.vmid, undefined);
        return;
      case Opcode.TLBI_NSNH_ALL:
        this.killGroups((g) => g.regime === Regime.NH, undefined);
        return;
      case Opcode.CFGI_STE:
      case Opcode.CFGI_STE_RANGE:
      case Opcode.CFGI_CD:
      case Opcode.CFGI_CD_ALL:
      case Opcode.CFGI_VMS_PIDM: {
        // Generous mode over-invalidates as QEMU does: a CD invalidation drops the whole StreamID's config.
        const cdOnly = eff.op === Opcode.CFGI_CD || eff.op === Opcode.CFGI_CD_ALL;
        const op = this.mode === 'generous' && cdOnly ? Opcode.CFGI_STE : eff.op;
        if (this.config.invalidate({ op, sid: eff.sid, ssid: eff.ssid, range: eff.range }) > 0) this.ctxCache.clear();
        return;
      }
      case Opcode.ATC_INV: {
        let first = 0;
        let last = TWO_POW_64 - 1;
        // Size > 52 (legal only with features.atcSizeAbove52 = 'unknown') has an UNKNOWN span (IHI 0070
        // 4.5.1): the adversary invalidates nothing; the generous model everything.
        if (eff.size > 52 && this.mode !== 'generous') return;
        if (eff.size < 52) {
          const span = 2 ** (ATC_PAGE_LOG2 + eff.size);
          first = Math.floor(eff.addr / span) * span;
          last = first + span - 1;
        }
        // The model keys traffic without a PASID at SubstreamID 0. An ATC_INV with SSV=1 carries a PASID
        // prefix, and a PASID-tagged ATS invalidation does not reach entries without a PASID: those need
        // SSV=0 (IHI 0070 4.5.1, S1DSS=0b10). PASID-0 traffic itself is terminated, so nothing is removed.
        if (eff.ssv === 1 && eff.ssid === 0) return;
        this.atc.invalidate(eff.sid, eff.ssv === 1 ? eff.ssid : undefined, first, last);
        return;
      }
      default:
        // EL3_* (no Secure entries are modelled): nothing to remove.
        return;
    }
  }

  /** Remove every TLB and walk-cache entry of the selected groups (one ASID, never globals, when given). */
  private killGroups(sel: (g: TagGroup<TaggedEntry>) => boolean, asid: number | undefined): void {
    for (const g of this.tlb.groupsWhere(sel as (g: TagGroup<TlbEntry>) => boolean)) this.tlb.removeAll(g, asid, null);
    for (const g of this.walkCache.groupsWhere(sel as (g: TagGroup<WalkEntry>) => boolean))
      this.walkCache.removeAll(g, asid, null);
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
  private killByAddress(
    eff: Effect,
    sel: (g: TagGroup<TaggedEntry>) => boolean,
    asid: number | undefined,
    withGlobal: boolean,
  ): void {
    const first = eff.addr;
    let last = eff.addr;
    let g = 0;
    let ttl = 0;
    const generous = this.mode === 'generous';
    if (eff.tg !== 0) {
      g = granuleLog2OfTg(eff.tg);
      ttl = eff.tg === 2 && eff.ttl === 1 && !this.features.ds ? 0 : eff.ttl;
      // With DS, SCALE is 6 bits (w0[25:20]); a SCALE above 39 "is treated as 39" but software must not
      // rely on it (IHI 0070 4.4.1.1): the adversary takes the range to be nothing at all.
      if (!generous && eff.scale > MAX_DS_SCALE) return;
      const range = (eff.num + 1) * 2 ** eff.scale * 2 ** g;
      last = Math.min(eff.addr + range, TWO_POW_64) - 1;
      // A base misaligned for the hinted level makes the invalidated range UNPREDICTABLE: the adversary
      // takes that to be nothing at all.
      if (!generous && misalignedForTtl(eff.addr, g, eff.ttl, this.features.ds)) return;
    }
    const leafOnly = eff.leaf === 1 && !generous;
    const tlbPred =
      generous || eff.tg === 0 ? null : (e: TlbEntry): boolean => e.granuleLog2 === g && (ttl === 0 || e.level === ttl);
    const walkPred =
      generous || eff.tg === 0 ? null : (e: WalkEntry): boolean => e.granuleLog2 === g && (ttl === 0 || e.level < ttl);
    for (const grp of this.tlb.groupsWhere(sel as (g: TagGroup<TlbEntry>) => boolean)) {
      this.tlb.removeOverlapping(grp, asid, first, last, tlbPred);
      if (withGlobal && asid !== undefined) this.tlb.removeOverlapping(grp, GLOBAL_ASID, first, last, tlbPred);
    }
    if (!leafOnly) {
      for (const grp of this.walkCache.groupsWhere(sel as (g: TagGroup<WalkEntry>) => boolean))
        this.walkCache.removeOverlapping(grp, asid, first, last, walkPred);
    }
  }

  // ---------------------------------------------------------------- introspection

  /** Names of the commands executed so far, with counts. */
  commandCounts(): Record<string, number> {
    return { ...this.stats.commands };
  }
}

/**
 * True when a range invalidation's base address is misaligned for its TTL hint (Arm IHI 0070 4.4.1.1, 64-bit
 * descriptors): 4K: TTL=1 with Addr[29:12] ≠ 0, TTL=2 with Addr[20:12] ≠ 0; 16K: TTL=2 with Addr[24:12] ≠ 0,
 * TTL 0 or 3 with Addr[13:12] ≠ 0 (and TTL=1 with Addr[35:12] ≠ 0 under DS); 64K: TTL=1 with Addr[41:12] ≠ 0,
 * TTL=2 with Addr[28:12] ≠ 0, TTL 0 or 3 with Addr[15:12] ≠ 0.
 */
export function misalignedForTtl(addr: number, granuleLog2: number, ttl: number, ds: boolean): boolean {
  const bad = (hiBit: number): boolean => addr % 2 ** (hiBit + 1) !== 0;
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

/** The name of an entry's opcode (undefined for reserved ones), from the codec's table. */
export function opcodeName(h0: number): CommandName | undefined {
  return OPCODE_NAME[h0 & 0xff];
}
