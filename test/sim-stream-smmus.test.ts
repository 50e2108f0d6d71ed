/**
 * `simulate --emit-stream FILE` with several SMMUs (issue 15): every SMMU's queue is written, SMMU 0's as FILE
 * and FILE.json, SMMU K's as FILE.smmuK and FILE.smmuK.json, and `audit` reads each on its own — a clean
 * 2-SMMU run's streams audit clean, the same run with --fault atc-before-tlbi is flagged on each stream.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { StreamRecorder, streamFile } from '../src/cli/simulate-stream.js';
import { runSimulation, type SimConfig } from '../src/sim/workload.js';
import { runCliFromSource } from './cli-source-run.js';

const dir = mkdtempSync(join(tmpdir(), 'smmuv3-stream-smmus-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function audit(file: string): { code: number | null; rules: Record<string, number>; entries: number } {
  const r = runCliFromSource(['audit', '--json', '--no-replan', '--file', file, '--regs', `${file}.json`]);
  const doc = JSON.parse(r.stdout) as { records: { type: string; rule?: string }[] };
  const rules: Record<string, number> = {};
  for (const f of doc.records) if (f.type === 'finding') rules[f.rule!] = (rules[f.rule!] ?? 0) + 1;
  const regs = JSON.parse(readFileSync(`${file}.json`, 'utf8')) as Record<string, string>;
  return { code: r.code, rules, entries: Number(regs['CMDQ_PROD']) };
}

function emit(file: string, extra: string[]): { code: number | null; stderr: string } {
  const r = runCliFromSource([
    'simulate',
    '--smmus',
    '2',
    '--ops',
    '120',
    '--seed',
    '4',
    '--emit-stream',
    file,
    ...extra,
  ]);
  return { code: r.code, stderr: r.stderr };
}

describe('simulate --emit-stream writes every SMMU', () => {
  it('names the files: FILE for SMMU 0, FILE.smmuK for SMMU K', () => {
    expect(streamFile('/x/run.bin', 0)).toBe('/x/run.bin');
    expect(streamFile('/x/run.bin', 3)).toBe('/x/run.bin.smmu3');
  });

  it('a clean 2-SMMU run: both streams written, each audits clean (exit 0, no finding)', () => {
    const file = join(dir, 'clean.bin');
    const r = emit(file, []);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain(`to ${file} and its registers to ${file}.json`);
    expect(r.stderr).toContain(`SMMU 1's`);
    expect(r.stderr).toContain(`${file}.smmu1 and ${file}.smmu1.json`);
    expect(r.stderr).not.toContain('not written');
    for (const f of [file, `${file}.smmu1`]) {
      const a = audit(f);
      expect(a.entries, f).toBeGreaterThan(100);
      expect(a.rules, f).toEqual({});
      expect(a.code, f).toBe(0);
    }
  });

  it('the faulty twin (--fault atc-before-tlbi): each SMMU stream is flagged by the atc-before-tlbi rule (exit 1)', () => {
    const file = join(dir, 'faulty.bin');
    const r = emit(file, ['--fault', 'atc-before-tlbi']);
    expect(r.code).toBe(1);
    for (const f of [file, `${file}.smmu1`]) {
      const a = audit(f);
      expect(a.rules['atc-before-tlbi'] ?? 0, f).toBeGreaterThan(0);
      expect(a.code, f).toBe(1);
    }
  });

  it('in-process: each SMMU of a 3-SMMU run gets its own dump, holding exactly the entries written to it', () => {
    const cfg: SimConfig = {
      granule: 4096,
      stage: '2',
      ril: false,
      ats: true,
      smmus: 3,
      ops: 60,
      seed: 9,
      policy: 'tlbi',
      fault: null,
    };
    const seen = [0, 0, 0];
    const rec = new StreamRecorder();
    runSimulation({
      ...cfg,
      onCommands: (s, e) => {
        seen[s]! += e.length / 4;
        rec.onCommands(s, e);
      },
    });
    const file = join(dir, 'three.bin');
    rec.write(file, cfg);
    for (let k = 0; k < 3; k++) {
      expect(rec.countOf(k)).toBe(seen[k]);
      expect(seen[k]).toBeGreaterThan(0);
      const regs = JSON.parse(readFileSync(`${streamFile(file, k)}.json`, 'utf8')) as Record<string, string>;
      expect(Number(regs['CMDQ_PROD'])).toBe(seen[k]);
    }
  });
});
