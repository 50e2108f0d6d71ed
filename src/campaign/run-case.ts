/**
 * Run one campaign case — a configuration of the matrix and a seed — and give its result: operations,
 * stale translations, the consumers' invariant violations, the first finding in one line, how to reproduce
 * it, and (workload cases) the shrunk counterexample as a replay. Free of Node APIs: the CLI runs this in
 * worker threads, tests call it directly.
 */
import { failures, runScenarioOnce, type ScenarioName } from '../sim/scenarios/index.js';
import { DRIVER_DEFAULT_OPS } from '../sim/scenarios/driver.js';
import { NESTED_DEFAULT_OPS } from '../sim/scenarios/nested.js';
import { PKVM_DEFAULT_OPS } from '../sim/scenarios/pkvm.js';
import type { FaultName } from '../sim/faults.js';
import { runSimulation, type SimConfig, type SimOp } from '../sim/workload.js';
import type { ModelMode, SmmuErratum } from '../smmu/model.js';
import { configName, type CaseConfig } from './matrix.js';
import { shrinkWorkload } from './shrink.js';

/** Operations of a workload case when the campaign does not say (scenarios keep their own default). */
export const DEFAULT_WORKLOAD_OPS = 2000;

export interface CaseSpec {
  readonly index: number;
  readonly seed: number;
  readonly config: CaseConfig;
  /** Workload operations / scenario main-loop operations; null: the defaults. */
  readonly ops: number | null;
  readonly fault: FaultName | null;
  /** Workload: SMMUs every domain is attached through (default 1), the model's semantics (adversarial). */
  readonly smmus?: number;
  readonly mode?: ModelMode;
  /** Shrink a failing workload case (default true); the shrinker's wall-clock budget in ms (default 30 s). */
  readonly shrink?: boolean;
  readonly shrinkMs?: number;
  /** Replays the shrinker may make (default 3000): its budget, deterministic unlike the time limit. */
  readonly shrinkTests?: number;
}

/** What `simulate --replay FILE` reads (the CLI adds schemaVersion). */
export interface ReplayDocument {
  readonly kind: 'replay';
  /** The case it came from. */
  readonly case: { readonly config: string; readonly seed: number };
  readonly workload: {
    readonly granule: 4096 | 16384 | 65536;
    readonly stage: '1' | '2' | 'nested';
    readonly ril: boolean;
    readonly ats: boolean;
    readonly e2h: boolean;
    readonly smmus: number;
    readonly policy: 'linux' | 'tlbi';
    readonly fault: FaultName | null;
    readonly mode: ModelMode;
    readonly errata: readonly SmmuErratum[];
    readonly seed: number;
  };
  readonly script: readonly SimOp[];
}

export interface Counterexample {
  /** Operations up to the first failing one in the original run, and after shrinking. */
  readonly found: number;
  readonly shrunk: number;
  /** Replays the shrinker made; whether its budget ran out (the list may shrink further). */
  readonly tests: number;
  readonly exhausted: boolean;
  readonly replay: ReplayDocument;
}

export interface CaseResult {
  readonly index: number;
  readonly config: string;
  readonly seed: number;
  readonly ops: number;
  readonly stale: number;
  /** Consumer invariant violations (scenarios; 0 for the workload). */
  readonly violations: number;
  readonly ok: boolean;
  /** The first stale translation or violation, in one line; null when clean. */
  readonly first: string | null;
  /** A command line that reproduces the case. */
  readonly reproduce: string;
  readonly counterexample?: Counterexample | null;
  /**
   * Scenario cases that failed: the fewest main-loop operations found (doubling, then bisection) with which
   * the same seed still fails; `reproduce` uses it. A scenario's operations are not recorded one by one (its
   * consumers draw them), so it is shrunk by length only.
   */
  readonly scenarioOps?: number;
  /** Wall-clock milliseconds of the run (and of the shrinking); not part of the deterministic result. */
  readonly time: { readonly runMs: number; readonly shrinkMs: number };
}

const GRANULE_NAME = { 4096: '4K', 16384: '16K', 65536: '64K' } as const;

/** The replay file's name for a case: the configuration's values and the seed (`1-4K-ril-on-…-seed7.json`). */
export function replayFileName(config: string, seed: number): string {
  const values = config
    .split(' ')
    .map((kv) => {
      const [k, v] = kv.split('=') as [string, string];
      return k === 'scenario' || k === 'granule' || k === 'policy' ? v : k === 'stage' ? `s${v}` : `${k}-${v}`;
    })
    .join('_');
  return `${values}_seed${seed}.replay.json`;
}
const onOff = (b: boolean): string => (b ? 'on' : 'off');

/** The workload configuration of a case (scenario `workload`). */
export function workloadConfig(spec: CaseSpec): SimConfig {
  const c = spec.config;
  const errata: SmmuErratum[] = [];
  if (c.forceSync === true) errata.push('mmu700-2812531');
  if (c.repeat === true) errata.push('tegra264-repeat');
  return {
    granule: c.granule,
    stage: c.stage ?? '1',
    ril: c.ril,
    ats: c.ats,
    e2h: c.e2h === true,
    smmus: spec.smmus ?? 1,
    ops: spec.ops ?? DEFAULT_WORKLOAD_OPS,
    seed: spec.seed,
    policy: c.policy,
    fault: spec.fault,
    mode: spec.mode ?? 'adversarial',
    errata,
    maxReports: 1,
  };
}

/** The replay document of a workload configuration and its operations. */
export function replayDocument(cfg: SimConfig, configText: string, script: readonly SimOp[]): ReplayDocument {
  return {
    kind: 'replay',
    case: { config: configText, seed: cfg.seed },
    workload: {
      granule: cfg.granule,
      stage: cfg.stage,
      ril: cfg.ril,
      ats: cfg.ats,
      e2h: cfg.e2h === true,
      smmus: cfg.smmus,
      policy: cfg.policy,
      fault: cfg.fault,
      mode: cfg.mode ?? 'adversarial',
      errata: [...(cfg.errata ?? [])],
      seed: cfg.seed,
    },
    script,
  };
}

function scenarioCommand(spec: CaseSpec): string {
  const c = spec.config;
  return [
    `smmuv3-tlbi simulate --scenario ${c.scenario}`,
    `--granule ${GRANULE_NAME[c.granule]} --ril ${onOff(c.ril)} --ats ${onOff(c.ats)} --policy ${c.policy}`,
    `--seed ${spec.seed}`,
    ...(spec.ops !== null ? [`--ops ${spec.ops}`] : []),
    ...(spec.fault !== null ? [`--fault ${spec.fault}`] : []),
  ].join(' ');
}

/** A scenario case's run, with `ops` main-loop operations (null: the scenario's own count). */
function runScenarioCase(spec: CaseSpec, ops: number | null): ReturnType<typeof runScenarioOnce> {
  return runScenarioOnce(spec.config.scenario as ScenarioName, {
    granule: spec.config.granule,
    ril: spec.config.ril,
    ats: spec.config.ats,
    seed: spec.seed,
    policy: spec.config.policy,
    fault: spec.fault,
    planStatistics: false,
    ...(ops !== null ? { ops } : {}),
  });
}

function scenarioFails(spec: CaseSpec, ops: number): boolean {
  return failures(runScenarioCase(spec, ops)) > 0;
}

/** The fewest main-loop operations found that still fail (null when none up to the case's own count fails). */
function shrinkScenarioOps(spec: CaseSpec): number | null {
  const defaults = { driver: DRIVER_DEFAULT_OPS, pkvm: PKVM_DEFAULT_OPS, nested: NESTED_DEFAULT_OPS } as const;
  const cap = spec.ops ?? defaults[spec.config.scenario as ScenarioName];
  let hi = 1;
  while (hi < cap && !scenarioFails(spec, hi)) hi *= 2;
  if (hi >= cap) {
    hi = cap;
    if (!scenarioFails(spec, hi)) return null;
  }
  // hi fails; bisect (lo does not fail, or is 0).
  let lo = Math.floor(hi / 2);
  if (lo > 0 && scenarioFails(spec, lo)) return lo;
  while (hi - lo > 1) {
    const mid = Math.floor((lo + hi) / 2);
    if (scenarioFails(spec, mid)) hi = mid;
    else lo = mid;
  }
  return hi;
}

export function runCase(spec: CaseSpec, now: () => number = Date.now): CaseResult {
  const name = configName(spec.config);
  const t0 = now();
  if (spec.config.scenario !== 'workload') {
    const run = runScenarioCase(spec, spec.ops);
    const total = failures(run);
    const t1 = now();
    const shrunkOps = total > 0 && spec.shrink !== false ? shrinkScenarioOps(spec) : null;
    const shrinkMs = now() - t1;
    let first: string | null = null;
    const s = run.staleReports[0];
    if (s !== undefined)
      first = `stale ${s.cache} entry on SMMU ${s.smmu} at ${s.address}: cached ${s.cached}; live ${s.live}`;
    else if (total > 0)
      first = Object.entries(run.violations)
        .filter(([, n]) => n > 0)
        .map(([k, n]) => `${k} ${n}`)
        .join(', ');
    return {
      index: spec.index,
      config: name,
      seed: spec.seed,
      ops: run.ops,
      stale: run.stale,
      violations: total - run.stale,
      ok: total === 0,
      first,
      reproduce: scenarioCommand(shrunkOps !== null ? { ...spec, ops: shrunkOps } : spec),
      ...(shrunkOps !== null ? { scenarioOps: shrunkOps } : {}),
      time: { runMs: t1 - t0, shrinkMs },
    };
  }
  const cfg = workloadConfig(spec);
  const r = runSimulation(cfg);
  const runMs = now() - t0;
  const s = r.staleReports[0];
  const first =
    s === undefined
      ? null
      : `stale ${s.cache} entry on SMMU ${s.smmu} after operation ${s.op} at ${s.address}: cached ${s.cached}; live ${s.live}`;
  let counterexample: Counterexample | null = null;
  let shrinkMs = 0;
  if (r.stale > 0 && spec.shrink !== false) {
    const t1 = now();
    const sh = shrinkWorkload(cfg, { ms: spec.shrinkMs ?? 60_000, tests: spec.shrinkTests ?? 3000, now });
    shrinkMs = now() - t1;
    if (sh !== null)
      counterexample = {
        found: sh.found,
        shrunk: sh.script.length,
        tests: sh.tests,
        exhausted: sh.exhausted,
        replay: replayDocument(cfg, name, sh.script),
      };
  }
  return {
    index: spec.index,
    config: name,
    seed: spec.seed,
    ops: r.ops,
    stale: r.stale,
    violations: 0,
    ok: r.stale === 0,
    first,
    reproduce: `smmuv3-tlbi simulate --replay ${replayFileName(name, spec.seed)}`,
    ...(r.stale > 0 ? { counterexample } : {}),
    time: { runMs, shrinkMs },
  };
}
