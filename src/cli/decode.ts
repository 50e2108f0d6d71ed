/** `smmuv3-tlbi decode`: read command-queue entries (hex word pairs or a binary dump) and print them. */
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
  withExamples,
} from './common.js';
import { HexPairReader, parseHexPairs } from '../cmdq/hexwords.js';
import { DEFAULT_MAX_ENTRIES, EntryAligner, TextLines, entryLimit, inputChunks, openInput } from './input.js';
import { JsonDocWriter, output } from './output.js';
import { BUILTIN_SAMPLE } from '../cmdq/sample.js';

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

/**
 * The entries to decode, a chunk at a time (four halves per entry): a binary dump (--file, gzip inflated) or hex
 * word pairs (arguments or stdin), read as a stream and refused past `maxEntries` entries.
 */
export async function* readEntries(
  words: string[],
  file: string | undefined,
  maxEntries: number = DEFAULT_MAX_ENTRIES,
): AsyncGenerator<Uint32Array> {
  if (file !== undefined) {
    const src = openInput(file, '--file');
    if (src.bytes !== null && !src.gzip && src.bytes % 16 !== 0)
      throw new UsageError(`${src.name}: ${src.bytes} bytes is not a multiple of 16 (one entry is 16 bytes)`);
    const al = new EntryAligner();
    for await (const c of inputChunks(src, entryLimit(maxEntries))) {
      const u = al.push(c);
      if (u.length > 0) yield u;
    }
    if (al.tail !== 0)
      throw new UsageError(`${src.name}: ${al.bytes} bytes is not a multiple of 16 (one entry is 16 bytes)`);
    return;
  }
  if (words.length > 0) {
    yield parseHexPairs(words.join(' '), 'arguments');
    return;
  }
  const src = openInput(undefined, 'hex words or --file');
  const CHUNK_ENTRIES = 4096;
  let buf = new Uint32Array(CHUNK_ENTRIES * 4);
  let n = 0;
  const ready: Uint32Array[] = [];
  const reader = new HexPairReader('stdin', (a, b, c, d) => {
    if (reader.entries >= maxEntries)
      throw new UsageError(`stdin: more than ${maxEntries} entries: ${entryLimit(maxEntries).why}`);
    buf[n * 4] = a;
    buf[n * 4 + 1] = b;
    buf[n * 4 + 2] = c;
    buf[n * 4 + 3] = d;
    if (++n === CHUNK_ENTRIES) {
      ready.push(buf);
      buf = new Uint32Array(CHUNK_ENTRIES * 4);
      n = 0;
    }
  });
  const lines = new TextLines('stdin', (line, no) => reader.line(line, no));
  for await (const c of inputChunks(src)) {
    lines.pushBytes(c);
    while (ready.length > 0) yield ready.shift()!;
  }
  lines.end();
  reader.end();
  while (ready.length > 0) yield ready.shift()!;
  if (n > 0) yield buf.subarray(0, n * 4);
}

export function registerDecode(program: Program): void {
  const cmd = program
    .command('decode')
    .description(
      'Decode SMMUv3 command-queue entries: pairs of 64-bit hex words (w0 w1, one entry per pair) as arguments or on stdin, ' +
        'or a raw little-endian queue dump with --file. Exit 1 when any entry is illegal.',
    )
    .argument('[words...]', 'hex words, two per entry: 0x<w0> 0x<w1>')
    .option(
      '-f, --file <path>',
      'raw little-endian command-queue dump (a multiple of 16 bytes, gzip accepted; - for stdin)',
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
        const chunks = o.sample
          ? (async function* () {
              yield parseHexPairs(BUILTIN_SAMPLE.map(([, w0, w1]) => `${w0} ${w1}`).join('\n'), 'sample');
            })()
          : readEntries(words, o.file, o.maxEntries);
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
          doc.field('summary', { entries: n, illegal });
          doc.end();
        } else process.stderr.write(`${n} entries, ${illegal} illegal\n`);
        return illegal > 0 ? EXIT_CHECK_FAILED : EXIT_OK;
      }),
    );
  cmd.addHelpText(
    'after',
    '\nInput size: the input is read as a stream; a dump (binary or hex words) of more than --max-entries entries ' +
      '(default 2^24 = 16M, a 256 MiB dump) is refused, as is a gzip file once it inflates past that (exit 2).\n' +
      'Output: a closed pipe (| head) stops the run quietly; any other write error is exit 2.',
  );
  withExamples(
    cmd,
    'smmuv3-tlbi decode --sample',
    'smmuv3-tlbi decode 0x0001000000000012 0x00000000ffff6701',
    'smmuv3-tlbi decode --file cmdq.bin --json',
    'echo "0x0000000000000018 0x0" | smmuv3-tlbi decode --queue secure',
    'smmuv3-tlbi decode --idr0 0xd40101a --idr3 0x1404 --file cmdq.bin --errors-only',
  );
}
