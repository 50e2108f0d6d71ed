/**
 * Geometry and descriptor encodings, checked against hand-computed values from the VMSAv8-64 rules (not
 * against the page-table code): start levels and start-table sizes, leaf sizes per granule, and every
 * descriptor field read back bit by bit from memory.
 */
import { describe, expect, it } from 'vitest';
import {
  FrameAllocator,
  IoPageTable,
  PhysMemory,
  entriesAt,
  leafSizes,
  levelSpan,
  startLevelFor,
  type Granule,
  type Prot,
} from '../src/pgtable/index.js';
import { readDesc } from './pgtable-refwalk.js';

/** Bits [hi:lo] of a 64-bit descriptor. */
function field(d: bigint, hi: number, lo: number): number {
  return Number((d >> BigInt(lo)) & ((1n << BigInt(hi - lo + 1)) - 1n));
}

describe('geometry', () => {
  // [granule, ias, start level, entries in the start table], worked out by hand from shift = g + (3 - L)(g - 3).
  const cases: [Granule, number, number, number][] = [
    [4096, 48, 0, 512],
    [4096, 47, 0, 256],
    [4096, 40, 0, 2],
    [4096, 39, 1, 512],
    [4096, 36, 1, 64],
    [4096, 32, 1, 4],
    [16384, 48, 0, 2],
    [16384, 47, 1, 2048],
    [16384, 37, 1, 2],
    [16384, 36, 2, 2048],
    [16384, 32, 2, 128],
    [65536, 48, 1, 64],
    [65536, 43, 1, 2],
    [65536, 42, 2, 8192],
    [65536, 32, 2, 8],
  ];
  it.each(cases)('granule %i, ias %i: start level %i with %i entries', (granule, ias, level, entries) => {
    expect(startLevelFor(granule, ias)).toBe(level);
    expect(entriesAt(granule, ias, level)).toBe(entries);
    const t = new IoPageTable({ stage: 1, granule, ias });
    expect(t.config.startLevel).toBe(level);
    expect(t.rootEntries).toBe(entries);
  });

  it('has the architecture block and page sizes per granule', () => {
    expect(leafSizes(4096)).toEqual([
      { level: 1, size: 2 ** 30 },
      { level: 2, size: 2 ** 21 },
      { level: 3, size: 2 ** 12 },
    ]);
    expect(leafSizes(16384)).toEqual([
      { level: 2, size: 2 ** 25 },
      { level: 3, size: 2 ** 14 },
    ]);
    expect(leafSizes(65536)).toEqual([
      { level: 2, size: 2 ** 29 },
      { level: 3, size: 2 ** 16 },
    ]);
    expect(levelSpan(4096, 0)).toBe(2 ** 39);
    expect(levelSpan(16384, 1)).toBe(2 ** 36);
    expect(levelSpan(65536, 1)).toBe(2 ** 42);
  });
});

/** Map one leaf in a fresh 4K table with tables at a known address; return the leaf descriptor read from memory. */
function leafDescriptor(stage: 1 | 2, prot: Prot, iova: number, pa: number, size: number, level: number): bigint {
  const memory = new PhysMemory();
  const allocator = new FrameAllocator(4096, 0x8_0000_0000, 2 ** 20);
  const t = new IoPageTable({ stage, granule: 4096, ias: 48, memory, allocator });
  t.map(iova, pa, size, prot);
  const step = t.walk(iova).steps.find((s) => s.level === level)!;
  return readDesc(memory, step.descriptorPa);
}

describe('stage-1 leaf descriptors', () => {
  it('encodes a read-write, non-executable, cached, non-global page exactly', () => {
    const d = leafDescriptor(1, { read: true, write: true, exec: false }, 0x4000_0000, 0x1234_5678_9000, 4096, 3);
    // valid|page = 0b11, AttrIndx 1 (0x4), AP[1] EL0 (0x40), SH inner 0b11 (0x300), AF (0x400), nG (0x800);
    // OA[47:12] = 0x123456789; PXN (bit 53) and UXN (bit 54).
    expect(d).toBe(0x0060_1234_5678_9f47n);
    expect(field(d, 0, 0)).toBe(1);
    expect(field(d, 1, 1)).toBe(1);
    expect(field(d, 4, 2)).toBe(1);
    expect(field(d, 5, 5)).toBe(0);
    expect(field(d, 7, 6)).toBe(0b01);
    expect(field(d, 9, 8)).toBe(0b11);
    expect(field(d, 10, 10)).toBe(1);
    expect(field(d, 11, 11)).toBe(1);
    expect(field(d, 47, 12)).toBe(0x1_2345_6789);
    expect(field(d, 51, 48)).toBe(0);
    expect(field(d, 52, 52)).toBe(0);
    expect(field(d, 53, 53)).toBe(1);
    expect(field(d, 54, 54)).toBe(1);
    expect(field(d, 63, 55)).toBe(0);
  });

  it('encodes read-only, privileged, global, executable, non-cacheable', () => {
    const prot: Prot = { read: true, write: false, exec: true, priv: true, global: true, memType: 'noncached' };
    const d = leafDescriptor(1, prot, 0x4000_0000, 0x8000_0000, 4096, 3);
    expect(field(d, 4, 2)).toBe(0); // AttrIndx 0
    expect(field(d, 7, 6)).toBe(0b10); // AP[2] read-only, AP[1] = 0: privileged only
    expect(field(d, 9, 8)).toBe(0b10); // outer shareable
    expect(field(d, 11, 11)).toBe(0); // global
    expect(field(d, 54, 53)).toBe(0); // executable
    expect(d).toBe(0x0000_0000_8000_0683n);
  });

  it('encodes device memory and the NS bit', () => {
    const d = leafDescriptor(
      1,
      { read: true, write: true, exec: false, memType: 'device', ns: true },
      0,
      0x10_0000,
      4096,
      3,
    );
    expect(field(d, 4, 2)).toBe(2);
    expect(field(d, 5, 5)).toBe(1);
    // 0b11 | AttrIndx 2 (0x8) | NS (0x20) | AP[1] (0x40) | SH outer (0x200) | AF (0x400) | nG (0x800) = 0xe6b.
    expect(d).toBe(0x0060_0000_0010_0e6bn);
  });

  it('writes a 2M block at level 2 with bit 1 clear', () => {
    const d = leafDescriptor(1, { read: true, write: true, exec: false }, 0x4020_0000, 0x8_0020_0000, 2 ** 21, 2);
    expect(field(d, 1, 0)).toBe(0b01);
    expect(field(d, 47, 21)).toBe(0x8_0020_0000 / 2 ** 21);
    expect(field(d, 20, 12)).toBe(0);
    expect(d).toBe(0x0060_0008_0020_0f45n);
  });

  it('writes a 1G block at level 1', () => {
    const d = leafDescriptor(1, { read: true, write: true, exec: false }, 0x4000_0000, 0x40_0000_0000, 2 ** 30, 1);
    expect(field(d, 1, 0)).toBe(0b01);
    expect(field(d, 47, 30)).toBe(0x100);
  });
});

describe('stage-2 leaf descriptors', () => {
  it('encodes read-write, non-executable, cached', () => {
    const d = leafDescriptor(2, { read: true, write: true, exec: false }, 0x4000_0000, 0x8000_0000, 4096, 3);
    // MemAttr 0b1111 (0x3c), S2AP read (0x40) write (0x80), SH 0b11, AF, XN = 0b10 (bit 54).
    expect(field(d, 5, 2)).toBe(0b1111);
    expect(field(d, 7, 6)).toBe(0b11);
    expect(field(d, 9, 8)).toBe(0b11);
    expect(field(d, 10, 10)).toBe(1);
    expect(field(d, 11, 11)).toBe(0);
    expect(field(d, 54, 53)).toBe(0b10);
    expect(d).toBe(0x0040_0000_8000_07ffn);
  });

  it('encodes write-only executable device memory and read-only non-cacheable', () => {
    const w = leafDescriptor(2, { read: false, write: true, exec: true, memType: 'device' }, 0, 0x1000, 4096, 3);
    expect(field(w, 5, 2)).toBe(0b0001);
    expect(field(w, 7, 6)).toBe(0b10);
    expect(field(w, 54, 53)).toBe(0);
    expect(w).toBe(0x0000_0000_0000_1687n);
    const r = leafDescriptor(2, { read: true, write: false, exec: false, memType: 'noncached' }, 0, 0x2000, 4096, 3);
    expect(field(r, 5, 2)).toBe(0b0101);
    expect(field(r, 7, 6)).toBe(0b01);
    expect(r).toBe(0x0040_0000_0000_2657n);
  });
});

describe('table descriptors', () => {
  it('point at the next-level table with bits [1:0] = 0b11 and nothing else', () => {
    const memory = new PhysMemory();
    const allocator = new FrameAllocator(4096, 0x8_0000_0000, 2 ** 20);
    const t = new IoPageTable({ stage: 1, granule: 4096, ias: 48, memory, allocator });
    expect(t.config.rootPa).toBe(0x8_0000_0000);
    t.map(0x40_4020_3000, 0x1000, 4096, { read: true, write: false, exec: false });
    // iova 0x40_4020_3000: L0 index 0, L1 index 0x101, L2 index 1, L3 index 3.
    expect(readDesc(memory, 0x8_0000_0000 + 0 * 8)).toBe(0x0000_0008_0000_1003n);
    expect(readDesc(memory, 0x8_0000_1000 + 0x101 * 8)).toBe(0x0000_0008_0000_2003n);
    expect(readDesc(memory, 0x8_0000_2000 + 1 * 8)).toBe(0x0000_0008_0000_3003n);
    expect(field(readDesc(memory, 0x8_0000_3000 + 3 * 8), 47, 12)).toBe(1);
  });

  it('uses bits [47:16] for the 64K granule', () => {
    const memory = new PhysMemory();
    const allocator = new FrameAllocator(65536, 0x1234_0000_0000, 2 ** 24);
    const t = new IoPageTable({ stage: 2, granule: 65536, ias: 48, memory, allocator });
    t.map(0, 0x5_0000, 65536, { read: true, write: true, exec: false });
    expect(readDesc(memory, t.config.rootPa)).toBe(0x0000_1234_0001_0003n);
    const l2 = readDesc(memory, 0x1234_0001_0000);
    expect(l2).toBe(0x0000_1234_0002_0003n);
    const page = readDesc(memory, 0x1234_0002_0000);
    expect(field(page, 47, 16)).toBe(5);
    expect(field(page, 15, 12)).toBe(0);
  });
});
