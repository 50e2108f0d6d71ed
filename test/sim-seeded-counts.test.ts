/**
 * The model's semantics pinned by seeded runs: for a spread of configurations (stages, granules, RIL, ATS,
 * E2H, SMMUs, policies, errata, faults, the generous model) and the three scenarios, the counts a seeded
 * run gives — stale translations, commands by name, CMD_SYNCs, cache fills / removals / evictions / sizes,
 * translations and how they were served — must stay what the reference build gave (the golden file was
 * written by the model at commit 425ca27, before the speed work of issue 16; a speed-up may not change any
 * of them). Regenerate only for a deliberate change of semantics: SEEDED_COUNTS_WRITE=1.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { runScenarioOnce, type ScenarioName } from '../src/sim/scenarios/index.js';
import { runSimulation, type SimConfig } from '../src/sim/workload.js';

const GOLDEN = new URL('./golden/sim-seeded-counts.json', import.meta.url);

const base: SimConfig = {
  granule: 4096,
  stage: '1',
  ril: true,
  ats: true,
  smmus: 1,
  ops: 1500,
  seed: 1,
  policy: 'linux',
  fault: null,
};
const WORKLOADS: [string, Partial<SimConfig>][] = [
  ['standard', {}],
  ['tlbi', { policy: 'tlbi', seed: 2 }],
  ['s2 no-ril no-ats', { stage: '2', ril: false, ats: false, seed: 3 }],
  ['nested 2 smmus', { stage: 'nested', smmus: 2, seed: 4 }],
  ['64K', { granule: 65536, seed: 5 }],
  ['16K s2 tlbi', { granule: 16384, stage: '2', policy: 'tlbi', seed: 6 }],
  ['e2h', { e2h: true, seed: 7 }],
  ['force-sync', { errata: ['mmu700-2812531'], seed: 8 }],
  ['repeat', { errata: ['tegra264-repeat'], policy: 'tlbi', seed: 9 }],
  ['generous', { mode: 'generous', stage: 'nested', seed: 10 }],
  ['drop-sync', { fault: 'drop-sync', seed: 11 }],
  ['short-range nested', { fault: 'short-range', stage: 'nested', ats: false, seed: 12 }],
  ['no-cfgi', { fault: 'no-cfgi', stage: '2', seed: 13 }],
  ['leaf-always 16K', { fault: 'leaf-always', granule: 16384, seed: 14 }],
];
const SCENARIOS: [ScenarioName, number][] = [
  ['driver', 60],
  ['pkvm', 60],
  ['nested', 60],
];

function counts(): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [name, over] of WORKLOADS) {
    const r = runSimulation({ ...base, ...over });
    out[`workload ${name}`] = {
      stale: r.stale,
      maps: r.maps,
      unmaps: r.unmaps,
      commands: r.commands,
      syncs: r.syncs,
      illegal: r.illegal,
      caches: r.caches,
      translations: r.translations,
      hits: r.hits,
    };
  }
  for (const [name, ops] of SCENARIOS) {
    const r = runScenarioOnce(name, {
      granule: 4096,
      ril: true,
      ats: true,
      seed: 3,
      policy: 'linux',
      fault: null,
      ops,
    });
    out[`scenario ${name}`] = {
      operations: r.operations,
      commands: r.commands,
      stale: r.stale,
      staleByCache: r.staleByCache,
      violations: r.violations,
      invalidation: r.invalidation,
    };
  }
  return out;
}

describe('seeded counts', () => {
  it('every configuration gives the reference counts', () => {
    const got = counts();
    if (process.env.SEEDED_COUNTS_WRITE === '1') writeFileSync(GOLDEN, JSON.stringify(got, null, 1) + '\n');
    const want = JSON.parse(readFileSync(GOLDEN, 'utf8')) as Record<string, unknown>;
    expect(Object.keys(got)).toEqual(Object.keys(want));
    for (const k of Object.keys(want)) expect(got[k], k).toEqual(want[k]);
  });
});
