/**
 * Golden vectors for the bug corpus's emulator cases (QEMU Q1–Q8, Q10) and L10: commands whose meaning QEMU
 * (or Linux) once got wrong, with what the architecture says they do — checked on the decoder (the BigInt
 * reference codec of test/cmdq-reference.ts and the audit's own span arithmetic) and on the SMMU model (a
 * hand-written table, entries cached by translating, then the command and a CMD_SYNC). Every vector that
 * removes something has a twin that shows what must stay.
 */
import { describe, expect, it } from 'vitest';
import { AuditStream } from '../src/audit/index.js';
import { interpret } from '../src/audit/interpret.js';
import { CheckedEntry, CommandChecker, FIELD_IDS } from '../src/cmdq/index.js';
import type { TlbEntry } from '../src/smmu/caches.js';
import type { SmmuModel } from '../src/smmu/model.js';
import { PlanOutput } from '../src/tlbi/output.js';
import { invsOf } from '../src/tlbi/invs.js';
import { invalidateRange } from '../src/tlbi/plan.js';
import { entryHalves, refDecode, wordsOf } from './cmdq-reference.js';
import { HandTable, S1_RW, S2_RW, SYNC, cmd, newModel, submit } from './smmu-fixtures.js';

const ROOT = 0x10_0000;
const L1 = 0x10_1000;
const L2 = 0x10_2000;
const L3 = 0x10_3000;

/** The audit's reading of one command: pages and bytes a range TLBI covers. */
function span(h: number[]): { pages: number; bytes: number } {
  const s = AuditStream.fromHalves(new Uint32Array(h));
  const r = interpret(s, new CommandChecker());
  return { pages: r.pages[0]!, bytes: r.span[0]! };
}

/** Stage-1 pages at `vas` (and an optional level-2 block) for ASIDs 5 (ssid 0) and 6 (ssid 1), all cached. */
function s1Scene(vas: number[], block?: number): SmmuModel {
  const { mem, model } = newModel();
  const t = new HandTable(mem, ROOT);
  const base = vas[0]!;
  t.table(ROOT, 0, base, L1);
  t.table(L1, 1, base, L2);
  t.table(L2, 2, base, L3);
  vas.forEach((va, k) => t.page(L3, va, 0x8000_0000 + k * 0x1000, S1_RW));
  if (block !== undefined) t.block(L2, 2, block, 0x9000_0000, S1_RW);
  const cds = new Map([
    [0, { asid: 5, table: t.cfg }],
    [1, { asid: 6, table: t.cfg }],
  ]);
  model.setStream({ sid: 1, mode: 'stage1', ats: false, vmid: 0, cds });
  for (const ssid of [0, 1]) {
    for (const va of vas) expect(model.translate(1, ssid, va)).toBeGreaterThan(0);
    if (block !== undefined) expect(model.translate(1, ssid, block)).toBe(0x9000_0000);
  }
  return model;
}

/** Cached leaf entries of `asid` containing `va`. */
const cached = (m: SmmuModel, va: number, asid: number): TlbEntry[] =>
  m.tlb.all.filter((e) => e.asid === asid && e.inStart <= va && va < e.inStart + 2 ** e.sizeLog2);

describe('QEMU conformance vectors', () => {
  it('Q1 744a790ec01a: NH_VA SCALE=31 NUM=31 covers 2^36 pages (2^48 bytes at 4K) without overflow', () => {
    const h = cmd('TLBI_NH_VA', { asid: 5, tg: 1, ttl: 0, num: 31, scale: 31, leaf: 1, addr: 0 });
    const d = refDecode(...wordsOf(h[0]!, h[1]!, h[2]!, h[3]!))!;
    expect([d.fields['num'], d.fields['scale']]).toEqual([31n, 31n]);
    expect(span(h)).toEqual({ pages: 2 ** 36, bytes: 2 ** 48 });
    // The model removes pages far from 0 as well; ASID 6 keeps its own.
    const vas = [0x7f_ffff_0000, 0x7f_ffff_1000];
    const m = s1Scene(vas);
    submit(m, h, SYNC());
    for (const va of vas) {
      expect(cached(m, va, 5)).toHaveLength(0);
      expect(cached(m, va, 6)).toHaveLength(1);
    }
  });

  it('Q2 dcda883cd211: TG codes 1/2/3 are 4K/16K/64K pages, not shifts of 1, 2, 3', () => {
    for (const [tg, bytes] of [
      [1, 4096],
      [2, 16384],
      [3, 65536],
    ] as const) {
      const h = cmd('TLBI_NH_VA', { asid: 1, tg, ttl: 3, num: 1, leaf: 1, addr: 0 });
      expect(span(h), `TG=${tg}`).toEqual({ pages: 2, bytes: 2 * bytes });
    }
  });

  it('Q3 a4b6e1be2c8f: NH_VAA with a TTL and one page removes the page of every ASID (and only that page)', () => {
    const vas = [0x4000_0000, 0x4000_1000];
    const m = s1Scene(vas);
    submit(m, cmd('TLBI_NH_VAA', { vmid: 0, tg: 1, ttl: 3, num: 0, leaf: 1, addr: vas[0]! }), SYNC());
    for (const asid of [5, 6]) {
      expect(cached(m, vas[0]!, asid), `ASID ${asid}`).toHaveLength(0);
      expect(cached(m, vas[1]!, asid), `ASID ${asid} next page`).toHaveLength(1);
    }
  });

  it('Q4 6d9cd115b9df: (NUM+1)·2^SCALE = 6 pages (not a power of two) are removed whole, the 7th stays', () => {
    const vas = Array.from({ length: 7 }, (_, k) => 0x4000_0000 + k * 0x1000);
    const m = s1Scene(vas);
    const h = cmd('TLBI_NH_VA', { asid: 5, tg: 1, ttl: 3, num: 2, scale: 1, leaf: 1, addr: vas[0]! });
    expect(span(h).pages).toBe(6);
    submit(m, h, SYNC());
    expect(vas.map((va) => cached(m, va, 5).length)).toEqual([0, 0, 0, 0, 0, 0, 1]);
  });

  it('Q5 219729cfbf9e: 32 pages of 4K from 0xff395000 (unaligned start) are removed exactly', () => {
    const first = 0xff39_5000;
    const vas = Array.from({ length: 34 }, (_, k) => first - 0x1000 + k * 0x1000);
    const m = s1Scene(vas);
    submit(m, cmd('TLBI_NH_VA', { asid: 5, tg: 1, ttl: 3, num: 31, scale: 0, leaf: 1, addr: first }), SYNC());
    const left = vas.map((va) => cached(m, va, 5).length);
    expect(left[0]).toBe(1); // the page before
    expect(left.slice(1, 33)).toEqual(new Array<number>(32).fill(0));
    expect(left[33]).toBe(1); // the page after
  });

  it('Q6 1194140b7fab: CFGI_ALL is CFGI_STE_RANGE with Range=31, every StreamID (2^32 of them)', () => {
    // The words Linux writes for CFGI_ALL (the first entry of the real 6.1 sample ring).
    const h = entryHalves(0x4n, 0x1fn);
    const d = refDecode(...wordsOf(h[0]!, h[1]!, h[2]!, h[3]!))!;
    expect(d.name).toBe('CFGI_STE_RANGE');
    expect(d.fields['range']).toBe(31n);
    // The project's decoder reads the same Range; 2^(Range+1) StreamIDs from 0 is the whole 32-bit space.
    const e = new CheckedEntry();
    expect(new CommandChecker().check(h[0], h[1], h[2], h[3], e)).toBe(true);
    expect(e.values[FIELD_IDS.range]).toBe(31);
    expect(2 ** (e.values[FIELD_IDS.range]! + 1)).toBe(2 ** 32);
  });

  it('Q8 2eaeb7d59325: two VMIDs with the same IPA are invalidated independently', () => {
    const { mem, model } = newModel();
    const t = new HandTable(mem, ROOT, 12, 48, 2);
    const ipa = 0x4000_0000;
    t.table(ROOT, 0, ipa, L1);
    t.table(L1, 1, ipa, L2);
    t.table(L2, 2, ipa, L3);
    t.page(L3, ipa, 0x8000_0000, S2_RW);
    model.setStream({ sid: 8, mode: 'stage2', ats: false, vmid: 1, s2: t.cfg });
    model.setStream({ sid: 9, mode: 'stage2', ats: false, vmid: 2, s2: t.cfg });
    expect(model.translate(8, 0, ipa, true)).toBe(0x8000_0000);
    expect(model.translate(9, 0, ipa, true)).toBe(0x8000_0000);
    const byVmid = (v: number) => model.tlb.all.filter((e) => e.vmid === v).length;
    expect([byVmid(1), byVmid(2)]).toEqual([1, 1]);
    submit(model, cmd('TLBI_S2_IPA', { vmid: 1, leaf: 1, addr: ipa }), SYNC());
    expect([byVmid(1), byVmid(2)]).toEqual([0, 1]);
  });

  it('Q10 58a789c389cb: without IDR3.RIL no planned command carries TG, NUM, SCALE or TTL', () => {
    const invs = invsOf([
      { smmu: 0, type: 'S1_ASID', id: 3, pgsize: 4096 },
      { smmu: 0, type: 'S2_VMID', id: 2, pgsize: 4096 },
    ]);
    const out = new PlanOutput(64);
    for (const [pages, leaf] of [
      [1, true],
      [7, true],
      [33, false],
      [300, true],
    ] as const) {
      out.clear();
      invalidateRange(
        invs,
        { iova: 0x4000_0000, size: pages * 4096, granule: 4096, leaf },
        [{ ril: false, e2h: false, forceSync: false }],
        out,
      );
      const u = out.buf.u32;
      for (let k = 0; k < out.count; k++) {
        const d = refDecode(...wordsOf(u[k * 4]!, u[k * 4 + 1]!, u[k * 4 + 2]!, u[k * 4 + 3]!))!;
        for (const f of ['tg', 'num', 'scale', 'ttl'])
          if (f in d.fields) expect(d.fields[f], `${pages} pages: ${d.name}.${f}`).toBe(0n);
      }
      expect(out.count).toBeGreaterThan(0);
    }
  });
});

describe('L10 6833b8f2e199: a TTL hint on a non-leaf invalidation', () => {
  const block = 0x4020_0000;
  const vas = [0x4000_0000];
  const teardown = (ttl: number) => cmd('TLBI_NH_VA', { asid: 5, tg: 1, ttl, num: 0, scale: 9, leaf: 0, addr: block });

  it('TTL=3 over a level-2 block: the model keeps the block (the hint says level-3 leaves only)', () => {
    const m = s1Scene(vas, block);
    submit(m, teardown(3), SYNC());
    expect(cached(m, block, 5)).toHaveLength(1);
  });

  it('the fixed hint, TTL=0, removes it', () => {
    const m = s1Scene(vas, block);
    submit(m, teardown(0), SYNC());
    expect(cached(m, block, 5)).toHaveLength(0);
  });
});
