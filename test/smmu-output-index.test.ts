/**
 * The caches' index by output address (src/smmu/output-index.ts), asked for by the pKVM isolation check:
 * after random fills, evictions, invalidations and clears it must return exactly the entries a scan of
 * every entry finds — for TLB entries of every size (and one whose output is not aligned to its span) and
 * for ATC pages — and nothing over a range no entry reaches (the clean twin).
 */
import { describe, expect, it } from 'vitest';
import { AtcCache, AtcEntry, Kind, Regime, TaggedCache, TlbEntry } from '../src/smmu/caches.js';
import { Rng } from '../src/smmu/rng.js';

const outOf = (e: TlbEntry): number => e.outStart;

function tlbEntry(rng: Rng, out?: number): TlbEntry {
  const sizeLog2 = rng.pick([12, 12, 12, 21, 30]);
  const span = 2 ** sizeLog2;
  return new TlbEntry({
    regime: Regime.NH,
    kind: rng.chance(0.5) ? Kind.S2 : Kind.NESTED,
    vmid: rng.below(2),
    asid: 0,
    srcAsid: 0,
    inStart: span * rng.below(64),
    sizeLog2,
    outStart: out ?? 0x8000_0000 + span * rng.below(64),
    level: 3,
    granuleLog2: 12,
    attrLo: 0,
    attrHi: 0,
  });
}

function byScan<E>(all: readonly E[], first: number, last: number, start: (e: E) => number, size: (e: E) => number) {
  return all.filter((e) => start(e) <= last && start(e) + 2 ** size(e) - 1 >= first);
}

const ids = <E>(xs: readonly E[], all: readonly E[]): number[] => xs.map((e) => all.indexOf(e)).sort((a, b) => a - b);

describe('overlappingOutput', () => {
  it('TLB: the same entries as a scan, through fills, evictions, invalidations and a clear', () => {
    const rng = new Rng(7);
    const tlb = new TaggedCache<TlbEntry>(48, rng, (e) => e.ipa);
    for (let i = 0; i < 20; i++) tlb.insert(tlbEntry(rng));
    tlb.overlappingOutput(0, 1, [], outOf); // the index is built here, then kept
    tlb.insert(tlbEntry(rng, 0x8000_0800)); // output not aligned to its span: kept aside, still found
    for (let round = 0; round < 200; round++) {
      if (rng.chance(0.6)) tlb.insert(tlbEntry(rng));
      else if (tlb.size > 0) tlb.remove(tlb.all[rng.below(tlb.size)]!);
      if (round === 120) tlb.clear();
      const first = 0x8000_0000 + 0x1000 * rng.below(0x4_0000);
      const last = first + 0x1000 * (1 + rng.below(1024)) - 1;
      const got = tlb.overlappingOutput(first, last, [], outOf);
      const want = byScan(tlb.all, first, last, outOf, (e) => e.sizeLog2);
      expect(ids(got, tlb.all)).toEqual(ids(want, tlb.all));
    }
    expect(tlb.evicted).toBeGreaterThan(0);
  });

  it('TLB: nothing over a range no entry reaches (the clean twin)', () => {
    const rng = new Rng(8);
    const tlb = new TaggedCache<TlbEntry>(64, rng, (e) => e.ipa);
    for (let i = 0; i < 30; i++) tlb.insert(tlbEntry(rng));
    expect(tlb.overlappingOutput(0, 0x7fff_ffff, [], outOf)).toEqual([]);
    expect(tlb.overlappingOutput(0, 2 ** 48, [], outOf)).toHaveLength(tlb.size);
  });

  it('ATC: the same pages as a scan, through fills, evictions and invalidations', () => {
    const rng = new Rng(9);
    const atc = new AtcCache(40, rng);
    const page = (): AtcEntry =>
      new AtcEntry(rng.below(3), 0, 0x1000 * rng.below(256), 0x8000_0000 + 0x1000 * rng.below(256), 3, -1);
    for (let i = 0; i < 30; i++) atc.insert(page());
    atc.overlappingOutput(0, 1, []);
    for (let round = 0; round < 200; round++) {
      if (rng.chance(0.6)) atc.insert(page());
      else atc.invalidate(rng.below(3), undefined, 0x1000 * rng.below(256), 0x1000 * rng.below(256) + 0xfff);
      const first = 0x8000_0000 + 0x1000 * rng.below(256);
      const last = first + 0x1000 * (1 + rng.below(16)) - 1;
      const got = atc.overlappingOutput(first, last, []);
      const want = byScan(
        atc.all,
        first,
        last,
        (e) => e.outPage,
        () => 12,
      );
      expect(ids(got, atc.all)).toEqual(ids(want, atc.all));
    }
    expect(atc.overlappingOutput(0, 0x7fff_ffff, [])).toEqual([]);
  });
});
