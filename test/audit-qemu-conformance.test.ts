/**
 * QEMU conformance (src/audit/qemu-conformance.ts): QEMU's own decode lines for a range TLBI, compared with
 * what the command's words say must be invalidated. The real runs (a ring dump and QEMU's trace of the same
 * run) conform; hand-written traces of QEMU's historical mistakes (Q5: a power-of-two split that leaves pages
 * out; over-invalidation; a wrong ASID) are reported, each beside a correct trace of the same command.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { AuditStream, readRing } from '../src/audit/index.js';
import { interpret } from '../src/audit/interpret.js';
import { compareQemuRanges, traceRangesBySlot } from '../src/audit/qemu-conformance.js';
import { CommandChecker } from '../src/cmdq/index.js';
import { SYNC, cmd } from './smmu-fixtures.js';
import { runCliFromSource } from './cli-source-run.js';

function ring(name: string): AuditStream {
  const dir = new URL(`../samples/${name}/`, import.meta.url);
  const regs = JSON.parse(readFileSync(new URL('cmdq.json', dir), 'utf8')) as Record<string, string | number>;
  const bytes = gunzipSync(readFileSync(new URL('cmdq.bin.gz', dir)));
  return readRing(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length), {
    prod: Number(regs['CMDQ_PROD']),
    cons: Number(regs['CMDQ_CONS']),
    log2size: Number(regs['log2size']),
  });
}

function traceLines(name: string): string[] {
  const t = gunzipSync(readFileSync(new URL(`../samples/${name}/qemu-trace.log.gz`, import.meta.url)));
  return t.toString('utf8').split('\n');
}

describe('the real runs conform', () => {
  for (const name of ['linux-6.1-qemu-7.2-strict', 'linux-7.3-qemu-10.0-strict']) {
    it(`${name}: every traced range TLBI invalidates exactly what its words say`, () => {
      const s = ring(name);
      const r = interpret(s, new CommandChecker());
      const rep = compareQemuRanges(r, s.slot, traceRangesBySlot(traceLines(name)));
      expect(rep.compared).toBeGreaterThan(1000);
      expect(rep.issues).toEqual([]);
    });
  }
});

describe("QEMU's historical mistakes, written as traces", () => {
  // 32 pages of 4K from 0xff395000 (the Q5 219729cfbf9e vector), at slot 0, then a CMD_SYNC.
  const halves = new Uint32Array([
    ...cmd('TLBI_NH_VA', { asid: 1, tg: 1, ttl: 3, num: 31, scale: 0, leaf: 1, addr: 0xff39_5000 }),
    ...SYNC(),
  ]);
  const s = AuditStream.fromHalves(halves);
  const r = interpret(s, new CommandChecker());
  const trace = (chunks: [number, number][], asid = 1): string[] => [
    'smmuv3_cmdq_consume prod=2 cons=0 prod.wrap=0 cons.wrap=0',
    'smmuv3_cmdq_opcode <--- SMMU_CMD_TLBI_NH_VA',
    ...chunks.map(
      ([a, n]) =>
        `smmuv3_range_inval vmid=0 asid=${asid} addr=0x${a.toString(16)} tg=1 num_pages=0x${n.toString(16)} ttl=3 leaf=1 stage=1`,
    ),
    'smmuv3_cmdq_consume prod=2 cons=1 prod.wrap=0 cons.wrap=0',
    'smmuv3_cmdq_opcode <--- SMMU_CMD_SYNC',
  ];
  const check = (lines: string[]) => compareQemuRanges(r, s.slot, traceRangesBySlot(lines));
  const correct: [number, number][] = [
    [0xff39_5000, 1],
    [0xff39_6000, 2],
    [0xff39_8000, 8],
    [0xff3a_0000, 16],
    [0xff3b_0000, 4],
    [0xff3b_4000, 1],
  ];

  it('the aligned power-of-two split of the fixed QEMU covers the 32 pages exactly', () => {
    const rep = check(trace(correct));
    expect(rep.compared).toBe(1);
    expect(rep.issues).toEqual([]);
  });

  it('Q5: a split that loses 8 pages is under-invalidation', () => {
    const rep = check(
      trace([
        [0xff39_5000, 16],
        [0xff3a_5000, 8],
      ]),
    );
    expect(rep.issues.map((i) => i.kind)).toEqual(['under-invalidation']);
    expect(rep.issues[0]!.message).toContain('leave out 0x8000 bytes');
    expect(rep.issues[0]!.line).toBe(2);
  });

  it('one aligned chunk of 64 pages around it is over-invalidation (safe, but not what the command says)', () => {
    const rep = check(trace([[0xff38_0000, 64]]));
    expect(rep.issues.map((i) => i.kind)).toEqual(['over-invalidation']);
  });

  it('a wrong ASID in the decode is an operand mismatch', () => {
    const rep = check(trace(correct, 2));
    expect(rep.issues.map((i) => i.message)).toEqual(['TLBI_NH_VA: QEMU decoded asid=2, the command has asid=1']);
  });

  it('a range command the trace does not show is counted as untraced, not as a finding', () => {
    const rep = check([
      'smmuv3_cmdq_consume prod=2 cons=1 prod.wrap=0 cons.wrap=0',
      'smmuv3_cmdq_opcode <--- SMMU_CMD_SYNC',
    ]);
    expect(rep).toEqual({ compared: 0, untraced: 1, issues: [] });
  });
});

/** A 2^8-entry ring dump: one TLBI_NH_VA of ASID 1 (TG 4K, TTL 3, leaf, SCALE 0) at slot 0, a CMD_SYNC at slot 1. */
function rangeRing(o: { num: number; addr: number }): Uint8Array {
  const ring = new Uint32Array(2 ** 8 * 4);
  ring.set(cmd('TLBI_NH_VA', { asid: 1, tg: 1, ttl: 3, num: o.num, scale: 0, leaf: 1, addr: o.addr }), 0);
  ring.set(SYNC(), 4);
  return new Uint8Array(ring.buffer);
}

describe('audit --qemu-trace T --qemu-ring DUMP', () => {
  it('the real 6.1 run: every range TLBI compared, 0 issues, exit 0', () => {
    const d = 'samples/linux-6.1-qemu-7.2-strict';
    const r = runCliFromSource([
      'audit',
      '--qemu-trace',
      `${d}/qemu-trace.log.gz`,
      '--qemu-ring',
      `${d}/cmdq.bin.gz`,
      '--regs',
      `${d}/cmdq.json`,
      '--json',
    ]);
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.stdout) as { schemaVersion: number; compared: number; issues: unknown[] };
    expect(doc.schemaVersion).toBeGreaterThan(0);
    expect(doc.compared).toBeGreaterThan(9000);
    expect(doc.issues).toEqual([]);
  });

  it('a trace with the Q5 split: exit 1 naming the under-invalidation; --qemu-ring alone is exit 2', () => {
    const dir = mkdtempSync(join(tmpdir(), 'smmuv3-qemu-conf-'));
    try {
      writeFileSync(join(dir, 'ring.bin'), rangeRing({ num: 31, addr: 0xff39_5000 }));
      writeFileSync(
        join(dir, 'trace.log'),
        [
          'smmuv3_cmdq_consume prod=2 cons=0 prod.wrap=0 cons.wrap=0',
          'smmuv3_cmdq_opcode <--- SMMU_CMD_TLBI_NH_VA',
          'smmuv3_range_inval vmid=0 asid=1 addr=0xff395000 tg=1 num_pages=0x10 ttl=3 leaf=1 stage=1',
          'smmuv3_range_inval vmid=0 asid=1 addr=0xff3a5000 tg=1 num_pages=0x8 ttl=3 leaf=1 stage=1',
          '',
        ].join('\n'),
      );
      const args = [
        '--qemu-ring',
        join(dir, 'ring.bin'),
        '--regs',
        '{"CMDQ_PROD":"0x2","CMDQ_CONS":"0x2","log2size":8}',
      ];
      const r = runCliFromSource(['audit', '--qemu-trace', join(dir, 'trace.log'), ...args]);
      expect(r.code).toBe(1);
      expect(r.stdout).toContain('under-invalidation');
      const alone = runCliFromSource(['audit', ...args]);
      expect(alone.code).toBe(2);
      expect(alone.stderr).toContain('--qemu-ring');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('streams the trace: gzip or plain, file or stdin, the same document', () => {
    const d = 'samples/linux-6.1-qemu-7.2-strict';
    const ringArgs = ['--qemu-ring', `${d}/cmdq.bin.gz`, '--regs', `${d}/cmdq.json`, '--json'];
    const gz = runCliFromSource(['audit', '--qemu-trace', `${d}/qemu-trace.log.gz`, ...ringArgs]);
    const text = gunzipSync(readFileSync(`${d}/qemu-trace.log.gz`)).toString('utf8');
    const piped = runCliFromSource(['audit', '--qemu-trace', '-', ...ringArgs], text);
    expect(gz.code).toBe(0);
    expect(piped.code).toBe(0);
    expect(piped.stdout).toBe(gz.stdout);
  });

  it('unusable inputs are usage errors naming them (exit 2, nothing on stdout); the clean twin exits 0', () => {
    const dir = mkdtempSync(join(tmpdir(), 'smmuv3-qemu-conf-'));
    try {
      const ring = rangeRing({ num: 1, addr: 0x1000 });
      writeFileSync(join(dir, 'ring.bin'), ring);
      const big = new Uint8Array(2 ** 9 * 16);
      big.set(ring);
      writeFileSync(join(dir, 'ring-too-big.bin'), big);
      const good = [
        'smmuv3_cmdq_consume prod=2 cons=0 prod.wrap=0 cons.wrap=0',
        'smmuv3_cmdq_opcode <--- SMMU_CMD_TLBI_NH_VA',
        'smmuv3_range_inval vmid=0 asid=1 addr=0x1000 tg=1 num_pages=0x2 ttl=3 leaf=1 stage=1',
        '',
      ].join('\n');
      writeFileSync(join(dir, 'trace.log'), good);
      writeFileSync(join(dir, 'long.log'), good + 'x'.repeat(70_000) + '\n');
      const regs = ['--regs', '{"CMDQ_PROD":"0x2","CMDQ_CONS":"0x2","log2size":8}'];
      const run = (trace: string, ringFile: string) =>
        runCliFromSource(['audit', '--qemu-trace', join(dir, trace), '--qemu-ring', join(dir, ringFile), ...regs]);
      const clean = run('trace.log', 'ring.bin');
      expect(clean.code, clean.stderr).toBe(0);
      expect(clean.stdout).toContain('1 range TLBIs compared');
      for (const [trace, ringFile, what] of [
        ['long.log', 'ring.bin', /line 4: longer than 65536 characters/],
        ['.', 'ring.bin', /EISDIR/],
        ['missing.log', 'ring.bin', /missing\.log: ENOENT/],
        ['trace.log', '.', /EISDIR/],
        ['trace.log', 'ring-too-big.bin', /ring's size caps the dump/],
      ] as const) {
        const r = run(trace, ringFile);
        expect(r.code, `${trace} ${ringFile}: ${r.stderr}`).toBe(2);
        expect(r.stderr).toMatch(what);
        expect(r.stdout).toBe('');
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
