/**
 * Hand-worked planning cases (expected values worked out by hand from the architecture and the Linux loop as
 * described in the shared reference notes), decoded through the codec.
 */
import { describe, expect, it } from 'vitest';
import {
  PlanOutput,
  invalidateRange,
  invsOf,
  mergeInvs,
  tlbiInv,
  unrefInvs,
  type InvKey,
  type RangeRequest,
  type SmmuOptions,
  type TlbiDescription,
} from '../src/tlbi/index.js';
import { brief, decodeAll } from './tlbi-helpers.js';

const RIL: SmmuOptions = { ril: true, e2h: false, forceSync: false };
const NORIL: SmmuOptions = { ril: false, e2h: false, forceSync: false };
const SYNC = 'SYNC cs=2 msh=3 attr=15';

function linux(keys: InvKey[], req: RangeRequest, smmus: SmmuOptions[] = [RIL]): string[] {
  const out = new PlanOutput(4);
  invalidateRange(invsOf(keys), req, smmus, out);
  return brief(decodeAll(out, smmus));
}

function tlbi(keys: InvKey[], t: TlbiDescription, smmus: SmmuOptions[] = [RIL]): string[] {
  const out = new PlanOutput(4);
  tlbiInv(t, invsOf(keys), smmus, out);
  return brief(decodeAll(out, smmus));
}

const asid5: InvKey[] = [{ smmu: 0, type: 'S1_ASID', id: 5, pgsize: 4096 }];
const va = (f: string): string => `TLBI_NH_VA asid=5 vmid=0 ${f}`;

describe('linux policy: the range loop', () => {
  it('33 pages, leaf: two commands (1 page, then 32 pages at SCALE 5)', () => {
    expect(linux(asid5, { iova: 0x1000_0000, size: 0x21000, granule: 4096, leaf: true })).toEqual([
      va('num=0 scale=0 leaf=1 ttl=3 tg=1 addr=0x10000000'),
      va('num=0 scale=5 leaf=1 ttl=3 tg=1 addr=0x10001000'),
      SYNC,
    ]);
  });

  it('one page, non-leaf: one extra page so that SCALE=1 (never SCALE=NUM=TTL=0)', () => {
    expect(linux(asid5, { iova: 0x1000, size: 0x1000, granule: 4096, leaf: false })).toEqual([
      va('num=0 scale=1 leaf=0 ttl=0 tg=1 addr=0x1000'),
      SYNC,
    ]);
  });

  it('4097 pages: non-leaf (2 pages then 4096) and leaf (1 page with TTL 3, then 4096)', () => {
    expect(linux(asid5, { iova: 0x4000_0000, size: 0x1001000, granule: 4096, leaf: false })).toEqual([
      va('num=0 scale=1 leaf=0 ttl=0 tg=1 addr=0x40000000'),
      va('num=0 scale=12 leaf=0 ttl=0 tg=1 addr=0x40002000'),
      SYNC,
    ]);
    expect(linux(asid5, { iova: 0x4000_0000, size: 0x1001000, granule: 4096, leaf: true })).toEqual([
      va('num=0 scale=0 leaf=1 ttl=3 tg=1 addr=0x40000000'),
      va('num=0 scale=12 leaf=1 ttl=3 tg=1 addr=0x40001000'),
      SYNC,
    ]);
  });

  it('100 pages: NUM=24, SCALE=2 in one command', () => {
    expect(linux(asid5, { iova: 0x80_0000, size: 100 * 4096, granule: 4096, leaf: true })).toEqual([
      va('num=24 scale=2 leaf=1 ttl=3 tg=1 addr=0x800000'),
      SYNC,
    ]);
  });

  it('a 2 MiB block, leaf: TTL 2, SCALE 9', () => {
    expect(linux(asid5, { iova: 0x4000_0000, size: 0x200000, granule: 0x200000, leaf: true })).toEqual([
      va('num=0 scale=9 leaf=1 ttl=2 tg=1 addr=0x40000000'),
      SYNC,
    ]);
  });

  it('a 1 GiB block, leaf: TTL 1, SCALE 18', () => {
    expect(linux(asid5, { iova: 0x4000_0000, size: 0x4000_0000, granule: 0x4000_0000, leaf: true })).toEqual([
      va('num=0 scale=18 leaf=1 ttl=1 tg=1 addr=0x40000000'),
      SYNC,
    ]);
  });

  it('64K pgsize: TG 3, three pages in one command', () => {
    const k: InvKey[] = [{ smmu: 0, type: 'S1_ASID', id: 5, pgsize: 65536 }];
    expect(linux(k, { iova: 0x2000_0000, size: 0x30000, granule: 65536, leaf: true })).toEqual([
      va('num=2 scale=0 leaf=1 ttl=3 tg=3 addr=0x20000000'),
      SYNC,
    ]);
  });

  it('4K, 16K and 64K domains on one SMMU (a request each): TG 1, 2, 3', () => {
    const tg = (pgsize: number): string[] =>
      linux([{ smmu: 0, type: 'S1_ASID', id: 9, pgsize }], {
        iova: 0x100_0000,
        size: 2 * pgsize,
        granule: pgsize,
        leaf: true,
      });
    expect(tg(4096)[0]).toBe('TLBI_NH_VA asid=9 vmid=0 num=0 scale=1 leaf=1 ttl=3 tg=1 addr=0x1000000');
    expect(tg(16384)[0]).toBe('TLBI_NH_VA asid=9 vmid=0 num=0 scale=1 leaf=1 ttl=3 tg=2 addr=0x1000000');
    expect(tg(65536)[0]).toBe('TLBI_NH_VA asid=9 vmid=0 num=0 scale=1 leaf=1 ttl=3 tg=3 addr=0x1000000');
  });

  it('a 32 MiB block at 16K: TTL 2; a 512 MiB block at 64K: TTL 2', () => {
    expect(
      linux([{ smmu: 0, type: 'S1_ASID', id: 5, pgsize: 16384 }], {
        iova: 0x200_0000,
        size: 0x200_0000,
        granule: 0x200_0000,
        leaf: true,
      }),
    ).toEqual([va('num=0 scale=11 leaf=1 ttl=2 tg=2 addr=0x2000000'), SYNC]);
    expect(
      linux([{ smmu: 0, type: 'S1_ASID', id: 5, pgsize: 65536 }], {
        iova: 0x2000_0000,
        size: 0x2000_0000,
        granule: 0x2000_0000,
        leaf: true,
      }),
    ).toEqual([va('num=0 scale=13 leaf=1 ttl=2 tg=3 addr=0x20000000'), SYNC]);
  });

  it('addresses above 4 GiB and page counts above 2^31 (a 2^44-byte range at 4K)', () => {
    expect(linux(asid5, { iova: 0x8_0000_0000, size: 0x3000, granule: 4096, leaf: true })).toEqual([
      va('num=2 scale=0 leaf=1 ttl=3 tg=1 addr=0x800000000'),
      SYNC,
    ]);
    // 2^32 pages: Linux would put SCALE=32 into a 5-bit field; the engine emits SCALE 31 chunks instead.
    const big = linux(asid5, { iova: 2 ** 44, size: 2 ** 44, granule: 4096, leaf: true });
    expect(big).toEqual([va('num=1 scale=31 leaf=1 ttl=3 tg=1 addr=0x100000000000'), SYNC]);
  });

  it('size 0 means everything: one NH_ASID', () => {
    expect(linux(asid5, { iova: 0, size: 0, granule: 4096, leaf: true })).toEqual(['TLBI_NH_ASID asid=5 vmid=0', SYNC]);
  });
});

describe('linux policy without range invalidation', () => {
  it('one command per granule with range fields 0 (4 pages)', () => {
    expect(linux(asid5, { iova: 0x10000, size: 0x4000, granule: 4096, leaf: true }, [NORIL])).toEqual([
      va('num=0 scale=0 leaf=1 ttl=0 tg=0 addr=0x10000'),
      va('num=0 scale=0 leaf=1 ttl=0 tg=0 addr=0x11000'),
      va('num=0 scale=0 leaf=1 ttl=0 tg=0 addr=0x12000'),
      va('num=0 scale=0 leaf=1 ttl=0 tg=0 addr=0x13000'),
      SYNC,
    ]);
  });

  it('2 MiB at 4K: one NH_ASID (the soft-lockup threshold); 2 MiB − 4K: 511 NH_VA', () => {
    expect(linux(asid5, { iova: 0x4000_0000, size: 0x200000, granule: 4096, leaf: true }, [NORIL])).toEqual([
      'TLBI_NH_ASID asid=5 vmid=0',
      SYNC,
    ]);
    const below = linux(asid5, { iova: 0x4000_0000, size: 0x1ff000, granule: 4096, leaf: true }, [NORIL]);
    expect(below.length).toBe(512);
    expect(below[0]).toBe(va('num=0 scale=0 leaf=1 ttl=0 tg=0 addr=0x40000000'));
    expect(below[510]).toBe(va('num=0 scale=0 leaf=1 ttl=0 tg=0 addr=0x401fe000'));
    expect(below[511]).toBe(SYNC);
  });

  it('a 2 MiB granule strides by 2 MiB; the threshold is then 512 GiB', () => {
    const r = linux(asid5, { iova: 0x4000_0000, size: 0x600000, granule: 0x200000, leaf: true }, [NORIL]);
    expect(r).toEqual([
      va('num=0 scale=0 leaf=1 ttl=0 tg=0 addr=0x40000000'),
      va('num=0 scale=0 leaf=1 ttl=0 tg=0 addr=0x40200000'),
      va('num=0 scale=0 leaf=1 ttl=0 tg=0 addr=0x40400000'),
      SYNC,
    ]);
  });

  it('forceSync: a CMD_SYNC before a batch would exceed 63 commands (63, 64, 127, 128 commands)', () => {
    const shape = (pages: number, forceSync: boolean): number[] => {
      const r = linux(asid5, { iova: 0, size: pages * 4096, granule: 4096, leaf: true }, [
        { ril: false, e2h: false, forceSync },
      ]);
      const runs: number[] = [];
      let n = 0;
      for (const x of r) {
        if (x === SYNC) {
          runs.push(n);
          n = 0;
        } else n++;
      }
      expect(n).toBe(0); // ends with a CMD_SYNC
      return runs;
    };
    expect(shape(63, true)).toEqual([63]);
    expect(shape(64, true)).toEqual([63, 1]);
    expect(shape(127, true)).toEqual([63, 63, 1]);
    expect(shape(128, true)).toEqual([63, 63, 2]);
    expect(shape(128, false)).toEqual([128]);
  });
});

describe('linux policy: targets and batches', () => {
  it('a nested parent with ATS devices: S2_IPA… SYNC, NH_ALL SYNC, ATC_INV… SYNC', () => {
    const keys: InvKey[] = [
      { smmu: 0, type: 'ATS_FULL', id: 0x11 },
      { smmu: 0, type: 'S2_VMID_S1_CLEAR', id: 7 },
      { smmu: 0, type: 'S2_VMID', id: 7, pgsize: 4096 },
      { smmu: 0, type: 'ATS_FULL', id: 0x10 },
    ];
    expect(linux(keys, { iova: 0x1000_0000, size: 0x21000, granule: 4096, leaf: true })).toEqual([
      'TLBI_S2_IPA vmid=7 num=0 scale=0 leaf=1 ttl=3 tg=1 addr=0x10000000',
      'TLBI_S2_IPA vmid=7 num=0 scale=5 leaf=1 ttl=3 tg=1 addr=0x10001000',
      SYNC,
      'TLBI_NH_ALL vmid=7',
      SYNC,
      'ATC_INV sid=16 ssv=0 ssid=0 size=52 addr=0x0',
      'ATC_INV sid=17 ssv=0 ssid=0 size=52 addr=0x0',
      SYNC,
    ]);
    // Everything: S12_VMALL covers both stages, the S1_CLEAR entry emits nothing (and the walk ends).
    expect(linux(keys, { iova: 0, size: 0, granule: 4096, leaf: true })).toEqual([
      'TLBI_S12_VMALL vmid=7',
      SYNC,
      'ATC_INV sid=16 ssv=0 ssid=0 size=52 addr=0x0',
      'ATC_INV sid=17 ssv=0 ssid=0 size=52 addr=0x0',
      SYNC,
    ]);
  });

  it('ATC_INV spans: pages [8,11] → Size 2 at 0x8000; [7,10] → Size 4 at 0; one page → Size 0; SSV with a SubstreamID', () => {
    const ats: InvKey[] = [{ smmu: 0, type: 'ATS', id: 3, ssid: 0 }];
    expect(linux(ats, { iova: 0x8000, size: 0x4000, granule: 4096, leaf: true })[0]).toBe(
      'ATC_INV sid=3 ssv=0 ssid=0 size=2 addr=0x8000',
    );
    expect(linux(ats, { iova: 0x7000, size: 0x4000, granule: 4096, leaf: true })[0]).toBe(
      'ATC_INV sid=3 ssv=0 ssid=0 size=4 addr=0x0',
    );
    expect(linux(ats, { iova: 0x7000, size: 0x1000, granule: 4096, leaf: true })[0]).toBe(
      'ATC_INV sid=3 ssv=0 ssid=0 size=0 addr=0x7000',
    );
    expect(linux([{ smmu: 0, type: 'ATS', id: 3, ssid: 9 }], { iova: 0, size: 0, granule: 4096, leaf: true })).toEqual([
      'ATC_INV sid=3 ssv=1 ssid=9 size=52 addr=0x0',
      SYNC,
    ]);
  });

  it('E2H: stage-1 targets use EL2_VA / EL2_ASID without VMID', () => {
    const e2h: SmmuOptions[] = [{ ril: true, e2h: true, forceSync: false }];
    const k: InvKey[] = [{ smmu: 0, type: 'S1_ASID', id: 5, vmid: 3, pgsize: 4096 }];
    expect(linux(k, { iova: 0x1000, size: 0x2000, granule: 4096, leaf: true }, e2h)).toEqual([
      'TLBI_EL2_VA asid=5 num=0 scale=1 leaf=1 ttl=3 tg=1 addr=0x1000',
      SYNC,
    ]);
    expect(linux(k, { iova: 0, size: 0, granule: 4096, leaf: true }, e2h)).toEqual(['TLBI_EL2_ASID asid=5', SYNC]);
  });

  it('several SMMUs: one batch each, in SMMU order, entries tagged with their SMMU', () => {
    const keys: InvKey[] = [
      { smmu: 1, type: 'S1_ASID', id: 2 },
      { smmu: 0, type: 'ATS', id: 8 },
      { smmu: 0, type: 'S1_ASID', id: 1 },
      { smmu: 1, type: 'S2_VMID', id: 4 },
    ];
    const out = new PlanOutput(2);
    const smmus = [RIL, NORIL];
    invalidateRange(invsOf(keys), { iova: 0x3000, size: 0x2000, granule: 4096, leaf: true }, smmus, out);
    const d = decodeAll(out, smmus);
    expect(d.map((x) => [x.smmu, x.cmd.name])).toEqual([
      [0, 'TLBI_NH_VA'],
      [0, 'CMD_SYNC'],
      [0, 'ATC_INV'],
      [0, 'CMD_SYNC'],
      [1, 'TLBI_NH_VA'],
      [1, 'TLBI_NH_VA'],
      [1, 'TLBI_S2_IPA'],
      [1, 'TLBI_S2_IPA'],
      [1, 'CMD_SYNC'],
    ]);
    expect([...out.batchEnd.subarray(0, out.batchCount)]).toEqual([2, 4, 9]);
  });

  it('trash is skipped; an S1_CLEAR-only class on the whole-tag path gets no CMD_SYNC', () => {
    let invs = invsOf([
      { smmu: 0, type: 'S1_ASID', id: 1 },
      { smmu: 0, type: 'S1_ASID', id: 2 },
      { smmu: 0, type: 'S1_ASID', id: 3 },
    ]);
    unrefInvs(invs, [{ smmu: 0, type: 'S1_ASID', id: 2 }]);
    const out = new PlanOutput();
    invalidateRange(invs, { iova: 0x1000, size: 0x1000, granule: 4096, leaf: true }, [RIL], out);
    expect(brief(decodeAll(out)).map((s) => s.split(' ').slice(0, 2).join(' '))).toEqual([
      'TLBI_NH_VA asid=1',
      'TLBI_NH_VA asid=3',
      'SYNC cs=2',
    ]);
    invs = mergeInvs(emptyLike(), [{ smmu: 0, type: 'S2_VMID_S1_CLEAR', id: 4 }]);
    const out2 = new PlanOutput();
    invalidateRange(invs, { iova: 0, size: 0, granule: 4096, leaf: true }, [RIL], out2);
    expect(out2.count).toBe(0);
  });
});

function emptyLike() {
  return invsOf([]);
}

describe('tlbi policy', () => {
  const t = (
    start: number,
    size: number,
    leafLevels: number[],
    tableLevels: number[],
    granule = 4096,
  ): TlbiDescription => ({
    start,
    last: start + size - 1,
    leafLevels,
    tableLevels,
    granule,
  });

  it('leaf pages only: the same as linux (LEAF, TTL 3)', () => {
    expect(tlbi(asid5, t(0x1000_0000, 0x21000, [3], []))).toEqual(
      linux(asid5, { iova: 0x1000_0000, size: 0x21000, granule: 4096, leaf: true }),
    );
  });

  it('a freed level-3 table with its pages: Leaf=0 with TTL=3 (covers the level-2 table entry), one command', () => {
    expect(tlbi(asid5, t(0x20_0000, 0x20_0000, [3], [2]))).toEqual([
      va('num=0 scale=9 leaf=0 ttl=3 tg=1 addr=0x200000'),
      SYNC,
    ]);
  });

  it('one page of a freed table: TTL=3 makes the +1 page unnecessary', () => {
    expect(tlbi(asid5, t(0x1000, 0x1000, [3], [2]))).toEqual([va('num=0 scale=0 leaf=0 ttl=3 tg=1 addr=0x1000'), SYNC]);
  });

  it('an empty table freed at level 1 (no leaves): TTL = 2 on a 1 GiB-aligned range', () => {
    expect(tlbi(asid5, t(0x4000_0000, 0x4000_0000, [], [1]))).toEqual([
      va('num=0 scale=18 leaf=0 ttl=2 tg=1 addr=0x40000000'),
      SYNC,
    ]);
  });

  it('a table level not above the only leaf level: TTL 0 (level-2 blocks and a level-2 table)', () => {
    expect(tlbi(asid5, t(0x4000_0000, 0x40_0000, [2], [2]))).toEqual([
      va('num=0 scale=10 leaf=0 ttl=0 tg=1 addr=0x40000000'),
      SYNC,
    ]);
  });

  it('two leaf levels: TTL 0 and the +1 page rule (2 MiB block + 1 page = 513 pages)', () => {
    expect(tlbi(asid5, t(0x4000_0000, 0x201000, [2, 3], []))).toEqual([
      va('num=0 scale=1 leaf=1 ttl=0 tg=1 addr=0x40000000'),
      va('num=0 scale=9 leaf=1 ttl=0 tg=1 addr=0x40002000'),
      SYNC,
    ]);
  });

  it('16K, an empty table freed at level 0: TTL 2 (TTL 1 would read as 0 without DS)', () => {
    const k: InvKey[] = [{ smmu: 0, type: 'S1_ASID', id: 5, pgsize: 16384 }];
    const r = tlbi(k, t(0, 2 ** 36, [], [0], 16384), [RIL]);
    expect(r).toEqual([va('num=0 scale=22 leaf=0 ttl=2 tg=2 addr=0x0'), SYNC]);
  });

  it('without RIL: 2 MiB blocks cost one command per block; a freed empty table one per table', () => {
    expect(tlbi(asid5, t(0x4000_0000, 0x600000, [2], []), [NORIL])).toEqual([
      va('num=0 scale=0 leaf=1 ttl=0 tg=0 addr=0x40000000'),
      va('num=0 scale=0 leaf=1 ttl=0 tg=0 addr=0x40200000'),
      va('num=0 scale=0 leaf=1 ttl=0 tg=0 addr=0x40400000'),
      SYNC,
    ]);
    expect(tlbi(asid5, t(0x4000_0000, 0x400000, [], [2]), [NORIL])).toEqual([
      va('num=0 scale=0 leaf=0 ttl=0 tg=0 addr=0x40000000'),
      va('num=0 scale=0 leaf=0 ttl=0 tg=0 addr=0x40200000'),
      SYNC,
    ]);
  });

  it('without RIL: the whole-tag fallback at 2^(log2(stride)−3) commands (512 pages; 2^18 blocks)', () => {
    expect(tlbi(asid5, t(0, 0x200000, [3], []), [NORIL])).toEqual(['TLBI_NH_ASID asid=5 vmid=0', SYNC]);
    expect(tlbi(asid5, t(0, 0x1ff000, [3], []), [NORIL]).length).toBe(512);
    expect(tlbi(asid5, t(0, 2 ** 39, [2], []), [NORIL])).toEqual(['TLBI_NH_ASID asid=5 vmid=0', SYNC]);
    const out = new PlanOutput();
    tlbiInv(t(0, 2 ** 39 - 2 ** 21, [2], []), invsOf(asid5), [NORIL], out);
    expect(out.count).toBe(2 ** 18); // 2^18 − 1 block commands and the CMD_SYNC
  });

  it('nested: S1_CLEAR skipped on the whole-tag path only when the same VMID took S12_VMALL', () => {
    const keys: InvKey[] = [
      { smmu: 0, type: 'S2_VMID', id: 7 },
      { smmu: 0, type: 'S2_VMID_S1_CLEAR', id: 7 },
      { smmu: 0, type: 'S2_VMID_S1_CLEAR', id: 8 },
    ];
    expect(tlbi(keys, t(0, 0x200000, [3], []), [NORIL])).toEqual([
      'TLBI_S12_VMALL vmid=7',
      SYNC,
      'TLBI_NH_ALL vmid=8',
      SYNC,
    ]);
    expect(linux(keys, { iova: 0, size: 0x200000, granule: 4096, leaf: true }, [NORIL])).toEqual([
      'TLBI_S12_VMALL vmid=7',
      SYNC,
    ]);
  });

  it('ATS targets get the ATC span of [start, last] after the TLB batch', () => {
    const keys: InvKey[] = [...asid5, { smmu: 0, type: 'ATS', id: 16 }];
    expect(tlbi(keys, t(0x8000, 0x4000, [3], []))).toEqual([
      va('num=0 scale=2 leaf=1 ttl=3 tg=1 addr=0x8000'),
      SYNC,
      'ATC_INV sid=16 ssv=0 ssid=0 size=2 addr=0x8000',
      SYNC,
    ]);
  });
});

describe('S1_ASID_NESTED: a stage 1 under a nesting parent', () => {
  const guest: InvKey[] = [{ smmu: 0, type: 'S1_ASID_NESTED', id: 5, vmid: 3, pgsize: 4096 }];
  const nva = (f: string): string => `TLBI_NH_VA asid=5 vmid=3 ${f}`;

  it('linux and tlbi: NH_VA / NH_ASID carry the VMID (ranged, no-RIL stride, whole-tag)', () => {
    expect(linux(guest, { iova: 0x1000, size: 0x2000, granule: 4096, leaf: true })).toEqual([
      nva('num=0 scale=1 leaf=1 ttl=3 tg=1 addr=0x1000'),
      SYNC,
    ]);
    expect(linux(guest, { iova: 0, size: 0, granule: 4096, leaf: true })).toEqual(['TLBI_NH_ASID asid=5 vmid=3', SYNC]);
    expect(linux(guest, { iova: 0x1000, size: 0x2000, granule: 4096, leaf: true }, [NORIL])).toEqual([
      nva('num=0 scale=0 leaf=1 ttl=0 tg=0 addr=0x1000'),
      nva('num=0 scale=0 leaf=1 ttl=0 tg=0 addr=0x2000'),
      SYNC,
    ]);
    expect(tlbi(guest, { start: 0x8000, last: 0xbfff, leafLevels: [3], tableLevels: [], granule: 4096 })).toEqual([
      nva('num=0 scale=2 leaf=1 ttl=3 tg=1 addr=0x8000'),
      SYNC,
    ]);
    expect(tlbi(guest, { start: 0, last: 0x1fffff, leafLevels: [3], tableLevels: [], granule: 4096 }, [NORIL])).toEqual(
      ['TLBI_NH_ASID asid=5 vmid=3', SYNC],
    );
  });

  it('plain S1_ASID writes VMID 0 under both policies, whatever vmid the caller passed', () => {
    const plain: InvKey[] = [{ smmu: 0, type: 'S1_ASID', id: 5, vmid: 3, pgsize: 4096 }];
    expect(invsOf(plain).inv[0]!.vmid).toBe(0);
    expect(linux(plain, { iova: 0x1000, size: 0x1000, granule: 4096, leaf: true })).toEqual([
      va('num=0 scale=0 leaf=1 ttl=3 tg=1 addr=0x1000'),
      SYNC,
    ]);
    expect(tlbi(plain, { start: 0x1000, last: 0x1fff, leafLevels: [3], tableLevels: [], granule: 4096 })).toEqual([
      va('num=0 scale=0 leaf=1 ttl=3 tg=1 addr=0x1000'),
      SYNC,
    ]);
    expect(linux(plain, { iova: 0, size: 0, granule: 4096, leaf: true })).toEqual(['TLBI_NH_ASID asid=5 vmid=0', SYNC]);
  });

  it('E2H applies to plain stage-1 targets only: the nested one keeps NH_VA with its VMID', () => {
    const e2h: SmmuOptions[] = [{ ril: true, e2h: true, forceSync: false }];
    const keys: InvKey[] = [...guest, { smmu: 0, type: 'S1_ASID', id: 5, pgsize: 4096 }];
    expect(linux(keys, { iova: 0x1000, size: 0x1000, granule: 4096, leaf: true }, e2h)).toEqual([
      'TLBI_EL2_VA asid=5 num=0 scale=0 leaf=1 ttl=3 tg=1 addr=0x1000',
      nva('num=0 scale=0 leaf=1 ttl=3 tg=1 addr=0x1000'),
      SYNC,
    ]);
    expect(linux(keys, { iova: 0, size: 0, granule: 4096, leaf: true }, e2h)).toEqual([
      'TLBI_EL2_ASID asid=5',
      'TLBI_NH_ASID asid=5 vmid=3',
      SYNC,
    ]);
  });

  it('one batch with S1_ASID and S2_VMID (between them in the sort order); two guests with one ASID are two targets', () => {
    const keys: InvKey[] = [
      { smmu: 0, type: 'S2_VMID', id: 3, pgsize: 4096 },
      { smmu: 0, type: 'S1_ASID_NESTED', id: 5, vmid: 4, pgsize: 4096 },
      { smmu: 0, type: 'S2_VMID_S1_CLEAR', id: 3 },
      { smmu: 0, type: 'S1_ASID_NESTED', id: 5, vmid: 3, pgsize: 4096 },
      { smmu: 0, type: 'S1_ASID', id: 5, pgsize: 4096 },
    ];
    const invs = invsOf(keys);
    expect(invs.live().map((e) => `${e.type}:${e.id}:${e.vmid}`)).toEqual([
      'S1_ASID:5:0',
      'S1_ASID_NESTED:5:3',
      'S1_ASID_NESTED:5:4',
      'S2_VMID:3:0',
      'S2_VMID_S1_CLEAR:3:0',
    ]);
    expect(linux(keys, { iova: 0x1000, size: 0x1000, granule: 4096, leaf: true })).toEqual([
      va('num=0 scale=0 leaf=1 ttl=3 tg=1 addr=0x1000'),
      nva('num=0 scale=0 leaf=1 ttl=3 tg=1 addr=0x1000'),
      'TLBI_NH_VA asid=5 vmid=4 num=0 scale=0 leaf=1 ttl=3 tg=1 addr=0x1000',
      'TLBI_S2_IPA vmid=3 num=0 scale=0 leaf=1 ttl=3 tg=1 addr=0x1000',
      SYNC,
      'TLBI_NH_ALL vmid=3',
      SYNC,
    ]);
    // The whole-tag path (tlbi): S12_VMALL of VMID 3 also cleared its stage-1 entries, so no NH_ALL.
    expect(tlbi(keys, { start: 0, last: 0x1fffff, leafLevels: [3], tableLevels: [], granule: 4096 }, [NORIL])).toEqual([
      'TLBI_NH_ASID asid=5 vmid=0',
      'TLBI_NH_ASID asid=5 vmid=3',
      'TLBI_NH_ASID asid=5 vmid=4',
      'TLBI_S12_VMALL vmid=3',
      SYNC,
    ]);
  });
});
