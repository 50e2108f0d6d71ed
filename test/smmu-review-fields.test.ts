/**
 * Command fields the model must read as the architecture defines them (issue 14, items 4-6 of the model
 * review): ATC_INV with SSV=1 and SubstreamID 0 does not reach traffic without a PASID (IHI 0070 4.5.1); a lax
 * SMMU that ignores RES0 fields ignores them entirely (4.1.5, 4.4.1.1); TLBI_EL2_ALL removes every EL2 entry,
 * ASID-tagged or not (4.4.2.7). Each case is judged by the stale-translation checker after the tables change:
 * the wrong stream is caught, its correct twin is clean.
 */
import { describe, expect, it } from 'vitest';
import { CommandChecker, withFeatures } from '../src/cmdq/index.js';
import { StaleChecker } from '../src/smmu/checker.js';
import type { SmmuModel, SmmuModelOptions } from '../src/smmu/model.js';
import type { S1Regime } from '../src/smmu/streams.js';
import { HandTable, S1_RW, SYNC, cmd, newModel, submit } from './smmu-fixtures.js';

const ROOT = 0x10_0000;
const L3 = 0x10_3000;
const VA = 0x4000_0000;
const PAGES = 16;

/** 16 stage-1 pages on sid 1 (ASID 5 at SSID 0, ASID 6 at SSID 3), every page translated once. */
function scene(
  opts: SmmuModelOptions,
  regime: S1Regime = 'nh',
  ats = false,
): { model: SmmuModel; t: HandTable; check: () => number } {
  const { mem, model } = newModel(opts);
  const t = new HandTable(mem, ROOT);
  t.table(ROOT, 0, VA, 0x10_1000);
  t.table(0x10_1000, 1, VA, 0x10_2000);
  t.table(0x10_2000, 2, VA, L3);
  for (let i = 0; i < PAGES; i++) t.page(L3, VA + i * 0x1000, 0x8000_0000 + i * 0x1000, S1_RW);
  model.setStream({
    sid: 1,
    mode: 'stage1',
    ats,
    vmid: 0,
    regime,
    cds: new Map([
      [0, { asid: 5, table: t.cfg }],
      [3, { asid: 6, table: t.cfg }],
    ]),
  });
  for (let i = 0; i < PAGES; i++) expect(model.translate(1, 0, VA + i * 0x1000)).toBe(0x8000_0000 + i * 0x1000);
  const checker = new StaleChecker(mem);
  return { model, t, check: () => checker.checkAll(model).length };
}

/** Unmap every page of the scene (the leaves go; the tables stay). */
function unmapAll(t: HandTable): void {
  for (let i = 0; i < PAGES; i++) t.clear(L3, 3, VA + i * 0x1000);
}

describe('ATC_INV with SSV=1 and SubstreamID 0 (IHI 0070 4.5.1)', () => {
  it('leaves the ATC entries of traffic without a PASID: stale after an unmap', () => {
    const { model, t, check } = scene({}, 'nh', true);
    expect(model.atc.size).toBe(PAGES);
    unmapAll(t);
    submit(
      model,
      cmd('TLBI_NH_ASID', { asid: 5 }),
      SYNC(),
      cmd('ATC_INV', { sid: 1, ssv: 1, ssid: 0, size: 52 }),
      SYNC(),
    );
    expect(model.atc.size).toBe(PAGES);
    expect(check()).toBe(PAGES);
  });

  it('clean twin: SSV=0 removes them', () => {
    const { model, t, check } = scene({}, 'nh', true);
    unmapAll(t);
    submit(model, cmd('TLBI_NH_ASID', { asid: 5 }), SYNC(), cmd('ATC_INV', { sid: 1, ssv: 0, size: 52 }), SYNC());
    expect(model.atc.size).toBe(0);
    expect(check()).toBe(0);
  });

  it('SSV=1 with a non-zero SubstreamID still removes that SubstreamID', () => {
    const { model } = scene({}, 'nh', true);
    for (let i = 0; i < PAGES; i++) model.translate(1, 3, VA + i * 0x1000);
    expect(model.atc.size).toBe(2 * PAGES);
    submit(model, cmd('ATC_INV', { sid: 1, ssv: 1, ssid: 3, size: 52 }), SYNC());
    expect(model.atc.all.every((e) => e.ssid === 0)).toBe(true);
    expect(model.atc.size).toBe(PAGES);
  });
});

describe('lax mode ignores RES0 fields entirely (IHI 0070 4.1.5, 4.4.1.1)', () => {
  const rilChecker = new CommandChecker({ features: withFeatures({ ril: true }) });
  const dsChecker = new CommandChecker({ features: withFeatures({ ds: true }) });
  const range16 = (): number[] =>
    cmd('TLBI_NH_VA', { asid: 5, leaf: 1, tg: 1, ttl: 3, num: PAGES - 1, scale: 0, addr: VA }, rilChecker);

  it('without RIL, a "range" (TG/NUM/TTL set, RES0 there) removes only the page at its address: stale', () => {
    const { model, t, check } = scene({ lax: true, features: { ril: false } });
    unmapAll(t);
    submit(model, range16(), SYNC());
    expect(model.tlb.size).toBe(PAGES - 1);
    expect(check()).toBe(PAGES - 1);
  });

  it('clean twin without RIL: one command per page', () => {
    const { model, t, check } = scene({ lax: true, features: { ril: false } });
    unmapAll(t);
    const cmds = [];
    for (let i = 0; i < PAGES; i++) cmds.push(cmd('TLBI_NH_VA', { asid: 5, leaf: 1, addr: VA + i * 0x1000 }));
    submit(model, ...cmds, SYNC());
    expect(check()).toBe(0);
  });

  it('with RIL the same command is a 16-page range (clean); a strict SMMU without RIL rejects it', () => {
    const a = scene({ lax: true });
    unmapAll(a.t);
    submit(a.model, range16(), SYNC());
    expect(a.check()).toBe(0);
    const b = scene({ features: { ril: false } });
    submit(b.model, range16(), SYNC());
    expect(b.model.queue.stalled).toBe(true);
    expect(['num', 'tg', 'ttl']).toContain(b.model.lastError?.issue.field);
  });

  it('without DS, SCALE bit 25 is not part of SCALE: SCALE=33 is SCALE=1 (2 pages), the rest stale', () => {
    const { model, t, check } = scene({ lax: true });
    unmapAll(t);
    submit(
      model,
      cmd('TLBI_NH_VA', { asid: 5, leaf: 1, tg: 1, ttl: 3, num: 0, scale: 33, addr: VA }, dsChecker),
      SYNC(),
    );
    expect(model.tlb.size).toBe(PAGES - 2);
    expect(check()).toBe(PAGES - 2);
  });

  it('clean twin without DS: SCALE=4 covers the 16 pages', () => {
    const { model, t, check } = scene({ lax: true });
    unmapAll(t);
    submit(model, cmd('TLBI_NH_VA', { asid: 5, leaf: 1, tg: 1, ttl: 3, num: 0, scale: 4, addr: VA }), SYNC());
    expect(check()).toBe(0);
  });
});

describe('TLBI_EL2_ALL under CR2.E2H=1 (IHI 0070 4.4.2.7)', () => {
  it('removes EL2 entries without an ASID too (no false stale report)', () => {
    const { model, t, check } = scene({ e2h: true }, 'el2');
    const before = model.tlb.size + model.walkCache.size;
    expect(before).toBe(PAGES + 3);
    unmapAll(t);
    submit(model, cmd('TLBI_EL2_ALL'), SYNC());
    expect(model.tlb.size + model.walkCache.size).toBe(0);
    expect(check()).toBe(0);
  });

  it('and the EL2-E2H entries; EL2_ASID under E2H does not reach the plain EL2 entries (still caught)', () => {
    const a = scene({ e2h: true }, 'el2-e2h');
    unmapAll(a.t);
    submit(a.model, cmd('TLBI_EL2_ALL'), SYNC());
    expect(a.check()).toBe(0);
    const b = scene({ e2h: true }, 'el2');
    unmapAll(b.t);
    submit(b.model, cmd('TLBI_EL2_ASID', { asid: 5 }), SYNC());
    expect(b.check()).toBe(PAGES);
  });
});
