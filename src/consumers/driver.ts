/**
 * The kernel-driver consumer: an SMMUv3 driver's domain layer on top of the engine, driving SMMU models.
 *
 * - SMMUs (`SmmuPort`): features (RIL, ATS, E2H, the force-sync erratum, queue size), each owning a model.
 * - Domains: `s1` (stage-1 paging, an ASID), `s2` (stage-2 paging, a VMID), `nesting-parent` (a stage-2
 *   table shared by vSMMUs, each with its own VMID, whose guests' stage-1 entries are combined with it), and
 *   guest stage-1 domains living behind a vSMMU (an `s1` domain whose entries are tagged with the vSMMU's
 *   VMID and whose table lives in guest memory).
 * - Masters: StreamIDs on one SMMU, ATS on or off, optional PASIDs attached to stage-1 domains.
 *
 * Every domain keeps its invalidation-target array (`Invs`) right with the engine's merge / unref / purge:
 * - attach: merge the master's targets into the new domain's array BEFORE its STE/CD is installed (an
 *   invalidation racing with the attach then covers the master), then install, then release the old domain;
 * - release (detach, or the tail of a move): the STE/CD is changed first, then the device's ATC is flushed
 *   (ATC_INV Size 52 + CMD_SYNC), then the targets are unref'ed; a TLB target that lost its last user on an
 *   SMMU (its ASID/VMID tag) is flushed there (NH_ASID / EL2_ASID / S12_VMALL + CMD_SYNC) before the tag
 *   can be reused; trash is purged. No ATC_INV is planned for a device once it left the domain.
 * All those flushes are plans of the engine (`invalidateRange` with size 0 over a small target array): the
 * driver never builds an invalidation itself.
 *
 * map / unmap go through the domain's IoPageTable. Strict mode: unmaps accumulate in a gather (a disjoint
 * range syncs first, as Linux's gather does) and `iotlbSync` plans them with the domain's policy — `linux`:
 * `invalidateRange` per Linux-style request; `tlbi`: `tlbiInv` with the gathered description — routes the
 * entries to each SMMU's queue, runs the queues, and runs the stale checker on what the change touched.
 * Lazy mode: a flush queue; unmapped IOVAs and their memory are not handed out again until the deferred
 * invalidation (one per queue flush: everything for `linux`, as Linux's flush-all; the gathered description
 * for `tlbi`) has completed. An unmap that frees page tables flushes the queue at once (a freed table may
 * be reachable through a walk cache, like Linux's synchronous tlb_flush_walk). Table frames freed by unmaps
 * are held (`HeldFrames`) until the invalidation covering them completed.
 *
 * This file is the `Driver` itself (objects, attach / detach, map / unmap, the DMA API); its concerns live in
 * ./driver/: domain.ts (the objects and options), streams.ts (STE/CD configuration), invs.ts (the targets'
 * bookkeeping and tag flushes), routing.ts (plans to the queues, traffic, checks), ats.ts (ATC flushes and
 * invalidation timeouts), guest.ts (nesting parents and the VMM's stage-2 changes), core.ts (shared state).
 */
import { PhysMemory, FrameAllocator } from '../pgtable/memory.js';
import { IoPageTable } from '../pgtable/pagetable.js';
import { ProtRW, type Prot } from '../pgtable/descriptor.js';
import type { Granule } from '../pgtable/config.js';
import { XlateStatus } from '../smmu/model.js';
import { PlanOutput, POLICIES, type Policy, type SmmuOptions, type SmmuTable } from '../tlbi/index.js';
import { HeldFrames, RangeAllocator } from './space.js';
import { CommandStats, PlanTotals, SmmuPort, StaleLog } from './smmu-port.js';
import { log2Of } from '../units.js';
import { NO_INJECTION, type InjectionPoints } from './injection.js';
import { atcTimedOut, flushReleasedAtc } from './driver/ats.js';
import { portOf, sidKey, type DriverCore } from './driver/core.js';
import {
  Domain,
  LAYOUT,
  TagAllocator,
  newDriverCounters,
  type Deferred,
  type DmaBuffer,
  type DriverCounters,
  type DriverOptions,
  type FlushMode,
  type Master,
  type VSmmu,
} from './driver/domain.js';
import { migrateGuestChunk, moveGuestTablePage, setUpGuest } from './driver/guest.js';
import { mergeForAttach, unrefMaster } from './driver/invs.js';
import { invalidateChanges, smmusOf } from './driver/routing.js';
import { installStreams } from './driver/streams.js';

export { POLICIES, type Policy };
export {
  Domain,
  LAYOUT,
  type DmaBuffer,
  type DomainKind,
  type DriverCounters,
  type DriverOptions,
  type FlushMode,
  type GuestMemory,
  type Master,
  type VSmmu,
} from './driver/domain.js';

export class Driver {
  readonly mem: PhysMemory;
  readonly granule: Granule;
  readonly ports: SmmuPort[];
  readonly smmuTable: SmmuTable;
  readonly stats = new CommandStats();
  readonly counters: DriverCounters = newDriverCounters();
  readonly planTotals: PlanTotals;
  readonly stale = new StaleLog();
  readonly domains = new Set<Domain>();
  readonly masters: Master[] = [];
  readonly vsmmus: VSmmu[] = [];
  readonly injection: InjectionPoints;

  /** The state the concerns of ./driver/ share (the same objects as the fields above). */
  private readonly core: DriverCore;
  private readonly asids = new TagAllocator(1, 65536, 'ASID');
  private readonly vmids = new TagAllocator(1, 65536, 'VMID');
  private readonly depth: number;
  private nextDomain = 1;

  constructor(opts: DriverOptions) {
    this.mem = opts.memory ?? new PhysMemory();
    this.granule = opts.granule;
    this.injection = opts.injection ?? NO_INJECTION;
    this.depth = opts.flushQueueDepth ?? 16;
    this.planTotals = new PlanTotals(opts.planStatistics ?? true);
    const seed = opts.seed ?? 1;
    this.ports = opts.smmus.map((s, i) => new SmmuPort(i, s, this.mem, seed));
    this.smmuTable = this.ports.map((p) => p.options);
    for (const p of this.ports) p.onAtcTimeout = (sids) => atcTimedOut(this.core, p, sids);
    this.core = {
      mem: this.mem,
      granule: this.granule,
      tablePool: new FrameAllocator(opts.granule, LAYOUT.tablePool, LAYOUT.tablePoolBytes),
      data: new RangeAllocator(LAYOUT.dataBase, LAYOUT.dataLimit),
      ports: this.ports,
      smmuTable: this.smmuTable,
      guestTable: this.ports.map((p): SmmuOptions => ({ ...p.options, e2h: false })),
      stats: this.stats,
      counters: this.counters,
      planTotals: this.planTotals,
      stale: this.stale,
      masters: this.masters,
      injection: this.injection,
      out: new PlanOutput(1024),
      bySid: new Map(),
      inRelease: null,
    };
  }

  // ------------------------------------------------------------------ objects

  addMaster(smmu: number, sids: readonly number[], ats: boolean): Master {
    const port = this.port(smmu);
    if (ats && !port.spec.ats) throw new RangeError(`SMMU ${smmu} has no ATS: master cannot enable it`);
    for (const sid of sids)
      if (this.core.bySid.has(sidKey(smmu, sid))) throw new RangeError(`StreamID ${sid} on SMMU ${smmu} is taken`);
    const m: Master = {
      id: this.masters.length,
      smmu,
      sids: [...sids],
      ats,
      rid: null,
      pasids: new Map(),
      vsmmu: null,
    };
    this.masters.push(m);
    for (const sid of sids) this.core.bySid.set(sidKey(smmu, sid), m);
    return m;
  }

  createDomain(kind: 's1' | 's2', policy: Policy, mode: FlushMode = 'strict'): Domain {
    const frames = new HeldFrames(this.core.tablePool);
    const stage = kind === 's1' ? 1 : 2;
    const table = new IoPageTable({
      stage,
      granule: this.granule,
      ias: stage === 1 ? 48 : 40,
      memory: this.mem,
      allocator: frames,
    });
    const tag = kind === 's1' ? this.asids.alloc() : this.vmids.alloc();
    return this.register(
      new Domain({ id: this.nextDomain++, kind, policy, mode, tag, table, frames, vsmmu: null, data: this.core.data }),
    );
  }

  /**
   * A nesting parent: a stage-2 table for a guest. The guest's page-table window is mapped identity (IPA =
   * PA) so the guest's tables can be written where the SMMU reads them; guest RAM is mapped by the VMM
   * (`migrateGuestChunk` moves it).
   */
  createNestingParent(policy: Policy): Domain {
    const frames = new HeldFrames(this.core.tablePool);
    const table = new IoPageTable({ stage: 2, granule: this.granule, ias: 40, memory: this.mem, allocator: frames });
    const d = this.register(
      new Domain({
        id: this.nextDomain++,
        kind: 'nesting-parent',
        policy,
        mode: 'strict',
        tag: 0,
        table,
        frames,
        vsmmu: null,
        data: this.core.data,
      }),
    );
    setUpGuest(this.core, this, d);
    return d;
  }

  /** The VMM moves the guest page holding a guest table to another host frame (guest.ts). */
  moveGuestTablePage(parent: Domain, ipa: number): boolean {
    return moveGuestTablePage(this.core, this, parent, ipa);
  }

  /** The VMM moves guest RAM chunk `index` to other host memory; returns its new address (guest.ts). */
  migrateGuestChunk(parent: Domain, index: number): number {
    return migrateGuestChunk(this.core, this, parent, index);
  }

  /** A vSMMU on `smmu` for the guest whose stage 2 is `parent`: it takes a VMID of its own. */
  createVSmmu(parent: Domain, smmu: number): VSmmu {
    if (parent.kind !== 'nesting-parent') throw new RangeError('a vSMMU needs a nesting-parent domain');
    this.port(smmu);
    const v: VSmmu = { id: this.vsmmus.length, smmu, vmid: this.vmids.alloc(), parent };
    this.vsmmus.push(v);
    return v;
  }

  /** A guest's stage-1 domain behind a vSMMU: its table lives in guest memory, its outputs are IPAs. */
  createGuestDomain(v: VSmmu, policy: Policy): Domain {
    const g = v.parent.guest!;
    const frames = new HeldFrames(g.tables);
    const table = new IoPageTable({
      stage: 1,
      granule: this.granule,
      ias: 48,
      oas: 40,
      memory: g.view,
      allocator: frames,
    });
    return this.register(
      new Domain({
        id: this.nextDomain++,
        kind: 's1',
        policy,
        mode: 'strict',
        tag: this.asids.alloc(),
        table,
        frames,
        vsmmu: v,
        data: g.ram,
      }),
    );
  }

  private register(d: Domain): Domain {
    this.domains.add(d);
    return d;
  }

  /** Free a domain nobody is attached to: its tables, memory and tag go back (its tag was flushed at the last detach). */
  freeDomain(d: Domain): void {
    for (const m of this.masters)
      if (m.rid === d || [...m.pasids.values()].includes(d)) throw new RangeError(`domain ${d.id} is still attached`);
    if (d.mode === 'lazy') this.flushQueue(d);
    else this.iotlbSync(d);
    for (const b of d.buffers.values()) d.data.release(b.paBase, b.paBytes);
    d.buffers.clear();
    d.table.release();
    d.frames.releaseHeld();
    if (d.kind === 's1') this.asids.free(d.tag);
    else if (d.kind === 's2') this.vmids.free(d.tag);
    d.freed = true;
    this.domains.delete(d);
  }

  port(id: number): SmmuPort {
    return portOf(this.core, id);
  }

  // ------------------------------------------------------------------ attach / detach

  /** Attach a master (or one PASID of it) to a domain, moving it from its previous domain if any. */
  attach(m: Master, d: Domain, pasid = 0): void {
    if (d.freed) throw new RangeError(`domain ${d.id} was freed`);
    if (pasid !== 0) {
      if (d.kind !== 's1' || d.vsmmu !== null) throw new RangeError('PASIDs attach to host stage-1 domains only');
      if (m.rid !== null && m.rid.kind !== 's1') throw new RangeError('PASIDs need a stage-1 (or no) RID domain');
      if (m.vsmmu !== null) throw new RangeError('a nested master takes no PASIDs here');
    } else if (d.kind === 's2' && m.pasids.size > 0) throw new RangeError('a stage-2 RID domain excludes PASIDs');
    if (d.vsmmu !== null && d.vsmmu.smmu !== m.smmu) throw new RangeError('guest domain on another SMMU');
    const old = pasid === 0 ? m.rid : (m.pasids.get(pasid) ?? null);
    if (old === d) return;
    const oldV = m.vsmmu;
    this.counters.attaches++;
    // 1. The new domain's invalidations cover the master before it can translate through it.
    mergeForAttach(this.core, m, d, pasid, oldV);
    // 2. Install the STE / CD.
    if (pasid === 0) m.rid = d;
    else m.pasids.set(pasid, d);
    m.vsmmu = d.vsmmu;
    installStreams(this.core, m, pasid);
    // 3. The old domain lets go: ATC flush, unref, tag flush, purge.
    if (old !== null) this.release(m, old, pasid, oldV !== null && oldV !== d.vsmmu ? oldV : null);
  }

  /** Detach a master (or one PASID): its STE/CD goes to abort, then the old domain lets go. */
  detach(m: Master, pasid = 0): void {
    const old = pasid === 0 ? m.rid : (m.pasids.get(pasid) ?? null);
    if (old === null) return;
    this.counters.detaches++;
    const oldV = m.vsmmu;
    if (pasid === 0) {
      m.rid = null;
      m.vsmmu = null;
    } else m.pasids.delete(pasid);
    installStreams(this.core, m, pasid);
    this.release(m, old, pasid, oldV);
  }

  /** After the STE/CD no longer points at `old`: flush the device's ATC, unref, flush orphaned tags, purge. */
  private release(m: Master, old: Domain, pasid: number, oldV: VSmmu | null): void {
    if (m.ats) flushReleasedAtc(this.core, m, old, pasid);
    unrefMaster(this.core, m, old, pasid, oldV);
  }

  // ------------------------------------------------------------------ map / unmap

  /**
   * Map [iova, iova + size) to pa. A stage-1 domain takes non-global leaves only (nG = 1, as Linux's
   * io-pgtable writes every stage-1 leaf of a DMA domain): its tag flush (TLBI_NH_ASID / TLBI_EL2_ASID when
   * its last user leaves) removes non-global entries only (IHI 0070 §4.4.2.2, §4.4.2.10), and its ASID is
   * reused by the next domain, which would translate through a surviving global entry.
   */
  map(d: Domain, iova: number, pa: number, size: number, prot: Prot = ProtRW): void {
    if (d.kind === 's1' && prot.global === true)
      throw new RangeError(
        `domain ${d.id}: global (nG=0) stage-1 leaves are refused: TLBI_NH_ASID / TLBI_EL2_ASID do not remove them`,
      );
    d.table.map(iova, pa, size, prot);
    this.counters.maps++;
    if (iova < d.mappedFirst) d.mappedFirst = iova;
    if (iova + size - 1 > d.mappedLast) d.mappedLast = iova + size - 1;
  }

  /**
   * Unmap [iova, iova + size). Strict: gathered (a disjoint range first syncs what is gathered); the caller
   * syncs with `iotlbSync`. Lazy: deferred to the flush queue's next flush (at once when tables were freed).
   */
  unmap(d: Domain, iova: number, size: number): number {
    if (d.mode === 'strict') {
      if (!d.gather.wouldMerge(iova, size)) this.iotlbSync(d);
      const r = d.table.unmap(iova, size);
      d.gather.add(r);
      this.counters.unmaps++;
      return r.unmapped;
    }
    const r = d.table.unmap(iova, size);
    d.deferred.add(r);
    this.counters.unmaps++;
    if (r.freedTables.length > 0) this.flushQueue(d);
    return r.unmapped;
  }

  /** Strict mode: invalidate what the gather holds, with the domain's policy, on every SMMU of its array. */
  iotlbSync(d: Domain): void {
    if (d.mode !== 'strict') return;
    const g = d.gather.take();
    if (g.tlbi !== null) {
      this.counters.iotlbSyncs++;
      invalidateChanges(this.core, d, g, false);
    }
    this.giveBack(d, d.afterSync);
  }

  /** Lazy mode: one deferred invalidation for everything queued, then the IOVAs and memory come back. */
  flushQueue(d: Domain): void {
    if (d.mode !== 'lazy') return;
    const g = d.deferred.take();
    if (g.tlbi !== null) {
      this.counters.queueFlushes++;
      invalidateChanges(this.core, d, g, true);
    }
    this.giveBack(d, d.flushQueue);
  }

  /** Flush every lazy domain's queue (before a global check). */
  flushAll(): void {
    for (const d of this.domains) {
      if (d.mode === 'lazy') this.flushQueue(d);
      else this.iotlbSync(d);
    }
  }

  private giveBack(d: Domain, list: Deferred[]): void {
    d.frames.releaseHeld();
    for (const x of list) {
      d.iova.release(x.iova, x.size);
      d.data.release(x.paBase, x.paBytes);
    }
    list.length = 0;
  }

  /** SMMU ids on which a domain has live targets. */
  smmusOf(d: Domain): number[] {
    return smmusOf(d);
  }

  /** Check every cache of every SMMU (flush lazy queues first: deferred entries are allowed to be stale). */
  checkEverything(): number {
    this.flushAll();
    return this.stale.checkAll(this.ports);
  }

  // ------------------------------------------------------------------ the DMA API

  /**
   * Allocate IOVA and memory for `size` bytes and map them. The IOVA is aligned to the largest leaf size
   * that divides `size`; so is the memory, unless `pagesOnly`: then the memory is offset by one page from
   * that alignment, so the range is mapped with pages only (and unmapping it frees whole tables).
   */
  dmaMap(d: Domain, size: number, prot: Prot = ProtRW, pagesOnly = false): DmaBuffer | null {
    const align = largestAlign(this.granule, size);
    const iova = d.iova.alloc(size, align);
    if (iova === null) return null;
    const paBytes = pagesOnly && align > this.granule ? size + this.granule : size;
    const paBase = d.data.alloc(paBytes, align);
    if (paBase === null) {
      d.iova.release(iova, size);
      return null;
    }
    const pa = paBytes === size ? paBase : paBase + this.granule;
    this.map(d, iova, pa, size, prot);
    const b: DmaBuffer = { iova, size, pa, paBase, paBytes };
    d.buffers.set(iova, b);
    return b;
  }

  /** Unmap a buffer; strict: synced now (unless `sync` is false: the caller calls iotlbSync); lazy: queued. */
  dmaUnmap(d: Domain, b: DmaBuffer, sync = true): void {
    if (!d.buffers.delete(b.iova)) throw new RangeError(`no DMA buffer at 0x${b.iova.toString(16)}`);
    this.unmap(d, b.iova, b.size);
    if (d.mode === 'strict') {
      d.afterSync.push(b);
      if (sync) this.iotlbSync(d);
    } else {
      d.flushQueue.push(b);
      if (d.flushQueue.length >= this.depth) this.flushQueue(d);
    }
  }

  /**
   * A device access to up to `pages` pages of a live buffer (first, last, some in between): each must land
   * where the domain's tables say (through the parent stage 2 for a nested device). Returns the accesses.
   */
  dmaAccess(m: Master, pasid: number, b: DmaBuffer, rng: { below(n: number): number }, pages = 4): number {
    const d = pasid === 0 ? m.rid : m.pasids.get(pasid);
    if (d === null || d === undefined) return 0;
    const port = this.port(m.smmu);
    if (!port.powered) return 0;
    const sid = m.sids[rng.below(m.sids.length)]!;
    const n = Math.max(1, Math.floor(b.size / 4096));
    let k = 0;
    for (let i = 0; i < pages && i < n; i++) {
      const page = i === 0 ? 0 : i === 1 ? n - 1 : rng.below(n);
      const addr = b.iova + page * 4096 + 8 * rng.below(512);
      let expect = d.table.iovaToPhys(addr);
      if (expect !== null && d.vsmmu !== null) expect = d.vsmmu.parent.table.iovaToPhys(expect);
      const got = port.model.translate(sid, pasid, addr, false);
      this.counters.dmaAccesses++;
      k++;
      if (expect === null ? got >= 0 : got !== expect || port.model.lastStatus !== XlateStatus.OK)
        this.counters.wrongTranslations++;
    }
    return k;
  }

  /** The master that owns (smmu, sid), if any. */
  masterOf(smmu: number, sid: number): Master | undefined {
    return this.core.bySid.get(sidKey(smmu, sid));
  }
}

/** The largest leaf size of the granule (page, level-2 block, level-1 block) that divides `size`. */
function largestAlign(granule: Granule, size: number): number {
  const g = log2Of(granule);
  const l2 = 2 ** (g + (g - 3));
  const l1 = granule === 4096 ? 2 ** 30 : Infinity;
  if (size % l1 === 0) return l1;
  if (size % l2 === 0) return l2;
  return granule;
}
