/**
 * Scenario `pkvm`: the pKVM-style hypervisor on three SMMUs with host devices (some with ATS, some with a
 * host stage-1 table shadowed as nested over the identity map). Host DMA runs throughout; three VMs boot
 * (their pages donated, each with a passthrough device), the host maps and unmaps its own stage-1 buffers
 * and invalidates them through its emulated command queue (MSI syncs, and commands the filter must drop),
 * pages are shared with and donated to the hypervisor and given back, an SMMU powers off (donations go on
 * without it) and on again (empty caches), and the VMs tear down. After every donation the security property
 * is checked on every powered-on SMMU: no host device reaches the donated pages through any cache.
 */
import { makeCommand, encodeHalves } from '../../cmdq/index.js';
import { Opcode } from '../../cmdq/opcodes.js';
import { writeSync } from '../../cmdq/writers.js';
import { Hypervisor, type HostDeviceSpec, type Vm } from '../../consumers/pkvm.js';
import type { SmmuSpec } from '../../consumers/smmu-port.js';
import { ProtRW } from '../../pgtable/descriptor.js';
import { Gather } from '../../pgtable/gather.js';
import { FrameAllocator } from '../../pgtable/memory.js';
import { IoPageTable } from '../../pgtable/pagetable.js';
import { Rng } from '../../smmu/rng.js';
import { PlanOutput, invalidateRange, invsOf, tlbiInv, type InvKey, type Invs } from '../../tlbi/index.js';
import {
  atsTimeoutArmer,
  blockSize,
  now,
  scenarioSmmu,
  sumValues,
  loopStepper,
  runToEnd,
  type ScenarioOptions,
  type ScenarioRun,
  type ScenarioStepper,
} from './common.js';
import { log2Of } from '../../units.js';
import { faultInjection } from '../faults.js';

export const PKVM_DEFAULT_OPS = 300;

const PAGED_BASE = 0x8000_0000;
const PAGED_BYTES = 0x200_0000; // 32 MiB mapped page by page
/** The top quarter of paged RAM holds the host's own stage-1 tables: never donated. */
const HOST_TABLES = PAGED_BASE + 0x180_0000;
const HOST_TABLE_BYTES = 0x80_0000;
const DONATABLE = HOST_TABLES - PAGED_BASE;
const BLOCK_BASE = 0x1_0000_0000;
const HOST_ASID = 1;
const HOST_IOVA = 0x10_0000;

interface HostBuf {
  iova: number;
  pa: number;
  size: number;
}

/** A range of host RAM. */
interface PaRange {
  pa: number;
  size: number;
}

/** The scenario's state: the hypervisor, the host's own stage-1 table and buffers, the VMs, the pages given away. */
interface PkvmWorld {
  readonly o: ScenarioOptions;
  readonly rng: Rng;
  readonly g: number;
  /** The level-2 block size of the granule. */
  readonly block: number;
  readonly hostDevices: readonly HostDeviceSpec[];
  readonly hyp: Hypervisor;
  /** The host kernel's own stage-1 table for two of its devices (shadowed as nested over the idmap). */
  readonly hostS1: IoPageTable;
  readonly s1Devices: readonly HostDeviceSpec[];
  /** The host's invalidation targets for its stage-1 table (its ASID on each SMMU, its ATS devices). */
  readonly hostInvs: Invs;
  readonly hostOut: PlanOutput;
  readonly hostBufs: HostBuf[];
  nextIova: number;
  hostMaps: number;
  hostUnmaps: number;
  bogus: number;
  readonly vms: Vm[];
  readonly hypPages: PaRange[];
  readonly shared: PaRange[];
}

/** Three SMMUs (plain; force-sync erratum; 32-entry queue), six host devices, the host's stage-1 table. */
function setUpPkvmWorld(o: ScenarioOptions): PkvmWorld {
  const g = o.granule;
  const smmus: SmmuSpec[] = [0, 1, 2].map((i) => ({
    ...scenarioSmmu(o, { forceSync: i === 1, queueLog2Size: i === 2 ? 5 : 8 }),
    ...(o.ds === true ? { ds: true } : {}),
  }));
  const hostDevices: HostDeviceSpec[] = [
    { smmu: 0, sid: 1, ats: o.ats },
    { smmu: 0, sid: 2, ats: false },
    { smmu: 1, sid: 1, ats: o.ats },
    { smmu: 1, sid: 3, ats: false },
    { smmu: 2, sid: 1, ats: false },
    { smmu: 2, sid: 2, ats: o.ats },
  ];
  const block = blockSize(g);
  const hyp = new Hypervisor({
    smmus,
    granule: g,
    policy: o.policy,
    seed: o.seed,
    injection: faultInjection(o.fault),
    pagedRam: { base: PAGED_BASE, size: PAGED_BYTES },
    blockRam: { base: BLOCK_BASE, size: 4 * block },
    hostDevices,
    planStatistics: o.planStatistics ?? true,
  });
  const hostS1 = new IoPageTable({
    stage: 1,
    granule: g,
    ias: 48,
    oas: 40,
    memory: hyp.mem,
    allocator: new FrameAllocator(g, HOST_TABLES, HOST_TABLE_BYTES),
  });
  const hostCd = {
    asid: HOST_ASID,
    table: { root: hostS1.config.rootPa, granuleLog2: log2Of(g), ias: 48, stage: 1 as const },
  };
  const s1Devices = [hostDevices[1]!, hostDevices[2]!];
  for (const d of s1Devices) hyp.hostSetStage1(d.smmu, d.sid, hostCd);
  const hostKeys: InvKey[] = [];
  for (const d of s1Devices) {
    hostKeys.push({ smmu: d.smmu, type: 'S1_ASID', id: HOST_ASID, vmid: 0, pgsize: g });
    if (d.ats) hostKeys.push({ smmu: d.smmu, type: 'ATS', id: d.sid, ssid: 0, pgsize: g });
  }
  return {
    o,
    rng: new Rng(o.seed),
    g,
    block,
    hostDevices,
    hyp,
    hostS1,
    s1Devices,
    hostInvs: invsOf(hostKeys),
    hostOut: new PlanOutput(256),
    hostBufs: [],
    nextIova: HOST_IOVA,
    hostMaps: 0,
    hostUnmaps: 0,
    bogus: 0,
    vms: [],
    hypPages: [],
    shared: [],
  };
}

// ------------------------------------------------------------------ the host

/** The host maps a few donatable pages in its own stage-1 table. */
function hostMap(w: PkvmWorld): void {
  const { g, rng } = w;
  const pages = 1 + rng.below(4);
  const pa = PAGED_BASE + g * rng.below(DONATABLE / g - pages);
  const size = pages * g;
  w.hostS1.map(w.nextIova, pa, size, ProtRW);
  w.hostBufs.push({ iova: w.nextIova, pa, size });
  w.nextIova += size + g;
  w.hostMaps++;
}

/** The host unmaps a buffer and invalidates its stage-1 entries through its emulated queues (MSI syncs). */
function hostUnmap(w: PkvmWorld): void {
  const { hyp, hostOut } = w;
  if (w.hostBufs.length === 0) return;
  const b = w.hostBufs.splice(w.rng.below(w.hostBufs.length), 1)[0]!;
  const r = w.hostS1.unmap(b.iova, b.size);
  const gather = new Gather();
  gather.add(r);
  const ch = gather.take();
  hostOut.clear();
  if (w.o.policy === 'tlbi') tlbiInv(ch.tlbi!, w.hostInvs, hyp.smmuTable, hostOut);
  else for (const req of ch.linuxRequests) invalidateRange(w.hostInvs, req, hyp.smmuTable, hostOut);
  submitHostPlan(w);
  w.hostUnmaps++;
  const change = { stage: 1 as const, root: w.hostS1.config.rootPa, first: ch.tlbi!.start, last: ch.tlbi!.last };
  for (const p of hyp.ports) hyp.stale.note(p.checkChange(change));
}

/** The host's plan, each SMMU's part through that SMMU's emulated queue. */
function submitHostPlan(w: PkvmWorld): void {
  const hostOut = w.hostOut;
  const u32 = hostOut.buf.u32;
  let k = 0;
  while (k < hostOut.count) {
    const smmu = hostOut.smmuOf[k]!;
    let end = k + 1;
    while (end < hostOut.count && hostOut.smmuOf[end] === smmu) end++;
    const part = u32.slice(k * 4, end * 4);
    // Linux with MSI polling: CS=IRQ, the MSI aimed at the SYNC's own slot (the filter downgrades it).
    for (let s = 0; s < end - k; s++)
      if ((part[s * 4]! & 0xff) === Opcode.CMD_SYNC) writeSync(part, s, 1, 3, 0xf, 0, 0xf_f000_0000 + s * 16);
    w.hyp.hostSubmit(smmu, part, end - k);
    k = end;
  }
}

/** The host tries commands it may not issue (each must be dropped or narrowed, and reported). */
function hostBogus(w: PkvmWorld): void {
  const cmds = [
    makeCommand('TLBI_S2_IPA', { vmid: 0, addr: PAGED_BASE }),
    makeCommand('TLBI_NH_ALL', { vmid: 0 }),
    makeCommand('TLBI_S12_VMALL', { vmid: 1 }),
    makeCommand('TLBI_NH_VA', { vmid: 2, asid: 1, addr: HOST_IOVA }),
    makeCommand('TLBI_EL2_ALL'),
    makeCommand('CFGI_STE_RANGE', { sid: 0, range: 3 }),
    makeCommand('CFGI_STE_RANGE', { sid: 0, range: 31 }),
    makeCommand('TLBI_NSNH_ALL'),
    makeCommand('TLBI_NH_ASID', { vmid: 0, asid: HOST_ASID }),
  ];
  const c = w.rng.pick(cmds);
  const u32 = new Uint32Array(8);
  u32.set(encodeHalves(c), 0);
  u32.set(encodeHalves(makeCommand('CMD_SYNC', { cs: 1, msh: 3, msiattr: 0xf, msiaddr: 0xf_f000_0000 })), 4);
  w.hyp.hostSubmit(w.rng.below(3), u32, 2);
  w.bogus++;
}

/** Every host IOVA of the nested host devices, with the PA it maps to (for the isolation check). */
function hostIovas(w: PkvmWorld): { sid: number; smmu: number; iova: number; pa: number }[] {
  const r: { sid: number; smmu: number; iova: number; pa: number }[] = [];
  for (const b of w.hostBufs)
    for (let off = 0; off < b.size; off += w.g)
      for (const d of w.s1Devices) r.push({ sid: d.sid, smmu: d.smmu, iova: b.iova + off, pa: b.pa + off });
  return r;
}

/** Host DMA: every host device touches a few pages it may or may not own any more. */
function hostDma(w: PkvmWorld): void {
  const { g, rng, hyp } = w;
  for (const d of w.hostDevices) {
    const nested = hyp.hostStage1Of(d.smmu, d.sid) !== undefined;
    for (let k = 0; k < 3; k++) {
      if (nested) {
        if (w.hostBufs.length === 0) break;
        const b = rng.pick(w.hostBufs);
        const off = g * rng.below(b.size / g);
        hyp.hostAccess(d.smmu, d.sid, b.iova + off, b.pa + off, rng.chance(0.3));
      } else {
        const pa = rng.chance(0.7)
          ? PAGED_BASE + g * rng.below(PAGED_BYTES / g)
          : BLOCK_BASE + g * rng.below((4 * w.block) / g);
        hyp.hostAccess(d.smmu, d.sid, pa, pa, rng.chance(0.3));
      }
    }
  }
}

// ------------------------------------------------------------------ pages to give away

/** A free (host-owned) run of `pages` donatable pages, or null. */
function freeRun(w: PkvmWorld, pages: number): number | null {
  const { g } = w;
  for (let tries = 0; tries < 20; tries++) {
    const pa = PAGED_BASE + g * w.rng.below(DONATABLE / g - pages);
    let ok = true;
    for (let i = 0; i < pages && ok; i++) ok = w.hyp.ownerOf(pa + i * g) === 'host';
    if (ok) return pa;
  }
  return null;
}

/** A block-aligned, fully host-owned run of paged RAM (one whole last-level table), or null. */
function wholeTable(w: PkvmWorld): number | null {
  const n = DONATABLE / w.block;
  for (let tries = 0; tries < 6; tries++) {
    const pa = PAGED_BASE + w.block * w.rng.below(n);
    let ok = true;
    for (let off = 0; off < w.block && ok; off += w.g) ok = w.hyp.ownerOf(pa + off) === 'host';
    if (ok) return pa;
  }
  return null;
}

// ------------------------------------------------------------------ the phases

/** Three VMs boot (the second also gets a whole block of host RAM); isolation is checked after each. */
function bootVms(w: PkvmWorld): void {
  const { g, hyp } = w;
  for (let i = 0; i < 3; i++) {
    const pages = 4 + w.rng.below(60);
    const pa = freeRun(w, pages);
    if (pa === null) continue;
    const ranges = [{ pa, size: pages * g }];
    if (i === 1) ranges.push({ pa: BLOCK_BASE + w.block, size: w.block });
    for (const r of ranges) hyp.hostTouch(r.pa, Math.min(r.size, 64 * g));
    const vm = hyp.bootVm(ranges, { smmu: i, sid: 16 + i });
    w.vms.push(vm);
    for (const r of ranges) hyp.checkIsolation(r.pa, r.size, hostIovas(w));
    hostDma(w);
  }
}

/** Donate pages to the hypervisor — mostly a few, sometimes a whole last-level table's worth (its table is freed). */
function donateToHyp(w: PkvmWorld): void {
  const { g, hyp } = w;
  const whole = w.block <= DONATABLE / 4 && w.rng.chance(0.15);
  const pages = whole ? w.block / g : 1 + w.rng.below(8);
  const pa = whole ? wholeTable(w) : freeRun(w, pages);
  if (pa === null) return;
  hyp.hostTouch(pa, pages * g);
  hyp.donate(pa, pages * g, 'hyp');
  w.hypPages.push({ pa, size: pages * g });
  hyp.checkIsolation(pa, pages * g, hostIovas(w));
}

/** Share a few pages with the hypervisor. */
function shareSome(w: PkvmWorld): void {
  const pages = 1 + w.rng.below(4);
  const pa = freeRun(w, pages);
  if (pa === null) return;
  w.hyp.share(pa, pages * w.g);
  w.shared.push({ pa, size: pages * w.g });
}

/** One main-loop operation, chosen by one draw. */
function pkvmStep(w: PkvmWorld): void {
  const { rng, hyp } = w;
  const r = rng.float();
  if (r < 0.2) hostDma(w);
  else if (r < 0.3) hostMap(w);
  else if (r < 0.42) hostUnmap(w);
  else if (r < 0.47) hostBogus(w);
  else if (r < 0.6) donateToHyp(w);
  else if (r < 0.7) {
    if (w.hypPages.length > 0) {
      const h = w.hypPages.splice(rng.below(w.hypPages.length), 1)[0]!;
      hyp.reclaim(h.pa, h.size, 'hyp');
    }
  } else if (r < 0.77) shareSome(w);
  else if (r < 0.82) {
    if (w.shared.length > 0) {
      const s = w.shared.splice(rng.below(w.shared.length), 1)[0]!;
      hyp.unshare(s.pa, s.size);
    }
  } else if (r < 0.97) {
    if (w.vms.length > 0) hyp.vmAccess(rng.pick(w.vms), rng);
  } else hyp.checkEverything();
}

/** The main loop's operation `op` of `ops`: SMMU 2 powers off a third of the way in and on again at two thirds (isolation re-checked). */
function pkvmMainOp(w: PkvmWorld, op: number, ops: number, armTimeout: () => void): void {
  const { hyp } = w;
  armTimeout();
  if (op === Math.floor(ops / 3)) hyp.powerOff(2);
  if (op === Math.floor((2 * ops) / 3)) {
    hyp.powerOn(2);
    for (const h of w.hypPages) hyp.checkIsolation(h.pa, h.size, hostIovas(w));
  }
  pkvmStep(w);
}

/** The VMs tear down; host DMA goes on over the pages it got back; the last checks. */
function tearDown(w: PkvmWorld): void {
  const { hyp } = w;
  for (const vm of w.vms) {
    hyp.teardownVm(vm);
    hostDma(w);
  }
  for (const h of w.hypPages) hyp.checkIsolation(h.pa, h.size, hostIovas(w));
  hyp.checkEverything();
}

/** The run report: the hypervisor's counters, the scenario's own counts, the host filter's decisions. */
function pkvmRun(w: PkvmWorld, elapsedMs: number): ScenarioRun {
  const { hyp, o } = w;
  const c = hyp.counters;
  const operations = {
    donations: c.donations,
    reclaims: c.reclaims,
    shares: c.shares,
    unshares: c.unshares,
    vmBoots: c.vmBoots,
    vmTeardowns: c.vmTeardowns,
    powerOffs: c.powerOffs,
    powerOns: c.powerOns,
    hostMaps: w.hostMaps,
    hostUnmaps: w.hostUnmaps,
    hostQueueBatches: c.hostBatches,
    hostBogusCommands: w.bogus,
    hostAccesses: c.hostAccesses,
    vmAccesses: c.vmAccesses,
    isolationChecks: c.isolationChecks,
    ...((o.atsTimeouts ?? 0) > 0 ? { atcTimeouts: c.atcTimeouts, quarantines: c.quarantines } : {}),
  };
  const total = sumValues(operations);
  return {
    policy: o.policy,
    operations,
    ops: total,
    commands: hyp.stats.toJson(),
    stale: hyp.stale.count,
    staleReports: hyp.stale.reports,
    staleByCache: { ...hyp.stale.byCache },
    violations: {
      hostViolations: c.hostViolations,
      vmViolations: c.vmViolations,
      isolationViolations: c.isolationViolations,
    },
    invalidation: hyp.planTotals.toJson(),
    hostFilter: { counts: { ...hyp.filterCounts }, examples: hyp.decisions.map((d) => ({ ...d })) },
    elapsedMs,
    opsPerSecond: elapsedMs > 0 ? Math.round((total * 1000) / elapsedMs) : 0,
  };
}

/** The pkvm scenario as a stepper (set up on creation; see ScenarioStepper). */
export function startPkvmScenario(o: ScenarioOptions): ScenarioStepper {
  const t0 = now();
  const w = setUpPkvmWorld(o);
  for (let i = 0; i < 24; i++) hostMap(w);
  hostDma(w);
  bootVms(w);
  const { hyp } = w;
  const ops = o.ops ?? PKVM_DEFAULT_OPS;
  const armTimeout = atsTimeoutArmer(
    o.atsTimeouts,
    o.seed,
    w.hostDevices.filter((d) => d.ats).map((d) => ({ model: hyp.port(d.smmu).model, sid: d.sid })),
  );
  const stepper = loopStepper(
    ops,
    (op) => pkvmMainOp(w, op, ops, armTimeout),
    () => {
      // SMMU 2 is on for the teardown: a run without main-loop operations powers it on as it always did; a run
      // cut short (Ctrl-C) after the power-off (operation ops/3) and before the power-on (2·ops/3) turns it
      // back on.
      const off = stepper.done > Math.floor(ops / 3);
      const on = stepper.done > Math.floor((2 * ops) / 3);
      if (ops === 0 || (off && !on)) hyp.powerOn(2);
      tearDown(w);
      return pkvmRun(w, now() - t0);
    },
  );
  return stepper;
}

export function runPkvmScenario(o: ScenarioOptions): ScenarioRun {
  return runToEnd(startPkvmScenario(o));
}
