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
 */
import type { Command } from '../cmdq/index.js';
import { Opcode } from '../cmdq/opcodes.js';
import { Gather, type GatheredChanges } from '../pgtable/gather.js';
import { FrameAllocator, PhysMemory } from '../pgtable/memory.js';
import { IoPageTable, type TlbiDescription } from '../pgtable/pagetable.js';
import { ProtRW, type Prot } from '../pgtable/descriptor.js';
import type { Granule } from '../pgtable/config.js';
import { GLOBAL_ASID, Kind, Regime, type AtcEntry, type TlbEntry, type WalkEntry } from '../smmu/caches.js';
import type { ChangeSpec, StaleReport } from '../smmu/checker.js';
import type { TrafficTarget } from '../smmu/model.js';
import { XlateStatus } from '../smmu/model.js';
import type { StreamConfig, ContextDescriptor } from '../smmu/streams.js';
import type { TableConfig } from '../smmu/walker.js';
import {
  PlanOutput,
  emptyInvs,
  invalidateRange,
  invsOf,
  isS1Type,
  isTlbType,
  mergeInvs,
  purgeInvs,
  tlbiInv,
  unrefInvs,
  POLICIES,
  type Inv,
  type InvKey,
  type Invs,
  type Policy,
  type SmmuOptions,
  type SmmuTable,
} from '../tlbi/index.js';
import { GuestPhysView } from './guest-memory.js';
import { HeldFrames, RangeAllocator } from './space.js';
import { cdFields, cfgiCd, cfgiSte, steFields, updateSteps, usesCds } from './ste-update.js';
import { CommandStats, PlanTotals, SmmuPort, StaleLog, routePlan, type SmmuSpec } from './smmu-port.js';
import { log2Of } from '../units.js';
import { NO_INJECTION, type InjectionPoints } from './injection.js';

export { POLICIES, type Policy };
export type FlushMode = 'strict' | 'lazy';
export type DomainKind = 's1' | 's2' | 'nesting-parent';

/** Physical layout of the simulated machine (all below 2^40 so a 40-bit stage 2 can map any of it). */
export const LAYOUT = {
  /** Page-table frames of host-owned tables. */
  tablePool: 0x40_0000_0000,
  tablePoolBytes: 2 ** 30,
  /** DMA buffers of host-owned domains. */
  dataBase: 0x1_0000_0000,
  dataLimit: 0xe_0000_0000,
  /** IOVA space of every host domain. */
  iovaBase: 0x1000_0000,
  iovaLimit: 0x40_0000_0000,
  /** Guests (behind a nesting parent): an identity-mapped window for their page tables, and their RAM. */
  guestTableIpa: 0x1000_0000,
  guestTableBytes: 0x1000_0000,
  guestRamIpa: 0x4000_0000,
  guestRamBytes: 0x400_0000,
  /** Guest RAM is mapped (and migrated by the VMM) in chunks of this size. */
  guestChunk: 0x20_0000,
} as const;

export interface DriverOptions {
  readonly smmus: readonly SmmuSpec[];
  readonly granule: Granule;
  readonly seed?: number;
  /** Hooks that break the driver at its injection points (a simulated fault, to show the checker catches it). */
  readonly injection?: InjectionPoints;
  /** Deferred unmaps a lazy domain's flush queue holds before it flushes (default 16). */
  readonly flushQueueDepth?: number;
  /** Decode plans for statistics (over-invalidated pages); default true. */
  readonly planStatistics?: boolean;
  readonly memory?: PhysMemory;
}

export interface Master {
  readonly id: number;
  readonly smmu: number;
  readonly sids: readonly number[];
  readonly ats: boolean;
  /** The domain of traffic without a PASID (SubstreamID 0). */
  rid: Domain | null;
  /** Stage-1 domains attached to PASIDs. */
  readonly pasids: Map<number, Domain>;
  /** The vSMMU a nested master sits behind (its rid is a guest stage-1 domain of that vSMMU). */
  vsmmu: VSmmu | null;
}

/** A guest's memory as the nesting parent (its stage 2) maps it. */
export interface GuestMemory {
  /** Guest-physical frames of the guest's page tables (mapped identity). */
  readonly tables: FrameAllocator;
  /** Guest-physical RAM for the guest's DMA buffers. */
  readonly ram: RangeAllocator;
  /** Host-physical address of each guest RAM chunk, by chunk index. */
  readonly chunks: number[];
  /** The guest's view of its table window (follows the table pages the VMM moved). */
  readonly view: GuestPhysView;
}

/** A virtual SMMU: a VMID on one SMMU for a guest whose stage 2 is a nesting parent. */
export interface VSmmu {
  readonly id: number;
  readonly smmu: number;
  readonly vmid: number;
  readonly parent: Domain;
}

/** A live DMA mapping made through the driver's DMA API. */
export interface DmaBuffer {
  readonly iova: number;
  readonly size: number;
  readonly pa: number;
  /** The memory allocation behind it (it may start below `pa`). */
  readonly paBase: number;
  readonly paBytes: number;
}

type Deferred = DmaBuffer;

export class Domain {
  readonly id: number;
  readonly kind: DomainKind;
  readonly policy: Policy;
  readonly mode: FlushMode;
  /** ASID (s1) or VMID (s2); 0 for a nesting parent (its tags are the vSMMUs' VMIDs). */
  readonly tag: number;
  readonly table: IoPageTable;
  readonly frames: HeldFrames;
  readonly tableConfig: TableConfig;
  /** For a guest stage-1 domain: the vSMMU it lives behind. */
  readonly vsmmu: VSmmu | null;
  /** For a nesting parent: the guest memory it maps. */
  guest: GuestMemory | null = null;
  invs: Invs = emptyInvs();
  readonly gather = new Gather();
  /** Lazy mode: unmaps whose invalidation is deferred, and their combined change. */
  readonly deferred = new Gather();
  readonly flushQueue: Deferred[] = [];
  /** Strict mode: IOVAs and memory to give back once the pending gather's invalidation completed. */
  readonly afterSync: Deferred[] = [];
  readonly iova: RangeAllocator;
  /** Where DMA buffers' output addresses come from (host memory, or guest RAM for a guest domain). */
  readonly data: RangeAllocator;
  readonly buffers = new Map<number, DmaBuffer>();
  /** Lowest and highest input address ever mapped (traffic runs over it). */
  mappedFirst = Infinity;
  mappedLast = -1;
  freed = false;

  constructor(init: {
    id: number;
    kind: DomainKind;
    policy: Policy;
    mode: FlushMode;
    tag: number;
    table: IoPageTable;
    frames: HeldFrames;
    vsmmu: VSmmu | null;
    data: RangeAllocator;
  }) {
    this.id = init.id;
    this.kind = init.kind;
    this.policy = init.policy;
    this.mode = init.mode;
    this.tag = init.tag;
    this.table = init.table;
    this.frames = init.frames;
    this.vsmmu = init.vsmmu;
    this.data = init.data;
    const c = init.table.config;
    this.tableConfig = { root: c.rootPa, granuleLog2: log2Of(c.granule), ias: c.ias, stage: c.stage };
    this.iova = new RangeAllocator(LAYOUT.iovaBase, LAYOUT.iovaLimit);
  }

  get stage(): 1 | 2 {
    return this.kind === 's1' ? 1 : 2;
  }
}

/** A tag (ASID / VMID) allocator that hands the most recently freed tag out first (to exercise reuse). */
class TagAllocator {
  private next: number;
  private readonly freed: number[] = [];
  constructor(
    first: number,
    private readonly limit: number,
    private readonly what: string,
  ) {
    this.next = first;
  }
  alloc(): number {
    const t = this.freed.pop();
    if (t !== undefined) return t;
    if (this.next >= this.limit) throw new RangeError(`no free ${this.what} left`);
    return this.next++;
  }
  free(t: number): void {
    this.freed.push(t);
  }
}

export interface DriverCounters {
  maps: number;
  unmaps: number;
  attaches: number;
  detaches: number;
  iotlbSyncs: number;
  queueFlushes: number;
  tagFlushes: number;
  atcFlushes: number;
  dmaAccesses: number;
  /** DMA accesses of live buffers that did not land where the domain's tables say (must stay 0). */
  wrongTranslations: number;
  /** ATC_INVs a plan addressed to a StreamID no longer attached to the planning domain (must stay 0). */
  atcToDetached: number;
  /** unref of a target the array did not hold (must stay 0). */
  unrefWarnings: number;
  entriesChecked: number;
  /** Submissions in which a CMD_SYNC raised CERROR_ATC_INV_SYNC (an ATS endpoint did not answer). */
  atcTimeouts: number;
  /** Masters quarantined after such a timeout (blocked, reset, attached again). */
  quarantines: number;
}

export class Driver {
  readonly mem: PhysMemory;
  readonly granule: Granule;
  readonly ports: SmmuPort[];
  readonly smmuTable: SmmuTable;
  /** The same SMMUs as a guest's emulated vSMMU queue sees them (no E2H: guests run at EL1). */
  private readonly guestTable: SmmuTable;
  readonly stats = new CommandStats();
  readonly counters: DriverCounters = {
    maps: 0,
    unmaps: 0,
    attaches: 0,
    detaches: 0,
    iotlbSyncs: 0,
    queueFlushes: 0,
    tagFlushes: 0,
    atcFlushes: 0,
    dmaAccesses: 0,
    wrongTranslations: 0,
    atcToDetached: 0,
    unrefWarnings: 0,
    entriesChecked: 0,
    atcTimeouts: 0,
    quarantines: 0,
  };
  readonly planTotals: PlanTotals;
  readonly stale = new StaleLog();
  readonly domains = new Set<Domain>();
  readonly masters: Master[] = [];
  readonly vsmmus: VSmmu[] = [];
  readonly injection: InjectionPoints;

  private readonly tablePool: FrameAllocator;
  private readonly data: RangeAllocator;
  private readonly asids = new TagAllocator(1, 65536, 'ASID');
  private readonly vmids = new TagAllocator(1, 65536, 'VMID');
  private readonly out = new PlanOutput(1024);
  private readonly depth: number;
  private nextDomain = 1;
  /** The master whose ATC `release` is flushing. */
  private inRelease: Master | null = null;
  private readonly bySid = new Map<number, Master>();

  constructor(opts: DriverOptions) {
    this.mem = opts.memory ?? new PhysMemory();
    this.granule = opts.granule;
    this.injection = opts.injection ?? NO_INJECTION;
    this.depth = opts.flushQueueDepth ?? 16;
    this.planTotals = new PlanTotals(opts.planStatistics ?? true);
    const seed = opts.seed ?? 1;
    this.ports = opts.smmus.map((s, i) => new SmmuPort(i, s, this.mem, seed));
    this.smmuTable = this.ports.map((p) => p.options);
    for (const p of this.ports) p.onAtcTimeout = (sids) => this.atcTimedOut(p, sids);
    this.guestTable = this.ports.map((p): SmmuOptions => ({ ...p.options, e2h: false }));
    this.tablePool = new FrameAllocator(opts.granule, LAYOUT.tablePool, LAYOUT.tablePoolBytes);
    this.data = new RangeAllocator(LAYOUT.dataBase, LAYOUT.dataLimit);
  }

  // ------------------------------------------------------------------ objects

  addMaster(smmu: number, sids: readonly number[], ats: boolean): Master {
    const port = this.port(smmu);
    if (ats && !port.spec.ats) throw new RangeError(`SMMU ${smmu} has no ATS: master cannot enable it`);
    for (const sid of sids)
      if (this.bySid.has(smmu * 2 ** 32 + sid)) throw new RangeError(`StreamID ${sid} on SMMU ${smmu} is taken`);
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
    for (const sid of sids) this.bySid.set(smmu * 2 ** 32 + sid, m);
    return m;
  }

  createDomain(kind: 's1' | 's2', policy: Policy, mode: FlushMode = 'strict'): Domain {
    const frames = new HeldFrames(this.tablePool);
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
      new Domain({ id: this.nextDomain++, kind, policy, mode, tag, table, frames, vsmmu: null, data: this.data }),
    );
  }

  /**
   * A nesting parent: a stage-2 table for a guest. The guest's page-table window is mapped identity (IPA =
   * PA) so the guest's tables can be written where the SMMU reads them; guest RAM is mapped by the VMM
   * (`mapGuestRam`).
   */
  createNestingParent(policy: Policy): Domain {
    const frames = new HeldFrames(this.tablePool);
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
        data: this.data,
      }),
    );
    // The first block of the window is mapped with pages, so that the VMM can move a table page there
    // (moveGuestTablePage); the rest with blocks.
    const base = LAYOUT.guestTableIpa;
    const block = 2 ** (log2Of(this.granule) * 2 - 3);
    const paged = Math.min(block, LAYOUT.guestTableBytes);
    this.map(d, base, base, this.granule, ProtRW);
    if (paged > this.granule) this.map(d, base + this.granule, base + this.granule, paged - this.granule, ProtRW);
    if (LAYOUT.guestTableBytes > paged) this.map(d, base + paged, base + paged, LAYOUT.guestTableBytes - paged, ProtRW);
    const chunks: number[] = [];
    for (let off = 0; off < LAYOUT.guestRamBytes; off += LAYOUT.guestChunk) {
      const pa = this.data.alloc(LAYOUT.guestChunk, LAYOUT.guestChunk)!;
      this.map(d, LAYOUT.guestRamIpa + off, pa, LAYOUT.guestChunk, ProtRW);
      chunks.push(pa);
    }
    d.guest = {
      tables: new FrameAllocator(this.granule, LAYOUT.guestTableIpa, LAYOUT.guestTableBytes),
      ram: new RangeAllocator(LAYOUT.guestRamIpa, LAYOUT.guestRamIpa + LAYOUT.guestRamBytes),
      chunks,
      view: new GuestPhysView(this.mem, this.granule),
    };
    return d;
  }

  /**
   * The VMM moves the guest page holding a guest table (guest-physical `ipa`) to another host frame, with the
   * guest paused: copy the page, unmap it from the stage 2 (invalidated through the parent's targets, as
   * migrateGuestChunk), map the IPA to the copy, then scrub and free the old frame. Nothing else in the stage
   * 2 changes. Returns false (and does nothing) when the page is not mapped with a page of its own.
   *
   * A walk-cache entry of a nested stream is a combined structure that may hold the old frame's PA
   * (IHI 0070 4.4.3.1): only the S2_VMID_S1_CLEAR target (NH_ALL after the S2_IPA's SYNC) removes it.
   */
  moveGuestTablePage(parent: Domain, ipa: number): boolean {
    const g = parent.guest;
    if (g === null) throw new RangeError('not a nesting parent');
    const gran = this.granule;
    const page = ipa - (ipa % gran);
    const leaf = parent.table.walk(page).leaf;
    if (leaf === null || leaf.size !== gran) return false;
    const oldPa = leaf.pa;
    const newPa = this.tablePool.alloc();
    for (let off = 0; off < gran; off += 4) this.mem.writeU32(newPa + off, this.mem.readU32(oldPa + off));
    this.unmap(parent, page, gran);
    this.iotlbSync(parent);
    this.map(parent, page, newPa, gran, ProtRW);
    g.view.remap(page, newPa);
    this.mem.zero(oldPa, gran);
    if (oldPa !== page) this.tablePool.free(oldPa);
    return true;
  }

  /**
   * The VMM moves guest RAM chunk `index` to other host memory: unmap it from the stage 2 (invalidated
   * through the parent's targets: S2_VMID and S2_VMID_S1_CLEAR per vSMMU, ATS_FULL per nested device), then
   * map the same IPAs to the new memory. Returns the new host-physical address.
   */
  migrateGuestChunk(parent: Domain, index: number): number {
    const g = parent.guest;
    if (g === null || index < 0 || index >= g.chunks.length) throw new RangeError(`no guest RAM chunk ${index}`);
    const ipa = LAYOUT.guestRamIpa + index * LAYOUT.guestChunk;
    const old = g.chunks[index]!;
    this.unmap(parent, ipa, LAYOUT.guestChunk);
    this.iotlbSync(parent);
    const pa = this.data.alloc(LAYOUT.guestChunk, LAYOUT.guestChunk);
    if (pa === null) throw new RangeError('out of host memory for guest RAM');
    this.data.release(old, LAYOUT.guestChunk);
    this.map(parent, ipa, pa, LAYOUT.guestChunk, ProtRW);
    g.chunks[index] = pa;
    return pa;
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
    const p = this.ports[id];
    if (p === undefined) throw new RangeError(`no SMMU ${id}`);
    return p;
  }

  // ------------------------------------------------------------------ targets and streams

  /** The invalidation targets a master brings to a domain (for one PASID). */
  private keysFor(m: Master, d: Domain, pasid: number): InvKey[] {
    const smmu = m.smmu;
    const pgsize = this.granule;
    const keys: InvKey[] = [];
    if (d.kind === 's1') {
      // A guest stage 1 behind a vSMMU is tagged with the vSMMU's VMID: the nested target type.
      if (d.vsmmu !== null) keys.push({ smmu, type: 'S1_ASID_NESTED', id: d.tag, vmid: d.vsmmu.vmid, pgsize });
      else keys.push({ smmu, type: 'S1_ASID', id: d.tag, pgsize });
      if (m.ats) for (const sid of m.sids) keys.push({ smmu, type: 'ATS', id: sid, ssid: pasid, pgsize });
    } else if (d.kind === 's2') {
      keys.push({ smmu, type: 'S2_VMID', id: d.tag, pgsize });
      if (m.ats) for (const sid of m.sids) keys.push({ smmu, type: 'ATS', id: sid, ssid: 0, pgsize });
    } else {
      const v = m.vsmmu!;
      keys.push({ smmu, type: 'S2_VMID', id: v.vmid, pgsize });
      keys.push({ smmu, type: 'S2_VMID_S1_CLEAR', id: v.vmid, pgsize });
      if (m.ats) for (const sid of m.sids) keys.push({ smmu, type: 'ATS_FULL', id: sid, pgsize });
    }
    return keys;
  }

  private streamOf(m: Master, sid: number): StreamConfig | null {
    const port = this.port(m.smmu);
    if (m.vsmmu !== null && m.rid !== null) {
      const g = m.rid;
      const cds = new Map<number, ContextDescriptor>([[0, { asid: g.tag, table: g.tableConfig }]]);
      return { sid, mode: 'nested', ats: m.ats, vmid: m.vsmmu.vmid, s2: m.vsmmu.parent.tableConfig, cds };
    }
    if (m.rid !== null && m.rid.kind === 's2')
      return { sid, mode: 'stage2', ats: m.ats, vmid: m.rid.tag, s2: m.rid.tableConfig };
    const cds = new Map<number, ContextDescriptor>();
    if (m.rid !== null) cds.set(0, { asid: m.rid.tag, table: m.rid.tableConfig });
    for (const [p, d] of m.pasids) cds.set(p, { asid: d.tag, table: d.tableConfig });
    if (cds.size === 0) return null;
    return { sid, mode: 'stage1', ats: m.ats, vmid: 0, regime: port.spec.e2h ? 'el2-e2h' : 'nh', cds };
  }

  /**
   * Write the master's STEs (or make them abort) and its CD at `pasid`, the way Linux updates live structures
   * (ste-update.ts): when the new STE uses a CD table the CD is written first, then the STE; otherwise the
   * STE first (the CD table is then no longer reachable). Each step is a write, CFGI_CD for every StreamID
   * of the master (CD) or CFGI_STE (STE), and a CMD_SYNC; hitless where one qword of used fields changes,
   * breaking (V = 0 first) otherwise. Then the checker compares what the SMMU caches with memory.
   */
  private installStreams(m: Master, pasid: number): void {
    const port = this.port(m.smmu);
    const model = port.model;
    const targets = m.sids.map((sid) => this.streamOf(m, sid));
    const write = (sid: number, st: StreamConfig | null): void => {
      if (st === null) model.writeStreamInvalid(sid);
      else model.writeStream(st);
    };
    const submit = (cmds: Command[]): void => port.submitCommands(cmds, this.stats, this.injection);
    const cdSteps = (): void => {
      // The CD at `pasid` in the master's CD table (reachable only while the STE uses the table).
      const cur = model.streams.get(m.sids[0]!) ?? null;
      const from = usesCds(cur) ? (cur!.cds?.get(pasid) ?? null) : null;
      const to = targets[0]?.cds?.get(pasid) ?? null;
      for (const step of updateSteps(cdFields(from), cdFields(to))) {
        m.sids.forEach((sid, i) => {
          const st = model.streams.get(sid) ?? null;
          if (!usesCds(st) || step === 'old') return;
          const cds = new Map(st!.cds);
          const cd = step === 'new' ? targets[i]?.cds?.get(pasid) : undefined;
          if (cd === undefined) cds.delete(pasid);
          else cds.set(pasid, cd);
          model.writeStream({ ...st!, cds });
        });
        submit(m.sids.map((sid) => cfgiCd(sid, pasid)));
      }
    };
    const steSteps = (): void => {
      m.sids.forEach((sid, i) => {
        const cur = model.streams.get(sid) ?? null;
        const target = targets[i] ?? null;
        for (const step of updateSteps(steFields(cur), steFields(target))) {
          if (step === 'invalid') model.writeStreamInvalid(sid);
          else if (step === 'new') write(sid, target);
          submit([cfgiSte(sid)]);
        }
        // Fields no STE step covers (the CD table's other entries) land with the last write.
        write(sid, target);
      });
    };
    if (usesCds(targets[0] ?? null)) {
      cdSteps();
      steSteps();
    } else steSteps();
    if (port.powered) this.stale.note(port.checker.checkConfig(model, m.sids));
  }

  // ------------------------------------------------------------------ ATC invalidation timeouts

  /**
   * A CMD_SYNC on `port` raised CERROR_ATC_INV_SYNC (the port did the GERRORN handshake and the queue
   * drained): the ATC_INVs it waited for, to `sids`, gave no guarantee (IHI 0070 4.7.3), so the range they
   * covered is not clean — the device's ATC may still translate the unmapped IOVAs to memory that is about
   * to be reused. Every master with one of those StreamIDs is quarantined before anything else happens
   * (the caller gives IOVAs and memory back only after this returns). Fault `ignore-atc-timeout`: the
   * driver carries on as if the SYNC had succeeded (Linux before its 2026 quarantine work).
   */
  private atcTimedOut(port: SmmuPort, sids: readonly number[]): void {
    this.counters.atcTimeouts++;
    if (this.injection.onAtcSyncTimeout?.() === false) return;
    const ms: Master[] = [];
    for (const sid of sids) {
      const m = this.bySid.get(port.id * 2 ** 32 + sid);
      if (m !== undefined && m.ats && !ms.includes(m)) ms.push(m);
    }
    for (const m of ms) this.quarantine(m);
  }

  /**
   * Quarantine a master whose ATC invalidation timed out: its STEs are blocked (Config abort, CFGI_STE +
   * CMD_SYNC: from then on the SMMU terminates its transactions, translated ones included, so whatever its
   * ATC holds cannot reach memory), the endpoint is reset (a function-level reset empties its ATC, IHI 0070
   * 3.9.1.4), and only then are its STEs and CDs installed again as its attachments say.
   */
  private quarantine(m: Master): void {
    const port = this.port(m.smmu);
    if (!port.powered) return;
    this.counters.quarantines++;
    const model = port.model;
    for (const sid of m.sids) model.writeStreamInvalid(sid);
    port.submitCommands(
      m.sids.map((sid) => cfgiSte(sid)),
      this.stats,
      this.injection,
    );
    for (const sid of m.sids) model.resetEndpoint(sid);
    this.installStreams(m, 0);
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
    if (d.vsmmu !== null) {
      d.invs = mergeInvs(d.invs, this.keysFor(m, d, 0));
      const parent = d.vsmmu.parent;
      const asNested = { ...m, vsmmu: d.vsmmu } as Master;
      if (oldV !== d.vsmmu) parent.invs = mergeInvs(parent.invs, this.keysFor(asNested, parent, 0));
    } else d.invs = mergeInvs(d.invs, this.keysFor(m, d, pasid));
    // 2. Install the STE / CD.
    if (pasid === 0) m.rid = d;
    else m.pasids.set(pasid, d);
    m.vsmmu = d.vsmmu;
    this.installStreams(m, pasid);
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
    this.installStreams(m, pasid);
    this.release(m, old, pasid, oldV);
  }

  /** After the STE/CD no longer points at `old`: flush the device's ATC, unref, flush orphaned tags, purge. */
  private release(m: Master, old: Domain, pasid: number, oldV: VSmmu | null): void {
    if (m.ats) {
      const keys: InvKey[] = m.sids.map((sid) => ({ smmu: m.smmu, type: 'ATS', id: sid, ssid: pasid }));
      this.counters.atcFlushes++;
      this.inRelease = m;
      try {
        // Injection point (fault no-atc-on-detach, L3): the driver trusts the ATS disable to empty the ATC.
        if (this.injection.onDetachAtcFlush?.() !== false)
          this.planAndRun(old, (out) => invalidateRange(invsOf(keys), EVERYTHING, this.smmuTable, out), null);
      } finally {
        this.inRelease = null;
      }
      // Whatever the device's ATC still holds must translate as its current configuration does.
      const port = this.port(m.smmu);
      if (port.powered) {
        const left: AtcEntry[] = [];
        for (const sid of m.sids) port.model.atc.overlapping(sid, pasid === 0 ? undefined : pasid, 0, 2 ** 64, left);
        const reports: StaleReport[] = [];
        for (const e of left) {
          // A lazy domain's deferred unmaps may legitimately still be cached (checked when its queue flushes).
          const cur = e.ssid === 0 ? m.rid : m.pasids.get(e.ssid);
          if (cur !== null && cur !== undefined && cur.mode === 'lazy' && !cur.deferred.isEmpty) continue;
          port.checker.checkAtc(port.model, e, [], reports);
        }
        this.stale.note(reports);
      }
    }
    this.unref(old, this.keysFor(m, old, oldV !== null ? 0 : pasid));
    if (oldV !== null) this.unref(oldV.parent, this.keysFor({ ...m, vsmmu: oldV } as Master, oldV.parent, 0));
  }

  private unref(d: Domain, keys: InvKey[]): void {
    const r = unrefInvs(d.invs, keys);
    this.counters.unrefWarnings += r.warnings.length;
    const tags = r.trashed.filter((e) => isTlbType(e.type) || e.type === 'S2_VMID_S1_CLEAR');
    if (tags.length > 0) this.flushTags(d, tags);
    const p = purgeInvs(d.invs);
    if (p !== null) d.invs = p;
  }

  /** Whole-tag flush of tags that lost their last user on an SMMU (one engine plan, size 0). */
  private flushTags(d: Domain, tags: readonly Inv[]): void {
    this.counters.tagFlushes++;
    const table = d.vsmmu !== null ? this.guestTable : this.smmuTable;
    const invs = invsOf(tags);
    this.planAndRun(d, (out) => invalidateRange(invs, EVERYTHING, table, out), null);
    for (const t of tags) {
      const port = this.port(t.smmu);
      if (!port.powered) continue;
      const n = leftoverTagEntries(port, t);
      this.stale.leftover(t.smmu, 'TLB', `${t.type} ${t.id} after its last user left`, n);
    }
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
      this.invalidateChanges(d, g, false);
    }
    this.giveBack(d, d.afterSync);
  }

  /** Lazy mode: one deferred invalidation for everything queued, then the IOVAs and memory come back. */
  flushQueue(d: Domain): void {
    if (d.mode !== 'lazy') return;
    const g = d.deferred.take();
    if (g.tlbi !== null) {
      this.counters.queueFlushes++;
      this.invalidateChanges(d, g, true);
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

  /** Plan the invalidation of gathered changes with the domain's policy, run it, check what it touched. */
  private invalidateChanges(d: Domain, g: GatheredChanges, everythingForLinux: boolean): void {
    const desc = g.tlbi!;
    const table = d.vsmmu !== null ? this.guestTable : this.smmuTable;
    this.planAndRun(
      d,
      (out) => {
        if (d.policy === 'tlbi') tlbiInv(desc, d.invs, table, out);
        else if (everythingForLinux) invalidateRange(d.invs, EVERYTHING, table, out);
        else for (const req of g.linuxRequests) invalidateRange(d.invs, req, table, out);
        this.planTotals.add(out, desc, d.policy, d.invs);
      },
      desc,
    );
    const change: ChangeSpec = { stage: d.stage, root: d.tableConfig.root, first: desc.start, last: desc.last };
    for (const id of this.smmusOf(d)) this.stale.note(this.port(id).checkChange(change));
  }

  /** SMMU ids on which a domain has live targets. */
  smmusOf(d: Domain): number[] {
    const ids = new Set<number>();
    for (let i = 0; i < d.invs.count; i++) if (d.invs.inv[i]!.users > 0) ids.add(d.invs.inv[i]!.smmu);
    return [...ids];
  }

  /**
   * Plan into the shared output, check that no ATC_INV is addressed to a device that left the domain, set
   * the adversary's traffic (the domain's devices over the changed range), route to the queues.
   */
  private planAndRun(d: Domain, plan: (out: PlanOutput) => void, desc: TlbiDescription | null): void {
    const out = this.out;
    out.clear();
    plan(out);
    if (out.count === 0) return;
    this.checkAtcTargets(d, out);
    const first = desc?.start ?? d.mappedFirst;
    const last = desc?.last ?? d.mappedLast;
    if (first <= last) this.setTraffic(d, first, last);
    try {
      routePlan(out, 0, this.ports, this.injection, this.stats);
    } finally {
      for (const p of this.ports) p.model.clearTraffic();
    }
  }

  private checkAtcTargets(d: Domain, out: PlanOutput): void {
    const u32 = out.buf.u32;
    for (let k = 0; k < out.count; k++) {
      if ((u32[k * 4]! & 0xff) !== Opcode.ATC_INV) continue;
      const m = this.bySid.get(out.smmuOf[k]! * 2 ** 32 + u32[k * 4 + 1]!);
      // The device-wide flush of a release goes to the master leaving `d` (its STE already changed).
      if (m !== undefined && m === this.inRelease) continue;
      const attached =
        m !== undefined &&
        (m.rid === d || [...m.pasids.values()].includes(d) || (m.vsmmu !== null && m.vsmmu.parent === d));
      if (!attached) this.counters.atcToDetached++;
    }
  }

  private setTraffic(d: Domain, first: number, last: number): void {
    const per = new Map<number, TrafficTarget[]>();
    for (const m of this.masters) {
      const ssids: number[] = [];
      let lo = first;
      let hi = last;
      if (m.rid === d || (m.vsmmu !== null && m.vsmmu.parent === d)) {
        ssids.push(0);
        if (m.vsmmu !== null && m.vsmmu.parent === d && m.rid !== null) {
          // A stage-2 change reaches a nested device through its guest's IOVAs.
          lo = m.rid.mappedFirst;
          hi = m.rid.mappedLast;
        }
      }
      for (const [p, pd] of m.pasids) if (pd === d) ssids.push(p);
      if (ssids.length === 0 || lo > hi) continue;
      let list = per.get(m.smmu);
      if (list === undefined) per.set(m.smmu, (list = []));
      for (const sid of m.sids) for (const ssid of ssids) list.push({ sid, ssid, first: lo, last: hi });
    }
    for (const [id, ts] of per) this.port(id).model.setTraffic(ts);
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
    return this.bySid.get(smmu * 2 ** 32 + sid);
  }
}

/**
 * TLB and walk-cache entries still tagged with a target's ASID / VMID on its SMMU — global (nG = 0) stage-1
 * entries walked through the ASID's tables included: the ASID goes back to the allocator, and every
 * context of the VMID hits a global entry.
 */
function leftoverTagEntries(port: SmmuPort, t: Inv): number {
  let n = 0;
  const m = port.model;
  const s1 = isS1Type(t.type);
  const vmid = t.type === 'S1_ASID_NESTED' ? t.vmid : s1 ? 0 : t.id;
  const hit = (e: TlbEntry | WalkEntry): boolean =>
    s1 ? e.kind !== Kind.S2 && e.asid === t.id && e.vmid === vmid : e.regime === Regime.NH && e.vmid === vmid;
  for (const e of m.tlb.all)
    if (hit(e) || (s1 && e.asid === GLOBAL_ASID && e.srcAsid === t.id && e.kind !== Kind.S2 && e.vmid === vmid)) n++;
  for (const e of m.walkCache.all) if (hit(e)) n++;
  return n;
}

/** Size 0: everything (whole-tag commands, ATC Size 52). */
const EVERYTHING = { iova: 0, size: 0, granule: 4096, leaf: false } as const;

/** The largest leaf size of the granule (page, level-2 block, level-1 block) that divides `size`. */
function largestAlign(granule: Granule, size: number): number {
  const g = log2Of(granule);
  const l2 = 2 ** (g + (g - 3));
  const l1 = granule === 4096 ? 2 ** 30 : Infinity;
  if (size % l1 === 0) return l1;
  if (size % l2 === 0) return l2;
  return granule;
}
