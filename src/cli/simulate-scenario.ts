/**
 * `smmuv3-tlbi simulate --scenario [NAME]`: the built-in end-to-end scenarios (src/sim/scenarios), sharing
 * `simulate`'s options (--granule --ril --ats --seed --policy --fault --json, and --ops when given). Prints
 * the scenario report (or one JSON document) and returns the exit code: 0 clean, 1 stale translations or
 * broken invariants, 130 interrupted. A scenario runs once per policy; when those runs add up to
 * ESTIMATE_FROM_OPS main-loop operations or more, the estimated length is printed after a warm-up, and the
 * first Ctrl-C ends the run with a partial report (the runs made so far, marked interrupted).
 */
import { InvalidArgumentError, type Command } from 'commander';
import type { FaultName } from '../sim/faults.js';
import {
  DEFAULT_SCENARIO,
  SCENARIO_HELP,
  SCENARIO_NAMES,
  formatScenarioReport,
  isScenarioName,
  ScenarioSession,
  type ScenarioName,
} from '../sim/scenarios/index.js';
import { EXIT_CHECK_FAILED, EXIT_OK, UsageError, out, printJson, warn } from './common.js';
import { scenarioDocument } from './simulate-json.js';
import { ESTIMATE_FROM_OPS, EXIT_INTERRUPTED, InterruptGate, runInSlices } from './simulate-interrupt.js';
import type { Policy } from '../tlbi/plan.js';

export interface ScenarioCliOptions {
  scenario?: string | true;
  granule: '4K' | '16K' | '64K';
  ril: boolean;
  ats: boolean;
  ops: number;
  seed?: number;
  policy: Policy;
  fault?: FaultName;
  json?: boolean;
  atsTimeouts?: number;
  ds?: boolean;
}

const GRANULES = { '4K': 4096, '16K': 16384, '64K': 65536 } as const;

/** Parser of --scenario's value. */
export function scenarioOption(value: string): ScenarioName {
  if (!isScenarioName(value))
    throw new InvalidArgumentError(
      `--scenario must be one of ${SCENARIO_NAMES.join(', ')} (got ${JSON.stringify(value)})`,
    );
  return value;
}

/** Help text for --scenario. */
export const SCENARIO_OPTION_HELP =
  `run a built-in end-to-end scenario (default ${DEFAULT_SCENARIO}): ` +
  SCENARIO_NAMES.map((n) => `${n} — ${SCENARIO_HELP[n]}`).join('; ') +
  '. A scenario sets its own stages, SMMUs and model: --stage, --smmus, --e2h, --mode and --reports are refused with it';

/** Options of the plain workload that a scenario does not take (it builds its own SMMUs and domains). */
const NOT_FOR_SCENARIOS: readonly (readonly [string, string])[] = [
  ['stage', 'its domains have their own stages'],
  ['smmus', 'it builds its own SMMUs'],
  ['e2h', 'its SMMUs are set up by the scenario'],
  ['mode', 'it runs the adversarial model'],
  ['reports', 'its report lists every failure'],
];

/** Refuse (exit 2, naming the option) an option given on the command line that the scenario would ignore. */
export function refuseIgnoredOptions(name: string, cmd: Command): void {
  for (const [key, why] of NOT_FOR_SCENARIOS)
    if (cmd.getOptionValueSource(key) === 'cli')
      throw new UsageError(`--${key}: the ${name} scenario does not take it (${why}); drop --${key} or --scenario`);
}

/** Run the scenario the options name; `cmd` tells whether --ops was given on the command line. */
export async function runScenarioCommand(o: ScenarioCliOptions, cmd: Command): Promise<number> {
  const name: ScenarioName =
    o.scenario === true || o.scenario === undefined ? DEFAULT_SCENARIO : scenarioOption(o.scenario);
  refuseIgnoredOptions(name, cmd);
  const seed = o.seed ?? Math.floor(Math.random() * 2 ** 32);
  const ops = cmd.getOptionValueSource('ops') === 'cli' ? o.ops : undefined;
  const session = new ScenarioSession(name, {
    granule: GRANULES[o.granule],
    ril: o.ril,
    ats: o.ats,
    seed,
    policy: o.policy,
    fault: o.fault ?? null,
    ...(ops !== undefined ? { ops } : {}),
    ...(o.atsTimeouts !== undefined && o.atsTimeouts > 0 ? { atsTimeouts: o.atsTimeouts } : {}),
    ...(o.ds === true ? { ds: true } : {}),
  });
  const gate = new InterruptGate('simulate');
  gate.install();
  try {
    await runInSlices(session, gate, session.total >= ESTIMATE_FROM_OPS ? { total: session.total } : null);
  } finally {
    gate.remove();
  }
  const report = session.report();
  if (o.json) {
    printJson({ ...scenarioDocument(report), ...(report.interrupted === true ? { opsPlanned: session.total } : {}) });
  } else {
    for (const line of formatScenarioReport(report)) out(line);
    if (report.interrupted === true)
      out(
        `interrupted  after ${report.opsDone ?? 0} of ${session.total} main-loop operations ` +
          `(${session.perRun} per policy run; Ctrl-C): a partial report`,
      );
    if (!report.ok) {
      out(`reproduce with --seed ${seed}`);
      warn(`${report.failures} stale translations or violations (scenario ${name}, seed ${seed})`);
    }
  }
  if (report.interrupted === true) return EXIT_INTERRUPTED;
  return report.ok ? EXIT_OK : EXIT_CHECK_FAILED;
}
