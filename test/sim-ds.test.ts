/**
 * `simulate --ds` (issue 14 item 11): IDR5.DS reaches the SMMU models (6-bit SCALE legal) and the engine's
 * SMMU option `ds`, in the randomized workload and in the scenarios. The observable twin: the corpus fault
 * `scale-beyond-smmu` writes a SCALE-36 whole-space range, which an SMMU without DS refuses (CERROR_ILL, the
 * flush is lost) and one with DS executes (it then covers everything: clean).
 */
import { describe, expect, it } from 'vitest';
import { Driver } from '../src/consumers/driver.js';
import { DEFAULT_SMMU_SPEC } from '../src/consumers/smmu-port.js';
import { runScenarioOnce, SCENARIO_NAMES } from '../src/sim/scenarios/index.js';
import { runSimulation, type SimConfig } from '../src/sim/workload.js';
import { runCliFromSource } from './cli-source-run.js';

const BASE: SimConfig = {
  granule: 4096,
  stage: '1',
  ril: true,
  ats: true,
  smmus: 1,
  ops: 200,
  seed: 2,
  policy: 'linux',
  fault: null,
};

describe('the workload with ds', () => {
  for (const policy of ['linux', 'tlbi'] as const) {
    it(`scale-beyond-smmu is refused without DS and legal (and clean) with it (${policy})`, () => {
      const without = runSimulation({ ...BASE, policy, fault: 'scale-beyond-smmu' });
      expect(without.illegal).toBeGreaterThan(0);
      expect(without.config.ds).toBeUndefined();
      const withDs = runSimulation({ ...BASE, policy, fault: 'scale-beyond-smmu', ds: true });
      expect(withDs.illegal).toBe(0);
      expect(withDs.stale).toBe(0);
      expect(withDs.config.ds).toBe(true);
    });
  }

  it('clean runs with ds over stages and granules', () => {
    for (const stage of ['1', '2', 'nested'] as const)
      for (const granule of [4096, 16384] as const) {
        const r = runSimulation({ ...BASE, stage, granule, ops: 120, ds: true });
        expect(r.stale + r.illegal, `${stage} ${granule}`).toBe(0);
      }
  });
});

describe('the consumers and scenarios with ds', () => {
  it('an SmmuSpec with ds gives the engine option and the model feature', () => {
    const drv = new Driver({ smmus: [{ ...DEFAULT_SMMU_SPEC, ds: true }, DEFAULT_SMMU_SPEC], granule: 4096 });
    expect(drv.smmuTable[0]!.ds).toBe(true);
    expect(drv.port(0).model.features.ds).toBe(true);
    expect(drv.smmuTable[1]!.ds).toBeUndefined();
    expect(drv.port(1).model.features.ds).toBe(false);
  });

  for (const name of SCENARIO_NAMES)
    it(`scenario ${name} with ds stays clean`, () => {
      const r = runScenarioOnce(name, {
        granule: 4096,
        ril: true,
        ats: true,
        seed: 5,
        policy: 'tlbi',
        fault: null,
        ops: 60,
        ds: true,
      });
      expect(r.stale).toBe(0);
      expect(Object.values(r.violations).every((v) => v === 0)).toBe(true);
    });

  it('simulate --ds on reaches the workload and the scenario documents; a bad value is exit 2', () => {
    const w = runCliFromSource(['simulate', '--ds', 'on', '--ops', '100', '--seed', '1', '--json']);
    expect(w.code).toBe(0);
    expect((JSON.parse(w.stdout) as { config: { ds?: boolean } }).config.ds).toBe(true);
    const s = runCliFromSource([
      'simulate',
      '--scenario',
      'nested',
      '--ds',
      'on',
      '--ops',
      '20',
      '--seed',
      '1',
      '--json',
    ]);
    expect(s.code).toBe(0);
    expect((JSON.parse(s.stdout) as { config: { ds?: boolean } }).config.ds).toBe(true);
    const bad = runCliFromSource(['simulate', '--ds', 'maybe']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--ds/);
  });
});
