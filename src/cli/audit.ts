/**
 * `smmuv3-tlbi audit`: check a real command stream (a raw queue dump, hex words, or a QEMU SMMUv3 trace)
 * against the architecture and re-plan it with the engine. Exit 0 no findings, 1 findings, 2 unusable input.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Command as Program } from 'commander';
import cliProgress from 'cli-progress';
import {
  AuditJsonWriter,
  AuditNdjsonWriter,
  AuditInputError,
  AuditSession,
  AuditStream,
  QemuTraceParser,
  VmidScan,
  WrittenSlotReader,
  auditStream,
  formatReport,
  readRing,
  type AuditReport,
  type EntrySink,
  type RingRegisters,
  type SessionOptions,
  type TraceStats,
} from '../audit/index.js';
import { RULES, type RuleId } from '../audit/rules-table.js';
import { runQemuConformance } from './audit-qemu-conformance.js';
import { parseUint } from '../parse.js';
import { parseRegisters } from '../schema/index.js';
import { buildChecker, readEntries, type InputInfo } from './decode.js';
import {
  EXIT_CHECK_FAILED,
  EXIT_OK,
  UsageError,
  action,
  choiceOption,
  uintOption,
  U32,
  warn,
  withExamples,
} from './common.js';
import { TEXT_FORMAT_CHOICES, TEXT_FORMAT_NAMES, type TextFormatChoice } from '../textdump/index.js';
import { auditCaptureDir } from './audit-capture.js';
import { packageRoot } from './package-root.js';
import {
  DEFAULT_MAX_ENTRIES,
  EntryAligner,
  TextLines,
  inputChunks,
  openInput,
  type InputLimit,
  type InputSource,
} from './input.js';
import { output } from './output.js';
import type { CommandChecker, QueueKind } from '../cmdq/index.js';

interface AuditOpts {
  qemuRing?: string;
  lints?: boolean;
  strict?: boolean;
  capture?: string;
  file?: string;
  qemuTrace?: string;
  regs?: string;
  sample?: boolean;
  prod?: number;
  cons?: number;
  log2size?: number;
  json?: boolean;
  ndjson?: boolean;
  maxEntries?: number;
  lax?: boolean;
  queue: QueueKind;
  features?: string;
  idr0?: number;
  idr1?: number;
  idr3?: number;
  idr5?: number;
  nestedVmids?: string;
  maxBatch?: number;
  ipaBits?: number;
  vaBits?: number;
  pageSize?: number;
  replan: boolean;
  maxFindings?: number;
  progress?: boolean;
  format: TextFormatChoice;
}

/** IDR5.OAS encodings → address bits. */
const OAS_BITS = [32, 36, 40, 42, 44, 48, 52];
/** Inputs above this size get a progress bar (when stderr is a terminal). */
const PROGRESS_BYTES = 4 << 20;

function parseVmidList(list: string): number[] | undefined {
  if (list === 'auto') return undefined;
  if (list === 'none' || list === '') return [];
  return list.split(',').map((x, k) => {
    const v = parseUint(x.trim(), `--nested-vmids[${k}]`);
    if (v > 0xffff) throw new UsageError(`--nested-vmids[${k}]: ${x} is not a 16-bit VMID`);
    return v;
  });
}

/** The real ring `audit --sample` reads: a Linux 6.1 guest on QEMU 7.2 (see samples/README.md). */
const SAMPLE_DIR = 'samples/linux-6.1-qemu-7.2-strict';

function sampleFile(name: string): string {
  const root = packageRoot();
  const path = root === null ? null : join(root, SAMPLE_DIR, name);
  if (path === null || !existsSync(path))
    throw new UsageError(`--sample: ${SAMPLE_DIR}/${name} is missing from this installation`);
  return path;
}

/**
 * `--regs`: inline JSON (text starting with `{`) or the path of a JSON file such as the sample's cmdq.json.
 * A path that cannot be read is a usage error naming the option.
 */
function regsText(value: string): { text: string; source: string } {
  if (value.trimStart().startsWith('{')) return { text: value, source: '--regs' };
  if (!existsSync(value))
    throw new UsageError(`--regs: no such file: ${value} (give a JSON file or inline JSON starting with "{")`);
  try {
    return { text: readFileSync(value, 'utf8'), source: `--regs ${value}` };
  } catch (e) {
    throw new UsageError(`--regs: cannot read ${value}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

/** SMMU_IIDR of an Arm MMU-700: ProductID 0x487 [31:20], Implementer 0x43B [11:0] (JEP106 Arm). */
function isMmu700(iidr: number): boolean {
  return iidr >>> 20 === 0x487 && (iidr & 0xfff) === 0x43b;
}

/**
 * Queue registers (CMDQ_PROD, CMDQ_CONS, IDRn, the queue's log2size) from `--regs`: strict JSON checked by
 * the registers schema (src/schema), so unknown keys, duplicates, garbage and values too wide are exit 2.
 */
export function readRegs(value: string): Record<string, number> {
  const { text, source } = regsText(value);
  const file = parseRegisters(text, source);
  const out: Record<string, number> = {};
  for (const key of ['CMDQ_PROD', 'CMDQ_CONS', 'IDR0', 'IDR1', 'IDR3', 'IDR5', 'IIDR', 'CR2']) {
    const v = file.values.get(key);
    if (v !== undefined) out[key] = v.lo;
  }
  if (file.log2size !== undefined) out.LOG2SIZE = file.log2size;
  return out;
}

/** The ring registers options and what they override in the registers file. */
const RING_OPTIONS = [
  ['--prod', 'prod', 'CMDQ_PROD'],
  ['--cons', 'cons', 'CMDQ_CONS'],
  ['--log2size', 'log2size', 'LOG2SIZE'],
] as const;

/** The registers of a ring dump: the file's, with --prod/--cons/--log2size over them. */
function ringRegisters(o: AuditOpts, regs: Record<string, number>): Record<string, number> {
  const out = { ...regs };
  for (const [, key, reg] of RING_OPTIONS) if (o[key] !== undefined) out[reg] = o[key];
  return out;
}

/**
 * --prod/--cons/--log2size say how to read a ring dump (--file, or --qemu-ring): with any other input they would
 * be ignored, so they are refused (exit 2 naming the option).
 */
function refuseRingOptions(o: AuditOpts): void {
  if (o.file !== undefined) return;
  const input =
    o.qemuTrace !== undefined
      ? '--qemu-trace rebuilds the stream in queue order from the trace itself'
      : 'hex words are audited in the order given';
  for (const [name, key] of RING_OPTIONS)
    if (o[key] !== undefined)
      throw new UsageError(`${name}: reads a ring dump (--file, or --qemu-ring with --qemu-trace); ${input}`);
}

class Progress {
  private bar: cliProgress.SingleBar | null = null;
  private phase = '';
  constructor(private readonly enabled: boolean) {}
  update(phase: string, done: number, total: number): void {
    if (!this.enabled) return;
    if (phase !== this.phase) {
      this.bar?.stop();
      this.phase = phase;
      this.bar = new cliProgress.SingleBar(
        {
          stream: process.stderr,
          format: `${phase.padEnd(8)} [{bar}] {percentage}% | {value}/{total}`,
          hideCursor: true,
        },
        cliProgress.Presets.shades_classic,
      );
      this.bar.start(total, done);
    }
    this.bar?.update(done);
  }
  stop(): void {
    this.bar?.stop();
    this.bar = null;
  }
}

/** The report options that do not depend on the input. */
type CheckOptions = Pick<SessionOptions, 'replan' | 'maxBatch' | 'ipaBits' | 'vaBits' | 'pageSize' | 'e2h' | 'lints'>;

/** Entries read between two `output.drain()` calls of a text input given in one piece. */
const DRAIN_ENTRIES = 1 << 14;

/** The byte-offset error readRing gives for a dump that is not a multiple of 16 bytes. */
function notWholeEntries(bytes: number): AuditInputError {
  const tail = bytes % 16;
  return new AuditInputError(
    `byte offset ${bytes - tail}`,
    `the dump is ${bytes} bytes, not a multiple of 16: the last ${tail} bytes do not make a whole entry`,
  );
}

/** Called after each chunk read: progress, and the output's backpressure. */
type Tick = (bytes: number) => Promise<void>;

/** Stream a QEMU trace's lines into a sink (no size limit; the per-line cap of TextLines). */
async function feedTrace(src: InputSource, sink: EntrySink, tick: Tick): Promise<TraceStats> {
  const parser = new QemuTraceParser(sink);
  const lines = new TextLines(src.name, (line) => parser.line(line));
  for await (const c of inputChunks(src, null)) {
    lines.pushBytes(c);
    await tick(c.length);
  }
  lines.end();
  return parser.end();
}

/**
 * Words without which a trace rebuilds no stage-2 TLBI: the parser gives an entry the opcode of S2_IPA or
 * S12_VMALL only for QEMU's names SMMU_CMD_TLBI_S2_IPA and SMMU_CMD_TLBI_S12_VMALL (both hold "TLBI_S"; no other
 * command name does) or for an unhandled command's type. A trace that holds neither word has no stage-2 VMID,
 * so no nested VMID (a VMID must be in both kinds of TLBI), and the first pass can be a byte search; when one is
 * there, a parse decides.
 */
const STAGE2_WORDS = ['TLBI_S', 'smmuv3_unhandled_cmd'];
const WORD_OVERLAP = 32;

/** Whether a trace may hold nested VMIDs (false: it cannot; true: a parse must tell). Reads it once, bytes only. */
async function traceMayNest(src: InputSource, tick: Tick): Promise<boolean> {
  let tail: Buffer = Buffer.alloc(0);
  for await (const c of inputChunks(src, null)) {
    const b = Buffer.from(c.buffer, c.byteOffset, c.length);
    // Words cut by a chunk boundary are found in the joined edges.
    const edge = tail.length > 0 ? Buffer.concat([tail, b.subarray(0, WORD_OVERLAP)]) : null;
    for (const w of STAGE2_WORDS) if (b.indexOf(w, 0, 'latin1') >= 0 || edge?.includes(w, 0, 'latin1')) return true;
    tail = Buffer.from(b.subarray(Math.max(0, b.length - WORD_OVERLAP)));
    await tick(c.length);
  }
  return false;
}

/** Stream a dump without registers into a sink (every written slot, in ring order); returns its entries. */
async function feedDump(
  src: InputSource,
  sink: EntrySink,
  ringEntries: number | null,
  limit: InputLimit,
  tick: Tick,
): Promise<number> {
  const reader = new WrittenSlotReader(sink, ringEntries);
  const al = new EntryAligner();
  for await (const c of inputChunks(src, limit)) {
    const u = al.push(c);
    if (u.length > 0) reader.push(u);
    await tick(c.length);
  }
  if (al.tail !== 0) throw notWholeEntries(al.bytes);
  reader.end();
  return al.bytes / 16;
}

/**
 * The first pass over a dump without registers: the VMIDs of its stage-2 and NH_* TLBIs, and its entry count.
 * Every entry goes to the scan as it is (a never-written slot or a SYNC overwritten by its MSI write is no TLBI,
 * so the written-slot reading would give the scan the same TLBIs).
 */
async function scanDump(src: InputSource, scan: VmidScan, limit: InputLimit, tick: Tick): Promise<number> {
  const al = new EntryAligner();
  for await (const c of inputChunks(src, limit)) {
    scan.pushHalves(al.push(c));
    await tick(c.length);
  }
  if (al.tail !== 0) throw notWholeEntries(al.bytes);
  return al.bytes / 16;
}

/** Read a whole dump that its registers bound (at most a ring of 2^19 entries) into memory. */
async function readBounded(src: InputSource, limit: InputLimit): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  let n = 0;
  for await (const c of inputChunks(src, limit)) {
    parts.push(c);
    n += c.length;
  }
  const out = new Uint8Array(n);
  let p = 0;
  for (const c of parts) {
    out.set(c, p);
    p += c.length;
  }
  return out;
}

/** Largest ring (SMMU_IDR1.CMDQS ≤ 19). */
const MAX_RING_LOG2 = 19;

/**
 * Run the audit of one input: read it as a stream into an AuditSession (two passes over a regular file when the
 * nested VMIDs are inferred), write findings and rows as they are found (--json, --ndjson), then the summary or
 * the readable report. Memory is bounded by the session's window and the parser's state, not by the input.
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
  const dumpLimit: InputLimit = {
    bytes: maxEntries * 16,
    why: `the --max-entries limit (${maxEntries} entries of 16 bytes; give --max-entries to change it)`,
  };
  const nested = parseVmidList(o.nestedVmids ?? 'auto');
  const write = (s: string): void => output.write(s);
  const json = o.json ? new AuditJsonWriter(write) : null;
  const ndjson = o.ndjson ? new AuditNdjsonWriter(write) : null;
  const streamed = json !== null || ndjson !== null;
  const maxFindings = o.maxFindings ?? 20;
  const session: SessionOptions = {
    ...check,
    checker,
    // The readable report prints the first findings and the first differing rows; JSON streams them all.
    keepFindings: streamed ? 0 : maxFindings,
    keepRows: streamed ? 0 : 10,
    onFinding: (f) => {
      // Performance lints are warnings: exit 0 for them unless --strict.
      if (o.strict === true || RULES[f.rule as RuleId]?.category !== 'perf') output.status = EXIT_CHECK_FAILED;
      if (json) json.finding(f);
      else ndjson?.finding(f);
    },
    ...(json ? { onRow: (r) => json.row(r) } : {}),
  };
  const bar = new Progress(o.progress !== false && !streamed && process.stderr.isTTY === true);
  /** A tick for one pass over `src`: progress by bytes (when the size is known) and backpressure. */
  const ticker = (src: InputSource | null, phase: string): Tick => {
    let done = 0;
    const total = src !== null && !src.gzip && src.bytes !== null && src.bytes > PROGRESS_BYTES ? src.bytes : 0;
    return async (bytes) => {
      done += bytes;
      if (total > 0) bar.update(phase, done, total);
      await output.drain();
    };
  };

  let report: AuditReport;
  if (o.qemuTrace !== undefined) {
    const src = openInput(o.qemuTrace, '--qemu-trace');
    let list = nested;
    if (list === undefined && src.regular) {
      if (await traceMayNest(src, ticker(src, 'scan'))) {
        const scan = new VmidScan(checker);
        await feedTrace(src, scan, ticker(src, 'scan'));
        list = scan.nested;
      } else list = [];
    }
    const s = new AuditSession('qemu-trace', {
      ...session,
      ...(list !== undefined ? { nestedVmids: list, nestedInferred: nested === undefined } : {}),
    });
    const trace = await feedTrace(src, s, ticker(src, 'audit'));
    report = s.end({ trace });
  } else if (o.file !== undefined) {
    const src = openInput(o.file, '--file');
    const rr: { -readonly [K in keyof RingRegisters]: RingRegisters[K] } = {};
    const prod = o.prod ?? regs.CMDQ_PROD;
    const cons = o.cons ?? regs.CMDQ_CONS;
    const log2size = o.log2size ?? regs.LOG2SIZE;
    if (prod !== undefined) rr.prod = prod;
    if (cons !== undefined) rr.cons = cons;
    if (log2size !== undefined) rr.log2size = log2size;
    if (log2size !== undefined && idr1 !== undefined) {
      const cmdqs = (idr1 >>> 21) & 0x1f;
      if (log2size > cmdqs)
        throw new UsageError(
          `--log2size ${log2size} exceeds SMMU_IDR1.CMDQS (${cmdqs}), the largest queue this SMMU supports`,
        );
    }
    if (log2size !== undefined && (!Number.isInteger(log2size) || log2size > MAX_RING_LOG2))
      throw new AuditInputError('--log2size', `${log2size} is out of range (0 to ${MAX_RING_LOG2})`);
    if (src.regular && !src.gzip && src.bytes! % 16 !== 0) throw notWholeEntries(src.bytes!);
    if (prod !== undefined || cons !== undefined || log2size !== undefined) {
      // With registers the ring is read whole (at most 2^19 entries, 8 MiB): its size caps what is read.
      const ring = 2 ** (log2size ?? MAX_RING_LOG2);
      const limit: InputLimit =
        ring <= maxEntries
          ? {
              bytes: ring * 16,
              why: `the ring's size caps the dump (2^${log2size ?? MAX_RING_LOG2} entries of 16 bytes${log2size === undefined ? ', the largest ring' : ': --log2size / CMDQ_BASE.LOG2SIZE'})`,
            }
          : dumpLimit;
      const bytes = await readBounded(src, limit);
      if (bytes.length % 16 !== 0) throw notWholeEntries(bytes.length);
      const stream = readRing(bytes, rr);
      report = auditStream(stream, {
        ...session,
        ...(nested !== undefined ? { nestedVmids: nested } : {}),
      });
    } else {
      // Without registers: every written slot, streamed. The ring's size (to recognise a CMD_SYNC overwritten by
      // its MSI write) is the file's size, or for a gzip file the first pass's count.
      let list = nested;
      let ringEntries = src.regular && !src.gzip ? src.bytes! / 16 : null;
      if (src.regular && (list === undefined || src.gzip)) {
        const scan = new VmidScan(checker);
        const n = await scanDump(src, scan, dumpLimit, ticker(src, 'scan'));
        list ??= scan.nested;
        ringEntries = n;
      }
      const s = new AuditSession('dump', {
        ...session,
        ...(list !== undefined ? { nestedVmids: list, nestedInferred: nested === undefined } : {}),
      });
      await feedDump(src, s, ringEntries, dumpLimit, ticker(src, 'audit'));
      report = s.end();
    }
  } else if (words.length > 0 && !(words.length === 1 && words[0] === '-')) {
    // Text given as arguments is in memory already: checked whole (nested VMIDs inferred exactly).
    const info: InputInfo = { format: null, notes: [] };
    const parts: Uint32Array[] = [];
    for await (const u of readEntries(words, undefined, maxEntries, o.format, info)) parts.push(u);
    const halves = parts.length === 1 ? parts[0]! : concatHalves(parts);
    const stream = AuditStream.fromHalves(halves);
    if (info.format !== null && info.format !== 'binary')
      stream.notes.push(`input format: ${info.format} (${TEXT_FORMAT_NAMES[info.format]})`);
    stream.notes.push(...info.notes);
    if (stream.count === 0) throw new UsageError('no entries: give hex words, --file, --qemu-trace or --sample');
    report = auditStream(stream, { ...session, ...(nested !== undefined ? { nestedVmids: nested } : {}) });
  } else {
    // Text on stdin: read once, so `auto` infers the nested VMIDs from a look-ahead (the session's).
    const info: InputInfo = { format: null, notes: [] };
    const s = new AuditSession('hex', { ...session, ...(nested !== undefined ? { nestedVmids: nested } : {}) });
    let i = 0;
    for await (const u of readEntries([], undefined, maxEntries, o.format, info)) {
      if (info.format === 'binary')
        throw new UsageError('stdin: binary data, not text: give a raw queue dump with --file - (or --file PATH)');
      const m = u.length >>> 2;
      for (let k = 0; k < m; k++, i++) {
        s.push(u[k * 4]!, u[k * 4 + 1]!, u[k * 4 + 2]!, u[k * 4 + 3]!, i);
        if ((i & (DRAIN_ENTRIES - 1)) === DRAIN_ENTRIES - 1) await output.drain();
      }
      await output.drain();
    }
    if (i === 0) throw new UsageError('no entries: give hex words, --file, --qemu-trace or --sample');
    if (info.format !== null && info.format !== 'binary')
      s.note(`input format: ${info.format} (${TEXT_FORMAT_NAMES[info.format]})`);
    for (const n of info.notes) s.note(n);
    report = s.end();
  }
  bar.stop();
  if (json) json.end(report);
  else if (ndjson) ndjson.end(report);
  else output.write(formatReport(report, { maxFindings }));
  if (!streamed && report.counts.findings > 0) warn(`${report.counts.findings} finding(s)`);
  let counted = report.counts.findings;
  if (o.strict !== true)
    for (const [id, n] of Object.entries(report.counts.byRule))
      if (RULES[id as RuleId].category === 'perf') counted -= n ?? 0;
  return counted > 0 ? EXIT_CHECK_FAILED : EXIT_OK;
}

function concatHalves(parts: readonly Uint32Array[]): Uint32Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint32Array(n);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

export function registerAudit(program: Program): void {
  const cmd = program
    .command('audit')
    .description(
      'Audit a real SMMUv3 command stream against the architecture and re-plan it with the engine: a raw command-queue ' +
        'dump (--file, with --prod/--cons/--log2size or --regs to read the ring oldest first), hex word pairs (arguments ' +
        'or stdin), or a QEMU trace (--qemu-trace, -trace "smmuv3_*"; log backend with or without -msg timestamp=on, or ' +
        'simpletrace.py text). gzip input is accepted. Exit 0 no findings, 1 findings, 2 unusable input.',
    )
    .argument(
      '[words...]',
      'the entries as text: hex words (two 64-bit words per entry), the kernel log, gdb or crash output (see decode --help)',
    )
    .option('-f, --file <path>', 'raw little-endian command-queue dump (a multiple of 16 bytes; - for stdin)')
    .option('--qemu-trace <path>', 'QEMU SMMUv3 trace log')
    .option('--capture <dir>', 'a capture directory (smmuv3-tlbi capture): the verdict per unmap and the reproduction')
    .option(
      '--regs <json|path>',
      'queue registers: inline JSON starting with "{" or a JSON file (CMDQ_PROD, CMDQ_CONS, CMDQ_BASE or log2size, IDR0/1/3/5)',
    )
    .option('--sample', 'audit a real ring with its registers (Linux 6.1 on QEMU 7.2, 17,797 entries; see samples/)')
    .option('--prod <value>', 'CMDQ_PROD (index and wrap bit)', uintOption('--prod', U32))
    .option('--cons <value>', 'CMDQ_CONS (index, wrap bit, ERR in [30:24])', uintOption('--cons', U32))
    .option(
      '--log2size <n>',
      'log2 of the number of ring entries (CMDQ_BASE.LOG2SIZE)',
      uintOption('--log2size', { max: 19 }),
    )
    .option('--json', 'print one JSON document (every finding and the re-planning table, streamed as found)')
    .option('--ndjson', 'print one JSON finding per line, then a summary line')
    .option(
      '--max-entries <n>',
      'refuse a dump (--file or hex words) of more than n entries (size suffixes accepted, e.g. 1M)',
      uintOption('--max-entries'),
      DEFAULT_MAX_ENTRIES,
    )
    .option('--lax', 'report set RES0 bits as warnings instead of illegal entries')
    .option(
      '--queue <kind>',
      'non-secure or secure',
      choiceOption('--queue', ['non-secure', 'secure'] as const),
      'non-secure',
    )
    .option('--features <list>', 'SMMU features, e.g. "no-stage2,no-ats,ds"')
    .option('--idr0 <value>', 'SMMU_IDR0 value', uintOption('--idr0', U32))
    .option('--idr1 <value>', 'SMMU_IDR1 value (CMDQS bounds --log2size)', uintOption('--idr1', U32))
    .option('--idr3 <value>', 'SMMU_IDR3 value', uintOption('--idr3', U32))
    .option('--idr5 <value>', 'SMMU_IDR5 value (DS; OAS gives the IPA size)', uintOption('--idr5', U32))
    .option(
      '--nested-vmids <list>',
      'VMIDs used under nesting: "1,2", "none", or "auto" (VMIDs in both stage-2 and NH_* TLBIs)',
      'auto',
    )
    .option(
      '--max-batch <n>',
      'report batches with more than n commands before a CMD_SYNC (MMU-700 erratum 2812531: 63)',
      uintOption('--max-batch', { min: 1 }),
    )
    .option(
      '--lints',
      'also report performance lints (CMD_SYNC with nothing to complete, 512+ per-page TLBIs, whole-tag flush for a small range); they keep exit 0',
    )
    .option('--strict', 'performance lints count as findings (exit 1); implies --lints')
    .option(
      '--qemu-ring <path>',
      "with --qemu-trace: the same run's ring dump (and --regs); compare QEMU's decode of each range TLBI with what its words must invalidate",
    )
    .option(
      '--ipa-bits <n>',
      'IPA size for S2_IPA ranges (default: from IDR5.OAS, else 52)',
      uintOption('--ipa-bits', { min: 16, max: 52 }),
    )
    .option(
      '--va-bits <n>',
      'VA size: report ranges that start below 2^n and run past it',
      uintOption('--va-bits', { min: 16, max: 52 }),
    )
    .option(
      '--page-size <size>',
      'page size assumed for a lone TG=0 TLBI when re-planning',
      uintOption('--page-size', { oneOf: [4096, 16384, 65536], names: ['4K', '16K', '64K'] }),
      4096,
    )
    .option('--no-replan', 'skip re-planning with the engine')
    .option('--max-findings <n>', 'findings printed in full in the text report', uintOption('--max-findings'), 20)
    .option('--no-progress', 'no progress bar')
    .option(
      '--format <name>',
      `format of text given as arguments or on stdin: ${TEXT_FORMAT_CHOICES.join(', ')} (see decode --help)`,
      choiceOption('--format', TEXT_FORMAT_CHOICES),
      'auto',
    )
    .action(
      action(async (words: string[], o: AuditOpts) => {
        if (o.capture !== undefined) {
          if (words.length > 0 || o.file !== undefined || o.qemuTrace !== undefined || o.sample === true)
            throw new UsageError('--capture: give no other input (hex words, --file, --qemu-trace, --sample)');
          if (o.ndjson) throw new UsageError('--ndjson: not available with --capture (use --json)');
          return auditCaptureDir(o.capture, {
            json: o.json ?? false,
            maxFindings: o.maxFindings ?? 20,
            progress: false,
          });
        }
        const sources = [words.length > 0, o.file !== undefined, o.qemuTrace !== undefined, o.sample === true];
        if (sources.filter(Boolean).length > 1)
          throw new UsageError('give one input: hex words, --file, --qemu-trace or --sample');
        if (o.sample) {
          if (o.regs !== undefined) throw new UsageError('--sample: the sample brings its own registers; drop --regs');
          o.file = sampleFile('cmdq.bin.gz');
          o.regs = sampleFile('cmdq.json');
        }
        const regs = o.regs ? readRegs(o.regs) : {};
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
        // From the registers file: CR2.E2H (the nh-under-e2h rule) and an Arm MMU-700 IIDR (erratum 2812531:
        // a CMD_SYNC at least every 64 commands, so --max-batch 63 unless given).
        const e2h = regs.CR2 !== undefined && (regs.CR2 & 1) === 1;
        if (o.maxBatch === undefined && regs.IIDR !== undefined && isMmu700(regs.IIDR)) {
          o.maxBatch = 63;
          warn('audit: SMMU_IIDR names an Arm MMU-700 (erratum 2812531): --max-batch 63');
        }
        if (o.qemuRing !== undefined) {
          if (o.qemuTrace === undefined) throw new UsageError("--qemu-ring: give the same run's --qemu-trace too");
          return runQemuConformance(o.qemuTrace, o.qemuRing, ringRegisters(o, regs), checker, o.json ?? false);
        }
        refuseRingOptions(o);
        const oas = idr5 !== undefined ? OAS_BITS[idr5 & 7] : undefined;
        return runAudit(
          words,
          o,
          regs,
          checker,
          {
            replan: o.replan,
            ...(o.maxBatch !== undefined ? { maxBatch: o.maxBatch } : {}),
            ...(e2h ? { e2h } : {}),
            ...(o.lints === true || o.strict === true ? { lints: true } : {}),
            ...((o.ipaBits ?? oas) !== undefined ? { ipaBits: o.ipaBits ?? oas } : {}),
            ...(o.vaBits !== undefined ? { vaBits: o.vaBits } : {}),
            ...(o.pageSize !== undefined ? { pageSize: o.pageSize } : {}),
          },
          idr1,
        );
      }),
    );
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
