/**
 * Reading `audit`'s inputs as streams, one phase per kind of input: a QEMU trace, a ring dump read whole with
 * its registers, a dump without registers (every written slot), hex words given as arguments, text on stdin.
 * Each phase feeds an AuditSession (two passes over a regular file when the nested VMIDs are inferred) and
 * returns its report; memory is bounded by the session's window and the parser's state, not by the input.
 */
import cliProgress from 'cli-progress';
import {
  AuditInputError,
  AuditSession,
  AuditStream,
  QemuTraceParser,
  VmidScan,
  WrittenSlotReader,
  auditStream,
  readRing,
  type AuditReport,
  type EntrySink,
  type RingRegisters,
  type SessionOptions,
  type TraceStats,
} from '../audit/index.js';
import type { CommandChecker } from '../cmdq/index.js';
import { TEXT_FORMAT_NAMES } from '../textdump/index.js';
import type { AuditOpts } from './audit-options.js';
import { UsageError } from './common.js';
import { readEntries, type InputInfo } from './decode.js';
import { EntryAligner, TextLines, inputChunks, openInput, type InputLimit, type InputSource } from './input.js';
import { output } from './output.js';

/** Inputs above this size get a progress bar (when stderr is a terminal). */
export const PROGRESS_BYTES = 4 << 20;

export class Progress {
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
export type Tick = (bytes: number) => Promise<void>;

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

/** What every input phase needs: the options, the session's options, the nested VMIDs asked for, the limits. */
export interface AuditRun {
  readonly o: AuditOpts;
  readonly regs: Record<string, number>;
  readonly checker: CommandChecker;
  readonly idr1: number | undefined;
  readonly session: SessionOptions;
  /** --nested-vmids as given; undefined for `auto`. */
  readonly nested: number[] | undefined;
  readonly maxEntries: number;
  /** The --max-entries limit of a dump. */
  readonly dumpLimit: InputLimit;
  /** A tick for one pass over `src`: progress by bytes (when the size is known) and backpressure. */
  readonly ticker: (src: InputSource | null, phase: string) => Tick;
}

/** The session's options with the nested VMIDs of `list` (inferred when none were given). */
function withNested(run: AuditRun, list: number[] | undefined): SessionOptions {
  return {
    ...run.session,
    ...(list !== undefined ? { nestedVmids: list, nestedInferred: run.nested === undefined } : {}),
  };
}

/** A QEMU trace: a byte search (and a parse if needed) for nested VMIDs, then the audit pass. */
export async function auditTrace(run: AuditRun, path: string): Promise<AuditReport> {
  const src = openInput(path, '--qemu-trace');
  let list = run.nested;
  if (list === undefined && src.regular) {
    if (await traceMayNest(src, run.ticker(src, 'scan'))) {
      const scan = new VmidScan(run.checker);
      await feedTrace(src, scan, run.ticker(src, 'scan'));
      list = scan.nested;
    } else list = [];
  }
  const s = new AuditSession('qemu-trace', withNested(run, list));
  const trace = await feedTrace(src, s, run.ticker(src, 'audit'));
  return s.end({ trace });
}

/** The ring registers of a dump (options over the registers file), checked against IDR1.CMDQS and the largest ring. */
function dumpRegisters(run: AuditRun): { rr: RingRegisters; log2size: number | undefined } {
  const { o, regs, idr1 } = run;
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
  return { rr, log2size };
}

/**
 * A ring dump read whole (with registers, or for --qemu-ring): the ring's size — 2^log2size entries, or the
 * largest ring, 2^19 — caps what is read, or the --max-entries limit when that is smaller.
 */
export async function readRingBytes(
  src: InputSource,
  log2size: number | undefined,
  dumpLimit: InputLimit,
  maxEntries: number,
): Promise<Uint8Array> {
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
  return bytes;
}

/** A dump with registers: the ring is read whole (at most 2^19 entries, 8 MiB); its size caps what is read. */
async function auditWholeRing(
  run: AuditRun,
  src: InputSource,
  rr: RingRegisters,
  log2size: number | undefined,
): Promise<AuditReport> {
  const bytes = await readRingBytes(src, log2size, run.dumpLimit, run.maxEntries);
  const stream = readRing(bytes, rr);
  return auditStream(stream, {
    ...run.session,
    ...(run.nested !== undefined ? { nestedVmids: run.nested } : {}),
  });
}

/**
 * A dump without registers: every written slot, streamed. The ring's size (to recognise a CMD_SYNC overwritten by
 * its MSI write) is the file's size, or for a gzip file the first pass's count.
 */
async function auditWrittenSlots(run: AuditRun, src: InputSource): Promise<AuditReport> {
  let list = run.nested;
  let ringEntries = src.regular && !src.gzip ? src.bytes! / 16 : null;
  if (src.regular && (list === undefined || src.gzip)) {
    const scan = new VmidScan(run.checker);
    const n = await scanDump(src, scan, run.dumpLimit, run.ticker(src, 'scan'));
    list ??= scan.nested;
    ringEntries = n;
  }
  const s = new AuditSession('dump', withNested(run, list));
  await feedDump(src, s, ringEntries, run.dumpLimit, run.ticker(src, 'audit'));
  return s.end();
}

/** A raw queue dump (--file): read whole with registers, else streamed slot by slot. */
export async function auditDump(run: AuditRun, path: string): Promise<AuditReport> {
  const src = openInput(path, '--file');
  const { rr, log2size } = dumpRegisters(run);
  if (src.regular && !src.gzip && src.bytes! % 16 !== 0) throw notWholeEntries(src.bytes!);
  if (rr.prod !== undefined || rr.cons !== undefined || log2size !== undefined)
    return auditWholeRing(run, src, rr, log2size);
  return auditWrittenSlots(run, src);
}

/** Text given as arguments: in memory already, so checked whole (nested VMIDs inferred exactly). */
export async function auditWords(run: AuditRun, words: string[]): Promise<AuditReport> {
  const info: InputInfo = { format: null, notes: [] };
  const parts: Uint32Array[] = [];
  for await (const u of readEntries(words, undefined, run.maxEntries, run.o.format, info)) parts.push(u);
  const halves = parts.length === 1 ? parts[0]! : concatHalves(parts);
  const stream = AuditStream.fromHalves(halves);
  if (info.format !== null && info.format !== 'binary')
    stream.notes.push(`input format: ${info.format} (${TEXT_FORMAT_NAMES[info.format]})`);
  stream.notes.push(...info.notes);
  if (stream.count === 0) throw new UsageError('no entries: give hex words, --file, --qemu-trace or --sample');
  return auditStream(stream, { ...run.session, ...(run.nested !== undefined ? { nestedVmids: run.nested } : {}) });
}

/** Text on stdin: read once, so `auto` infers the nested VMIDs from a look-ahead (the session's). */
export async function auditStdin(run: AuditRun): Promise<AuditReport> {
  const info: InputInfo = { format: null, notes: [] };
  const s = new AuditSession('hex', {
    ...run.session,
    ...(run.nested !== undefined ? { nestedVmids: run.nested } : {}),
  });
  let i = 0;
  for await (const u of readEntries([], undefined, run.maxEntries, run.o.format, info)) {
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
  return s.end();
}
