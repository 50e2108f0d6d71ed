/**
 * `simulate --list-faults` (readable and --json), `--fault` aliases, the configuration a fault picks by
 * itself (announced on stderr) and the refusal of an explicit option that contradicts it (exit 2).
 */
import { describe, expect, it } from 'vitest';
import { CORPUS } from '../src/corpus/index.js';
import { FAULT_NAMES } from '../src/sim/faults.js';
import { runCliFromSource } from './cli-source-run.js';

const cli = (args: string[]) => runCliFromSource(args);

describe('simulate --list-faults', () => {
  it('--json: one document, schemaVersion, one object per fault with its corpus origin and configuration', () => {
    const r = cli(['simulate', '--list-faults', '--json']);
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.stdout) as {
      schemaVersion: number;
      kind: string;
      faults: {
        name: string;
        aliases: string[];
        commit: string | null;
        title: string | null;
        class: string;
        layer: string;
        caughtBy: string;
        configuration: { requires: Record<string, unknown>; prefers: Record<string, unknown> };
      }[];
    };
    expect(doc.schemaVersion).toBe(1);
    expect(doc.kind).toBe('fault-list');
    expect(doc.faults.map((f) => f.name)).toEqual([...FAULT_NAMES]);
    for (const f of doc.faults) {
      expect(f.class).not.toBe('');
      expect(['engine', 'consumer', 'codec', 'emulator', 'hardware-erratum']).toContain(f.layer);
      expect(f.caughtBy).not.toBe('');
      // The commit of a fault is the one of its first corpus case (an independent look-up in the records).
      const first = CORPUS.find((c) => c.fault === f.name);
      expect(f.commit).toBe(first?.commit ?? null);
      expect(f.title).toBe(first?.title ?? null);
    }
    const nested = doc.faults.find((f) => f.name === 'no-nested-s1-clear')!;
    expect(nested.aliases).toEqual(['linux-587bb3e56a2c']);
    expect(nested.configuration.requires).toEqual({ stage: 'nested' });
    expect(r.stderr).toBe('');
  });

  it('readable: every fault with its aliases and configuration', () => {
    const r = cli(['simulate', '--list-faults']);
    expect(r.code).toBe(0);
    for (const f of FAULT_NAMES) expect(r.stdout).toMatch(new RegExp(`^${f}\\b`, 'm'));
    expect(r.stdout).toContain('atc-before-tlbi  (aliases: linux-353e3cf8590c)');
    expect(r.stdout).toContain('requires --stage nested');
  });
});

describe('simulate --fault picks its configuration', () => {
  it('an alias is the same fault: linux-353e3cf8590c = atc-before-tlbi (same seed, same report)', () => {
    const a = cli(['simulate', '--fault', 'linux-353e3cf8590c', '--ops', '60', '--seed', '5', '--json']);
    const b = cli(['simulate', '--fault', 'atc-before-tlbi', '--ops', '60', '--seed', '5', '--json']);
    expect(a.code).toBe(1);
    expect(b.code).toBe(1);
    const strip = (s: string) => {
      const d = JSON.parse(s) as Record<string, unknown>;
      delete d.elapsedMs;
      delete d.opsPerSecond;
      return d;
    };
    expect(strip(a.stdout)).toEqual(strip(b.stdout));
    expect((JSON.parse(a.stdout) as { config: { fault: string } }).config.fault).toBe('atc-before-tlbi');
  });

  it('no-nested-s1-clear chooses --stage nested and --ats off, says so on stderr, and is caught; its clean twin is clean', () => {
    const r = cli(['simulate', '--fault', 'no-nested-s1-clear', '--ops', '400', '--seed', '3', '--json']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('--fault no-nested-s1-clear chose --stage nested, --ats off');
    const d = JSON.parse(r.stdout) as { config: { stage: string; ats: boolean }; stale: number };
    expect(d.config.stage).toBe('nested');
    expect(d.config.ats).toBe(false);
    expect(d.stale).toBeGreaterThan(0);
    const clean = cli(['simulate', '--stage', 'nested', '--ats', 'off', '--ops', '400', '--seed', '3', '--json']);
    expect(clean.code).toBe(0);
  });

  it('no-repeat sets the Tegra264 erratum on the SMMUs (no option for it) and is caught', () => {
    const r = cli(['simulate', '--fault', 'no-repeat', '--ops', '60', '--seed', '2']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('SMMU erratum tegra264-repeat');
  });

  it('an explicit option that contradicts the fault is refused with exit 2, naming both', () => {
    const r = cli(['simulate', '--fault', 'no-nested-s1-clear', '--stage', '1', '--ops', '10']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--fault no-nested-s1-clear needs --stage nested');
    expect(r.stderr).toContain('--stage 1');
    expect(r.stdout).toBe('');
    const atc = cli(['simulate', '--fault', 'atc-before-tlbi', '--ats', 'off', '--ops', '10', '--json']);
    expect(atc.code).toBe(2);
    expect(atc.stdout).toBe('');
  });

  it('an explicit option that only differs from a preference is kept', () => {
    const r = cli([
      'simulate',
      '--fault',
      'no-nested-s1-clear',
      '--ats',
      'on',
      '--ops',
      '400',
      '--seed',
      '3',
      '--json',
    ]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('chose --stage nested');
    expect(r.stderr).not.toContain('--ats off');
    expect((JSON.parse(r.stdout) as { config: { ats: boolean } }).config.ats).toBe(true);
  });

  it('an unknown fault or alias is a usage error', () => {
    const r = cli(['simulate', '--fault', 'linux-000000000000', '--ops', '10']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--fault must be one of');
  });
});
