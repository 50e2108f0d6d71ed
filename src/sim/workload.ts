/**
 * The randomized workload behind `simulate`: page tables → map / unmap → engine → (faults) → command queues →
 * SMMU models → stale-translation checker. One function, `runSimulation(config)`, returns the report object;
 * the CLI (and later scenarios) only format it.
 *
 * Set-up: two domains, each attached on every SMMU to a stream without ATS and (with ATS) to a shared ATS
 * endpoint under its own SubstreamID (stage 1) or to an ATS stream of its own (stage 2). Nested: two guest
 * stage-1 domains (VA = IPA) over one stage-2 parent (VMID 1) that maps the guest's table frames
 * one-to-one and its data pages anywhere; stage-2 changes invalidate through S2_VMID, S2_VMID_S1_CLEAR and
 * ATS_FULL targets. Each operation maps a free slot (pages or a block) or unmaps a mapped one (whole, or a
 * run of its pages); before an unmap the caches are filled over the range, during the invalidation device
 * traffic runs over it, and after the last CMD_SYNC the checker examines what can have gone stale.
 */
import { hex64, hexAddr } from '../bits.js';
import { CheckedEntry, CommandChecker, FIELD_IDS } from '../cmdq/check.js';
import { OPCODE_SPECS, Opcode, type CommandName } from '../cmdq/opcodes.js';
import { writeSync } from '../cmdq/writers.js';
import { FrameAllocator, PhysMemory } from '../pgtable/memory.js';
import { IoPageTable, type UnmapResult } from '../pgtable/pagetable.js';
import { invsOf, type InvKey, type Invs } from '../tlbi/invs.js';
import { PlanOutput } from '../tlbi/output.js';
import { invalidateRange, tlbiInv, type Policy, type SmmuTable, type TlbiDescription } from '../tlbi/plan.js';
import { StaleChecker, type StaleReport } from '../smmu/checker.js';
import { SmmuModel, type ModelMode, type SmmuErratum, type TrafficTarget } from '../smmu/model.js';
import {
  collectEntries,
  listEntries,
  staleReportKey,
  type CacheEntries,
  type CacheSnapshot,
} from '../smmu/snapshot.js';
import { Rng } from '../smmu/rng.js';
import type { StreamConfig } from '../smmu/streams.js';
import type { TableConfig } from '../smmu/walker.js';
import { applyFault, type EntryList, type FaultName } from './faults.js';
import { CONFIG_EVERY, changeTag, tagOf, type ConfigChangeEnv } from './config-change.js';
import { log2Of } from '../units.js';

export type SimStage = '1' | '2' | 'nested';

export interface SimConfig {
  readonly granule: 4096 | 16384 | 65536;
  readonly stage: SimStage;
  readonly ril: boolean;
  readonly ats: boolean;
  readonly smmus: number;
  readonly ops: number;
  readonly seed: number;
  readonly policy: Policy;
  readonly fault: FaultName | null;
  /** Stage 1 only: the SMMUs run with CR2.E2H and the domains are EL2-E2H address spaces (EL2_VA / EL2_ASID). */
  readonly e2h?: boolean;
  /**
   * IDR5.DS on every SMMU: the model accepts the 6-bit SCALE (up to 39) and the engine plans with it (the
   * SMMU option `ds`). Default off.
   */
  readonly ds?: boolean;
  /** The model's semantics (default adversarial). */
  readonly mode?: ModelMode;
  /**
   * Errata every SMMU has (the model enforces them, the engine works around them: `mmu700-2812531` →
   * forceSync, `tegra264-repeat` → repeat). Default none.
   */
  readonly errata?: readonly SmmuErratum[];
  /**
   * Page runs of 65 to 128 pages instead of mostly short ones (what fault no-force-sync needs: without RIL a
   * run's unmap is one TLBI per page, past the 63 commands MMU-700 erratum 2812531 allows), and the caches
   * filled over every page of such a run before its unmap (not a sample of 16). Default false.
   */
  readonly longRuns?: boolean;
  /** Stale reports kept in full (default 20); all are counted. */
  readonly maxReports?: number;
  /**
   * Called with every run of entries written to an SMMU's command queue, as written (before the SMMU reads
   * them; an entry it refused stays in the run): what `simulate --emit-stream` dumps.
   */
  readonly onCommands?: (smmu: number, entries: Uint32Array) => void;
  /** Called every `progressEvery` operations (and at the end). */
  readonly onProgress?: (done: number, total: number) => void;
  readonly progressEvery?: number;
  /** Capture the cache contents around one change (off when absent; the run is the same either way). */
  readonly capture?: CaptureOptions;
  /**
   * Replay: run these operations instead of drawing them (`ops` is then ignored). An operation that no
   * longer applies — a map of a slot that is taken, an unmap outside the slot's mapping — is skipped and
   * counted (`skipped`), so that any sub-list of a recorded run replays (src/campaign/shrink.ts).
   */
  readonly script?: readonly SimOp[];
  /** Record the operations the run makes (drawn or replayed, skipped ones left out) into this array. */
  readonly record?: SimOp[];
  /** Stop after the first operation that leaves a stale translation (the report's `ops` says how many ran). */
  readonly stopAtFirstStale?: boolean;
}

/**
 * One operation of the workload, with every random choice it made, so that a list of them replays without
 * the random generator: a map (slot, range, leaf size, output address, write permission), an unmap (range,
 * and the page numbers its cache prefetch drew), or configuration change `n` (config-change.ts).
 */
export type SimOp =
  | {
      readonly k: 'map';
      readonly d: number;
      readonly slot: number;
      readonly iova: number;
      readonly size: number;
      readonly leaf: number;
      readonly pa: number;
      readonly write: boolean;
    }
  | {
      readonly k: 'unmap';
      readonly d: number;
      readonly slot: number;
      readonly iova: number;
      readonly size: number;
      readonly picks: readonly number[];
    }
  | { readonly k: 'config'; readonly n: number };

/**
 * Which change to capture, and how much. A change is one invalidation of an unmap (an unmap that punches a
 * hole makes two); changes are numbered from 0 in the order the run makes them.
 */
export interface CaptureOptions {
  /** 'auto': the first change with a stale translation, else the last change; or a change number. */
  readonly change: 'auto' | number;
  /** Bytes listed on each side of the change's input range (default 16 granules). */
  readonly margin?: number;
  /** Rows per cache per snapshot at most (default 400); entries a stale report names are always listed. */
  readonly limit?: number;
}

/** One command of a change as the SMMU received it (after any fault): decoded, and its two 64-bit words. */
export interface CapturedCommand {
  readonly text: string;
  readonly words: readonly [string, string];
}

/** One SMMU's side of a captured change. */
export interface SmmuCapture {
  readonly smmu: number;
  readonly commands: readonly CapturedCommand[];
  /** The caches as the commands found them (after the tables changed, before the first command). */
  readonly before: CacheSnapshot;
  /** The caches once the last CMD_SYNC completed: what the checker examined. */
  readonly after: CacheSnapshot;
  /** The checker's reports for this change on this SMMU (all of them). */
  readonly stale: readonly StaleReport[];
}

export interface ChangeCapture {
  /** The change's number, the operation that made it, and how many changes the run made in all. */
  readonly change: number;
  readonly op: number;
  readonly changes: number;
  /** Numbers of the changes that left a stale translation (at most the first 1000). */
  readonly staleChanges: readonly number[];
  /** The changed table: the domain (its index in the workload), its stage, the changed input range. */
  readonly domain: number;
  readonly stage: 1 | 2;
  readonly range: { readonly first: number; readonly last: number };
  /** The listed window (the range plus the margin); stage-2 changes also list entries by IPA. */
  readonly window: { readonly first: number; readonly last: number };
  readonly viaIpa: boolean;
  readonly smmus: readonly SmmuCapture[];
}

export interface CacheFigures {
  fills: number;
  removed: number;
  evicted: number;
  size: number;
}

export interface SimReport {
  seed: number;
  config: Record<string, string | number | boolean | null>;
  ops: number;
  maps: number;
  unmaps: number;
  commands: Record<string, number>;
  syncs: number;
  illegal: number;
  stale: number;
  staleReports: (StaleReport & { op: number })[];
  caches: { tlb: CacheFigures; walk: CacheFigures; atc: CacheFigures };
  translations: number;
  /** How translations were served: ATC hits, TLB hits, table walks (the rest faulted or bypassed). */
  hits: { atc: number; tlb: number; walks: number };
  elapsedMs: number;
  opsPerSecond: number;
  /** Only when `capture` was asked for: the captured change (null when the run made no change). */
  capture?: ChangeCapture | null;
  /** Only for a replay (`script`): operations that no longer applied and were skipped. */
  skipped?: number;
}

/** Translations at most per prefetch of one stream (spread over the range) — keeps long runs fast. */
const PREFETCH_BUDGET = 16;
/** Capture defaults: rows per cache per snapshot, margin in granules, changes with stale translations listed. */
const CAPTURE_LIMIT = 400;
const CAPTURE_MARGIN_GRANULES = 16;
const CAPTURE_STALE_LIST = 1000;
/** Slots per domain window; each slot is two blocks wide so that a mapping has its own last-level table. */
const SLOTS = 48;
const DOMAINS = 2;
/** The shortest page run of `longRuns`: one past the 64 commands of a batch (CMDQ_BATCH_ENTRIES). */
const LONG_RUN = 65;

interface Attachment {
  readonly smmu: number;
  readonly sid: number;
  readonly ssid: number;
}

interface Mapping {
  iova: number;
  size: number;
  /** Leaf size the mapping was made of (a page or a block). */
  leaf: number;
}

interface Domain {
  readonly pt: IoPageTable;
  readonly stage: 1 | 2;
  readonly cfg: TableConfig;
  /** The domain's invalidation targets (its tag changes with every configuration change). */
  invs: Invs;
  readonly attach: Attachment[];
  /** Window base (input addresses) and the slots' mappings. */
  readonly base: number;
  readonly slots: (Mapping | null)[];
  /** Output addresses: identity (nested stage 1) or random data pages. */
  readonly identity: boolean;
}

/** A capture while the run goes on: entries by reference, commands as words. */
interface PendingCapture {
  readonly change: number;
  readonly op: number;
  readonly domain: number;
  readonly stage: 1 | 2;
  readonly range: { readonly first: number; readonly last: number };
  readonly window: { readonly first: number; readonly last: number; readonly viaIpa: boolean };
  readonly smmus: {
    readonly smmu: number;
    readonly list: EntryList;
    readonly before: CacheEntries;
    readonly after: CacheEntries;
    readonly stale: readonly StaleReport[];
  }[];
}

function blockSize(granule: number): number {
  return granule === 4096 ? 2 ** 21 : granule === 16384 ? 2 ** 25 : 2 ** 29;
}

export function runSimulation(config: SimConfig): SimReport {
  return new Simulation(config).run();
}

class Simulation {
  private readonly rng: Rng;
  private readonly mem = new PhysMemory();
  private readonly models: SmmuModel[] = [];
  private readonly checkers: StaleChecker[] = [];
  private readonly smmuTable: SmmuTable;
  private readonly domains: Domain[] = [];
  private readonly out = new PlanOutput(1024);
  private readonly perSmmu: EntryList[] = [];
  private readonly block: number;
  private readonly g: number;
  private stale = 0;
  private readonly reports: (StaleReport & { op: number })[] = [];
  private maps = 0;
  private unmaps = 0;
  private opIndex = 0;
  private readonly maxReports: number;

  private readonly e2h: boolean;
  /** Capture state: the change counter, the change captured so far, and whether it is final. */
  private readonly cap: CaptureOptions | null;
  private changeNo = 0;
  private captured: PendingCapture | null = null;
  private capLocked = false;
  private readonly staleChanges: number[] = [];
  /** Replay and recording (off unless asked for): the prefetch draws of the unmap being replayed / recorded. */
  private picks: readonly number[] | null = null;
  private pickAt = 0;
  private recPicks: number[] | null = null;
  private skipped = 0;
  private opsRun = 0;
  private readonly mappedScratch: number[] = [];
  private readonly freeScratch: number[] = [];

  constructor(private readonly c: SimConfig) {
    this.rng = new Rng(c.seed);
    this.e2h = c.e2h === true && c.stage === '1';
    this.g = c.granule;
    this.block = blockSize(c.granule);
    this.maxReports = c.maxReports ?? 20;
    this.cap = c.capture ?? null;
    const table: { ril: boolean; e2h: boolean; forceSync: boolean; repeat: boolean; ds: boolean }[] = [];
    const ds = c.ds === true;
    const errata = c.errata ?? [];
    for (let s = 0; s < c.smmus; s++) {
      this.models.push(
        new SmmuModel(this.mem, {
          id: s,
          features: { ats: c.ats, ril: c.ril, ...(ds ? { ds } : {}) },
          e2h: this.e2h,
          mode: c.mode ?? 'adversarial',
          seed: c.seed,
          errata,
          tlbCapacity: 1 << 15,
          walkCapacity: 1 << 13,
          atcCapacity: 1 << 15,
          trafficPerRound: 4,
          queueBase: 0xf_0000_0000 + s * 0x10_0000,
        }),
      );
      this.checkers.push(new StaleChecker(this.mem));
      table.push({
        ril: c.ril,
        e2h: this.e2h,
        // Fault no-force-sync: the driver does not know the erratum (ARM_SMMU_OPT_CMDQ_FORCE_SYNC not set).
        forceSync: errata.includes('mmu700-2812531') && c.fault !== 'no-force-sync',
        repeat: errata.includes('tegra264-repeat'),
        ds,
      });
      this.perSmmu.push([]);
    }
    this.smmuTable = table;
    this.build();
  }

  // ------------------------------------------------------------------ set-up

  private tableCfg(pt: IoPageTable): TableConfig {
    return { root: pt.config.rootPa, granuleLog2: log2Of(this.g), ias: pt.config.ias, stage: pt.config.stage };
  }

  private build(): void {
    const c = this.c;
    const g = this.g;
    const ias = 48;
    const window = SLOTS * 2 * this.block;
    const frames = (base: number): FrameAllocator => new FrameAllocator(g, base, 0x1000_0000);
    if (c.stage === 'nested') {
      // Stage-2 parent: maps the guest's table frames one-to-one; data windows are mapped by the ops.
      const s2 = new IoPageTable({ stage: 2, granule: g, ias, memory: this.mem, allocator: frames(0x2_0000_0000) });
      const guestFrames = 0x3_0000_0000;
      s2.map(guestFrames, guestFrames, 0x1000_0000, { read: true, write: true, exec: false });
      const s2cfg = this.tableCfg(s2);
      const s2Keys: InvKey[] = [];
      const s2Attach: Attachment[] = [];
      const guests: { pt: IoPageTable; asid: number; base: number }[] = [];
      const s1Base = 0x40_0000_0000;
      for (let d = 0; d < DOMAINS; d++) {
        const pt = new IoPageTable({
          stage: 1,
          granule: g,
          ias,
          memory: this.mem,
          allocator: new FrameAllocator(g, guestFrames + d * 0x800_0000, 0x800_0000),
        });
        guests.push({ pt, asid: d + 1, base: s1Base + d * window });
      }
      for (let s = 0; s < c.smmus; s++) {
        const cds = new Map(guests.map((gd, d) => [d, { asid: gd.asid, table: this.tableCfg(gd.pt) }]));
        const plain: StreamConfig = { sid: 0x10, mode: 'nested', ats: false, vmid: 1, s2: s2cfg, cds };
        this.models[s]!.setStream(plain);
        s2Keys.push(
          { smmu: s, type: 'S2_VMID', id: 1, pgsize: g },
          { smmu: s, type: 'S2_VMID_S1_CLEAR', id: 1, pgsize: g },
        );
        for (let d = 0; d < DOMAINS; d++) s2Attach.push({ smmu: s, sid: 0x10, ssid: d });
        if (c.ats) {
          this.models[s]!.setStream({ ...plain, sid: 0x20, ats: true });
          s2Keys.push({ smmu: s, type: 'ATS_FULL', id: 0x20 });
          for (let d = 0; d < DOMAINS; d++) s2Attach.push({ smmu: s, sid: 0x20, ssid: d });
        }
      }
      guests.forEach((gd, d) => {
        const keys: InvKey[] = [];
        const attach: Attachment[] = [];
        for (let s = 0; s < c.smmus; s++) {
          keys.push({ smmu: s, type: 'S1_ASID_NESTED', id: gd.asid, vmid: 1, pgsize: g });
          attach.push({ smmu: s, sid: 0x10, ssid: d });
          if (c.ats) {
            keys.push({ smmu: s, type: 'ATS', id: 0x20, ssid: d });
            attach.push({ smmu: s, sid: 0x20, ssid: d });
          }
        }
        this.domains.push(this.domain(gd.pt, keys, attach, gd.base, true));
      });
      // The parent's data window is the guests' IPA window (VA = IPA in the guests).
      this.domains.push(this.domain(s2, s2Keys, s2Attach, s1Base, false, DOMAINS * SLOTS));
      return;
    }
    const stage = c.stage === '1' ? 1 : 2;
    for (let d = 0; d < DOMAINS; d++) {
      const pt = new IoPageTable({
        stage,
        granule: g,
        ias,
        memory: this.mem,
        allocator: frames(0x2_0000_0000 + d * 0x1000_0000),
      });
      const cfg = this.tableCfg(pt);
      const keys: InvKey[] = [];
      const attach: Attachment[] = [];
      for (let s = 0; s < c.smmus; s++) {
        const m = this.models[s]!;
        if (stage === 1) {
          const prev = m.streams.get(0x20);
          m.setStream({
            sid: 0x10 + d,
            mode: 'stage1',
            ats: false,
            vmid: 0,
            ...(this.e2h ? { regime: 'el2-e2h' as const } : {}),
            cds: new Map([[0, { asid: d + 1, table: cfg }]]),
          });
          keys.push({ smmu: s, type: 'S1_ASID', id: d + 1, pgsize: g });
          attach.push({ smmu: s, sid: 0x10 + d, ssid: 0 });
          if (c.ats) {
            // One ATS endpoint with a PASID per domain.
            const cds = new Map(prev?.cds ?? []);
            cds.set(d, { asid: d + 1, table: cfg });
            m.setStream({
              sid: 0x20,
              mode: 'stage1',
              ats: true,
              vmid: 0,
              ...(this.e2h ? { regime: 'el2-e2h' as const } : {}),
              cds,
            });
            keys.push({ smmu: s, type: 'ATS', id: 0x20, ssid: d });
            attach.push({ smmu: s, sid: 0x20, ssid: d });
          }
        } else {
          m.setStream({ sid: 0x10 + d, mode: 'stage2', ats: false, vmid: d + 1, s2: cfg });
          keys.push({ smmu: s, type: 'S2_VMID', id: d + 1, pgsize: g });
          attach.push({ smmu: s, sid: 0x10 + d, ssid: 0 });
          if (c.ats) {
            m.setStream({ sid: 0x20 + d, mode: 'stage2', ats: true, vmid: d + 1, s2: cfg });
            keys.push({ smmu: s, type: 'ATS', id: 0x20 + d, ssid: 0 });
            attach.push({ smmu: s, sid: 0x20 + d, ssid: 0 });
          }
        }
      }
      this.domains.push(this.domain(pt, keys, attach, 0x40_0000_0000 + d * window, false));
    }
  }

  private domain(
    pt: IoPageTable,
    keys: InvKey[],
    attach: Attachment[],
    base: number,
    identity: boolean,
    slots = SLOTS,
  ): Domain {
    return {
      pt,
      stage: pt.config.stage,
      cfg: this.tableCfg(pt),
      invs: invsOf(keys),
      attach,
      base,
      slots: new Array<Mapping | null>(slots).fill(null),
      identity,
    };
  }

  // ------------------------------------------------------------------ operations

  run(): SimReport {
    const t0 = Date.now();
    if (this.c.script !== undefined) return this.replay(this.c.script, t0);
    const every = this.c.progressEvery ?? 1000;
    const rec = this.c.record;
    const stop = this.c.stopAtFirstStale === true;
    this.opsRun = this.c.ops;
    for (let i = 0; i < this.c.ops; i++) {
      this.opIndex = i;
      this.step();
      if ((i + 1) % CONFIG_EVERY === 0) {
        rec?.push({ k: 'config', n: (i + 1) / CONFIG_EVERY });
        this.changeConfig((i + 1) / CONFIG_EVERY);
      }
      if (this.c.onProgress !== undefined && (i + 1) % every === 0) this.c.onProgress(i + 1, this.c.ops);
      if (stop && this.stale > 0) {
        this.opsRun = i + 1;
        break;
      }
    }
    this.c.onProgress?.(this.c.ops, this.c.ops);
    return this.report(Date.now() - t0);
  }

  /** Run the listed operations (see SimConfig.script); operations are numbered by their place in the list. */
  private replay(script: readonly SimOp[], t0: number): SimReport {
    const rec = this.c.record;
    let i = 0;
    for (; i < script.length; i++) {
      this.opIndex = i;
      const op = script[i]!;
      let done = false;
      if (op.k === 'config') {
        rec?.push(op);
        this.changeConfig(op.n);
        done = true;
      } else {
        const dom = this.domains[op.d];
        if (dom !== undefined && op.slot >= 0 && op.slot < dom.slots.length) {
          if (op.k === 'map') done = this.replayMap(dom, op);
          else {
            const m = dom.slots[op.slot];
            const inside = m != null && op.iova >= m.iova && op.iova + op.size <= m.iova + m.size;
            // A block is unmapped whole; pages in any run of whole pages.
            const whole = m != null && op.iova === m.iova && op.size === m.size;
            const pages = m != null && m.leaf === this.g && op.size > 0 && (op.iova - m.iova) % this.g === 0;
            if (inside && (whole || pages) && op.size % this.g === 0) {
              this.picks = op.picks;
              this.pickAt = 0;
              this.unmapRange(dom, op.slot, op.iova, op.size);
              this.picks = null;
              rec?.push(op);
              done = true;
            }
          }
        }
      }
      if (!done) this.skipped++;
      if (this.c.stopAtFirstStale === true && this.stale > 0) {
        i++;
        break;
      }
    }
    this.opsRun = i;
    return this.report(Date.now() - t0);
  }

  private replayMap(dom: Domain, op: Extract<SimOp, { k: 'map' }>): boolean {
    const slotBase = dom.base + op.slot * 2 * this.block;
    const inSlot = op.iova >= slotBase && op.iova + op.size <= slotBase + 2 * this.block;
    if (dom.slots[op.slot] !== null || !inSlot || op.size <= 0 || op.iova % this.g !== 0) return false;
    dom.pt.map(op.iova, op.pa, op.size, { read: true, write: op.write, exec: false });
    dom.slots[op.slot] = { iova: op.iova, size: op.size, leaf: op.leaf };
    this.c.record?.push(op);
    this.maps++;
    return true;
  }

  private step(): void {
    const rng = this.rng;
    // Nested: stage-2 changes a third of the time, guest stage-1 changes otherwise.
    const d =
      this.c.stage === 'nested'
        ? rng.chance(0.3)
          ? this.domains.length - 1
          : rng.below(DOMAINS)
        : rng.below(this.domains.length);
    const dom = this.domains[d]!;
    // Reused between operations (no allocation per step).
    const mapped = this.mappedScratch;
    const free = this.freeScratch;
    mapped.length = 0;
    free.length = 0;
    const slots = dom.slots;
    for (let i = 0; i < slots.length; i++) (slots[i] === null ? free : mapped).push(i);
    if (mapped.length === 0 || (free.length > 0 && rng.chance(0.5))) this.map(dom, d, rng.pick(free));
    else this.unmap(dom, d, rng.pick(mapped));
  }

  /**
   * Configuration change number `n` (config-change.ts): one domain in turn (a guest of the nested workload)
   * moves to its other tag, d+1 ↔ d+1+DOMAINS. Uses none of the workload's random numbers.
   */
  private changeConfig(n: number): void {
    const d = n % DOMAINS;
    const dom = this.domains[d]!;
    const next = tagOf(dom) === d + 1 ? d + 1 + DOMAINS : d + 1;
    const env: ConfigChangeEnv = {
      models: this.models,
      checkers: this.checkers,
      smmuTable: this.smmuTable,
      out: this.out,
      fault: this.c.fault,
      e2h: this.e2h,
      feed: (model, list) => this.feed(model, list),
    };
    for (const r of changeTag(env, dom, next)) {
      if (r.stale.length === 0) continue;
      this.stale += r.stale.length;
      const names = r.list.map(describeEntry);
      for (const rep of r.stale) {
        if (this.reports.length >= this.maxReports) break;
        this.reports.push({ ...rep, commands: names, op: this.opIndex });
      }
    }
  }

  private map(dom: Domain, d: number, slot: number): void {
    const rng = this.rng;
    const g = this.g;
    const slotBase = dom.base + slot * 2 * this.block;
    let iova: number;
    let size: number;
    let leaf: number;
    if (this.c.stage === 'nested' && !dom.identity) {
      // The stage-2 parent maps the guests' first block of each slot, as a block or as pages.
      iova = slotBase;
      size = this.block;
      leaf = rng.chance(0.5) ? this.block : g;
    } else if (rng.chance(0.15)) {
      iova = slotBase + (rng.chance(0.5) ? 0 : this.block);
      size = this.block;
      leaf = this.block;
    } else {
      // A run of pages: mostly short, sometimes a few dozen; placed anywhere in the slot's first block.
      const pages =
        this.c.longRuns === true
          ? LONG_RUN + rng.below(LONG_RUN - 1)
          : rng.chance(0.8)
            ? 1 + rng.below(8)
            : 1 + rng.below(64);
      iova = slotBase + g * rng.below(this.block / g - pages);
      size = pages * g;
      leaf = g;
    }
    let pa: number;
    if (dom.identity) pa = iova;
    else {
      // Nested parent: half of its block-sized mappings are made of pages (a PA that is not block aligned).
      const align = leaf === g && size === this.block ? g : leaf;
      pa = 0x1_0000_0000 + Math.floor((rng.float() * 0x1_0000_0000) / align) * align;
      if (align === g && pa % this.block === 0) pa += g;
    }
    const write = rng.chance(0.8);
    dom.pt.map(iova, pa, size, { read: true, write, exec: false });
    dom.slots[slot] = { iova, size, leaf };
    this.c.record?.push({ k: 'map', d, slot, iova, size, leaf, pa, write });
    this.maps++;
  }

  private unmap(dom: Domain, d: number, slot: number): void {
    const rng = this.rng;
    const m = dom.slots[slot]!;
    // Whole mapping most of the time (frees its last-level table), otherwise a run of its pages.
    let iova = m.iova;
    let size = m.size;
    if (m.leaf === this.g && m.size > this.g && rng.chance(0.35)) {
      const pages = m.size / this.g;
      const first = rng.below(pages);
      const n = 1 + rng.below(pages - first);
      iova = m.iova + first * this.g;
      size = n * this.g;
    }
    const rec = this.c.record;
    if (rec === undefined) {
      this.unmapRange(dom, slot, iova, size);
      return;
    }
    const picks: number[] = [];
    this.recPicks = picks;
    this.unmapRange(dom, slot, iova, size);
    this.recPicks = null;
    rec.push({ k: 'unmap', d, slot, iova, size, picks });
  }

  /** Unmap [iova, iova + size) of slot `slot`'s mapping (inside it): prefetch, change the table, invalidate. */
  private unmapRange(dom: Domain, slot: number, iova: number, size: number): void {
    const m = dom.slots[slot]!;
    // Fill the caches over the range on every stream that uses the domain.
    const targets = this.targets(dom, iova, size);
    for (let s = 0; s < this.models.length; s++) {
      const model = this.models[s]!;
      for (const t of targets[s]!) this.prefetch(model, t);
    }
    const res = dom.pt.unmap(iova, size);
    this.unmaps++;
    if (iova === m.iova && size === m.size) dom.slots[slot] = null;
    else if (iova === m.iova) dom.slots[slot] = { iova: iova + size, size: m.size - size, leaf: m.leaf };
    else if (iova + size === m.iova + m.size) dom.slots[slot] = { iova: m.iova, size: m.size - size, leaf: m.leaf };
    else {
      // A hole in the middle: keep the head as this slot's mapping and drop the tail from the workload's books
      // by unmapping it too, as a separate (correctly invalidated) change would; simplest: unmap it now.
      dom.slots[slot] = { iova: m.iova, size: iova - m.iova, leaf: m.leaf };
      this.invalidate(dom, res, targets);
      const tailIova = iova + size;
      const tailSize = m.iova + m.size - tailIova;
      const t2 = this.targets(dom, tailIova, tailSize);
      for (let s = 0; s < this.models.length; s++) for (const t of t2[s]!) this.prefetch(this.models[s]!, t);
      this.invalidate(dom, dom.pt.unmap(tailIova, tailSize), t2);
      return;
    }
    this.invalidate(dom, res, targets);
  }

  /** Per SMMU, the traffic targets of a change to `dom` over [iova, iova + size). */
  private targets(dom: Domain, iova: number, size: number): TrafficTarget[][] {
    const out: TrafficTarget[][] = this.models.map(() => []);
    const last = iova + size - 1;
    if (this.c.stage === 'nested' && dom.stage === 2) {
      // A stage-2 change reaches the guests where their stage-1 mappings land in it (VA = IPA): aim the
      // caches and the traffic there, per guest (SubstreamID d is guest d on every nested stream).
      for (let d = 0; d < DOMAINS; d++) {
        for (const m of this.domains[d]!.slots) {
          if (m === null || m.iova > last || m.iova + m.size - 1 < iova) continue;
          const first = Math.max(iova, m.iova);
          const end = Math.min(last, m.iova + m.size - 1);
          for (const a of dom.attach)
            if (a.ssid === d) out[a.smmu]!.push({ sid: a.sid, ssid: a.ssid, first, last: end });
        }
      }
      return out;
    }
    for (const a of dom.attach) out[a.smmu]!.push({ sid: a.sid, ssid: a.ssid, first: iova, last });
    return out;
  }

  private prefetch(model: SmmuModel, t: TrafficTarget): void {
    const span = t.last - t.first + 1;
    if (span / 4096 <= PREFETCH_BUDGET || (this.c.longRuns === true && span / 4096 <= 2 * LONG_RUN)) {
      model.prefetch(t.sid, t.ssid, t.first, t.last);
      return;
    }
    model.translate(t.sid, t.ssid, t.first, false);
    model.translate(t.sid, t.ssid, t.last - (t.last % 4096), false);
    for (let k = 2; k < PREFETCH_BUDGET; k++)
      model.translate(t.sid, t.ssid, t.first + 4096 * this.pick(span / 4096), false);
  }

  /** A prefetch draw: from the generator (recorded when recording), or the replayed unmap's next one. */
  private pick(n: number): number {
    const p = this.picks;
    if (p !== null) {
      const v = p[this.pickAt++];
      return v !== undefined && v < n ? v : 0;
    }
    const v = this.rng.below(n);
    this.recPicks?.push(v);
    return v;
  }

  /** Plan the invalidation of one unmap, break it if asked, feed the queues, then check every SMMU. */
  private invalidate(dom: Domain, res: UnmapResult, targets: TrafficTarget[][]): void {
    if (res.tlbi === null) return;
    const changeNo = this.changeNo++;
    const cap = this.cap !== null ? this.startCapture(changeNo, dom, res.tlbi.start, res.tlbi.last) : null;
    const out = this.out;
    out.clear();
    if (this.c.fault === 'illegal-range-encoding') this.planSvaUnfixed(dom, res.tlbi);
    else if (this.c.fault === 'end-off-by-one') {
      // The consumer's bug (L9): the inclusive last byte taken for an exclusive end, so the size is one short.
      const t = res.tlbi;
      if (this.c.policy === 'linux') {
        for (const r of res.linuxRequests)
          invalidateRange(dom.invs, { ...r, size: r.size > 1 ? r.size - 1 : r.size }, this.smmuTable, out);
      } else tlbiInv({ ...t, last: t.last > t.start ? t.last - 1 : t.last }, dom.invs, this.smmuTable, out);
    } else if (this.c.policy === 'linux')
      for (const r of res.linuxRequests) invalidateRange(dom.invs, r, this.smmuTable, out);
    else tlbiInv(res.tlbi, dom.invs, this.smmuTable, out);
    const u32 = out.buf.u32;
    for (const l of this.perSmmu) l.length = 0;
    for (let k = 0; k < out.count; k++) {
      const i = k * 4;
      this.perSmmu[out.smmuOf[k]!]!.push([u32[i]!, u32[i + 1]!, u32[i + 2]!, u32[i + 3]!]);
    }
    for (let s = 0; s < this.models.length; s++) {
      const list = this.perSmmu[s]!;
      if (this.c.fault !== null) applyFault(this.c.fault, list);
      const model = this.models[s]!;
      model.setTraffic(targets[s]!);
      model.runTraffic(); // device traffic while the tables were being changed
      const before = cap !== null ? collectEntries(model, cap.window) : null;
      this.feed(model, list);
      model.clearTraffic();
      const change = { stage: dom.stage, root: dom.cfg.root, first: res.tlbi.start, last: res.tlbi.last };
      const stale = this.checkers[s]!.checkChange(model, change);
      if (cap !== null) this.captureSmmu(cap, model, list, before!, stale);
      if (this.cap !== null && stale.length > 0) this.noteStaleChange(changeNo);
      if (stale.length > 0) {
        this.stale += stale.length;
        const names = list.map(describeEntry);
        for (const r of stale) {
          if (this.reports.length >= this.maxReports) break;
          this.reports.push({ ...r, commands: names, op: this.opIndex });
        }
      }
    }
  }

  /**
   * Fault illegal-range-encoding (L11): the SVA consumer invalidates every change as one non-leaf range, and
   * the engine lacks eb6c97647be2's extra page: a range of num_pages % 32 == 1 starts with its first page alone,
   * TG≠0 with TTL = SCALE = NUM = 0 (IHI 0070 4.4.1.1: CERROR_ILL), the rest as the fixed loop plans it.
   */
  private planSvaUnfixed(dom: Domain, t: TlbiDescription): void {
    const g = this.g;
    const out = this.out;
    const pages = Math.floor((t.last - t.start + 1) / g);
    if (pages - Math.floor(pages / 32) * 32 !== 1) {
      invalidateRange(dom.invs, { iova: t.start, size: pages * g, granule: g, leaf: false }, this.smmuTable, out);
      return;
    }
    const at = out.count;
    // One page, non-leaf: the fixed engine plans two (SCALE 1, NUM 0); the old arithmetic had SCALE 0.
    invalidateRange(dom.invs, { iova: t.start, size: g, granule: g, leaf: false }, this.smmuTable, out);
    const u32 = out.buf.u32;
    for (let k = at; k < out.count; k++) {
      const w = u32[k * 4]!;
      if (RANGE_OPCODES.has(w & 0xff) && ((u32[k * 4 + 2]! >>> 10) & 3) !== 0) u32[k * 4] = (w & ~(0x3f << 20)) >>> 0;
    }
    if (pages > 1)
      invalidateRange(
        dom.invs,
        { iova: t.start + g, size: (pages - 1) * g, granule: g, leaf: false },
        this.smmuTable,
        out,
      );
  }

  // ------------------------------------------------------------------ capture (off unless asked for)

  /** A capture record for change `changeNo` if the options select it (or may select it: 'auto'), else null. */
  private startCapture(changeNo: number, dom: Domain, first: number, last: number): PendingCapture | null {
    const want = this.cap!.change;
    if (want === 'auto' ? this.capLocked : want !== changeNo) return null;
    const margin = this.cap!.margin ?? CAPTURE_MARGIN_GRANULES * this.g;
    return {
      change: changeNo,
      op: this.opIndex,
      domain: this.domains.indexOf(dom),
      stage: dom.stage,
      range: { first, last },
      window: { first: Math.max(0, first - margin), last: last + margin, viaIpa: dom.stage === 2 },
      smmus: [],
    };
  }

  /** Record one SMMU's side (entries by reference: rows are made only for the change finally kept). */
  private captureSmmu(
    cap: PendingCapture,
    model: SmmuModel,
    list: EntryList,
    before: CacheEntries,
    stale: StaleReport[],
  ): void {
    cap.smmus.push({
      smmu: model.id,
      list: list.map((h) => h.slice()),
      before,
      after: collectEntries(model, cap.window),
      stale,
    });
    this.captured = cap;
    // 'auto' keeps the latest change until one leaves a stale translation, then keeps that one.
    if (stale.length > 0) this.capLocked = true;
  }

  /** The captured change as the report gives it: rows sorted and capped, commands decoded. */
  private finishCapture(): ChangeCapture | null {
    const cap = this.captured;
    if (cap === null) return null;
    const limit = this.cap!.limit ?? CAPTURE_LIMIT;
    const { window, smmus, ...rest } = cap;
    return {
      ...rest,
      changes: this.changeNo,
      staleChanges: this.staleChanges.slice(),
      window: { first: window.first, last: window.last },
      viaIpa: window.viaIpa,
      smmus: smmus.map((m) => ({
        smmu: m.smmu,
        commands: m.list.map((h) => ({
          text: describeEntry(h),
          words: [hex64(h[0]!, h[1]!), hex64(h[2]!, h[3]!)] as const,
        })),
        before: listEntries(m.before, { limit }),
        after: listEntries(m.after, { limit, pinned: new Set(m.stale.map(staleReportKey)) }),
        stale: m.stale,
      })),
    };
  }

  private noteStaleChange(changeNo: number): void {
    const l = this.staleChanges;
    if (l.length < CAPTURE_STALE_LIST && l[l.length - 1] !== changeNo) l.push(changeNo);
  }

  /** Write a change's entries into a model's queue; recover from CERROR_ILL as Linux does (CMD_SYNC over the slot). */
  private feed(model: SmmuModel, list: EntryList): void {
    const u32 = new Uint32Array(list.length * 4);
    for (let k = 0; k < list.length; k++) u32.set(list[k]!, k * 4);
    this.c.onCommands?.(model.id, u32);
    let done = 0;
    while (done < list.length) {
      done += model.submit(u32, done, list.length - done);
      if (model.queue.stalled) {
        const q = model.queue;
        const fix = new Uint32Array(4);
        writeSync(fix, 0, 2, 3, 15, 0, 0);
        q.writeAt(q.slotOf(q.cons), fix[0]!, fix[1]!, fix[2]!, fix[3]!);
        model.acknowledgeError();
      }
    }
  }

  // ------------------------------------------------------------------ report

  private report(elapsedMs: number): SimReport {
    const commands: Record<string, number> = {};
    let syncs = 0;
    let illegal = 0;
    let translations = 0;
    const hits = { atc: 0, tlb: 0, walks: 0 };
    const sum = (
      pick: (m: SmmuModel) => { fills: number; removed: number; evicted: number; size: number },
    ): CacheFigures => {
      const f: CacheFigures = { fills: 0, removed: 0, evicted: 0, size: 0 };
      for (const m of this.models) {
        const x = pick(m);
        f.fills += x.fills;
        f.removed += x.removed;
        f.evicted += x.evicted;
        f.size += x.size;
      }
      return f;
    };
    for (const m of this.models) {
      for (const [k, v] of Object.entries(m.stats.commands)) commands[k] = (commands[k] ?? 0) + v;
      syncs += m.stats.syncs;
      illegal += m.stats.illegal;
      translations += m.stats.translations;
      hits.atc += m.stats.atcHits;
      hits.tlb += m.stats.tlbHits;
      hits.walks += m.stats.walks;
    }
    const c = this.c;
    return {
      seed: c.seed,
      config: {
        granule: c.granule,
        stage: c.stage,
        ril: c.ril,
        ats: c.ats,
        smmus: c.smmus,
        policy: c.policy,
        fault: c.fault,
        e2h: this.e2h,
        mode: c.mode ?? 'adversarial',
        ...(c.ds === true ? { ds: true } : {}),
      },
      ops: this.opsRun,
      maps: this.maps,
      unmaps: this.unmaps,
      commands,
      syncs,
      illegal,
      stale: this.stale,
      staleReports: this.reports,
      caches: {
        tlb: sum((m) => ({ fills: m.tlb.fills, removed: m.tlb.removed, evicted: m.tlb.evicted, size: m.tlb.size })),
        walk: sum((m) => ({
          fills: m.walkCache.fills,
          removed: m.walkCache.removed,
          evicted: m.walkCache.evicted,
          size: m.walkCache.size,
        })),
        atc: sum((m) => ({ fills: m.atc.fills, removed: m.atc.removed, evicted: m.atc.evicted, size: m.atc.size })),
      },
      translations,
      hits,
      elapsedMs,
      opsPerSecond: elapsedMs > 0 ? Math.round((this.opsRun * 1000) / elapsedMs) : 0,
      ...(this.cap !== null ? { capture: this.finishCapture() } : {}),
      ...(c.script !== undefined ? { skipped: this.skipped } : {}),
    };
  }
}

const RANGE_OPCODES = new Set<number>(
  (Object.keys(OPCODE_SPECS) as CommandName[]).filter((n) => OPCODE_SPECS[n].range).map((n) => Opcode[n]),
);

const describeChecker = new CommandChecker({ lax: true });
const describeScratch = new CheckedEntry();

/** One line per command for reports: the name and its non-zero fields (addresses in hex). */
export function describeEntry(h: readonly number[]): string {
  const e = describeScratch;
  describeChecker.check(h[0]!, h[1]!, h[2]!, h[3]!, e);
  if (e.name === undefined) return `reserved opcode 0x${(h[0]! & 0xff).toString(16)}`;
  const spec = OPCODE_SPECS[e.name as CommandName];
  const parts: string[] = [e.name];
  for (const f of spec.fields) {
    const v = e.values[FIELD_IDS[f.name]]!;
    if (v !== 0) parts.push(`${f.name}=${v}`);
  }
  if (spec.addr !== undefined) {
    const v = e.values[FIELD_IDS[spec.addr.name]]!;
    if (v !== 0 || spec.addr.name === 'addr') parts.push(`${spec.addr.name}=${hexAddr(v)}`);
  }
  return parts.join(' ');
}
