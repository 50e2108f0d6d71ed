/**
 * The corpus records (src/corpus) are complete and consistent: one record per corpus entry L1–L26 and
 * Q1–Q10, every fault described and named by its aliases, every test a record cites exists, and
 * docs/bug-corpus.md is what the records generate.
 */
import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  CORPUS,
  caseAlias,
  corpusMarkdown,
  faultAliases,
  hasFaultInfo,
  listFaults,
  resolveFault,
} from '../src/corpus/index.js';
import { FAULT_NAMES, isFaultName } from '../src/sim/faults.js';

const root = new URL('../', import.meta.url);

describe('corpus records', () => {
  it('one record per entry: L1–L26 then Q1–Q10, in order', () => {
    const want = [
      ...Array.from({ length: 26 }, (_, i) => `L${i + 1}`),
      ...Array.from({ length: 10 }, (_, i) => `Q${i + 1}`),
    ];
    expect(CORPUS.map((c) => c.id)).toEqual(want);
    for (const c of CORPUS) expect(c.project).toBe(c.id.startsWith('L') ? 'linux' : 'qemu');
  });

  it('commits are 12 lower-case hex digits or null; years are plausible', () => {
    for (const c of CORPUS) {
      if (c.commit !== null) expect(c.commit, c.id).toMatch(/^[0-9a-f]{12}$/);
      expect(c.year, c.id).toBeGreaterThanOrEqual(2015);
      expect(c.year, c.id).toBeLessThanOrEqual(2026);
    }
  });

  it('a caught case names its tests (which exist); planned and out-of-reach cases say why or name their fault', () => {
    for (const c of CORPUS) {
      for (const t of c.tests) expect(existsSync(new URL(t, root)), `${c.id}: ${t}`).toBe(true);
      if (c.status === 'caught') expect(c.tests.length, c.id).toBeGreaterThan(0);
      if (c.status === 'out-of-reach') {
        expect(c.catch, c.id).toBe('out-of-reach');
        expect(c.reason ?? '', c.id).not.toBe('');
      }
      if (c.catch === 'out-of-reach') expect(c.status, c.id).toBe('out-of-reach');
      if (c.status === 'planned' && c.catch !== 'fault') expect(c.reason ?? c.caughtBy, c.id).not.toBe('');
    }
  });

  it('a fault case names its fault; once the fault exists the case is caught', () => {
    for (const c of CORPUS) {
      if (c.catch !== 'fault') {
        expect(c.fault, c.id).toBeUndefined();
        continue;
      }
      expect(c.fault, c.id).toBeDefined();
      if (c.status === 'caught') expect(isFaultName(c.fault!), c.id).toBe(true);
      // A fault that landed (here or from another helper) turns its case from planned to caught.
      if (isFaultName(c.fault!)) expect(c.status, `${c.id} (${c.fault})`).toBe('caught');
    }
  });

  it('every fault is described in the catalog', () => {
    for (const f of FAULT_NAMES) expect(hasFaultInfo(f), f).toBe(true);
  });

  it('aliases: one per case with a commit, unique across faults, resolving to their fault', () => {
    const seen = new Map<string, string>();
    for (const f of FAULT_NAMES) {
      expect(resolveFault(f)).toBe(f);
      for (const a of faultAliases(f)) {
        expect(a).toMatch(/^(linux|qemu)-[0-9a-f]{12}$/);
        expect(seen.has(a), a).toBe(false);
        seen.set(a, f);
        expect(resolveFault(a)).toBe(f);
        expect(resolveFault(a.toUpperCase())).toBe(f);
      }
    }
    for (const c of CORPUS)
      if (c.fault !== undefined && isFaultName(c.fault) && caseAlias(c) !== null)
        expect(seen.get(caseAlias(c)!)).toBe(c.fault);
    expect(resolveFault('linux-353e3cf8590c')).toBe('atc-before-tlbi');
    expect(resolveFault('no-such-fault')).toBeNull();
    expect(resolveFault('linux-000000000000')).toBeNull();
  });

  it('the listing has one object per fault, with the first case’s commit and title', () => {
    const l = listFaults();
    expect(l.map((f) => f.name)).toEqual([...FAULT_NAMES]);
    const atc = l.find((f) => f.name === 'atc-before-tlbi')!;
    expect(atc.commit).toBe('353e3cf8590c');
    expect(atc.cases).toEqual(['L4']);
    expect(atc.configuration.requires).toEqual({ ats: true });
    const drop = l.find((f) => f.name === 'drop-sync')!;
    expect(drop.commit).toBeNull();
    expect(drop.aliases).toEqual([]);
  });

  it('docs/bug-corpus.md is generated from the records (npm run docs:corpus)', () => {
    const committed = readFileSync(new URL('docs/bug-corpus.md', root), 'utf8');
    expect(committed).toBe(corpusMarkdown());
    for (const c of CORPUS) expect(committed).toContain(`| ${c.id} |`);
  });
});
