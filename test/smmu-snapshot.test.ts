/**
 * Read-only snapshots of the model's caches: the entries the model caches when it translates known addresses
 * through hand-built tables are listed with exactly the fields those tables imply, a range limits the listing
 * the way a plain overlap filter of the full listing does, the cap counts what it leaves out, taking a
 * snapshot changes nothing, and every stale report of the checker names exactly one listed row.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { hexAddr } from '../src/bits.js';
import { StaleChecker } from '../src/smmu/checker.js';
import type { SmmuModel } from '../src/smmu/model.js';
import { snapshotCaches, staleReportKey, type CacheSnapshot, type TlbRow } from '../src/smmu/snapshot.js';
import { HandTable, S1_GLOBAL, S1_RW, S2_RW, AP_RO, newModel, shiftOf } from './smmu-fixtures.js';

const ROOT = 0x10_0000;
const L1 = 0x10_1000;
const L2 = 0x10_2000;
const L3 = 0x10_3000;
const VA = 0x4000_0000; // four non-global pages (the last read-only) and one global page
const BLOCK = 0x4020_0000; // a 2 MiB block in the same level-2 table
const OUT = 0x8000_0000;

/** Stage 1, ASID 5: sid 1 without ATS, sid 2 with ATS (SubstreamID 0); every page and the block translated. */
function stage1Scene(opts: Parameters<typeof newModel>[0] = {}) {
  const { mem, model } = newModel(opts);
  const t = new HandTable(mem, ROOT);
  t.table(ROOT, 0, VA, L1);
  t.table(L1, 1, VA, L2);
  t.table(L2, 2, VA, L3);
  for (let i = 0; i < 3; i++) t.page(L3, VA + i * 0x1000, OUT + i * 0x1000, S1_RW);
  t.page(L3, VA + 0x3000, OUT + 0x3000, S1_RW | AP_RO);
  t.page(L3, VA + 0x4000, OUT + 0x4000, S1_GLOBAL);
  t.block(L2, 2, BLOCK, 0x9000_0000, S1_RW);
  const cds = new Map([[0, { asid: 5, table: t.cfg }]]);
  model.setStream({ sid: 1, mode: 'stage1', ats: false, vmid: 0, cds });
  model.setStream({ sid: 2, mode: 'stage1', ats: true, vmid: 0, cds });
  return { mem, model, t };
}

function translateAll(model: SmmuModel): void {
  for (let i = 0; i < 5; i++) expect(model.translate(1, 0, VA + i * 0x1000)).toBe(OUT + i * 0x1000);
  expect(model.translate(1, 0, BLOCK + 0x1234)).toBe(0x9000_1234);
  for (let i = 0; i < 2; i++) expect(model.translate(2, 0, VA + i * 0x1000)).toBe(OUT + i * 0x1000);
}

const GiB = 2 ** 30;

describe('snapshot of a stage-1 scene', () => {
  it('lists every TLB entry with its tag, level, granule, span, output and permissions', () => {
    const { model } = stage1Scene();
    translateAll(model);
    const snap = snapshotCaches(model);
    const page = (i: number, asid: number | 'global', perm: string): Partial<TlbRow> => ({
      kind: 'stage1',
      regime: 'NS-EL1',
      vmid: 0,
      asid,
      level: 3,
      granule: 4096,
      input: VA + i * 0x1000,
      size: 0x1000,
      output: OUT + i * 0x1000,
      perm,
      ipa: null,
      s2Level: null,
    });
    expect(snap.tlb.total).toBe(6);
    expect(snap.tlb.matching).toBe(6);
    expect(snap.tlb.entries).toMatchObject([
      page(0, 5, 'rwx'),
      page(1, 5, 'rwx'),
      page(2, 5, 'rwx'),
      page(3, 5, 'r-x'),
      page(4, 'global', 'rwx'),
      {
        kind: 'stage1',
        asid: 5,
        level: 2,
        granule: 4096,
        input: BLOCK,
        size: 2 ** 21,
        output: 0x9000_0000,
        perm: 'rwx',
      },
    ]);
    // Keys are unique within the cache and name the tag and span.
    expect(new Set(snap.tlb.entries.map((r) => r.key)).size).toBe(6);
    expect(snap.tlb.entries[4]!.key).toBe('TLB stage1 NS-EL1 vmid=0 asid=global 0x40004000+0x1000');
  });

  it('lists the walk cache: one table descriptor per level, with its span and next table', () => {
    const { model } = stage1Scene();
    translateAll(model);
    const w = snapshotCaches(model).walk;
    expect(w.entries.map((r) => [r.level, r.input, r.size, r.next, r.asid, r.kind, r.granule])).toEqual([
      [0, 0, 2 ** shiftOf(12, 0), L1, 5, 'stage1', 4096],
      [1, GiB, 2 ** shiftOf(12, 1), L2, 5, 'stage1', 4096],
      [2, VA, 2 ** shiftOf(12, 2), L3, 5, 'stage1', 4096],
    ]);
  });

  it('lists the ATC of the ATS stream: 4 KiB pages with SID, SSID, output and permissions', () => {
    const { model } = stage1Scene();
    translateAll(model);
    expect(snapshotCaches(model).atc.entries).toEqual([
      {
        key: 'ATC sid=2 ssid=0 0x40000000',
        sid: 2,
        ssid: 0,
        input: VA,
        size: 4096,
        output: OUT,
        perm: 'rw',
        ipa: null,
      },
      {
        key: 'ATC sid=2 ssid=0 0x40001000',
        sid: 2,
        ssid: 0,
        input: VA + 0x1000,
        size: 4096,
        output: OUT + 0x1000,
        perm: 'rw',
        ipa: null,
      },
    ]);
  });

  it('a range keeps the entries overlapping it; walk descriptors spanning it stay', () => {
    const { model } = stage1Scene();
    translateAll(model);
    const snap = snapshotCaches(model, { first: VA + 0x1800, last: VA + 0x2000 });
    expect(snap.range).toEqual({ first: VA + 0x1800, last: VA + 0x2000 });
    expect(snap.tlb.entries.map((r) => r.input)).toEqual([VA + 0x1000, VA + 0x2000]);
    expect(snap.tlb.total).toBe(6);
    expect(snap.walk.entries.map((r) => r.level)).toEqual([0, 1, 2]);
    expect(snap.atc.entries.map((r) => r.input)).toEqual([VA + 0x1000]);
    expect(snapshotCaches(model, { first: VA + 0x40_0000, last: VA + 0x40_0fff }).tlb.entries).toEqual([]);
  });

  it('the cap lists the first entries by address and counts the rest; pinned keys are listed past it', () => {
    const { model } = stage1Scene();
    translateAll(model);
    const all = snapshotCaches(model).tlb.entries;
    const capped = snapshotCaches(model, { limit: 2 });
    expect(capped.tlb.matching).toBe(6);
    expect(capped.tlb.entries).toEqual(all.slice(0, 2));
    const pinned = snapshotCaches(model, { limit: 2, pinned: new Set([all[5]!.key]) });
    expect(pinned.tlb.entries).toEqual([all[0], all[1], all[5]]);
  });

  it('rejects a half-given or inverted range and a negative cap', () => {
    const { model } = stage1Scene();
    expect(() => snapshotCaches(model, { first: 0 })).toThrow(/both first and last/);
    expect(() => snapshotCaches(model, { first: 10, last: 5 })).toThrow(/not a range/);
    expect(() => snapshotCaches(model, { limit: -1 })).toThrow(/limit/);
  });
});

describe('snapshot of a nested scene', () => {
  // Stage 2 (VMID 4): IPA [0, 2M) → PA identity (a block holding the stage-1 tables), IPA 0x5000_0000 + i pages →
  // PA 0x9000_0000 + i. Stage 1 (ASID 1): VA 0x4000_0000 + i → IPA 0x5000_0000 + i.
  const S2 = 0x20_0000;
  const S2L1 = 0x20_1000;
  const S2L2A = 0x20_2000;
  const S2L2B = 0x20_3000;
  const S2L3 = 0x20_4000;
  const IPA = 0x5000_0000;
  const PA = 0x9000_0000;
  function nestedScene() {
    const { mem, model } = newModel();
    const s2 = new HandTable(mem, S2, 12, 48, 2);
    s2.table(S2, 0, 0, S2L1);
    s2.table(S2L1, 1, 0, S2L2A);
    s2.block(S2L2A, 2, 0, 0, S2_RW);
    s2.table(S2L1, 1, IPA, S2L2B);
    s2.table(S2L2B, 2, IPA, S2L3);
    for (let i = 0; i < 3; i++) s2.page(S2L3, IPA + i * 0x1000, PA + i * 0x1000, S2_RW);
    const s1 = new HandTable(mem, ROOT);
    s1.table(ROOT, 0, VA, L1);
    s1.table(L1, 1, VA, L2);
    s1.table(L2, 2, VA, L3);
    for (let i = 0; i < 3; i++) s1.page(L3, VA + i * 0x1000, IPA + i * 0x1000, S1_RW);
    model.setStream({
      sid: 3,
      mode: 'nested',
      ats: true,
      vmid: 4,
      s2: s2.cfg,
      cds: new Map([[0, { asid: 1, table: s1.cfg }]]),
    });
    for (let i = 0; i < 3; i++) expect(model.translate(3, 0, VA + i * 0x1000)).toBe(PA + i * 0x1000);
    return model;
  }

  it('lists combined entries with their IPA and stage-2 level, and the stage-2 entries', () => {
    const snap = snapshotCaches(nestedScene());
    const rows = snap.tlb.entries.map((r) => [r.kind, r.input, r.size, r.output, r.ipa, r.level, r.s2Level, r.asid]);
    expect(rows).toEqual([
      ['stage2', 0, 2 ** 21, 0, null, 2, null, 0], // the block the stage-1 tables live in
      ['nested', VA, 0x1000, PA, IPA, 3, 3, 1],
      ['nested', VA + 0x1000, 0x1000, PA + 0x1000, IPA + 0x1000, 3, 3, 1],
      ['nested', VA + 0x2000, 0x1000, PA + 0x2000, IPA + 0x2000, 3, 3, 1],
      ['stage2', IPA, 0x1000, PA, null, 3, null, 0],
      ['stage2', IPA + 0x1000, 0x1000, PA + 0x1000, null, 3, null, 0],
      ['stage2', IPA + 0x2000, 0x1000, PA + 0x2000, null, 3, null, 0],
    ]);
    expect(snap.tlb.entries.every((r) => r.vmid === 4)).toBe(true);
    const walks = snap.walk.entries.map((r) => [r.kind, r.level, r.input, r.next]);
    expect(walks).toEqual([
      ['nested', 0, 0, L1],
      ['stage2', 0, 0, S2L1],
      ['stage2', 1, 0, S2L2A],
      ['nested', 1, GiB, L2],
      ['stage2', 1, GiB, S2L2B],
      ['nested', 2, VA, L3],
      ['stage2', 2, IPA, S2L3],
    ]);
    expect(snap.atc.entries.map((r) => [r.sid, r.input, r.output, r.ipa])).toEqual([
      [3, VA, PA, IPA],
      [3, VA + 0x1000, PA + 0x1000, IPA + 0x1000],
      [3, VA + 0x2000, PA + 0x2000, IPA + 0x2000],
    ]);
  });

  it('viaIpa also keeps the entries whose IPA overlaps the range (what a stage-2 change reaches)', () => {
    const model = nestedScene();
    const range = { first: IPA + 0x1000, last: IPA + 0x1fff };
    const byInput = snapshotCaches(model, range);
    expect(byInput.tlb.entries.map((r) => [r.kind, r.input])).toEqual([['stage2', IPA + 0x1000]]);
    expect(byInput.atc.entries).toEqual([]);
    const byIpa = snapshotCaches(model, { ...range, viaIpa: true });
    expect(byIpa.tlb.entries.map((r) => [r.kind, r.input])).toEqual([
      ['nested', VA + 0x1000],
      ['stage2', IPA + 0x1000],
    ]);
    expect(byIpa.atc.entries.map((r) => r.input)).toEqual([VA + 0x1000]);
  });
});

describe('a snapshot is read-only', () => {
  it('two models fed the same translations end the same whether or not one was snapshotted in between', () => {
    // A tiny TLB and ATC: every fill past the third evicts a randomly drawn entry, so any random draw or
    // reordering a snapshot made would change what is evicted later.
    const opts = { tlbCapacity: 3, atcCapacity: 2, walkCapacity: 2, seed: 9 };
    const a = stage1Scene(opts).model;
    const b = stage1Scene(opts).model;
    const order = [0, 4, 1, 3, 2, 0, 4, 3, 1, 2, 4, 0];
    for (const [k, i] of order.entries()) {
      const sid = k % 3 === 0 ? 2 : 1;
      a.translate(sid, 0, VA + i * 0x1000);
      snapshotCaches(a, k % 2 === 0 ? {} : { first: VA, last: VA + 0x2fff, limit: 1 });
      b.translate(sid, 0, VA + i * 0x1000);
    }
    expect(snapshotCaches(a)).toEqual(snapshotCaches(b));
    expect(a.stats).toEqual(b.stats);
    expect([a.tlb.fills, a.tlb.evicted, a.atc.fills, a.atc.evicted]).toEqual([
      b.tlb.fills,
      b.tlb.evicted,
      b.atc.fills,
      b.atc.evicted,
    ]);
    expect(a.rng.below(1_000_000)).toBe(b.rng.below(1_000_000));
  });
});

describe('a range listing equals an overlap filter of the full listing', () => {
  const overlaps = (r: { input: number; size: number }, first: number, last: number): boolean =>
    r.input <= last && r.input + r.size - 1 >= first;

  it('for random translations and ranges (pages, blocks, globals, an ATC)', () => {
    // 64 pages under VA plus 2 MiB blocks above: translate a random subset, then list random ranges.
    const { model, t } = stage1Scene();
    for (let i = 5; i < 64; i++) t.page(L3, VA + i * 0x1000, OUT + i * 0x1000, i % 7 === 0 ? S1_GLOBAL : S1_RW);
    for (let b = 2; b < 6; b++) t.block(L2, 2, VA + b * 2 ** 21, 0xa000_0000 + b * 2 ** 21, S1_RW);
    const full = snapshotCaches(model);
    expect(full.tlb.entries).toEqual([]);
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: 0, max: 6 * 512 - 1 }), fc.boolean()), { maxLength: 40 }),
        fc.integer({ min: 0, max: 6 * 2 ** 21 }),
        fc.integer({ min: 0, max: 2 ** 22 }),
        (pages, start, len) => {
          model.tlb.clear();
          model.walkCache.clear();
          model.atc.clear();
          for (const [p, ats] of pages) model.translate(ats ? 2 : 1, 0, VA + p * 0x1000);
          const first = VA + start;
          const last = first + len;
          const all = snapshotCaches(model);
          const part = snapshotCaches(model, { first, last });
          expect(part.tlb.entries).toEqual(all.tlb.entries.filter((r) => overlaps(r, first, last)));
          expect(part.walk.entries).toEqual(all.walk.entries.filter((r) => overlaps(r, first, last)));
          expect(part.atc.entries).toEqual(all.atc.entries.filter((r) => overlaps(r, first, last)));
          expect(part.tlb.total).toBe(model.tlb.size);
        },
      ),
      { numRuns: 150 },
    );
  });
});

describe('stale reports name listed rows', () => {
  function keysOf(s: CacheSnapshot): Map<string, number> {
    const m = new Map<string, number>();
    for (const r of [...s.tlb.entries, ...s.walk.entries, ...s.atc.entries]) m.set(r.key, (m.get(r.key) ?? 0) + 1);
    return m;
  }

  function expectNamed(reports: ReturnType<StaleChecker['checkChange']>, snap: CacheSnapshot): void {
    const keys = keysOf(snap);
    const rows = [...snap.tlb.entries, ...snap.walk.entries, ...snap.atc.entries];
    for (const r of reports) {
      const k = staleReportKey(r);
      expect(keys.get(k), k).toBe(1);
      // The report's address lies in the named row's span.
      const row = rows.find((x) => x.key === k)!;
      const addr = Number(r.address);
      expect(addr).toBeGreaterThanOrEqual(row.input);
      expect(addr).toBeLessThan(row.input + row.size);
    }
  }

  it('a page unmapped without invalidation: its TLB row and its ATC row', () => {
    const { mem, model, t } = stage1Scene();
    translateAll(model);
    t.clear(L3, 3, VA + 0x1000);
    const reports = new StaleChecker(mem).checkChange(model, {
      stage: 1,
      root: ROOT,
      first: VA + 0x1000,
      last: VA + 0x1fff,
    });
    expect(reports.map((r) => [r.cache, r.address]).sort()).toEqual([
      ['ATC', hexAddr(VA + 0x1000)],
      ['TLB', hexAddr(VA + 0x1000)],
    ]);
    expectNamed(reports, snapshotCaches(model));
    expect(reports.map(staleReportKey).sort()).toEqual([
      `ATC sid=2 ssid=0 ${hexAddr(VA + 0x1000)}`,
      `TLB stage1 NS-EL1 vmid=0 asid=5 ${hexAddr(VA + 0x1000)}+0x1000`,
    ]);
  });

  it('a level-2 table freed without invalidation: its walk rows (and every leaf under it)', () => {
    const { mem, model, t } = stage1Scene();
    translateAll(model);
    t.clear(L1, 1, VA);
    const reports = new StaleChecker(mem).checkChange(model, { stage: 1, root: ROOT, first: GiB, last: 2 * GiB - 1 });
    expect(reports.filter((r) => r.cache === 'walk').map(staleReportKey)).toEqual(
      expect.arrayContaining([`walk stage1 NS-EL1 vmid=0 asid=5 ${hexAddr(GiB)}+${hexAddr(GiB)}`]),
    );
    expect(reports.filter((r) => r.cache === 'TLB')).toHaveLength(6);
    expectNamed(reports, snapshotCaches(model));
  });
});
