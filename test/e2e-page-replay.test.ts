/**
 * The simulate view opens a replay file (issue 16) in a real browser: the example counterexample
 * (examples/drop-sync.replay.json, written by a drop-sync campaign) replays to its 16 stale translations and
 * the page shows what `simulate --replay` prints for it, line for line (the CLI run in this process is the
 * reference); its clean twin (the same operations without the fault) shows no stale translation; a
 * malformed file shows one message naming the wrong field, the field the CLI names.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, chromiumAvailable, runCli, screenshot, startHarness, type PageHarness } from './e2e-harness.js';

const enabled = chromiumAvailable();

const EXAMPLE = join(ROOT, 'examples', 'drop-sync.replay.json');
const NAME = 'drop-sync.replay.json';

/** Open `text` as file `name` in the simulate view's replay picker; the output box once it shows. */
async function openReplay(page: Page, name: string, text: string): Promise<void> {
  await page.setInputFiles('#s-replay', { name, mimeType: 'application/json', buffer: Buffer.from(text) });
  await page.waitForSelector('#sim-out[data-replay-shown]');
}

/** A replay document, loosely typed so that a test can break any field. */
type Doc = { kind: string; workload: Record<string, unknown>; script: Record<string, unknown>[] };

/** What the CLI prints for `text`, written to a file named `name` in a temporary folder. */
async function cliReplay(name: string, text: string): Promise<{ code: number; stdout: string; stderr: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'smmuv3-tlbi-replay-'));
  const file = join(dir, name);
  writeFileSync(file, text);
  try {
    const r = await runCli(['simulate', '--replay', file]);
    // The CLI names the file as it was given; the page knows only its name.
    return { ...r, stdout: r.stdout.split(file).join(name), stderr: r.stderr.split(file).join(name) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe.skipIf(!enabled)('simulate view: replay files in Chromium', () => {
  let hn: PageHarness;
  const example = readFileSync(EXAMPLE, 'utf8');
  beforeAll(async () => {
    hn = await startHarness();
  });
  afterAll(async () => {
    await hn?.close();
  });

  it('the example replays to its 16 stale translations, shown as simulate --replay prints them', async () => {
    const ref = await cliReplay(NAME, example);
    expect(ref.code).toBe(1);
    const page = await hn.open('view=simulate&sops=20');
    await openReplay(page, NAME, example);
    expect(await page.locator('#sim-out .verdict.bad').getAttribute('data-stale')).toBe('16');
    const text = (await page.locator('#replay-text').textContent()) ?? '';
    expect(text + '\n').toBe(ref.stdout);
    // What a person reads: the operations, the commands, the stale entries.
    expect(text).toContain('operations (2):');
    expect(text).toContain('result: 16 stale translations');
    expect(text).toMatch(/^ {2}TLBI_NH_VA num=8 /m);
    expect(text).toMatch(/^ {2}CMD_SYNC /m);
    expect(text).toContain('stale entries once the last CMD_SYNC completed (11):');
    expect(text).toContain('live tables: translation fault at level 3');
    // The replay is deterministic: opening it again shows the same lines.
    await page.evaluate(() => document.getElementById('sim-out')!.removeAttribute('data-replay-shown'));
    await openReplay(page, NAME, example);
    expect(await page.locator('#replay-text').textContent()).toBe(text);
    await screenshot(page, 'e2e-page-replay-drop-sync');
    expect(hn.errors).toEqual([]);
    await page.close();
  });

  it('clean twin: the same operations without the fault leave no stale translation', async () => {
    const doc = JSON.parse(example) as { workload: { fault: string | null } };
    doc.workload.fault = null;
    const twin = JSON.stringify(doc);
    const ref = await cliReplay('twin.replay.json', twin);
    expect(ref.code).toBe(0);
    const page = await hn.open('view=simulate&sops=20');
    await openReplay(page, 'twin.replay.json', twin);
    expect(await page.locator('#sim-out .verdict.ok').getAttribute('data-stale')).toBe('0');
    expect(await page.locator('#replay-error').count()).toBe(0);
    const text = (await page.locator('#replay-text').textContent()) ?? '';
    expect(text + '\n').toBe(ref.stdout);
    expect(text).toContain('result: no stale translation');
    expect(hn.errors).toEqual([]);
    await page.close();
  });

  for (const [what, edit, field] of [
    ['a granule that does not exist', (d: Doc) => (d.workload.granule = 8192), 'workload.granule'],
    ['a negative address', (d: Doc) => (d.script[1]!.iova = -4096), 'script[1].iova'],
    ['not a replay', (d: Doc) => (d.kind = 'campaign'), 'kind'],
  ] as const) {
    it(`a malformed file (${what}) gets one message naming ${field}, as the CLI's`, async () => {
      const doc = JSON.parse(example) as Doc;
      edit(doc);
      const bad = JSON.stringify(doc);
      const ref = await cliReplay('bad.replay.json', bad);
      expect(ref.code).toBe(2);
      const page = await hn.open('view=simulate&sops=20');
      await openReplay(page, 'bad.replay.json', bad);
      const msg = (await page.locator('#replay-error').textContent()) ?? '';
      expect(msg.startsWith(`bad.replay.json: ${field} must be `)).toBe(true);
      expect(ref.stderr).toContain(`--replay ${msg}`);
      expect(await page.locator('#sim-out .verdict').count()).toBe(0);
      expect(hn.errors).toEqual([]);
      await page.close();
    });
  }

  it('a file that is not JSON says where the JSON breaks', async () => {
    const page = await hn.open('view=simulate&sops=20');
    await openReplay(page, 'broken.json', '{"kind": "replay",');
    expect(await page.locator('#replay-error').textContent()).toMatch(/^broken\.json: invalid JSON at line 1 column/);
    expect(hn.errors).toEqual([]);
    await page.close();
  });
});
