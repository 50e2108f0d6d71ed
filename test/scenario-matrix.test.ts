/**
 * Every built-in scenario under every combination of granule and range invalidation, both policies: no
 * stale translation and no broken invariant. Faults that apply to a scenario must make it fail. And the
 * CLI end to end: `simulate --scenario` prints one JSON document and exits 0 clean / 1 with a fault.
 * Runs are kept short (the suite runs on 2 cores); the full-length runs are the CLI's and the benchmark's.
 */
import { describe, expect, it } from 'vitest';
import { runCliFromSource } from './cli-source-run.js';
import type { FaultName } from '../src/sim/faults.js';
import {
  SCENARIO_NAMES,
  formatScenarioReport,
  runScenario,
  runScenarioOnce,
  type ScenarioName,
} from '../src/sim/scenarios/index.js';

const GRANULES = [4096, 16384, 65536] as const;
const OPS: Record<ScenarioName, number> = { driver: 120, pkvm: 90, nested: 100 };

describe('every scenario × granule × RIL reports 0 stale translations', () => {
  for (const name of SCENARIO_NAMES)
    for (const granule of GRANULES)
      for (const ril of [true, false])
        it(`${name}, ${granule / 1024}K, RIL ${ril ? 'on' : 'off'}`, () => {
          const r = runScenario(name, {
            granule,
            ril,
            ats: true,
            seed: 11,
            policy: 'tlbi',
            fault: null,
            ops: OPS[name],
          });
          for (const c of r.comparison) {
            expect(c.stale, `${c.policy} stale`).toBe(0);
            expect(c.failures, `${c.policy} failures`).toBe(0);
          }
          expect(r.ok).toBe(true);
          // The run did real work: invalidations reached the queues and the checker looked at caches.
          expect(r.run.commands.commands).toBeGreaterThan(20);
          expect(r.run.commands.syncs).toBeGreaterThan(10);
          expect(r.run.ops).toBeGreaterThan(OPS[name]);
        });
});

describe('scenarios without ATS', () => {
  for (const name of SCENARIO_NAMES)
    it(`${name} with ATS off: 0 stale, no ATC_INV at all`, () => {
      const r = runScenarioOnce(name, {
        granule: 4096,
        ril: true,
        ats: false,
        seed: 3,
        policy: 'linux',
        fault: null,
        ops: 60,
      });
      expect(r.stale).toBe(0);
      expect(Object.values(r.violations).every((v) => v === 0)).toBe(true);
      expect(r.commands.byKind.ATC_INV ?? 0).toBe(0);
    });
});

describe('faults that apply make the scenarios fail', () => {
  const cases: [ScenarioName, FaultName][] = [
    ['driver', 'drop-sync'],
    ['driver', 'skip-last-tlbi'],
    ['driver', 'leaf-always'],
    ['driver', 'wrong-ttl'],
    ['driver', 'wrong-tg'],
    ['driver', 'no-atc'],
    ['driver', 'atc-before-tlbi'],
    ['driver', 'short-range'],
    ['nested', 'no-nested-s1-clear'],
    ['nested', 'no-atc'],
    ['pkvm', 'drop-sync'],
    ['pkvm', 'no-atc'],
    ['pkvm', 'no-nested-s1-clear'],
  ];
  for (const [name, fault] of cases)
    it(`${name} with --fault ${fault}`, () => {
      const r = runScenarioOnce(name, {
        granule: 4096,
        ril: true,
        ats: true,
        seed: 1,
        policy: 'tlbi',
        fault,
        ops: 400,
      });
      const failures = r.stale + Object.values(r.violations).reduce((a, b) => a + b, 0);
      expect(failures).toBeGreaterThan(0);
    });
});

describe('the report', () => {
  it('puts both policies side by side and says ok', () => {
    const r = runScenario('driver', {
      granule: 4096,
      ril: true,
      ats: true,
      seed: 2,
      policy: 'linux',
      fault: null,
      ops: 40,
    });
    expect(r.comparison.map((c) => c.policy)).toEqual(['linux', 'tlbi']);
    const text = formatScenarioReport(r).join('\n');
    expect(text).toContain('scenario driver: seed 2, granule 4K, ril on, ats on, policy linux');
    expect(text).toMatch(/CMD_SYNCs\s+\d+/);
    expect(text).toMatch(/stale translations\s+0/);
    // What the scenario did, and what a stale translation is, before the figures; counters in words.
    expect(text).toContain('3 SMMUs (plain; force-sync erratum, 32-entry queue; E2H without ATS)');
    expect(text).toContain('stale translation: a TLB, walk-cache or ATC entry still cached after its CMD_SYNC');
    expect(text).toMatch(/PASID attaches\s+\d+/);
    expect(text).not.toMatch(/pasidAttaches|wrongTranslations|atcToDetached/);
    // The span the ranged TLBIs covered is a byte span apart from the commands; whole-tag commands count as
    // whole ASIDs / VMIDs.
    expect(text).toContain('span covered');
    const linux = r.comparison.find((c) => c.policy === 'linux')!;
    expect(linux.wholeAsid + linux.wholeVmid).toBe(linux.wholeTag);
    const row = text.split('\n').find((l) => l.trimStart().startsWith('linux '))!;
    if (linux.wholeAsid > 0) expect(row).toContain(`${linux.wholeAsid} ASID`);
    if (linux.wholeVmid > 0) expect(row).toContain(`${linux.wholeVmid} VMID`);
    expect(row).toMatch(/\d(\.\d+)? (B|KiB|MiB|GiB|TiB|PiB)\b/);
    expect(text).toContain('the same run under each policy');
    expect(text).toContain('result          ok');
  });
});

const cli = (args: string[]) => runCliFromSource(args);

describe('simulate --scenario (CLI)', () => {
  it('prints one JSON document and exits 0', () => {
    const r = cli([
      'simulate',
      '--scenario',
      'pkvm',
      '--ops',
      '30',
      '--seed',
      '4',
      '--granule',
      '64K',
      '--ril',
      'off',
      '--json',
    ]);
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.stdout) as Record<string, unknown>;
    expect(doc.schemaVersion).toBe(2);
    expect(doc.kind).toBe('scenario');
    expect((doc.scenario as { name: string }).name).toBe('pkvm');
    expect(doc.seed).toBe(4);
    expect(doc.ok).toBe(true);
    expect((doc.config as Record<string, unknown>).granule).toBe(65536);
  });

  it('runs the default scenario without a name and exits 1 under a fault', () => {
    const r = cli(['simulate', '--scenario', '--ops', '200', '--seed', '1', '--fault', 'no-atc']);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('scenario driver');
    expect(r.stdout).toContain('FAILED');
  });

  it('exits 2 naming --scenario for an unknown name', () => {
    const r = cli(['simulate', '--scenario', 'bogus']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--scenario');
    expect(r.stdout).toBe('');
  });
});
