/**
 * The campaign core (src/campaign): the matrix and its rules, shards, the case runner, shrinking and
 * replay, the report and its merge, JUnit and KTAP. The references are independent of the code under test:
 * the matrix is counted from the axis rules by hand, shards against the plain case list, the replay against
 * the seeded run it was recorded from (and a clean twin without the fault), JUnit against an XML parser and
 * the schema's rules, KTAP against a reader written from the KTAP v1 specification.
 */
import fc from 'fast-check';
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { describe, expect, it } from 'vitest';
import {
  MatrixError,
  caseRefs,
  configName,
  expandMatrix,
  parseSeeds,
  parseShard,
  shardSize,
  type AxisValues,
} from '../src/campaign/matrix.js';
import {
  buildReport,
  junitXml,
  ktapText,
  mergeReports,
  withoutTiming,
  type CampaignMatrix,
} from '../src/campaign/report.js';
import { runCase, workloadConfig, type CaseResult } from '../src/campaign/run-case.js';
import { shrinkWorkload } from '../src/campaign/shrink.js';
import type { FaultName } from '../src/sim/faults.js';
import { runSimulation, type SimConfig, type SimOp } from '../src/sim/workload.js';

describe('matrix', () => {
  it('the default matrix: 288 workload configurations and 24 per scenario', () => {
    const all = expandMatrix({});
    // Counted from the rules: stage 1: 3 granules × 2 RIL × 2 ATS × 2 E2H × 2 policies × 3 errata choices
    // (none, force-sync, repeat); stage 2 and nested without E2H; scenarios: granule × RIL × ATS × policy.
    const s1 = 3 * 2 * 2 * 2 * 2 * 3;
    const s2 = 3 * 2 * 2 * 2 * 3;
    expect(all.filter((c) => c.scenario === 'workload' && c.stage === '1')).toHaveLength(s1);
    expect(all.filter((c) => c.scenario === 'workload' && c.stage === '2')).toHaveLength(s2);
    expect(all.filter((c) => c.scenario === 'workload' && c.stage === 'nested')).toHaveLength(s2);
    for (const s of ['driver', 'pkvm', 'nested'] as const) expect(all.filter((c) => c.scenario === s)).toHaveLength(24);
    expect(all).toHaveLength(s1 + 2 * s2 + 72);
    // Only what exists: E2H with stage 1; never both errata; no workload axis on a scenario.
    for (const c of all) {
      if (c.e2h === true) expect(c.stage).toBe('1');
      expect(c.forceSync === true && c.repeat === true).toBe(false);
      if (c.scenario !== 'workload')
        expect([c.stage, c.e2h, c.forceSync, c.repeat]).toEqual([undefined, undefined, undefined, undefined]);
    }
    expect(new Set(all.map(configName)).size).toBe(all.length);
  });

  it('bad matrices name their flag; their clean twins expand', () => {
    const bad: [AxisValues, string][] = [
      [{ granule: ['8K'] }, '--granule'],
      [{ stage: [] }, '--stage'],
      [{ scenario: ['workload'], stage: ['2', 'nested'], e2h: ['on'] }, '--e2h'],
      [{ scenario: ['workload'], 'force-sync': ['on'], repeat: ['on'] }, '--repeat'],
      [{ scenario: ['driver'], e2h: ['on'] }, '--e2h'],
    ];
    for (const [axes, flag] of bad) {
      let err: unknown;
      try {
        expandMatrix(axes);
      } catch (e) {
        err = e;
      }
      expect(err, JSON.stringify(axes)).toBeInstanceOf(MatrixError);
      expect((err as MatrixError).flag).toBe(flag);
      expect((err as Error).message).toContain(flag);
    }
    expect(expandMatrix({ granule: ['4K'], stage: ['1'] }).length).toBeGreaterThan(0);
    expect(expandMatrix({ scenario: ['workload'], stage: ['1'], e2h: ['on'] })).toHaveLength(3 * 2 * 2 * 2 * 3);
    expect(expandMatrix({ scenario: ['workload'], 'force-sync': ['on'], repeat: ['off'] })).toHaveLength(
      3 * 2 * 2 * 2 * 2 + 2 * (3 * 2 * 2 * 2),
    );
    expect(() => parseShard('3/2')).toThrow(/--shard/);
    expect(() => parseShard('0/2')).toThrow(/--shard/);
    expect(parseShard('2/2')).toEqual({ k: 2, n: 2 });
    expect(() => parseSeeds('5..2')).toThrow(/--seeds/);
    expect(parseSeeds('2..5')).toEqual({ first: 2, last: 5 });
    expect(parseSeeds('7..')).toEqual({ first: 7, last: null });
  });

  it('shards are disjoint, cover every case, and are decided by K/N alone', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 40 }),
        fc.integer({ min: 0, max: 30 }),
        fc.integer({ min: 1, max: 9 }),
        (configs, extra, n) => {
          const seeds = { first: 3, last: 3 + extra };
          // The reference: every (configuration, seed) pair once.
          const want = new Set<string>();
          for (let s = seeds.first; s <= seeds.last; s++) for (let c = 0; c < configs; c++) want.add(`${c}/${s}`);
          const got: string[] = [];
          for (let k = 1; k <= n; k++) {
            const part = [...caseRefs(configs, seeds, { k, n })];
            expect(part).toHaveLength(shardSize(configs, seeds, { k, n }));
            got.push(...part.map((r) => `${r.config}/${r.seed}`));
          }
          expect(got).toHaveLength(want.size);
          expect(new Set(got)).toEqual(want);
        },
      ),
      { numRuns: 200 },
    );
  });
});

const OPS = 400;

function matrixOf(
  axes: AxisValues,
  seeds: { first: number; last: number },
  fault: string | null,
): CampaignMatrix & { configs: ReturnType<typeof expandMatrix> } {
  const configs = expandMatrix(axes);
  return {
    configs,
    axes: axes as CampaignMatrix['axes'],
    configurations: configs.map(configName),
    seeds,
    ops: OPS,
    fault,
    smmus: 1,
    mode: 'adversarial',
    timeBudgetMs: null,
  };
}

function runShard(m: ReturnType<typeof matrixOf>, k: number, n: number): CaseResult[] {
  return [...caseRefs(m.configs.length, m.seeds, { k, n })].map((r) =>
    runCase({
      index: r.index,
      seed: r.seed,
      config: m.configs[r.config]!,
      ops: OPS,
      fault: m.fault as FaultName | null,
    }),
  );
}

describe('report', () => {
  const axes: AxisValues = {
    scenario: ['workload'],
    stage: ['1', '2'],
    granule: ['4K'],
    ril: ['on'],
    ats: ['on', 'off'],
    e2h: ['off'],
    'force-sync': ['off'],
    repeat: ['off'],
  };
  const flags = { complete: true, interrupted: false, stoppedOnFailure: false };
  const timing = { wallMs: 1, cpuMs: 1, jobs: 1 };

  it('the shards merged give the unsharded report', () => {
    const m = matrixOf(axes, { first: 1, last: 2 }, 'short-range');
    const { configs: _c, ...matrix } = m;
    const whole = buildReport(matrix, { k: 1, n: 1 }, runShard(m, 1, 1), flags, timing);
    const parts = [1, 2, 3].map((k) => ({
      name: `shard-${k}`,
      doc: buildReport(matrix, { k, n: 3 }, runShard(m, k, 3), flags, timing),
    }));
    expect(whole.totals.cases).toBe(m.configs.length * 2);
    expect(whole.totals.failingCases).toBeGreaterThan(0);
    expect(withoutTiming(mergeReports(parts.reverse()))).toEqual(withoutTiming(whole));
    // Missing or repeated shards are refused.
    expect(() => mergeReports(parts.slice(1))).toThrow(/missing/);
    expect(() => mergeReports([parts[0]!, parts[0]!, parts[1]!])).toThrow(/again/);
  });

  it('JUnit XML is well-formed and follows the schema; KTAP follows the v1 specification', () => {
    const m = matrixOf(axes, { first: 1, last: 2 }, 'no-atc');
    const { configs: _c, ...matrix } = m;
    const doc = buildReport(matrix, { k: 1, n: 1 }, runShard(m, 1, 1), flags, timing);
    const failing = doc.cases.filter((c) => !c.ok).length;
    // no-atc fails where there are ATCs only: a clean twin in the same report.
    expect(failing).toBe(doc.cases.filter((c) => c.config.includes('ats=on')).length);
    expect(failing).toBeGreaterThan(0);
    expect(failing).toBeLessThan(doc.cases.length);

    const xml = junitXml(doc);
    expect(XMLValidator.validate(xml)).toBe(true);
    checkJunit(
      new XMLParser({ ignoreAttributes: false, attributeNamePrefix: '' }).parse(xml),
      doc.cases.length,
      failing,
    );

    const k = readKtap(ktapText(doc));
    expect(k.tests).toHaveLength(m.configs.length);
    expect(k.tests.map((t) => t.name)).toEqual(m.configurations.map((c) => c));
    for (const t of k.tests) {
      expect(t.subtests).toHaveLength(2);
      expect(t.ok).toBe(t.subtests.every((s) => s.ok));
      expect(t.ok).toBe(!t.name.includes('ats=on'));
    }
  });
});

/** The JUnit schema's rules (Ant/Jenkins junit.xsd): element nesting, required attributes, counts. */
function checkJunit(root: Record<string, unknown>, cases: number, failing: number): void {
  const arr = <T>(x: T | T[] | undefined): T[] => (x === undefined ? [] : Array.isArray(x) ? x : [x]);
  const ts = root.testsuites as Record<string, unknown>;
  expect(ts).toBeDefined();
  expect(Number(ts.tests)).toBe(cases);
  expect(Number(ts.failures)).toBe(failing);
  let n = 0;
  let f = 0;
  for (const suite of arr(ts.testsuite as Record<string, unknown>[])) {
    for (const a of ['name', 'tests', 'failures', 'errors', 'time']) expect(suite[a], a).toBeDefined();
    expect(Number(suite.time)).not.toBeNaN();
    const tcs = arr(suite.testcase as Record<string, unknown>[]);
    expect(tcs).toHaveLength(Number(suite.tests));
    let sf = 0;
    for (const tc of tcs) {
      for (const a of ['name', 'classname', 'time']) expect(tc[a], a).toBeDefined();
      if (tc.failure !== undefined) {
        sf++;
        expect((tc.failure as Record<string, unknown>).message).toBeDefined();
      }
    }
    expect(sf).toBe(Number(suite.failures));
    n += tcs.length;
    f += sf;
  }
  expect([n, f]).toEqual([cases, failing]);
}

interface KtapTest {
  ok: boolean;
  num: number;
  name: string;
  subtests: KtapTest[];
}

/**
 * A KTAP v1 reader from the specification (Documentation/dev-tools/ktap.rst): a version line, a plan
 * `1..N`, then N results `ok|not ok NUM [name] [# directive]`, each optionally preceded by its subtests
 * indented four more spaces (their own version line and plan); `#` lines are diagnostics. Throws on
 * anything else: a missing version or plan, wrong numbering, a count that does not match the plan.
 */
function readKtap(text: string): { tests: KtapTest[] } {
  const lines = text.split('\n');
  if (lines.at(-1) === '') lines.pop();
  let i = 0;
  const block = (indent: string): KtapTest[] => {
    if (lines[i] !== `${indent}KTAP version 1`) throw new Error(`line ${i + 1}: expected a KTAP version line`);
    i++;
    while (lines[i]?.startsWith(`${indent}#`)) i++;
    const plan = /^(\d+)\.\.(\d+)$/.exec(lines[i]?.slice(indent.length) ?? '');
    if (plan === null || plan[1] !== '1' || !lines[i]!.startsWith(indent))
      throw new Error(`line ${i + 1}: expected a plan`);
    i++;
    const want = Number(plan[2]);
    const tests: KtapTest[] = [];
    let subtests: KtapTest[] = [];
    while (i < lines.length && lines[i]!.startsWith(indent)) {
      const line = lines[i]!.slice(indent.length);
      if (line.startsWith('    KTAP version 1')) {
        subtests = block(indent + '    ');
        continue;
      }
      if (line.startsWith('#') || line.startsWith('    #')) {
        i++;
        continue;
      }
      const m = /^(ok|not ok) (\d+)(?: ([^#]*?))?(?: # .*)?$/.exec(line);
      if (m === null) throw new Error(`line ${i + 1}: not a KTAP line: ${JSON.stringify(lines[i])}`);
      if (Number(m[2]) !== tests.length + 1) throw new Error(`line ${i + 1}: test number ${m[2]} out of order`);
      tests.push({ ok: m[1] === 'ok', num: Number(m[2]), name: m[3] ?? '', subtests });
      subtests = [];
      i++;
    }
    if (tests.length !== want) throw new Error(`plan 1..${want} but ${tests.length} results`);
    return tests;
  };
  const tests = block('');
  if (i !== lines.length) throw new Error(`line ${i + 1}: text after the last result`);
  return { tests };
}

describe('counterexamples', () => {
  const base: Omit<SimConfig, 'fault' | 'stage'> = {
    granule: 4096,
    ril: true,
    ats: true,
    smmus: 1,
    ops: 3000,
    seed: 11,
    policy: 'linux',
  };
  const cases: [FaultName, SimConfig['stage'], Partial<SimConfig>][] = [
    ['drop-sync', '1', {}],
    ['short-range', '2', { ats: false }],
    ['no-atc', '1', {}],
    ['no-cfgi', '2', {}],
    ['leaf-always', '1', { ats: false }],
    ['no-nested-s1-clear', 'nested', { ats: false }],
    ['no-repeat', '1', { errata: ['tegra264-repeat'] }],
  ];
  for (const [fault, stage, extra] of cases)
    it(`${fault}: found, shrunk to a few operations, the replay fails and its clean twin does not`, () => {
      const cfg: SimConfig = { ...base, stage, fault, ...extra };
      const sh = shrinkWorkload(cfg);
      expect(sh, 'the fault is found').not.toBeNull();
      expect(sh!.script.length).toBeGreaterThan(0);
      expect(sh!.script.length).toBeLessThanOrEqual(30);
      expect(sh!.script.length).toBeLessThanOrEqual(sh!.found);
      const replay = (script: readonly SimOp[], f: FaultName | null): number =>
        runSimulation({ ...cfg, fault: f, script }).stale;
      expect(replay(sh!.script, fault)).toBeGreaterThan(0);
      expect(replay(sh!.script, fault)).toBe(replay(sh!.script, fault));
      expect(replay(sh!.script, null)).toBe(0);
      // The shrunk list replays every operation it holds.
      expect(runSimulation({ ...cfg, script: sh!.script }).skipped).toBe(0);
    });

  it('a recorded run replays to the same report as the seeded run (every configuration kind)', () => {
    for (const stage of ['1', '2', 'nested'] as const)
      for (const fault of [null, 'short-range'] as const) {
        const cfg: SimConfig = { ...base, ops: 600, granule: 16384, smmus: 2, policy: 'tlbi', stage, fault };
        const rec: SimOp[] = [];
        const a = runSimulation({ ...cfg, record: rec });
        const b = runSimulation({ ...cfg, script: rec });
        expect(b.skipped).toBe(0);
        const strip = (r: ReturnType<typeof runSimulation>): unknown => ({
          ...r,
          elapsedMs: 0,
          opsPerSecond: 0,
          ops: 0,
          skipped: 0,
          staleReports: r.staleReports.map((s) => ({ ...s, op: 0 })),
        });
        expect(strip(b)).toEqual(strip(a));
      }
  });

  it('a failing scenario case is shrunk by length: the fewest main-loop operations that still fail', () => {
    const config = expandMatrix({
      scenario: ['driver'],
      granule: ['4K'],
      ril: ['on'],
      ats: ['on'],
      policy: ['linux'],
    })[0]!;
    const spec = { index: 0, seed: 2, config, ops: 200, fault: 'no-atc-on-detach' as FaultName };
    const bad = runCase(spec);
    expect(bad.ok).toBe(false);
    const n = bad.scenarioOps!;
    expect(n).toBeGreaterThan(0);
    expect(n).toBeLessThanOrEqual(200);
    expect(bad.reproduce).toContain(`--ops ${n}`);
    expect(runCase({ ...spec, ops: n, shrink: false }).ok).toBe(false);
    expect(runCase({ ...spec, ops: n, fault: null }).ok).toBe(true);
  });

  it('a campaign case carries its shrunk replay; a clean case none', () => {
    const config = expandMatrix({
      scenario: ['workload'],
      stage: ['1'],
      granule: ['4K'],
      ril: ['on'],
      ats: ['on'],
      e2h: ['off'],
      policy: ['linux'],
      'force-sync': ['off'],
      repeat: ['off'],
    })[0]!;
    const bad = runCase({ index: 0, seed: 4, config, ops: 500, fault: 'drop-sync' });
    expect(bad.ok).toBe(false);
    const cx = bad.counterexample!;
    expect(cx.shrunk).toBeLessThanOrEqual(30);
    const w = cx.replay.workload;
    const again = runSimulation({
      ...workloadConfig({ index: 0, seed: 4, config, ops: 500, fault: 'drop-sync' }),
      script: cx.replay.script,
    });
    expect(again.stale).toBeGreaterThan(0);
    expect(w.fault).toBe('drop-sync');
    const good = runCase({ index: 0, seed: 4, config, ops: 500, fault: null });
    expect(good.ok).toBe(true);
    expect(good.counterexample).toBeUndefined();
  });
});
