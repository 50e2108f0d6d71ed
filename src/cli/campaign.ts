/**
 * `smmuv3-tlbi campaign`: run the workload and the scenarios over a configuration matrix × seeds, on every
 * core (worker threads, src/cli/campaign-worker.ts, around the core's case runner src/campaign/run-case.ts),
 * optionally one shard of it (`--shard K/N`, for CI matrices and batch arrays), and report: a progress bar on
 * stderr, a summary with a row per configuration (or one JSON document), JUnit XML, KTAP; a replay file per
 * failing workload case (shrunk). `campaign merge FILES…` joins shard reports.
 *
 * Exit: 0 clean, 1 a stale translation or violation, 2 usage error (names the flag), 3 internal error,
 * 130 interrupted (first Ctrl-C: the running cases finish and the partial report is written; second: at once).
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import type { Worker } from 'node:worker_threads';
import type { Command as Program } from 'commander';
import cliProgress from 'cli-progress';
import {
  AXES,
  AXIS_NAMES,
  MatrixError,
  caseRefs,
  checkAxis,
  configName,
  expandMatrix,
  parseSeeds,
  parseShard,
  shardSize,
  type AxisName,
  type AxisValues,
  type CaseConfig,
  type SeedRange,
  type Shard,
} from '../campaign/matrix.js';
import {
  MergeError,
  buildReport,
  formatReport,
  junitXml,
  ktapText,
  mergeReports,
  type CampaignDocument,
  type CampaignMatrix,
} from '../campaign/report.js';
import { replayFileName, type CaseResult, type CaseSpec, type ReplayDocument } from '../campaign/run-case.js';
import { faultInfo, resolveFault } from '../corpus/index.js';
import type { FaultName } from '../sim/faults.js';
import {
  EXIT_CHECK_FAILED,
  EXIT_OK,
  SCHEMA_VERSION,
  UsageError,
  action,
  out,
  parseJsonText,
  printJson,
  warn,
  withExamples,
} from './common.js';
import { output } from './output.js';
import { runOnWorkers } from './campaign-pool.js';

export const EXIT_INTERRUPTED = 130;

interface CampaignOpts {
  matrix?: string;
  seeds?: string;
  ops?: string;
  timeBudget?: string;
  fault?: string;
  smmus?: string;
  mode?: string;
  jobs?: string;
  shard?: string;
  list?: boolean;
  json?: boolean;
  junit?: string;
  ktap?: boolean;
  stopOnFailure?: boolean;
  progress?: boolean;
  replayDir: string;
  shrink?: boolean;
}

/** Everything a run needs, decided from the flags (and the matrix file). */
export interface CampaignPlan {
  readonly configs: CaseConfig[];
  readonly matrix: CampaignMatrix;
  readonly shard: Shard;
}

const MATRIX_KEYS = [...AXIS_NAMES, 'seeds', 'ops', 'fault', 'smmus', 'mode', 'time-budget'] as const;

function usage(e: unknown): never {
  if (e instanceof MatrixError || e instanceof MergeError) throw new UsageError(e.message);
  throw e;
}

function listValue(flag: string, v: unknown): string[] {
  if (typeof v === 'string') return v.split(',').map((s) => s.trim());
  if (Array.isArray(v) && v.every((x) => typeof x === 'string' || typeof x === 'number' || typeof x === 'boolean'))
    return v.map((x) => (typeof x === 'boolean' ? (x ? 'on' : 'off') : String(x)));
  throw new MatrixError(flag, `${flag} must be a list of values (a string "a,b" or an array)`);
}

function uintText(flag: string, v: string, min: number, max: number): number {
  const t = v.trim().replace(/_/g, '');
  const n = /^\d+$/.test(t) ? Number(t) : NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max)
    throw new UsageError(`${flag} must be an integer from ${min} to ${max} (got ${JSON.stringify(v)})`);
  return n;
}

/** `90s`, `60m`, `2h`, `1500ms`, or seconds without a unit. */
export function parseDuration(text: string, flag = '--time-budget'): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text.trim());
  if (m === null || Number(m[1]) <= 0)
    throw new UsageError(`${flag} must be a positive duration such as 90s, 60m or 2h (got ${JSON.stringify(text)})`);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[(m[2] ?? 's') as 'ms'];
  return Math.round(Number(m[1]) * unit);
}

/** The matrix file's settings (keys as the flags, without the dashes). */
function readMatrixFile(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new UsageError(`--matrix ${file}: cannot read it (${(e as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  const doc = parseJsonText(text, `--matrix ${file}`);
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc))
    throw new UsageError(`--matrix ${file}: must hold a JSON object (keys: ${MATRIX_KEYS.join(', ')})`);
  for (const k of Object.keys(doc))
    if (!(MATRIX_KEYS as readonly string[]).includes(k))
      throw new UsageError(`--matrix ${file}: unknown key ${JSON.stringify(k)} (keys: ${MATRIX_KEYS.join(', ')})`);
  return doc as Record<string, unknown>;
}

const REQUIRED_AXIS = (fault: FaultName): Partial<Record<AxisName, string>> => {
  const r = faultInfo(fault).requires;
  const o: Partial<Record<AxisName, string>> = {};
  if (r.scenario !== undefined) o.scenario = r.scenario;
  if (r.stage !== undefined) o.stage = r.stage;
  if (r.granule !== undefined) o.granule = { 4096: '4K', 16384: '16K', 65536: '64K' }[r.granule];
  if (r.ril !== undefined) o.ril = r.ril ? 'on' : 'off';
  if (r.ats !== undefined) o.ats = r.ats ? 'on' : 'off';
  if (r.e2h !== undefined) o.e2h = r.e2h ? 'on' : 'off';
  if (r.errata?.includes('mmu700-2812531') === true) o['force-sync'] = 'on';
  if (r.errata?.includes('tegra264-repeat') === true) o.repeat = 'on';
  // A fault of the randomized workload's configuration (a stage, an erratum) is reached there only.
  if (o.scenario === undefined && (o.stage !== undefined || o['force-sync'] !== undefined || o.repeat !== undefined))
    o.scenario = 'workload';
  return o;
};

/** Decide the plan from the options (exported for tests). */
export function planFromOptions(o: CampaignOpts, flagValue: (axis: AxisName) => string | undefined): CampaignPlan {
  const file = o.matrix !== undefined ? readMatrixFile(o.matrix) : {};
  const from = (key: string, flag: string | undefined): { v: unknown; name: string } | undefined =>
    flag !== undefined
      ? { v: flag, name: `--${key}` }
      : file[key] !== undefined
        ? { v: file[key], name: `--matrix ${o.matrix}: ${key}` }
        : undefined;
  try {
    const axes: AxisValues = {};
    const given = new Set<AxisName>();
    for (const a of AXIS_NAMES) {
      const src = from(a, flagValue(a));
      if (src === undefined) continue;
      try {
        axes[a] = checkAxis(a, listValue(`--${a}`, src.v));
      } catch (e) {
        if (e instanceof MatrixError && src.name !== `--${a}`)
          throw new MatrixError(src.name, `${src.name}: ${e.message}`);
        throw e;
      }
      given.add(a);
    }
    const faultSrc = from('fault', o.fault);
    let fault: FaultName | null = null;
    if (faultSrc !== undefined) {
      fault = resolveFault(String(faultSrc.v));
      if (fault === null)
        throw new UsageError(
          `${faultSrc.name} must be a fault or an alias of simulate --list-faults (got ${JSON.stringify(faultSrc.v)})`,
        );
      for (const [a, want] of Object.entries(REQUIRED_AXIS(fault)) as [AxisName, string][]) {
        // An axis given explicitly keeps its values (those without the setting are the clean twins) if it has
        // the one the fault needs; an axis left to its default takes that value only.
        const have = axes[a];
        if (have !== undefined && !have.includes(want))
          throw new MatrixError(`--${a}`, `--fault ${fault} needs --${a} ${want}; --${a} gives ${have.join(',')}`);
        if (have === undefined) axes[a] = [want];
      }
    }
    const configs = expandMatrix(axes);
    const seedsSrc = from('seeds', o.seeds);
    const budgetSrc = from('time-budget', o.timeBudget);
    const timeBudgetMs = budgetSrc !== undefined ? parseDuration(String(budgetSrc.v), budgetSrc.name) : null;
    const seeds: SeedRange =
      seedsSrc !== undefined
        ? parseSeeds(String(seedsSrc.v), seedsSrc.name)
        : timeBudgetMs !== null
          ? { first: 1, last: null }
          : { first: 1, last: 3 };
    if (seeds.last === null && timeBudgetMs === null)
      throw new MatrixError('--seeds', `--seeds ${String(seedsSrc?.v)} is open-ended: give --time-budget too`);
    const opsSrc = from('ops', o.ops);
    const ops = opsSrc !== undefined ? uintText(opsSrc.name, String(opsSrc.v), 1, 1e9) : null;
    const smmusSrc = from('smmus', o.smmus);
    const smmus = smmusSrc !== undefined ? uintText(smmusSrc.name, String(smmusSrc.v), 1, 16) : 1;
    const modeSrc = from('mode', o.mode);
    const mode = modeSrc !== undefined ? String(modeSrc.v) : 'adversarial';
    if (mode !== 'adversarial' && mode !== 'generous')
      throw new UsageError(`${modeSrc!.name} must be adversarial or generous (got ${JSON.stringify(mode)})`);
    const shard = o.shard !== undefined ? parseShard(o.shard) : { k: 1, n: 1 };
    const all = {} as Record<AxisName, readonly string[]>;
    for (const a of AXIS_NAMES) all[a] = axes[a] ?? [...AXES[a]];
    return {
      configs,
      shard,
      matrix: {
        axes: all,
        configurations: configs.map(configName),
        seeds,
        ops,
        fault,
        smmus,
        mode,
        timeBudgetMs,
      },
    };
  } catch (e) {
    return usage(e);
  }
}

interface RunState {
  interrupted: boolean;
  stoppedOnFailure: boolean;
  complete: boolean;
}

interface RunOptions {
  readonly jobs: number;
  readonly stopOnFailure: boolean;
  readonly shrink: boolean;
  readonly progress: boolean;
}

/** The progress bar on stderr: seconds of the time budget, or cases. */
function progressBar(budget: number | null, total: number): cliProgress.SingleBar {
  const bar = new cliProgress.SingleBar(
    {
      stream: process.stderr,
      format:
        budget !== null
          ? 'campaign [{bar}] {percentage}% {value}/{total} s, {cases} cases, {ops} ops, {failing} failing, eta {eta_formatted}'
          : 'campaign [{bar}] {percentage}% {value}/{total} cases, {ops} ops, {failing} failing, eta {eta_formatted}',
      hideCursor: true,
      etaBuffer: 50,
    },
    cliProgress.Presets.shades_classic,
  );
  bar.start(budget !== null ? Math.ceil(budget / 1000) : total, 0, { cases: 0, ops: 0, failing: 0 });
  return bar;
}

/** The case a (configuration, seed) reference names. */
function caseSpec(plan: CampaignPlan, ref: { index: number; seed: number; config: number }, shrink: boolean): CaseSpec {
  const m = plan.matrix;
  return {
    index: ref.index,
    seed: ref.seed,
    config: plan.configs[ref.config]!,
    ops: m.ops,
    fault: m.fault as FaultName | null,
    smmus: m.smmus,
    mode: m.mode as 'adversarial',
    shrink,
  };
}

/** Run the plan's cases on `jobs` worker threads; resolves with the results and how the run ended. */
async function runPlan(plan: CampaignPlan, ro: RunOptions): Promise<{ results: CaseResult[]; state: RunState }> {
  const m = plan.matrix;
  const total = shardSize(plan.configs.length, m.seeds, plan.shard);
  const refs = caseRefs(plan.configs.length, m.seeds, plan.shard);
  const t0 = Date.now();
  const results: CaseResult[] = [];
  const state: RunState = { interrupted: false, stoppedOnFailure: false, complete: false };
  let exhausted = false;
  let stopping = false;
  let opsDone = 0;
  let failing = 0;
  const budget = m.timeBudgetMs;
  const jobs = Math.max(1, Math.min(ro.jobs, total));
  let bar: cliProgress.SingleBar | null = ro.progress ? progressBar(budget, total) : null;
  const tick = (): void => {
    const payload = { cases: results.length, ops: opsDone.toLocaleString('en-US'), failing };
    if (bar === null) return;
    if (budget !== null) bar.update(Math.min(Math.ceil(budget / 1000), Math.floor((Date.now() - t0) / 1000)), payload);
    else bar.update(results.length, payload);
  };
  const timer = bar !== null && budget !== null ? setInterval(tick, 1000) : null;
  const next = (): CaseSpec | null => {
    if (stopping || exhausted) return null;
    if (budget !== null && Date.now() - t0 >= budget) {
      exhausted = true;
      return null;
    }
    const r = refs.next();
    if (r.done === true) {
      exhausted = true;
      state.complete = true;
      return null;
    }
    return caseSpec(plan, r.value, ro.shrink);
  };
  const onResult = (r: CaseResult): void => {
    results.push(r);
    opsDone += r.ops;
    if (!r.ok) {
      failing++;
      if (ro.stopOnFailure && !stopping) {
        stopping = true;
        state.stoppedOnFailure = true;
      }
    }
    tick();
  };
  let interrupts = 0;
  const onSigint = (): void => {
    interrupts++;
    if (interrupts === 1) {
      stopping = true;
      state.interrupted = true;
      bar?.stop();
      bar = null;
      warn('campaign: interrupted; finishing the running cases for a partial report (Ctrl-C again stops at once)');
    } else {
      warn('campaign: stopped at once');
      process.exit(EXIT_INTERRUPTED);
    }
  };
  process.on('SIGINT', onSigint);
  warn(
    `campaign: ${total === Infinity ? 'seeds from ' + String(m.seeds.first) + ' until the time budget' : `${total} cases`} over ` +
      `${plan.configs.length} configurations${plan.shard.n > 1 ? ` (shard ${plan.shard.k}/${plan.shard.n})` : ''}, ${jobs} job${jobs === 1 ? '' : 's'}`,
  );
  const workers: Worker[] = [];
  try {
    await runOnWorkers(jobs, workers, next, onResult);
  } finally {
    process.removeListener('SIGINT', onSigint);
    if (timer !== null) clearInterval(timer);
    tick();
    bar?.stop();
    await Promise.all(workers.map((w) => w.terminate()));
  }
  if (state.interrupted || state.stoppedOnFailure) state.complete = false;
  return { results, state };
}

/** A replay file: the header indented, then one operation per line (a person reads it; a diff shows it). */
export function replayText(r: ReplayDocument): string {
  const { script, ...head } = r;
  const top = JSON.stringify({ schemaVersion: SCHEMA_VERSION, ...head }, null, 2);
  const ops = script.map((op) => `    ${JSON.stringify(op)}`).join(',\n');
  return `${top.slice(0, -2)},\n  "script": [\n${ops}\n  ]\n}\n`;
}

/** Write the replay file of every failing workload case; returns the path per case index. */
function writeReplays(doc: CampaignDocument, dir: string): Map<number, string> {
  const paths = new Map<number, string>();
  for (const c of doc.cases) {
    const cx = c.counterexample;
    if (cx === undefined || cx === null) continue;
    const path = join(dir, replayFileName(c.config, c.seed));
    try {
      mkdirSync(dir, { recursive: true });
      writeFileSync(path, replayText(cx.replay));
    } catch (e) {
      throw new UsageError(
        `--replay-dir ${dir}: cannot write ${path} (${(e as NodeJS.ErrnoException).code ?? 'error'})`,
      );
    }
    paths.set(c.index, path);
  }
  return paths;
}

/** Print the report as asked (JSON / KTAP / human on stdout, JUnit to a file); returns the exit status. */
function emit(doc: CampaignDocument, o: CampaignOpts, paths: Map<number, string>): number {
  if (o.junit !== undefined) {
    try {
      writeFileSync(o.junit, junitXml(doc));
    } catch (e) {
      throw new UsageError(`--junit ${o.junit}: cannot write it (${(e as NodeJS.ErrnoException).code ?? 'error'})`);
    }
  }
  if (o.json === true) printJson({ ...doc });
  else if (o.ktap === true) output.write(ktapText(doc));
  else for (const line of formatReport(doc, (c) => paths.get(c.index) ?? null)) out(line);
  if (o.json === true || o.ktap === true) {
    const t = doc.totals;
    warn(`campaign: ${t.cases} cases, ${t.ops} operations, ${t.stale} stale, ${t.failingCases} failing cases`);
  }
  if (paths.size > 0) warn(`campaign: ${paths.size} replay file${paths.size > 1 ? 's' : ''} in ${o.replayDir}`);
  return doc.totals.failingCases > 0 ? EXIT_CHECK_FAILED : EXIT_OK;
}

function listMatrix(plan: CampaignPlan, json: boolean): number {
  const m = plan.matrix;
  if (json) {
    printJson({
      kind: 'campaign-matrix',
      axes: m.axes,
      count: m.configurations.length,
      configurations: m.configurations,
    });
    return EXIT_OK;
  }
  out(`axes (values chosen):`);
  for (const a of AXIS_NAMES) out(`  --${a.padEnd(11)} ${m.axes[a].join(',')}`);
  out('combinations: e2h on with --scenario workload --stage 1 only; force-sync and repeat not both on;');
  out('  the scenarios (driver, pkvm, nested) take --granule --ril --ats --policy only');
  out(`${m.configurations.length} configurations:`);
  for (const c of m.configurations) out(`  ${c}`);
  return EXIT_OK;
}

function checkOutputs(o: CampaignOpts): void {
  if (o.json === true && o.ktap === true)
    throw new UsageError('--ktap and --json both print on stdout: choose one (--junit FILE goes to a file)');
}

async function runCampaign(o: CampaignOpts, cmd: Program): Promise<number> {
  checkOutputs(o);
  const flag = (a: AxisName): string | undefined => {
    const key = a === 'force-sync' ? 'forceSync' : a;
    return cmd.getOptionValueSource(key) === 'cli' ? (cmd.opts()[key] as string) : undefined;
  };
  const plan = planFromOptions(o, flag);
  if (o.list === true) return listMatrix(plan, o.json === true);
  const jobs = o.jobs !== undefined ? uintText('--jobs', o.jobs, 1, 1024) : availableParallelism();
  const progress = o.progress !== false && process.stderr.isTTY;
  const cpu0 = process.cpuUsage();
  const t0 = Date.now();
  const { results, state } = await runPlan(plan, {
    jobs,
    stopOnFailure: o.stopOnFailure === true,
    shrink: o.shrink !== false,
    progress,
  });
  const cpu = process.cpuUsage(cpu0);
  const doc = buildReport(plan.matrix, plan.shard, results, state, {
    wallMs: Date.now() - t0,
    cpuMs: Math.round((cpu.user + cpu.system) / 1000),
    jobs,
  });
  const paths = writeReplays(doc, o.replayDir);
  const code = emit(doc, o, paths);
  return state.interrupted ? EXIT_INTERRUPTED : code;
}

async function runMerge(files: string[], o: CampaignOpts): Promise<number> {
  checkOutputs(o);
  const docs = files.map((name) => {
    let text: string;
    try {
      text = readFileSync(name, 'utf8');
    } catch (e) {
      throw new UsageError(`campaign merge: cannot read ${name} (${(e as NodeJS.ErrnoException).code ?? 'error'})`);
    }
    const doc = parseJsonText(text, name) as CampaignDocument & { schemaVersion?: unknown };
    if (typeof doc !== 'object' || doc === null || doc.kind !== 'campaign')
      throw new UsageError(`campaign merge: ${name} is not a campaign report (campaign --json)`);
    const { schemaVersion: _v, ...rest } = doc;
    return { name, doc: rest as CampaignDocument };
  });
  let merged: CampaignDocument;
  try {
    merged = mergeReports(docs);
  } catch (e) {
    return usage(e);
  }
  return Promise.resolve(emit(merged, o, new Map()));
}

const AXIS_HELP: Record<AxisName, string> = {
  scenario: 'what runs: workload (the randomized map/unmap workload), driver, pkvm, nested (the scenarios)',
  stage: 'workload translation: 1, 2, nested',
  granule: 'translation granule: 4K, 16K, 64K',
  ril: 'range invalidation (IDR3.RIL): on, off',
  ats: 'ATS endpoints with ATCs: on, off',
  e2h: 'workload, stage 1: SMMUs with CR2.E2H (EL2-E2H address spaces): on, off',
  policy: 'engine policy: linux, tlbi',
  'force-sync': 'workload: SMMUs with the MMU-700 erratum 2812531 (the engine syncs before 64 commands): on, off',
  repeat: 'workload: SMMUs with the Tegra264 erratum (every TLBI/CFGI batch issued twice): on, off',
};

export function registerCampaign(program: Program): void {
  const cmd = program
    .command('campaign')
    .description(
      'Run the simulation over a configuration matrix × seeds on every core (or one shard of it), shrink failures to replay files, ' +
        'and report per configuration (text, JSON, JUnit, KTAP). Exit 0 clean, 1 stale translations found, 2 bad option, 130 interrupted.',
    );
  for (const a of AXIS_NAMES)
    cmd.option(`--${a} <values>`, `${AXIS_HELP[a]} (comma-separated; default all that combine)`);
  cmd
    .option('--matrix <file>', `the matrix as a JSON object (keys: ${MATRIX_KEYS.join(', ')}); flags override it`)
    .option('--seeds <A..B>', 'seeds, inclusive (default 1..3; A.. with --time-budget: open-ended)')
    .option('--ops <n>', 'operations per workload case (default 2000) and main-loop operations per scenario case')
    .option('--time-budget <duration>', 'stop starting cases after this long (90s, 60m, 2h); seeds run from A upwards')
    .option('--fault <name>', 'break every case with this fault (simulate --list-faults); restricts axes it requires')
    .option('--smmus <n>', 'workload: SMMUs every domain is attached through (default 1)')
    .option('--mode <mode>', 'SMMU model: adversarial (default) or generous')
    .option('--jobs <n>', 'worker threads (default: the number of cores)')
    .option(
      '--shard <K/N>',
      'run only the K-th of N disjoint parts of the cases (merge the reports with campaign merge)',
    )
    .option('--list', 'print the matrix (axes, the configurations) and exit')
    .option('--stop-on-failure', 'start no new case after the first failing one')
    .option('--replay-dir <dir>', 'where the replay files of failing workload cases go', 'campaign-replays')
    .option('--no-shrink', 'do not shrink failing cases (no replay files)')
    .option('--junit <file>', 'also write JUnit XML (a testsuite per configuration, a testcase per seed)')
    .option('--ktap', 'print KTAP (kunit format) on stdout instead of the summary')
    .option('--json', 'print one JSON document (the report, for campaign merge)')
    .option('--no-progress', 'no progress bar')
    .action(action((o: CampaignOpts, c: Program) => runCampaign(o, c)));
  cmd
    .command('merge')
    .description('join the --json reports of every shard of one campaign into the report of the unsharded run')
    .argument('<files...>', 'campaign --json reports, one per shard')
    .option('--json', 'print one JSON document')
    .option('--junit <file>', 'also write JUnit XML')
    .option('--ktap', 'print KTAP on stdout instead of the summary')
    .action(
      // The flags may land on `campaign` (before or after `merge`): take them from both.
      action((files: string[], o: CampaignOpts) => runMerge(files, { ...(cmd.opts() as CampaignOpts), ...o })),
    );
  withExamples(
    cmd,
    'smmuv3-tlbi campaign --list',
    'smmuv3-tlbi campaign --scenario workload --stage 1 --granule 4K --ril on --ats on --e2h off --force-sync off --repeat off --seeds 1..4 --ops 2000',
    'smmuv3-tlbi campaign --scenario driver --granule 4K --time-budget 5s --junit campaign.xml',
    'smmuv3-tlbi campaign --fault drop-sync --scenario workload --stage 1 --granule 4K --seeds 1..2 --stop-on-failure --replay-dir campaign-replays  # exits 1: the fault is caught, shrunk and written as a replay file',
    'smmuv3-tlbi campaign --scenario driver --granule 4K --ril on --seeds 1..3 --shard 1/2 --json > shard-1.json && smmuv3-tlbi campaign --scenario driver --granule 4K --ril on --seeds 1..3 --shard 2/2 --json > shard-2.json && smmuv3-tlbi campaign merge shard-1.json shard-2.json',
    'smmuv3-tlbi campaign --time-budget 60m --ops 100000 --junit campaign.xml  # needs an hour (--time-budget 60m): the whole default matrix',
  );
}
