/**
 * Long `simulate` runs (issue 18 item 7): a run of many operations prints its estimated length on stderr
 * after a measured warm-up, and Ctrl-C ends it with a partial report (the same document, marked interrupted,
 * valid against the schema) and exit 130; the clean twin (a short run, no signal) exits 0 with a complete
 * report. In-process: a run advanced in slices gives the report of the one-shot run, and a run stopped
 * between slices reports what ran, marked interrupted. The same for the scenarios (`--scenario driver|pkvm|
 * nested`, red-team S32), which run once per policy.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { sourceCliArgs } from './cli-source-run.js';
import { describe, expect, it } from 'vitest';
import { estimateLine, formatDuration } from '../src/cli/simulate-interrupt.js';
import { validate } from '../src/schema/generated/simulate-output.js';
import type { Validator } from '../src/schema/validate.js';
import { runSimulation, startSimulation, type SimConfig, type SimReport } from '../src/sim/workload.js';
import {
  SCENARIO_NAMES,
  ScenarioSession,
  runScenario,
  type ScenarioOptions,
  type ScenarioReport,
} from '../src/sim/scenarios/index.js';
import { POLICIES } from '../src/tlbi/plan.js';

const simulateOutput = validate as unknown as Validator;
const ROOT = fileURLToPath(new URL('..', import.meta.url));

interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Run the CLI from source; send SIGINT once stderr contains `interruptAfter` (when given). */
function run(args: string[], interruptAfter?: string): Promise<Ran> {
  const child = spawn(process.execPath, sourceCliArgs(args), { cwd: ROOT, env: { ...process.env, NO_COLOR: '1' } });
  let stdout = '';
  let stderr = '';
  let sent = false;
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => {
    stderr += d.toString();
    if (interruptAfter !== undefined && !sent && stderr.includes(interruptAfter)) {
      sent = true;
      child.kill('SIGINT');
    }
  });
  const killer = setTimeout(() => child.kill('SIGKILL'), 120_000);
  return new Promise((resolve) =>
    child.on('close', (code) => {
      clearTimeout(killer);
      resolve({ code, stdout, stderr });
    }),
  );
}

function withoutTiming(r: SimReport): Omit<SimReport, 'elapsedMs' | 'opsPerSecond' | 'interrupted'> {
  const { elapsedMs: _e, opsPerSecond: _o, interrupted: _i, ...rest } = r;
  return rest;
}

const CFG: SimConfig = {
  granule: 4096,
  stage: '1',
  ril: true,
  ats: true,
  smmus: 2,
  ops: 600,
  seed: 5,
  policy: 'linux',
  fault: null,
};

describe('simulate: estimate and Ctrl-C', () => {
  it('a run advanced in slices reports what the one-shot run reports; stopped early, it is marked interrupted', () => {
    const whole = runSimulation(CFG);
    const sliced = startSimulation(CFG);
    let slices = 0;
    while (!sliced.advance(37)) slices++;
    expect(slices).toBe(Math.floor(600 / 37));
    expect(withoutTiming(sliced.report())).toEqual(withoutTiming(whole));
    expect(whole.interrupted).toBeUndefined();

    const cut = startSimulation(CFG);
    expect(cut.advance(250)).toBe(false);
    const partial = cut.report();
    expect(partial.interrupted).toBe(true);
    expect(partial.ops).toBe(250);
    expect(partial.maps + partial.unmaps).toBe(250);
    // The same 250 operations as the first 250 of a run of 250.
    const first = runSimulation({ ...CFG, ops: 250 });
    expect(withoutTiming(partial)).toEqual(withoutTiming(first));
  });

  it('the estimate names the rate it measured and the warm-up it measured it over', () => {
    const line = estimateLine(1e9, 30_000, 1000);
    expect(line).toContain('1,000,000,000 operations will take about 9.3 h');
    expect(line).toContain('30,000 ops/s, measured over the first 30,000 operations in 1.0 s');
    expect(formatDuration(45_000)).toBe('45 s');
    expect(formatDuration(150_000)).toBe('2.5 min');
  });

  it('simulate --ops 10^9 prints the estimate, and Ctrl-C gives a partial --json document and exit 130', async () => {
    const r = await run(['simulate', '--ops', '1000000000', '--seed', '1', '--json'], 'operations will take about');
    expect(r.stderr).toMatch(/simulate: 1,000,000,000 operations will take about [\d.]+ (h|min)/);
    expect(r.stderr).toContain('measured over the first');
    expect(r.stderr).toContain('interrupted');
    expect(r.code).toBe(130);
    const doc = JSON.parse(r.stdout) as Record<string, unknown>;
    expect(r.stdout.trim().split('\n')[0]).toBe('{');
    expect(simulateOutput(doc), JSON.stringify(simulateOutput.errors)).toBe(true);
    expect(doc.interrupted).toBe(true);
    expect(doc.opsPlanned).toBe(1e9);
    expect(doc.ops as number).toBeGreaterThan(0);
    expect(doc.ops as number).toBeLessThan(1e9);
    expect(doc.stale).toBe(0);
    const ops = doc.operations as { maps: number; unmaps: number };
    expect(ops.maps + ops.unmaps).toBe(doc.ops);
  }, 150_000);

  it('Ctrl-C in the text report says how far the run got (exit 130)', async () => {
    const r = await run(['simulate', '--ops', '1000000000', '--seed', '2'], 'operations will take about');
    expect(r.code).toBe(130);
    expect(r.stdout).toMatch(/interrupted {2}after \d+ of 1000000000 operations \(Ctrl-C\): a partial report/);
    expect(r.stdout).toContain('stale        0');
  }, 150_000);

  it('the clean twin: a short run without a signal is complete, exit 0, no estimate', async () => {
    const r = await run(['simulate', '--ops', '2000', '--seed', '1', '--json']);
    expect(r.code).toBe(0);
    expect(r.stderr).not.toContain('will take about');
    const doc = JSON.parse(r.stdout) as Record<string, unknown>;
    expect(simulateOutput(doc)).toBe(true);
    expect(doc.ops).toBe(2000);
    expect('interrupted' in doc).toBe(false);
    expect('opsPlanned' in doc).toBe(false);
  }, 150_000);
});

/** A scenario report (or run) without its timing (elapsedMs, opsPerSecond of each run). */
function scenarioWithoutTiming(r: ScenarioReport | ScenarioReport['run']): unknown {
  return JSON.parse(
    JSON.stringify(r, (k, v: unknown) => (k === 'elapsedMs' || k === 'opsPerSecond' ? undefined : v)),
  ) as unknown;
}

const SCENARIO_OPTIONS: ScenarioOptions = {
  granule: 4096,
  ril: true,
  ats: true,
  seed: 7,
  policy: 'tlbi',
  fault: null,
  ops: 120,
};

describe('simulate --scenario: estimate and Ctrl-C (red-team S32)', () => {
  for (const name of SCENARIO_NAMES)
    it(`${name}: a session advanced in slices reports what the one-shot run reports`, () => {
      const whole = runScenario(name, SCENARIO_OPTIONS);
      const s = new ScenarioSession(name, SCENARIO_OPTIONS);
      expect(s.total).toBe(120 * POLICIES.length);
      let slices = 0;
      while (!s.advance(17)) slices++;
      expect(slices).toBe(Math.floor((120 * POLICIES.length) / 17));
      expect(s.done).toBe(s.total);
      const sliced = s.report();
      expect(sliced.interrupted).toBeUndefined();
      expect(scenarioWithoutTiming(sliced)).toEqual(scenarioWithoutTiming(whole));
      expect(whole.comparison.map((c) => c.policy)).toEqual([...POLICIES]);
    });

  it('a session stopped in its second policy run reports the runs started, marked interrupted', () => {
    // The chosen policy (tlbi) runs first; stop 30 operations into the other one.
    const s = new ScenarioSession('driver', SCENARIO_OPTIONS);
    expect(s.advance(150)).toBe(false);
    const partial = s.report();
    expect(partial.interrupted).toBe(true);
    expect(partial.opsDone).toBe(150);
    expect(partial.comparison.map((c) => c.policy).sort()).toEqual([...POLICIES].sort());
    // The detailed run is complete: the one-shot run's.
    const whole = runScenario('driver', SCENARIO_OPTIONS);
    expect(scenarioWithoutTiming(partial.run)).toEqual(scenarioWithoutTiming(whole.run));
    // The cut run equals a run of 30 operations under that policy.
    const other = POLICIES.find((p) => p !== 'tlbi')!;
    const cut = partial.comparison.find((c) => c.policy === other)!;
    const short = runScenario('driver', { ...SCENARIO_OPTIONS, policy: other, ops: 30 }).comparison.find(
      (c) => c.policy === other,
    )!;
    const { opsPerSecond: _a, ...cutRest } = cut;
    const { opsPerSecond: _b, ...shortRest } = short;
    expect(cutRest).toEqual(shortRest);
  });

  it('a session stopped in its first run holds that run only; pkvm cut between power-off and power-on', () => {
    const s = new ScenarioSession('pkvm', { ...SCENARIO_OPTIONS, ops: 300 });
    expect(s.advance(150)).toBe(false);
    const partial = s.report();
    expect(partial.interrupted).toBe(true);
    expect(partial.opsDone).toBe(150);
    expect(partial.comparison.map((c) => c.policy)).toEqual(['tlbi']);
    expect(partial.run.operations.powerOffs).toBe(1);
    expect(partial.run.operations.powerOns).toBe(1);
    expect(partial.ok).toBe(true);
    expect(partial.run.stale).toBe(0);
  });

  it('--scenario nested --ops 10^9 prints the estimate, and Ctrl-C gives a partial --json document and exit 130', async () => {
    const r = await run(
      ['simulate', '--scenario', 'nested', '--ops', '1000000000', '--seed', '3', '--json'],
      'operations will take about',
    );
    expect(r.stderr).toMatch(/simulate: 2,000,000,000 operations will take about [\d.]+ (h|min)/);
    expect(r.stderr).toContain('interrupted');
    expect(r.code).toBe(130);
    const doc = JSON.parse(r.stdout) as Record<string, unknown>;
    expect(simulateOutput(doc), JSON.stringify(simulateOutput.errors)).toBe(true);
    expect(doc.kind).toBe('scenario');
    expect(doc.interrupted).toBe(true);
    expect(doc.opsPlanned).toBe(2e9);
    expect(doc.opsDone as number).toBeGreaterThan(0);
    expect(doc.opsDone as number).toBeLessThan(1e9);
    expect(doc.stale).toBe(0);
    expect((doc.scenario as { comparison: unknown[] }).comparison).toHaveLength(1);
  }, 150_000);

  it('Ctrl-C in the scenario text report says how far it got (exit 130)', async () => {
    const r = await run(
      ['simulate', '--scenario', 'driver', '--ops', '1000000000', '--seed', '4'],
      'operations will take about',
    );
    expect(r.code).toBe(130);
    expect(r.stdout).toMatch(
      /interrupted {2}after \d+ of 2000000000 main-loop operations \(1000000000 per policy run; Ctrl-C\): a partial report/,
    );
  }, 150_000);

  it('the clean twin: a scenario of its default length runs without an estimate, complete, exit 0', async () => {
    const r = await run(['simulate', '--scenario', 'pkvm', '--seed', '1', '--json']);
    expect(r.code).toBe(0);
    expect(r.stderr).not.toContain('will take about');
    const doc = JSON.parse(r.stdout) as Record<string, unknown>;
    expect(simulateOutput(doc)).toBe(true);
    expect('interrupted' in doc).toBe(false);
    expect('opsPlanned' in doc).toBe(false);
    expect('opsDone' in doc).toBe(false);
    expect((doc.scenario as { comparison: unknown[] }).comparison).toHaveLength(POLICIES.length);
  }, 150_000);
});
