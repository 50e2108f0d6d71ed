/**
 * Where the browser tests find Chromium, and what `npm test` says when it is missing. Debian's package
 * (`/usr/bin/chromium`); SMMUV3_TLBI_CHROMIUM names another binary (or a missing one, to see the skip).
 */
import { existsSync } from 'node:fs';

export const ChromiumPath = process.env.SMMUV3_TLBI_CHROMIUM || '/usr/bin/chromium';

export const CHROMIUM_MISSING =
  `${ChromiumPath} is missing: the browser tests (test/e2e-*.test.ts) need Debian's Chromium — ` +
  'install it with `apt-get install chromium` (.ci/run installs it)';

export function chromiumPresent(): boolean {
  return existsSync(ChromiumPath);
}
