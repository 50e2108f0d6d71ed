/**
 * Page fixes of issue 13 in Chromium: a long target type is shown whole in the targets table; after bad
 * input the derived description is not left from the last good request; every wrong input is marked, not
 * only the first; a dropped dump replaces the pasted words; no sideways scrolling at 420 px.
 */
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromiumAvailable, startHarness, type PageHarness } from './e2e-harness.js';

const enabled = chromiumAvailable();

/** The selected option's text width in the select's own font, and the room the select gives it. */
async function selectFits(page: Page, selector: string): Promise<{ text: number; room: number; label: string }> {
  return page.$eval(selector, (el) => {
    const s = el as HTMLSelectElement;
    const cs = getComputedStyle(s);
    const ctx = document.createElement('canvas').getContext('2d')!;
    ctx.font = `${cs.fontWeight} ${cs.fontSize} ${cs.fontFamily}`;
    const label = s.selectedOptions[0]?.textContent ?? '';
    // The arrow of a closed select takes about 20 px at the right.
    const room = s.clientWidth - parseFloat(cs.paddingLeft) - parseFloat(cs.paddingRight) - 20;
    return { text: ctx.measureText(label).width, room, label };
  });
}

/** Elements wider than the viewport, or reaching past its right edge (what makes a page scroll sideways). */
async function overflowing(page: Page): Promise<string[]> {
  return page.evaluate(() => {
    const w = document.documentElement.clientWidth;
    const out: string[] = [];
    for (const el of Array.from(document.querySelectorAll('body *'))) {
      const r = el.getBoundingClientRect();
      if (r.width === 0 || getComputedStyle(el).visibility === 'hidden') continue;
      // Inside a box that scrolls on its own, overflow is that box's business.
      let p = el.parentElement;
      let clipped = false;
      while (p && p !== document.body) {
        const ox = getComputedStyle(p).overflowX;
        if (ox === 'auto' || ox === 'scroll' || ox === 'hidden') {
          clipped = true;
          break;
        }
        p = p.parentElement;
      }
      if (!clipped && r.right > w + 0.5)
        out.push(`${el.tagName.toLowerCase()}${el.id ? '#' + el.id : ''}.${el.className} right=${Math.round(r.right)}`);
    }
    return out;
  });
}

describe.skipIf(!enabled)('page fixes (issue 13)', () => {
  let hn: PageHarness;
  beforeAll(async () => {
    hn = await startHarness();
  });
  afterAll(async () => {
    await hn?.close();
  });

  it('S2_VMID_S1_CLEAR is shown whole in the targets table (and so is every other type)', async () => {
    const page = await hn.open(
      'start=0x10000000&size=0x21000&invs=0:S2_VMID_S1_CLEAR:3:0,0:S1_ASID_NESTED:5:3,0:ATS_FULL:16:0',
    );
    for (const row of [0, 1, 2]) {
      const f = await selectFits(page, `#invs-body tr[data-row="${row}"] [data-col=type]`);
      expect(f.text, `${f.label}: ${f.text} px of text in ${f.room} px`).toBeLessThanOrEqual(f.room);
    }
    expect((await selectFits(page, '#invs-body tr[data-row="0"] [data-col=type]')).label).toBe('S2_VMID_S1_CLEAR');
    await page.close();
    const narrow = await hn.open('start=0x10000000&size=0x21000&invs=0:S2_VMID_S1_CLEAR:3:0', {
      width: 420,
      height: 900,
    });
    const f = await selectFits(narrow, '#invs-body tr[data-row="0"] [data-col=type]');
    expect(f.text, `at 420 px: ${f.text} px of text in ${f.room} px`).toBeLessThanOrEqual(f.room);
    await narrow.close();
  });

  it('after bad input the derived description is not the last good one; fixed input brings it back', async () => {
    const page = await hn.open('start=0x10000000&size=0x21000&invs=0:S1_ASID:5:0');
    const good = (await page.locator('#desc-derived').textContent()) ?? '';
    expect(good).toContain('tlbi description: [0x10000000, 0x10020fff]');
    await page.fill('#f-size', '0x1234');
    await page.waitForSelector('#f-size[aria-invalid="true"]');
    expect(await page.locator('#desc-derived').textContent()).not.toContain('0x10020fff');
    await page.fill('#f-size', '0x21000');
    await page.waitForSelector('#f-size:not([aria-invalid])');
    expect(await page.locator('#desc-derived').textContent()).toBe(good);
    await page.close();
  });

  it('every wrong input is marked, each with its message; a clean twin marks none', async () => {
    const page = await hn.open('start=0x10zz&size=0x1234&invs=0:S1_ASID:0x10000:0,0:ATS:16:0x100000');
    const marked = await page.$$eval('#plan-form [aria-invalid="true"]', (els) =>
      els.map((e) => e.id || `${e.closest('tr')?.dataset.row ?? ''}:${(e as HTMLElement).dataset.col ?? ''}`),
    );
    expect(marked.sort()).toEqual(['0:id', '1:extra', 'f-size', 'f-start']);
    expect(await page.locator('#plan-form .err[data-for=start]').textContent()).toMatch(/0x10zz/);
    expect(await page.locator('#plan-form .err[data-for=size]').textContent()).not.toBe('');
    expect(await page.locator('#plan-form .err[data-for=invs]').textContent()).not.toBe('');
    await page.close();
    const clean = await hn.open('start=0x10000000&size=0x21000&invs=0:S1_ASID:5:0,0:ATS:16:3');
    expect(await clean.locator('#plan-form [aria-invalid="true"]').count()).toBe(0);
    await clean.close();
  });

  it('a dropped dump replaces the pasted words (the text box no longer shows them)', async () => {
    const page = await hn.open('view=decode');
    await page.fill('#dec-words', '0x0001000000000012 0x00000000ffff6701');
    await page.waitForSelector('#dec-table tr.ok');
    const dump = Buffer.alloc(32);
    dump.writeBigUInt64LE(0x46n, 0); // CMD_SYNC
    dump.writeBigUInt64LE(0x46n, 16);
    await page.setInputFiles('#dec-file', { name: 'q.bin', mimeType: 'application/octet-stream', buffer: dump });
    await page.waitForFunction(() => document.querySelector('#dec-summary')?.textContent?.startsWith('q.bin'));
    expect(await page.inputValue('#dec-words')).toBe('');
    expect(await page.locator('#dec-table tr.ok[data-name=CMD_SYNC]').count()).toBe(2);
    expect(await page.locator('#dec-table tr[data-name=TLBI_NH_VA]').count()).toBe(0);
    // Typing again goes back to the words.
    await page.fill('#dec-words', '0x0001000000000012 0x00000000ffff6701');
    await page.waitForFunction(() => document.querySelector('#dec-summary')?.textContent?.startsWith('pasted'));
    await page.close();
  });

  it('at 420 px wide no view scrolls sideways; at 1400 px neither', async () => {
    for (const width of [420, 1400]) {
      for (const view of ['plan', 'decode', 'simulate']) {
        const page = await hn.open(
          `view=${view}&start=0x10000000&size=0x21000&invs=0:S2_VMID_S1_CLEAR:3:0,0:ATS:16:0`,
          {
            width,
            height: 900,
          },
        );
        const sizes = await page.evaluate(() => ({
          scroll: document.documentElement.scrollWidth,
          client: document.documentElement.clientWidth,
        }));
        expect({ view, width, ...sizes, over: await overflowing(page) }).toEqual({
          view,
          width,
          scroll: sizes.client,
          client: sizes.client,
          over: [],
        });
        await page.close();
      }
    }
  });
});
