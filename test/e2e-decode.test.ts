/**
 * The command-queue view in a real browser: pasted hex words and dropped binary dumps decode entry by entry
 * exactly as `smmuv3-tlbi decode --json` decodes them, illegal entries marked with the field and reason.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { ROOT, chromiumAvailable, runCli, screenshot, startHarness, type PageHarness } from './e2e-harness.js';

/** Legal entries from a real Linux guest's queue and four illegal ones, each for a different reason. */
const WORDS = [
  ['0x0000000000000004', '0x000000000000001f'], // CFGI_STE_RANGE, all
  ['0x0001000000000012', '0x00000000ffff6701'], // TLBI_NH_VA
  ['0x000000000fc02046', '0x0000000000000000'], // CMD_SYNC
  ['0x00000000000030ff', '0x0000000000000000'], // reserved opcode
  ['0x0000000000003046', '0x0000000000000000'], // CMD_SYNC with CS=3
  ['0x0001000000000012', '0x00000000ffff6301'], // TTL without TG
  ['0x0000000000000000', '0x0000000000000000'], // an empty ring slot
] as const;

interface CliEntry {
  index: number;
  name?: string;
  error?: { field: string; reason: string };
  words: [string, string];
}

function bytesOf(words: readonly (readonly [string, string])[]): Buffer {
  const b = Buffer.alloc(words.length * 16);
  words.forEach(([w0, w1], k) => {
    b.writeBigUInt64LE(BigInt(w0), k * 16);
    b.writeBigUInt64LE(BigInt(w1), k * 16 + 8);
  });
  return b;
}

async function rows(page: Page): Promise<{ name: string; words: string[]; field: string | null; text: string }[]> {
  return page.$$eval('#dec-table tbody tr:not(.empty)', (trs) =>
    trs.map((tr) => {
      const td = tr.querySelectorAll('td');
      return {
        name: tr.getAttribute('data-name') ?? 'ILLEGAL',
        words: [td[1]?.textContent ?? '', td[2]?.textContent ?? ''],
        field: tr.getAttribute('data-field'),
        text: td[4]?.textContent ?? '',
      };
    }),
  );
}

function expectSame(shown: Awaited<ReturnType<typeof rows>>, cli: CliEntry[]): void {
  expect(shown).toHaveLength(cli.length);
  cli.forEach((e, k) => {
    const r = shown[k]!;
    expect(r.words, `entry ${k} words`).toEqual(e.words);
    if (e.error) {
      expect(r.name, `entry ${k}`).toBe('ILLEGAL');
      expect(r.field, `entry ${k} field`).toBe(e.error.field);
      expect(r.text, `entry ${k} reason`).toContain(e.error.reason);
    } else expect(r.name, `entry ${k}`).toBe(e.name);
  });
}

const enabled = chromiumAvailable();

describe.skipIf(!enabled)('command-queue view in Chromium', () => {
  let hn: PageHarness;
  let tmp: string;
  beforeAll(async () => {
    hn = await startHarness();
    tmp = mkdtempSync(join(tmpdir(), 'smmuv3-tlbi-dump-'));
  });
  afterAll(async () => {
    await hn?.close();
    rmSync(tmp, { recursive: true, force: true });
  });

  it('decodes pasted words like decode --json, marking illegal entries with field and reason', async () => {
    const cli = await runCli(['decode', '--json', ...WORDS.flat()]);
    expect(cli.code).toBe(1);
    const doc = JSON.parse(cli.stdout) as { entries: CliEntry[]; summary: { entries: number; illegal: number } };
    const page = await hn.open('view=decode');
    await page.fill('#dec-words', WORDS.map(([a, b]) => `${a} ${b}`).join('\n'));
    expectSame(await rows(page), doc.entries);
    expect(doc.summary.illegal).toBe(4);
    expect(await page.locator('#dec-summary').textContent()).toContain(
      `${doc.summary.entries} entries, ${doc.summary.illegal} illegal`,
    );
    expect(await page.locator('#dec-table tr.illegal').count()).toBe(doc.summary.illegal);
    // The URL keeps the pasted words.
    expect(new URL(page.url()).searchParams.get('words')).toContain('0x00000000000030ff');
    await screenshot(page, 'e2e-decode-pasted');
    await page.close();
  });

  it('decodes a dropped binary dump like decode --file', async () => {
    const dump = bytesOf(WORDS);
    const file = join(tmp, 'cmdq.bin');
    writeFileSync(file, dump);
    const cli = await runCli(['decode', '--json', '--file', file]);
    const doc = JSON.parse(cli.stdout) as { entries: CliEntry[] };
    const page = await hn.open('view=decode');
    await page.setInputFiles('#dec-file', { name: 'cmdq.bin', mimeType: 'application/octet-stream', buffer: dump });
    await page.waitForSelector('#dec-table tbody tr');
    expectSame(await rows(page), doc.entries);
    // The last slot is zero: an empty ring slot of a dump, one row like the CLI's line, not judged.
    expect(await page.locator('#dec-table tr.empty').allTextContents()).toEqual(['slot 6: empty (zero)']);
    expect(await page.locator('#dec-summary').textContent()).toContain(
      'cmdq.bin: 7 entries, 3 illegal, 1 empty (zero)',
    );
    await page.close();
  });

  it('a dropped dump of zeros holds no command (the CLI message); pasted zero words are judged', async () => {
    const file = join(tmp, 'zeros.bin');
    writeFileSync(file, Buffer.alloc(16 * 8));
    const cli = await runCli(['decode', '--file', file]);
    expect(cli.code).toBe(2);
    const page = await hn.open('view=decode');
    await page.setInputFiles('#dec-file', {
      name: 'zeros.bin',
      mimeType: 'application/octet-stream',
      buffer: Buffer.alloc(128),
    });
    await page.waitForSelector('#dec-error:not([hidden])');
    expect(await page.locator('#dec-error').textContent()).toBe(
      cli.stderr
        .trim()
        .replace(/^error: /, '')
        .replace(file, 'zeros.bin'),
    );
    await page.close();
    const typed = await hn.open('view=decode');
    await typed.fill('#dec-words', '0x0 0x0');
    await typed.waitForSelector('#dec-table tr.illegal');
    expect(await typed.locator('#dec-summary').textContent()).toContain('pasted words: 1 entries, 1 illegal');
    await page.close();
  });

  it('decodes the real 65536-entry ring of a Linux guest with the CLI counts', async () => {
    const ring = gunzipSync(readFileSync(join(ROOT, 'samples', 'linux-6.1-qemu-7.2-strict', 'cmdq.bin.gz')));
    const file = join(tmp, 'ring.bin');
    writeFileSync(file, ring);
    const cli = await runCli(['decode', '--json', '--file', file]);
    const doc = JSON.parse(cli.stdout) as { entries: CliEntry[]; summary: { entries: number; illegal: number } };
    const page = await hn.open('view=decode');
    await page.setInputFiles('#dec-file', { name: 'ring.bin', mimeType: 'application/octet-stream', buffer: ring });
    await page.waitForSelector('#dec-table tbody tr');
    expect(doc.summary).toEqual({ entries: 65536, illegal: 0, empty: 47739 });
    expect(await page.locator('#dec-summary').textContent()).toContain(
      `ring.bin: ${doc.summary.entries} entries, ${doc.summary.illegal} illegal, 47739 empty (zero) (first 2000 rows shown)`,
    );
    const first = (await rows(page)).slice(0, 64);
    expectSame(first, doc.entries.slice(0, 64));
    // Illegal entries only, as `decode --errors-only` prints them: none, and the empty slots are not among them.
    await page.check('#dec-errors-only');
    expect(await page.locator('#dec-table tr.illegal').count()).toBe(0);
    expect(await page.locator('#dec-table tr.ok').count()).toBe(0);
    expect(await page.locator('#dec-table tr.empty').count()).toBe(0);
    await page.close();
  });

  it('reports a dump that is not whole entries, and bad words, with the CLI message', async () => {
    const file = join(tmp, 'short.bin');
    writeFileSync(file, Buffer.alloc(17));
    const cli = await runCli(['decode', '--file', file]);
    expect(cli.code).toBe(2);
    const cliMessage = cli.stderr
      .trim()
      .replace(/^error: /, '')
      .replace(file, 'short.bin');
    const page = await hn.open('view=decode');
    await page.setInputFiles('#dec-file', {
      name: 'short.bin',
      mimeType: 'application/octet-stream',
      buffer: Buffer.alloc(17),
    });
    await page.waitForSelector('#dec-error:not([hidden])');
    expect(await page.locator('#dec-error').textContent()).toBe(cliMessage);
    // An odd number of words: the same message after the source name (the CLI says "arguments", the page "words").
    const odd = await runCli(['decode', '0x12']);
    expect(odd.code).toBe(2);
    await page.fill('#dec-words', '0x12');
    const pageText = (await page.locator('#dec-error').textContent()) ?? '';
    expect(pageText.replace(/^words: /, '')).toBe(odd.stderr.trim().replace(/^error: arguments: /, ''));
    expect(await page.locator('#dec-words').getAttribute('aria-invalid')).toBe('true');
    expect(hn.errors).toEqual([]);
    await page.close();
  });

  it("sends a plan's words to the command-queue view, where every entry is legal", async () => {
    const page = await hn.open('start=0x10000000&size=0x21000&invs=0:S1_ASID:5:0,0:ATS:16:0');
    const drawn = await page.locator('svg.plan[data-policy="linux"] rect[data-cmd]').count();
    const syncs = await page.locator('svg.plan[data-policy="linux"] [data-cmd="CMD_SYNC"]').count();
    await page.click('.to-decode[data-policy="linux"]');
    await page.waitForSelector('#view-decode:not([hidden]) #dec-table tbody tr');
    expect(await page.locator('#dec-table tbody tr').count()).toBe(drawn + syncs);
    expect(await page.locator('#dec-table tr.illegal').count()).toBe(0);
    await page.close();
  });
});
