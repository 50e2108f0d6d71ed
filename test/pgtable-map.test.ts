/**
 * map / unmap / walk per granule: block-or-page choice, table allocation and freeing, the unmap report,
 * every error path, and the gather. Memory contents are judged with the independent walker of
 * pgtable-refwalk.ts; expected values are worked out by hand in the comments.
 */
import { describe, expect, it } from 'vitest';
import {
  FrameAllocator,
  Gather,
  IoPageTable,
  OutOfFramesError,
  OverlapError,
  PageTableError,
  PartialUnmapError,
  PhysMemory,
  type Granule,
  type Prot,
  type UnmapResult,
} from '../src/pgtable/index.js';
import { refSnapshot, refTranslate } from './pgtable-refwalk.js';

const RW: Prot = { read: true, write: true, exec: false };
const K = 1024;
const M = 2 ** 20;
const G = 2 ** 30;

function table(granule: Granule, ias = 39, stage: 1 | 2 = 1): IoPageTable {
  return new IoPageTable({ stage, granule, ias });
}

/** Leaves found in memory by the independent walker, as [iova, level, pa] sorted by iova. */
function memLeaves(t: IoPageTable): [number, number, number][] {
  return [...refSnapshot(t.memory, t.config).values()]
    .filter((e) => e.kind === 'leaf')
    .map((e): [number, number, number] => [e.iova, e.level, e.target])
    .sort((a, b) => a[0] - b[0]);
}

function expectError(fn: () => unknown, kind: string, field: string): PageTableError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(PageTableError);
    const err = e as PageTableError;
    expect({ kind: err.kind, field: err.field }).toEqual({ kind, field });
    expect(err.message.startsWith(`${field}: `)).toBe(true);
    return err;
  }
  throw new Error(`expected a ${kind} error on ${field}`);
}

describe('block or page choice', () => {
  it('4K: page, 2M block, pages for a range straddling a 2M boundary on both sides', () => {
    const t = table(4096);
    // iova 0x1ff000 .. 0x402000, pa with the same offset inside 2M: 0x1ff000 page, 0x200000 block, 0x400000 page.
    const r = t.map(0x1f_f000, 0x81ff_f000, 0x20_3000, RW);
    expect(r.leaves).toEqual([0, 0, 1, 3]);
    expect(memLeaves(t)).toEqual([
      [0x1f_f000, 3, 0x81ff_f000],
      [0x20_0000, 2, 0x8200_0000],
      [0x40_0000, 3, 0x8220_0000],
      [0x40_1000, 3, 0x8220_1000],
    ]);
    // ias 39: start level 1; one level-2 table and two level-3 tables were allocated.
    expect(r.tablesAllocated).toBe(3);
    expect(t.allocator.liveFrames).toBe(4);
  });

  it('4K: 1G block when iova, pa and size allow it, pages when pa is only 4K aligned', () => {
    const t = table(4096);
    expect(t.map(G, 3 * G, G, RW).leaves).toEqual([0, 1, 0, 0]);
    expect(t.map(4 * G, 8 * G + 4 * K, 4 * M, RW).leaves).toEqual([0, 0, 0, 1024]);
    expect(t.map(8 * G, 16 * G + 2 * M, G, RW).leaves).toEqual([0, 0, 512, 0]);
    expect(memLeaves(t)[0]).toEqual([G, 1, 3 * G]);
  });

  it('16K: 32M blocks at level 2, 16K pages at level 3, no level-1 block', () => {
    const t = table(16384, 47);
    expect(t.config.startLevel).toBe(1);
    // 64G aligned range of 64G: would be a level-1 block with DS; here 2048 level-2 blocks.
    expect(t.map(64 * G, 64 * G, 64 * G, RW).leaves).toEqual([0, 0, 2048, 0]);
    const r = t.map(32 * M - 16 * K, 32 * M - 16 * K, 32 * M + 32 * K, RW);
    expect(r.leaves).toEqual([0, 0, 1, 2]);
    expect(refTranslate(t.memory, t.config, 32 * M + 5)).toEqual({ pa: 32 * M + 5, level: 2 });
    expect(refTranslate(t.memory, t.config, 64 * M)).toEqual({ pa: 64 * M, level: 3 });
  });

  it('64K: 512M blocks at level 2, 64K pages at level 3, no level-1 block', () => {
    const t = table(65536, 48);
    expect(t.config.startLevel).toBe(1);
    expect(t.rootEntries).toBe(64);
    // 4T aligned, 4T long: would be a level-1 block with 52-bit addressing; here 8192 level-2 blocks.
    expect(t.map(4 * 2 ** 40, 4 * 2 ** 40, 4 * 2 ** 40, RW).leaves).toEqual([0, 0, 8192, 0]);
    expect(t.map(512 * M - 64 * K, 512 * M - 64 * K, 512 * M + 128 * K, RW).leaves).toEqual([0, 0, 1, 2]);
    expect(memLeaves(t).slice(0, 3)).toEqual([
      [512 * M - 64 * K, 3, 512 * M - 64 * K],
      [512 * M, 2, 512 * M],
      [1024 * M, 3, 1024 * M],
    ]);
  });

  it('stage 2 uses the same geometry', () => {
    const t = table(4096, 40, 2);
    expect(t.config.startLevel).toBe(0);
    expect(t.map(0, 2 * M, 2 * M + 4 * K, RW).leaves).toEqual([0, 0, 1, 1]);
  });
});

describe('unmap: report and table freeing', () => {
  it('4K: unmapping the only page frees its level-3 and level-2 tables (pointed to from levels 2 and 1)', () => {
    const memory = new PhysMemory();
    const allocator = new FrameAllocator(4096, 0x10_0000_0000, 16 * M);
    const t = new IoPageTable({ stage: 1, granule: 4096, ias: 39, memory, allocator });
    t.map(0x4060_3000, 0x9000, 4 * K, RW);
    // root 0x10_0000_0000 (level 1), level-2 table +0x1000, level-3 table +0x2000.
    const r = t.unmap(0x4060_3000, 4 * K);
    expect(r).toEqual<UnmapResult>({
      iova: 0x4060_3000,
      requested: 4 * K,
      unmapped: 4 * K,
      holeAt: null,
      tlbi: { start: 0x4060_3000, last: 0x4060_3fff, leafLevels: [3], tableLevels: [1, 2], granule: 4096 },
      freedTables: [
        { pa: 0x10_0000_2000, level: 2, iova: 0x4060_0000, size: 2 * M },
        { pa: 0x10_0000_1000, level: 1, iova: 0x4000_0000, size: G },
      ],
      linuxRequests: [
        { iova: 0x4060_0000, size: 2 * M, granule: 4096, leaf: false },
        { iova: 0x4000_0000, size: G, granule: 4096, leaf: false },
        { iova: 0x4060_3000, size: 4 * K, granule: 4096, leaf: true },
      ],
    });
    expect(refSnapshot(memory, t.config).size).toBe(0);
    expect(allocator.liveFrames).toBe(1);
    // The freed frames are reused most recently freed first, and zeroed when they become tables again.
    memory.write64(0x10_0000_1000 + 8, 0x1234_0003, 0);
    t.map(0x4060_3000, 0x9000, 4 * K, RW);
    expect(memory.readU32(0x10_0000_1000 + 8)).toBe(0);
    expect(t.walk(0x4060_3000).steps.map((s) => s.tablePa)).toEqual([0x10_0000_0000, 0x10_0000_1000, 0x10_0000_2000]);
  });

  it('keeps a table that still holds a mapping', () => {
    const t = table(4096);
    t.map(0, 0, 8 * K, RW);
    const r = t.unmap(0, 4 * K);
    expect(r.freedTables).toEqual([]);
    expect(r.tlbi).toEqual({ start: 0, last: 0xfff, leafLevels: [3], tableLevels: [], granule: 4096 });
    expect(r.linuxRequests).toEqual([{ iova: 0, size: 4 * K, granule: 4096, leaf: true }]);
    expect(t.allocator.liveFrames).toBe(3);
    expect(memLeaves(t)).toEqual([[4 * K, 3, 4 * K]]);
  });

  it('mixed leaf sizes give one leaf request per size', () => {
    const t = table(4096);
    t.map(0x1f_f000, 0x1f_f000, 0x20_3000, RW);
    const r = t.unmap(0x1f_f000, 0x20_3000);
    expect(r.tlbi).toEqual({
      start: 0x1f_f000,
      last: 0x40_1fff,
      leafLevels: [2, 3],
      tableLevels: [1, 2],
      granule: 4096,
    });
    expect(r.linuxRequests.filter((q) => q.leaf)).toEqual([
      { iova: 0x1f_f000, size: 0x20_3000, granule: 4096, leaf: true },
      { iova: 0x20_0000, size: 2 * M, granule: 2 * M, leaf: true },
    ]);
    // Freed: both level-3 tables (level-2 descriptors) then the level-2 table (level-1 descriptor).
    expect(r.freedTables.map((f) => [f.level, f.iova, f.size])).toEqual([
      [2, 0, 2 * M],
      [2, 4 * M, 2 * M],
      [1, 0, G],
    ]);
    expect(t.allocator.liveFrames).toBe(1);
  });

  it.each([16384, 65536] as const)('granule %i: blocks and pages unmap and free like 4K', (granule) => {
    const t = table(granule, 36);
    const block = granule === 16384 ? 32 * M : 512 * M;
    t.map(block - granule, block - granule, block + granule, RW);
    const r = t.unmap(block - granule, block + granule);
    expect(r.unmapped).toBe(block + granule);
    expect(r.tlbi?.leafLevels).toEqual([2, 3]);
    expect(r.tlbi?.tableLevels).toEqual([2]);
    expect(r.freedTables).toHaveLength(1);
    expect(r.freedTables[0]).toMatchObject({ level: 2, iova: 0, size: block });
    expect(t.allocator.liveFrames).toBe(1);
  });

  it('stops at the first hole and reports it (Linux iommu_unmap semantics)', () => {
    const t = table(4096);
    t.map(0, 0, 8 * K, RW);
    t.map(12 * K, 12 * K, 4 * K, RW);
    const r = t.unmap(0, 16 * K);
    expect(r.unmapped).toBe(8 * K);
    expect(r.holeAt).toBe(8 * K);
    expect(r.tlbi).toMatchObject({ start: 0, last: 8 * K - 1 });
    expect(memLeaves(t)).toEqual([[12 * K, 3, 12 * K]]);
    const none = t.unmap(8 * K, 8 * K);
    expect(none).toEqual({
      iova: 8 * K,
      requested: 8 * K,
      unmapped: 0,
      holeAt: 8 * K,
      tlbi: null,
      freedTables: [],
      linuxRequests: [],
    });
  });

  it('a hole below a table entry stops the walk there', () => {
    const t = table(4096);
    t.map(0, 0, 2 * M, RW);
    const r = t.unmap(0, 4 * M);
    expect(r.unmapped).toBe(2 * M);
    expect(r.holeAt).toBe(2 * M);
    expect(r.tlbi?.leafLevels).toEqual([2]);
  });
});

describe('errors', () => {
  it('rejects bad configurations naming the field', () => {
    expectError(() => new IoPageTable({ stage: 3 as 1, granule: 4096, ias: 48 }), 'bad-config', 'stage');
    expectError(() => new IoPageTable({ stage: 1, granule: 8192, ias: 48 }), 'bad-config', 'granule');
    expectError(() => new IoPageTable({ stage: 1, granule: 4096, ias: 31 }), 'bad-config', 'ias');
    expectError(() => new IoPageTable({ stage: 1, granule: 4096, ias: 49 }), 'bad-config', 'ias');
    expectError(() => new IoPageTable({ stage: 1, granule: 4096, ias: 48, oas: 52 }), 'bad-config', 'oas');
    const alloc16 = new FrameAllocator(16384, 0, 16 * M);
    expectError(
      () => new IoPageTable({ stage: 1, granule: 4096, ias: 48, allocator: alloc16 }),
      'bad-config',
      'allocator',
    );
    const high = new FrameAllocator(4096, 2 ** 40, 16 * M);
    expectError(
      () => new IoPageTable({ stage: 1, granule: 4096, ias: 48, oas: 40, allocator: high }),
      'bad-config',
      'allocator',
    );
  });

  it.each([4096, 16384, 65536] as const)('granule %i: map argument errors', (granule) => {
    const t = table(granule, 40);
    expectError(() => t.map(-granule, 0, granule, RW), 'not-integer', 'iova');
    expectError(() => t.map(0, 1.5, granule, RW), 'not-integer', 'pa');
    expectError(() => t.map(0, 0, NaN, RW), 'not-integer', 'size');
    expectError(() => t.map(0, 0, 0, RW), 'zero-size', 'size');
    expectError(() => t.map(granule / 2, 0, granule, RW), 'misaligned', 'iova');
    expectError(() => t.map(0, granule / 2, granule, RW), 'misaligned', 'pa');
    expectError(() => t.map(0, 0, granule + 4096 / 2, RW), 'misaligned', 'size');
    expectError(() => t.map(2 ** 40, 0, granule, RW), 'outside-ias', 'iova');
    expectError(() => t.map(2 ** 40 - granule, 0, 2 * granule, RW), 'outside-ias', 'size');
    expectError(() => t.map(0, 2 ** 48, granule, RW), 'outside-oas', 'pa');
    expectError(() => t.map(0, 2 ** 48 - granule, 2 * granule, RW), 'outside-oas', 'size');
    expect(t.allocator.liveFrames).toBe(1);
  });

  it('map over an existing mapping names it and changes nothing', () => {
    const t = table(4096);
    t.map(2 * M, 0x4000_0000, 2 * M, RW);
    const before = refSnapshot(t.memory, t.config);
    const e = expectError(() => t.map(2 * M + 8 * K, 0, 4 * K, RW), 'overlap', 'iova') as OverlapError;
    expect(e).toBeInstanceOf(OverlapError);
    expect(e.existing).toEqual({ iova: 2 * M, size: 2 * M, pa: 0x4000_0000, level: 2 });
    expect(e.message).toContain('level-2 block at iova 0x200000');
    // A range that starts before the block and runs into it.
    const e2 = expectError(() => t.map(0, 0, 2 * M + 4 * K, RW), 'overlap', 'iova') as OverlapError;
    expect(e2.existing.iova).toBe(2 * M);
    expect(refSnapshot(t.memory, t.config)).toEqual(before);
    // Pages under a bigger request: the first page overlapped is named.
    t.map(6 * M + 12 * K, 0, 4 * K, RW);
    const e3 = expectError(() => t.map(6 * M, 0, 2 * M, RW), 'overlap', 'iova') as OverlapError;
    expect(e3.existing).toEqual({ iova: 6 * M + 12 * K, size: 4 * K, pa: 0, level: 3 });
  });

  it('a map that runs out of table frames part-way takes back what it wrote', () => {
    const memory = new PhysMemory();
    const allocator = new FrameAllocator(4096, 0x10_0000_0000, 4 * 4096);
    const t = new IoPageTable({ stage: 1, granule: 4096, ias: 48, memory, allocator });
    t.map(0x1000, 0x1000, 4 * K, RW); // root + level-1, level-2 and level-3 tables: all four frames
    const before = refSnapshot(memory, t.config);
    // Page 0x1ff000 goes into the existing level-3 table and [2M, 4M) becomes a block, then the page at 4M
    // needs a fifth frame.
    expect(() => t.map(0x1f_f000, 0x1f_f000, 0x20_2000, RW)).toThrow(OutOfFramesError);
    expect(refSnapshot(memory, t.config)).toEqual(before);
    expect(allocator.liveFrames).toBe(4);
    // The counts stayed right: unmapping the remaining page frees every table.
    expect(t.unmap(0x1000, 4 * K).freedTables).toHaveLength(3);
    expect(allocator.liveFrames).toBe(1);
    // And with the frames back, a map needing three new tables succeeds.
    expect(t.map(0x1f_f000, 0x1f_f000, 0x20_1000, RW).leaves).toEqual([0, 0, 1, 1]);
  });

  it('partial unmap of a block names the block and changes nothing', () => {
    const t = table(4096);
    t.map(2 * M, 0, 2 * M, RW);
    t.map(4 * M, 2 * M, 4 * K, RW);
    const before = refSnapshot(t.memory, t.config);
    const e = expectError(() => t.unmap(2 * M + 4 * K, 4 * K), 'partial-unmap', 'iova') as PartialUnmapError;
    expect(e).toBeInstanceOf(PartialUnmapError);
    expect(e.block).toEqual({ iova: 2 * M, size: 2 * M, pa: 0, level: 2 });
    const e2 = expectError(() => t.unmap(0, 3 * M), 'partial-unmap', 'size') as PartialUnmapError;
    expect(e2.block.iova).toBe(2 * M);
    // The end cuts the block even though a hole ([0, 2M)) comes first: refused whole.
    expectError(() => t.unmap(0, 2 * M + 4 * K), 'partial-unmap', 'size');
    expect(refSnapshot(t.memory, t.config)).toEqual(before);
  });

  it('unmap argument errors', () => {
    const t = table(16384, 36);
    expectError(() => t.unmap(0, 0), 'zero-size', 'size');
    expectError(() => t.unmap(4096, 16384), 'misaligned', 'iova');
    expectError(() => t.unmap(0, 4096), 'misaligned', 'size');
    expectError(() => t.unmap(2 ** 36, 16384), 'outside-ias', 'iova');
    expectError(() => t.unmap(2 ** 36 - 16384, 32768), 'outside-ias', 'size');
    expectError(() => t.unmap(-1, 16384), 'not-integer', 'iova');
    expectError(() => t.iovaToPhys(2 ** 36), 'outside-ias', 'iova');
    expectError(() => t.walk(-5), 'not-integer', 'iova');
  });

  it('prot errors', () => {
    const s1 = table(4096);
    expectError(() => s1.map(0, 0, 4096, { read: false, write: true, exec: false }), 'bad-prot', 'prot.read');
    expectError(() => s1.map(0, 0, 4096, { read: false, write: false, exec: true }), 'bad-prot', 'prot');
    expectError(
      () => s1.map(0, 0, 4096, { read: true, write: 1 as unknown as boolean, exec: false }),
      'bad-prot',
      'prot.write',
    );
    expectError(
      () => s1.map(0, 0, 4096, { read: true, write: true, exec: false, memType: 'weird' as 'device' }),
      'bad-prot',
      'prot.memType',
    );
    const s2 = table(4096, 39, 2);
    expectError(
      () => s2.map(0, 0, 4096, { read: true, write: true, exec: false, priv: true }),
      'bad-prot',
      'prot.priv',
    );
    expectError(
      () => s2.map(0, 0, 4096, { read: true, write: true, exec: false, global: true }),
      'bad-prot',
      'prot.global',
    );
    expect(s1.allocator.liveFrames + s2.allocator.liveFrames).toBe(2);
  });
});

describe('walk and iovaToPhys', () => {
  it('lists the descriptor read at each level, down to the leaf', () => {
    const memory = new PhysMemory();
    const allocator = new FrameAllocator(4096, 0x10_0000_0000, 16 * M);
    const t = new IoPageTable({ stage: 1, granule: 4096, ias: 48, memory, allocator });
    t.map(0x80_4020_3000, 0x5_0000_7000, 4 * K, RW);
    const w = t.walk(0x80_4020_3abc);
    // L0 index 1 (bit 39), L1 index 1 (bit 30), L2 index 1 (bit 21), L3 index 3.
    expect(w.steps.map((s) => [s.level, s.tablePa, s.index, s.descriptorPa, s.kind])).toEqual([
      [0, 0x10_0000_0000, 1, 0x10_0000_0008, 'table'],
      [1, 0x10_0000_1000, 1, 0x10_0000_1008, 'table'],
      [2, 0x10_0000_2000, 1, 0x10_0000_2008, 'table'],
      [3, 0x10_0000_3000, 3, 0x10_0000_3018, 'page'],
    ]);
    expect(w.steps[0]!.hex).toBe('0x0000001000001003');
    expect(w.steps[3]!.hex).toBe('0x0060000500007f47');
    expect(w.pa).toBe(0x5_0000_7abc);
    expect(w.leaf).toMatchObject({ level: 3, kind: 'page', iova: 0x80_4020_3000, size: 4 * K, pa: 0x5_0000_7000 });
    expect(w.leaf?.attrs).toMatchObject({ stage: 1, af: true, nG: true, pxn: true, uxn: true, ap: 1 });
    expect(t.iovaToPhys(0x80_4020_3abc)).toBe(0x5_0000_7abc);
    expect(t.iovaToPhys(0x80_4020_4000)).toBeNull();
    const miss = t.walk(0x80_4020_4000);
    expect(miss.steps.map((s) => s.kind)).toEqual(['table', 'table', 'table', 'invalid']);
    expect(miss.leaf).toBeNull();
    expect(t.walk(0).steps.map((s) => s.kind)).toEqual(['invalid']);
  });

  it('translates inside blocks', () => {
    const t = table(65536, 42, 2);
    t.map(512 * M, 3 * 512 * M, 512 * M, RW);
    expect(t.iovaToPhys(512 * M + 0x1234_5678)).toBe(3 * 512 * M + 0x1234_5678);
    expect(t.walk(512 * M).steps).toHaveLength(1);
  });

  it('release() frees every table frame', () => {
    const t = table(4096, 48);
    t.map(0, 0, 4 * M + 4 * K, RW);
    t.map(2 ** 40, 0, 4 * K, RW);
    // Root (level 0); for iova 0: level-1, level-2 and one level-3 table (the page at 4M; [0, 4M) is two
    // blocks); for 2^40: level-1, level-2 and level-3 tables. Seven frames.
    expect(t.allocator.liveFrames).toBe(7);
    expect(t.release()).toBe(7);
    expect(t.allocator.liveFrames).toBe(0);
  });
});

describe('Gather', () => {
  function unmapped(t: IoPageTable, iova: number, size: number): UnmapResult {
    return t.unmap(iova, size);
  }

  it('takes the hull of ranges and the union of level sets', () => {
    const t = table(4096);
    t.map(0, 0, 4 * M + 8 * K, RW);
    const g = new Gather();
    expect(g.isEmpty).toBe(true);
    expect(g.wouldMerge(0, 4096)).toBe(true);
    g.add(unmapped(t, 4 * M, 4 * K));
    expect(g.wouldMerge(4 * M + 4 * K, 4 * K)).toBe(true); // adjacent
    expect(g.wouldMerge(4 * M - 4 * K, 4 * K)).toBe(true); // adjacent below
    expect(g.isDisjoint(2 * M, 4 * K)).toBe(true); // a gap of 2M - 4K
    g.add(unmapped(t, 4 * M + 4 * K, 4 * K)); // frees the level-3 table
    g.add(unmapped(t, 0, 2 * M));
    const d = g.take();
    expect(d.unmaps).toBe(3);
    expect(d.tlbi).toEqual({ start: 0, last: 4 * M + 8 * K - 1, leafLevels: [2, 3], tableLevels: [2], granule: 4096 });
    expect(d.freedTables.map((f) => [f.level, f.iova])).toEqual([[2, 4 * M]]);
    // The two 4K unmaps merged into one leaf request, as consecutive pages do in Linux's gather.
    expect(d.linuxRequests).toEqual([
      { iova: 4 * M, size: 8 * K, granule: 4096, leaf: true },
      { iova: 4 * M, size: 2 * M, granule: 4096, leaf: false },
      { iova: 0, size: 2 * M, granule: 2 * M, leaf: true },
    ]);
    expect(g.isEmpty).toBe(true);
    expect(g.description()).toBeNull();
  });

  it('ignores empty unmaps and refuses mixing granules', () => {
    const g = new Gather();
    const t4 = table(4096);
    g.add(t4.unmap(0, 4096));
    expect(g.isEmpty).toBe(true);
    t4.map(0, 0, 4096, RW);
    g.add(t4.unmap(0, 4096));
    const t16 = table(16384, 36);
    t16.map(0, 0, 16384, RW);
    expect(() => g.add(t16.unmap(0, 16384))).toThrow(RangeError);
  });
});
