/**
 * pgtable: ARMv8 (VMSAv8-64) stage-1 and stage-2 I/O page tables stored as real descriptors in simulated
 * physical memory. It knows nothing of SMMUs or commands: it reports what changed, and the engine decides
 * what to invalidate.
 *
 * Public API
 * - `new IoPageTable({ stage, granule, ias, oas?, memory?, allocator? })`
 *     granule 4096 | 16384 | 65536, ias / oas 32..48 bits. The start level follows from granule and ias
 *     (4K: ias 48 → level 0, ias 39 → level 1; 16K: ias 48 → level 0 with 2 entries; 64K: ias 48 → level 1
 *     with 64 entries); no concatenated start tables. Table frames (granule-sized) come from a
 *     FrameAllocator, LIFO reuse, contents kept when freed.
 * - `table.config: PageTableConfig` = { stage, granule, ias, oas, startLevel, rootPa }: everything a
 *     walker elsewhere needs to read the table from memory alone (rootPa is what TTBR / VTTBR holds).
 * - `map(iova, pa, size, prot) → MapResult`: largest leaves allowed by the alignment of iova, pa and the
 *     remaining size (4K: 4K/2M/1G; 16K: 16K/32M; 64K: 64K/512M). `Prot` = { read, write, exec, priv?,
 *     global?, ns?, memType? } (see descriptor.ts for how each stage encodes it).
 * - `unmap(iova, size) → UnmapResult` = { iova, requested, unmapped, holeAt, tlbi, freedTables,
 *     linuxRequests }: whole mappings only; stops at the first hole like Linux's iommu_unmap (unmapped <
 *     requested, holeAt = the hole; tlbi null when nothing was unmapped). tlbi = { start, last (inclusive),
 *     leafLevels, tableLevels (sorted levels 0-3), granule }. freedTables = [{ pa, level of the descriptor
 *     that pointed to it, iova, size of its span }]. linuxRequests = [{ iova, size, granule, leaf }].
 * - `iovaToPhys(iova) → number | null`, `walk(iova) → WalkResult` (each descriptor read: level, table pa,
 *     index, descriptor pa, halves, hex, kind), `leafAt(iova)`, `leaves()`, `release()`.
 * - `Gather`: accumulates unmaps into one description (hull of ranges, union of level sets, requests);
 *     `wouldMerge(start, size)` says whether Linux's gather would take the range without a sync first.
 * - Errors: `PageTableError` { kind, field } and its subclasses `OverlapError` { existing } and
 *     `PartialUnmapError` { block }; kinds: bad-config, not-integer, zero-size, misaligned, outside-ias,
 *     outside-oas, overlap, partial-unmap, bad-prot. Running out of table frames throws the allocator's
 *     OutOfFramesError after the map has been rolled back.
 * - Descriptor helpers (descriptor.ts): bit constants, `encodeProt`, `descriptorKind`, `tableAddress`,
 *     `leafAddress`, `decodeLeafAttrs`, `leafProt`; geometry (config.ts): `startLevelFor`, `levelShift`,
 *     `levelSpan`, `entriesAt`, `leafAllowed`, `leafSizes`.
 * - Memory (memory.ts): `PhysMemory` (readLo / readHi / readU32 / write64 / zero), `FrameAllocator`.
 */
export * from './config.js';
export * from './descriptor.js';
export * from './errors.js';
export * from './memory.js';
export * from './pagetable.js';
export * from './gather.js';
