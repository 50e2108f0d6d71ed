/**
 * IDR5.DS widens SCALE to 6 bits (w0[25:20], IHI 0070 4.4.1.1; issue 14 item 11, model and codec side):
 * with DS a range TLBI with SCALE 32..39 covers (NUM+1) × 2^SCALE granules; without DS bit 25 is RES0 and a
 * strict SMMU rejects it (CERROR_ILL, field scale); a SCALE above 39 is one software must not rely on, so the
 * adversarial model removes nothing for it. Tables are written by hand (smmu-fixtures), pages far apart.
 */
import { describe, expect, it } from 'vitest';
import { CommandChecker } from '../src/cmdq/index.js';
import { withFeatures } from '../src/cmdq/features.js';
import { PhysMemory } from '../src/pgtable/memory.js';
import { StaleChecker } from '../src/smmu/checker.js';
import { SmmuModel } from '../src/smmu/model.js';
import { HandTable, SYNC, cmd, submit } from './smmu-fixtures.js';

/** Pages at 4 KiB, 2^44 + 12 KiB and 2^46 + 20 KiB (ASID 5), each with a table path of its own. */
const VAS = [0x1000, 2 ** 44 + 0x3000, 2 ** 46 + 0x5000];

function scene(ds: boolean): { model: SmmuModel; stale: () => number; unmap: () => void } {
  const mem = new PhysMemory();
  const root = 0x100_0000;
  const t = new HandTable(mem, root);
  const leaves: number[] = [];
  VAS.forEach((va, i) => {
    const f = root + 0x10_0000 * (i + 1);
    t.table(root, 0, va, f);
    t.table(f, 1, va, f + 0x1000);
    t.table(f + 0x1000, 2, va, f + 0x2000);
    t.page(f + 0x2000, va, 0x8000_0000 + i * 0x1000);
    leaves.push(f + 0x2000);
  });
  const model = new SmmuModel(mem, { features: { ds }, trafficPerRound: 0 });
  model.setStream({ sid: 1, mode: 'stage1', ats: false, vmid: 0, cds: new Map([[0, { asid: 5, table: t.cfg }]]) });
  for (const va of VAS) expect(model.translate(1, 0, va)).toBe(0x8000_0000 + VAS.indexOf(va) * 0x1000);
  const checker = new StaleChecker(mem);
  return {
    model,
    stale: () => checker.checkAll(model).length,
    unmap: () => VAS.forEach((va, i) => t.clear(leaves[i]!, 3, va)),
  };
}

const ds = new CommandChecker({ features: withFeatures({ ds: true }) });
const range = (scale: number): number[] =>
  cmd('TLBI_NH_VA', { asid: 5, leaf: 1, tg: 1, ttl: 3, num: 0, scale, addr: 0 }, ds);

describe('SCALE with IDR5.DS', () => {
  it('SCALE=33 (2^45 bytes) removes the pages below 2^45 and keeps the one above: that one is reported', () => {
    const s = scene(true);
    s.unmap();
    submit(s.model, range(33), SYNC());
    expect(s.model.queue.stalled).toBe(false);
    expect(s.model.tlb.all.map((e) => e.inStart)).toEqual([VAS[2]]);
    expect(s.stale()).toBe(1);
  });

  it('clean twin: SCALE=39 (2^51 bytes) covers all three pages', () => {
    const s = scene(true);
    s.unmap();
    submit(s.model, range(39), SYNC());
    expect(s.model.tlb.size).toBe(0);
    expect(s.stale()).toBe(0);
  });

  it('SCALE above 39 (treated as 39, not to be relied on): the adversary removes nothing', () => {
    const s = scene(true);
    s.unmap();
    submit(s.model, range(40), SYNC());
    expect(s.model.tlb.size).toBe(3);
    expect(s.stale()).toBe(3);
  });

  it('without DS a strict SMMU rejects SCALE=33 (bit 25 is RES0): CERROR_ILL on the scale field', () => {
    const s = scene(false);
    submit(s.model, range(33), SYNC());
    expect(s.model.queue.stalled).toBe(true);
    expect(s.model.lastError?.issue.field).toBe('scale');
    expect(s.model.tlb.size).toBe(3);
  });
});
