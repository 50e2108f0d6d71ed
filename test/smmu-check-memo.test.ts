/**
 * The whole-cache sweep remembers clean judgements (src/smmu/check-memo.ts): a later sweep must report
 * exactly what a checker with no memory reports — after a descriptor write, a dropped and reused frame, a
 * configuration change, and when nothing changed (the clean twin).
 */
import { describe, expect, it } from 'vitest';
import { StaleChecker } from '../src/smmu/checker.js';
import { PhysMemory } from '../src/pgtable/memory.js';
import { HandTable, S1_RW, newModel } from './smmu-fixtures.js';

const ROOT = 0x10_0000;
const L1 = 0x10_1000;
const L2 = 0x10_2000;
const L3 = 0x10_3000;
const VA = 0x4000_0000;

function setup(ats: boolean) {
  const { mem, model } = newModel({ trafficPerRound: 4 });
  const t = new HandTable(mem, ROOT);
  t.table(ROOT, 0, VA, L1);
  t.table(L1, 1, VA, L2);
  t.table(L2, 2, VA, L3);
  for (let i = 0; i < 8; i++) t.page(L3, VA + i * 0x1000, 0x8000_0000 + i * 0x1000, S1_RW);
  model.setStream({ sid: 1, mode: 'stage1', ats, vmid: 0, cds: new Map([[0, { asid: 5, table: t.cfg }]]) });
  model.prefetch(1, 0, VA, VA + 0x7fff);
  const checker = new StaleChecker(mem);
  expect(checker.checkAll(model)).toEqual([]); // the first sweep: every entry judged clean, remembered
  /** What a checker that remembers nothing reports now. */
  const fresh = () => new StaleChecker(mem).checkAll(model);
  return { mem, model, t, checker, fresh };
}

describe('the remembering sweep reports what a fresh sweep reports', () => {
  it('nothing changed: both clean, sweep after sweep (the clean twin)', () => {
    const { model, checker, fresh } = setup(true);
    for (let k = 0; k < 3; k++) expect(checker.checkAll(model)).toEqual([]);
    expect(fresh()).toEqual([]);
    expect(model.tlb.size).toBeGreaterThan(0);
  });

  it('a leaf descriptor written behind the caches: the remembered entries are judged again', () => {
    const { model, t, checker, fresh } = setup(true);
    t.clear(L3, 3, VA + 0x3000);
    const again = checker.checkAll(model);
    expect(again.length).toBeGreaterThan(0);
    expect(again.map((r) => r.cache).sort()).toEqual(['ATC', 'TLB']);
    expect(again).toEqual(fresh());
    // Stale entries are never remembered: the next sweep reports them again.
    expect(checker.checkAll(model)).toEqual(again);
  });

  it('a table descriptor rewritten (the walk-cache entry points at a table no longer used)', () => {
    const { model, t, checker, fresh } = setup(false);
    t.table(L2, 2, VA, 0x10_4000);
    const again = checker.checkAll(model);
    expect(again.map((r) => r.cache)).toContain('walk');
    expect(again).toEqual(fresh());
  });

  it('a table frame dropped (zeroed) and written again: its other words count as changed', () => {
    const { mem, model, t, checker, fresh } = setup(false);
    mem.zero(L3, 0x1000);
    t.page(L3, VA + 0x7000, 0x8000_7000, S1_RW); // the frame is back, holding only the last page
    const again = checker.checkAll(model);
    expect(again.filter((r) => r.cache === 'TLB')).toHaveLength(7);
    expect(again).toEqual(fresh());
  });

  it('a configuration change in memory (a new ASID in the CD): the remembered entries are judged again', () => {
    const { model, t, checker, fresh } = setup(false);
    model.writeStream({ sid: 1, mode: 'stage1', ats: false, vmid: 0, cds: new Map([[0, { asid: 6, table: t.cfg }]]) });
    const again = checker.checkAll(model);
    expect(again.length).toBeGreaterThan(0);
    expect(again).toEqual(fresh());
  });
});

describe('PhysMemory write stamps', () => {
  it('a word written after a stamp is changed since it; a word of another descriptor is not', () => {
    const mem = new PhysMemory();
    mem.write64(0x1000, 1, 0);
    mem.write64(0x1008, 2, 0);
    const s = mem.stamp;
    mem.nextStamp();
    expect(mem.changedSince([0x1000 / 8, 0x1008 / 8], s)).toBe(false);
    mem.write64(0x1008, 3, 0);
    expect(mem.changedSince([0x1000 / 8], s)).toBe(false);
    expect(mem.changedSince([0x1008 / 8], s)).toBe(true);
    expect(mem.changedSince([0x9000 / 8], s)).toBe(false); // never written: reads zero, as before
  });

  it('records the words a read touches, each consecutive one once', () => {
    const mem = new PhysMemory();
    const into: number[] = [];
    mem.recordReads(into);
    mem.readLo(0x2000);
    mem.readHi(0x2000);
    mem.readLo(0x3008);
    mem.recordReads(null);
    mem.readLo(0x4000);
    expect(into).toEqual([0x2000 / 8, 0x3008 / 8]);
  });
});
