/**
 * The kernel-driver consumer's objects: the simulated machine's physical layout, masters, vSMMUs, guest
 * memory, DMA buffers, domains (with their invalidation-target array, gathers and flush queue), the tag
 * allocator of ASIDs and VMIDs, the driver's options and its counters. No behaviour beyond construction:
 * what the driver does with them lives in the other files of this folder and in ../driver.ts.
 */
import type { Granule } from '../../pgtable/config.js';
import { Gather } from '../../pgtable/gather.js';
import { FrameAllocator, PhysMemory } from '../../pgtable/memory.js';
import { IoPageTable } from '../../pgtable/pagetable.js';
import type { TableConfig } from '../../smmu/walker.js';
import { emptyInvs, type Invs, type Policy } from '../../tlbi/index.js';
import { log2Of } from '../../units.js';
import { GuestPhysView } from '../guest-memory.js';
import type { InjectionPoints } from '../injection.js';
import type { SmmuSpec } from '../smmu-port.js';
import { RangeAllocator, HeldFrames } from '../space.js';

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

/** An unmapped buffer whose IOVA and memory come back once its invalidation completed. */
export type Deferred = DmaBuffer;

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
export class TagAllocator {
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

/** Every counter at 0. */
export function newDriverCounters(): DriverCounters {
  return {
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
}
