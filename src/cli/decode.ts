/**
 * `smmuv3-tlbi decode`: read command-queue entries (pasted text in any of the formats of src/textdump, or a binary
 * dump) and print them.
 */
import { closeSync, openSync, readSync } from 'node:fs';
import type { Command as Program } from 'commander';
import {
  CommandChecker,
  decodeHalves,
  decodedEntryToJson,
  featuresFromIdRegs,
  type DecodeResult,
  type QueueKind,
  type SmmuFeatures,
} from '../cmdq/index.js';
import { parseFeatureList } from './features.js';
import { formatDecoded } from '../cmdq/format.js';
import {
  EXIT_CHECK_FAILED,
  EXIT_OK,
  UsageError,
  action,
  choiceOption,
  SCHEMA_VERSION,
  out,
  uintOption,
  U32,
  warn,
  withExamples,
} from './common.js';
import { parseHexPairs } from '../cmdq/hexwords.js';
import {
  DEFAULT_MAX_ENTRIES,
  EntryAligner,
  TextLines,
  entryLimit,
  inputChunks,
  openInput,
  type InputLimit,
} from './input.js';
import { JsonDocWriter, output } from './output.js';
import {
  type RingRegs,
  type RingWindow,
  type ZeroRun,
  ZeroRuns,
  formatZeroRun,
  inWindow,
  ringWindow,
} from './decode-ring.js';
import { BUILTIN_SAMPLE } from '../cmdq/sample.js';
import {
  TEXT_FORMAT_CHOICES,
  TEXT_FORMAT_NAMES,
  TextDumpReader,
  looksBinary,
  parseTextDump,
  type TextFormat,
} from '../textdump/index.js';

interface DecodeOpts {
  file?: string;
  json?: boolean;
  lax?: boolean;
  queue: QueueKind;
  features?: string;
  idr0?: number;
  idr3?: number;
  idr5?: number;
  errorsOnly?: boolean;
  sample?: boolean;
  maxEntries: number;
  format: DecodeFormat;
  regs?: string;
  prod?: number;
  cons?: number;
  log2size?: number;
}

export function buildChecker(o: {
  lax?: boolean;
  queue?: QueueKind;
  features?: string;
  idr0?: number;
  idr3?: number;
  idr5?: number;
}): CommandChecker {
  let feats: SmmuFeatures = featuresFromIdRegs({
    ...(o.idr0 !== undefined ? { idr0: o.idr0 } : {}),
    ...(o.idr3 !== undefined ? { idr3: o.idr3 } : {}),
    ...(o.idr5 !== undefined ? { idr5: o.idr5 } : {}),
  });
  if (o.features) feats = parseFeatureList(o.features, feats);
  return new CommandChecker({ features: feats, queue: o.queue ?? 'non-secure', lax: o.lax ?? false });
}

/** What --format accepts: a text format, `binary` (a raw dump), or `auto`. */
export const DECODE_FORMATS = [...TEXT_FORMAT_CHOICES, 'binary'] as const;
export type DecodeFormat = (typeof DECODE_FORMATS)[number];

/** What was read: the format (a TextFormat, or `binary`), and notes about the input. */
export interface InputInfo {
  format: TextFormat | 'binary' | null;
  readonly notes: string[];
  /** The size in bytes of a binary dump, when known before it is read (a regular file, not gzip). */
  bytes?: number;
}

/** A line naming a format, for the human output. */
export function describeFormat(f: TextFormat | 'binary'): string {
  return f === 'binary' ? 'binary: a raw little-endian dump, 16 bytes per entry' : `${f}: ${TEXT_FORMAT_NAMES[f]}`;
}

/** The first bytes of a regular file (to tell a binary dump from text before reading it). */
function fileHead(path: string): Uint8Array {
  const b = new Uint8Array(4096);
  const fd = openSync(path, 'r');
  try {
    return b.subarray(0, readSync(fd, b, 0, b.length, 0));
  } finally {
    closeSync(fd);
  }
}

function notMultipleOf16(name: string, bytes: number): UsageError {
  return new UsageError(`${name}: ${bytes} bytes is not a multiple of 16 (one entry is 16 bytes)`);
}

/**
 * The entries to decode, a chunk at a time (four halves per entry): text given as arguments, or an input (--file,
 * `-` or stdin) that is a binary dump or text — told apart by its first bytes unless --format says — read as a
 * stream, gzip inflated, and refused past `maxEntries` entries. `info` receives the format and notes.
 */
export async function* readEntries(
  words: string[],
  file: string | undefined,
  maxEntries: number = DEFAULT_MAX_ENTRIES,
  choice: DecodeFormat = 'auto',
  info: InputInfo = { format: null, notes: [] },
): AsyncGenerator<Uint32Array> {
  const limit = entryLimit(maxEntries);
  if (words.length > 0 && !(words.length === 1 && words[0] === '-')) {
    if (choice === 'binary') throw new UsageError('--format binary: give the dump with --file or on stdin');
    const d = parseTextDump(words.join(' '), 'arguments', choice);
    if (d.halves.length / 4 > maxEntries)
      throw new UsageError(`arguments: more than ${maxEntries} entries: ${limit.why}`);
    info.format = d.format;
    info.notes.push(...d.notes);
    yield d.halves;
    return;
  }
  const src = openInput(file ?? '-', 'hex words or --file');
  let binary: boolean | null = choice === 'binary' ? true : choice === 'auto' ? null : false;
  if (binary === null && src.regular && !src.gzip && src.path !== null) binary = looksBinary(fileHead(src.path));
  if (binary === true && src.bytes !== null && !src.gzip && src.bytes % 16 !== 0)
    throw notMultipleOf16(src.name, src.bytes);
  // The byte limit applies to a binary dump; text is limited by the entries it holds.
  const byteLimit: InputLimit = {
    get bytes() {
      return binary === true ? limit.bytes : Infinity;
    },
    why: limit.why,
  };
  const al = new EntryAligner();
  const CHUNK_ENTRIES = 4096;
  let buf = new Uint32Array(CHUNK_ENTRIES * 4);
  let n = 0;
  const ready: Uint32Array[] = [];
  const reader = new TextDumpReader(src.name, choice === 'binary' ? 'auto' : choice, (a, b, c, d) => {
    if (reader.entries > maxEntries) throw new UsageError(`${src.name}: more than ${maxEntries} entries: ${limit.why}`);
    buf.set([a, b, c, d], n * 4);
    if (++n === CHUNK_ENTRIES) {
      ready.push(buf);
      buf = new Uint32Array(CHUNK_ENTRIES * 4);
      n = 0;
    }
  });
  const lines = new TextLines(src.name, (line, no) => reader.line(line, no));
  for await (const c of inputChunks(src, byteLimit)) {
    if (binary === null) binary = looksBinary(c);
    if (binary) {
      info.format = 'binary';
      if (src.bytes !== null && !src.gzip) info.bytes = src.bytes;
      const u = al.push(c);
      if (al.bytes > limit.bytes) throw new UsageError(`${src.name}: more than ${limit.bytes} bytes: ${limit.why}`);
      if (u.length > 0) yield u;
      continue;
    }
    lines.pushBytes(c);
    while (ready.length > 0) yield ready.shift()!;
  }
  if (binary === true) {
    if (al.tail !== 0) throw notMultipleOf16(src.name, al.bytes);
    return;
  }
  lines.end();
  reader.end();
  info.format = reader.format;
  info.notes.push(...reader.notes);
  while (ready.length > 0) yield ready.shift()!;
  if (n > 0) yield buf.subarray(0, n * 4);
}

/** The stderr line saying which slots the registers leave to judge. */
function describeWindow(w: RingWindow): string {
  const regs = `CMDQ_CONS 0x${w.cons.toString(16)}, CMDQ_PROD 0x${w.prod.toString(16)}`;
  const err = w.err === 0 ? '' : `; CMDQ_CONS.ERR = ${w.err}: the SMMU stopped on slot ${w.first}`;
  if (w.pending === 0) return `window [CONS, PROD): empty (${regs}): every slot was consumed, none is judged${err}`;
  const last = (w.first + w.pending - 1) & (w.size - 1);
  return `window [CONS, PROD): slots ${w.first}–${last}, ${w.pending} of ${w.size} still to consume (${regs}), judged; the other slots are not${err}`;
}

function hex(v: number): string {
  return `0x${v.toString(16)}`;
}

/** An entry outside the window: what it decodes to, without a verdict (no `error`; its opcode says what it is). */
function notJudgedJson(e: Record<string, unknown>): Record<string, unknown> {
  const rest = { ...e };
  delete rest.error;
  return rest;
}

/** The human line of an entry outside the window: decoded when it is a command, never called ILLEGAL. */
function formatNotJudged(index: number, r: DecodeResult, h: [number, number, number, number]): string {
  if (r.ok) return `${formatDecoded(index, r, h)}  (not judged: outside [CONS, PROD))`;
  const line = formatDecoded(index, r, h);
  const words = line.slice(0, line.indexOf('ILLEGAL'));
  return `${words}?               opcode 0x${r.opcode.toString(16).padStart(2, '0')} (not judged: outside [CONS, PROD))`;
}

/** Phase 1: the ring registers from --regs and --prod/--cons/--log2size (--regs also fills unset --idr*). */
async function ringRegs(o: DecodeOpts): Promise<{ regs: RingRegs; haveRegs: boolean }> {
  const regs: RingRegs = {};
  if (o.regs !== undefined) {
    const r = (await import('./audit.js')).readRegs(o.regs);
    const idr = (k: 'idr0' | 'idr3' | 'idr5', key: string): void => {
      if (o[k] === undefined && r[key] !== undefined) o[k] = r[key];
    };
    idr('idr0', 'IDR0');
    idr('idr3', 'IDR3');
    idr('idr5', 'IDR5');
    const log2size = r.LOG2SIZE;
    if (r.CMDQ_PROD !== undefined) regs.prod = r.CMDQ_PROD;
    if (r.CMDQ_CONS !== undefined) regs.cons = r.CMDQ_CONS;
    if (log2size !== undefined) regs.log2size = log2size;
  }
  if (o.prod !== undefined) regs.prod = o.prod;
  if (o.cons !== undefined) regs.cons = o.cons;
  if (o.log2size !== undefined) regs.log2size = o.log2size;
  const haveRegs = regs.prod !== undefined || regs.cons !== undefined || regs.log2size !== undefined;
  return { regs, haveRegs };
}

/** Phase 2, per entry, and phase 3, the end: the counters, the ring window, the JSON document once started. */
class DecodeRun {
  n = 0;
  illegal = 0;
  commands = 0;
  notJudged = 0;
  window: RingWindow | null = null;
  // The document starts with its first entry (or at the end), so that a dump refused before then leaves
  // stdout empty.
  private doc: JsonDocWriter | null = null;
  private readonly empty: ZeroRun[] = [];
  private readonly zeros: ZeroRuns;

  constructor(
    private readonly o: DecodeOpts,
    private readonly info: InputInfo,
    private readonly checker: CommandChecker,
  ) {
    this.zeros = new ZeroRuns((r) => {
      if (o.json) this.empty.push(r);
      else if (!o.errorsOnly) out(formatZeroRun(r));
    });
  }

  private startDoc(): JsonDocWriter {
    if (this.doc === null) {
      const doc = new JsonDocWriter((s) => output.write(s));
      this.doc = doc;
      output.closer = (f) => doc.endWithError(f);
      this.doc.field('schemaVersion', SCHEMA_VERSION);
      this.doc.openArray('entries');
    }
    return this.doc;
  }

  /** The next entry; false when it was only counted in a run of zero slots. */
  entry(h: [number, number, number, number]): boolean {
    const { o, info, window } = this;
    const n = this.n++;
    const zero = (h[0] | h[1] | h[2] | h[3]) === 0;
    if (!zero) this.commands++;
    // Judged: every entry of the window, or without registers every entry but a raw dump's zero slots.
    const judged = window !== null ? n < window.size && inWindow(window, n) : !(zero && info.format === 'binary');
    if (zero && !judged) {
      this.zeros.add(n);
      return false;
    }
    this.zeros.flush();
    const r: DecodeResult = decodeHalves(h[0], h[1], h[2], h[3], this.checker);
    if (!judged) {
      this.notJudged++;
      if (o.json) this.startDoc().item({ ...notJudgedJson(decodedEntryToJson(n, r, h)), judged: false });
      else if (!o.errorsOnly) out(formatNotJudged(n, r, h));
    } else {
      if (!r.ok) {
        this.illegal++;
        output.status = EXIT_CHECK_FAILED;
      }
      if (o.json) this.startDoc().item(decodedEntryToJson(n, r, h));
      else if (!o.errorsOnly || !r.ok) out(formatDecoded(n, r, h));
    }
    return true;
  }

  /** After the last entry: refuse a dump that does not fit the ring or holds no command; the summary. */
  finish(): number {
    const { o, info, window, n } = this;
    this.zeros.flush();
    if (window !== null && n !== window.size)
      throw new UsageError(
        `--log2size: the ring holds 2^${window.log2size} = ${window.size} entries but the dump has ${n}`,
      );
    if (info.format === 'binary' && this.commands === 0)
      throw new UsageError(`${o.file ?? 'stdin'}: the dump holds no command (all ${n} entries are zero)`);
    if (o.json) this.jsonEnd();
    else this.textEnd();
    return this.illegal > 0 ? EXIT_CHECK_FAILED : EXIT_OK;
  }

  private jsonEnd(): void {
    const { info, window, zeros } = this;
    const d = this.startDoc();
    d.closeArray();
    d.field('input', {
      format: info.format,
      ...(info.format !== null ? { description: describeFormat(info.format) } : {}),
      notes: info.notes,
    });
    if (this.empty.length > 0 || zeros.slots > 0) d.field('empty', this.empty);
    if (window !== null)
      d.field('window', {
        log2size: window.log2size,
        prod: hex(window.prod),
        cons: hex(window.cons),
        first: window.first,
        pending: window.pending,
        err: window.err,
      });
    d.field('summary', {
      entries: this.n,
      illegal: this.illegal,
      ...(zeros.slots > 0 ? { empty: zeros.slots } : {}),
      ...(window !== null ? { notJudged: this.notJudged } : {}),
    });
    d.end();
    output.closer = null;
  }

  private textEnd(): void {
    const { info, window, zeros } = this;
    if (info.format !== null) warn(`format: ${describeFormat(info.format)}`);
    for (const note of info.notes) warn(`note: ${note}`);
    if (window !== null) warn(describeWindow(window));
    const parts = [`${this.n} entries`, `${this.illegal} illegal`];
    if (zeros.slots > 0) parts.push(`${zeros.slots} empty (zero) in ${zeros.runs} run${zeros.runs === 1 ? '' : 's'}`);
    if (window !== null) parts.push(`${this.notJudged} written entries not judged (outside the window)`);
    warn(parts.join(', '));
  }
}

/** The `decode` action: the registers, then every entry of the input as it streams in, then the summary. */
async function runDecode(words: string[], o: DecodeOpts): Promise<number> {
  const sources = [words.length > 0, o.file !== undefined, o.sample === true].filter(Boolean).length;
  if (sources > 1) throw new UsageError('give the entries one way: words, --file or --sample');
  const { regs, haveRegs } = await ringRegs(o);
  if (haveRegs && o.sample)
    throw new UsageError('--sample: the sample is a list of entries, not a ring; drop the registers');
  const checker = buildChecker(o);
  const info: InputInfo = { format: o.sample ? 'hex64' : null, notes: [] };
  const chunks = o.sample
    ? (async function* () {
        yield parseHexPairs(BUILTIN_SAMPLE.map(([, w0, w1]) => `${w0} ${w1}`).join('\n'), 'sample');
      })()
    : readEntries(words, o.file, o.maxEntries, o.format, info);
  const run = new DecodeRun(o, info, checker);
  for await (const u32 of chunks) {
    if (haveRegs && run.window === null)
      run.window = ringWindow(regs, info.bytes === undefined ? undefined : info.bytes / 16);
    const m = u32.length >>> 2;
    for (let k = 0; k < m; k++) {
      const h: [number, number, number, number] = [u32[k * 4]!, u32[k * 4 + 1]!, u32[k * 4 + 2]!, u32[k * 4 + 3]!];
      if (run.entry(h) && (k & 1023) === 1023) await output.drain();
    }
    await output.drain();
  }
  return run.finish();
}

/** The command and its options. */
function decodeCommand(program: Program): Program {
  const cmd = program
    .command('decode')
    .description(
      'Decode SMMUv3 command-queue entries and check each against the architecture. Input: text as arguments, on ' +
        'stdin (- or nothing) or in a file (--file) — 64-bit hex words (w0 w1), 32-bit hex words (four per entry, ' +
        'low word first), the kernel log ("skipping command in error state:" and its 0x words), gdb x/gx or x/wx ' +
        'output, crash rd -64 or rd -32 output — or a raw little-endian queue dump (--file or stdin, told from text ' +
        'by its bytes). The format is detected and named (--format forces one). Exit 1 when any entry is illegal.',
    )
    .argument('[words...]', 'the entries as text, e.g. 64-bit hex words, two per entry: 0x<w0> 0x<w1> (- for stdin)')
    .option(
      '-f, --file <path>',
      'a file holding text or a raw dump (a multiple of 16 bytes; gzip accepted; - for stdin)',
    )
    .option(
      '--format <name>',
      `the input's format: ${DECODE_FORMATS.join(', ')} (gdb and crash: either word size)`,
      choiceOption('--format', DECODE_FORMATS),
      'auto',
    )
    .option(
      '--max-entries <n>',
      'refuse a dump (binary or hex words) of more than n entries (size suffixes accepted, e.g. 1M)',
      uintOption('--max-entries'),
      DEFAULT_MAX_ENTRIES,
    )
    .option('--json', 'print one JSON document')
    .option('--lax', 'report set RES0 bits as warnings instead of errors')
    .option(
      '--queue <kind>',
      'non-secure or secure',
      choiceOption('--queue', ['non-secure', 'secure'] as const),
      'non-secure',
    )
    .option(
      '--features <list>',
      'SMMU features over the default (or over --idr*): stage1, stage2, ats, pri, hyp, ril, mpam, ds, asid16, ' +
        'vmid16 (prefix no- to disable), stall-model=0|1|2, atc-size-above-52=illegal|unknown (ATC_INV Size > 52: ' +
        'CERROR_ILL, the default, or an UNKNOWN span); e.g. "no-stage2,mpam"',
    )
    .option('--idr0 <value>', 'SMMU_IDR0 value to take features from', uintOption('--idr0', U32))
    .option('--idr3 <value>', 'SMMU_IDR3 value', uintOption('--idr3', U32))
    .option('--idr5 <value>', 'SMMU_IDR5 value', uintOption('--idr5', U32))
    .option('--errors-only', 'print only illegal entries (human output)')
    .option('--sample', 'decode a small built-in queue captured from a real Linux guest')
    .option(
      '--regs <json|path>',
      'queue registers as audit takes them (CMDQ_PROD, CMDQ_CONS, CMDQ_BASE or log2size, IDR0/3/5): inline JSON or a file',
    )
    .option(
      '--prod <value>',
      'CMDQ_PROD (index and wrap bit): with --cons, judge only the slots in [CONS, PROD)',
      uintOption('--prod'),
    )
    .option('--cons <value>', 'CMDQ_CONS (index, wrap bit, ERR in [30:24])', uintOption('--cons'))
    .option(
      '--log2size <n>',
      'log2 of the number of ring entries (default: from the dump size)',
      uintOption('--log2size'),
    );
  return cmd;
}

function addDecodeHelp(cmd: Program): void {
  cmd.addHelpText(
    'after',
    '\nFormats (--format; detected when not given, and named in the output):\n' +
      '  hex64     64-bit hex words, two per entry:   0x0001000000000012 0x00000000ffff6701\n' +
      '  hex32     32-bit hex words, low word first:  0x00000012 0x00010000 0xffff6701 0x00000000\n' +
      '  dmesg     the kernel log: "CMDQ error (cons 0x…): …", "skipping command in error state:", then\n' +
      '            two lines "\\t0x%016llx" (timestamps, device prefixes, journalctl and colour are fine)\n' +
      '  gdb-64    gdb x/2gx ADDR:  0xffff000043a800d0:\t0x0001000000000012\t0x00000000ffff6701\n' +
      '  gdb-32    gdb x/4wx ADDR:  0xffff000043a800d0 <sym+208>:\t0x00000012\t0x00010000\t…\n' +
      '  crash-64  crash rd -64:    ffff000043a800d0:  0001000000000012 00000000ffff6701   ........\n' +
      '  crash-32  crash rd -32:    ffff000043a800d0:  00000012 00010000 ffff6701 00000000   ........\n' +
      '  binary    a raw little-endian dump, 16 bytes per entry (told from text by its bytes)\n' +
      'gdb and crash take either word size. Plain words: a word written with more than 8 hex digits makes them ' +
      '64-bit words; words all of 8 digits are 32-bit words; shorter words are 64-bit words when their count ' +
      'leaves half an entry as 32-bit words, else the input is refused (exit 2) until --format hex64 or hex32 ' +
      'says which: a 32-bit word is never read as a 64-bit one.\n' +
      '\nInput size: the input is read as a stream; a dump (binary or text) of more than --max-entries entries ' +
      '(default 2^24 = 16M, a 256 MiB dump) is refused, as is a gzip file once it inflates past that (exit 2).\n' +
      'Output: a closed pipe (| head) stops the run quietly; any other write error is exit 2.\n' +
      '\nRings: with the queue registers (--prod/--cons/--log2size or --regs) only the slots in [CONS, PROD) are ' +
      'judged (a zero entry there is ILLEGAL); the others are printed without a verdict. Without registers a raw ' +
      'dump\'s runs of zero slots print as one line ("slots 17797–65535: empty (zero)"), are counted apart and never ' +
      'make the exit status 1; a dump with no non-zero entry is refused (exit 2: the dump holds no command). Zero ' +
      'entries given as text (hex words, gdb, crash, the kernel log) are judged: ILLEGAL.',
  );
}

export function registerDecode(program: Program): void {
  const cmd = decodeCommand(program);
  cmd.action(action(runDecode));
  addDecodeHelp(cmd);
  withExamples(
    cmd,
    'smmuv3-tlbi decode --sample',
    'smmuv3-tlbi decode 0x0001000000000012 0x00000000ffff6701',
    'smmuv3-tlbi decode --file samples/pasted/gdb-x8wx.txt --json',
    'smmuv3-tlbi decode - < samples/pasted/dmesg-illegal.txt  # exits 1: the command the SMMU refused',
    'smmuv3-tlbi decode --file samples/linux-6.1-qemu-7.2-strict/cmdq.bin.gz --idr0 0xd40101a --idr3 0x1404 --errors-only',
    `smmuv3-tlbi decode --file samples/linux-6.1-qemu-7.2-strict/cmdq.bin.gz --regs '{"CMDQ_PROD":"0x4585","CMDQ_CONS":"0x4580","log2size":16}' --errors-only`,
    'smmuv3-tlbi decode --format hex32 0x46 0x0 0x0 0x0',
    'echo "0x0000000000000018 0x0" | smmuv3-tlbi decode --queue secure',
  );
}
