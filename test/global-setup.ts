/**
 * vitest global set-up: after every test file has run, say that the browser tests were skipped (and how to get
 * them) when Chromium is missing, so that the notice is among the last lines `npm test` prints.
 */
import { CHROMIUM_MISSING, chromiumPresent } from './chromium.js';

export default function setup(): () => void {
  return () => {
    if (!chromiumPresent()) process.stdout.write(`\nbrowser tests SKIPPED: ${CHROMIUM_MISSING}\n`);
  };
}
