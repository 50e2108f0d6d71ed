/**
 * Errata as SMMU options the engine honours and the model enforces (issue 14 item 13; bug corpus L15, L24):
 * - MMU-700 2812531: more than 63 commands without a CMD_SYNC may lose an invalidation. The model drops one;
 *   the engine's forceSync (a CMD_SYNC every 63 commands, as Linux's ARM_SMMU_OPT_CMDQ_FORCE_SYNC) avoids it.
 * - Tegra264 repeat: an invalidation batch may be lost unless issued twice with its CMD_SYNC; ATC_INV is not
 *   repeated. The model drops the first of a pair; the engine's `repeat` issues every non-ATC batch twice.
 * Each erratum: the stream without the workaround leaves stale entries, the workaround is clean, and the
 * workaround's stream on an SMMU without the erratum is clean too.
 */
import { describe, expect, it } from 'vitest';
import { IoPageTable, PhysMemory } from '../src/pgtable/index.js';
import { applyFault, type EntryList } from '../src/sim/faults.js';
import { runSimulation } from '../src/sim/workload.js';
import { StaleChecker } from '../src/smmu/checker.js';
import { SmmuModel, type SmmuErratum } from '../src/smmu/model.js';
import { PlanOutput, invalidateRange, invsOf, type SmmuOptions } from '../src/tlbi/index.js';

const IOVA = 0x4000_0000;

/** `pages` 4K pages of ASID 5 (and, with `ats`, an ATS device 0x20), cached, unmapped, invalidated by `plan`. */
function run(
  errata: SmmuErratum[],
  opts: SmmuOptions,
  pages: number,
  edit?: (list: EntryList) => void,
  ats = false,
): { stale: number; dropped: number; ops: number[] } {
  const mem = new PhysMemory();
  const pt = new IoPageTable({ stage: 1, granule: 4096, ias: 48, memory: mem });
  const model = new SmmuModel(mem, { features: { ril: opts.ril }, errata, trafficPerRound: 0 });
  const cfg = { root: pt.config.rootPa, granuleLog2: 12, ias: 48, stage: 1 as const };
  const cds = new Map([[0, { asid: 5, table: cfg }]]);
  model.setStream({ sid: 1, mode: 'stage1', ats: false, vmid: 0, cds });
  if (ats) model.setStream({ sid: 0x20, mode: 'stage1', ats: true, vmid: 0, cds });
  const size = pages * 4096;
  pt.map(IOVA, 0x8000_1000, size, { read: true, write: true, exec: false });
  model.prefetch(1, 0, IOVA, IOVA + size - 1);
  if (ats) model.prefetch(0x20, 0, IOVA, IOVA + size - 1);
  const r = pt.unmap(IOVA, size);
  const keys = [{ smmu: 0, type: 'S1_ASID' as const, id: 5, pgsize: 4096 }];
  if (ats) keys.push({ smmu: 0, type: 'ATS' as never, id: 0x20, pgsize: 4096 });
  const out = new PlanOutput();
  expect(r.unmapped).toBe(size);
  // One request for the whole change, as a gather makes it (leaf false: the last-level table was freed).
  invalidateRange(invsOf(keys), { iova: IOVA, size, granule: 4096, leaf: false }, [opts], out);
  const list: EntryList = [];
  for (let k = 0; k < out.count; k++) list.push(Array.from(out.buf.u32.subarray(k * 4, k * 4 + 4)));
  edit?.(list);
  const u = new Uint32Array(list.length * 4);
  list.forEach((h, i) => u.set(h, i * 4));
  model.submit(u, 0, list.length);
  const stale = new StaleChecker(mem).checkAll(model).length;
  return { stale, dropped: model.stats.erratumDropped, ops: list.map((h) => h[0]! & 0xff) };
}

const plain: SmmuOptions = { ril: false, e2h: false, forceSync: false };

describe('MMU-700 erratum 2812531', () => {
  it('100 NH_VA without a CMD_SYNC in between: one is lost and its page stays cached', () => {
    const r = run(['mmu700-2812531'], plain, 100);
    expect(r.ops.filter((o) => o === 0x46)).toHaveLength(1);
    expect(r.dropped).toBe(1);
    expect(r.stale).toBe(1);
  });

  it('clean twin: forceSync puts a CMD_SYNC after every 63 commands', () => {
    const r = run(['mmu700-2812531'], { ...plain, forceSync: true }, 100);
    expect(r.ops.filter((o) => o === 0x46)).toHaveLength(2);
    expect(r.dropped).toBe(0);
    expect(r.stale).toBe(0);
  });

  it('an SMMU without the erratum takes the long batch whole', () => {
    expect(run([], plain, 100)).toMatchObject({ dropped: 0, stale: 0 });
  });
});

describe('Tegra264 repeat erratum', () => {
  it('the engine with `repeat` issues each TLBI batch twice, the ATC_INV batch once', () => {
    const r = run(['tegra264-repeat'], { ...plain, ril: true, repeat: true }, 8, undefined, true);
    // NH_VA SYNC NH_VA SYNC (repeat) ATC_INV SYNC
    expect(r.ops).toEqual([0x12, 0x46, 0x12, 0x46, 0x40, 0x46]);
    expect(r.stale).toBe(0);
    expect(r.dropped).toBe(1); // the first copy of the pair
  });

  it('without the repeat (fault no-repeat) the single copy is lost: stale TLB and, refilled from it, ATC', () => {
    const r = run(
      ['tegra264-repeat'],
      { ...plain, ril: true, repeat: true },
      8,
      (l) => applyFault('no-repeat', l),
      true,
    );
    expect(r.ops).toEqual([0x12, 0x46, 0x40, 0x46]);
    expect(r.stale).toBeGreaterThan(0);
  });

  it('the repeated stream on an SMMU without the erratum is clean (and no-repeat leaves a plain plan alone)', () => {
    expect(run([], { ...plain, ril: true, repeat: true }, 8, undefined, true).stale).toBe(0);
    const l: EntryList = [
      [0x12, 0, 0, 0],
      [0x46, 0, 0, 0],
      [0x40, 0, 0, 0],
      [0x46, 0, 0, 0],
    ];
    applyFault('no-repeat', l);
    expect(l).toHaveLength(4);
  });
});

describe('simulate with both errata', () => {
  for (const policy of ['linux', 'tlbi'] as const)
    it(`${policy}: the workaround keeps a random workload clean on SMMUs with both errata`, () => {
      const r = runSimulation({
        granule: 4096,
        stage: '1',
        ril: false,
        ats: true,
        smmus: 2,
        ops: 200,
        seed: 5,
        policy,
        fault: null,
        errata: ['mmu700-2812531', 'tegra264-repeat'],
      });
      expect(r.stale).toBe(0);
      expect(r.syncs).toBeGreaterThan(50);
    });
});
