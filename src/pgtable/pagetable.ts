/**
 * An I/O page table (VMSAv8-64 stage 1 or stage 2) kept as real descriptors in a PhysMemory: the public
 * class, by concern — its shared state (store.ts), map (map.ts), unmap and the tlbi description of what it
 * changed (unmap.ts), the reads and the teardown (walk.ts), the argument checks (checks.ts); the shapes of
 * its options and results are in types.ts.
 */
import type { PageTableConfig } from './config.js';
import type { Prot } from './descriptor.js';
import { checkAddress } from './checks.js';
import type { ExistingLeaf } from './errors.js';
import { TableMapper } from './map.js';
import type { FrameAllocator, PhysMemory } from './memory.js';
import { TableStore } from './store.js';
import type { MapResult, PageTableOptions, UnmapResult, WalkResult } from './types.js';
import { TableUnmapper } from './unmap.js';
import { allLeaves, leafAt, releaseAll, walkTable } from './walk.js';

export type {
  FreedTable,
  LeafInfo,
  LinuxRangeRequest,
  MapResult,
  PageTableOptions,
  TlbiDescription,
  UnmapResult,
  WalkResult,
  WalkStep,
} from './types.js';

export class IoPageTable {
  readonly config: PageTableConfig;
  readonly memory: PhysMemory;
  readonly allocator: FrameAllocator;

  private readonly store: TableStore;
  private readonly mapper: TableMapper;
  private readonly unmapper: TableUnmapper;

  constructor(options: PageTableOptions) {
    this.store = new TableStore(options);
    this.config = this.store.config;
    this.memory = this.store.memory;
    this.allocator = this.store.allocator;
    this.mapper = new TableMapper(this.store);
    this.unmapper = new TableUnmapper(this.store);
  }

  /** Number of descriptors in the start-level table. */
  get rootEntries(): number {
    return this.store.rootEntries;
  }

  /** Map [iova, iova + size) to [pa, pa + size). Throws PageTableError subclasses; a refused map changes nothing. */
  map(iova: number, pa: number, size: number, prot: Prot): MapResult {
    return this.mapper.map(iova, pa, size, prot);
  }

  /** Unmap whole mappings in [iova, iova + size), stopping at the first hole (see unmap.ts). */
  unmap(iova: number, size: number): UnmapResult {
    return this.unmapper.unmap(iova, size);
  }

  /** The leaf translating `iova`, or null. */
  leafAt(iova: number): ExistingLeaf | null {
    return leafAt(this.store, iova);
  }

  /** The output address `iova` translates to, or null when it is not mapped. */
  iovaToPhys(iova: number): number | null {
    checkAddress(this.store, 'iova', iova, this.store.inputLimit, 'outside-ias');
    const leaf = leafAt(this.store, iova);
    return leaf === null ? null : leaf.pa + (iova - leaf.iova);
  }

  /** Walk the table for `iova`, listing every descriptor read. */
  walk(iova: number): WalkResult {
    checkAddress(this.store, 'iova', iova, this.store.inputLimit, 'outside-ias');
    return walkTable(this.store, iova);
  }

  /** Every leaf in the table in address order (for dumps and tests; allocates one object per leaf). */
  leaves(): ExistingLeaf[] {
    return allLeaves(this.store);
  }

  /**
   * Free every table frame, the start-level table included, without clearing any descriptor (what tearing
   * down a domain does). The table must not be used afterwards.
   */
  release(): number {
    return releaseAll(this.store);
  }
}
