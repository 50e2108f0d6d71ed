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
import { PlanOutput, invalidateRange, invsOf, tlbiInv, type InvKey, type SmmuTable } from '../../tlbi/index.js';
import { atsTimeoutArmer, blockSize, now, sumValues, type ScenarioOptions, type ScenarioRun } from './common.js';
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

export function runPkvmScenario(o: ScenarioOptions): ScenarioRun {
  const t0 = now();
  const rng = new Rng(o.seed);
  const g = o.granule;
  const smmus: SmmuSpec[] = [0, 1, 2].map((i) => ({
    ril: o.ril,
    ats: o.ats,
    e2h: false,
    forceSync: i === 1,
    queueLog2Size: i === 2 ? 5 : 8,
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

  // The host kernel's own stage-1 table for two of its devices (shadowed as nested over the idmap).
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
  const hostInvs = invsOf(hostKeys);
  const hostTable: SmmuTable = hyp.smmuTable;
  const hostOut = new PlanOutput(256);
  const hostBufs: HostBuf[] = [];
  let nextIova = HOST_IOVA;
  let hostMaps = 0;
  let hostUnmaps = 0;
  let bogus = 0;

  const hostMap = (): void => {
    const pages = 1 + rng.below(4);
    const pa = PAGED_BASE + g * rng.below(DONATABLE / g - pages);
    const size = pages * g;
    hostS1.map(nextIova, pa, size, ProtRW);
    hostBufs.push({ iova: nextIova, pa, size });
    nextIova += size + g;
    hostMaps++;
  };

  /** The host unmaps a buffer and invalidates its stage-1 entries through its emulated queues (MSI syncs). */
  const hostUnmap = (): void => {
    if (hostBufs.length === 0) return;
    const b = hostBufs.splice(rng.below(hostBufs.length), 1)[0]!;
    const r = hostS1.unmap(b.iova, b.size);
    const gather = new Gather();
    gather.add(r);
    const ch = gather.take();
    hostOut.clear();
    if (o.policy === 'tlbi') tlbiInv(ch.tlbi!, hostInvs, hostTable, hostOut);
    else for (const req of ch.linuxRequests) invalidateRange(hostInvs, req, hostTable, hostOut);
    submitHostPlan();
    hostUnmaps++;
    const change = { stage: 1 as const, root: hostS1.config.rootPa, first: ch.tlbi!.start, last: ch.tlbi!.last };
    for (const p of hyp.ports) hyp.stale.note(p.checkChange(change));
  };

  const submitHostPlan = (): void => {
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
      hyp.hostSubmit(smmu, part, end - k);
      k = end;
    }
  };

  /** The host tries commands it may not issue (each must be dropped or narrowed, and reported). */
  const hostBogus = (): void => {
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
    const c = rng.pick(cmds);
    const u32 = new Uint32Array(8);
    u32.set(encodeHalves(c), 0);
    u32.set(encodeHalves(makeCommand('CMD_SYNC', { cs: 1, msh: 3, msiattr: 0xf, msiaddr: 0xf_f000_0000 })), 4);
    hyp.hostSubmit(rng.below(3), u32, 2);
    bogus++;
  };

  const hostIovas = (): { sid: number; smmu: number; iova: number; pa: number }[] => {
    const r: { sid: number; smmu: number; iova: number; pa: number }[] = [];
    for (const b of hostBufs)
      for (let off = 0; off < b.size; off += g)
        for (const d of s1Devices) r.push({ sid: d.sid, smmu: d.smmu, iova: b.iova + off, pa: b.pa + off });
    return r;
  };

  /** Host DMA: every host device touches a few pages it may or may not own any more. */
  const hostDma = (): void => {
    for (const d of hostDevices) {
      const nested = hyp.hostStage1Of(d.smmu, d.sid) !== undefined;
      for (let k = 0; k < 3; k++) {
        if (nested) {
          if (hostBufs.length === 0) break;
          const b = rng.pick(hostBufs);
          const off = g * rng.below(b.size / g);
          hyp.hostAccess(d.smmu, d.sid, b.iova + off, b.pa + off, rng.chance(0.3));
        } else {
          const pa = rng.chance(0.7)
            ? PAGED_BASE + g * rng.below(PAGED_BYTES / g)
            : BLOCK_BASE + g * rng.below((4 * block) / g);
          hyp.hostAccess(d.smmu, d.sid, pa, pa, rng.chance(0.3));
        }
      }
    }
  };

  /** A free (host-owned) run of `pages` donatable pages, or null. */
  const freeRun = (pages: number): number | null => {
    for (let tries = 0; tries < 20; tries++) {
      const pa = PAGED_BASE + g * rng.below(DONATABLE / g - pages);
      let ok = true;
      for (let i = 0; i < pages && ok; i++) ok = hyp.ownerOf(pa + i * g) === 'host';
      if (ok) return pa;
    }
    return null;
  };

  /** A block-aligned, fully host-owned run of paged RAM (one whole last-level table), or null. */
  const wholeTable = (): number | null => {
    const n = DONATABLE / block;
    for (let tries = 0; tries < 6; tries++) {
      const pa = PAGED_BASE + block * rng.below(n);
      let ok = true;
      for (let off = 0; off < block && ok; off += g) ok = hyp.ownerOf(pa + off) === 'host';
      if (ok) return pa;
    }
    return null;
  };

  for (let i = 0; i < 24; i++) hostMap();
  hostDma();

  // Three VMs boot; the second also gets a whole block of host RAM.
  const vms: Vm[] = [];
  for (let i = 0; i < 3; i++) {
    const pages = 4 + rng.below(60);
    const pa = freeRun(pages);
    if (pa === null) continue;
    const ranges = [{ pa, size: pages * g }];
    if (i === 1) ranges.push({ pa: BLOCK_BASE + block, size: block });
    for (const r of ranges) hyp.hostTouch(r.pa, Math.min(r.size, 64 * g));
    const vm = hyp.bootVm(ranges, { smmu: i, sid: 16 + i });
    vms.push(vm);
    for (const r of ranges) hyp.checkIsolation(r.pa, r.size, hostIovas());
    hostDma();
  }

  const hypPages: { pa: number; size: number }[] = [];
  const shared: { pa: number; size: number }[] = [];
  const ops = o.ops ?? PKVM_DEFAULT_OPS;
  const armTimeout = atsTimeoutArmer(
    o.atsTimeouts,
    o.seed,
    hostDevices.filter((d) => d.ats).map((d) => ({ model: hyp.port(d.smmu).model, sid: d.sid })),
  );
  let powerCycled = false;
  for (let op = 0; op < ops; op++) {
    armTimeout();
    if (op === Math.floor(ops / 3)) hyp.powerOff(2);
    if (op === Math.floor((2 * ops) / 3)) {
      hyp.powerOn(2);
      powerCycled = true;
      for (const h of hypPages) hyp.checkIsolation(h.pa, h.size, hostIovas());
    }
    const r = rng.float();
    if (r < 0.2) hostDma();
    else if (r < 0.3) hostMap();
    else if (r < 0.42) hostUnmap();
    else if (r < 0.47) hostBogus();
    else if (r < 0.6) {
      // Mostly a few pages; sometimes a whole last-level table's worth (its table is freed).
      const whole = block <= DONATABLE / 4 && rng.chance(0.15);
      const pages = whole ? block / g : 1 + rng.below(8);
      const pa = whole ? wholeTable() : freeRun(pages);
      if (pa !== null) {
        hyp.hostTouch(pa, pages * g);
        hyp.donate(pa, pages * g, 'hyp');
        hypPages.push({ pa, size: pages * g });
        hyp.checkIsolation(pa, pages * g, hostIovas());
      }
    } else if (r < 0.7) {
      if (hypPages.length > 0) {
        const h = hypPages.splice(rng.below(hypPages.length), 1)[0]!;
        hyp.reclaim(h.pa, h.size, 'hyp');
      }
    } else if (r < 0.77) {
      const pages = 1 + rng.below(4);
      const pa = freeRun(pages);
      if (pa !== null) {
        hyp.share(pa, pages * g);
        shared.push({ pa, size: pages * g });
      }
    } else if (r < 0.82) {
      if (shared.length > 0) {
        const s = shared.splice(rng.below(shared.length), 1)[0]!;
        hyp.unshare(s.pa, s.size);
      }
    } else if (r < 0.97) {
      if (vms.length > 0) hyp.vmAccess(rng.pick(vms), rng);
    } else hyp.checkEverything();
  }
  if (!powerCycled) hyp.powerOn(2);

  // The VMs tear down; host DMA goes on over the pages it got back.
  for (const vm of vms) {
    hyp.teardownVm(vm);
    hostDma();
  }
  for (const h of hypPages) hyp.checkIsolation(h.pa, h.size, hostIovas());
  hyp.checkEverything();

  const elapsedMs = now() - t0;
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
    hostMaps,
    hostUnmaps,
    hostQueueBatches: c.hostBatches,
    hostBogusCommands: bogus,
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
