/**
 * `smmuv3-tlbi simulate` end to end (through tsx on the current sources): exit codes, one JSON document on
 * stdout with the documented fields, bad options naming the option.
 */
import { describe, expect, it } from 'vitest';
import { runCliFromSource } from './cli-source-run.js';

const cli = (args: string[]) => runCliFromSource(args);

describe('smmuv3-tlbi simulate', () => {
  it('a clean run prints one JSON document and exits 0; a fault exits 1 with reports', () => {
    const ok = cli(['simulate', '--ops', '300', '--seed', '4', '--stage', 'nested', '--smmus', '2', '--json']);
    expect(ok.code).toBe(0);
    const doc = JSON.parse(ok.stdout) as Record<string, unknown>;
    expect(doc).toMatchObject({
      schemaVersion: 2,
      kind: 'workload',
      seed: 4,
      ok: true,
      ops: 300,
      stale: 0,
      staleReports: [],
      scenario: null,
    });
    const operations = doc.operations as { maps: number; unmaps: number };
    expect(operations.maps + operations.unmaps).toBe(300);
    expect(doc.config).toMatchObject({
      granule: 4096,
      stage: 'nested',
      ril: true,
      ats: true,
      smmus: 2,
      policy: 'linux',
      fault: null,
    });
    expect((doc.commands as Record<string, number>).TLBI_S2_IPA).toBeGreaterThan(0);
    expect(doc.syncs).toBeGreaterThan(0);

    const bad = cli(['simulate', '--ops', '300', '--seed', '4', '--fault', 'no-atc', '--json']);
    expect(bad.code).toBe(1);
    const r = JSON.parse(bad.stdout) as { stale: number; staleReports: { cache: string; commands: string[] }[] };
    expect(r.stale).toBeGreaterThan(0);
    expect(r.staleReports[0]!.cache).toBe('ATC');
    expect(r.staleReports[0]!.commands.join(' ')).not.toMatch(/ATC_INV/);
  });

  it('the workload and a scenario print documents with the same top-level fields, stale and ops at the top', () => {
    const w = JSON.parse(cli(['simulate', '--ops', '50', '--seed', '2', '--json']).stdout) as Record<string, unknown>;
    const r = cli(['simulate', '--scenario', 'driver', '--ops', '40', '--seed', '2', '--json']);
    expect(r.code).toBe(0);
    const s = JSON.parse(r.stdout) as Record<string, unknown>;
    expect(Object.keys(s)).toEqual(Object.keys(w));
    expect(s).toMatchObject({ schemaVersion: 2, kind: 'scenario', seed: 2, ok: true, stale: 0, workload: null });
    expect(w.workload).not.toBeNull();
    const sc = s.scenario as { name: string; comparison: { policy: string }[]; invalidation: Record<string, number> };
    expect(sc.name).toBe('driver');
    expect(sc.comparison.map((c) => c.policy)).toEqual(['linux', 'tlbi']);
    // The ops at the top are the sum of the operations by kind, for both kinds.
    for (const d of [w, s]) {
      const total = Object.values(d.operations as Record<string, number>).reduce((a, b) => a + b, 0);
      expect(d.ops).toBe(total);
      expect(d.syncs).toBe((d.commands as Record<string, number>).CMD_SYNC);
    }
    // Whole-tag commands split into whole-ASID and whole-VMID ones.
    expect(sc.invalidation.wholeAsid! + sc.invalidation.wholeVmid!).toBe(sc.invalidation.wholeTag);
  });

  it('human output names the seed to reproduce a failure', () => {
    const r = cli(['simulate', '--ops', '200', '--seed', '8', '--fault', 'drop-sync', '--reports', '1']);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/stale TLB entry|stale ATC entry|stale walk entry/);
    expect(r.stdout).toMatch(/reproduce with --seed 8/);
  });

  it('bad options exit 2 naming the option', () => {
    for (const [args, name] of [
      [['--granule', '8K'], '--granule'],
      [['--stage', '3'], '--stage'],
      [['--ril', 'maybe'], '--ril'],
      [['--smmus', '0'], '--smmus'],
      [['--policy', 'fast'], '--policy'],
      [['--fault', 'nope'], '--fault'],
      [['--ops', '-5'], '--ops'],
    ] as const) {
      const r = cli(['simulate', ...args]);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain(name);
      expect(r.stdout).toBe('');
    }
  });
});

describe('simulate --scenario: options a scenario would ignore are refused, never dropped (issue 13)', () => {
  it('--stage, --smmus, --e2h, --mode, --reports with --scenario exit 2 naming the option; the plain workload takes them', () => {
    for (const [flag, value] of [
      ['--stage', '2'],
      ['--smmus', '2'],
      ['--e2h', 'on'],
      ['--mode', 'generous'],
      ['--reports', '3'],
    ] as const) {
      const r = cli(['simulate', '--scenario', 'driver', '--ops', '20', '--seed', '1', flag, value]);
      expect(r.code, flag).toBe(2);
      expect(r.stderr.trim().split('\n'), flag).toHaveLength(1);
      expect(r.stderr, flag).toContain(`${flag}: the driver scenario does not take it`);
    }
    // The options the scenario does use, and the same refused flags on the plain workload: accepted.
    expect(cli(['simulate', '--scenario', 'driver', '--ops', '20', '--seed', '1', '--granule', '16K']).code).toBe(0);
    expect(
      cli(['simulate', '--ops', '20', '--seed', '1', '--stage', '2', '--smmus', '2', '--mode', 'generous']).code,
    ).toBe(0);
  });
});
