/**
 * `smmuv3-tlbi simulate --scenario [NAME]`: the built-in end-to-end scenarios (src/sim/scenarios), sharing
 * `simulate`'s options (--granule --ril --ats --seed --policy --fault --json, and --ops when given). Prints
 * the scenario report (or one JSON document) and returns the exit code: 0 clean, 1 stale translations or
 * broken invariants.
 */
import { InvalidArgumentError, type Command } from 'commander';
import type { FaultName } from '../sim/faults.js';
import {
  DEFAULT_SCENARIO,
  SCENARIO_HELP,
  SCENARIO_NAMES,
  formatScenarioReport,
  isScenarioName,
  runScenario,
  type ScenarioName,
} from '../sim/scenarios/index.js';
import { EXIT_CHECK_FAILED, EXIT_OK, UsageError, out, printJson, warn } from './common.js';
import { scenarioDocument } from './simulate-json.js';
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
export function runScenarioCommand(o: ScenarioCliOptions, cmd: Command): number {
  const name: ScenarioName =
    o.scenario === true || o.scenario === undefined ? DEFAULT_SCENARIO : scenarioOption(o.scenario);
  refuseIgnoredOptions(name, cmd);
  const seed = o.seed ?? Math.floor(Math.random() * 2 ** 32);
  const ops = cmd.getOptionValueSource('ops') === 'cli' ? o.ops : undefined;
  const report = runScenario(name, {
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
  if (o.json) printJson({ ...scenarioDocument(report) });
  else {
    for (const line of formatScenarioReport(report)) out(line);
    if (!report.ok) {
      out(`reproduce with --seed ${seed}`);
      warn(`${report.failures} stale translations or violations (scenario ${name}, seed ${seed})`);
    }
  }
  return report.ok ? EXIT_OK : EXIT_CHECK_FAILED;
}
