/**
 * The pKVM-style hypervisor consumer: the same invalidation engine, hosted at EL2.
 *
 * - One identity-mapped stage-2 table (`idmap`, VMID 0) shared by every SMMU for host DMA, built at boot:
 *   host devices that would bypass translate through it (stage 2), host devices with their own stage-1
 *   tables are shadowed as nested (host stage 1 over the idmap, VMID 0).
 * - Its invalidation-target array is built once at boot: per SMMU one S2_VMID(0) and one
 *   S2_VMID_S1_CLEAR(0) entry, and one ATS_FULL entry per host StreamID with ATS. Every idmap change is
 *   planned by the engine with the same functions the kernel driver uses (`tlbiInv` for policy `tlbi`,
 *   `invalidateRange` per Linux-style request for `linux`): S2_IPA ranges + CMD_SYNC, then NH_ALL(0) +
 *   CMD_SYNC (host stage-1 entries are combined with stage 2), then the host ATCs + CMD_SYNC.
 * - Donating host pages (to a VM, or to the hypervisor) unmaps them from the idmap and invalidates on every
 *   powered-on SMMU; reclaiming maps them back. Sharing with the hypervisor takes the same path (the idmap
 *   entry is replaced by a read-only one: break, invalidate, make).
 * - Powered-off SMMUs are skipped (their entries of every plan are not sent) and come back with empty caches.
 * - VMs: each has a stage-2 table of its own (VMID n) over the pages it was donated, and optionally a
 *   passthrough device; teardown removes the device's STE, flushes the VMID (engine, size 0: S12_VMALL),
 *   and gives the pages back to the host.
 * - The host's own command queue is emulated: its entries go through host-cmdq-filter.ts and only what the
 *   filter forwards reaches the real queue; every decision is kept.
 * - `checkIsolation(range)` proves the security property with the model: no host device reaches the range
 *   through a translation, and no TLB, walk-cache or ATC entry of any powered-on SMMU still maps it
 *   (./pkvm/isolation.ts). The options, VMs and counters are ./pkvm/types.ts.
 */
import { encodeHalves, makeCommand, type Command } from '../cmdq/index.js';
import { ProtRW, type Prot } from '../pgtable/descriptor.js';
import type { Granule } from '../pgtable/config.js';
import { Gather } from '../pgtable/gather.js';
import { FrameAllocator, PhysMemory } from '../pgtable/memory.js';
import { IoPageTable } from '../pgtable/pagetable.js';
import { Regime } from '../smmu/caches.js';
import { XlateStatus, type TrafficTarget } from '../smmu/model.js';
import type { ContextDescriptor, StreamConfig } from '../smmu/streams.js';
import type { TableConfig } from '../smmu/walker.js';
import {
  PlanOutput,
  invalidateRange,
  invsOf,
  tlbiInv,
  type InvKey,
  type Invs,
  type Policy,
  type SmmuTable,
} from '../tlbi/index.js';
import { filterHostCommands, HOST_VMID, type FilterAction, type FilterDecision } from './host-cmdq-filter.js';
import { HeldFrames } from './space.js';
import { CommandStats, PlanTotals, SmmuPort, StaleLog, routePlan } from './smmu-port.js';
import { log2Of } from '../units.js';
import { NO_INJECTION, type InjectionPoints } from './injection.js';
import { isolationViolations, type HostIova } from './pkvm/isolation.js';
import {
  newHypCounters,
  type HostDeviceSpec,
  type HypCounters,
  type HypOptions,
  type Owner,
  type Vm,
} from './pkvm/types.js';

export type { HostDeviceSpec, HypCounters, HypOptions, Vm } from './pkvm/types.js';

/** The CMD_SYNC a host driver puts after its commands (SEV). */
const HOST_SYNC: Command = { name: 'CMD_SYNC', cs: 2, msh: 3, msiattr: 0xf, msidata: 0, msiaddr: 0 };

const HYP_TABLE_POOL = 0x50_0000_0000;
const HYP_TABLE_BYTES = 2 ** 30;

export class Hypervisor {
  readonly mem: PhysMemory;
  readonly granule: Granule;
  readonly policy: Policy;
  readonly ports: SmmuPort[];
  readonly smmuTable: SmmuTable;
  readonly idmap: IoPageTable;
  readonly idmapCfg: TableConfig;
  /** Built once at boot; never changes. */
  readonly invs: Invs;
  readonly stats = new CommandStats();
  readonly counters: HypCounters = newHypCounters();
  readonly planTotals: PlanTotals;
  readonly filterCounts: Record<FilterAction, number> = { allowed: 0, rewritten: 0, dropped: 0, illegal: 0 };
  /** The first decisions of every kind (allowed, rewritten, dropped, illegal), for the report. */
  readonly decisions: FilterDecision[] = [];
  readonly stale = new StaleLog();
  readonly vms = new Map<number, Vm>();
  readonly injection: InjectionPoints;
  readonly hostDevices: readonly HostDeviceSpec[];
  readonly pagedRam: { readonly base: number; readonly size: number };
  readonly blockRam: { readonly base: number; readonly size: number };

  private readonly frames: HeldFrames;
  private readonly pool: FrameAllocator;
  private readonly out = new PlanOutput(1024);
  /** Owner of each granule-sized page that is not the host's (absent = host). */
  private readonly owner = new Map<number, Owner>();
  /** Host stage-1 contexts of host devices (shadowed as nested over the idmap), by SMMU and StreamID. */
  private readonly hostCds = new Map<string, ContextDescriptor>();
  private nextVmid = 1;
  private readonly freeVmids: number[] = [];
  private nextVm = 1;
  private readonly keptPerAction: Record<FilterAction, number> = { allowed: 0, rewritten: 0, dropped: 0, illegal: 0 };

  constructor(opts: HypOptions) {
    this.mem = opts.memory ?? new PhysMemory();
    this.granule = opts.granule;
    this.policy = opts.policy;
    this.injection = opts.injection ?? NO_INJECTION;
    this.hostDevices = opts.hostDevices;
    this.pagedRam = opts.pagedRam;
    this.blockRam = opts.blockRam;
    this.planTotals = new PlanTotals(opts.planStatistics ?? true);
    const seed = opts.seed ?? 1;
    this.ports = opts.smmus.map((s, i) => new SmmuPort(i, s, this.mem, seed));
    this.smmuTable = this.ports.map((p) => p.options);
    for (const p of this.ports) p.onAtcTimeout = (sids) => this.atcTimedOut(p, sids);
    this.pool = new FrameAllocator(opts.granule, HYP_TABLE_POOL, HYP_TABLE_BYTES);
    this.frames = new HeldFrames(this.pool);
    // Boot: the identity map of host RAM.
    this.idmap = new IoPageTable({
      stage: 2,
      granule: opts.granule,
      ias: 40,
      memory: this.mem,
      allocator: this.frames,
    });
    const c = this.idmap.config;
    this.idmapCfg = { root: c.rootPa, granuleLog2: log2Of(c.granule), ias: c.ias, stage: 2 };
    for (let off = 0; off < opts.pagedRam.size; off += opts.granule)
      this.idmap.map(opts.pagedRam.base + off, opts.pagedRam.base + off, opts.granule, ProtRW);
    if (opts.blockRam.size > 0) this.idmap.map(opts.blockRam.base, opts.blockRam.base, opts.blockRam.size, ProtRW);
    // Boot: the invalidation targets, once.
    const keys: InvKey[] = [];
    for (const p of this.ports) {
      keys.push({ smmu: p.id, type: 'S2_VMID', id: HOST_VMID, pgsize: opts.granule });
      keys.push({ smmu: p.id, type: 'S2_VMID_S1_CLEAR', id: HOST_VMID, pgsize: opts.granule });
    }
    for (const d of opts.hostDevices) {
      if (d.ats && !this.port(d.smmu).spec.ats)
        throw new RangeError(`SMMU ${d.smmu} has no ATS (host device ${d.sid})`);
      if (d.ats) keys.push({ smmu: d.smmu, type: 'ATS_FULL', id: d.sid, pgsize: opts.granule });
    }
    this.invs = invsOf(keys);
    // Boot: host streams translate through the idmap (bypass shadowed as stage 2).
    for (const d of opts.hostDevices) this.installHostStream(d, true);
  }

  port(id: number): SmmuPort {
    const p = this.ports[id];
    if (p === undefined) throw new RangeError(`no SMMU ${id}`);
    return p;
  }

  /**
   * Write the shadow STE of a host device from the host's own STE (bypass → stage 2 over the idmap; stage 1 →
   * nested over it). At boot the SMMU has cached nothing yet (`boot`); later the shadow is written in memory
   * only, and the host's CFGI_STE that caused it, forwarded after, makes the SMMU drop its cached copy.
   */
  private installHostStream(d: HostDeviceSpec, boot = false): void {
    const cd = this.hostCds.get(`${d.smmu}:${d.sid}`);
    const model = this.port(d.smmu).model;
    const put = (st: StreamConfig): void => (boot ? model.setStream(st) : model.writeStream(st));
    if (cd === undefined) put({ sid: d.sid, mode: 'stage2', ats: d.ats, vmid: HOST_VMID, s2: this.idmapCfg });
    else
      put({
        sid: d.sid,
        mode: 'nested',
        ats: d.ats,
        vmid: HOST_VMID,
        s2: this.idmapCfg,
        cds: new Map([[0, cd]]),
      });
  }

  /**
   * The host installs a stage-1 context for one of its devices and tells the SMMU as a host driver does:
   * its STE written (`hostWriteStage1`), then CFGI_STE + CMD_SYNC on its emulated queue, where the
   * hypervisor traps the CFGI_STE, re-shadows the STE as nested over the idmap (VMID 0) and forwards the
   * command (IHI 0070 §4.3.7: "Re-shadow STE, CMD_CFGI_STE"). The host then invalidates its own stage-1
   * entries through `hostSubmit`.
   */
  hostSetStage1(smmu: number, sid: number, cd: ContextDescriptor | null): void {
    this.hostWriteStage1(smmu, sid, cd);
    const u32 = new Uint32Array(8);
    u32.set(encodeHalves(makeCommand('CFGI_STE', { sid, leaf: 1 })), 0);
    u32.set(encodeHalves(HOST_SYNC), 4);
    this.hostSubmit(smmu, u32, 2);
  }

  /** The host writes its own STE for a device (in host memory): nothing changes until it issues CFGI_STE. */
  hostWriteStage1(smmu: number, sid: number, cd: ContextDescriptor | null): void {
    const d = this.hostDevices.find((x) => x.smmu === smmu && x.sid === sid);
    if (d === undefined) throw new RangeError(`no host device ${sid} on SMMU ${smmu}`);
    if (cd === null) this.hostCds.delete(`${smmu}:${sid}`);
    else this.hostCds.set(`${smmu}:${sid}`, cd);
  }

  /**
   * The hypervisor's side of the host's configuration invalidations on `smmu`: before the host's entries go
   * to the real queue, every CFGI_STE the filter forwards re-shadows that StreamID's STE, and CFGI_ALL every
   * host STE of the SMMU (the forwarded command and the host's CMD_SYNC then complete the invalidation).
   */
  private reshadow(smmu: number, u32: Uint32Array, decisions: readonly FilterDecision[]): void {
    for (const d of decisions) {
      if (d.action !== 'allowed') continue;
      const sid = u32[d.index * 4 + 1]!;
      if (d.command === 'CFGI_STE') {
        const dev = this.hostDevices.find((x) => x.smmu === smmu && x.sid === sid);
        if (dev !== undefined) this.installHostStream(dev);
      } else if (d.command === 'CFGI_STE_RANGE') {
        for (const dev of this.hostDevices)
          if (dev.smmu === smmu && this.hostOwnsStream(smmu, dev.sid)) this.installHostStream(dev);
      }
    }
  }

  // ------------------------------------------------------------------ ATC invalidation timeouts

  /**
   * A CMD_SYNC on `port` raised CERROR_ATC_INV_SYNC (the port acknowledged it through GERRORN and the queue
   * drained): the ATC_INVs to `sids` it waited for gave no guarantee (IHI 0070 4.7.3), so a host device's
   * ATC may still reach pages being donated. Every host device among them is quarantined before the
   * donation (or share) returns. Fault `ignore-atc-timeout`: the hypervisor treats the range as clean.
   */
  private atcTimedOut(port: SmmuPort, sids: readonly number[]): void {
    this.counters.atcTimeouts++;
    if (this.injection.onAtcSyncTimeout?.() === false) return;
    for (const sid of sids) {
      const d = this.hostDevices.find((x) => x.smmu === port.id && x.sid === sid);
      if (d !== undefined && d.ats && this.hostOwnsStream(d.smmu, d.sid)) this.quarantine(d);
    }
  }

  /**
   * Quarantine a host device: its shadow STE is blocked (abort, CFGI_STE + CMD_SYNC: the SMMU terminates
   * its transactions from then on, translated ones included), the endpoint is reset (a function-level
   * reset empties its ATC, IHI 0070 3.9.1.4), then the shadow STE is written again from the host's STE.
   */
  private quarantine(d: HostDeviceSpec): void {
    const p = this.port(d.smmu);
    if (!p.powered) return;
    this.counters.quarantines++;
    const cfgi: Command[] = [{ name: 'CFGI_STE', ssec: 0, sid: d.sid, leaf: 1 }];
    p.model.writeStreamInvalid(d.sid);
    p.submitCommands(cfgi, this.stats, this.injection);
    p.model.resetEndpoint(d.sid);
    this.installHostStream(d);
    p.submitCommands(cfgi, this.stats, this.injection);
    this.stale.note(p.checker.checkConfig(p.model, [d.sid]));
  }

  // ------------------------------------------------------------------ ownership

  /**
   * Does the host own StreamID `sid` on `smmu`? Only the host devices whose STEs the hypervisor shadows,
   * and none that is a VM's passthrough device (the host command filter asks this of every per-stream command).
   */
  hostOwnsStream(smmu: number, sid: number): boolean {
    if (!this.hostDevices.some((d) => d.smmu === smmu && d.sid === sid)) return false;
    for (const vm of this.vms.values())
      if (vm.device !== null && vm.device.smmu === smmu && vm.device.sid === sid) return false;
    return true;
  }

  ownerOf(pa: number): Owner {
    return this.owner.get(pa - (pa % this.granule)) ?? 'host';
  }

  private setOwner(pa: number, size: number, o: Owner): void {
    for (let off = 0; off < size; off += this.granule) {
      if (o === 'host') this.owner.delete(pa + off);
      else this.owner.set(pa + off, o);
    }
  }

  private checkRange(pa: number, size: number, expect: Owner): void {
    if (size <= 0 || pa % this.granule !== 0 || size % this.granule !== 0)
      throw new RangeError(`range 0x${pa.toString(16)}+0x${size.toString(16)} is not granule aligned`);
    const inPaged = pa >= this.pagedRam.base && pa + size <= this.pagedRam.base + this.pagedRam.size;
    const inBlock = pa >= this.blockRam.base && pa + size <= this.blockRam.base + this.blockRam.size;
    if (!inPaged && !inBlock) throw new RangeError(`range 0x${pa.toString(16)} is not host RAM`);
    for (let off = 0; off < size; off += this.granule)
      if (this.ownerOf(pa + off) !== expect)
        throw new RangeError(`page 0x${(pa + off).toString(16)} is owned by ${this.ownerOf(pa + off)}, not ${expect}`);
  }

  // ------------------------------------------------------------------ idmap changes

  /** Unmap [pa, pa + size) from the idmap and invalidate it on every powered-on SMMU. */
  private unmapIdmap(pa: number, size: number): void {
    const r = this.idmap.unmap(pa, size);
    if (r.unmapped !== size) throw new Error(`idmap unmap of 0x${pa.toString(16)} stopped at a hole`);
    const g = new Gather();
    g.add(r);
    const ch = g.take();
    const desc = ch.tlbi!;
    const out = this.out;
    out.clear();
    if (this.policy === 'tlbi') tlbiInv(desc, this.invs, this.smmuTable, out);
    else for (const req of ch.linuxRequests) invalidateRange(this.invs, req, this.smmuTable, out);
    this.planTotals.add(out, desc, this.policy, this.invs);
    this.run(out, pa, pa + size - 1);
    this.frames.releaseHeld();
    const change = { stage: 2 as const, root: this.idmapCfg.root, first: desc.start, last: desc.last };
    for (const p of this.ports) this.stale.note(p.checkChange(change));
  }

  /** Route a plan with host traffic running over [first, last] during it (the adversary's refills). */
  private run(out: PlanOutput, first: number, last: number): void {
    for (const p of this.ports) {
      if (!p.powered) continue;
      const ts: TrafficTarget[] = [];
      for (const d of this.hostDevices) {
        if (d.smmu !== p.id) continue;
        const cd = this.hostCds.get(`${d.smmu}:${d.sid}`);
        // A nested device reaches the range through its host IOVAs: run over all of them.
        if (cd === undefined) ts.push({ sid: d.sid, ssid: 0, first, last });
        else ts.push({ sid: d.sid, ssid: 0, first: 0, last: 2 ** 32 - 1 });
      }
      p.model.setTraffic(ts);
    }
    try {
      routePlan(out, 0, this.ports, this.injection, this.stats);
    } finally {
      for (const p of this.ports) p.model.clearTraffic();
    }
  }

  private mapIdmap(pa: number, size: number, prot: Prot): void {
    if (pa >= this.pagedRam.base && pa < this.pagedRam.base + this.pagedRam.size)
      for (let off = 0; off < size; off += this.granule) this.idmap.map(pa + off, pa + off, this.granule, prot);
    else this.idmap.map(pa, pa, size, prot);
  }

  /** Donate host pages to the hypervisor (or, through `bootVm`, to a VM): the host loses access. */
  donate(pa: number, size: number, to: 'hyp' | 'vm' = 'hyp'): void {
    this.checkRange(pa, size, 'host');
    this.unmapIdmap(pa, size);
    this.setOwner(pa, size, to);
    this.counters.donations++;
  }

  /** Give donated pages back to the host. */
  reclaim(pa: number, size: number, from: 'hyp' | 'vm' = 'hyp'): void {
    this.checkRange(pa, size, from);
    this.mapIdmap(pa, size, ProtRW);
    this.setOwner(pa, size, 'host');
    this.counters.reclaims++;
  }

  /** Share host pages with the hypervisor: the host keeps read access only (break, invalidate, make). */
  share(pa: number, size: number): void {
    this.checkRange(pa, size, 'host');
    this.unmapIdmap(pa, size);
    this.mapIdmap(pa, size, { read: true, write: false, exec: false });
    this.setOwner(pa, size, 'shared');
    this.counters.shares++;
  }

  /** End a share: the host gets write access back (break, invalidate, make). */
  unshare(pa: number, size: number): void {
    this.checkRange(pa, size, 'shared');
    this.unmapIdmap(pa, size);
    this.mapIdmap(pa, size, ProtRW);
    this.setOwner(pa, size, 'host');
    this.counters.unshares++;
  }

  // ------------------------------------------------------------------ VMs

  /** Boot a VM: donate its pages, map them in its own stage 2 (IPA 0 upwards), attach its device if any. */
  bootVm(ranges: readonly { pa: number; size: number }[], device: { smmu: number; sid: number } | null): Vm {
    for (const r of ranges) this.checkRange(r.pa, r.size, 'host');
    for (const r of ranges) this.donate(r.pa, r.size, 'vm');
    const frames = new HeldFrames(this.pool);
    const s2 = new IoPageTable({ stage: 2, granule: this.granule, ias: 40, memory: this.mem, allocator: frames });
    const c = s2.config;
    let ipa = 0;
    for (const r of ranges) {
      s2.map(ipa, r.pa, r.size, ProtRW);
      ipa += r.size;
    }
    const vm: Vm = {
      id: this.nextVm++,
      vmid: this.freeVmids.pop() ?? this.nextVmid++,
      ranges: ranges.map((r) => ({ ...r })),
      s2,
      frames,
      cfg: { root: c.rootPa, granuleLog2: log2Of(c.granule), ias: c.ias, stage: 2 },
      device,
    };
    if (device !== null) {
      if (this.hostDevices.some((d) => d.smmu === device.smmu && d.sid === device.sid))
        throw new RangeError(`StreamID ${device.sid} belongs to the host`);
      const p = this.port(device.smmu);
      p.model.writeStream({ sid: device.sid, mode: 'stage2', ats: false, vmid: vm.vmid, s2: vm.cfg });
      p.submitCommands([{ name: 'CFGI_STE', ssec: 0, sid: device.sid, leaf: 1 }], this.stats, this.injection);
      if (p.powered) this.stale.note(p.checker.checkConfig(p.model, [device.sid]));
    }
    this.vms.set(vm.id, vm);
    this.counters.vmBoots++;
    return vm;
  }

  /** Tear a VM down: its device's STE goes, its VMID is flushed everywhere, its pages go back to the host. */
  teardownVm(vm: Vm): void {
    if (vm.device !== null) {
      const p = this.port(vm.device.smmu);
      p.model.writeStreamInvalid(vm.device.sid);
      p.submitCommands([{ name: 'CFGI_STE', ssec: 0, sid: vm.device.sid, leaf: 1 }], this.stats, this.injection);
      if (p.powered) this.stale.note(p.checker.checkConfig(p.model, [vm.device.sid]));
    }
    const keys: InvKey[] = this.ports.map((p) => ({ smmu: p.id, type: 'S2_VMID', id: vm.vmid, pgsize: this.granule }));
    const out = this.out;
    out.clear();
    invalidateRange(invsOf(keys), { iova: 0, size: 0, granule: this.granule, leaf: false }, this.smmuTable, out);
    this.run(out, 0, -1);
    vm.s2.release();
    vm.frames.releaseHeld();
    for (const p of this.ports) {
      if (!p.powered) continue;
      let left = 0;
      for (const e of p.model.tlb.all) if (e.regime === Regime.NH && e.vmid === vm.vmid) left++;
      for (const e of p.model.walkCache.all) if (e.regime === Regime.NH && e.vmid === vm.vmid) left++;
      this.stale.leftover(p.id, 'TLB', `VMID ${vm.vmid} after teardown`, left);
    }
    for (const r of vm.ranges) this.reclaim(r.pa, r.size, 'vm');
    this.vms.delete(vm.id);
    this.freeVmids.push(vm.vmid);
    this.counters.vmTeardowns++;
  }

  /** A VM device access to a random page of the VM: it must land on the VM's own page. */
  vmAccess(vm: Vm, rng: { below(n: number): number }): void {
    if (vm.device === null) return;
    const p = this.port(vm.device.smmu);
    if (!p.powered) return;
    let total = 0;
    for (const r of vm.ranges) total += r.size;
    const ipa = this.granule * rng.below(total / this.granule);
    const got = p.model.translate(vm.device.sid, 0, ipa, true);
    this.counters.vmAccesses++;
    if (got < 0 || got !== vm.s2.iovaToPhys(ipa) || this.ownerOf(got) !== 'vm') this.counters.vmViolations++;
  }

  // ------------------------------------------------------------------ power

  powerOff(id: number): void {
    this.port(id).powerOff();
    this.counters.powerOffs++;
  }

  powerOn(id: number): void {
    this.port(id).powerOn();
    this.counters.powerOns++;
  }

  // ------------------------------------------------------------------ the host

  /**
   * The host's emulated command queue on `smmu`: each entry is filtered (allowed, rewritten, dropped or
   * illegal, with the reason) and what the filter forwards goes to the real queue (when powered on).
   */
  hostSubmit(smmu: number, u32: Uint32Array, count: number): FilterDecision[] {
    const p = this.port(smmu);
    const r = filterHostCommands(u32, count, p.model.checker, { hostOwns: (sid) => this.hostOwnsStream(smmu, sid) });
    this.counters.hostBatches++;
    this.reshadow(smmu, u32, r.decisions);
    for (const d of r.decisions) {
      this.filterCounts[d.action]++;
      if (this.keptPerAction[d.action] < 3) {
        this.keptPerAction[d.action]++;
        this.decisions.push(d);
      }
    }
    if (p.powered) {
      for (let k = 0; k < r.forwarded; k++) this.stats.count(r.forward[k * 4]!);
      p.submit(r.forward, 0, r.forwarded);
    }
    return r.decisions;
  }

  /**
   * A host device access at `addr` (an IPA = PA for a stage-2 device, a host IOVA for a nested one, with
   * `expectPa` the PA the host's stage 1 maps it to, or null when it maps nothing there). The access must
   * reach `expectPa` exactly when the host owns that page (write needs it not shared), and fault otherwise.
   */
  hostAccess(smmu: number, sid: number, addr: number, expectPa: number | null, write: boolean): boolean {
    const p = this.port(smmu);
    if (!p.powered) return false;
    const got = p.model.translate(sid, 0, addr, write);
    this.counters.hostAccesses++;
    const owner = expectPa === null ? null : this.ownerOf(expectPa);
    const allowed = owner === 'host' || (owner === 'shared' && !write);
    const ok = allowed ? got === expectPa : got < 0 && p.model.lastStatus !== XlateStatus.OK;
    if (!ok) this.counters.hostViolations++;
    return ok;
  }

  /** Host DMA over a range: every stage-2 host device on a powered-on SMMU fills its caches over it. */
  hostTouch(pa: number, size: number): void {
    for (const d of this.hostDevices) {
      const p = this.port(d.smmu);
      if (!p.powered || this.hostCds.has(`${d.smmu}:${d.sid}`)) continue;
      p.model.prefetch(d.sid, 0, pa, pa + size - 1);
    }
  }

  // ------------------------------------------------------------------ the security property

  /**
   * After a donation returned: no host device on any powered-on SMMU reaches [pa, pa + size) — no
   * translation of it succeeds, and no TLB (stage 2 or nested, VMID 0), walk-cache (a table the idmap no
   * longer uses) or ATC entry maps it. Returns the violations found (also counted).
   */
  checkIsolation(pa: number, size: number, hostIovas: readonly HostIova[] = []): number {
    this.counters.isolationChecks++;
    const bad = isolationViolations(
      {
        ports: this.ports,
        hostDevices: this.hostDevices,
        granule: this.granule,
        idmapRoot: this.idmapCfg.root,
        hasHostStage1: (smmu, sid) => this.hostCds.has(`${smmu}:${sid}`),
      },
      pa,
      size,
      hostIovas,
    );
    this.counters.isolationViolations += bad;
    return bad;
  }

  /** The checker over every cache of every powered-on SMMU. */
  checkEverything(): number {
    return this.stale.checkAll(this.ports);
  }

  /** Host DMA traffic targets of one device (for scenarios). */
  hostStage1Of(smmu: number, sid: number): ContextDescriptor | undefined {
    return this.hostCds.get(`${smmu}:${sid}`);
  }
}
