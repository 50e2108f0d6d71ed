/**
 * Global (nG = 0) stage-1 leaves (review finding A2, issue 14 item 7). TLBI_NH_ASID and TLBI_EL2_ASID remove
 * non-global entries only (IHI 0070 §4.4.2.2, §4.4.2.10), so a whole-tag invalidation leaves global entries
 * alive. The decision: stage-1 DMA domains refuse global leaves (Linux's io-pgtable sets nG on every stage-1
 * leaf), the driver's leftover check after a tag flush counts global entries walked through the ASID, and
 * the checker judges a global entry against every context of its VMID (every ASID hits it).
 */
import { describe, expect, it } from 'vitest';
import { Driver } from '../src/consumers/driver.js';
import { IoPageTable, PhysMemory } from '../src/pgtable/index.js';
import { StaleChecker } from '../src/smmu/checker.js';
import { SmmuModel } from '../src/smmu/model.js';
import { Rng } from '../src/smmu/rng.js';
import { PlanOutput, invalidateRange, invsOf, tlbiInv } from '../src/tlbi/index.js';
import { HandTable, S1_GLOBAL, S1_RW, SYNC, cmd, submit } from './smmu-fixtures.js';

const RW = { read: true, write: true, exec: false };

describe('the whole-tag path and global leaves (engine + model + checker)', () => {
  // 2 MiB of 4K pages on an SMMU without range invalidation: both policies take the whole-tag path (NH_ASID).
  for (const policy of ['tlbi', 'linux'] as const)
    for (const global of [true, false])
      it(`${policy}: ${global ? 'global leaves survive NH_ASID and are reported' : 'non-global leaves: clean'}`, () => {
        const mem = new PhysMemory();
        const pt = new IoPageTable({ stage: 1, granule: 4096, ias: 48, memory: mem });
        const model = new SmmuModel(mem, { features: { ril: false }, trafficPerRound: 0 });
        const cfg = { root: pt.config.rootPa, granuleLog2: 12, ias: 48, stage: 1 as const };
        model.setStream({ sid: 1, mode: 'stage1', ats: false, vmid: 0, cds: new Map([[0, { asid: 5, table: cfg }]]) });
        const iova = 0x4000_0000;
        const size = 0x20_0000;
        pt.map(iova, 0x8000_1000, size, { ...RW, global }); // PA not block aligned: 512 pages
        model.prefetch(1, 0, iova, iova + size - 1);
        expect(model.tlb.size).toBe(512);
        const r = pt.unmap(iova, size);
        const invs = invsOf([{ smmu: 0, type: 'S1_ASID', id: 5, pgsize: 4096 }]);
        const out = new PlanOutput();
        const smmus = [{ ril: false, e2h: false, forceSync: false }];
        if (policy === 'tlbi') tlbiInv(r.tlbi!, invs, smmus, out);
        else for (const q of r.linuxRequests) invalidateRange(invs, q, smmus, out);
        expect(out.buf.u32[0]! & 0xff).toBe(0x11); // TLBI_NH_ASID
        model.submit(out.buf.u32, 0, out.count);
        const stale = new StaleChecker(mem).checkChange(model, {
          stage: 1,
          root: cfg.root,
          first: iova,
          last: iova + size - 1,
        });
        expect(stale.length).toBe(global ? 512 : 0);
        if (global) expect(stale[0]!.entry.asid).toBe('global');
      });
});

describe('the checker judges a global entry against every ASID of its VMID', () => {
  it('a global entry walked by ASID 5 is stale for ASID 6, whose table maps the VA elsewhere', () => {
    const mem = new PhysMemory();
    const a = new HandTable(mem, 0x10_0000);
    const b = new HandTable(mem, 0x20_0000);
    const va = 0x1234_5000;
    for (const [t, base, out, attrs] of [
      [a, 0x10_0000, 0x8000_0000, S1_GLOBAL],
      [b, 0x20_0000, 0x9000_0000, S1_RW],
    ] as const) {
      t.table(base, 0, va, base + 0x1000);
      t.table(base + 0x1000, 1, va, base + 0x2000);
      t.table(base + 0x2000, 2, va, base + 0x3000);
      t.page(base + 0x3000, va, out, attrs);
    }
    const model = new SmmuModel(mem, { trafficPerRound: 0 });
    model.setStream({ sid: 1, mode: 'stage1', ats: false, vmid: 0, cds: new Map([[0, { asid: 5, table: a.cfg }]]) });
    model.setStream({ sid: 2, mode: 'stage1', ats: false, vmid: 0, cds: new Map([[0, { asid: 6, table: b.cfg }]]) });
    expect(model.translate(1, 0, va)).toBe(0x8000_0000);
    // The hazard itself: ASID 6's device translates through ASID 5's global entry.
    expect(model.translate(2, 0, va)).toBe(0x8000_0000);
    const reports = new StaleChecker(mem).checkAll(model);
    expect(reports.length).toBe(1);
    expect(reports[0]!.entry.asid).toBe('global');
    expect(reports[0]!.live).toContain('0x90000000');
    // Clean twin: the same two tables with a non-global leaf in A: each ASID has its own entry, no report.
    a.page(0x10_3000, va, 0x8000_0000, S1_RW);
    const m2 = new SmmuModel(mem, { trafficPerRound: 0 });
    for (const s of [1, 2]) m2.setStream({ ...model.streams.get(s)! });
    expect(m2.translate(1, 0, va)).toBe(0x8000_0000);
    expect(m2.translate(2, 0, va)).toBe(0x9000_0000);
    expect(new StaleChecker(mem).checkAll(m2)).toEqual([]);
    // And NH_VA at the address removes the global entry for every ASID (§4.4.2.3): clean again.
    const m3 = new SmmuModel(mem, { trafficPerRound: 0 });
    for (const s of [1, 2]) m3.setStream({ ...model.streams.get(s)! });
    a.page(0x10_3000, va, 0x8000_0000, S1_GLOBAL);
    m3.translate(1, 0, va);
    a.clear(0x10_3000, 3, va);
    submit(m3, cmd('TLBI_NH_VA', { asid: 5, leaf: 1, addr: va }), SYNC());
    expect(new StaleChecker(mem).checkAll(m3)).toEqual([]);
  });
});

describe('the driver: global leaves refused, the tag flush’s leftover check counts them', () => {
  const smmus = [{ ril: true, ats: false, e2h: false, forceSync: false, queueLog2Size: 8 }];

  it('dmaMap / map with a global leaf on a stage-1 domain is refused', () => {
    const drv = new Driver({ smmus, granule: 4096, seed: 1 });
    const d = drv.createDomain('s1', 'linux');
    expect(() => drv.dmaMap(d, 0x4000, { ...RW, global: true })).toThrow(/global \(nG=0\) stage-1 leaves are refused/);
    expect(drv.dmaMap(d, 0x4000, RW)).not.toBeNull();
  });

  for (const policy of ['linux', 'tlbi'] as const)
    for (const global of [true, false])
      it(`${policy}: the last detach ${global ? 'reports the global entries left by NH_ASID' : 'leaves nothing'}`, () => {
        const drv = new Driver({ smmus, granule: 4096, seed: 1 });
        const m = drv.addMaster(0, [1], false);
        const a = drv.createDomain('s1', policy);
        drv.attach(m, a);
        const b = drv.dmaMap(a, 0x4000)!;
        // A deliberately wrong consumer writes global leaves into the domain's table behind the driver's back.
        const iova = 0x2000_0000;
        a.table.map(iova, b.pa, 0x4000, { ...RW, global });
        drv.ports[0]!.model.prefetch(1, 0, iova, iova + 0x3fff);
        drv.dmaAccess(m, 0, b, new Rng(1), 4);
        drv.detach(m);
        expect(drv.stale.count).toBe(global ? 4 : 0);
        if (global) expect(drv.stale.reports[0]!.entry.what).toContain(`S1_ASID ${a.tag}`);
      });
});
