/**
 * `simulate --list-faults` and the configuration a fault picks by itself (`simulate --fault NAME`): the
 * fault catalog (src/corpus) says which settings the fault requires and which it prefers; options not given
 * on the command line take them (announced on stderr), and an explicit option that contradicts a required
 * setting is a usage error (exit 2).
 */
import { InvalidArgumentError, type Command } from 'commander';
import { faultInfo, listFaults, resolveFault, type FaultSetup, type SetupErratum } from '../corpus/index.js';
import { FAULT_NAMES, type FaultName } from '../sim/faults.js';
import { UsageError, out, printJson, warn } from './common.js';

/** Parser of --fault's value: a fault name or an alias (`linux-<commit>`, `qemu-<commit>`). */
export function faultOption(value: string): FaultName {
  const f = resolveFault(value);
  if (f === null)
    throw new InvalidArgumentError(
      `--fault must be one of ${FAULT_NAMES.join(', ')} or an alias from --list-faults (got ${JSON.stringify(value)})`,
    );
  return f;
}

/** The options a fault's setup can set, as `simulate` parses them. */
export interface FaultSettableOptions {
  granule: '4K' | '16K' | '64K';
  stage: '1' | '2' | 'nested';
  ril: boolean;
  ats: boolean;
  e2h: boolean;
  ds: boolean;
  scenario?: string | true;
  atsTimeouts?: number;
}

const GRANULE_NAMES = { 4096: '4K', 16384: '16K', 65536: '64K' } as const;

type Key = 'granule' | 'stage' | 'ril' | 'ats' | 'e2h' | 'ds';

function optionValue(key: Key, setup: FaultSetup): string | boolean | undefined {
  if (key === 'granule') return setup.granule === undefined ? undefined : GRANULE_NAMES[setup.granule];
  return setup[key];
}

function show(v: string | boolean): string {
  return typeof v === 'boolean' ? (v ? 'on' : 'off') : v;
}

/** What applying a fault's setup decided beyond the options: errata for the SMMUs, a scenario to run. */
export interface FaultChoice {
  errata: SetupErratum[];
  /** The workload's long page runs (SimConfig.longRuns). */
  longRuns?: boolean;
  scenario?: string;
}

/**
 * Give the options the fault's configuration: required settings first (an explicit contradicting option is
 * a UsageError), then preferred ones where the option was not given. Mutates `o`; announces on stderr.
 */
export function applyFaultSetup(fault: FaultName, o: FaultSettableOptions, cmd: Command): FaultChoice {
  const info = faultInfo(fault);
  const chosen: string[] = [];
  const fromCli = (k: string): boolean => cmd.getOptionValueSource(k) === 'cli';
  const keys: Key[] = ['stage', 'granule', 'ril', 'ats', 'e2h', 'ds'];
  for (const [setup, required] of [
    [info.requires, true],
    [info.prefers, false],
  ] as const) {
    for (const k of keys) {
      const want = optionValue(k, setup);
      if (want === undefined || (!required && optionValue(k, info.requires) !== undefined)) continue;
      if (fromCli(k)) {
        if (required && o[k] !== want)
          throw new UsageError(
            `--fault ${fault} needs --${k} ${show(want)} (${info.class}); it contradicts --${k} ${show(o[k])}`,
          );
        continue;
      }
      if (o[k] !== want) {
        (o as unknown as Record<Key, string | boolean>)[k] = want;
        chosen.push(`--${k} ${show(want)}`);
      }
    }
  }
  const choice: FaultChoice = { errata: [...(info.requires.errata ?? [])] };
  for (const e of choice.errata) chosen.push(`SMMU erratum ${e}`);
  if ((info.requires.longRuns ?? info.prefers.longRuns) === true) {
    choice.longRuns = true;
    chosen.push('page runs of 65-128 pages');
  }
  const sc = info.requires.scenario;
  if (sc !== undefined) {
    const also: readonly string[] = info.requires.alsoScenarios ?? [];
    const given = typeof o.scenario === 'string' ? o.scenario : null;
    if (given !== null && given !== sc && !also.includes(given))
      throw new UsageError(
        `--fault ${fault} lives in the ${[sc, ...also].join(' or ')} scenario's consumer; it contradicts --scenario ${given}`,
      );
    const pick = given ?? sc;
    if (o.scenario !== pick) chosen.push(`--scenario ${pick}`);
    o.scenario = pick;
    choice.scenario = pick;
  }
  const rate = info.requires.atsTimeouts ?? info.prefers.atsTimeouts;
  if (rate !== undefined && !fromCli('atsTimeouts') && o.atsTimeouts !== rate) {
    o.atsTimeouts = rate;
    chosen.push(`--ats-timeouts ${rate}`);
  }
  if (chosen.length > 0)
    warn(`simulate: --fault ${fault} chose ${chosen.join(', ')} (the configuration that reaches it)`);
  return choice;
}

function setupText(s: FaultSetup): string {
  const parts: string[] = [];
  for (const [k, v] of Object.entries(s) as [string, unknown][]) {
    if (k === 'granule') parts.push(`--granule ${GRANULE_NAMES[v as 4096]}`);
    else if (k === 'errata') parts.push(`erratum ${(v as string[]).join('+')}`);
    else if (k === 'longRuns') parts.push('page runs of 65-128 pages');
    else if (k === 'alsoScenarios') parts.push(`(or ${(v as string[]).map((x) => `--scenario ${x}`).join(', ')})`);
    else if (k === 'atsTimeouts') parts.push(`--ats-timeouts ${String(v)}`);
    else parts.push(`--${k} ${typeof v === 'boolean' ? show(v) : String(v)}`);
  }
  return parts.join(' ');
}

/** `simulate --list-faults [--json]`: exit 0. */
export function runListFaults(json: boolean): number {
  const faults = listFaults();
  if (json) {
    printJson({ kind: 'fault-list', faults });
    return 0;
  }
  for (const f of faults) {
    out(`${f.name}${f.aliases.length > 0 ? `  (aliases: ${f.aliases.join(', ')})` : ''}`);
    out(`  ${f.description}`);
    const origin = f.cases.length > 0 ? `corpus ${f.cases.join(', ')}: ${f.title ?? ''}` : 'no recorded upstream bug';
    out(`  ${origin}`);
    out(`  class ${f.class}, layer ${f.layer}; caught by ${f.caughtBy}`);
    out(
      'rule' in f.inStream
        ? `  in a command stream: audit rule ${f.inStream.rule}`
        : `  in a command stream: not visible (${f.inStream.reason})`,
    );
    const req = setupText(f.configuration.requires);
    const pref = setupText(f.configuration.prefers);
    if (req !== '' || pref !== '')
      out(
        `  configuration:${req !== '' ? ` requires ${req}` : ''}${pref !== '' ? `${req !== '' ? ';' : ''} prefers ${pref}` : ''}`,
      );
  }
  out('');
  out('The whole corpus (and the cases caught without a fault): docs/bug-corpus.md');
  return 0;
}
