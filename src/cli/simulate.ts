/**
 * `smmuv3-tlbi simulate`: run the randomized workload end to end (page tables → map/unmap → engine →
 * command queues → SMMU models → stale-translation checker) and print a summary. Exit 0 when no stale
 * translation was found, 1 when one was, 2 for a bad option. This file registers the options and picks the
 * run: --list-faults, --replay (simulate-replay.ts), --scenario (simulate-scenario.ts) or the workload
 * (simulate-run.ts).
 */
import type { Command as Program } from 'commander';
import { InvalidArgumentError } from 'commander';
import { FAULT_HELP, FAULT_NAMES } from '../sim/faults.js';
import { applyFaultSetup, faultOption, runListFaults } from './simulate-faults.js';
import { SCENARIO_OPTION_HELP, runScenarioCommand, scenarioOption } from './simulate-scenario.js';
import { runReplayCommand } from './simulate-replay.js';
import { runWorkloadCommand, type SimulateOpts } from './simulate-run.js';
import { UsageError, action, boolOption, choiceOption, uintOption, withExamples } from './common.js';

export { simConfigFromOptions } from './simulate-run.js';

function rangeOption(field: string, min: number, max: number) {
  const parse = uintOption(field);
  return (value: string): number => {
    const v = parse(value);
    if (v < min || v > max) throw new InvalidArgumentError(`${field} must be from ${min} to ${max} (got ${value})`);
    return v;
  };
}

/** Parser of --ats-timeouts: a probability from 0 to 1. */
function rateOption(value: string): number {
  const v = /^(0|1|0?\.\d+|1\.0*)$/.test(value.trim()) ? Number(value) : NaN;
  if (!(v >= 0 && v <= 1))
    throw new InvalidArgumentError(`--ats-timeouts must be a probability from 0 to 1 (got ${value})`);
  return v;
}

/** The options that shape the workload's configuration (the SMMUs, the tables, the engine, the fault). */
function addConfigurationOptions(cmd: Program): void {
  cmd
    .option(
      '--granule <size>',
      'translation granule: 4K, 16K or 64K',
      choiceOption('--granule', ['4K', '16K', '64K'] as const),
      '4K',
    )
    .option(
      '--stage <stage>',
      'translation: 1, 2 or nested',
      choiceOption('--stage', ['1', '2', 'nested'] as const),
      '1',
    )
    .option('--ril <on|off>', 'range invalidation (IDR3.RIL)', boolOption('--ril'), true)
    .option('--ats <on|off>', 'ATS endpoints with ATCs', boolOption('--ats'), true)
    .option(
      '--e2h <on|off>',
      'stage 1 only: SMMUs with CR2.E2H, EL2-E2H address spaces (TLBI_EL2_*)',
      boolOption('--e2h'),
      false,
    )
    .option(
      '--ds <on|off>',
      'SMMUs with IDR5.DS: 6-bit SCALE (up to 39) in the model and the engine (workload and scenarios)',
      boolOption('--ds'),
      false,
    )
    .option('--smmus <n>', 'number of SMMUs every domain is attached through (1-16)', rangeOption('--smmus', 1, 16), 1)
    .option('--ops <n>', 'map/unmap operations', rangeOption('--ops', 0, 1e9), 10000)
    .option('--seed <n>', 'random seed (default: a fresh one, printed in the report)', uintOption('--seed'))
    .option(
      '--policy <policy>',
      'engine policy: linux or tlbi',
      choiceOption('--policy', ['linux', 'tlbi'] as const),
      'linux',
    )
    .option(
      '--fault <name>',
      'break the command stream (see below; a corpus alias such as linux-353e3cf8590c works too); picks the configuration that reaches the fault',
      faultOption,
    );
}

/** The options that pick what runs and how it is reported. */
function addRunOptions(cmd: Program): void {
  cmd
    .option(
      '--list-faults',
      'list the faults: aliases, corpus cases, class, layer, configuration (with --json: one document)',
    )
    .option(
      '--mode <mode>',
      'SMMU model: adversarial (only guaranteed effects, at CMD_SYNC) or generous (QEMU-like over-invalidation)',
      choiceOption('--mode', ['adversarial', 'generous'] as const),
      'adversarial',
    )
    .option(
      '--reports <n>',
      'stale translations reported in full (all are counted)',
      rangeOption('--reports', 0, 10000),
      20,
    )
    .option(
      '--emit-stream <file>',
      "write each SMMU's command queue as a raw ring dump and its registers for audit --file DUMP --regs DUMP.json: SMMU 0 to FILE and FILE.json, SMMU K (--smmus) to FILE.smmuK and FILE.smmuK.json",
    )
    .option('--no-progress', 'no progress bar')
    .option('--json', 'print one JSON document')
    // Scenarios (src/cli/simulate-scenario.ts): --granule --ril --ats --seed --policy --fault --json (--ops) apply.
    .option('--scenario [name]', SCENARIO_OPTION_HELP, scenarioOption)
    .option(
      '--ats-timeouts <rate>',
      'scenarios driver, pkvm and nested: probability per operation that an ATS endpoint lets its next invalidation time out (CERROR_ATC_INV_SYNC; the consumer quarantines the device)',
      rateOption,
    )
    .option(
      '--replay <file>',
      'run a replay file written by campaign (a shrunk failing case): print its operations, commands and stale entries',
    );
}

type SimulateAllOpts = SimulateOpts & { scenario?: string | true; listFaults?: boolean; replay?: string };

/** What `simulate` runs for the options given: the fault list, a replay, a scenario or the workload. */
function runSimulate(o: SimulateAllOpts, c: Program): number | Promise<number> {
  if (o.listFaults === true) return runListFaults(o.json === true);
  if (o.replay !== undefined) return runReplayCommand(o.replay, o.json === true);
  const choice = o.fault !== undefined ? applyFaultSetup(o.fault, o, c) : null;
  if (o.atsTimeouts !== undefined) {
    const sc = o.scenario === true ? 'driver' : o.scenario;
    if (sc !== 'driver' && sc !== 'pkvm' && sc !== 'nested')
      throw new UsageError('--ats-timeouts applies to --scenario driver, pkvm or nested only');
    if (!o.ats) throw new UsageError('--ats-timeouts needs --ats on (no ATS endpoint can time out)');
  }
  if (o.scenario !== undefined) {
    if (o.emitStream !== undefined)
      throw new UsageError('--emit-stream: only the randomized workload writes a stream (drop --scenario)');
    return runScenarioCommand(o, c);
  }
  // E2H selects the EL2 stage-1 address spaces: with --stage 2 or nested it would change nothing (red-team S15/S16).
  if (o.e2h && o.stage !== '1' && c.getOptionValueSource('e2h') === 'cli')
    throw new UsageError(
      `--e2h on: stage 1 only (EL2-E2H stage-1 address spaces); it does nothing with --stage ${o.stage}`,
    );
  return runWorkloadCommand(o, choice);
}

export function registerSimulate(program: Program): void {
  const cmd = program
    .command('simulate')
    .description(
      'Run a randomized map/unmap workload through the invalidation engine, the command queues and an adversarial SMMU model, ' +
        'and check that no translation stays cached after its invalidation completed. A run of 250,000 operations or more prints its estimated length; Ctrl-C stops it with a partial report. Exit 0 clean, 1 stale translations found, 2 bad option, 130 interrupted.',
    )
    .addHelpText(
      'after',
      '\nFaults (--fault) break the commands between engine and queue:\n' +
        FAULT_NAMES.map((f) => `  ${f.padEnd(19)} ${FAULT_HELP[f]}`).join('\n'),
    );
  addConfigurationOptions(cmd);
  addRunOptions(cmd);
  cmd.action(action((o: SimulateAllOpts, c: Program) => runSimulate(o, c)));
  withExamples(
    cmd,
    'smmuv3-tlbi simulate --ops 100000 --seed 1',
    'smmuv3-tlbi simulate --granule 64K --stage nested --ats on --smmus 2 --policy tlbi --ops 2000',
    'smmuv3-tlbi simulate --fault atc-before-tlbi --ops 2000 --seed 7 --json  # exits 1: the checker finds the stale ATC entry',
    'smmuv3-tlbi simulate --ril off --stage 2 --ops 100000',
    'smmuv3-tlbi simulate --scenario driver',
    'smmuv3-tlbi simulate --scenario pkvm --granule 16K --ril off --seed 3 --json',
    'smmuv3-tlbi simulate --replay examples/drop-sync.replay.json  # exits 1: the counterexample a drop-sync campaign shrank to 2 operations',
  );
}
