/**
 * The simulate view's cache contents in a real browser: around the change it shows, the page lists exactly
 * the entries the core's snapshot API captures under Node for the same seed (before the commands and after
 * the last CMD_SYNC), marks what the commands removed, and highlights in red the entries the checker found
 * stale — at the address and with the translation the core's own report gives. Stepping to another change
 * shows what the core captures for that change.
 */
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hexAddr } from '../src/bits.js';
import { runSimulation, type ChangeCapture, type SimConfig } from '../src/sim/workload.js';
import { staleReportKey } from '../src/smmu/snapshot.js';
import { chromiumAvailable, screenshot, startHarness, type PageHarness } from './e2e-harness.js';
import { SIM_BASE, simulateQuery } from './sim-fixtures.js';

const enabled = chromiumAvailable();

/** Rows the page shows per table at most (web/src/cache-view.ts MaxRowsShown); the windows here are smaller. */
const ShownCap = 60;

const BASE = SIM_BASE;

const query = simulateQuery;

interface ShownRow {
  key: string;
  state: string;
  input: string;
  output: string;
  staleAddress: string | null;
  cached: string | null;
  cells: string[];
  strike: string;
  background: string;
}
interface ShownTable {
  smmu: number;
  cache: string;
  phase: string;
  rows: ShownRow[];
}

/** What the page shows: every cache table of every SMMU, row by row. */
async function shown(page: Page): Promise<{ change: number; op: number; tables: ShownTable[] }> {
  return page.evaluate(() => {
    const sec = document.querySelector<HTMLElement>('#sim-caches')!;
    const tables: ShownTable[] = [];
    for (const d of Array.from(sec.querySelectorAll<HTMLElement>('details.cap-smmu'))) {
      for (const t of Array.from(d.querySelectorAll<HTMLElement>('table.cap-table'))) {
        const rows = Array.from(t.querySelectorAll<HTMLElement>('tr.cap-row')).map((tr) => {
          const td = tr.querySelector('td')!;
          return {
            key: tr.dataset.key!,
            state: tr.dataset.state!,
            input: tr.dataset.input!,
            output: tr.dataset.output!,
            staleAddress: tr.dataset.staleAddress ?? null,
            cached: tr.dataset.cached ?? null,
            cells: Array.from(tr.querySelectorAll('td')).map((c) => c.textContent ?? ''),
            strike: getComputedStyle(td).textDecorationLine,
            background: getComputedStyle(td).backgroundColor,
          };
        });
        tables.push({ smmu: Number(d.dataset.smmu), cache: t.dataset.cache!, phase: t.dataset.phase!, rows });
      }
    }
    return { change: Number(sec.dataset.change), op: Number(sec.dataset.op), tables };
  });
}

const Caches = ['tlb', 'walk', 'atc'] as const;
const Phases = ['before', 'after'] as const;

/** The page shows the core's capture: same rows (key, input, output), in the same order, with the right marks. */
function expectSameAsCore(page: Awaited<ReturnType<typeof shown>>, cap: ChangeCapture): void {
  expect(page.change).toBe(cap.change);
  expect(page.op).toBe(cap.op);
  expect(page.tables).toHaveLength(cap.smmus.length * Caches.length * Phases.length);
  for (const m of cap.smmus) {
    for (const cache of Caches) {
      const same = (a: object, b: object): boolean => JSON.stringify(a) === JSON.stringify(b);
      const before = m.before[cache].entries;
      const after = m.after[cache].entries;
      for (const phase of Phases) {
        const t = page.tables.find((x) => x.smmu === m.smmu && x.cache === cache && x.phase === phase)!;
        const core = (phase === 'before' ? before : after).slice(0, ShownCap);
        expect(
          t.rows.map((r) => [r.key, r.input, r.output]),
          `SMMU ${m.smmu} ${cache} ${phase}`,
        ).toEqual(core.map((r) => [r.key, hexAddr(r.input), hexAddr('next' in r ? r.next : r.output)]));
        for (const [i, r] of t.rows.entries()) {
          const c = core[i]!;
          expect(r.cells).toContain(hexAddr(c.input));
          if (phase === 'before') {
            const removed = !(after as object[]).some((a) => same(a, c));
            expect(r.state).toBe(removed ? 'removed' : 'kept');
            if (removed) expect(r.strike).toBe('line-through');
          } else {
            const stale = m.stale.some((x) => staleReportKey(x) === c.key);
            expect(r.state === 'stale').toBe(stale);
            if (!stale) expect(r.state).toBe((before as object[]).some((b) => same(b, c)) ? 'kept' : 'new');
          }
        }
      }
    }
  }
}

describe.skipIf(!enabled)('simulate view: cache contents in Chromium', () => {
  let hn: PageHarness;
  beforeAll(async () => {
    hn = await startHarness();
  });
  afterAll(async () => {
    await hn?.close();
  });

  const faulty: [string, SimConfig][] = [
    ['no-atc', { ...BASE, fault: 'no-atc' }],
    ['short-range', { ...BASE, smmus: 1, ops: 200, seed: 1, fault: 'short-range' }],
    ['nested-short-range', { ...BASE, stage: 'nested', ril: false, policy: 'tlbi', fault: 'short-range' }],
  ];
  for (const [name, c] of faulty) {
    it(`${name}: the stale rows are red, at the address and translation the core reports`, async () => {
      const ref = runSimulation({ ...c, maxReports: 100000 });
      expect(ref.stale).toBeGreaterThan(0);
      const first = ref.staleReports[0]!;
      const page = await hn.open(query(c));
      await page.waitForSelector('#sim-caches');
      const s = await shown(page);
      // By default the page shows the first change that left a stale translation: the report's first.
      expect(s.op).toBe(first.op);
      const staleRows = s.tables.flatMap((t) =>
        t.rows.filter((r) => r.state === 'stale').map((r) => ({ ...r, smmu: t.smmu })),
      );
      expect(staleRows.length).toBeGreaterThan(0);
      const hit = staleRows.find(
        (r) => r.smmu === first.smmu && r.staleAddress === first.address && r.cached === first.cached,
      );
      expect(hit, `a red row at ${first.address} → ${first.cached}`).toBeDefined();
      expect(hit!.background).toBe('rgb(254, 226, 226)');
      // Every red row is one the core reported for that operation, with the same translation.
      const ofOp = ref.staleReports.filter((r) => r.op === first.op);
      for (const r of staleRows)
        expect(ofOp.some((x) => x.smmu === r.smmu && x.address === r.staleAddress && x.cached === r.cached)).toBe(true);
      // And the rows are those the core's snapshot API captures for that change.
      const cap = runSimulation({ ...c, capture: { change: 'auto' } }).capture!;
      expectSameAsCore(s, cap);
      expect(await page.locator('#sim-caches tr.cap-row.stale td.reason').first().textContent()).toContain(
        first.address,
      );
      await page.locator(`#sim-caches details.cap-smmu[data-smmu="${first.smmu}"]`).scrollIntoViewIfNeeded();
      await screenshot(page, `e2e-simulate-caches-${name}`);
      expect(hn.errors).toEqual([]);
      await page.close();
    });
  }

  for (const [name, c] of [
    ['stage1', BASE],
    ['nested', { ...BASE, stage: 'nested' as const }],
  ] as const) {
    it(`${name}, no fault: no red row; before and after are what the core's snapshot API returns`, async () => {
      const ref = runSimulation({ ...c, capture: { change: 'auto' } });
      const cap = ref.capture!;
      expect(ref.stale).toBe(0);
      const page = await hn.open(query(c));
      await page.waitForSelector('#sim-caches');
      const s = await shown(page);
      expect(s.tables.flatMap((t) => t.rows).filter((r) => r.state === 'stale')).toEqual([]);
      // The last change (nothing went stale), and the commands removed what it unmapped.
      expect(s.change).toBe(cap.changes - 1);
      expect(s.tables.flatMap((t) => t.rows).some((r) => r.state === 'removed')).toBe(true);
      expectSameAsCore(s, cap);
      await screenshot(page, `e2e-simulate-caches-${name}-none`);
      expect(hn.errors).toEqual([]);
      await page.close();
    });
  }

  it('steps to the previous and next change, and to the next stale one, showing what the core captures there', async () => {
    const c: SimConfig = { ...BASE, fault: 'no-atc' };
    const auto = runSimulation({ ...c, capture: { change: 'auto' } }).capture!;
    const page = await hn.open(query(c));
    await page.waitForSelector('#sim-caches');
    expect((await shown(page)).change).toBe(auto.change);
    await page.click('#cap-next');
    expectSameAsCore(await shown(page), runSimulation({ ...c, capture: { change: auto.change + 1 } }).capture!);
    await page.click('#cap-prev');
    expectSameAsCore(await shown(page), auto);
    await page.click('#cap-next-stale');
    const next = auto.staleChanges.find((k) => k > auto.change)!;
    expectSameAsCore(await shown(page), runSimulation({ ...c, capture: { change: next } }).capture!);
    expect(await page.locator('#cap-prev-stale').isEnabled()).toBe(true);
    expect(hn.errors).toEqual([]);
    await page.close();
  });
});
