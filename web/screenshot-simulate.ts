/**
 * Regenerate the README's screenshot of the simulate view (docs/web-simulate.png):
 * `npx tsx web/screenshot-simulate.ts`. A stage-1 workload with an ATS device on one SMMU, seed 1, where the
 * `short-range` fault leaves one page uninvalidated: the page shows the change it first went stale at, with
 * the TLB entry and the ATC entry it refilled in red. The shot runs from the top of the page to the end of
 * the cache contents (the list of stale reports below them is left out).
 */
import { copyFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { RESULTS, ROOT, startHarness } from '../test/e2e-harness.js';

export const SimulateShot =
  'view=simulate&sstage=1&sgran=4096&spol=linux&ssmmus=1&sops=200&sseed=1&sril=1&sats=1&sfault=short-range';

async function main(): Promise<void> {
  const hn = await startHarness();
  try {
    const page = await hn.open(SimulateShot, { width: 1360, height: 900 });
    await page.waitForSelector('#sim-caches');
    const box = (await page.locator('#sim-caches').boundingBox())!;
    mkdirSync(RESULTS, { recursive: true });
    const path = join(RESULTS, 'web-simulate.png');
    await page.screenshot({ path, fullPage: true, clip: { x: 0, y: 0, width: 1360, height: box.y + box.height + 16 } });
    mkdirSync(join(ROOT, 'docs'), { recursive: true });
    copyFileSync(path, join(ROOT, 'docs', 'web-simulate.png'));
    process.stdout.write('docs/web-simulate.png\n');
    if (hn.errors.length) throw new Error(`page errors: ${hn.errors.join('; ')}`);
    await page.close();
  } finally {
    await hn.close();
  }
}

await main();
