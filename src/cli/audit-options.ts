/**
 * `audit`'s options: their definitions (in the order --help lists them), the type commander gives them, and the
 * helpers that read them — the nested VMID list, the sample's files, the registers file, the ring options.
 */
import { closeSync, existsSync, openSync, readSync } from 'node:fs';
import { join } from 'node:path';
import type { Command as Program } from 'commander';
import { parseUint } from '../parse.js';
import { parseRegisters } from '../schema/index.js';
import { DEFAULT_MAX_ENTRIES } from './input.js';
import { UsageError, choiceOption, uintOption, U32 } from './common.js';
import { TEXT_FORMAT_CHOICES, type TextFormatChoice } from '../textdump/index.js';
import { packageRoot } from './package-root.js';
import type { QueueKind } from '../cmdq/index.js';

export interface AuditOpts {
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
export const OAS_BITS = [32, 36, 40, 42, 44, 48, 52];

export function parseVmidList(list: string): number[] | undefined {
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

export function sampleFile(name: string): string {
  const root = packageRoot();
  const path = root === null ? null : join(root, SAMPLE_DIR, name);
  if (path === null || !existsSync(path))
    throw new UsageError(`--sample: ${SAMPLE_DIR}/${name} is missing from this installation`);
  return path;
}

/** A registers file is a few hundred bytes; reading stops past this (`--regs /dev/zero` grew without bound). */
const REGS_LIMIT = 2 ** 20;

function readSmall(path: string): string {
  const fd = openSync(path, 'r');
  try {
    const buf = Buffer.alloc(REGS_LIMIT + 1);
    let n = 0;
    for (let k = 1; k > 0 && n < buf.length; n += k) k = readSync(fd, buf, n, buf.length - n, null);
    if (n > REGS_LIMIT)
      throw new UsageError(
        `--regs: ${path}: more than ${REGS_LIMIT} bytes (a registers file is a small JSON document)`,
      );
    return buf.toString('utf8', 0, n);
  } finally {
    closeSync(fd);
  }
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
    return { text: readSmall(value), source: `--regs ${value}` };
  } catch (e) {
    if (e instanceof UsageError) throw e;
    throw new UsageError(`--regs: cannot read ${value}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

/** SMMU_IIDR of an Arm MMU-700: ProductID 0x487 [31:20], Implementer 0x43B [11:0] (JEP106 Arm). */
export function isMmu700(iidr: number): boolean {
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
export function ringRegisters(o: AuditOpts, regs: Record<string, number>): Record<string, number> {
  const out = { ...regs };
  for (const [, key, reg] of RING_OPTIONS) if (o[key] !== undefined) out[reg] = o[key];
  return out;
}

/**
 * --prod/--cons/--log2size say how to read a ring dump (--file, or --qemu-ring): with any other input they would
 * be ignored, so they are refused (exit 2 naming the option).
 */
export function refuseRingOptions(o: AuditOpts): void {
  if (o.file !== undefined) return;
  const input =
    o.qemuTrace !== undefined
      ? '--qemu-trace rebuilds the stream in queue order from the trace itself'
      : 'hex words are audited in the order given';
  for (const [name, key] of RING_OPTIONS)
    if (o[key] !== undefined)
      throw new UsageError(`${name}: reads a ring dump (--file, or --qemu-ring with --qemu-trace); ${input}`);
}

/** The input options (what is audited and how a ring dump is read), after the command's argument. */
export function inputOptions(cmd: Program): Program {
  return cmd
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
    );
}

/** The output, legality, re-planning and report options. */
export function checkOptions(cmd: Program): Program {
  return cmd
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
    );
}
