/**
 * The shapes of the page table's API: its options and what map, unmap and walk return (the tlbi description
 * itself is the core's, src/tlbi-description.ts).
 */
import type { TlbiDescription } from '../tlbi-description.js';
import type { Level, Stage } from './config.js';
import type { DescriptorKind, Stage1Attrs, Stage2Attrs } from './descriptor.js';
import type { FrameAllocator, PhysMemory } from './memory.js';

export interface PageTableOptions {
  stage: Stage;
  /** 4096, 16384 or 65536. */
  granule: number;
  /** Input address size, 32..48 bits. */
  ias: number;
  /** Output address size, 32..48 bits (default 48). */
  oas?: number;
  /** Memory holding the tables (default: a new PhysMemory). Share one between tables and the SMMU model. */
  memory?: PhysMemory;
  /**
   * Where table frames come from (frame size = granule). Default: a pool of min(1 GiB, 2^(oas-2)) bytes at
   * the top of the output address space.
   */
  allocator?: FrameAllocator;
}

/** What one `map` call wrote. */
export interface MapResult {
  iova: number;
  pa: number;
  size: number;
  /** Number of leaf descriptors written at each level (index = level 0..3). */
  leaves: [number, number, number, number];
  /** Table frames allocated (and zeroed) by this call. */
  tablesAllocated: number;
}

export type { TlbiDescription };

/** A table frame freed by an unmap. */
export interface FreedTable {
  /** Physical address of the freed table. */
  pa: number;
  /** Level of the (now cleared) descriptor that pointed to it; the table itself held level + 1 descriptors. */
  level: Level;
  /** First input address of the span that descriptor covered. */
  iova: number;
  /** Bytes the descriptor covered (its level's block size). */
  size: number;
}

/**
 * A Linux-style invalidation request, as io-pgtable would hand it to the SMMU driver (the engine's
 * `invalidateRange` request): leaf requests invalidate leaf entries of the given page size; non-leaf
 * requests (a freed table) invalidate walk-cache entries too, with the translation granule.
 */
export interface LinuxRangeRequest {
  iova: number;
  size: number;
  granule: number;
  leaf: boolean;
}

export interface UnmapResult {
  /** The request. */
  iova: number;
  requested: number;
  /** Bytes unmapped: the whole request, or up to the first hole. */
  unmapped: number;
  /** First address in the request with no mapping, when the unmap stopped there; otherwise null. */
  holeAt: number | null;
  /** What changed; null when nothing was unmapped. */
  tlbi: TlbiDescription | null;
  freedTables: FreedTable[];
  /**
   * Linux-style requests derived from the same change: one non-leaf request per cleared table descriptor
   * (its span, granule = the translation granule), in the order they were cleared, then one leaf request
   * per leaf size (covering the leaves of that size, granule = that size), smallest size first.
   */
  linuxRequests: LinuxRangeRequest[];
}

/** One descriptor read by `walk`. */
export interface WalkStep {
  level: Level;
  /** The table read at this level. */
  tablePa: number;
  index: number;
  /** Address of the descriptor (tablePa + 8 * index). */
  descriptorPa: number;
  lo: number;
  hi: number;
  /** The 64-bit descriptor as 0x + 16 hex digits. */
  hex: string;
  kind: DescriptorKind;
}

export interface LeafInfo {
  level: Level;
  kind: 'block' | 'page';
  /** First input address of the leaf. */
  iova: number;
  size: number;
  /** First output address of the leaf. */
  pa: number;
  attrs: Stage1Attrs | Stage2Attrs;
}

export interface WalkResult {
  iova: number;
  steps: WalkStep[];
  /** The leaf reached, or null when the walk ended on an invalid or reserved descriptor. */
  leaf: LeafInfo | null;
  /** The translation of iova, or null. */
  pa: number | null;
}
