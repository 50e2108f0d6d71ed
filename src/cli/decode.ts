/** `smmuv3-tlbi decode`: read command-queue entries (hex word pairs or a binary dump) and print them. */
import type { Command as Program } from 'commander';
import {
  CommandChecker,
  decodeHalves,
  decodedEntryToJson,
  featuresFromIdRegs,
  halvesFromBytes,
  type DecodeResult,
  type QueueKind,
  type SmmuFeatures,
} from '../cmdq/index.js';
import { parseFeatureList } from './features.js';
import { formatDecoded } from './format.js';
import {
  EXIT_CHECK_FAILED,
  EXIT_OK,
  UsageError,
  action,
  choiceOption,
  out,
  printJson,
  readInput,
  uintOption,
  withExamples,
} from './common.js';
import { parseHexPairs } from './hexwords.js';
import { BUILTIN_SAMPLE } from './sample.js';

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

/** Read the entries to decode: a binary dump (--file) or hex word pairs (arguments or stdin). */
export async function readEntries(words: string[], file: string | undefined): Promise<Uint32Array> {
  if (file !== undefined) {
    const buf = await readInput(file);
    if (buf.length % 16 !== 0)
      throw new UsageError(`${file}: ${buf.length} bytes is not a multiple of 16 (one entry is 16 bytes)`);
    return halvesFromBytes(new Uint8Array(buf.buffer, buf.byteOffset, buf.length)).slice();
  }
  if (words.length > 0) return parseHexPairs(words.join(' '), 'arguments');
  return parseHexPairs((await readInput(undefined)).toString('utf8'), 'stdin');
}

export function registerDecode(program: Program): void {
  const cmd = program
    .command('decode')
    .description(
      'Decode SMMUv3 command-queue entries: pairs of 64-bit hex words (w0 w1, one entry per pair) as arguments or on stdin, ' +
        'or a raw little-endian queue dump with --file. Exit 1 when any entry is illegal.',
    )
    .argument('[words...]', 'hex words, two per entry: 0x<w0> 0x<w1>')
    .option('-f, --file <path>', 'raw little-endian command-queue dump (a multiple of 16 bytes)')
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
        'vmid16 (prefix no- to disable), stall-model=0|1|2; e.g. "no-stage2,mpam"',
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
        const u32 = o.sample
          ? parseHexPairs(BUILTIN_SAMPLE.map(([, w0, w1]) => `${w0} ${w1}`).join('\n'), 'sample')
          : await readEntries(words, o.file);
        const n = u32.length / 4;
        let illegal = 0;
        const json: Record<string, unknown>[] = [];
        for (let s = 0; s < n; s++) {
          const h: [number, number, number, number] = [u32[s * 4]!, u32[s * 4 + 1]!, u32[s * 4 + 2]!, u32[s * 4 + 3]!];
          const r: DecodeResult = decodeHalves(h[0], h[1], h[2], h[3], checker);
          if (!r.ok) illegal++;
          if (o.json) json.push(decodedEntryToJson(s, r, h));
          else if (!o.errorsOnly || !r.ok) out(formatDecoded(s, r, h));
        }
        if (o.json) printJson({ entries: json, summary: { entries: n, illegal } });
        else process.stderr.write(`${n} entries, ${illegal} illegal\n`);
        return illegal > 0 ? EXIT_CHECK_FAILED : EXIT_OK;
      }),
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
