/**
 * Regenerate the README's screenshots of the page (docs/web-*.png): `npx tsx web/screenshots.ts`.
 * Builds the page, serves it on 127.0.0.1 and photographs five cases in Debian's Chromium.
 */
import { copyFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, screenshot, startHarness } from '../test/e2e-harness.js';

/** Name → URL state (and the bar to select, so that its words show). */
export const DOC_SHOTS: ReadonlyArray<readonly [string, string]> = [
  ['web-default', ''],
  ['web-33-pages-leaf', 'start=0x10000000&size=0x21000&leaf=1&ril=1&invs=0:S1_ASID:5:0,0:ATS:0x10:0&sel=linux.1'],
  ['web-non-leaf-page', 'start=0x1000&size=4K&leaf=0&ril=1&invs=0:S1_ASID:5:0&sel=linux.0'],
  ['web-no-ril-whole-asid', 'start=0x10000000&size=2M&leaf=1&ril=0&invs=0:S1_ASID:5:0,0:ATS:0x10:0&sel=linux.0'],
  [
    'web-nested-ats',
    'start=0x80000000&size=0x64000&leaf=1&ril=1&invs=0:S2_VMID:3:,0:S2_VMID_S1_CLEAR:3:,0:ATS_FULL:0x10:,1:S2_VMID:3:,1:S2_VMID_S1_CLEAR:4:,1:ATS:0x20:1&sel=linux.2',
  ],
];

async function main(): Promise<void> {
  const hn = await startHarness();
  try {
    const docs = join(ROOT, 'docs');
    mkdirSync(docs, { recursive: true });
    for (const [name, query] of DOC_SHOTS) {
      const page = await hn.open(query, { width: 1360, height: 900 });
      const path = await screenshot(page, name);
      copyFileSync(path, join(docs, `${name}.png`));
      process.stdout.write(`docs/${name}.png\n`);
      await page.close();
    }
  } finally {
    await hn.close();
  }
}

await main();
