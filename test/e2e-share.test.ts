/**
 * Share links in a real browser: a large pasted queue goes compressed into the URL fragment (never to the
 * server, whose 16 KB header limit a query of 5,000 entries breaks with HTTP 431), and the link reopens the
 * same view; a case too large for any browser's URL is warned about, not linked; old query links still open.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { UrlMaxChars } from '../web/src/share.js';
import { chromiumAvailable, startHarness, type PageHarness } from './e2e-harness.js';

const hex = (x: number): string => '0x' + x.toString(16).padStart(16, '0');

/**
 * A queue like the one a Linux guest writes while unmapping: single-page TLBI_NH_VA (ASID 1, TG 4K, TTL 3)
 * on a moving address, each followed by a CMD_SYNC, with a few entries the checker rejects.
 */
function guestQueue(entries: number): string {
  const lines: string[] = [];
  for (let k = 0; k < entries; k++) {
    if (k % 2 === 1) lines.push(`${hex(0x0fc02046)} ${hex(0)}`);
    else if (k % 1000 === 500) lines.push(`${hex(0x30ff)} ${hex(0)}  # reserved opcode`);
    else {
      const va = 0xffff0000_0000 + (k >> 1) * 0x1000;
      lines.push(`0x0001000000000012 ${hex(va + 0x701)}`);
    }
  }
  return lines.join('\n');
}

/** Random entries: hex words that do not compress, for a case too large to link. */
function noiseQueue(entries: number): string {
  const b = randomBytes(entries * 16);
  const lines: string[] = [];
  for (let k = 0; k < entries; k++)
    lines.push(`0x${b.toString('hex', k * 16, k * 16 + 8)} 0x${b.toString('hex', k * 16 + 8, k * 16 + 16)}`);
  return lines.join('\n');
}

/**
 * Paste text into the words box as a browser does: the whole value at once and one input event (Playwright's
 * fill types into the box and takes minutes for text this long).
 */
async function paste(page: Page, text: string): Promise<void> {
  await page.evaluate((t) => {
    const box = document.getElementById('dec-words') as HTMLTextAreaElement;
    box.value = t;
    box.dispatchEvent(new InputEvent('input', { bubbles: true, inputType: 'insertFromPaste' }));
  }, text);
}

async function view(page: Page): Promise<{ summary: string; rows: string[]; words: string }> {
  return {
    summary: (await page.locator('#dec-summary').textContent()) ?? '',
    rows: await page.$$eval('#dec-table tbody tr', (trs) => trs.map((tr) => tr.textContent ?? '')),
    words: await page.inputValue('#dec-words'),
  };
}

const enabled = chromiumAvailable();

describe.skipIf(!enabled)('share links in Chromium', () => {
  let hn: PageHarness;
  beforeAll(async () => {
    hn = await startHarness();
  });
  afterAll(async () => {
    await hn?.close();
  });

  it('5,000 pasted entries: the link holds them compressed in the fragment and reopens the same view', async () => {
    const words = guestQueue(5000);
    const page = await hn.open('view=decode&lax=1');
    await paste(page, words);
    await page.waitForSelector('body[data-link="fragment"]');
    const before = await view(page);
    expect(before.summary).toContain('pasted words: 5000 entries, 5 illegal');
    const url = new URL(page.url());
    // Nothing of the state goes to the server: no query, all in the fragment.
    expect(url.search).toBe('');
    expect(url.hash.startsWith('#z=')).toBe(true);
    expect(page.url().length).toBeLessThan(UrlMaxChars);
    // The plain query would have been far over the server's 16 KB request limit.
    expect(new URLSearchParams({ view: 'decode', words }).toString().length).toBeGreaterThan(16 * 1024);
    expect(await page.getAttribute('#permalink', 'href')).toBe(`/${url.hash}`);
    expect(await page.locator('#link-note').textContent()).toContain("compressed into the link's #fragment");

    const again = await hn.browser.newPage({ viewport: { width: 1400, height: 1000 } });
    const response = await again.goto(page.url());
    expect(response?.status()).toBe(200);
    await again.waitForSelector('body[data-ready="1"]');
    expect(await again.isVisible('#view-decode')).toBe(true);
    expect(await again.isChecked('#dec-lax')).toBe(true);
    expect(await view(again)).toEqual(before);
    expect(await again.isHidden('#link-error')).toBe(true);
    await again.close();
    await page.close();
    expect(hn.errors).toEqual([]);
  });

  it('a case too large for a browser URL is warned about and linked without its pasted words', async () => {
    // 40,000 random entries: about 1.5 MB of text that compresses to more than the 1 MiB a URL may hold.
    const page = await hn.open('view=decode&lax=1');
    await paste(page, noiseQueue(40000));
    await page.waitForSelector('body[data-link="too-long"]');
    const note = (await page.locator('#link-note').textContent()) ?? '';
    expect(note).toContain(`over ${UrlMaxChars} characters`);
    expect(note).toContain('without the pasted words');
    expect(await page.locator('#link-note.warn').count()).toBe(1);
    expect(page.url().length).toBeLessThan(UrlMaxChars);
    const url = new URL(page.url());
    expect(url.searchParams.get('view')).toBe('decode');
    expect(url.searchParams.get('lax')).toBe('1');
    expect(url.searchParams.get('words')).toBeNull();
    // Its clean twin: clearing the words makes an ordinary link again, with no warning.
    await page.click('#dec-clear');
    await page.waitForSelector('body[data-link="query"]');
    expect(await page.locator('#link-note.warn').count()).toBe(0);
    expect(await page.locator('#link-note').textContent()).toBe('');
    await page.close();
    expect(hn.errors).toEqual([]);
  });

  it('an old query-string link with pasted words opens as before, and a damaged fragment says so', async () => {
    const words = guestQueue(20);
    const page = await hn.open(new URLSearchParams({ view: 'decode', words }).toString());
    expect((await view(page)).words).toBe(words);
    expect(await page.locator('#dec-summary').textContent()).toContain('20 entries, 0 illegal');
    expect(await page.isHidden('#link-error')).toBe(true);
    await page.close();

    const bad = await hn.browser.newPage();
    bad.on('pageerror', (e) => hn.errors.push(e.message));
    await bad.goto(`${hn.server.url}?view=decode#z=${'A'.repeat(8)}`);
    await bad.waitForSelector('body[data-ready="1"]');
    expect(await bad.locator('#link-error').textContent()).toContain('is not deflate-raw data');
    expect(await bad.isVisible('#view-decode')).toBe(true);
    await bad.close();
    expect(hn.errors).toEqual([]);
  });
});
