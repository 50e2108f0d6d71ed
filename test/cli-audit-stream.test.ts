/**
 * `audit` reads its inputs as streams, through the built CLI as a user runs it. The reference is the library's
 * whole-input audit (the input gunzipped and held in memory, `auditStream` over it: the path the golden files and
 * test/audit-stream.test.ts check), never the CLI's streaming code:
 * - the readable report of rings without registers, QEMU traces (file and stdin, gzip or not) and hex words on
 *   stdin is byte for byte the reference's `formatReport`;
 * - `--json` (schemaVersion 2) holds the reference's findings and rows (compared in version 1's layout), and
 *   `--ndjson` its findings, one per line;
 * - the size rule: a dump past --max-entries, a ring past its registers' size, a gzip member inflating past the
 *   limit and a trace line past the per-line cap are exit 2 with one line naming why; each has a clean twin;
 * - inputs that cannot be read (a directory, truncated gzip) are exit 2 for --file and --qemu-trace.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { beforeAll, describe, expect, it } from 'vitest';
import { hex64 } from '../src/bits.js';
import {
  AuditStream,
  auditJsonV1,
  auditStream,
  formatReport,
  parseQemuTrace,
  readRing,
  reportToJson,
} from '../src/audit/index.js';
import { SCHEMA_VERSION } from '../src/cli/common.js';
import { buildChecker } from '../src/cli/decode.js';
import { ROOT, cli, ensureBuilt, tempDir } from './cli-codec-helpers.js';
import { halvesOf, nhAll, ipa, sync, va } from './audit-helpers.js';

beforeAll(() => ensureBuilt(), 180_000);

const DIR = join(ROOT, 'samples', 'linux-7.3-qemu-10.0-strict');
const ringGz = readFileSync(join(DIR, 'cmdq.bin.gz'));
const ring = gunzipSync(ringGz);
const traceGz = readFileSync(join(DIR, 'qemu-trace.log.gz'));
const trace = gunzipSync(traceGz);
/** Options that give findings on the sample (no range invalidation: every range TLBI is illegal). */
const FINDINGS = ['--features', 'no-ril', '--max-batch', '1'];

const v1 = (doc: Record<string, unknown>): unknown =>
  JSON.parse(JSON.stringify({ schemaVersion: SCHEMA_VERSION, ...doc }));

describe('the readable report streamed equals the whole-input report', () => {
  const refDump = formatReport(auditStream(readRing(new Uint8Array(ring)), { maxBatch: 1 }));
  it('a ring dump without registers: gzip file, plain file (two passes), and stdin', () => {
    const dir = tempDir();
    const plain = join(dir, 'cmdq.bin');
    writeFileSync(plain, ring);
    for (const [args, input] of [
      [['--file', join(DIR, 'cmdq.bin.gz')], undefined],
      [['--file', plain], undefined],
      [['--file', '-'], ring],
    ] as const) {
      const r = cli(['audit', ...args, '--max-batch', '1'], input);
      expect(r.code, args.join(' ')).toBe(1);
      expect(r.stdout).toBe(refDump);
    }
  });
  it('a QEMU trace: gzip file and plain text on stdin, with findings', () => {
    const whole = parseQemuTrace(trace.toString('utf8'));
    const rep = auditStream(whole.stream, { trace: whole.stats, maxBatch: 1 });
    expect(rep.counts.findings).toBeGreaterThan(0);
    const ref = formatReport(rep);
    const a = cli(['audit', '--qemu-trace', join(DIR, 'qemu-trace.log.gz'), '--max-batch', '1']);
    expect(a.code).toBe(1);
    expect(a.stdout).toBe(ref);
    const b = cli(['audit', '--qemu-trace', '-', '--max-batch', '1'], trace);
    expect(b.stdout).toBe(ref);
  });
  it('a trace with nesting evidence (the first pass parses it) and its twin without (the byte search decides)', () => {
    const dir = tempDir();
    const traceOf = (nhVmid: number): string =>
      [
        'smmuv3_cmdq_consume prod=3 cons=0 prod.wrap=0 cons.wrap=0',
        'smmuv3_cmdq_opcode <--- SMMU_CMD_TLBI_S12_VMALL',
        'smmuv3_cmdq_tlbi_s12_vmid vmid=3',
        'smmuv3_cmdq_consume prod=3 cons=1 prod.wrap=0 cons.wrap=0',
        'smmuv3_cmdq_opcode <--- SMMU_CMD_TLBI_NH_ALL',
        `smmuv3_cmdq_tlbi_nh vmid=${nhVmid}`,
        'smmuv3_cmdq_consume prod=3 cons=2 prod.wrap=0 cons.wrap=0',
        'smmuv3_cmdq_opcode <--- SMMU_CMD_SYNC',
        '',
      ].join('\n');
    for (const [nh, nested] of [
      [3, true],
      [4, false],
    ] as const) {
      const text = traceOf(nh);
      const f = join(dir, `t${nh}.log`);
      writeFileSync(f, text);
      const whole = parseQemuTrace(text);
      const ref = formatReport(auditStream(whole.stream, { trace: whole.stats }));
      expect(ref.includes('nested VMIDs: 3 (inferred'), String(nh)).toBe(nested);
      const r = cli(['audit', '--qemu-trace', f]);
      expect(r.stdout).toBe(ref);
      expect(cli(['audit', '--qemu-trace', '-'], text).stdout).toBe(ref);
    }
  });
  it('nesting evidence whose name is cut by the 1 MiB read boundary is still found by the first pass', () => {
    const dir = tempDir();
    const head = 'smmuv3_cmdq_consume prod=3 cons=0 prod.wrap=0 cons.wrap=0\nsmmuv3_cmdq_opcode <--- SMMU_CMD_';
    // Filler lines (not SMMU events) so that "TLBI_S12_VMALL" starts 3 bytes before byte 2^20.
    const fill = 2 ** 20 - 3 - head.length;
    const filler = ('x'.repeat(99) + '\n').repeat(Math.floor(fill / 100)) + 'y'.repeat((fill % 100) - 1) + '\n';
    const text =
      filler +
      head +
      'TLBI_S12_VMALL\nsmmuv3_cmdq_tlbi_s12_vmid vmid=3\n' +
      'smmuv3_cmdq_consume prod=3 cons=1 prod.wrap=0 cons.wrap=0\nsmmuv3_cmdq_opcode <--- SMMU_CMD_TLBI_NH_ALL\n' +
      'smmuv3_cmdq_tlbi_nh vmid=3\nsmmuv3_cmdq_consume prod=3 cons=2 prod.wrap=0 cons.wrap=0\n' +
      'smmuv3_cmdq_opcode <--- SMMU_CMD_SYNC\n';
    expect(text.indexOf('TLBI_S12_VMALL')).toBe(2 ** 20 - 3);
    const f = join(dir, 'edge.log');
    writeFileSync(f, text);
    const whole = parseQemuTrace(text);
    const ref = formatReport(auditStream(whole.stream, { trace: whole.stats }));
    expect(ref).toMatch(/nested VMIDs: 3 \(inferred/);
    expect(cli(['audit', '--qemu-trace', f]).stdout).toBe(ref);
  });
  it('hex words on stdin (read once: the nested VMIDs from the look-ahead) and as arguments', () => {
    const items = [ipa(5, 0x40000000), nhAll(5), sync(), va(1, 0x1000), sync(), va(2, 0x2000)];
    const u = halvesOf(items);
    const words: string[] = [];
    for (let k = 0; k < u.length; k += 2) words.push(hex64(u[k]!, u[k + 1]!));
    const s = AuditStream.fromHalves(u);
    s.notes.push('input format: hex64 (64-bit hex words, two per entry (w0 w1))');
    const ref = formatReport(auditStream(s));
    const a = cli(['audit'], words.join('\n') + '\n');
    expect(a.code).toBe(1);
    expect(a.stdout).toBe(ref);
    expect(a.stdout).toMatch(/nested VMIDs: 5/);
    expect(cli(['audit', ...words]).stdout).toBe(ref);
  });
});

describe('--json and --ndjson stream what the whole-input audit finds', () => {
  it('--json of a trace: records in version 1 layout equal the whole-input document', () => {
    const whole = parseQemuTrace(trace.toString('utf8'));
    const ref = v1(reportToJson(auditStream(whole.stream, { trace: whole.stats, maxBatch: 1 })));
    const r = cli(['audit', '--qemu-trace', join(DIR, 'qemu-trace.log.gz'), '--json', '--max-batch', '1']);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe('');
    const doc = JSON.parse(r.stdout) as Record<string, unknown>;
    expect(doc.schemaVersion).toBe(2);
    expect(Object.keys(doc)).toEqual(['schemaVersion', 'records', 'input', 'counts', 'histograms', 'replan']);
    expect(auditJsonV1(doc)).toEqual(ref);
  });
  it('--ndjson of a ring with registers and findings: one reference finding per line, then the summary', () => {
    const regs = JSON.parse(readFileSync(join(DIR, 'cmdq.json'), 'utf8')) as Record<string, string | number>;
    const num = (k: string): number => Number(regs[k]);
    // The reference: the whole ring in memory, the checker of the same registers and features.
    const checker = buildChecker({ features: 'no-ril', idr0: num('IDR0'), idr3: num('IDR3'), idr5: num('IDR5') });
    const rep = auditStream(
      readRing(new Uint8Array(ring), { prod: num('CMDQ_PROD'), cons: num('CMDQ_CONS'), log2size: num('log2size') }),
      { checker, maxBatch: 1, ipaBits: 44 }, // IDR5.OAS = 4: 44 bits
    );
    expect(rep.counts.findings).toBeGreaterThan(100);
    const r = cli([
      'audit',
      '--file',
      join(DIR, 'cmdq.bin.gz'),
      '--regs',
      join(DIR, 'cmdq.json'),
      '--ndjson',
      ...FINDINGS,
    ]);
    expect(r.code).toBe(1);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines).toHaveLength(rep.counts.findings + 1);
    const findings = lines.slice(0, -1).map((l) => {
      const { type, ...f } = JSON.parse(l) as Record<string, unknown>;
      expect(type).toBe('finding');
      return f;
    });
    expect(findings).toEqual(JSON.parse(JSON.stringify(rep.findings)));
    expect(JSON.parse(lines.at(-1)!)).toMatchObject({
      type: 'summary',
      schemaVersion: 2,
      counts: JSON.parse(JSON.stringify(rep.counts)),
    });
  });
});

describe('the size rule for audit', () => {
  it('a dump past --max-entries is refused (one line naming the option); at the limit it is read', () => {
    const entries = ring.length / 16;
    const ok = cli(['audit', '--file', join(DIR, 'cmdq.bin.gz'), '--max-entries', String(entries), '--no-replan']);
    expect(ok.code).toBe(0);
    const r = cli(['audit', '--file', join(DIR, 'cmdq.bin.gz'), '--max-entries', String(entries - 1)]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/inflates to more than \d+ bytes: the --max-entries limit/);
    expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
  });
  it('/dev/zero without registers is refused past --max-entries', () => {
    const r = cli(['audit', '--file', '/dev/zero', '--max-entries', '4K']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^error: \/dev\/zero: more than 65536 bytes: the --max-entries limit/);
  });
  it('with registers the ring size caps what is read (a larger dump is refused, the ring-sized one read)', () => {
    const dir = tempDir();
    const big = join(dir, 'big.bin');
    writeFileSync(big, new Uint8Array(16 * 64));
    const r = cli(['audit', '--file', big, '--log2size', '4', '--prod', '0']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/1024 bytes is more than 256: the ring's size caps the dump \(2\^4 entries/);
    const twin = join(dir, 'twin.bin');
    const u = halvesOf([va(1, 0x1000), sync()]);
    const bytes = new Uint8Array(16 * 16);
    bytes.set(new Uint8Array(u.buffer, u.byteOffset, u.byteLength));
    writeFileSync(twin, bytes);
    const ok = cli(['audit', '--file', twin, '--log2size', '4', '--prod', '2']);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toMatch(/Audit of a raw queue dump: 2 entries/);
  });
  it('a gzip bomb is refused once it inflates past the limit; its clean twin is read', () => {
    const dir = tempDir();
    const bomb = join(dir, 'bomb.gz');
    writeFileSync(bomb, gzipSync(new Uint8Array(16 << 20), { level: 1 }));
    const r = cli(['audit', '--file', bomb, '--max-entries', '64K']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/bomb\.gz: the gzip data inflates to more than 1048576 bytes/);
    const twin = join(dir, 'twin.gz');
    const u = halvesOf([va(1, 0x1000), sync()]);
    const bytes = new Uint8Array(1 << 20);
    bytes.set(new Uint8Array(u.buffer, u.byteOffset, u.byteLength));
    writeFileSync(twin, gzipSync(bytes));
    const ok = cli(['audit', '--file', twin, '--max-entries', '64K']);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toMatch(/65534 never-written \(all-zero\) slots skipped/);
  });
  it('a trace has no total limit but a per-line cap: a 100,000-character line is refused; lines under it are read', () => {
    const text = trace.toString('utf8');
    const r = cli(['audit', '--qemu-trace', '-'], 'x'.repeat(100_000) + '\n' + text);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^error: stdin line 1: longer than 65536 characters/);
    const ok = cli(['audit', '--qemu-trace', '-', '--no-replan'], 'x'.repeat(60_000) + '\n' + text);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toMatch(/not SMMU events, skipped \(first: line 1\)/);
  });
});

describe('unreadable inputs are usage errors', () => {
  it('a directory and truncated gzip, for --file and --qemu-trace (exit 2, one line); a binary dump on stdin as text', () => {
    const dir = tempDir();
    const sub = join(dir, 'd');
    mkdirSync(sub);
    const cut = join(dir, 'cut.gz');
    writeFileSync(cut, traceGz.subarray(0, traceGz.length >> 1));
    for (const opt of ['--file', '--qemu-trace']) {
      for (const [file, msg] of [
        [sub, /cannot read .*d: EISDIR/],
        [cut, /cut\.gz: gzip data could not be decompressed/],
      ] as const) {
        const r = cli(['audit', opt, file]);
        expect(r.code, `${opt} ${file}`).toBe(2);
        expect(r.stderr).toMatch(msg);
        expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
      }
    }
    const b = cli(['audit'], ring);
    expect(b.code).toBe(2);
    expect(b.stderr).toMatch(/binary data, not text: give a raw queue dump with --file -/);
  });
});
