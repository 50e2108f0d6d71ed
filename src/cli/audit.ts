/**
 * `smmuv3-tlbi audit`: check a real command stream (a raw queue dump, hex words, or a QEMU SMMUv3 trace)
 * against the architecture and re-plan it with the engine. Exit 0 no findings, 1 findings, 2 unusable input.
 *
 * This file wires the command: the SMMU from the options and registers, the output (readable report, --json,
 * --ndjson) and the exit status. The options are defined in audit-options.ts; the inputs are read, one phase per
 * kind, in audit-read.ts.
 */
import type { Command as Program } from 'commander';
import {
  AuditJsonWriter,
  AuditNdjsonWriter,
  formatReport,
  type AuditReport,
  type SessionOptions,
} from '../audit/index.js';
import { RULES, type RuleId } from '../audit/rules-table.js';
import type { CommandChecker } from '../cmdq/index.js';
import { runQemuConformance } from './audit-qemu-conformance.js';
import { auditCaptureDir } from './audit-capture.js';
import {
  OAS_BITS,
  checkOptions,
  inputOptions,
  isMmu700,
  parseVmidList,
  readRegs,
  refuseRingOptions,
  ringRegisters,
  sampleFile,
  type AuditOpts,
} from './audit-options.js';
import {
  PROGRESS_BYTES,
  Progress,
  auditDump,
  auditStdin,
  auditTrace,
  auditWords,
  type AuditRun,
  type Tick,
} from './audit-read.js';
import { buildChecker } from './decode.js';
import { EXIT_CHECK_FAILED, EXIT_OK, UsageError, action, warn, withExamples } from './common.js';
import { DEFAULT_MAX_ENTRIES, type InputSource } from './input.js';
import { output } from './output.js';

export { readRegs };

/** The report options that do not depend on the input. */
type CheckOptions = Pick<SessionOptions, 'replan' | 'maxBatch' | 'ipaBits' | 'vaBits' | 'pageSize' | 'e2h' | 'lints'>;

/** The writers of a streamed output (--json, --ndjson), or none for the readable report. */
interface Writers {
  readonly json: AuditJsonWriter | null;
  readonly ndjson: AuditNdjsonWriter | null;
}

/** The session's options: what it keeps for the readable report, and where each finding and row goes. */
function sessionOptions(
  o: AuditOpts,
  check: CheckOptions,
  checker: CommandChecker,
  { json, ndjson }: Writers,
): SessionOptions {
  const streamed = json !== null || ndjson !== null;
  return {
    ...check,
    checker,
    // The readable report prints the first findings and the first differing rows; JSON streams them all.
    keepFindings: streamed ? 0 : (o.maxFindings ?? 20),
    keepRows: streamed ? 0 : 10,
    onFinding: (f) => {
      // Performance lints are warnings: exit 0 for them unless --strict.
      if (o.strict === true || RULES[f.rule as RuleId]?.category !== 'perf') output.status = EXIT_CHECK_FAILED;
      if (json) json.finding(f);
      else ndjson?.finding(f);
    },
    ...(json ? { onRow: (r) => json.row(r) } : {}),
  };
}

/** A tick maker for the input passes: progress by bytes (when the size is known) and backpressure. */
function tickers(bar: Progress): (src: InputSource | null, phase: string) => Tick {
  return (src, phase) => {
    let done = 0;
    const total = src !== null && !src.gzip && src.bytes !== null && src.bytes > PROGRESS_BYTES ? src.bytes : 0;
    return async (bytes) => {
      done += bytes;
      if (total > 0) bar.update(phase, done, total);
      await output.drain();
    };
  };
}

/** Write the summary (--json, --ndjson) or the readable report, and give the exit status. */
function finish(report: AuditReport, o: AuditOpts, { json, ndjson }: Writers): number {
  output.closer = null; // the document ends whole here
  if (json) json.end(report);
  else if (ndjson) ndjson.end(report);
  else output.write(formatReport(report, { maxFindings: o.maxFindings ?? 20 }));
  if (json === null && ndjson === null && report.counts.findings > 0) warn(`${report.counts.findings} finding(s)`);
  let counted = report.counts.findings;
  if (o.strict !== true)
    for (const [id, n] of Object.entries(report.counts.byRule))
      if (RULES[id as RuleId].category === 'perf') counted -= n ?? 0;
  return counted > 0 ? EXIT_CHECK_FAILED : EXIT_OK;
}

/**
 * Run the audit of one input: read it as a stream into an AuditSession (audit-read.ts), write findings and rows
 * as they are found (--json, --ndjson), then the summary or the readable report.
 */
async function runAudit(
  words: string[],
  o: AuditOpts,
  regs: Record<string, number>,
  checker: CommandChecker,
  check: CheckOptions,
  idr1: number | undefined,
): Promise<number> {
  if (o.json && o.ndjson) throw new UsageError('--ndjson: give --json or --ndjson, not both');
  const maxEntries = o.maxEntries ?? DEFAULT_MAX_ENTRIES;
  const nested = parseVmidList(o.nestedVmids ?? 'auto');
  const write = (s: string): void => output.write(s);
  const writers: Writers = {
    json: o.json ? new AuditJsonWriter(write) : null,
    ndjson: o.ndjson ? new AuditNdjsonWriter(write) : null,
  };
  const jw = writers.json;
  const nw = writers.ndjson;
  if (jw !== null) output.closer = (f) => jw.endWithError(f);
  else if (nw !== null) output.closer = (f) => nw.endWithError(f);
  const streamed = writers.json !== null || writers.ndjson !== null;
  const bar = new Progress(o.progress !== false && !streamed && process.stderr.isTTY === true);
  const run: AuditRun = {
    o,
    regs,
    checker,
    idr1,
    session: sessionOptions(o, check, checker, writers),
    nested,
    maxEntries,
    dumpLimit: {
      bytes: maxEntries * 16,
      why: `the --max-entries limit (${maxEntries} entries of 16 bytes; give --max-entries to change it)`,
    },
    ticker: tickers(bar),
  };
  let report: AuditReport;
  if (o.qemuTrace !== undefined) report = await auditTrace(run, o.qemuTrace);
  else if (o.file !== undefined) report = await auditDump(run, o.file);
  else if (words.length > 0 && !(words.length === 1 && words[0] === '-')) report = await auditWords(run, words);
  else report = await auditStdin(run);
  bar.stop();
  return finish(report, o, writers);
}

/** `--capture DIR`: the capture's verdict, with no other input. */
function auditCapture(words: string[], o: AuditOpts, dir: string): number {
  if (words.length > 0 || o.file !== undefined || o.qemuTrace !== undefined || o.sample === true)
    throw new UsageError('--capture: give no other input (hex words, --file, --qemu-trace, --sample)');
  if (o.ndjson) throw new UsageError('--ndjson: not available with --capture (use --json)');
  return auditCaptureDir(dir, {
    json: o.json ?? false,
    maxFindings: o.maxFindings ?? 20,
    progress: false,
  });
}

/** One input at most; `--sample` stands for the sample's dump and registers files. */
function chooseInput(words: string[], o: AuditOpts): void {
  const sources = [words.length > 0, o.file !== undefined, o.qemuTrace !== undefined, o.sample === true];
  if (sources.filter(Boolean).length > 1)
    throw new UsageError('give one input: hex words, --file, --qemu-trace or --sample');
  if (o.sample) {
    if (o.regs !== undefined) throw new UsageError('--sample: the sample brings its own registers; drop --regs');
    o.file = sampleFile('cmdq.bin.gz');
    o.regs = sampleFile('cmdq.json');
  }
}

/** The SMMU the stream ran on: the checker from the ID registers (options over the registers file), and IDR1/IDR5. */
function smmuOf(
  o: AuditOpts,
  regs: Record<string, number>,
): { checker: CommandChecker; idr1: number | undefined; idr5: number | undefined } {
  const idr = (k: string, v: number | undefined): number | undefined => v ?? regs[k];
  const idr0 = idr('IDR0', o.idr0);
  const idr1 = idr('IDR1', o.idr1);
  const idr3 = idr('IDR3', o.idr3);
  const idr5 = idr('IDR5', o.idr5);
  const checker = buildChecker({
    lax: o.lax ?? false,
    queue: o.queue,
    ...(o.features !== undefined ? { features: o.features } : {}),
    ...(idr0 !== undefined ? { idr0 } : {}),
    ...(idr3 !== undefined ? { idr3 } : {}),
    ...(idr5 !== undefined ? { idr5 } : {}),
  });
  return { checker, idr1, idr5 };
}

/** The report options from the options and the registers (E2H from CR2, the IPA size from IDR5.OAS). */
function checkOptionsOf(o: AuditOpts, e2h: boolean, idr5: number | undefined): CheckOptions {
  const oas = idr5 !== undefined ? OAS_BITS[idr5 & 7] : undefined;
  return {
    replan: o.replan,
    ...(o.maxBatch !== undefined ? { maxBatch: o.maxBatch } : {}),
    ...(e2h ? { e2h } : {}),
    ...(o.lints === true || o.strict === true ? { lints: true } : {}),
    ...((o.ipaBits ?? oas) !== undefined ? { ipaBits: o.ipaBits ?? oas } : {}),
    ...(o.vaBits !== undefined ? { vaBits: o.vaBits } : {}),
    ...(o.pageSize !== undefined ? { pageSize: o.pageSize } : {}),
  };
}

/** The command's action: pick the input, build the SMMU, then audit (or compare QEMU's decode, --qemu-ring). */
async function auditAction(words: string[], o: AuditOpts): Promise<number> {
  if (o.capture !== undefined) return auditCapture(words, o, o.capture);
  chooseInput(words, o);
  const regs = o.regs ? readRegs(o.regs) : {};
  const { checker, idr1, idr5 } = smmuOf(o, regs);
  // From the registers file: CR2.E2H (the nh-under-e2h rule) and an Arm MMU-700 IIDR (erratum 2812531:
  // a CMD_SYNC at least every 64 commands, so --max-batch 63 unless given).
  const e2h = regs.CR2 !== undefined && (regs.CR2 & 1) === 1;
  if (o.maxBatch === undefined && regs.IIDR !== undefined && isMmu700(regs.IIDR)) {
    o.maxBatch = 63;
    warn('audit: SMMU_IIDR names an Arm MMU-700 (erratum 2812531): --max-batch 63');
  }
  if (o.qemuRing !== undefined) {
    if (o.qemuTrace === undefined) throw new UsageError("--qemu-ring: give the same run's --qemu-trace too");
    return runQemuConformance(
      o.qemuTrace,
      o.qemuRing,
      ringRegisters(o, regs),
      checker,
      o.json ?? false,
      o.maxEntries ?? DEFAULT_MAX_ENTRIES,
    );
  }
  refuseRingOptions(o);
  return runAudit(words, o, regs, checker, checkOptionsOf(o, e2h, idr5), idr1);
}

export function registerAudit(program: Program): void {
  const cmd = program
    .command('audit')
    .description(
      'Audit a real SMMUv3 command stream against the architecture and re-plan it with the engine: a raw command-queue ' +
        'dump (--file, with --prod/--cons/--log2size or --regs to read the ring oldest first), hex word pairs (arguments ' +
        'or stdin), or a QEMU trace (--qemu-trace, -trace "smmuv3_*"; log backend with or without -msg timestamp=on, or ' +
        'simpletrace.py text). gzip input is accepted. Exit 0 no findings, 1 findings, 2 unusable input.',
    );
  checkOptions(inputOptions(cmd)).action(action(auditAction));
  cmd.addHelpText(
    'after',
    '\nInput size: every input is read as a stream (gzip inflated as it streams), so memory stays bounded whatever ' +
      'its size. A QEMU trace has no size limit (a line longer than 65,536 characters is refused). A dump (--file, ' +
      'or hex words) of more than --max-entries entries (default 2^24 = 16M, a 256 MiB dump) is refused, and with ' +
      'registers (--prod/--cons/--log2size, --regs) the ring size caps what is read; a gzip file is refused once it ' +
      'inflates past the limit that applies (exit 2). A regular file is read twice when --nested-vmids is auto (a ' +
      'first pass finds the VMIDs); stdin is read once: auto then decides from the first 2^20 entries and exits 2 ' +
      'naming --nested-vmids if the rest of the stream disagrees.\n' +
      'Output: --json streams one document (schemaVersion 2: "records" holds every finding and re-planning row as ' +
      'found, then input, counts, histograms and the re-planning totals); --ndjson prints one finding per line and a ' +
      'last "summary" line. A closed pipe (| head) stops the run quietly.',
  );
  withExamples(
    cmd,
    'smmuv3-tlbi audit --sample',
    'smmuv3-tlbi audit --file samples/linux-7.3-qemu-10.0-strict/cmdq.bin.gz --regs samples/linux-7.3-qemu-10.0-strict/cmdq.json',
    'smmuv3-tlbi audit --file samples/linux-6.1-qemu-7.2-strict/cmdq.bin.gz --prod 0x4585 --cons 0x4585 --log2size 16 --idr0 0xd40101a --idr3 0x1404',
    'smmuv3-tlbi audit --file samples/linux-6.1-qemu-7.2-strict/cmdq.bin.gz --regs \'{"CMDQ_PROD":"0x4585","CMDQ_CONS":"0x4585","log2size":16}\'',
    'smmuv3-tlbi audit --qemu-trace samples/linux-6.1-qemu-7.2-strict/qemu-trace.log.gz --json',
    'smmuv3-tlbi audit 0x0001000000000012 0x00000000ffff6701 0x000000000fc02046 0x0',
    'smmuv3-tlbi audit --sample --max-batch 63 --nested-vmids 1,2',
    'smmuv3-tlbi audit --capture samples/linux-7.3-qemu-7.2-capture-strict',
  );
}
