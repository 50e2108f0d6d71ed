/**
 * Bad input on the plan page: each is marked at its field with the message `smmuv3-tlbi plan` prints for
 * the same request, the page keeps working (no exception, no blank page), and fixing the input clears it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromiumAvailable, runCli, screenshot, startHarness, type PageHarness } from './e2e-harness.js';

const SMMU0 = [{ id: 0, ril: true, e2h: false, forceSync: false }];
const S1 = { smmu: 0, type: 'S1_ASID', id: 5, vmid: 0, pgsize: 4096 };

interface BadCase {
  name: string;
  /** The page's URL state. */
  query: Record<string, string>;
  /** Where the page must show it: the error slot (data-for) and the marked input. */
  slot: string;
  input: string;
  /** The same request for the CLI. */
  doc: Record<string, unknown>;
}

const linux = (over: Record<string, unknown>): Record<string, unknown> => ({
  smmus: SMMU0,
  invs: [S1],
  policy: 'linux',
  iova: '0x10000000',
  size: '0x21000',
  granule: 4096,
  leaf: true,
  ...over,
});

const CASES: BadCase[] = [
  {
    name: 'size not a multiple of the page size',
    query: { start: '0x10000000', size: '0x1234', invs: '0:S1_ASID:5:0' },
    slot: 'size',
    input: '#f-size',
    doc: linux({ size: '0x1234' }),
  },
  {
    name: 'start that does not parse',
    query: { start: '0x10zz', size: '0x21000', invs: '0:S1_ASID:5:0' },
    slot: 'start',
    input: '#f-start',
    doc: linux({ iova: '0x10zz' }),
  },
  {
    name: 'start not aligned to a 64K pgsize',
    query: { start: '0x1000', size: '64K', pgsize: '65536', granule: '65536', invs: '0:S1_ASID:5:0' },
    slot: 'start',
    input: '#f-start',
    doc: linux({ iova: '0x1000', size: '64K', granule: 65536, invs: [{ ...S1, pgsize: 65536 }] }),
  },
  {
    name: 'ASID beyond 16 bits',
    query: { start: '0x10000000', size: '0x21000', invs: '0:S1_ASID:0x10000:0' },
    slot: 'invs',
    input: '#invs-body tr[data-row="0"] [data-col=id]',
    doc: linux({ invs: [{ ...S1, id: '0x10000' }] }),
  },
  {
    name: 'SubstreamID beyond 20 bits',
    query: { start: '0x10000000', size: '0x21000', invs: '0:S1_ASID:5:0,0:ATS:16:0x100000' },
    slot: 'invs',
    input: '#invs-body tr[data-row="1"] [data-col=extra]',
    doc: linux({ invs: [S1, { smmu: 0, type: 'ATS', id: 16, ssid: '0x100000' }] }),
  },
  {
    name: 'last below start',
    query: { start: '0x2000', last: '0x1fff', invs: '0:S1_ASID:5:0' },
    slot: 'last',
    input: '#f-last',
    doc: {
      smmus: SMMU0,
      invs: [S1],
      policy: 'tlbi',
      tlbi: { start: '0x2000', last: '0x1fff', leafLevels: [3], tableLevels: [], granule: 4096 },
    },
  },
  {
    name: 'last not the last byte of a page',
    query: { start: '0x2000', last: '0x1fff0', invs: '0:S1_ASID:5:0' },
    slot: 'last',
    input: '#f-last',
    doc: {
      smmus: SMMU0,
      invs: [S1],
      policy: 'tlbi',
      tlbi: { start: '0x2000', last: '0x1fff0', leafLevels: [3], tableLevels: [], granule: 4096 },
    },
  },
  {
    name: 'a tlbi description where nothing changed',
    query: { start: '0x10000000', size: '0x21000', desc: 'tlbi', ll: '', tl: '', invs: '0:S1_ASID:5:0' },
    slot: 'leafLevels',
    input: '#f-ll',
    doc: {
      smmus: SMMU0,
      invs: [S1],
      policy: 'tlbi',
      tlbi: { start: '0x10000000', last: '0x10020fff', leafLevels: [], tableLevels: [], granule: 4096 },
    },
  },
];

const enabled = chromiumAvailable();

describe.skipIf(!enabled)('bad input on the plan page', () => {
  let hn: PageHarness;
  beforeAll(async () => {
    hn = await startHarness();
  });
  afterAll(async () => {
    await hn?.close();
  });

  for (const c of CASES) {
    it(`${c.name}: marked at the field with the CLI's message`, async () => {
      const cli = await runCli(['plan', '--json'], c.doc);
      expect(cli.code).toBe(2);
      expect(cli.stdout).toBe('');
      const cliMessage = cli.stderr.trim().replace(/^error: /, '');
      const page = await hn.open(new URLSearchParams(c.query).toString());
      const slot = page.locator(`#plan-form .err.shown[data-for="${c.slot}"]`);
      expect(await slot.textContent()).toBe(cliMessage);
      expect(await page.locator(c.input).getAttribute('aria-invalid')).toBe('true');
      // Still a working page: the header, the form and the comparison are there, and nothing threw.
      expect(await page.locator('#plan-form').isVisible()).toBe(true);
      expect(await page.locator('table.compare').count()).toBe(1);
      expect(await page.locator('#plan-error').isHidden()).toBe(true);
      expect(hn.errors).toEqual([]);
      await screenshot(page, `e2e-error-${c.name.replace(/[^a-z0-9]+/gi, '-').toLowerCase()}`, false);
      await page.close();
    });
  }

  it('fixing the input clears the mark and draws the plan', async () => {
    const page = await hn.open('start=0x10000000&size=0x1234&invs=0:S1_ASID:5:0');
    expect(await page.locator('#plan-form .err.shown[data-for="size"]').count()).toBe(1);
    expect(await page.locator('svg.plan').count()).toBe(0);
    await page.fill('#f-size', '0x21000');
    expect(await page.locator('#plan-form .err.shown').count()).toBe(0);
    expect(await page.locator('#f-size').getAttribute('aria-invalid')).toBeNull();
    expect(await page.locator('svg.plan[data-policy="linux"] rect[data-cmd="TLBI_NH_VA"]').count()).toBe(2);
    // Typing garbage never throws either.
    for (const junk of ['', '-1', '0x', '1e9', '99999999999999999999999', '0x1_0000_0000_0000_0000', '4Q']) {
      await page.fill('#f-start', junk);
      expect(await page.locator('#plan-form .err.shown[data-for="start"]').count(), junk).toBe(1);
    }
    expect(hn.errors).toEqual([]);
    await page.close();
  });
});
