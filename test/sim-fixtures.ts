/**
 * The small simulate workload the capture tests and the page's simulate-view tests share, and the page URL
 * that asks the simulate view for the same settings.
 */
import type { SimConfig } from '../src/sim/workload.js';

export const SIM_BASE: SimConfig = {
  granule: 4096,
  stage: '1',
  ril: true,
  ats: true,
  smmus: 2,
  ops: 60,
  seed: 7,
  policy: 'linux',
  fault: null,
};

/** The query string of the page's simulate view for `c` (web/src/state.ts names). */
export function simulateQuery(c: SimConfig): string {
  const q = new URLSearchParams({
    view: 'simulate',
    sstage: c.stage,
    sgran: String(c.granule),
    spol: c.policy,
    ssmmus: String(c.smmus),
    sops: String(c.ops),
    sseed: String(c.seed),
    sril: c.ril ? '1' : '0',
    sats: c.ats ? '1' : '0',
  });
  if (c.fault) q.set('sfault', c.fault);
  return q.toString();
}
