/**
 * What every operation on one I/O page table shares: its geometry (spans, leaf levels, limits), the memory
 * and frame allocator holding its tables, and the count of valid descriptors in each live table. map, unmap
 * and the walks (map.ts, unmap.ts, walk.ts) read and keep these in step; IoPageTable (pagetable.ts) owns one.
 */
import { hexAddr, modFloor } from '../bits.js';
import { LEVELS } from '../tlbi-description.js';
import { log2Of } from '../units.js';
import { DescriptorBytes, checkGeometry, entriesAt, leafAllowed, levelSpan, startLevelFor } from './config.js';
import type { Granule, Level, PageTableConfig } from './config.js';
import { PageTableError } from './errors.js';
import { FrameAllocator, PhysMemory } from './memory.js';
import type { PageTableOptions } from './types.js';

export class TableStore {
  readonly config: PageTableConfig;
  readonly memory: PhysMemory;
  readonly allocator: FrameAllocator;

  readonly granule: Granule;
  readonly start: Level;
  /** Descriptors in a full (non-start) table. */
  readonly tableEntries: number;
  /** Bytes one descriptor covers at each level (index = level 0..3). */
  readonly spans: number[];
  /** Whether a leaf descriptor is valid at each level (index = level 0..3). */
  readonly leafOk: boolean[];
  readonly inputLimit: number;
  readonly outputLimit: number;
  /** Table frames allocated since the counter was last reset (map resets it per call). */
  tablesAllocated = 0;
  /**
   * Valid descriptors in each live table, keyed by the table's physical address, so that an unmap knows in
   * O(1) whether it left a table empty. Kept in step with every descriptor the page table writes.
   */
  readonly validCount = new Map<number, number>();

  constructor(options: PageTableOptions) {
    const { stage, granule, ias, oas } = checkGeometry({
      stage: options.stage,
      granule: options.granule,
      ias: options.ias,
      oas: options.oas ?? 48,
    });
    this.granule = granule;
    this.start = startLevelFor(granule, ias);
    this.tableEntries = 2 ** (log2Of(granule) - 3);
    this.spans = LEVELS.map((l) => levelSpan(granule, l));
    this.leafOk = LEVELS.map((l) => l >= this.start && leafAllowed(granule, l));
    this.inputLimit = 2 ** ias;
    this.outputLimit = 2 ** oas;
    this.memory = options.memory ?? new PhysMemory();
    this.allocator = this.allocatorFor(options.allocator, oas);
    const rootPa = this.allocTable();
    this.tablesAllocated = 0;
    this.config = Object.freeze({ stage, granule, ias, oas, startLevel: this.start, rootPa });
  }

  /** The allocator given (checked against the granule and the output size), or the default pool. */
  private allocatorFor(given: FrameAllocator | undefined, oas: number): FrameAllocator {
    const granule = this.granule;
    if (given) {
      if (given.frameSize !== granule)
        throw new PageTableError(
          'bad-config',
          'allocator',
          `frame size ${given.frameSize} differs from the granule ${granule}`,
        );
      if (given.limit > this.outputLimit)
        throw new PageTableError(
          'bad-config',
          'allocator',
          `frames up to ${hexAddr(given.limit)} lie outside the ${oas}-bit output address space`,
        );
      return given;
    }
    const pool = Math.min(2 ** 30, 2 ** (oas - 2));
    return new FrameAllocator(granule, this.outputLimit - pool, pool);
  }

  /** Number of descriptors in the start-level table. */
  get rootEntries(): number {
    return entriesAt(this.granule, this.config.ias, this.start);
  }

  /** Address of the descriptor translating `iova` in the table at `tablePa`, of level `level`. */
  descriptorFor(tablePa: number, level: number, iova: number): number {
    return tablePa + modFloor(Math.floor(iova / this.spans[level]!), this.tableEntries) * DescriptorBytes;
  }

  /** A zeroed table frame, counted as live with no valid descriptor. */
  allocTable(): number {
    const pa = this.allocator.alloc();
    this.memory.zero(pa, this.granule);
    this.validCount.set(pa, 0);
    this.tablesAllocated++;
    return pa;
  }

  freeTable(pa: number): void {
    this.validCount.delete(pa);
    this.allocator.free(pa);
  }

  /** Add `delta` (may be negative) to the count of valid descriptors of the table at `tablePa`. */
  countValid(tablePa: number, delta: number): void {
    this.validCount.set(tablePa, this.validCount.get(tablePa)! + delta);
  }
}
