/**
 * Every fault is caught: on a workload built to expose it the checker reports stale translations, and the
 * same seed without the fault is clean — so the detection is caused by the fault.
 */
import { describe, expect, it } from 'vitest';
import { FAULT_NAMES, applyFault, type FaultName } from '../src/sim/faults.js';
import { runSimulation, type SimConfig } from '../src/sim/workload.js';
import { cmd, SYNC } from './smmu-fixtures.js';

const BASE: SimConfig = {
  granule: 4096,
  stage: '1',
  ril: true,
  ats: true,
  smmus: 1,
  ops: 300,
  seed: 11,
  policy: 'linux',
  fault: null,
};

/** The workload that exposes each fault. */
const EXPOSE: Record<FaultName, Partial<SimConfig>> = {
  'drop-sync': {},
  'skip-last-tlbi': {},
  'leaf-always': { ats: false }, // freed tables leave walk-cache entries behind
  'wrong-ttl': { ats: false }, // TTL only exists with range invalidation
  'wrong-tg': { granule: 16384 },
  'no-atc': {},
  'atc-before-tlbi': {}, // traffic refills the ATC from the TLB entry not yet invalidated
  'no-nested-s1-clear': { stage: 'nested', ats: false },
  'short-range': { ats: false },
  'no-repeat': { errata: ['tegra264-repeat'] }, // the first of a pair may be lost: a single copy is
  'no-cfgi': {}, // the workload changes a domain's ASID (CD) or VMID (STE) every 8 operations
  'nested-vmid-missing': { stage: 'nested', ats: false },
  'nh-under-e2h': { e2h: true },
  'first-page-only': { ats: false },
  'tg-from-empty-pgsize': { ats: false },
  'illegal-range-encoding': { ats: false },
  'no-force-sync': { errata: ['mmu700-2812531'], ril: false, ats: false, longRuns: true },
  'scale-beyond-smmu': {},
  'end-off-by-one': { ats: false },
  'asid-reuse-no-flush': {},
  'no-atc-on-detach': {}, // a driver-scenario fault: test/corpus-faults.test.ts
  'ignore-atc-timeout': {}, // the consumers' error handling: test/consumers-atc-timeout.test.ts
};
/** Faults reached by a consumer scenario, not by this workload. */
const SCENARIO_FAULTS = new Set<FaultName>(['no-atc-on-detach', 'ignore-atc-timeout']);

describe('faults are detected, and only because of the fault', () => {
  for (const fault of FAULT_NAMES) {
    if (SCENARIO_FAULTS.has(fault)) continue;
    for (const policy of ['linux', 'tlbi'] as const) {
      it(`${fault} (${policy} policy)`, () => {
        const cfg: SimConfig = { ...BASE, ...EXPOSE[fault], policy };
        const broken = runSimulation({ ...cfg, fault });
        expect(broken.stale + broken.illegal).toBeGreaterThan(0);
        expect(broken.staleReports[0]!.commands.length).toBeGreaterThanOrEqual(0);
        const clean = runSimulation(cfg);
        expect(clean.stale).toBe(0);
      });
    }
  }
});

describe('what each fault does to a command stream', () => {
  const tlbi = cmd('TLBI_NH_VA', { asid: 1, leaf: 1, tg: 1, ttl: 3, num: 3, addr: 0x10000 });
  const walk = cmd('TLBI_NH_VA', { asid: 1, leaf: 0, tg: 1, ttl: 0, scale: 1, addr: 0x10000 });
  const atc = cmd('ATC_INV', { sid: 5, size: 2, addr: 0x10000 });
  const stream = (): number[][] => [walk.slice(), tlbi.slice(), SYNC(), atc.slice(), SYNC()];
  const ops = (l: number[][]): number[] => l.map((h) => h[0]! & 0xff);

  it('drop-sync, skip-last-tlbi, no-atc and atc-before-tlbi remove or move whole commands', () => {
    let l = stream();
    applyFault('drop-sync', l);
    expect(ops(l)).toEqual([0x12, 0x12, 0x46, 0x40]);
    l = stream();
    applyFault('skip-last-tlbi', l);
    expect(l).toEqual([walk, SYNC(), atc, SYNC()]);
    l = stream();
    applyFault('no-atc', l);
    expect(ops(l)).toEqual([0x12, 0x12, 0x46, 0x46]);
    l = stream();
    applyFault('atc-before-tlbi', l);
    expect(ops(l)).toEqual([0x40, 0x12, 0x12, 0x46, 0x46]);
  });

  it('leaf-always sets Leaf, wrong-ttl and wrong-tg change the hints, short-range drops one page', () => {
    let l = stream();
    applyFault('leaf-always', l);
    expect(l[0]![2]! & 1).toBe(1);
    l = stream();
    applyFault('wrong-ttl', l);
    expect((l[1]![2]! >>> 8) & 3).toBe(2);
    expect((l[0]![2]! >>> 8) & 3).toBe(0); // TTL 0 is left alone
    l = stream();
    applyFault('wrong-tg', l);
    expect((l[1]![2]! >>> 10) & 3).toBe(2);
    l = stream();
    applyFault('short-range', l);
    expect((l[1]![0]! >>> 12) & 31).toBe(2); // NUM 3 → 2: four pages → three
  });
});
