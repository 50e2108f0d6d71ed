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

export function registerDecode(program: Program): void {
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
    .option('--idr0 <value>', 'SMMU_IDR0 value to take features from', uintOption('--idr0'))
    .option('--idr3 <value>', 'SMMU_IDR3 value', uintOption('--idr3'))
    .option('--idr5 <value>', 'SMMU_IDR5 value', uintOption('--idr5'))
    .option('--errors-only', 'print only illegal entries (human output)')
    .option('--sample', 'decode a small built-in queue captured from a real Linux guest')
    .action(
      action(async (words: string[], o: DecodeOpts) => {
        const sources = [words.length > 0, o.file !== undefined, o.sample === true].filter(Boolean).length;
        if (sources > 1) throw new UsageError('give the entries one way: words, --file or --sample');
        const checker = buildChecker(o);
        const info: InputInfo = { format: o.sample ? 'hex64' : null, notes: [] };
        const chunks = o.sample
          ? (async function* () {
              yield parseHexPairs(BUILTIN_SAMPLE.map(([, w0, w1]) => `${w0} ${w1}`).join('\n'), 'sample');
            })()
          : readEntries(words, o.file, o.maxEntries, o.format, info);
        let n = 0;
        let illegal = 0;
        const doc = o.json ? new JsonDocWriter((s) => output.write(s)) : null;
        if (doc) {
          doc.field('schemaVersion', SCHEMA_VERSION);
          doc.openArray('entries');
        }
        for await (const u32 of chunks) {
          const m = u32.length >>> 2;
          for (let k = 0; k < m; k++, n++) {
            const h: [number, number, number, number] = [
              u32[k * 4]!,
              u32[k * 4 + 1]!,
              u32[k * 4 + 2]!,
              u32[k * 4 + 3]!,
            ];
            const r: DecodeResult = decodeHalves(h[0], h[1], h[2], h[3], checker);
            if (!r.ok) {
              illegal++;
              output.status = EXIT_CHECK_FAILED;
            }
            if (doc) doc.item(decodedEntryToJson(n, r, h));
            else if (!o.errorsOnly || !r.ok) out(formatDecoded(n, r, h));
            if ((k & 1023) === 1023) await output.drain();
          }
          await output.drain();
        }
        if (doc) {
          doc.closeArray();
          doc.field('input', {
            format: info.format,
            ...(info.format !== null ? { description: describeFormat(info.format) } : {}),
            notes: info.notes,
          });
          doc.field('summary', { entries: n, illegal });
          doc.end();
        } else {
          if (info.format !== null) warn(`format: ${describeFormat(info.format)}`);
          for (const note of info.notes) warn(`note: ${note}`);
          warn(`${n} entries, ${illegal} illegal`);
        }
        return illegal > 0 ? EXIT_CHECK_FAILED : EXIT_OK;
      }),
    );
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
      'Output: a closed pipe (| head) stops the run quietly; any other write error is exit 2.',
  );
  withExamples(
    cmd,
    'smmuv3-tlbi decode --sample',
    'smmuv3-tlbi decode 0x0001000000000012 0x00000000ffff6701',
    'smmuv3-tlbi decode --file samples/pasted/gdb-x8wx.txt --json',
    'smmuv3-tlbi decode - < samples/pasted/dmesg-illegal.txt  # exits 1: the command the SMMU refused',
    'smmuv3-tlbi decode --format hex32 0x46 0x0 0x0 0x0',
    'echo "0x0000000000000018 0x0" | smmuv3-tlbi decode --queue secure',
  );
}
