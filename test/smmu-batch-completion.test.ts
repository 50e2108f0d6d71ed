/**
 * Completion inside one batch (issue 14 item 3; IHI 0070 4.1.4, 4.7.3): nothing orders the commands between
 * two CMD_SYNCs, so the model completes them one at a time, leaf-only invalidations before the ones that reach
 * the walk cache, with device traffic between them. A batch whose leaf command completes first lets traffic
 * walk a still-cached table descriptor into a detached table and refill leaves its other command does not
 * cover. (The model review's reproduction e7, with the page tables of src/pgtable.)
 */
import { describe, expect, it } from 'vitest';
import { FrameAllocator, IoPageTable, PhysMemory } from '../src/pgtable/index.js';
import { StaleChecker } from '../src/smmu/checker.js';
import { SmmuModel } from '../src/smmu/model.js';
import { SYNC, cmd, submit } from './smmu-fixtures.js';

const IOVA = 0x4000_0000;

/**
 * Eight pages in one level-3 table, cached; the pages are unmapped (the table is freed) and the freed frame
 * keeps its leaves, as Linux's io-pgtable leaves a detached table; then `batch` runs with traffic over the
 * pages. Returns the stale translations the checker finds for the change.
 */
function run(batch: number[][], seed = 3): number {
  const mem = new PhysMemory();
  const frames = new FrameAllocator(4096, 0x40_0000_0000, 1 << 24);
  const pt = new IoPageTable({ stage: 1, granule: 4096, ias: 48, memory: mem, allocator: frames });
  const model = new SmmuModel(mem, { trafficPerRound: 8, seed });
  const cfg = { root: pt.config.rootPa, granuleLog2: 12, ias: 48, stage: 1 as const };
  model.setStream({ sid: 1, mode: 'stage1', ats: false, vmid: 0, cds: new Map([[0, { asid: 5, table: cfg }]]) });
  const prot = { read: true, write: true, exec: false };
  pt.map(IOVA + 0x1000, 0x8000_0000, 0x8000, prot);
  pt.map(IOVA + 0x40_0000, 0x9000_0000, 0x1000, prot); // keeps the level-2 table alive
  model.prefetch(1, 0, IOVA, IOVA + 0x20_0000 - 1);
  const l3 = pt.walk(IOVA + 0x1000).steps[3]!.tablePa;
  const snap: [number, number][] = [];
  for (let i = 0; i < 512; i++) snap.push([mem.readLo(l3 + i * 8), mem.readHi(l3 + i * 8)]);
  const r = pt.unmap(IOVA + 0x1000, 0x8000);
  expect(r.freedTables.length).toBeGreaterThan(0);
  for (let i = 0; i < 512; i++) mem.write64(l3 + i * 8, snap[i]![0], snap[i]![1]);
  model.setTraffic([{ sid: 1, ssid: 0, first: IOVA + 0x1000, last: IOVA + 0x8fff }]);
  submit(model, ...batch, SYNC());
  model.clearTraffic();
  return new StaleChecker(mem).checkChange(model, {
    stage: 1,
    root: cfg.root,
    first: r.tlbi!.start,
    last: r.tlbi!.last,
  }).length;
}

/** Leaf-only range over the 8 pages. */
const leafRange = (): number[] =>
  cmd('TLBI_NH_VA', { asid: 5, leaf: 1, tg: 1, ttl: 3, num: 7, scale: 0, addr: IOVA + 0x1000 });

describe('commands of one batch complete one at a time, traffic between them', () => {
  it('negative control: a leaf range plus a single-address Leaf=0 at the freed table leaves refilled leaves', () => {
    // The model as it was (a whole class completing at once) found 0 here.
    let stale = 0;
    for (let seed = 1; seed <= 4; seed++)
      stale += run([leafRange(), cmd('TLBI_NH_VA', { asid: 5, leaf: 0, addr: IOVA + 0x1000 })], seed);
    expect(stale).toBeGreaterThan(0);
  });

  it('clean twin: the Leaf=0 command covers the whole changed range', () => {
    for (let seed = 1; seed <= 4; seed++)
      expect(
        run([leafRange(), cmd('TLBI_NH_VA', { asid: 5, leaf: 0, tg: 1, ttl: 0, num: 7, addr: IOVA + 0x1000 })], seed),
      ).toBe(0);
  });

  it('the order of the batch in the queue does not matter: Leaf=0 first is caught the same way', () => {
    let stale = 0;
    for (let seed = 1; seed <= 4; seed++)
      stale += run([cmd('TLBI_NH_VA', { asid: 5, leaf: 0, addr: IOVA + 0x1000 }), leafRange()], seed);
    expect(stale).toBeGreaterThan(0);
  });
});
