/**
 * Set-up of the randomized workload: the SMMU models with their checkers and the engine's per-SMMU options,
 * and the domains — two domains attached on every SMMU to a stream without ATS and (with ATS) to a shared ATS
 * endpoint under its own SubstreamID (stage 1) or to an ATS stream of its own (stage 2); nested: two guest
 * stage-1 domains (VA = IPA) over one stage-2 parent (VMID 1) that maps the guests' table frames one-to-one.
 */
import { FrameAllocator, type PhysMemory } from '../pgtable/memory.js';
import { IoPageTable } from '../pgtable/pagetable.js';
import { StaleChecker } from '../smmu/checker.js';
import { SmmuModel } from '../smmu/model.js';
import type { StreamConfig } from '../smmu/streams.js';
import type { TableConfig } from '../smmu/walker.js';
import { invsOf, type InvKey } from '../tlbi/invs.js';
import type { SmmuTable } from '../tlbi/plan.js';
import { levelShift, log2Of } from '../units.js';
import { DOMAINS, SLOTS, type Attachment, type Domain, type Mapping, type SimConfig } from './workload-types.js';

/** Input-address size of every table of the workload. */
const IAS = 48;
/** Where the first domain's window starts (input addresses). */
const WINDOW_BASE = 0x40_0000_0000;

/** The bytes of a level-2 block of the granule (2 MiB, 32 MiB, 512 MiB). */
export function blockSize(granule: number): number {
  return 2 ** levelShift(log2Of(granule), 2);
}

/** The SMMUs of a run: their models, their checkers and the engine's options for each. */
export interface SimSmmus {
  readonly models: SmmuModel[];
  readonly checkers: StaleChecker[];
  readonly smmuTable: SmmuTable;
}

export function createSmmus(c: SimConfig, mem: PhysMemory, e2h: boolean): SimSmmus {
  const models: SmmuModel[] = [];
  const checkers: StaleChecker[] = [];
  const table: { ril: boolean; e2h: boolean; forceSync: boolean; repeat: boolean; ds: boolean }[] = [];
  const ds = c.ds === true;
  const errata = c.errata ?? [];
  for (let s = 0; s < c.smmus; s++) {
    models.push(
      new SmmuModel(mem, {
        id: s,
        features: { ats: c.ats, ril: c.ril, ...(ds ? { ds } : {}) },
        e2h,
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
    checkers.push(new StaleChecker(mem));
    table.push({
      ril: c.ril,
      e2h,
      // Fault no-force-sync: the driver does not know the erratum (ARM_SMMU_OPT_CMDQ_FORCE_SYNC not set).
      forceSync: errata.includes('mmu700-2812531') && c.fault !== 'no-force-sync',
      repeat: errata.includes('tegra264-repeat'),
      ds,
    });
  }
  return { models, checkers, smmuTable: table };
}

/** The walker's view of a page table. */
export function tableCfg(pt: IoPageTable): TableConfig {
  return {
    root: pt.config.rootPa,
    granuleLog2: log2Of(pt.config.granule),
    ias: pt.config.ias,
    stage: pt.config.stage,
  };
}

function domainOf(
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
    cfg: tableCfg(pt),
    invs: invsOf(keys),
    attach,
    base,
    slots: new Array<Mapping | null>(slots).fill(null),
    identity,
  };
}

/** The workload's domains, their streams written into every model (see the module note). */
export function buildDomains(c: SimConfig, mem: PhysMemory, models: readonly SmmuModel[], e2h: boolean): Domain[] {
  return c.stage === 'nested' ? buildNested(c, mem, models) : buildFlat(c, mem, models, e2h);
}

function buildNested(c: SimConfig, mem: PhysMemory, models: readonly SmmuModel[]): Domain[] {
  const g = c.granule;
  const window = SLOTS * 2 * blockSize(g);
  // Stage-2 parent: maps the guest's table frames one-to-one; data windows are mapped by the ops.
  const s2 = new IoPageTable({
    stage: 2,
    granule: g,
    ias: IAS,
    memory: mem,
    allocator: new FrameAllocator(g, 0x2_0000_0000, 0x1000_0000),
  });
  const guestFrames = 0x3_0000_0000;
  s2.map(guestFrames, guestFrames, 0x1000_0000, { read: true, write: true, exec: false });
  const s2cfg = tableCfg(s2);
  const s2Keys: InvKey[] = [];
  const s2Attach: Attachment[] = [];
  const guests: { pt: IoPageTable; asid: number; base: number }[] = [];
  for (let d = 0; d < DOMAINS; d++) {
    const allocator = new FrameAllocator(g, guestFrames + d * 0x800_0000, 0x800_0000);
    const pt = new IoPageTable({ stage: 1, granule: g, ias: IAS, memory: mem, allocator });
    guests.push({ pt, asid: d + 1, base: WINDOW_BASE + d * window });
  }
  for (let s = 0; s < c.smmus; s++) {
    const cds = new Map(guests.map((gd, d) => [d, { asid: gd.asid, table: tableCfg(gd.pt) }]));
    const plain: StreamConfig = { sid: 0x10, mode: 'nested', ats: false, vmid: 1, s2: s2cfg, cds };
    models[s]!.setStream(plain);
    s2Keys.push(
      { smmu: s, type: 'S2_VMID', id: 1, pgsize: g },
      { smmu: s, type: 'S2_VMID_S1_CLEAR', id: 1, pgsize: g },
    );
    for (let d = 0; d < DOMAINS; d++) s2Attach.push({ smmu: s, sid: 0x10, ssid: d });
    if (c.ats) {
      models[s]!.setStream({ ...plain, sid: 0x20, ats: true });
      s2Keys.push({ smmu: s, type: 'ATS_FULL', id: 0x20 });
      for (let d = 0; d < DOMAINS; d++) s2Attach.push({ smmu: s, sid: 0x20, ssid: d });
    }
  }
  const domains = guests.map((gd, d) => {
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
    return domainOf(gd.pt, keys, attach, gd.base, true);
  });
  // The parent's data window is the guests' IPA window (VA = IPA in the guests).
  domains.push(domainOf(s2, s2Keys, s2Attach, WINDOW_BASE, false, DOMAINS * SLOTS));
  return domains;
}

function buildFlat(c: SimConfig, mem: PhysMemory, models: readonly SmmuModel[], e2h: boolean): Domain[] {
  const g = c.granule;
  const window = SLOTS * 2 * blockSize(g);
  const stage = c.stage === '1' ? 1 : 2;
  const domains: Domain[] = [];
  for (let d = 0; d < DOMAINS; d++) {
    const allocator = new FrameAllocator(g, 0x2_0000_0000 + d * 0x1000_0000, 0x1000_0000);
    const pt = new IoPageTable({ stage, granule: g, ias: IAS, memory: mem, allocator });
    const cfg = tableCfg(pt);
    const keys: InvKey[] = [];
    const attach: Attachment[] = [];
    for (let s = 0; s < c.smmus; s++) {
      const at: AttachAt = { s, d, cfg, keys, attach };
      if (stage === 1) attachStage1(c, models[s]!, at, e2h);
      else attachStage2(c, models[s]!, at);
    }
    domains.push(domainOf(pt, keys, attach, WINDOW_BASE + d * window, false));
  }
  return domains;
}

/** Domain d's attachment on SMMU s: its table, and the keys and attachments collected for it. */
interface AttachAt {
  readonly s: number;
  readonly d: number;
  readonly cfg: TableConfig;
  readonly keys: InvKey[];
  readonly attach: Attachment[];
}

/** Stage 1: domain d on stream 0x10 + d, and (ATS) on the shared ATS endpoint 0x20 with PASID d. */
function attachStage1(c: SimConfig, m: SmmuModel, at: AttachAt, e2h: boolean): void {
  const { s, d, cfg, keys, attach } = at;
  const prev = m.streams.get(0x20);
  m.setStream({
    sid: 0x10 + d,
    mode: 'stage1',
    ats: false,
    vmid: 0,
    ...(e2h ? { regime: 'el2-e2h' as const } : {}),
    cds: new Map([[0, { asid: d + 1, table: cfg }]]),
  });
  keys.push({ smmu: s, type: 'S1_ASID', id: d + 1, pgsize: c.granule });
  attach.push({ smmu: s, sid: 0x10 + d, ssid: 0 });
  if (!c.ats) return;
  // One ATS endpoint with a PASID per domain.
  const cds = new Map(prev?.cds ?? []);
  cds.set(d, { asid: d + 1, table: cfg });
  m.setStream({
    sid: 0x20,
    mode: 'stage1',
    ats: true,
    vmid: 0,
    ...(e2h ? { regime: 'el2-e2h' as const } : {}),
    cds,
  });
  keys.push({ smmu: s, type: 'ATS', id: 0x20, ssid: d });
  attach.push({ smmu: s, sid: 0x20, ssid: d });
}

/** Stage 2: domain d (VMID d + 1) on stream 0x10 + d, and (ATS) on an ATS stream 0x20 + d of its own. */
function attachStage2(c: SimConfig, m: SmmuModel, at: AttachAt): void {
  const { s, d, cfg, keys, attach } = at;
  m.setStream({ sid: 0x10 + d, mode: 'stage2', ats: false, vmid: d + 1, s2: cfg });
  keys.push({ smmu: s, type: 'S2_VMID', id: d + 1, pgsize: c.granule });
  attach.push({ smmu: s, sid: 0x10 + d, ssid: 0 });
  if (!c.ats) return;
  m.setStream({ sid: 0x20 + d, mode: 'stage2', ats: true, vmid: d + 1, s2: cfg });
  keys.push({ smmu: s, type: 'ATS', id: 0x20 + d, ssid: 0 });
  attach.push({ smmu: s, sid: 0x20 + d, ssid: 0 });
}
