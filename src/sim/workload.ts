/**
 * The randomized workload behind `simulate`: page tables → map / unmap → engine → (faults) → command queues →
 * SMMU models → stale-translation checker. `runSimulation(config)` returns the report object; the CLI (and
 * the page, the campaign) only format it. `startSimulation(config)` runs the same workload a slice at a time
 * (`advance`), so that a caller can stop it between operations and still get a report of what ran.
 *
 * Each operation maps a free slot (pages or a block) or unmaps a mapped one (whole, or a run of its pages);
 * before an unmap the caches are filled over the range, during the invalidation device traffic runs over it,
 * and after the last CMD_SYNC the checker examines what can have gone stale. Set-up (the domains and where
 * they are attached) is in workload-setup.ts, the plan and the queue feeding in workload-plan.ts, capture in
 * workload-capture.ts, the report in workload-report.ts, the types in workload-types.ts.
 */
import { PhysMemory } from '../pgtable/memory.js';
import type { UnmapResult } from '../pgtable/pagetable.js';
import { PlanOutput } from '../tlbi/output.js';
import type { SmmuTable } from '../tlbi/plan.js';
import type { StaleChecker, StaleReport } from '../smmu/checker.js';
import type { SmmuModel, TrafficTarget } from '../smmu/model.js';
import { collectEntries } from '../smmu/snapshot.js';
import { Rng } from '../smmu/rng.js';
import { applyFault, type EntryList } from './faults.js';
import { CONFIG_EVERY, changeTag, tagOf, type ConfigChangeEnv } from './config-change.js';
import { ChangeCapturer } from './workload-capture.js';
import { feedQueue, planUnmap, splitBySmmu, type PlanContext } from './workload-plan.js';
import { buildReport, describeEntry } from './workload-report.js';
import { blockSize, buildDomains, createSmmus } from './workload-setup.js';
import { DOMAINS, LONG_RUN, type Domain, type SimConfig, type SimOp, type SimReport } from './workload-types.js';

export type {
  CacheFigures,
  CaptureOptions,
  CapturedCommand,
  ChangeCapture,
  SimConfig,
  SimOp,
  SimReport,
  SimStage,
  SmmuCapture,
} from './workload-types.js';
export { describeEntry } from './workload-report.js';

/** Translations at most per prefetch of one stream (spread over the range) — keeps long runs fast. */
const PREFETCH_BUDGET = 16;

export function runSimulation(config: SimConfig): SimReport {
  const sim = new Simulation(config);
  sim.advance(Infinity);
  return sim.report();
}

/** The workload set up and not yet run: `advance` it a slice at a time, then ask for its `report`. */
export function startSimulation(config: SimConfig): Simulation {
  return new Simulation(config);
}

export class Simulation {
  private readonly rng: Rng;
  private readonly mem = new PhysMemory();
  private readonly models: SmmuModel[];
  private readonly checkers: StaleChecker[];
  private readonly smmuTable: SmmuTable;
  private readonly domains: Domain[];
  private readonly out = new PlanOutput(1024);
  private readonly perSmmu: EntryList[] = [];
  private readonly planCtx: PlanContext;
  private readonly block: number;
  private readonly g: number;
  private stale = 0;
  private readonly reports: (StaleReport & { op: number })[] = [];
  private maps = 0;
  private unmaps = 0;
  private opIndex = 0;
  private readonly maxReports: number;
  private readonly e2h: boolean;
  /** Capture (null unless asked for) and the change counter. */
  private readonly capturer: ChangeCapturer | null;
  private changeNo = 0;
  /** Replay and recording (off unless asked for): the prefetch draws of the unmap being replayed / recorded. */
  private picks: readonly number[] | null = null;
  private pickAt = 0;
  private recPicks: number[] | null = null;
  private skipped = 0;
  /** Operations run so far; the next drawn operation's index. */
  private opsRun = 0;
  private finished = false;
  private t0 = -1;
  private readonly mappedScratch: number[] = [];
  private readonly freeScratch: number[] = [];

  constructor(private readonly c: SimConfig) {
    this.rng = new Rng(c.seed);
    this.e2h = c.e2h === true && c.stage === '1';
    this.g = c.granule;
    this.block = blockSize(c.granule);
    this.maxReports = c.maxReports ?? 20;
    this.capturer = c.capture !== undefined ? new ChangeCapturer(c.capture, c.granule) : null;
    const smmus = createSmmus(c, this.mem, this.e2h);
    this.models = smmus.models;
    this.checkers = smmus.checkers;
    this.smmuTable = smmus.smmuTable;
    for (let s = 0; s < c.smmus; s++) this.perSmmu.push([]);
    this.planCtx = { policy: c.policy, fault: c.fault, smmuTable: this.smmuTable, granule: c.granule };
    this.domains = buildDomains(c, this.mem, this.models, this.e2h);
  }

  /** Operations run so far. */
  get done(): number {
    return this.opsRun;
  }

  /**
   * Run up to `budget` more operations (a replay runs whole); true once the run is over (every operation ran,
   * or `stopAtFirstStale` stopped it). Progress is reported as the one-shot run reports it.
   */
  advance(budget: number): boolean {
    if (this.t0 < 0) this.t0 = Date.now();
    if (this.finished) return true;
    if (this.c.script !== undefined) {
      this.replay(this.c.script);
      this.finished = true;
      return true;
    }
    const c = this.c;
    const every = c.progressEvery ?? 1000;
    const rec = c.record;
    const stop = c.stopAtFirstStale === true;
    const end = Math.min(c.ops, this.opsRun + budget);
    let stopped = false;
    while (this.opsRun < end) {
      const i = this.opsRun++;
      this.opIndex = i;
      this.step();
      if ((i + 1) % CONFIG_EVERY === 0) {
        rec?.push({ k: 'config', n: (i + 1) / CONFIG_EVERY });
        this.changeConfig((i + 1) / CONFIG_EVERY);
      }
      if (c.onProgress !== undefined && (i + 1) % every === 0) c.onProgress(i + 1, c.ops);
      if (stop && this.stale > 0) {
        stopped = true;
        break;
      }
    }
    if (!stopped && this.opsRun < c.ops) return false;
    c.onProgress?.(c.ops, c.ops);
    this.finished = true;
    return true;
  }

  /** The report of what ran; before the run is over it covers the operations run so far, marked interrupted. */
  report(): SimReport {
    const c = this.c;
    const elapsedMs = this.t0 < 0 ? 0 : Date.now() - this.t0;
    return buildReport(c, this.e2h, this.models, {
      ops: this.opsRun,
      maps: this.maps,
      unmaps: this.unmaps,
      stale: this.stale,
      staleReports: this.reports,
      elapsedMs,
      ...(this.capturer !== null ? { capture: this.capturer.finish(this.changeNo) } : {}),
      ...(c.script !== undefined ? { skipped: this.skipped } : {}),
      ...(this.finished ? {} : { interrupted: true }),
    });
  }

  // ------------------------------------------------------------------ replay

  /** Run the listed operations (see SimConfig.script); operations are numbered by their place in the list. */
  private replay(script: readonly SimOp[]): void {
    let i = 0;
    for (; i < script.length; i++) {
      this.opIndex = i;
      if (!this.replayOp(script[i]!)) this.skipped++;
      if (this.c.stopAtFirstStale === true && this.stale > 0) {
        i++;
        break;
      }
    }
    this.opsRun = i;
  }

  /** One replayed operation; false when it no longer applies. */
  private replayOp(op: SimOp): boolean {
    if (op.k === 'config') {
      this.c.record?.push(op);
      this.changeConfig(op.n);
      return true;
    }
    const dom = this.domains[op.d];
    if (dom === undefined || op.slot < 0 || op.slot >= dom.slots.length) return false;
    return op.k === 'map' ? this.replayMap(dom, op) : this.replayUnmap(dom, op);
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

  private replayUnmap(dom: Domain, op: Extract<SimOp, { k: 'unmap' }>): boolean {
    const m = dom.slots[op.slot];
    const inside = m != null && op.iova >= m.iova && op.iova + op.size <= m.iova + m.size;
    // A block is unmapped whole; pages in any run of whole pages.
    const whole = m != null && op.iova === m.iova && op.size === m.size;
    const pages = m != null && m.leaf === this.g && op.size > 0 && (op.iova - m.iova) % this.g === 0;
    if (!(inside && (whole || pages) && op.size % this.g === 0)) return false;
    this.picks = op.picks;
    this.pickAt = 0;
    this.unmapRange(dom, op.slot, op.iova, op.size);
    this.picks = null;
    this.c.record?.push(op);
    return true;
  }

  // ------------------------------------------------------------------ operations

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
      feed: (model, list) => feedQueue(model, list, this.c.onCommands),
    };
    for (const r of changeTag(env, dom, next)) if (r.stale.length > 0) this.noteStale(r.stale, r.list);
  }

  /** Count stale reports of a change and keep the first few in full, with the change's commands. */
  private noteStale(stale: readonly StaleReport[], list: EntryList): void {
    this.stale += stale.length;
    const names = list.map(describeEntry);
    for (const r of stale) {
      if (this.reports.length >= this.maxReports) break;
      this.reports.push({ ...r, commands: names, op: this.opIndex });
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
    this.prefetchAll(targets);
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
      this.prefetchAll(t2);
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

  private prefetchAll(targets: TrafficTarget[][]): void {
    for (let s = 0; s < this.models.length; s++) {
      const model = this.models[s]!;
      for (const t of targets[s]!) this.prefetch(model, t);
    }
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
    const tlbi = res.tlbi;
    if (tlbi === null) return;
    const changeNo = this.changeNo++;
    const capturer = this.capturer;
    const where = { index: this.domains.indexOf(dom), stage: dom.stage };
    const cap = capturer?.start(changeNo, this.opIndex, where, tlbi.start, tlbi.last) ?? null;
    this.out.clear();
    planUnmap(this.planCtx, dom.invs, tlbi, res.linuxRequests, this.out);
    splitBySmmu(this.out, this.perSmmu);
    for (let s = 0; s < this.models.length; s++) {
      const list = this.perSmmu[s]!;
      if (this.c.fault !== null) applyFault(this.c.fault, list);
      const model = this.models[s]!;
      model.setTraffic(targets[s]!);
      model.runTraffic(); // device traffic while the tables were being changed
      const before = cap !== null ? collectEntries(model, cap.window) : null;
      feedQueue(model, list, this.c.onCommands);
      model.clearTraffic();
      const change = { stage: dom.stage, root: dom.cfg.root, first: tlbi.start, last: tlbi.last };
      const stale = this.checkers[s]!.checkChange(model, change);
      if (cap !== null) capturer!.addSmmu(cap, model, list, before!, stale);
      if (stale.length > 0) {
        capturer?.noteStale(changeNo);
        this.noteStale(stale, list);
      }
    }
  }
}
