/**
 * Every fault over 20 seeds, with small workloads, in the configuration it picks by itself (src/corpus):
 * each faulty run is caught (stale translations, or CERROR_ILL where hardware refuses the command), and the
 * same seed without the fault is clean — under both policies.
 */
import { describe, expect, it } from 'vitest';
import { faultSetup } from '../src/corpus/index.js';
import { FAULT_NAMES, type FaultName } from '../src/sim/faults.js';
import { runSimulation, type SimConfig } from '../src/sim/workload.js';

const SEEDS = 20;
/** Operations per run: the fewest at which every one of the 20 seeds catches the fault (measured). */
const OPS: Partial<Record<FaultName, number>> = { 'no-nested-s1-clear': 400, 'no-force-sync': 300 };

function configFor(fault: FaultName, seed: number, policy: 'linux' | 'tlbi'): SimConfig {
  const s = faultSetup(fault);
  return {
    granule: s.granule ?? 4096,
    stage: s.stage ?? '1',
    ril: s.ril ?? true,
    ats: s.ats ?? true,
    ...(s.e2h !== undefined ? { e2h: s.e2h } : {}),
    ...(s.errata !== undefined ? { errata: s.errata } : {}),
    ...(s.longRuns !== undefined ? { longRuns: s.longRuns } : {}),
    smmus: 1,
    ops: OPS[fault] ?? 100,
    seed,
    policy,
    fault: null,
  };
}

describe('every fault over 20 seeds: caught with the fault, clean without', () => {
  for (const fault of FAULT_NAMES) {
    if (faultSetup(fault).scenario !== undefined) continue; // consumer faults: test/corpus-faults.test.ts
    for (const policy of ['linux', 'tlbi'] as const) {
      it(`${fault} (${policy})`, () => {
        const missed: number[] = [];
        const dirty: number[] = [];
        for (let seed = 1; seed <= SEEDS; seed++) {
          const cfg = configFor(fault, seed, policy);
          const broken = runSimulation({ ...cfg, fault });
          if (broken.stale === 0 && broken.illegal === 0) missed.push(seed);
          if (runSimulation(cfg).stale > 0) dirty.push(seed);
        }
        expect(missed, 'seeds where the fault went unnoticed').toEqual([]);
        expect(dirty, 'seeds with stale translations without the fault').toEqual([]);
      });
    }
  }
});
