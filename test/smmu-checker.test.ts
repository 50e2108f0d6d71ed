/**
 * Adversarial refills and the stale-translation checker: device traffic while invalidations are pending
 * refills caches from stale state, and the checker finds what is left after the SYNC.
 */
import { describe, expect, it } from 'vitest';
import { StaleChecker } from '../src/smmu/checker.js';
import { HandTable, S1_RW, SYNC, cmd, newModel, submit } from './smmu-fixtures.js';

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
  for (let i = 0; i < 4; i++) t.page(L3, VA + i * 0x1000, 0x8000_0000 + i * 0x1000, S1_RW);
  model.setStream({ sid: 1, mode: 'stage1', ats, vmid: 0, cds: new Map([[0, { asid: 5, table: t.cfg }]]) });
  model.prefetch(1, 0, VA, VA + 0x3fff);
  return { mem, model, t, checker: new StaleChecker(mem) };
}

describe('a stale TLB entry feeds the ATC', () => {
  it('ATC_INV completing before the TLBI (same batch) leaves a stale ATC entry', () => {
    const { model, t, checker } = setup(true);
    expect(model.atc.size).toBe(4);
    t.clear(L3, 3, VA + 0x1000);
    model.setTraffic([{ sid: 1, ssid: 0, first: VA + 0x1000, last: VA + 0x1fff }]);
    const cmds = [
      cmd('ATC_INV', { sid: 1, addr: VA + 0x1000 }),
      cmd('TLBI_NH_VA', { asid: 5, leaf: 1, addr: VA + 0x1000 }),
      SYNC(),
    ];
    submit(model, ...cmds);
    const stale = checker.checkChange(model, {
      stage: 1,
      root: ROOT,
      first: VA + 0x1000,
      last: VA + 0x1fff,
      commands: ['ATC_INV', 'TLBI_NH_VA', 'CMD_SYNC'],
    });
    expect(stale).toHaveLength(1);
    expect(stale[0]).toMatchObject({
      smmu: 0,
      cache: 'ATC',
      address: '0x40001000',
      cached: '0x80001000 rw',
      commands: ['ATC_INV', 'TLBI_NH_VA', 'CMD_SYNC'],
    });
    expect(stale[0]!.live).toMatch(/translation fault at level 3/);
  });

  it('TLBI, SYNC, ATC_INV, SYNC (the canonical order) leaves nothing stale', () => {
    const { model, t, checker } = setup(true);
    t.clear(L3, 3, VA + 0x1000);
    model.setTraffic([{ sid: 1, ssid: 0, first: VA + 0x1000, last: VA + 0x1fff }]);
    submit(
      model,
      cmd('TLBI_NH_VA', { asid: 5, leaf: 1, addr: VA + 0x1000 }),
      SYNC(),
      cmd('ATC_INV', { sid: 1, addr: VA + 0x1000 }),
      SYNC(),
    );
    expect(checker.checkChange(model, { stage: 1, root: ROOT, first: VA + 0x1000, last: VA + 0x1fff })).toEqual([]);
    expect(checker.checkAll(model)).toEqual([]);
  });
});

describe('a stale walk-cache entry leads into a freed and reused table frame', () => {
  it('Leaf=1 for a freed table keeps the walk entry; the checker reports it and the wrong refill', () => {
    const { model, t, checker } = setup(false);
    // Unmap all four pages: the level-3 table is freed (its level-2 descriptor cleared) …
    t.clear(L2, 2, VA);
    // … and the frame is reused at once for another region, holding a different mapping at index 0.
    t.table(L2, 2, VA + 0x20_0000, L3);
    for (let i = 0; i < 4; i++) t.clear(L3, 3, VA + i * 0x1000);
    t.page(L3, VA + 0x20_0000, 0x7777_0000, S1_RW);
    model.setTraffic([{ sid: 1, ssid: 0, first: VA, last: VA + 0x3fff }]);
    // Wrong: leaf-only invalidation of a change that cleared a table descriptor.
    submit(model, cmd('TLBI_NH_VA', { asid: 5, leaf: 1, tg: 1, ttl: 3, num: 3, addr: VA }), SYNC());
    const stale = checker.checkChange(model, { stage: 1, root: ROOT, first: VA, last: VA + 0x3fff });
    const caches = stale.map((s) => s.cache).sort();
    expect(caches).toContain('walk');
    expect(caches).toContain('TLB'); // refilled through the stale walk entry: VA → 0x7777_0000
    const tlb = stale.find((s) => s.cache === 'TLB')!;
    expect(tlb.cached).toMatch(/^0x77770000/);
    const walk = stale.find((s) => s.cache === 'walk')!;
    expect(walk.entry).toMatchObject({ level: 2, next: '0x103000' });
    expect(walk.live).toMatch(/translation fault at level 2/);
  });

  it('Leaf=0 removes the walk entry and nothing is stale', () => {
    const { model, t, checker } = setup(false);
    t.clear(L2, 2, VA);
    t.table(L2, 2, VA + 0x20_0000, L3);
    for (let i = 0; i < 4; i++) t.clear(L3, 3, VA + i * 0x1000);
    t.page(L3, VA + 0x20_0000, 0x7777_0000, S1_RW);
    model.setTraffic([{ sid: 1, ssid: 0, first: VA, last: VA + 0x3fff }]);
    submit(model, cmd('TLBI_NH_VA', { asid: 5, leaf: 0, tg: 1, ttl: 0, num: 3, addr: VA }), SYNC());
    expect(checker.checkChange(model, { stage: 1, root: ROOT, first: VA, last: VA + 0x3fff })).toEqual([]);
    expect(checker.checkAll(model)).toEqual([]);
  });
});

describe('the checker', () => {
  it('reports permission changes, not only unmapped addresses', () => {
    const { model, t, checker } = setup(false);
    t.page(L3, VA, 0x8000_0000, S1_RW | (1 << 7)); // now read-only
    const stale = checker.checkChange(model, { stage: 1, root: ROOT, first: VA, last: VA + 0xfff });
    expect(stale).toHaveLength(1);
    expect(stale[0]!.cached).toBe('0x80000000 rwx');
    expect(stale[0]!.live).toMatch(/^0x80000000 r-x/);
  });

  it('finds nothing when nothing changed', () => {
    const { model, checker } = setup(true);
    expect(checker.checkAll(model)).toEqual([]);
  });
});

describe('a cached block is checked against every live leaf under it', () => {
  // A 1 GiB level-1 block is cached; the live table then splits it into 262,144 pages (512 level-3 tables),
  // all with the block's output and attributes except, in the faulty twin, one page far past the first 1024.
  // A split with identical output is legal without invalidation; a split that changes one page is not, and
  // the cached block still translates that page to its old output (IHI 0070 §16.2: a TLB entry stays until
  // an invalidation matching it), so the checker must find it wherever it is in the block.
  const BLOCK_VA = 0x4000_0000;
  const BLOCK_PA = 0x8000_0000;
  const L2S = 0x20_0000;
  const L3S = 0x30_0000;
  function splitBlock(changedPage: number | null) {
    const { mem, model } = newModel({ trafficPerRound: 0 });
    const t = new HandTable(mem, ROOT);
    t.table(ROOT, 0, BLOCK_VA, L1);
    t.block(L1, 1, BLOCK_VA, BLOCK_PA, S1_RW);
    model.setStream({ sid: 1, mode: 'stage1', ats: false, vmid: 0, cds: new Map([[0, { asid: 5, table: t.cfg }]]) });
    model.prefetch(1, 0, BLOCK_VA, BLOCK_VA + 0xfff);
    t.table(L1, 1, BLOCK_VA, L2S);
    for (let j = 0; j < 512; j++) {
      const l3 = L3S + j * 0x1000;
      t.table(L2S, 2, BLOCK_VA + j * 0x20_0000, l3);
      for (let i = 0; i < 512; i++) {
        const off = j * 0x20_0000 + i * 0x1000;
        const moved = changedPage !== null && off === changedPage * 0x1000;
        t.page(l3, BLOCK_VA + off, moved ? 0x1_2345_6000 : BLOCK_PA + off, S1_RW);
      }
    }
    return { model, checker: new StaleChecker(mem) };
  }

  it('reports a changed page at piece 200,000 of the block', () => {
    const { model, checker } = splitBlock(200_000);
    const stale = checker.checkAll(model).filter((s) => s.cache === 'TLB');
    expect(stale).toHaveLength(1);
    expect(stale[0]).toMatchObject({ address: '0x70d40000', cached: '0xb0d40000 rwx' });
    expect(stale[0]!.live).toMatch(/^0x123456000 rw/);
  });

  it('clean twin: the same split with every page identical to the block is not stale', () => {
    const { model, checker } = splitBlock(null);
    expect(checker.checkAll(model)).toEqual([]);
  });
});
