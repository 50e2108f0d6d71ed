/**
 * ATC_INV with Size above 52 (issue 14 item 10). IHI 0070 4.5.1 lets an SMMU either raise CERROR_ILL for it
 * or use an UNKNOWN span; the SMMU features choose (`atcSizeAbove52`, default `illegal`). With `unknown` the
 * adversarial model takes the span to be nothing: an ATS device keeps its entries, which the stale checker
 * reports once the tables changed; the twin with Size 52 (everything) is clean. Generous mode removes all.
 */
import { describe, expect, it } from 'vitest';
import { CommandChecker, CheckedEntry, withFeatures } from '../src/cmdq/index.js';
import { CmdqError } from '../src/smmu/queue.js';
import { StaleChecker } from '../src/smmu/checker.js';
import type { ModelMode } from '../src/smmu/model.js';
import { parseFeatureList } from '../src/cli/features.js';
import { HandTable, S1_RW, SYNC, cmd, newModel, submit } from './smmu-fixtures.js';

const ROOT = 0x10_0000;
const L3 = 0x10_3000;
const VA = 0x4000_0000;
const PAGES = 8;
const UNKNOWN = withFeatures({ atcSizeAbove52: 'unknown' });
const lenient = new CommandChecker({ features: UNKNOWN });

/** An ATS stream with PAGES stage-1 pages, all cached in its ATC; then every page is unmapped. */
function scene(atcSizeAbove52: 'illegal' | 'unknown', mode: ModelMode = 'adversarial') {
  const { mem, model } = newModel({ features: { atcSizeAbove52 }, mode });
  const t = new HandTable(mem, ROOT);
  t.table(ROOT, 0, VA, 0x10_1000);
  t.table(0x10_1000, 1, VA, 0x10_2000);
  t.table(0x10_2000, 2, VA, L3);
  for (let i = 0; i < PAGES; i++) t.page(L3, VA + i * 0x1000, 0x8000_0000 + i * 0x1000, S1_RW);
  model.setStream({ sid: 1, mode: 'stage1', ats: true, vmid: 0, cds: new Map([[0, { asid: 5, table: t.cfg }]]) });
  for (let i = 0; i < PAGES; i++) model.translate(1, 0, VA + i * 0x1000);
  expect(model.atc.size).toBe(PAGES);
  for (let i = 0; i < PAGES; i++) t.clear(L3, 3, VA + i * 0x1000);
  const checker = new StaleChecker(mem);
  return { model, stale: () => checker.checkAll(model).filter((r) => r.cache === 'ATC').length };
}

describe('the codec: Size above 52 per the features', () => {
  const e = new CheckedEntry();
  const h = cmd('ATC_INV', { sid: 1, size: 53 }, lenient);
  it('is CERROR_ILL by default, and legal with atcSizeAbove52 = unknown', () => {
    expect(new CommandChecker().check(h[0]!, h[1]!, h[2]!, h[3]!, e)).toBe(false);
    expect(e.error?.field).toBe('size');
    expect(lenient.check(h[0]!, h[1]!, h[2]!, h[3]!, e)).toBe(true);
    // Size 52 is legal either way.
    const all = cmd('ATC_INV', { sid: 1, size: 52 });
    expect(new CommandChecker().check(all[0]!, all[1]!, all[2]!, all[3]!, e)).toBe(true);
  });

  it('is chosen by --features atc-size-above-52=…', () => {
    expect(parseFeatureList('atc-size-above-52=unknown', withFeatures({})).atcSizeAbove52).toBe('unknown');
    expect(parseFeatureList('ds,atc-size-above-52=illegal', UNKNOWN).atcSizeAbove52).toBe('illegal');
    expect(() => parseFeatureList('atc-size-above-52=maybe', UNKNOWN)).toThrow(/unknown feature/);
  });
});

describe('the model: Size above 52', () => {
  const tlbi = (): number[] => cmd('TLBI_NH_ASID', { asid: 5 });

  it('stops the queue with CERROR_ILL by default (the ATC keeps its entries until recovered)', () => {
    const { model } = scene('illegal');
    submit(model, tlbi(), SYNC(), cmd('ATC_INV', { sid: 1, size: 53 }, lenient), SYNC());
    expect(model.queue.stalled).toBe(true);
    expect(model.queue.consErr).toBe(CmdqError.ILL);
    expect(model.atc.size).toBe(PAGES);
  });

  it('adversarial with an UNKNOWN span: invalidates nothing, so the ATC is stale; Size 52 is clean', () => {
    const bad = scene('unknown');
    submit(bad.model, tlbi(), SYNC(), cmd('ATC_INV', { sid: 1, size: 53 }, lenient), SYNC());
    expect(bad.model.queue.stalled).toBe(false);
    expect(bad.stale()).toBe(PAGES);
    const twin = scene('unknown');
    submit(twin.model, tlbi(), SYNC(), cmd('ATC_INV', { sid: 1, size: 52 }), SYNC());
    expect(twin.stale()).toBe(0);
    expect(twin.model.atc.size).toBe(0);
  });

  it('generous with an UNKNOWN span: takes it as everything', () => {
    const g = scene('unknown', 'generous');
    submit(g.model, tlbi(), SYNC(), cmd('ATC_INV', { sid: 1, size: 63 }, lenient), SYNC());
    expect(g.model.atc.size).toBe(0);
    expect(g.stale()).toBe(0);
  });
});
