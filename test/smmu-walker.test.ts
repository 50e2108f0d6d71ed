import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { PhysMemory } from '../src/pgtable/memory.js';
import { IoPageTable } from '../src/pgtable/index.js';
import { WalkResult, WalkStatus, startLevel, walk, permText } from '../src/smmu/walker.js';
import { AF, AP_RO, HandTable, NG, S1_RW, S2_R, S2_RW } from './smmu-fixtures.js';

describe('the model walker reads hand-written descriptors', () => {
  it('walks four levels of a 4K, 48-bit stage-1 table to a page', () => {
    const mem = new PhysMemory();
    const t = new HandTable(mem, 0x10_0000);
    const va = 0x0000_7f40_2020_3000;
    t.table(0x10_0000, 0, va, 0x10_1000);
    t.table(0x10_1000, 1, va, 0x10_2000);
    t.table(0x10_2000, 2, va, 0x10_3000);
    t.page(0x10_3000, va, 0x12_3456_7000, S1_RW);
    const r = walk(mem, t.cfg, va + 0x123, new WalkResult());
    expect(r.status).toBe(WalkStatus.OK);
    expect(r.level).toBe(3);
    expect(r.out(va + 0x123)).toBe(0x12_3456_7123);
    expect(r.sizeLog2).toBe(12);
    expect(r.tables).toBe(3);
    expect([...r.tableLevel.slice(0, 3)]).toEqual([0, 1, 2]);
    expect([...r.tableNext.slice(0, 3)]).toEqual([0x10_1000, 0x10_2000, 0x10_3000]);
    expect(r.attrLo & NG).toBe(NG);
  });

  it('decodes 2 MiB and 1 GiB blocks at 4K, and refuses a level-1 block at 16K', () => {
    const mem = new PhysMemory();
    const t = new HandTable(mem, 0x20_0000);
    t.table(0x20_0000, 0, 0x4000_0000, 0x20_1000);
    t.block(0x20_1000, 1, 0x4000_0000, 0x1_c000_0000, S1_RW); // 1 GiB block
    t.table(0x20_1000, 1, 0x8000_0000, 0x20_2000);
    t.block(0x20_2000, 2, 0x8020_0000, 0x0060_0000, S1_RW); // 2 MiB block
    const r = new WalkResult();
    walk(mem, t.cfg, 0x4123_4567, r);
    expect([r.status, r.level, r.sizeLog2, r.out(0x4123_4567)]).toEqual([WalkStatus.OK, 1, 30, 0x1_c123_4567]);
    walk(mem, t.cfg, 0x803f_ffff, r);
    expect([r.status, r.level, r.sizeLog2, r.out(0x803f_ffff)]).toEqual([WalkStatus.OK, 2, 21, 0x007f_ffff]);

    const m16 = new PhysMemory();
    const t16 = new HandTable(m16, 0x40_0000, 14, 48);
    expect(startLevel(14, 48)).toBe(0);
    t16.table(0x40_0000, 0, 0, 0x40_4000);
    t16.block(0x40_4000, 1, 0, 0x10_0000_0000, S1_RW); // level-1 blocks need DS at 16K
    walk(m16, t16.cfg, 0x1000, r);
    expect([r.status, r.level]).toEqual([WalkStatus.TRANSLATION, 1]);
  });

  it('starts a 64K, 48-bit walk at level 1 and maps 512 MiB blocks at level 2', () => {
    const mem = new PhysMemory();
    const t = new HandTable(mem, 0x100_0000, 16, 48);
    expect(startLevel(16, 48)).toBe(1);
    t.table(0x100_0000, 1, 0x2000_0000, 0x101_0000);
    t.block(0x101_0000, 2, 0x2000_0000, 0x4_0000_0000, S1_RW);
    const r = walk(mem, t.cfg, 0x2abc_0000, new WalkResult());
    expect([r.status, r.level, r.sizeLog2, r.out(0x2abc_0000)]).toEqual([WalkStatus.OK, 2, 29, 0x4_0abc_0000]);
  });

  it('faults on invalid and reserved descriptors, AF=0 and addresses beyond the input size', () => {
    const mem = new PhysMemory();
    const t = new HandTable(mem, 0x10_0000, 12, 39);
    expect(startLevel(12, 39)).toBe(1);
    t.table(0x10_0000, 1, 0, 0x10_1000);
    t.table(0x10_1000, 2, 0, 0x10_2000);
    t.page(0x10_2000, 0x1000, 0x9000, S1_RW);
    mem.write64(0x10_2000 + 2 * 8, 0x9000 | 1 | AF, 0); // level 3 with bit 1 clear: reserved
    t.page(0x10_2000, 0x3000, 0x9000, NG); // AF = 0
    const r = new WalkResult();
    expect(walk(mem, t.cfg, 0x0000, r).status).toBe(WalkStatus.TRANSLATION);
    expect(walk(mem, t.cfg, 0x1000, r).status).toBe(WalkStatus.OK);
    expect(walk(mem, t.cfg, 0x2000, r).status).toBe(WalkStatus.TRANSLATION);
    expect(walk(mem, t.cfg, 0x3000, r).status).toBe(WalkStatus.ACCESS_FLAG);
    expect(walk(mem, t.cfg, 2 ** 39, r).status).toBe(WalkStatus.ADDRESS_SIZE);
  });

  it('reads permissions of both stages', () => {
    expect(permText(1, S1_RW, 0)).toBe('rwx');
    expect(permText(1, S1_RW | AP_RO, 4)).toBe('r--');
    expect(permText(2, S2_RW, 2)).toBe('rw-');
    expect(permText(2, AF | S2_R, 0)).toBe('r-x');
  });
});

describe('the model walker agrees with the page-table module on random mappings', () => {
  for (const granule of [4096, 16384, 65536] as const) {
    for (const stage of [1, 2] as const) {
      it(`granule ${granule}, stage ${stage}`, () => {
        fc.assert(
          fc.property(
            fc.array(fc.record({ slot: fc.nat(63), pages: fc.integer({ min: 1, max: 40 }), big: fc.boolean() }), {
              minLength: 1,
              maxLength: 8,
            }),
            fc.array(fc.nat(), { minLength: 16, maxLength: 16 }),
            (maps, probes) => {
              const mem = new PhysMemory();
              const pt = new IoPageTable({ stage, granule, ias: 48, memory: mem });
              const blk = granule === 4096 ? 2 ** 21 : granule === 16384 ? 2 ** 25 : 2 ** 29;
              const ranges: [number, number][] = [];
              for (const m of maps) {
                const iova = m.slot * blk * 2;
                const size = m.big ? blk : m.pages * granule;
                if (ranges.some(([a]) => a === iova)) continue;
                pt.map(iova, 0x1_0000_0000 + iova, size, { read: true, write: m.pages % 2 === 0, exec: false });
                ranges.push([iova, size]);
              }
              const cfg = { root: pt.config.rootPa, granuleLog2: Math.log2(granule), ias: 48, stage };
              const r = new WalkResult();
              for (const p of probes) {
                const [iova, size] = ranges[p % ranges.length]!;
                for (const a of [iova + ((p * granule) % (size + granule)), iova + size - 1, iova + size]) {
                  walk(mem, cfg, a, r);
                  const ref = pt.iovaToPhys(a);
                  expect(r.status === WalkStatus.OK ? r.out(a) : null).toBe(ref);
                }
              }
            },
          ),
          { numRuns: 40 },
        );
      });
    }
  }
});
