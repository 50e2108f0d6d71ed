/**
 * What each invalidation command removes from each kind of cached entry — and, as importantly, what the
 * architecture does not require it to remove (the model keeps those: it is adversarial).
 */
import { describe, expect, it } from 'vitest';
import { FrameAllocator, IoPageTable, PhysMemory } from '../src/pgtable/index.js';
import { Kind, Regime, type TlbEntry, type WalkEntry } from '../src/smmu/caches.js';
import { SmmuModel } from '../src/smmu/model.js';
import { StaleChecker } from '../src/smmu/checker.js';
import { HandTable, S1_GLOBAL, S1_RW, S2_RW, SYNC, cmd, newModel, submit } from './smmu-fixtures.js';

const ROOT = 0x10_0000;
const L1 = 0x10_1000;
const L2 = 0x10_2000;
const L3 = 0x10_3000;
const PAGES = 0x4000_0000; // 4 non-global pages + 1 global page
const BLOCK = 0x4020_0000; // a 2 MiB block in the same level-2 table

/** A stage-1 scene: sid 1 with ASID 5 (ssid 0) and ASID 6 (ssid 1) on the same table; everything translated once. */
function scene(opts: Parameters<typeof newModel>[0] = {}): { mem: PhysMemory; model: SmmuModel; t: HandTable } {
  const { mem, model } = newModel(opts);
  const t = new HandTable(mem, ROOT);
  t.table(ROOT, 0, PAGES, L1);
  t.table(L1, 1, PAGES, L2);
  t.table(L2, 2, PAGES, L3);
  for (let i = 0; i < 4; i++) t.page(L3, PAGES + i * 0x1000, 0x8000_0000 + i * 0x1000, S1_RW);
  t.page(L3, PAGES + 0x4000, 0x8000_4000, S1_GLOBAL);
  t.block(L2, 2, BLOCK, 0x9000_0000, S1_RW);
  model.setStream({
    sid: 1,
    mode: 'stage1',
    ats: false,
    vmid: 0,
    cds: new Map([
      [0, { asid: 5, table: t.cfg }],
      [1, { asid: 6, table: t.cfg }],
    ]),
  });
  for (let i = 0; i < 5; i++) expect(model.translate(1, 0, PAGES + i * 0x1000)).toBeGreaterThan(0);
  expect(model.translate(1, 0, BLOCK + 0x1234)).toBe(0x9000_1234);
  return { mem, model, t };
}

const leafAt = (m: SmmuModel, va: number): TlbEntry[] =>
  m.tlb.all.filter((e) => e.inStart <= va && va < e.inStart + 2 ** e.sizeLog2);
const walkLevels = (m: SmmuModel): number[] => m.walkCache.all.map((e: WalkEntry) => e.level).sort();

describe('the scene', () => {
  it('caches five page entries, one block entry and three table descriptors', () => {
    const { model } = scene();
    expect(model.tlb.size).toBe(6);
    expect(leafAt(model, BLOCK)[0]!.level).toBe(2);
    expect(walkLevels(model)).toEqual([0, 1, 2]);
    expect(leafAt(model, PAGES + 0x4000)[0]!.asid).toBe(-1); // global
  });
});

describe('TLBI_NH_VA', () => {
  it('TG=0, Leaf=1: removes the leaf containing the address, keeps the walk cache', () => {
    const { model } = scene();
    submit(model, cmd('TLBI_NH_VA', { asid: 5, leaf: 1, addr: PAGES + 0x1000 }), SYNC());
    expect(leafAt(model, PAGES + 0x1000)).toHaveLength(0);
    expect(model.tlb.size).toBe(5);
    expect(walkLevels(model)).toEqual([0, 1, 2]);
  });

  it('TG=0, Leaf=0: also removes every table entry on the walk of that address', () => {
    const { model } = scene();
    submit(model, cmd('TLBI_NH_VA', { asid: 5, leaf: 0, addr: PAGES + 0x1000 }), SYNC());
    expect(leafAt(model, PAGES + 0x1000)).toHaveLength(0);
    expect(walkLevels(model)).toEqual([]);
  });

  it('TG=0 ignores the low bits and takes entries of any size containing the address', () => {
    const { model } = scene();
    submit(model, cmd('TLBI_NH_VA', { asid: 5, leaf: 1, addr: BLOCK + 0x1f_f000 }), SYNC());
    expect(leafAt(model, BLOCK)).toHaveLength(0);
  });

  it('TTL=2, Leaf=1 over 4 MiB: removes the level-2 block, keeps level-3 pages and the walk cache', () => {
    const { model } = scene();
    // 4 MiB from PAGES: NUM=0, SCALE=10 → 1024 pages.
    submit(model, cmd('TLBI_NH_VA', { asid: 5, leaf: 1, tg: 1, ttl: 2, scale: 10, num: 0, addr: PAGES }), SYNC());
    expect(leafAt(model, BLOCK)).toHaveLength(0);
    expect(model.tlb.size).toBe(5);
    expect(walkLevels(model)).toEqual([0, 1, 2]);
  });

  it('TTL=2, Leaf=0: removes level-2 leaves and tables at levels 0-1, not the level-2 table entry nor level-3 leaves', () => {
    const { model } = scene();
    submit(model, cmd('TLBI_NH_VA', { asid: 5, leaf: 0, tg: 1, ttl: 2, scale: 10, num: 0, addr: PAGES }), SYNC());
    expect(leafAt(model, BLOCK)).toHaveLength(0);
    expect(model.tlb.size).toBe(5);
    expect(walkLevels(model)).toEqual([2]);
  });

  it('a base misaligned for the TTL hint (TTL=2, not 2 MiB aligned) gives an UNPREDICTABLE range: nothing is removed', () => {
    const { model } = scene();
    submit(
      model,
      cmd('TLBI_NH_VA', { asid: 5, leaf: 0, tg: 1, ttl: 2, scale: 10, num: 0, addr: PAGES + 0x1000 }),
      SYNC(),
    );
    expect(model.tlb.size).toBe(6);
    expect(walkLevels(model)).toEqual([0, 1, 2]);
  });

  it('TTL=3, Leaf=0 is not trusted to remove a block (the bug Linux 6833b8f2e199 fixed)', () => {
    const { model } = scene();
    submit(model, cmd('TLBI_NH_VA', { asid: 5, leaf: 0, tg: 1, ttl: 3, scale: 10, num: 0, addr: PAGES }), SYNC());
    expect(leafAt(model, BLOCK)).toHaveLength(1);
    expect(leafAt(model, PAGES)).toHaveLength(0);
    expect(walkLevels(model)).toEqual([]);
  });

  it('TTL=0 with TG=1: leaves of every level and (Leaf=0) tables of every level in the range', () => {
    const { model } = scene();
    submit(model, cmd('TLBI_NH_VA', { asid: 5, leaf: 0, tg: 1, ttl: 0, scale: 10, num: 0, addr: PAGES }), SYNC());
    expect(model.tlb.size).toBe(0);
    expect(walkLevels(model)).toEqual([]);
  });

  it('TG=2 (16K) guarantees nothing for entries inserted with the 4K granule', () => {
    const { model } = scene();
    submit(model, cmd('TLBI_NH_VA', { asid: 5, leaf: 0, tg: 2, ttl: 0, scale: 8, num: 0, addr: PAGES }), SYNC());
    expect(model.tlb.size).toBe(6);
    expect(walkLevels(model)).toEqual([0, 1, 2]);
  });

  it('the range ends where NUM/SCALE say: one page past it survives', () => {
    const { model } = scene();
    // 3 pages from PAGES: NUM=2, SCALE=0, TTL=3.
    submit(model, cmd('TLBI_NH_VA', { asid: 5, leaf: 1, tg: 1, ttl: 3, num: 2, addr: PAGES }), SYNC());
    expect(leafAt(model, PAGES + 0x2000)).toHaveLength(0);
    expect(leafAt(model, PAGES + 0x3000)).toHaveLength(1);
  });

  it('under another ASID it removes global entries only', () => {
    const { model } = scene();
    submit(model, cmd('TLBI_NH_VA', { asid: 6, leaf: 1, tg: 1, ttl: 3, num: 4, addr: PAGES }), SYNC());
    expect(leafAt(model, PAGES + 0x4000)).toHaveLength(0);
    expect(leafAt(model, PAGES)).toHaveLength(1);
  });
});

describe('whole-tag and ASID-wide commands', () => {
  it('NH_ASID keeps global entries; NH_VAA removes every ASID and the globals', () => {
    const { model } = scene();
    submit(model, cmd('TLBI_NH_ASID', { asid: 5 }), SYNC());
    expect(model.tlb.all.map((e) => e.asid)).toEqual([-1]);
    expect(walkLevels(model)).toEqual([]);
    const s2 = scene().model;
    submit(s2, cmd('TLBI_NH_VAA', { leaf: 1, tg: 1, ttl: 3, num: 4, addr: PAGES }), SYNC());
    expect(s2.tlb.size).toBe(1); // only the block (level 2) is outside TTL=3
  });

  it('NH_ALL removes one VMID only (stage-1 entries tagged with that VMID)', () => {
    const { model, t } = scene();
    model.setStream({ sid: 2, mode: 'stage1', ats: false, vmid: 3, cds: new Map([[0, { asid: 5, table: t.cfg }]]) });
    model.translate(2, 0, PAGES);
    submit(model, cmd('TLBI_NH_ALL', { vmid: 0 }), SYNC());
    expect(model.tlb.all.map((e) => e.vmid)).toEqual([3]);
    expect(model.walkCache.all.every((e) => e.vmid === 3)).toBe(true);
    submit(model, cmd('TLBI_NSNH_ALL'), SYNC());
    expect(model.tlb.size + model.walkCache.size).toBe(0);
  });
});

describe('deferred completion', () => {
  it('an invalidation takes effect only when a later CMD_SYNC completes', () => {
    const { model } = scene();
    submit(model, cmd('TLBI_NH_ASID', { asid: 5 }));
    expect(model.queue.empty).toBe(true); // consumed …
    expect(model.tlb.size).toBe(6); // … but not guaranteed yet
    submit(model, SYNC());
    expect(model.tlb.size).toBe(1);
  });

  it('generous mode applies at once and over-invalidates (ignores TG, TTL and Leaf)', () => {
    const { model } = scene({ mode: 'generous' });
    submit(model, cmd('TLBI_NH_VA', { asid: 5, leaf: 1, tg: 2, ttl: 3, scale: 8, num: 0, addr: PAGES }));
    expect(model.tlb.all.map((e) => e.asid)).toEqual([]);
    expect(walkLevels(model)).toEqual([]);
  });
});

describe('EL2 regimes', () => {
  function el2(e2h: boolean): SmmuModel {
    const { mem, model } = newModel({ e2h });
    const t = new HandTable(mem, ROOT);
    t.table(ROOT, 0, PAGES, L1);
    t.table(L1, 1, PAGES, L2);
    t.table(L2, 2, PAGES, L3);
    t.page(L3, PAGES, 0x8000_0000, S1_RW);
    model.setStream({
      sid: 7,
      mode: 'stage1',
      ats: false,
      vmid: 0,
      regime: e2h ? 'el2-e2h' : 'el2',
      cds: new Map([[0, { asid: 9, table: t.cfg }]]),
    });
    model.translate(7, 0, PAGES);
    return model;
  }

  it('NH commands leave EL2 entries alone; EL2_VA with the ASID removes them under E2H', () => {
    const m = el2(true);
    submit(m, cmd('TLBI_NSNH_ALL'), cmd('TLBI_NH_VAA', { addr: PAGES }), SYNC());
    expect(m.tlb.size).toBe(1);
    expect(m.tlb.all[0]!.regime).toBe(Regime.EL2_E2H);
    submit(m, cmd('TLBI_EL2_VA', { asid: 8, leaf: 1, addr: PAGES }), SYNC());
    expect(m.tlb.size).toBe(1); // other ASID
    submit(m, cmd('TLBI_EL2_VA', { asid: 9, leaf: 1, addr: PAGES }), SYNC());
    expect(m.tlb.size).toBe(0);
  });

  it('without E2H, EL2_VA ignores its ASID and EL2_ASID removes nothing', () => {
    const m = el2(false);
    submit(m, cmd('TLBI_EL2_ASID', { asid: 9 }), SYNC());
    expect(m.tlb.size).toBe(1);
    submit(m, cmd('TLBI_EL2_VA', { asid: 1, leaf: 1, addr: PAGES }), SYNC());
    expect(m.tlb.size).toBe(0);
  });
});

describe('nested stage 1 + stage 2', () => {
  /** VA 0x1000_0000 → IPA 0x2000_0000 (4 pages) → PA 0x3000_0000 (a 2M stage-2 block); S1 tables identity-mapped by stage 2. */
  function nested(): { model: SmmuModel; s1: IoPageTable; s2: IoPageTable } {
    const mem = new PhysMemory();
    const s2 = new IoPageTable({
      stage: 2,
      granule: 4096,
      ias: 48,
      memory: mem,
      allocator: new FrameAllocator(4096, 0x400_0000, 0x100_0000),
    });
    const s1 = new IoPageTable({
      stage: 1,
      granule: 4096,
      ias: 48,
      memory: mem,
      allocator: new FrameAllocator(4096, 0x100_0000, 0x100_0000),
    });
    s2.map(0x100_0000, 0x100_0000, 0x100_0000, { read: true, write: true, exec: false });
    s2.map(0x2000_0000, 0x3000_0000, 0x20_0000, { read: true, write: true, exec: false });
    s1.map(0x1000_0000, 0x2000_0000, 0x4000, { read: true, write: true, exec: false });
    const model = new SmmuModel(mem, { trafficPerRound: 0 });
    const c = (t: IoPageTable, stage: 1 | 2) => ({ root: t.config.rootPa, granuleLog2: 12, ias: 48, stage });
    model.setStream({
      sid: 3,
      mode: 'nested',
      ats: false,
      vmid: 4,
      s2: c(s2, 2),
      cds: new Map([[0, { asid: 1, table: c(s1, 1) }]]),
    });
    for (let i = 0; i < 4; i++) expect(model.translate(3, 0, 0x1000_0000 + i * 0x1000)).toBe(0x3000_0000 + i * 0x1000);
    return { model, s1, s2 };
  }
  const kinds = (m: SmmuModel): number[] => m.tlb.all.map((e) => e.kind);

  it('caches combined entries plus stage-2 entries for the table addresses and the output', () => {
    const { model } = nested();
    expect(kinds(model).filter((k) => k === Kind.NESTED)).toHaveLength(4);
    expect(kinds(model).filter((k) => k === Kind.S2).length).toBeGreaterThan(0);
  });

  it('S2_IPA removes stage-2 entries but not combined ones; NH_ALL after it does', () => {
    const { model, s2 } = nested();
    s2.unmap(0x2000_0000, 0x20_0000);
    submit(model, cmd('TLBI_S2_IPA', { vmid: 4, leaf: 1, tg: 1, ttl: 2, scale: 9, addr: 0x2000_0000 }), SYNC());
    expect(kinds(model).filter((k) => k === Kind.NESTED)).toHaveLength(4);
    const checker = new StaleChecker(model.mem);
    const stale = checker.checkChange(model, {
      stage: 2,
      root: s2.config.rootPa,
      first: 0x2000_0000,
      last: 0x201f_ffff,
    });
    expect(stale).toHaveLength(4);
    expect(stale[0]!.live).toMatch(/translation fault/);
    submit(model, cmd('TLBI_NH_ALL', { vmid: 4 }), SYNC());
    expect(kinds(model).filter((k) => k === Kind.NESTED)).toHaveLength(0);
    expect(
      checker.checkChange(model, { stage: 2, root: s2.config.rootPa, first: 0x2000_0000, last: 0x201f_ffff }),
    ).toEqual([]);
  });

  it('TLBI by VA of any address in a stage-1 block removes the entries stage 2 splintered it into', () => {
    const mem = new PhysMemory();
    const s2 = new IoPageTable({
      stage: 2,
      granule: 4096,
      ias: 48,
      memory: mem,
      allocator: new FrameAllocator(4096, 0x400_0000, 0x100_0000),
    });
    const s1 = new IoPageTable({
      stage: 1,
      granule: 4096,
      ias: 48,
      memory: mem,
      allocator: new FrameAllocator(4096, 0x100_0000, 0x100_0000),
    });
    s2.map(0x100_0000, 0x100_0000, 0x100_0000, { read: true, write: true, exec: false });
    s2.map(0x2000_0000, 0x3000_1000 - 0x1000, 0x20_0000, { read: true, write: true, exec: false }); // blocks
    s2.unmap(0x2000_0000, 0x20_0000);
    s2.map(0x2000_0000, 0x3000_1000, 0x20_0000, { read: true, write: true, exec: false }); // now 4K pages
    s1.map(0x1000_0000, 0x2000_0000, 0x20_0000, { read: true, write: true, exec: false }); // a 2 MiB stage-1 block
    const model = new SmmuModel(mem, { trafficPerRound: 0 });
    const c = (t: IoPageTable, stage: 1 | 2) => ({ root: t.config.rootPa, granuleLog2: 12, ias: 48, stage });
    model.setStream({
      sid: 3,
      mode: 'nested',
      ats: false,
      vmid: 4,
      s2: c(s2, 2),
      cds: new Map([[0, { asid: 1, table: c(s1, 1) }]]),
    });
    for (const off of [0, 0x5000, 0x1f_f000]) expect(model.translate(3, 0, 0x1000_0000 + off)).toBe(0x3000_1000 + off);
    const combined = (): TlbEntry[] => model.tlb.all.filter((e) => e.kind === Kind.NESTED);
    expect(combined().map((e) => e.sizeLog2)).toEqual([12, 12, 12]);
    submit(model, cmd('TLBI_NH_VA', { vmid: 4, asid: 1, leaf: 1, addr: 0x1020_0000 }), SYNC()); // outside the block
    expect(combined()).toHaveLength(3);
    submit(model, cmd('TLBI_NH_VA', { vmid: 4, asid: 1, leaf: 1, addr: 0x1000_0000 }), SYNC());
    expect(combined()).toHaveLength(0);
  });

  it('S12_VMALL removes every stage of the VMID at once', () => {
    const { model } = nested();
    submit(model, cmd('TLBI_S12_VMALL', { vmid: 5 }), SYNC());
    expect(model.tlb.size).toBeGreaterThan(0);
    submit(model, cmd('TLBI_S12_VMALL', { vmid: 4 }), SYNC());
    expect(model.tlb.size + model.walkCache.size).toBe(0);
  });
});

describe('ATC_INV', () => {
  function ats(): SmmuModel {
    const { model } = scene();
    const st = model.streams.get(1)!;
    model.setStream({ ...st, ats: true });
    for (let i = 0; i < 5; i++) {
      model.translate(1, 0, PAGES + i * 0x1000);
      model.translate(1, 1, PAGES + i * 0x1000);
    }
    return model;
  }

  it('takes a naturally aligned span: Address low bits are ignored', () => {
    const m = ats();
    expect(m.atc.size).toBe(10);
    // Size 1 = 8 KiB; address 0x...3000 aligns down to 0x...2000: pages 2 and 3, both SSIDs (SSV=0).
    submit(m, cmd('ATC_INV', { sid: 1, size: 1, addr: PAGES + 0x3000 }), SYNC());
    expect(m.atc.all.map((e) => (e.page - PAGES) / 0x1000).sort()).toEqual([0, 0, 1, 1, 4, 4]);
  });

  it('with SSV=1 removes one SubstreamID only; Size 52 covers everything', () => {
    const m = ats();
    submit(m, cmd('ATC_INV', { sid: 1, ssv: 1, ssid: 1, size: 52 }), SYNC());
    expect(m.atc.all.every((e) => e.ssid === 0)).toBe(true);
    expect(m.atc.size).toBe(5);
    submit(m, cmd('ATC_INV', { sid: 2, size: 52 }), SYNC());
    expect(m.atc.size).toBe(5);
  });
});

describe('stage 2 only', () => {
  /** IPA 0x4000_0000.. (4 pages) under VMID 2, hand-written stage-2 descriptors. */
  function s2scene(): SmmuModel {
    const { mem, model } = newModel();
    const t = new HandTable(mem, ROOT, 12, 48, 2);
    t.table(ROOT, 0, PAGES, L1);
    t.table(L1, 1, PAGES, L2);
    t.table(L2, 2, PAGES, L3);
    for (let i = 0; i < 4; i++) t.page(L3, PAGES + i * 0x1000, 0x8000_0000 + i * 0x1000, S2_RW);
    model.setStream({ sid: 9, mode: 'stage2', ats: false, vmid: 2, s2: t.cfg });
    for (let i = 0; i < 4; i++) expect(model.translate(9, 0, PAGES + i * 0x1000, true)).toBe(0x8000_0000 + i * 0x1000);
    return model;
  }

  it('S2_IPA with Leaf=1 keeps the stage-2 walk cache; Leaf=0 removes it; other VMIDs are untouched', () => {
    const m = s2scene();
    submit(m, cmd('TLBI_S2_IPA', { vmid: 3, leaf: 0, addr: PAGES }), SYNC());
    expect(m.tlb.size).toBe(4);
    submit(m, cmd('TLBI_S2_IPA', { vmid: 2, leaf: 1, tg: 1, ttl: 3, num: 1, addr: PAGES }), SYNC());
    expect(m.tlb.size).toBe(2);
    expect(walkLevels(m)).toEqual([0, 1, 2]);
    submit(m, cmd('TLBI_S2_IPA', { vmid: 2, leaf: 0, tg: 1, ttl: 0, num: 1, addr: PAGES + 0x2000 }), SYNC());
    expect(m.tlb.size).toBe(0);
    expect(walkLevels(m)).toEqual([]);
  });

  it('stage-1 commands do not touch stage-2 entries; S12_VMALL does', () => {
    const m = s2scene();
    submit(m, cmd('TLBI_NH_ALL', { vmid: 2 }), cmd('TLBI_NH_VAA', { vmid: 2, addr: PAGES }), SYNC());
    expect(m.tlb.size).toBe(4);
    submit(m, cmd('TLBI_S12_VMALL', { vmid: 2 }), SYNC());
    expect(m.tlb.size + m.walkCache.size).toBe(0);
  });

  it('configuration invalidations and prefetches leave every translation cache alone', () => {
    const m = s2scene();
    submit(
      m,
      cmd('CFGI_STE', { sid: 9 }),
      cmd('CFGI_STE_RANGE', { range: 31 }),
      cmd('PREFETCH_CONFIG', { sid: 9 }),
      SYNC(),
    );
    expect(m.tlb.size).toBe(4);
    expect(walkLevels(m)).toEqual([0, 1, 2]);
  });
});

describe('EL2_ALL and EL2_VAA', () => {
  it('remove every entry of the current EL2 regime, whatever the ASID', () => {
    const { mem, model } = newModel({ e2h: true });
    const t = new HandTable(mem, ROOT);
    t.table(ROOT, 0, PAGES, L1);
    t.table(L1, 1, PAGES, L2);
    t.table(L2, 2, PAGES, L3);
    t.page(L3, PAGES, 0x8000_0000, S1_RW);
    const cds = new Map([
      [0, { asid: 1, table: t.cfg }],
      [1, { asid: 2, table: t.cfg }],
    ]);
    model.setStream({ sid: 7, mode: 'stage1', ats: false, vmid: 0, regime: 'el2-e2h', cds });
    model.translate(7, 0, PAGES);
    model.translate(7, 1, PAGES);
    expect(model.tlb.size).toBe(2);
    submit(model, cmd('TLBI_EL2_VAA', { leaf: 1, addr: PAGES }), SYNC());
    expect(model.tlb.size).toBe(0);
    model.translate(7, 0, PAGES);
    submit(model, cmd('TLBI_EL2_ALL'), SYNC());
    expect(model.tlb.size + model.walkCache.size).toBe(0);
  });
});
