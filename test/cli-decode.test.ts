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

  it('an empty ring slot is illegal (opcode 0x00)', () => {
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
    const whole = join(dir, 'ring.bin');
    writeFileSync(whole, ring.subarray(0, (0x4585 + 3) * 16));
    const w = cli(['decode', '--json', '--file', whole]);
    expect(w.code).toBe(1);
    const doc = oneDoc(w.stdout);
    expect(doc.entries).toHaveLength(0x4585 + 3);
    expect(doc.entries.filter((e) => e.error).map((e) => [e.index, e.opcode, e.error!.field])).toEqual([
      [0x4585, 0, 'opcode'],
      [0x4586, 0, 'opcode'],
      [0x4587, 0, 'opcode'],
    ]);
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
