/** `smmuv3-tlbi encode`: JSON commands → hex word pairs or a binary dump. */
import { InputError, parseWord64 } from '../parse.js';
import { writeFileSync } from 'node:fs';
import type { Command as Program } from 'commander';
import { CommandBuffer, CommandEncodeError, commandFromJson, encodeCommand, wordsToJson } from '../cmdq/index.js';
import { buildChecker } from './decode.js';
import { validate as validateEntry } from '../schema/generated/encode-input.js';
import { checkAt, type Validator } from '../schema/validate.js';
import {
  EXIT_CHECK_FAILED,
  EXIT_OK,
  UsageError,
  action,
  choiceOption,
  out,
  parseJsonText,
  readInput,
  uintOption,
  U32,
  withExamples,
  warn,
} from './common.js';

/** Parse one object, an array of objects, or one object per line. */
export function parseCommandObjects(text: string, source: string): unknown[] {
  const t = text.trim();
  if (t === '') throw new UsageError(`${source}: no commands`);
  if (t.startsWith('[')) {
    const v = parseJsonText(t, source);
    if (!Array.isArray(v)) throw new UsageError(`${source}: expected an array`);
    return v;
  }
  try {
    return [parseJsonText(t, source)];
  } catch (e) {
    // Not one document (a syntax error): one per line. A duplicate key or an inexact number is reported.
    if (!(e instanceof InputError) || !/invalid JSON/.test(e.message)) throw e;
    return t
      .split(/\r?\n/)
      .map((l, i) => ({ l: l.trim(), i }))
      .filter((x) => x.l !== '')
      .map((x) => parseJsonText(x.l, `${source} line ${x.i + 1}`));
  }
}

/**
 * The `words` of an entry (as `decode --json` prints them) must be what its fields encode to: a pair that
 * contradicts the fields is refused naming the first word that differs, with both values.
 */
export function checkWords(obj: unknown, u32: Uint32Array, slot: number, where: string): void {
  const words = (obj as { words?: unknown }).words;
  if (words === undefined) return;
  if (!Array.isArray(words) || words.length !== 2 || !words.every((w) => typeof w === 'string'))
    throw new InputError(`${where}.words`, 'expected two 64-bit hex words ["0x…", "0x…"] (as decode --json prints)');
  const i = slot * 4;
  const want = wordsToJson(u32[i]!, u32[i + 1]!, u32[i + 2]!, u32[i + 3]!);
  for (let k = 0; k < 2; k++) {
    const [lo, hi] = parseWord64(words[k] as string, `${where}.words[${k}]`);
    if (lo !== u32[i + 2 * k] || hi !== u32[i + 2 * k + 1])
      throw new InputError(
        `${where}.words[${k}]`,
        `${JSON.stringify(words[k])} does not match the fields, which encode it as ${want[k]}`,
      );
  }
}

interface EncodeOpts {
  input?: string;
  out?: string;
  lax?: boolean;
  queue: 'non-secure' | 'secure';
  features?: string;
  idr0?: number;
  idr3?: number;
  idr5?: number;
}

export function registerEncode(program: Program): void {
  const cmd = program
    .command('encode')
    .description(
      'Encode commands given as JSON ({"name": …, "fields": {…}}: one object, an array, or one per line) from stdin or --input. ' +
        'Prints one "0x<w0> 0x<w1>" line per entry (so encode | decode round-trips), or writes a binary dump with --out. ' +
        'Omitted fields are 0. Exit 1 when a command would be illegal.',
    )
    .option('-i, --input <path>', 'JSON file (default: stdin)')
    .option('-o, --out <path>', 'write a raw little-endian dump instead of hex')
    .option('--lax', 'allow set RES0 bits')
    .option(
      '--queue <kind>',
      'non-secure or secure',
      choiceOption('--queue', ['non-secure', 'secure'] as const),
      'non-secure',
    )
    .option('--features <list>', 'SMMU features, as for decode')
    .option('--idr0 <value>', 'SMMU_IDR0 value', uintOption('--idr0', U32))
    .option('--idr3 <value>', 'SMMU_IDR3 value', uintOption('--idr3', U32))
    .option('--idr5 <value>', 'SMMU_IDR5 value', uintOption('--idr5', U32))
    .action(
      action(async (o: EncodeOpts) => {
        const checker = buildChecker(o);
        const source = o.input ?? 'stdin';
        const objs = parseCommandObjects((await readInput(o.input)).toString('utf8'), source);
        const buf = new CommandBuffer(objs.length);
        for (let k = 0; k < objs.length; k++) {
          // Each entry's schema (src/schema/defs/encode-input.ts), then the command it names.
          const c = commandFromJson(checkAt(validateEntry as Validator, objs[k], `${source}[${k}]`), `${source}[${k}]`);
          try {
            encodeCommand(c, buf.u32, buf.reserve(1), checker);
          } catch (e) {
            if (e instanceof CommandEncodeError) {
              warn(`error: ${source}[${k}]: ${e.message}`);
              return EXIT_CHECK_FAILED;
            }
            throw e;
          }
          checkWords(objs[k], buf.u32, buf.count, `${source}[${k}]`);
          buf.count++;
        }
        if (o.out) {
          try {
            writeFileSync(o.out, buf.bytes());
          } catch (e) {
            throw new UsageError(`cannot write ${o.out}: ${(e as Error).message}`);
          }
          warn(`${buf.count} entries written to ${o.out}`);
        } else {
          for (let s = 0; s < buf.count; s++) {
            const i = s * 4;
            const [w0, w1] = wordsToJson(buf.u32[i]!, buf.u32[i + 1]!, buf.u32[i + 2]!, buf.u32[i + 3]!);
            out(`${w0} ${w1}`);
          }
        }
        return EXIT_OK;
      }),
    );
  withExamples(
    cmd,
    `echo '{"name":"TLBI_NH_VA","fields":{"asid":1,"tg":1,"ttl":3,"leaf":1,"addr":"0xffff6000"}}' | smmuv3-tlbi encode`,
    `smmuv3-tlbi encode --input examples/cmds.json --out cmdq.bin`,
    `smmuv3-tlbi encode -i examples/cmds.json | smmuv3-tlbi decode`,
  );
}
