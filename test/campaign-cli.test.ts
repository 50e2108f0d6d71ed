/**
 * `smmuv3-tlbi campaign` as a user runs it (a separate process on the sources): bad matrices exit 2 naming
 * the flag, shards merged equal the unsharded run, --jobs 2 equals --jobs 1, JUnit to a file, replay files
 * that `simulate --replay` reproduces (with a clean twin), Ctrl-C → partial report and exit 130.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { XMLValidator } from 'fast-xml-parser';
import { describe, expect, it } from 'vitest';
import { runCliFromSource, sourceCliArgs } from './cli-source-run.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'campaign-cli-'));

/** A small matrix: 4 configurations, 2 seeds, a fault that some configurations reach (ATS on) and others not. */
const SMALL = [
  'campaign',
  '--scenario',
  'workload',
  '--stage',
  '1,2',
  '--granule',
  '4K',
  '--ril',
  'on',
  '--ats',
  'on,off',
  '--e2h',
  'off',
  '--policy',
  'linux',
  '--force-sync',
  'off',
  '--repeat',
  'off',
  '--seeds',
  '1..2',
  '--ops',
  '300',
  '--fault',
  'no-atc',
  '--no-progress',
];

function json(stdout: string): Record<string, unknown> {
  return JSON.parse(stdout) as Record<string, unknown>;
}

function deterministic(doc: Record<string, unknown>): unknown {
  const {
    timing: _t,
    schemaVersion: _v,
    cases,
    ...rest
  } = doc as { timing: unknown; schemaVersion: unknown; cases: Record<string, unknown>[] };
  return { ...rest, cases: cases.map(({ time: _time, ...c }) => c) };
}

describe('campaign: bad matrices', () => {
  it('exit 2 with one line naming the flag; the clean twin lists the matrix', () => {
    const bad: [string[], string][] = [
      [['--granule', '8K'], '--granule'],
      [['--scenario', 'workload', '--stage', '2', '--e2h', 'on'], '--e2h'],
      [['--shard', '3/2'], '--shard'],
      [['--seeds', '9..2'], '--seeds'],
      [['--jobs', '0', '--scenario', 'driver', '--seeds', '1'], '--jobs'],
      [['--fault', 'no-atc', '--ats', 'off'], '--ats'],
    ];
    for (const [args, flag] of bad) {
      const r = runCliFromSource(['campaign', ...args, '--no-progress']);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toContain(flag);
      expect(r.stdout).toBe('');
    }
    const file = join(dir, 'matrix.json');
    writeFileSync(file, JSON.stringify({ granule: ['4K'], colour: ['blue'] }));
    const m = runCliFromSource(['campaign', '--matrix', file, '--list']);
    expect(m.code).toBe(2);
    expect(m.stderr).toContain('colour');
    writeFileSync(file, JSON.stringify({ scenario: ['workload'], stage: ['2'], granule: '4K,16K' }));
    const ok = runCliFromSource(['campaign', '--matrix', file, '--list', '--json']);
    expect(ok.code).toBe(0);
    const list = json(ok.stdout);
    expect(list.count).toBe(2 * 2 * 2 * 2 * 3);
    const all = runCliFromSource(['campaign', '--list', '--json']);
    expect(json(all.stdout).count).toBe(360);
  }, 300_000);
});

describe('campaign: runs', () => {
  const replays = join(dir, 'replays');
  let whole: Record<string, unknown> = {};

  it('--jobs 1: the report, JUnit, replay files', () => {
    const one = runCliFromSource([
      ...SMALL,
      '--jobs',
      '1',
      '--json',
      '--replay-dir',
      replays,
      '--junit',
      join(dir, 'one.xml'),
    ]);
    expect(one.code).toBe(1);
    whole = json(one.stdout);
    expect((whole.totals as { cases: number }).cases).toBe(8);
    // no-atc is reached with ATS only: half the configurations fail on every seed, the other half are clean.
    expect((whole.totals as { failingCases: number }).failingCases).toBe(4);
    const xml = readFileSync(join(dir, 'one.xml'), 'utf8');
    expect(XMLValidator.validate(xml)).toBe(true);
    expect(xml).toContain('tests="8" failures="4"');
    expect(readdirSync(replays)).toHaveLength(4);
  }, 300_000);

  it('shards 1/2 and 2/2 with --jobs 2, merged = the unsharded --jobs 1 run', () => {
    const shards = [1, 2].map((k) => {
      const r = runCliFromSource([
        ...SMALL,
        '--shard',
        `${k}/2`,
        '--jobs',
        '2',
        '--json',
        '--replay-dir',
        join(dir, 'r2'),
      ]);
      // Index mod 2: shard 1 holds the ATS configurations (all failing), shard 2 the others (all clean).
      expect(r.code).toBe(k === 1 ? 1 : 0);
      const f = join(dir, `shard-${k}.json`);
      writeFileSync(f, r.stdout);
      return f;
    });
    const merged = runCliFromSource(['campaign', 'merge', ...shards.reverse(), '--json']);
    expect(merged.code).toBe(1);
    expect(deterministic(json(merged.stdout))).toEqual(deterministic(whole));
    const missing = runCliFromSource(['campaign', 'merge', shards[0]!]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('missing');
  }, 300_000);

  it('simulate --replay reproduces a replay file; its clean twin is clean; a bad file is exit 2', () => {
    const files = readdirSync(replays).sort();
    const file = join(replays, files[0]!);
    const a = runCliFromSource(['simulate', '--replay', file]);
    expect(a.code).toBe(1);
    expect(a.stdout).toContain('operations (');
    expect(a.stdout).toContain('stale entries once the last CMD_SYNC completed');
    expect(a.stdout).toMatch(/ATC /);
    const b = runCliFromSource(['simulate', '--replay', file]);
    expect(b.stdout).toBe(a.stdout);
    // Clean twin: the same operations without the fault.
    const doc = JSON.parse(readFileSync(file, 'utf8')) as { workload: { fault: string | null } };
    doc.workload.fault = null;
    const twin = join(dir, 'twin.replay.json');
    writeFileSync(twin, JSON.stringify(doc));
    const c = runCliFromSource(['simulate', '--replay', twin]);
    expect(c.code).toBe(0);
    expect(c.stdout).toContain('no stale translation');
    doc.workload.fault = 'no-such-fault';
    writeFileSync(twin, JSON.stringify(doc));
    const d = runCliFromSource(['simulate', '--replay', twin]);
    expect(d.code).toBe(2);
    expect(d.stderr).toContain('workload.fault');
  }, 300_000);

  it('Ctrl-C: the running cases finish, a partial report, exit 130', async () => {
    const args = [
      'campaign',
      '--scenario',
      'workload',
      '--stage',
      '1',
      '--granule',
      '4K',
      '--seeds',
      '1..100',
      '--ops',
      '400',
      '--jobs',
      '2',
      '--json',
      '--no-progress',
    ];
    const child = spawn(process.execPath, sourceCliArgs(args), { cwd: ROOT, env: { ...process.env, NO_COLOR: '1' } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    let sent = false;
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      // Interrupt once the campaign has started its workers.
      if (!sent && stderr.includes('campaign: ')) {
        sent = true;
        setTimeout(() => child.kill('SIGINT'), 2500);
      }
    });
    const code = await new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)));
    expect(code).toBe(130);
    expect(stderr).toContain('interrupted');
    const doc = json(stdout);
    expect(doc.interrupted).toBe(true);
    expect(doc.complete).toBe(false);
    const cases = (doc.totals as { cases: number }).cases;
    expect(cases).toBeGreaterThan(0);
    expect(cases).toBeLessThan(100 * 24);
  }, 300_000);
});
