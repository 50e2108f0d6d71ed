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
import { TWO_POW_32 } from '../bits.js';
import { CheckedEntry, CommandChecker, type CommandIssue } from '../cmdq/check.js';
import { withFeatures, type SmmuFeatures } from '../cmdq/features.js';
import { OPCODE_NAME, Opcode, type CommandName } from '../cmdq/opcodes.js';
import type { PhysMemory } from '../pgtable/memory.js';
import {
  AtcCache,
  Kind,
  Regime,
  TaggedCache,
  type KindValue,
  type RegimeValue,
  type TlbEntry,
  type WalkEntry,
} from './caches.js';
import { ConfigCache } from './config-cache.js';
import { AtsEndpoints } from './ats-endpoints.js';
import { CommandExecutor, type Effect } from './execution.js';
import { CommandQueue, CmdqError } from './queue.js';
import { Rng } from './rng.js';
import type { ContextDescriptor, StreamConfig } from './streams.js';
import { NestedTableUses } from './table-uses.js';
import { Translator, permOf } from './translation.js';
import type { TableConfig } from './walker.js';

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

/** Device traffic that goes on while invalidations are pending: a stream, SubstreamID and input range. */
export interface TrafficTarget {
  readonly sid: number;
  readonly ssid: number;
  readonly first: number;
  readonly last: number;
}

export { XlateStatus, XLATE_STATUS_NAMES, XlateSource } from './translation.js';
export { misalignedForTtl } from './execution.js';

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

const TWO_POW_64 = TWO_POW_32 * TWO_POW_32;

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
  /** Called after each CMD_SYNC completes (its slot index). */
  onSyncComplete: ((slot: number) => void) | null = null;
  /** Implementation errata the model enforces. */
  readonly errata: readonly SmmuErratum[];

  private readonly ctxCache = new Map<number, ResolvedContext | null>();
  private readonly entry = new CheckedEntry();
  private readonly h = new Uint32Array(4);
  /** Translation and traffic (translation.ts). */
  private readonly xl: Translator;
  /** Command execution: pending effects and their completion (execution.ts). */
  private readonly exec: CommandExecutor;

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
    this.errata = opts.errata ?? [];
    this.xl = new Translator(this, opts.trafficPerRound ?? 8);
    this.exec = new CommandExecutor(this);
  }

  /** Invalidations consumed whose effect is pending (adversarial mode). */
  get pending(): Effect[] {
    return this.exec.pending;
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

  // ---------------------------------------------------------------- translation (translation.ts)

  /**
   * Translate one device access as hardware may: ATC (ATS streams), TLB, walk cache, then the tables in
   * memory, filling every cache on the way. Returns the output address, or -1 with `lastStatus` set.
   */
  translate(sid: number, ssid: number, addr: number, write = false): number {
    return this.xl.translate(sid, ssid, addr, write);
  }

  /** Outcome of the last translate() (XlateStatus). */
  get lastStatus(): number {
    return this.xl.lastStatus;
  }

  /** Where the last translate() was served from (XlateSource). */
  get lastSource(): number {
    return this.xl.lastSource;
  }

  /** The TLB entry the last translation used or created (null for ATC hits, bypass and faults). */
  get lastEntry(): TlbEntry | null {
    return this.xl.lastEntry;
  }

  /** On a walk fault: log2 of the span of the level that faulted (lets prefetch skip unmapped space). */
  get lastFaultSpanLog2(): number {
    return this.xl.lastFaultSpanLog2;
  }

  /** Read (bit 0) / write (bit 1) permission of a TLB entry. */
  permOf(e: TlbEntry): number {
    return permOf(e);
  }

  /**
   * Fill the caches for every mapped address in [first, last] of (sid, ssid): one translation per leaf
   * (per 4 KiB page for ATS streams, whose ATC holds 4 KiB entries); unmapped space is skipped a whole
   * table span at a time. Returns the number of translations made.
   */
  prefetch(sid: number, ssid: number, first: number, last: number): number {
    return this.xl.prefetch(sid, ssid, first, last);
  }

  /** Device traffic that runs while invalidations are pending (until cleared). */
  setTraffic(targets: readonly TrafficTarget[]): void {
    this.xl.traffic = targets;
  }

  clearTraffic(): void {
    this.xl.traffic = [];
  }

  /** One round of traffic: per target, its first and last page and a few random pages in between. */
  runTraffic(): void {
    this.xl.runTraffic();
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
    this.exec.execute(ce, slot);
  }

  /** Complete pending effects now, as a CMD_SYNC does before it signals (see execution.ts). */
  completePending(): void {
    this.exec.completePending();
  }

  /** Forget the contexts resolved from cached STEs and CDs (a configuration invalidation removed some). */
  dropResolved(): void {
    this.ctxCache.clear();
  }

  // ---------------------------------------------------------------- introspection

  /** Names of the commands executed so far, with counts. */
  commandCounts(): Record<string, number> {
    return { ...this.stats.commands };
  }
}

/** The name of an entry's opcode (undefined for reserved ones), from the codec's table. */
export function opcodeName(h0: number): CommandName | undefined {
  return OPCODE_NAME[h0 & 0xff];
}
