/**
 * The simulate view in a real browser: the workload run in the page reports exactly what the same core
 * reports under Node for the same settings (same seed), stale translations are listed when a fault breaks
 * the command stream, and bad settings are marked at their field.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runSimulation } from '../src/sim/workload.js';
import { chromiumAvailable, screenshot, startHarness, type PageHarness } from './e2e-harness.js';
import { SIM_BASE, simulateQuery } from './sim-fixtures.js';

const enabled = chromiumAvailable();

const BASE = SIM_BASE;

const query = simulateQuery;

describe.skipIf(!enabled)('simulate view in Chromium', () => {
  let hn: PageHarness;
  beforeAll(async () => {
    hn = await startHarness();
  });
  afterAll(async () => {
    await hn?.close();
  });

  for (const c of [
    BASE,
    { ...BASE, fault: 'no-atc' as const },
    { ...BASE, stage: 'nested' as const, ril: false, policy: 'tlbi' as const, fault: 'short-range' as const },
  ]) {
    it(`${c.stage}, ${c.policy}, fault ${c.fault ?? 'none'}: the page reports what the core reports`, async () => {
      const ref = runSimulation(c);
      const page = await hn.open(query(c));
      await page.waitForSelector('#sim-out .verdict');
      expect(Number(await page.locator('.verdict').getAttribute('data-stale'))).toBe(ref.stale);
      expect(await page.locator('.summary-line').textContent()).toContain(
        `${ref.ops} operations (${ref.maps} maps, ${ref.unmaps} unmaps), ${ref.translations} device translations, ${ref.syncs} CMD_SYNCs`,
      );
      expect(await page.locator('details.stale').count()).toBe(ref.staleReports.length);
      if (ref.staleReports.length) {
        const first = ref.staleReports[0]!;
        expect(await page.locator('details.stale').first().locator('summary').textContent()).toContain(
          `address ${first.address}`,
        );
      }
      if (c.fault) expect(ref.stale, 'the fault is caught').toBeGreaterThan(0);
      else expect(await page.locator('.verdict.ok').count()).toBe(1);
      await screenshot(page, `e2e-simulate-${c.stage}-${c.fault ?? 'none'}`);
      expect(hn.errors).toEqual([]);
      await page.close();
    });
  }

  it('bad settings are marked at their field', async () => {
    const page = await hn.open('view=simulate&sops=0x&sseed=1');
    expect(await page.locator('#sim-form .err.shown[data-for="ops"]').textContent()).toMatch(/^ops: cannot parse "0x"/);
    expect(await page.locator('#s-ops').getAttribute('aria-invalid')).toBe('true');
    await page.fill('#s-ops', '20');
    await page.fill('#s-smmus', '0');
    await page.click('#s-run');
    expect(await page.locator('#sim-form .err.shown[data-for="smmus"]').textContent()).toBe(
      'smmus: 0 is out of range (1 to 8)',
    );
    await page.fill('#s-smmus', '1');
    await page.click('#s-run');
    await page.waitForSelector('#sim-out .verdict');
    expect(await page.locator('#sim-form .err.shown').count()).toBe(0);
    expect(hn.errors).toEqual([]);
    await page.close();
  });
});
