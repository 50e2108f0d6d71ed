/**
 * `smmuv3-tlbi audit`: check a real command stream (a raw queue dump, hex words, or a QEMU SMMUv3 trace)
 * against the architecture and re-plan it with the engine. Exit 0 no findings, 1 findings, 2 unusable input.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import type { Command as Program } from 'commander';
import cliProgress from 'cli-progress';
import {
  AuditStream,
  auditStream,
  formatReport,
  parseQemuTrace,
  readRing,
  reportToJson,
  type AuditStream as Stream,
  type RingRegisters,
  type TraceStats,
} from '../audit/index.js';
import { parseUint } from '../parse.js';
import { parseRegisters } from '../schema/index.js';
import { buildChecker } from './decode.js';
import {
  EXIT_CHECK_FAILED,
  EXIT_OK,
  UsageError,
  action,
  choiceOption,
  printJson,
  readInput,
  uintOption,
  warn,
  withExamples,
} from './common.js';
import { TEXT_FORMAT_CHOICES, TEXT_FORMAT_NAMES, parseTextDump, type TextFormatChoice } from '../textdump/index.js';
import { auditCaptureDir } from './audit-capture.js';
import { packageRoot } from './package-root.js';
import type { QueueKind } from '../cmdq/index.js';

interface AuditOpts {
  capture?: string;
  file?: string;
  qemuTrace?: string;
  regs?: string;
  sample?: boolean;
  prod?: number;
  cons?: number;
  log2size?: number;
  json?: boolean;
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

function maybeGunzip(buf: Buffer, source: string): Buffer {
  if (buf.length >= 2 && buf[0] === 0x1f && buf[1] === 0x8b) {
    try {
      return gunzipSync(buf);
    } catch (e) {
      throw new UsageError(`${source}: gzip data could not be decompressed: ${(e as Error).message}`);
    }
  }
  return buf;
}

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

/**
 * Queue registers (CMDQ_PROD, CMDQ_CONS, IDRn, the queue's log2size) from `--regs`: strict JSON checked by
 * the registers schema (src/schema), so unknown keys, duplicates, garbage and values too wide are exit 2.
 */
function readRegs(value: string): Record<string, number> {
  const { text, source } = regsText(value);
  const file = parseRegisters(text, source);
  const out: Record<string, number> = {};
  for (const key of ['CMDQ_PROD', 'CMDQ_CONS', 'IDR0', 'IDR1', 'IDR3', 'IDR5']) {
    const v = file.values.get(key);
    if (v !== undefined) out[key] = v.lo;
  }
  if (file.log2size !== undefined) out.LOG2SIZE = file.log2size;
  return out;
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
    .option('--prod <value>', 'CMDQ_PROD (index and wrap bit)', uintOption('--prod'))
    .option('--cons <value>', 'CMDQ_CONS (index, wrap bit, ERR in [30:24])', uintOption('--cons'))
    .option('--log2size <n>', 'log2 of the number of ring entries (CMDQ_BASE.LOG2SIZE)', uintOption('--log2size'))
    .option('--json', 'print one JSON document (every finding and the re-planning table)')
    .option('--lax', 'report set RES0 bits as warnings instead of illegal entries')
    .option(
      '--queue <kind>',
      'non-secure or secure',
      choiceOption('--queue', ['non-secure', 'secure'] as const),
      'non-secure',
    )
    .option('--features <list>', 'SMMU features, e.g. "no-stage2,no-ats,ds"')
    .option('--idr0 <value>', 'SMMU_IDR0 value', uintOption('--idr0'))
    .option('--idr1 <value>', 'SMMU_IDR1 value (CMDQS bounds --log2size)', uintOption('--idr1'))
    .option('--idr3 <value>', 'SMMU_IDR3 value', uintOption('--idr3'))
    .option('--idr5 <value>', 'SMMU_IDR5 value (DS; OAS gives the IPA size)', uintOption('--idr5'))
    .option(
      '--nested-vmids <list>',
      'VMIDs used under nesting: "1,2", "none", or "auto" (VMIDs in both stage-2 and NH_* TLBIs)',
      'auto',
    )
    .option(
      '--max-batch <n>',
      'report batches with more than n commands before a CMD_SYNC (MMU-700 erratum 2812531: 63)',
      uintOption('--max-batch'),
    )
    .option('--ipa-bits <n>', 'IPA size for S2_IPA ranges (default: from IDR5.OAS, else 52)', uintOption('--ipa-bits'))
    .option('--va-bits <n>', 'VA size: report ranges that start below 2^n and run past it', uintOption('--va-bits'))
    .option(
      '--page-size <size>',
      'page size assumed for a lone TG=0 TLBI when re-planning',
      uintOption('--page-size'),
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
        const progress = new Progress(o.progress !== false && !o.json && process.stderr.isTTY === true);
        let stream: Stream;
        let trace: TraceStats | null = null;
        let large = false;
        if (o.qemuTrace !== undefined) {
          const buf = maybeGunzip(await readInput(o.qemuTrace), o.qemuTrace);
          large = buf.length > PROGRESS_BYTES;
          const r = parseQemuTrace(
            buf.toString('utf8'),
            large ? { onProgress: (d, t) => progress.update('trace', d, t) } : {},
          );
          stream = r.stream;
          trace = r.stats;
        } else if (o.file !== undefined) {
          const buf = maybeGunzip(await readInput(o.file), o.file);
          large = buf.length > PROGRESS_BYTES;
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
          stream = readRing(new Uint8Array(buf.buffer, buf.byteOffset, buf.length), rr);
        } else {
          const text = words.length > 0 ? words.join(' ') : (await readInput(undefined)).toString('utf8');
          const d = parseTextDump(text, words.length > 0 ? 'arguments' : 'stdin', o.format);
          stream = AuditStream.fromHalves(d.halves);
          if (d.format !== null) stream.notes.push(`input format: ${d.format} (${TEXT_FORMAT_NAMES[d.format]})`);
          stream.notes.push(...d.notes);
          if (stream.count === 0) throw new UsageError('no entries: give hex words, --file, --qemu-trace or --sample');
        }
        const nested = parseVmidList(o.nestedVmids ?? 'auto');
        const oas = idr5 !== undefined ? OAS_BITS[idr5 & 7] : undefined;
        const report = auditStream(stream, {
          checker,
          replan: o.replan,
          trace,
          ...(nested !== undefined ? { nestedVmids: nested } : {}),
          ...(o.maxBatch !== undefined ? { maxBatch: o.maxBatch } : {}),
          ...((o.ipaBits ?? oas) !== undefined ? { ipaBits: o.ipaBits ?? oas } : {}),
          ...(o.vaBits !== undefined ? { vaBits: o.vaBits } : {}),
          ...(o.pageSize !== undefined ? { pageSize: o.pageSize } : {}),
          ...(large || stream.count > 1 << 18
            ? { onProgress: (p: string, d: number, t: number) => progress.update(p, d, t) }
            : {}),
        });
        progress.stop();
        if (o.json) printJson(reportToJson(report));
        else process.stdout.write(formatReport(report, { maxFindings: o.maxFindings ?? 20 }));
        if (!o.json && report.counts.findings > 0) warn(`${report.counts.findings} finding(s)`);
        return report.counts.findings > 0 ? EXIT_CHECK_FAILED : EXIT_OK;
      }),
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
