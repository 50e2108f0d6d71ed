/**
 * `smmuv3-tlbi simulate`: run the randomized workload end to end (page tables → map/unmap → engine →
 * command queues → SMMU models → stale-translation checker) and print a summary. Exit 0 when no stale
 * translation was found, 1 when one was, 2 for a bad option.
 */
import type { Command as Program } from 'commander';
import { InvalidArgumentError } from 'commander';
import cliProgress from 'cli-progress';
import { FAULT_HELP, FAULT_NAMES, type FaultName } from '../sim/faults.js';
import { runSimulation, type SimConfig, type SimReport } from '../sim/workload.js';
import { StreamRecorder } from './simulate-stream.js';
import { workloadDocument } from './simulate-json.js';
import { applyFaultSetup, faultOption, runListFaults } from './simulate-faults.js';
import { SCENARIO_OPTION_HELP, runScenarioCommand, scenarioOption } from './simulate-scenario.js';
import { runReplayCommand } from './simulate-replay.js';
import {
  EXIT_CHECK_FAILED,
  EXIT_OK,
  UsageError,
  action,
  boolOption,
  choiceOption,
  out,
  printJson,
  uintOption,
  warn,
  withExamples,
} from './common.js';
import type { Policy } from '../tlbi/plan.js';

interface SimulateOpts {
  granule: '4K' | '16K' | '64K';
  stage: '1' | '2' | 'nested';
  ril: boolean;
  ats: boolean;
  e2h: boolean;
  smmus: number;
  ops: number;
  seed?: number;
  policy: Policy;
  fault?: FaultName;
  mode: 'adversarial' | 'generous';
  reports: number;
  json?: boolean;
  progress?: boolean;
  atsTimeouts?: number;
  emitStream?: string;
  ds: boolean;
}

const GRANULES = { '4K': 4096, '16K': 16384, '64K': 65536 } as const;

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

/** Build the workload configuration from parsed options (exported for tests). */
export function simConfigFromOptions(o: SimulateOpts, seed: number): SimConfig {
  return {
    granule: GRANULES[o.granule],
    stage: o.stage,
    ril: o.ril,
    ats: o.ats,
    e2h: o.e2h,
    smmus: o.smmus,
    ops: o.ops,
    seed,
    policy: o.policy,
    fault: o.fault ?? null,
    mode: o.mode,
    maxReports: o.reports,
    ...(o.ds ? { ds: true } : {}),
  };
}

function printHuman(r: SimReport): void {
  const c = r.config;
  out(
    `simulate: seed ${r.seed}, granule ${String(c.granule)}, stage ${String(c.stage)}, ril ${c.ril ? 'on' : 'off'}, ` +
      `ats ${c.ats ? 'on' : 'off'}${c.e2h === true ? ', e2h on' : ''}${c.ds === true ? ', ds on' : ''}, smmus ${String(c.smmus)}, policy ${String(c.policy)}, fault ${String(c.fault ?? 'none')}, model ${String(c.mode)}`,
  );
  out(
    `operations   ${r.ops} (${r.maps} maps, ${r.unmaps} unmaps) in ${(r.elapsedMs / 1000).toFixed(1)} s, ${r.opsPerSecond} ops/s`,
  );
  const names = Object.keys(r.commands).sort();
  out(`commands     ${names.map((n) => `${n} ${r.commands[n]}`).join(', ') || 'none'}`);
  out(`CMD_SYNCs    ${r.syncs}${r.illegal > 0 ? `, ${r.illegal} illegal entries (CERROR_ILL, recovered)` : ''}`);
  const cache = (name: string, f: SimReport['caches']['tlb']): void =>
    out(
      `${name.padEnd(12)} ${f.fills} filled, ${f.removed} removed by invalidation, ${f.evicted} evicted, ${f.size} left`,
    );
  cache('TLB', r.caches.tlb);
  cache('walk cache', r.caches.walk);
  cache('ATC', r.caches.atc);
  out(`translations ${r.translations} (${r.hits.atc} ATC hits, ${r.hits.tlb} TLB hits, ${r.hits.walks} table walks)`);
  out(`stale        ${r.stale}`);
  for (const s of r.staleReports) {
    out('');
    out(`stale ${s.cache} entry on SMMU ${s.smmu} after operation ${s.op}: ${JSON.stringify(s.entry)}`);
    out(`  at ${s.address}: cached ${s.cached}; live tables: ${s.live}`);
    out(`  commands of the change: ${s.commands.join('; ') || '(none)'}`);
  }
  if (r.stale > r.staleReports.length)
    out(`(${r.stale - r.staleReports.length} more stale translations not shown; --reports N shows more)`);
  if (r.stale > 0) out(`reproduce with --seed ${r.seed}`);
}

export function registerSimulate(program: Program): void {
  const cmd = program
    .command('simulate')
    .description(
      'Run a randomized map/unmap workload through the invalidation engine, the command queues and an adversarial SMMU model, ' +
        'and check that no translation stays cached after its invalidation completed. Exit 0 clean, 1 stale translations found, 2 bad option.',
    )
    .addHelpText(
      'after',
      '\nFaults (--fault) break the commands between engine and queue:\n' +
        FAULT_NAMES.map((f) => `  ${f.padEnd(19)} ${FAULT_HELP[f]}`).join('\n'),
    )
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
    )
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
      "write SMMU 0's command queue as a raw ring dump (FILE) and its registers (FILE.json) for audit --file FILE --regs FILE.json",
    )
    .option('--no-progress', 'no progress bar')
    .option('--json', 'print one JSON document')
    // Scenarios (src/cli/simulate-scenario.ts): --granule --ril --ats --seed --policy --fault --json (--ops) apply.
    .option('--scenario [name]', SCENARIO_OPTION_HELP, scenarioOption)
    .option(
      '--ats-timeouts <rate>',
      'scenarios driver and pkvm: probability per operation that an ATS endpoint lets its next invalidation time out (CERROR_ATC_INV_SYNC; the consumer quarantines the device)',
      rateOption,
    )
    .option(
      '--replay <file>',
      'run a replay file written by campaign (a shrunk failing case): print its operations, commands and stale entries',
    )
    .action(
      action((o: SimulateOpts & { scenario?: string | true; listFaults?: boolean; replay?: string }, c: Program) => {
        if (o.listFaults === true) return runListFaults(o.json === true);
        if (o.replay !== undefined) return runReplayCommand(o.replay, o.json === true);
        const choice = o.fault !== undefined ? applyFaultSetup(o.fault, o, c) : null;
        if (o.atsTimeouts !== undefined) {
          const sc = o.scenario === true ? 'driver' : o.scenario;
          if (sc !== 'driver' && sc !== 'pkvm')
            throw new UsageError('--ats-timeouts applies to --scenario driver or pkvm only');
          if (!o.ats) throw new UsageError('--ats-timeouts needs --ats on (no ATS endpoint can time out)');
        }
        if (o.scenario !== undefined) {
          if (o.emitStream !== undefined)
            throw new UsageError('--emit-stream: only the randomized workload writes a stream (drop --scenario)');
          return runScenarioCommand(o, c);
        }
        const recorder = o.emitStream !== undefined ? new StreamRecorder() : null;
        const seed = o.seed ?? Math.floor(Math.random() * 2 ** 32);
        let bar: cliProgress.SingleBar | null = null;
        const cfg = {
          ...simConfigFromOptions(o, seed),
          ...(choice !== null && choice.errata.length > 0 ? { errata: choice.errata } : {}),
          ...(choice?.longRuns === true ? { longRuns: true } : {}),
          ...(recorder !== null ? { onCommands: recorder.onCommands } : {}),
        };
        if (!o.json && o.progress !== false && process.stderr.isTTY && o.ops >= 20000) {
          bar = new cliProgress.SingleBar(
            {
              stream: process.stderr,
              format: 'simulate [{bar}] {percentage}% {value}/{total} ops, eta {eta}s',
              hideCursor: true,
            },
            cliProgress.Presets.shades_classic,
          );
          bar.start(o.ops, 0);
        }
        const b = bar;
        const report = runSimulation(
          b === null
            ? cfg
            : { ...cfg, progressEvery: Math.max(1000, Math.floor(o.ops / 200)), onProgress: (done) => b.update(done) },
        );
        bar?.stop();
        if (recorder !== null && o.emitStream !== undefined) {
          recorder.write(o.emitStream, cfg);
          warn(
            `simulate: wrote SMMU 0's ${recorder.count} queue entries to ${o.emitStream} and its registers to ${o.emitStream}.json` +
              (recorder.others > 0 ? ` (${recorder.others} entries of the other SMMUs not written)` : '') +
              `; audit it with: smmuv3-tlbi audit --file ${o.emitStream} --regs ${o.emitStream}.json`,
          );
        }
        if (o.json) {
          printJson({ ...workloadDocument(report) });
        } else {
          printHuman(report);
          if (report.stale > 0) warn(`${report.stale} stale translations (seed ${seed})`);
          if (report.illegal > 0) warn(`${report.illegal} commands the SMMU refused (CERROR_ILL, seed ${seed})`);
        }
        // A command the SMMU refused is a finding too (the engine never emits one: only a fault does).
        return report.stale > 0 || report.illegal > 0 ? EXIT_CHECK_FAILED : EXIT_OK;
      }),
    );
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
