/**
 * `smmuv3-tlbi decode`: word pairs as arguments and on stdin, binary dumps with --file, the --json document,
 * SMMU options, and the exit codes 0 (all legal), 1 (an entry is illegal) and 2 (usage error).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { beforeAll, describe, expect, it } from 'vitest';
import { ROOT, cli, ensureBuilt, tempDir } from './cli-codec-helpers.js';

beforeAll(() => ensureBuilt(), 180_000);

// Real entries from the Linux ring (slots 13 and 1), and a reserved range encoding (TG=4K, NUM=SCALE=TTL=0).
const NH_VA = ['0x0001000000000012', '0x00000000ffff6701'];
const SYNC = ['0x000000000fc02046', '0x0000000000000000'];
const BAD_TG = ['0x0001000000000012', '0x00000000ffff6401'];

interface JsonEntry {
  index: number;
  name?: string;
  opcode: number;
  fields?: Record<string, number | string>;
  words: [string, string];
  error?: { kind: string; field: string; reason: string; command?: string; rule: string; value: number };
  warnings?: { kind: string; field: string }[];
}
interface JsonDoc {
  schemaVersion: number;
  entries: JsonEntry[];
}

/** Parse stdout as exactly one JSON document. */
function oneDoc(stdout: string): JsonDoc {
  return JSON.parse(stdout) as JsonDoc;
}

/** Little-endian bytes of word pairs. */
function dump(pairs: string[][]): Buffer {
  const b = Buffer.alloc(pairs.length * 16);
  pairs.forEach(([w0, w1], k) => {
    b.writeBigUInt64LE(BigInt(w0!), k * 16);
    b.writeBigUInt64LE(BigInt(w1!), k * 16 + 8);
  });
  return b;
}

describe('decode: human output', () => {
  it('arguments: one line per entry with index, words, name and fields; exit 0', () => {
    const r = cli(['decode', ...NH_VA, ...SYNC]);
    expect(r.code).toBe(0);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/^\s*0\s+0x0001000000000012 0x00000000ffff6701\s+TLBI_NH_VA\s/);
    for (const f of ['num=0', 'scale=0', 'vmid=0', 'asid=1', 'leaf=1', 'ttl=3', 'tg=1', 'addr=0xffff6000'])
      expect(lines[0]).toContain(f);
    expect(lines[1]).toMatch(/^\s*1\s+.*CMD_SYNC\s+cs=2 msh=3 msiattr=15 msidata=0 msiaddr=0x0$/);
    expect(r.stderr).toContain('2 entries, 0 illegal');
  });

  it('an illegal entry is reported with the command, field, value and reason; exit 1', () => {
    const r = cli(['decode', ...NH_VA, ...BAD_TG]);
    expect(r.code).toBe(1);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines[1]).toContain('ILLEGAL');
    expect(lines[1]).toContain('TLBI_NH_VA');
    expect(lines[1]).toContain('tg=1');
    expect(lines[1]).toMatch(/reserved/);
    expect(r.stderr).toContain('2 entries, 1 illegal');
  });

  it('a zero entry given as hex words is illegal (opcode 0x00)', () => {
    const r = cli(['decode', '0x0', '0x0']);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/ILLEGAL\s+opcode 0x00: opcode=0: opcode 0x00 is reserved/);
  });

  it('stdin: one pair per line, comments and blank lines ignored; same output as arguments', () => {
    const text = `# a dump\n${NH_VA.join(' ')}\n\n${SYNC.join(', ')}  # the sync\n`;
    const viaStdin = cli(['decode'], text);
    const viaArgs = cli(['decode', ...NH_VA, ...SYNC]);
    expect(viaStdin.code).toBe(0);
    expect(viaStdin.stdout).toBe(viaArgs.stdout);
  });

  it('CFGI_STE_RANGE with Range=31 is shown as "all"', () => {
    const r = cli(['decode', '0x0000000000000004', '0x000000000000001f']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('CFGI_STE_RANGE');
    expect(r.stdout).toContain('range=31(all)');
  });
});

describe('decode --json', () => {
  it('prints exactly one document with schemaVersion and the entries in the documented shape', () => {
    const r = cli(['decode', '--json', ...NH_VA, ...BAD_TG]);
    expect(r.code).toBe(1);
    const doc = oneDoc(r.stdout);
    expect(doc.schemaVersion).toBe(1);
    expect(doc.entries).toHaveLength(2);
    expect(doc.entries[0]).toMatchObject({
      index: 0,
      name: 'TLBI_NH_VA',
      opcode: 18,
      fields: { num: 0, scale: 0, vmid: 0, asid: 1, leaf: 1, ttl: 3, tg: 1, addr: '0xffff6000' },
      words: NH_VA,
    });
    expect(Object.keys(doc.entries[0]!.fields!)).toEqual(['num', 'scale', 'vmid', 'asid', 'leaf', 'ttl', 'tg', 'addr']);
    expect(doc.entries[0]!.error).toBeUndefined();
    const bad = doc.entries[1]!;
    expect(bad).toMatchObject({ index: 1, error: { kind: 'ILLEGAL', field: 'tg' }, words: BAD_TG });
    expect(bad.error!.reason.length).toBeGreaterThan(10);
    expect(bad.name).toBeUndefined();
    expect(bad.fields).toBeUndefined();
    // Nothing but the document on stdout; the summary line is on stderr only in human mode.
    expect(r.stdout.trim().startsWith('{')).toBe(true);
    expect(r.stdout.trim().endsWith('}')).toBe(true);
  });

  it('CMD_SYNC MSIAddr is a byte-address string; raw values are numbers', () => {
    const r = cli(['decode', '--json', '0xdeadbeef0fc01046', '0x00000000f8900010']);
    expect(r.code).toBe(0);
    expect(oneDoc(r.stdout).entries[0]).toMatchObject({
      name: 'CMD_SYNC',
      opcode: 0x46,
      fields: { cs: 1, msh: 3, msiattr: 15, msidata: 0xdeadbeef, msiaddr: '0xf8900010' },
    });
  });

  it('--lax reports set RES0 bits as warnings (exit 0); strict calls them illegal (exit 1)', () => {
    const words = ['0x0001000000001012', '0x00000000ffff6001']; // TG=0 with NUM=1
    const strict = cli(['decode', '--json', ...words]);
    expect(strict.code).toBe(1);
    expect(oneDoc(strict.stdout).entries[0]!.error).toMatchObject({ field: 'num', rule: 'res0' });
    const lax = cli(['decode', '--json', '--lax', ...words]);
    expect(lax.code).toBe(0);
    const e = oneDoc(lax.stdout).entries[0]!;
    expect(e.name).toBe('TLBI_NH_VA');
    expect(e.warnings).toEqual([expect.objectContaining({ kind: 'WARNING', field: 'num' })]);
  });
});

describe('decode: the SMMU and the queue', () => {
  it('EL3_ALL is illegal on the default Non-secure queue and legal with --queue secure', () => {
    expect(cli(['decode', '0x18', '0x0']).code).toBe(1);
    expect(cli(['decode', '--queue', 'secure', '0x18', '0x0']).code).toBe(0);
  });

  it('CFGI_VMS_PIDM needs --features mpam; features can be switched off', () => {
    expect(cli(['decode', '0x0000000100000007', '0x0']).code).toBe(1);
    expect(cli(['decode', '--features', 'mpam', '0x0000000100000007', '0x0']).code).toBe(0);
    const r = cli(['decode', '--features', 'no-stage1', ...NH_VA]);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/stage 1/);
  });

  it('--idr0/--idr3 take the features from the registers (the sample SMMU has no ATS)', () => {
    const atc = ['0x0000000800000040', '0x0000000000000034'];
    expect(cli(['decode', ...atc]).code).toBe(0);
    const r = cli(['decode', '--idr0', '0xd40101a', '--idr3', '0x1404', ...atc]);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('ATS');
  });
});

describe('decode --file', () => {
  const dir = tempDir();

  it('reads a raw little-endian dump, one entry per 16 bytes', () => {
    const f = join(dir, 'q.bin');
    writeFileSync(f, dump([NH_VA, SYNC, NH_VA]));
    const r = cli(['decode', '--json', '--file', f]);
    expect(r.code).toBe(0);
    const doc = oneDoc(r.stdout);
    expect(doc.entries.map((e) => e.name)).toEqual(['TLBI_NH_VA', 'CMD_SYNC', 'TLBI_NH_VA']);
    expect(doc.entries.map((e) => e.index)).toEqual([0, 1, 2]);
    expect(doc.entries[2]!.words).toEqual(NH_VA);
  });

  it('the real Linux ring: the written part is legal on the sample SMMU; the whole ring has empty slots', () => {
    const ring = gunzipSync(readFileSync(join(ROOT, 'samples', 'linux-6.1-qemu-7.2-strict', 'cmdq.bin.gz')));
    const part = join(dir, 'written.bin');
    writeFileSync(part, ring.subarray(0, 0x4585 * 16));
    const r = cli(['decode', '--idr0', '0xd40101a', '--idr3', '0x1404', '--errors-only', '--file', part]);
    expect(r.stderr).toContain('17797 entries, 0 illegal');
    expect(r.stdout).toBe('');
    expect(r.code).toBe(0);
    // Three never-written slots after them are not judged: they are one run of empty slots.
    const whole = join(dir, 'ring.bin');
    writeFileSync(whole, ring.subarray(0, (0x4585 + 3) * 16));
    const w = cli(['decode', '--json', '--file', whole]);
    expect(w.code).toBe(0);
    const doc = oneDoc(w.stdout) as JsonDoc & { empty: { first: number; last: number }[]; summary: unknown };
    expect(doc.entries).toHaveLength(0x4585);
    expect(doc.entries.filter((e) => e.error)).toEqual([]);
    expect(doc.empty).toEqual([{ first: 0x4585, last: 0x4587 }]);
    expect(doc.summary).toEqual({ entries: 0x4588, illegal: 0, empty: 3 });
  });

  it('a file whose size is not a multiple of 16 bytes is a usage error (exit 2, one line)', () => {
    const f = join(dir, 'odd.bin');
    writeFileSync(f, Buffer.alloc(20));
    const r = cli(['decode', '--file', f]);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/20 bytes is not a multiple of 16/);
  });

  it('a missing file is a usage error naming it', () => {
    const r = cli(['decode', '--file', join(dir, 'nope.bin')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/nope\.bin/);
  });
});

describe('decode: usage errors exit 2 with one line saying what is wrong', () => {
  it.each([
    ['bad hex', ['decode', '0xzz', '0x0'], /"0xzz" is not a 64-bit hex word/],
    ['a word wider than 64 bits', ['decode', '0x12345678901234567', '0x0'], /not a 64-bit hex word/],
    ['an odd word count', ['decode', '0x46'], /odd number of words \(1\)/],
    ['a bad --queue', ['decode', '--queue', 'realm', '0x46', '0x0'], /--queue must be one of/],
    ['an unknown feature', ['decode', '--features', 'warp-drive', '0x46', '0x0'], /unknown feature "warp-drive"/],
    ['words and --file together', ['decode', '--file', 'q.bin', '0x46', '0x0'], /give the entries one way/],
  ])('%s', (_what, args, message) => {
    const r = cli(args);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    const lines = r.stderr.trim().split('\n');
    expect(lines[0]).toMatch(message);
    expect(lines.filter((l) => !l.startsWith('(add --help'))).toHaveLength(1);
  });

  it('an odd word count on stdin too', () => {
    const r = cli(['decode'], '0x46 0x0\n0x12\n');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/odd number of words \(3\)/);
  });

  it('an unknown flag', () => {
    const r = cli(['decode', '--bogus', ...NH_VA]);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr.split('\n')[0]).toMatch(/unknown option '--bogus'/);
  });
});

describe('help and version', () => {
  it('decode --help describes the input and shows examples', () => {
    const r = cli(['decode', '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('--file');
    expect(r.stdout).toContain('--json');
    expect(r.stdout).toMatch(/Examples:\n\s+\$ smmuv3-tlbi decode /);
  });

  it('--version prints the package version', () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
    const r = cli(['--version']);
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe(pkg.version);
  });
});

describe('decode: pasted text in the formats kernel developers use', () => {
  const PASTED = join(ROOT, 'samples', 'pasted');
  interface InputDoc extends JsonDoc {
    input: { format: string; description: string; notes: string[] };
  }

  it.each([
    ['gdb-x8wx.txt', 'gdb-32', ['TLBI_NH_VA', 'CMD_SYNC'], 0],
    ['crash-rd64.txt', 'crash-64', ['TLBI_NH_ASID', 'CMD_SYNC', 'TLBI_NH_VA', 'CMD_SYNC'], 0],
    ['dmesg-illegal.txt', 'dmesg', [undefined], 1],
  ] as const)('--file %s is read as %s, named in the JSON document', (file, format, names, code) => {
    const r = cli(['decode', '--json', '--file', join(PASTED, file)]);
    expect(r.code).toBe(code);
    const doc = JSON.parse(r.stdout) as InputDoc;
    expect(doc.input.format).toBe(format);
    expect(doc.entries.map((e) => e.name)).toEqual(names);
  });

  it('the kernel log on stdin: the format and the CMDQ error line are named on stderr; the TG=0b00 range is illegal', () => {
    const text = readFileSync(join(PASTED, 'dmesg-illegal.txt'), 'utf8');
    const r = cli(['decode', '-'], text);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/^\s+0\s+0x0001000000000012 0x00000000ffff6401\s+ILLEGAL\s+TLBI_NH_VA/);
    expect(r.stderr).toContain('format: dmesg: the kernel log');
    expect(r.stderr).toContain('note: entry 0: CMDQ error (cons 0x01000123): Illegal command (line 11)');
    expect(r.stderr).toContain('1 entries, 1 illegal');
  });

  it('gdb x/4wx pasted as an argument: 32-bit words paired low word first, same entries as the 64-bit words', () => {
    const gdb = '0xffff000043a800d0 <cmdq+208>:\t0x00000012\t0x00010000\t0xffff6701\t0x00000000';
    const r = cli(['decode', '--json', gdb]);
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.stdout) as InputDoc;
    expect(doc.input.format).toBe('gdb-32');
    expect(doc.entries[0]!.words).toEqual(NH_VA);
  });

  it('short words that read both as 64-bit and 32-bit words are refused (exit 2) naming --format; forced, read', () => {
    const words = ['0x46', '0x0', '0x12', '0x1'];
    const r = cli(['decode', ...words]);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(
      /^error: arguments: 4 words of at most 8 hex digits .*pass --format hex64 or --format hex32/,
    );
    const as64 = cli(['decode', '--json', '--format', 'hex64', ...words]);
    expect((JSON.parse(as64.stdout) as InputDoc).entries.map((e) => e.name)).toEqual(['CMD_SYNC', 'TLBI_NH_VA']);
    const as32 = cli(['decode', '--json', '--format', 'hex32', ...words]);
    expect((JSON.parse(as32.stdout) as InputDoc).entries.map((e) => e.words)).toEqual([
      ['0x0000000000000046', '0x0000000100000012'],
    ]);
  });

  it('--format binary reads a text file as bytes; a binary dump is told from text without it', () => {
    const dir = tempDir();
    const f = join(dir, 'q.bin');
    writeFileSync(f, dump([NH_VA, SYNC]));
    const auto = cli(['decode', '--json', '--file', f]);
    expect((JSON.parse(auto.stdout) as InputDoc).input.format).toBe('binary');
    // 38 bytes of text are not a whole number of entries as a binary dump.
    const t = join(dir, 'words.txt');
    writeFileSync(t, '0x0001000000000012 0x00000000ffff6701\n');
    expect(cli(['decode', '--file', t]).code).toBe(0);
    const r = cli(['decode', '--format', 'binary', '--file', t]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/38 bytes is not a multiple of 16/);
  });

  it('audit reads pasted text the same way and names the format in its report', () => {
    const text = readFileSync(join(PASTED, 'crash-rd32.txt'), 'utf8');
    const r = cli(['audit', '--json', '--no-replan'], text);
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.stdout) as { input: { notes: string[]; entries?: number } };
    expect(JSON.stringify(doc)).toContain('input format: crash-32');
  });
});

/** Runs of all-zero 16-byte slots in a dump, found by a plain scan (the reference for the runs decode prints). */
function zeroRuns(b: Uint8Array): [number, number][] {
  const runs: [number, number][] = [];
  for (let slot = 0; slot < b.length / 16; slot++) {
    if (!b.subarray(slot * 16, slot * 16 + 16).every((x) => x === 0)) continue;
    const last = runs[runs.length - 1];
    if (last && last[1] === slot - 1) last[1] = slot;
    else runs.push([slot, slot]);
  }
  return runs;
}

describe('decode of a whole ring: what is judged (issue 13: the zero-slot rule)', () => {
  const dir = tempDir();
  const ring = gunzipSync(readFileSync(join(ROOT, 'samples', 'linux-6.1-qemu-7.2-strict', 'cmdq.bin.gz')));
  const ringFile = join(dir, 'ring.bin');
  writeFileSync(ringFile, ring);
  const SMMU = ['--idr0', '0xd40101a', '--idr3', '0x1404'];

  it('without registers: the 47,739 never-written slots of the real ring are one line, counted apart, exit 0', () => {
    const r = cli(['decode', ...SMMU, '--file', ringFile]);
    expect(r.code).toBe(0);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines).toHaveLength(0x4585 + 1);
    expect(lines[lines.length - 1]).toBe('slots 17797–65535: empty (zero)');
    expect(lines.filter((l) => l.includes('ILLEGAL'))).toEqual([]);
    expect(r.stderr).toContain('65536 entries, 0 illegal, 47739 empty (zero) in 1 run');
    expect(zeroRuns(ring)).toEqual([[17797, 65535]]);
  });

  it('runs of zero slots anywhere (between, before, after commands) are each one line; an illegal command among them still counts', () => {
    // Slot layout: 2 zero, SYNC, 3 zero, NH_VA, 1 zero, BAD_TG, 4 zero.
    const Z = ['0x0', '0x0'];
    const pairs = [Z, Z, SYNC, Z, Z, Z, NH_VA, Z, BAD_TG, Z, Z, Z, Z];
    const b = dump(pairs);
    const f = join(dir, 'holes.bin');
    writeFileSync(f, b);
    const r = cli(['decode', '--file', f]);
    expect(r.code).toBe(1); // the BAD_TG command, not the zeros
    const runLines = r.stdout.split('\n').filter((l) => l.includes('empty (zero)'));
    const expected = zeroRuns(b).map(([a, z]) =>
      a === z ? `slot ${a}: empty (zero)` : `slots ${a}–${z}: empty (zero)`,
    );
    expect(runLines).toEqual(expected);
    expect(r.stdout.split('\n').filter((l) => l.includes('ILLEGAL'))).toHaveLength(1);
    expect(r.stderr).toContain('13 entries, 1 illegal, 10 empty (zero) in 4 runs');
    // Clean twin: the same holes around legal commands only.
    const twin = join(dir, 'holes-clean.bin');
    writeFileSync(twin, dump(pairs.map((p) => (p === BAD_TG ? NH_VA : p))));
    const t = cli(['decode', '--file', twin, '--json']);
    expect(t.code).toBe(0);
    expect((JSON.parse(t.stdout) as { empty: unknown }).empty).toEqual(
      zeroRuns(b).map(([first, last]) => ({ first, last })),
    );
  });

  it('a dump with no non-zero entry holds no command: exit 2, one line, nothing on stdout; one command makes it a dump', () => {
    const f = join(dir, 'zeros.bin');
    writeFileSync(f, new Uint8Array(16 * 64));
    for (const args of [
      ['decode', '--file', f],
      ['decode', '--json', '--file', f],
    ]) {
      const r = cli(args);
      expect(r.code).toBe(2);
      expect(r.stdout).toBe('');
      expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(/zeros\.bin: the dump holds no command \(all 64 entries are zero\)/);
    }
    const one = new Uint8Array(16 * 64);
    one.set(dump([SYNC]), 16 * 40);
    const g = join(dir, 'one-sync.bin');
    writeFileSync(g, one);
    const r = cli(['decode', '--file', g]);
    expect(r.code).toBe(0);
    expect(r.stdout.trimEnd().split('\n')).toEqual([
      'slots 0–39: empty (zero)',
      expect.stringContaining('CMD_SYNC'),
      'slots 41–63: empty (zero)',
    ]);
  });

  it('zero entries given as text stay illegal, also many of them', () => {
    const r = cli(['decode'], '0x0 0x0\n'.repeat(5));
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('5 entries, 5 illegal');
    expect(r.stdout).not.toContain('empty (zero)');
  });

  it('with registers only [CONS, PROD) is judged: a zero slot inside is ILLEGAL, consumed slots are not judged', () => {
    // Five real entries pending (0x4580..0x4584): legal.
    const pending = cli([
      'decode',
      ...SMMU,
      '--file',
      ringFile,
      '--log2size',
      '16',
      '--cons',
      '0x4580',
      '--prod',
      '0x4585',
    ]);
    expect(pending.code).toBe(0);
    expect(pending.stderr).toContain('window [CONS, PROD): slots 17792–17796, 5 of 65536 still to consume');
    expect(pending.stdout).toContain('(not judged: outside [CONS, PROD))');
    expect(pending.stdout.split('\n').filter((l) => /^ *1779[2-6] /.test(l) && !l.includes('not judged'))).toHaveLength(
      5,
    );
    // PROD three slots past the written part: those three zero slots are in the window, so ILLEGAL (exit 1).
    const past = cli([
      'decode',
      ...SMMU,
      '--json',
      '--file',
      ringFile,
      '--log2size',
      '16',
      '--cons',
      '0x4580',
      '--prod',
      '0x4588',
    ]);
    expect(past.code).toBe(1);
    const doc = JSON.parse(past.stdout) as JsonDoc & { summary: Record<string, number> };
    expect(doc.entries.filter((e) => e.error).map((e) => e.index)).toEqual([0x4585, 0x4586, 0x4587]);
    expect(doc.summary).toEqual({ entries: 65536, illegal: 3, empty: 65536 - 0x4588, notJudged: 0x4580 });
    // The registers of the sample itself (--regs, as audit takes them): PROD = CONS, nothing is pending.
    const regs = join(ROOT, 'samples', 'linux-6.1-qemu-7.2-strict', 'cmdq.json');
    const consumed = cli(['decode', '--file', ringFile, '--regs', regs, '--errors-only']);
    expect(consumed.code).toBe(0);
    expect(consumed.stdout).toBe('');
    expect(consumed.stderr).toContain('window [CONS, PROD): empty');
  });

  it('an illegal entry outside the window is printed without a verdict; the same entry inside it is ILLEGAL', () => {
    const b = dump([NH_VA, BAD_TG, SYNC, NH_VA, SYNC, ['0x0', '0x0'], ['0x0', '0x0'], ['0x0', '0x0']]);
    const f = join(dir, 'small-ring.bin');
    writeFileSync(f, b);
    // log2size from the dump size (8 entries); BAD_TG at slot 1 was consumed (CONS = 3).
    const out = cli(['decode', '--file', f, '--cons', '3', '--prod', '5']);
    expect(out.code).toBe(0);
    expect(out.stdout).not.toContain('ILLEGAL');
    expect(out.stdout).toMatch(/^ +1 .*\? +opcode 0x12 \(not judged: outside \[CONS, PROD\)\)$/m);
    const inside = cli(['decode', '--file', f, '--cons', '1', '--prod', '5']);
    expect(inside.code).toBe(1);
    expect(inside.stdout).toMatch(/^ +1 .*ILLEGAL/m);
  });

  it('registers that do not fit the dump are usage errors naming the register (exit 2)', () => {
    const cases: [string[], RegExp][] = [
      [
        ['--log2size', '15', '--prod', '0x4585'],
        /^error: --log2size: the ring holds 2\^15 = 32768 entries but the dump has 65536/,
      ],
      [['--log2size', '16', '--prod', '0x30000'], /^error: --prod: 0x30000 has bits above the wrap bit/],
      [
        ['--log2size', '16', '--prod', '0x10', '--cons', '0x20'],
        /^error: --cons: CMDQ_CONS 0x20 is ahead of CMDQ_PROD 0x10/,
      ],
      [['--log2size', '20'], /^error: --log2size: 20 is out of range/],
    ];
    for (const [regs, msg] of cases) {
      const r = cli(['decode', '--errors-only', '--file', ringFile, ...regs]);
      expect(r.code, regs.join(' ')).toBe(2);
      expect(r.stderr, regs.join(' ')).toMatch(msg);
    }
    // Clean twin of the first: the right size.
    expect(cli(['decode', '--errors-only', '--file', ringFile, '--log2size', '16', '--prod', '0x4585']).code).toBe(0);
  });
});
