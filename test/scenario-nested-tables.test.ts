/**
 * The `nested` scenario with the VMM moving the pages that hold guest tables (issue 14 item 1): copy the
 * page, remap its IPA in the parent's stage 2, scrub the old frame — with no other stage-2 change
 * (`nestedVmm: 'tables'`). A nested walk-cache entry is a combined structure holding the old frame's PA
 * (IHI 0070 4.4.3.1): without S2_VMID_S1_CLEAR's NH_ALL the checker must find walk-cache entries reached
 * through the moved page; with it, both policies are clean.
 */
import { describe, expect, it } from 'vitest';
import { runScenarioOnce, type ScenarioOptions } from '../src/sim/scenarios/index.js';

const base: ScenarioOptions = {
  granule: 4096,
  ril: true,
  ats: true,
  seed: 1,
  policy: 'tlbi',
  fault: null,
  ops: 120,
  nestedVmm: 'tables',
};

describe('nested scenario, guest table pages moved by the VMM', () => {
  for (const policy of ['linux', 'tlbi'] as const)
    it(`clean twin: 0 stale under ${policy}`, () => {
      const r = runScenarioOnce('nested', { ...base, policy });
      expect(r.operations.guestTableMoves).toBeGreaterThan(5);
      expect(r.operations.guestRamMigrations).toBe(0);
      expect(r.stale).toBe(0);
      expect(Object.values(r.violations).every((v) => v === 0)).toBe(true);
    });

  it('without S2_VMID_S1_CLEAR (fault no-nested-s1-clear): stale walk-cache entries are reported', () => {
    const r = runScenarioOnce('nested', { ...base, fault: 'no-nested-s1-clear' });
    expect(r.operations.guestRamMigrations).toBe(0);
    expect(r.staleByCache.walk ?? 0).toBeGreaterThan(0);
    expect(r.stale).toBeGreaterThanOrEqual(r.staleByCache.walk!);
  });

  it('the other 16K and 64K granules are clean as well', () => {
    for (const granule of [16384, 65536] as const) {
      const r = runScenarioOnce('nested', { ...base, granule, ril: false });
      expect(r.operations.guestTableMoves).toBeGreaterThan(0);
      expect(r.stale).toBe(0);
    }
  });
});
