/**
 * End-to-end property: for every granule × stage × range invalidation × ATS combination, random workloads
 * under both engine policies leave no stale translation in the adversarial model.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { runSimulation, type SimConfig } from '../src/sim/workload.js';

const GRANULES = [4096, 16384, 65536] as const;
const STAGES = ['1', '2', 'nested'] as const;

describe('random workloads report no stale translation', () => {
  for (const granule of GRANULES)
    for (const stage of STAGES)
      for (const ril of [true, false])
        for (const ats of [true, false]) {
          it(`granule ${granule}, stage ${stage}, ril ${ril ? 'on' : 'off'}, ats ${ats ? 'on' : 'off'}`, () => {
            fc.assert(
              fc.property(
                fc.integer({ min: 0, max: 2 ** 31 }),
                fc.constantFrom('linux' as const, 'tlbi' as const),
                (seed, policy) => {
                  const cfg: SimConfig = {
                    granule,
                    stage,
                    ril,
                    ats,
                    smmus: 1 + (seed % 2),
                    ops: 120,
                    seed,
                    policy,
                    fault: null,
                  };
                  const r = runSimulation(cfg);
                  expect(r.staleReports).toEqual([]);
                  expect(r.stale).toBe(0);
                  expect(r.illegal).toBe(0);
                  expect(r.unmaps).toBeGreaterThan(0);
                  expect(r.syncs).toBeGreaterThan(0);
                },
              ),
              { numRuns: 2 },
            );
          });
        }
});

describe('EL2-E2H address spaces (TLBI_EL2_VA / TLBI_EL2_ASID)', () => {
  for (const ril of [true, false])
    it(`are clean under both policies, ril ${ril ? 'on' : 'off'}`, () => {
      for (const policy of ['linux', 'tlbi'] as const) {
        const r = runSimulation({
          granule: 4096,
          stage: '1',
          ril,
          ats: true,
          smmus: 2,
          ops: 300,
          seed: 13,
          policy,
          fault: null,
          e2h: true,
        });
        expect(r.stale).toBe(0);
        expect(r.commands.TLBI_EL2_VA).toBeGreaterThan(0);
        expect(r.commands.TLBI_NH_VA).toBeUndefined();
        const broken = runSimulation({
          granule: 4096,
          stage: '1',
          ril,
          ats: true,
          smmus: 2,
          ops: 300,
          seed: 13,
          policy,
          fault: 'skip-last-tlbi',
          e2h: true,
        });
        expect(broken.stale).toBeGreaterThan(0);
      }
    });
});

describe('the workload exercises the caches', () => {
  it('fills and invalidates TLB, walk cache and ATC entries; runs are reproducible from the seed', () => {
    const cfg: SimConfig = {
      granule: 4096,
      stage: '1',
      ril: true,
      ats: true,
      smmus: 2,
      ops: 400,
      seed: 42,
      policy: 'linux',
      fault: null,
    };
    const a = runSimulation(cfg);
    const b = runSimulation(cfg);
    expect(a.caches.tlb.removed).toBeGreaterThan(100);
    expect(a.caches.walk.removed).toBeGreaterThan(10);
    expect(a.caches.atc.removed).toBeGreaterThan(100);
    expect({ ...a, elapsedMs: 0, opsPerSecond: 0 }).toEqual({ ...b, elapsedMs: 0, opsPerSecond: 0 });
  });

  it('the generous (QEMU-like) model is also clean and removes at least as much', () => {
    const base: SimConfig = {
      granule: 4096,
      stage: 'nested',
      ril: true,
      ats: true,
      smmus: 1,
      ops: 300,
      seed: 9,
      policy: 'tlbi',
      fault: null,
    };
    const g = runSimulation({ ...base, mode: 'generous' });
    expect(g.stale).toBe(0);
    expect(g.caches.tlb.removed).toBeGreaterThan(0);
  });
});
