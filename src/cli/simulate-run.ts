/**
 * `simulate` without --scenario or --replay: the randomized workload from the parsed options — its
 * configuration, the progress bar and estimate, Ctrl-C, `--emit-stream`, and the report as text or one JSON
 * document. Exit 0 clean, 1 when a stale translation was found or the SMMU refused a command, 130 interrupted.
 */
import cliProgress from 'cli-progress';
import type { FaultName } from '../sim/faults.js';
import { startSimulation, type SimConfig, type SimReport } from '../sim/workload.js';
import type { Policy } from '../tlbi/plan.js';
import { EXIT_CHECK_FAILED, EXIT_OK, out, printJson, warn } from './common.js';
import type { FaultChoice } from './simulate-faults.js';
import { workloadDocument } from './simulate-json.js';
import { StreamRecorder, streamFile } from './simulate-stream.js';
import { ESTIMATE_FROM_OPS, EXIT_INTERRUPTED, InterruptGate, runInSlices } from './simulate-interrupt.js';

/** The options of `simulate` as commander parses them. */
export interface SimulateOpts {
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

function printHuman(r: SimReport, planned: number): void {
  const c = r.config;
  out(
    `simulate: seed ${r.seed}, granule ${String(c.granule)}, stage ${String(c.stage)}, ril ${c.ril ? 'on' : 'off'}, ` +
      `ats ${c.ats ? 'on' : 'off'}${c.e2h === true ? ', e2h on' : ''}${c.ds === true ? ', ds on' : ''}, smmus ${String(c.smmus)}, policy ${String(c.policy)}, fault ${String(c.fault ?? 'none')}, model ${String(c.mode)}`,
  );
  out(
    `operations   ${r.ops} (${r.maps} maps, ${r.unmaps} unmaps) in ${(r.elapsedMs / 1000).toFixed(1)} s, ${r.opsPerSecond} ops/s`,
  );
  if (r.interrupted === true) out(`interrupted  after ${r.ops} of ${planned} operations (Ctrl-C): a partial report`);
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

/** The progress bar of a long run on a terminal (none for --json, --no-progress, short runs or a pipe). */
function progressBar(o: SimulateOpts): cliProgress.SingleBar | null {
  if (o.json || o.progress === false || !process.stderr.isTTY || o.ops < 20000) return null;
  const bar = new cliProgress.SingleBar(
    {
      stream: process.stderr,
      format: 'simulate [{bar}] {percentage}% {value}/{total} ops, eta {eta}s',
      hideCursor: true,
    },
    cliProgress.Presets.shades_classic,
  );
  bar.start(o.ops, 0);
  return bar;
}

/** Write every SMMU's stream (simulate-stream.ts names the files) and say where, with the audit command. */
function writeStream(recorder: StreamRecorder, file: string, cfg: SimConfig): void {
  recorder.write(file, cfg);
  const others: string[] = [];
  for (let k = 1; k < cfg.smmus; k++) {
    const f = streamFile(file, k);
    others.push(`, SMMU ${k}'s ${recorder.countOf(k)} to ${f} and ${f}.json`);
  }
  warn(
    `simulate: wrote SMMU 0's ${recorder.count} queue entries to ${file} and its registers to ${file}.json` +
      others.join('') +
      `; audit ${cfg.smmus > 1 ? 'each' : 'it'} with: smmuv3-tlbi audit --file ${file} --regs ${file}.json` +
      (cfg.smmus > 1 ? ` (and --file ${streamFile(file, 1)} --regs ${streamFile(file, 1)}.json, …)` : ''),
  );
}

/**
 * The workload run of `simulate` (options parsed, a fault's configuration applied): exit status. A run of
 * ESTIMATE_FROM_OPS operations or more prints its estimated length after a warm-up; Ctrl-C ends it with a
 * partial report (marked interrupted) and exit 130.
 */
export async function runWorkloadCommand(o: SimulateOpts, choice: FaultChoice | null): Promise<number> {
  const recorder = o.emitStream !== undefined ? new StreamRecorder() : null;
  const seed = o.seed ?? Math.floor(Math.random() * 2 ** 32);
  const cfg: SimConfig = {
    ...simConfigFromOptions(o, seed),
    ...(choice !== null && choice.errata.length > 0 ? { errata: choice.errata } : {}),
    ...(choice?.longRuns === true ? { longRuns: true } : {}),
    ...(recorder !== null ? { onCommands: recorder.onCommands } : {}),
  };
  let bar = progressBar(o);
  const b = bar;
  const sim = startSimulation(
    b === null
      ? cfg
      : { ...cfg, progressEvery: Math.max(1000, Math.floor(o.ops / 200)), onProgress: (done) => b.update(done) },
  );
  const gate = new InterruptGate('simulate', () => {
    bar?.stop();
    bar = null;
  });
  gate.install();
  try {
    const around = (print: () => void): void => {
      if (bar === null) return print();
      bar.stop();
      print();
      bar.start(o.ops, sim.done);
    };
    await runInSlices(sim, gate, o.ops >= ESTIMATE_FROM_OPS ? { total: o.ops, around } : null);
  } finally {
    gate.remove();
    bar?.stop();
  }
  const report = sim.report();
  if (recorder !== null && o.emitStream !== undefined) writeStream(recorder, o.emitStream, cfg);
  if (o.json) {
    printJson({ ...workloadDocument(report), ...(report.interrupted === true ? { opsPlanned: o.ops } : {}) });
  } else {
    printHuman(report, o.ops);
    if (report.stale > 0) warn(`${report.stale} stale translations (seed ${seed})`);
    if (report.illegal > 0) warn(`${report.illegal} commands the SMMU refused (CERROR_ILL, seed ${seed})`);
  }
  if (report.interrupted === true) return EXIT_INTERRUPTED;
  // A command the SMMU refused is a finding too (the engine never emits one: only a fault does).
  return report.stale > 0 || report.illegal > 0 ? EXIT_CHECK_FAILED : EXIT_OK;
}
