/**
 * Pasted text dumps (src/textdump): golden texts in each format (samples/pasted/, written to look like what
 * the kernel, gdb and crash print), checked against the 64-bit words they were written from, split into halves
 * with BigInt; generated dumps in every format read back through random chunking; the ambiguity rule and its
 * clean twins; malformed text naming the line.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { TextLines } from '../src/cli/input.js';
import { TextDumpReader, parseTextDump, type TextFormat, type TextFormatChoice } from '../src/textdump/index.js';
import { ROOT } from './cli-codec-helpers.js';

const DIR = join(ROOT, 'samples', 'pasted');
const M32 = (1n << 32n) - 1n;

/** The oracle: halves of 64-bit word pairs, by BigInt. */
function halves(pairs: readonly (readonly [bigint, bigint])[]): number[] {
  return pairs.flatMap(([w0, w1]) => [w0 & M32, w0 >> 32n, w1 & M32, w1 >> 32n].map(Number));
}

const NH_VA = [0x0001000000000012n, 0x00000000ffff6701n] as const;
const SYNC = [0x000000000fc02046n, 0n] as const;

const GOLDEN: readonly {
  file: string;
  format: TextFormat;
  pairs: (readonly [bigint, bigint])[];
  notes?: RegExp[];
}[] = [
  {
    file: 'dmesg-illegal.txt',
    format: 'dmesg',
    pairs: [[0x0001000000000012n, 0x00000000ffff6401n]],
    notes: [
      /^entry 0: CMDQ error \(cons 0x01000123\): Illegal command \(line 11\)$/,
      /^4 word line\(s\) outside a "skipping command" message skipped/,
    ],
  },
  {
    file: 'journalctl-two.txt',
    format: 'dmesg',
    pairs: [SYNC, [0x0000000800000040n, 0x34n]],
    notes: [/^entry 0: CMDQ error \(cons 0x03000041\): ATC invalidate timeout/, /^entry 1: .*Illegal command/],
  },
  {
    file: 'gdb-x8gx.txt',
    format: 'gdb-64',
    pairs: [[0x4n, 0x1fn], SYNC, [0x30n, 0n], SYNC],
  },
  { file: 'gdb-x8wx.txt', format: 'gdb-32', pairs: [NH_VA, SYNC] },
  {
    file: 'crash-rd64.txt',
    format: 'crash-64',
    pairs: [[0x0001000000000011n, 0n], SYNC, NH_VA, SYNC],
  },
  { file: 'crash-rd32.txt', format: 'crash-32', pairs: [NH_VA, SYNC] },
  { file: 'words32.txt', format: 'hex32', pairs: [NH_VA, SYNC] },
  { file: 'words64.txt', format: 'hex64', pairs: [NH_VA, SYNC] },
];

describe('golden texts', () => {
  it.each(GOLDEN)('$file is read as $format', ({ file, format, pairs, notes }) => {
    const text = readFileSync(join(DIR, file), 'utf8');
    const d = parseTextDump(text, file);
    expect(d.format).toBe(format);
    expect(Array.from(d.halves)).toEqual(halves(pairs));
    expect(d.notes).toHaveLength(notes?.length ?? 0);
    (notes ?? []).forEach((re, k) => expect(d.notes[k]).toMatch(re));
    // Forcing the detected format reads the same; gdb / crash accept either width.
    expect(Array.from(parseTextDump(text, file, format).halves)).toEqual(halves(pairs));
    const family = format.replace(/-(32|64)$/, '') as TextFormatChoice;
    expect(Array.from(parseTextDump(text, file, family).halves)).toEqual(halves(pairs));
  });

  it('a dmesg paste with colour sequences (dmesg --color=always) and CRLF line ends reads the same', () => {
    const text = readFileSync(join(DIR, 'dmesg-illegal.txt'), 'utf8');
    const coloured = text
      .split('\n')
      .map((l) =>
        l.replace(/^(\[[^\]]*\])/, '\x1b[32m$1\x1b[0m').replace('arm-smmu-v3 ', '\x1b[33marm-smmu-v3 \x1b[0m'),
      )
      .join('\r\n');
    expect(coloured).toContain('\x1b[');
    expect(Array.from(parseTextDump(coloured, 'x').halves)).toEqual(
      halves([[0x0001000000000012n, 0x00000000ffff6401n]]),
    );
  });
});

/** Render entries in a format, as the tool prints them. */
function render(format: TextFormat, pairs: (readonly [bigint, bigint])[]): string {
  const hex = (v: bigint, n: number): string => v.toString(16).padStart(n, '0');
  const w32 = pairs.flatMap(([a, b]) => [a & M32, a >> 32n, b & M32, b >> 32n]);
  const w64 = pairs.flatMap(([a, b]) => [a, b]);
  const base = 0xffff000043a80000n;
  const lines: string[] = [];
  switch (format) {
    case 'hex64':
      return pairs.map(([a, b]) => `0x${hex(a, 16)} 0x${hex(b, 16)}`).join('\n') + '\n';
    case 'hex32':
      for (let k = 0; k < w32.length; k += 4)
        lines.push(
          w32
            .slice(k, k + 4)
            .map((w) => `0x${hex(w, 8)}`)
            .join(' '),
        );
      break;
    case 'gdb-64':
      lines.push('(gdb) x/2gx 0xffff000043a80000');
      for (let k = 0; k < w64.length; k += 2)
        lines.push(
          `0x${hex(base + BigInt(k * 8), 16)}:\t` +
            w64
              .slice(k, k + 2)
              .map((w) => `0x${hex(w, 16)}`)
              .join('\t'),
        );
      break;
    case 'gdb-32':
      for (let k = 0; k < w32.length; k += 4)
        lines.push(
          `0x${hex(base + BigInt(k * 4), 16)} <cmdq+${k * 4}>:\t` +
            w32
              .slice(k, k + 4)
              .map((w) => `0x${hex(w, 8)}`)
              .join('\t'),
        );
      break;
    case 'crash-64':
      for (let k = 0; k < w64.length; k += 2)
        lines.push(
          `${hex(base + BigInt(k * 8), 16)}:  ` +
            w64
              .slice(k, k + 2)
              .map((w) => hex(w, 16))
              .join(' ') +
            '   ........',
        );
      break;
    case 'crash-32':
      for (let k = 0; k < w32.length; k += 4)
        lines.push(
          `${hex(base + BigInt(k * 4), 16)}:  ` +
            w32
              .slice(k, k + 4)
              .map((w) => hex(w, 8))
              .join(' ') +
            '   ....',
        );
      break;
    case 'dmesg':
      pairs.forEach(([a, b], k) => {
        const t = `[${String(100 + k).padStart(5)}.${String(k * 37).padStart(6, '0')}] arm-smmu-v3 arm-smmu-v3.0.auto: `;
        lines.push(t + 'CMDQ error (cons 0x01000000): Illegal command', t + 'skipping command in error state:');
        lines.push(t + `\t0x${hex(a, 16)}`, t + `\t0x${hex(b, 16)}`);
      });
      break;
  }
  return lines.join('\n') + '\n';
}

const word = fc.bigInt({ min: 0n, max: (1n << 64n) - 1n });
// An entry whose w0 has a bit above bit 31 set, so that plain 64-bit words are written with more than 8 digits.
const entry = fc.tuple(word, word).map(([a, b]) => [a | (1n << 40n), b] as const);

describe('every format reads back what was rendered, through any chunking of the text', () => {
  const formats: TextFormat[] = ['hex64', 'hex32', 'dmesg', 'gdb-64', 'gdb-32', 'crash-64', 'crash-32'];
  it.each(formats)('%s', (format) => {
    fc.assert(
      fc.property(fc.array(entry, { minLength: 1, maxLength: 12 }), fc.array(fc.nat(400)), (pairs, cuts) => {
        const text = render(format, pairs);
        const got: number[] = [];
        const r = new TextDumpReader('gen', 'auto', (a, b, c, d) => got.push(a, b, c, d));
        const lines = new TextLines('gen', (l, n) => r.line(l, n));
        const bytes = new TextEncoder().encode(text);
        let at = 0;
        for (const c of [...cuts].sort((x, y) => x - y)) {
          const end = Math.min(c, bytes.length);
          if (end > at) lines.pushBytes(bytes.subarray(at, end));
          at = Math.max(at, end);
        }
        lines.pushBytes(bytes.subarray(at));
        lines.end();
        r.end();
        expect(r.format).toBe(format);
        expect(got).toEqual(halves(pairs));
      }),
      { numRuns: 60 },
    );
  });
});

describe('plain words: the width rule', () => {
  const read = (text: string, f: TextFormatChoice = 'auto') => parseTextDump(text, 'arguments', f);

  it('short words, two per entry: 64-bit (count 2 mod 4, as 32-bit words half an entry would be left)', () => {
    const d = read('0x46 0x0');
    expect(d.format).toBe('hex64');
    expect(Array.from(d.halves)).toEqual([0x46, 0, 0, 0]);
    expect(read('0x46 0x0 0x12 0x1 0x46 0x0').format).toBe('hex64');
  });

  it('short words that read both ways are refused, naming the --format to pass; forcing either reads them', () => {
    expect(() => read('0x46 0x0 0x12 0x1')).toThrow(
      /4 words of at most 8 hex digits read both as 64-bit words .* pass --format hex64 or --format hex32/,
    );
    expect(Array.from(read('0x46 0x0 0x12 0x1', 'hex64').halves)).toEqual([0x46, 0, 0, 0, 0x12, 0, 1, 0]);
    expect(Array.from(read('0x46 0x0 0x12 0x1', 'hex32').halves)).toEqual([0x46, 0, 0x12, 1]);
  });

  it('any word of more than 8 digits makes them all 64-bit words, wherever it comes', () => {
    const d = read('0x00000046 0x00000000\n0x00000012 0x0000000000000001');
    expect(d.format).toBe('hex64');
    expect(Array.from(d.halves)).toEqual([0x46, 0, 0, 0, 0x12, 0, 1, 0]);
  });

  it('words all of 8 digits are 32-bit words, four per entry; two of them are refused, not read as 64-bit', () => {
    expect(read('0x00000046 0x00000000 0x00000012 0x00000001').format).toBe('hex32');
    expect(() => read('0x0fc02046 0x00000000')).toThrow(/look like 32-bit words.*pass --format hex64/);
    expect(read('0x0fc02046 0x00000000', 'hex64').format).toBe('hex64');
  });

  it('--format hex32 refuses a wider word; an odd count and a bad word are errors naming them', () => {
    expect(() => read('0x46 0x0 0x0001000000000012 0x0', 'hex32')).toThrow(/"0x0001000000000012": has 16 hex digits/);
    expect(() => read('0x46 0x0 0x12')).toThrow(/odd number of words \(3\)/);
    expect(() => read('0x46 0x0 0x12 0x0 0x1', 'hex32')).toThrow(/5 32-bit words is not a multiple of 4/);
    expect(() => read('0x46 0xzz')).toThrow(/arguments line 1 word "0xzz": "0xzz" is not a 64-bit hex word/);
  });

  it('a long run of 8-digit words is settled as 32-bit words; a 64-bit word after them is refused', () => {
    const many = '0x00000046 0x00000000 0x00000000 0x00000000\n'.repeat(1 << 14);
    const d = read(many);
    expect(d.format).toBe('hex32');
    expect(d.halves.length).toBe(1 << 16);
    expect(() => read(many + '0x0001000000000012 0x0\n')).toThrow(
      /line 16385 word "0x0001000000000012": has 16 hex digits: not a 32-bit word \(the words before it/,
    );
  });
});

describe('debugger and kernel text that is not what it claims', () => {
  it('gdb output mixing 64-bit and 32-bit words, or holding another line, is refused naming the line', () => {
    const gdb = '0xffff000043a80000:\t0x0000000000000004\t0x000000000000001f\n';
    expect(parseTextDump(gdb, 'g').format).toBe('gdb-64');
    expect(() => parseTextDump(gdb + '0xffff000043a80010:\t0x0fc02046\t0x00000000\n', 'g')).toThrow(
      /g line 2: 0x0fc02046 is a 32-bit word, but the gdb output so far holds 64-bit words/,
    );
    expect(() => parseTextDump(gdb + 'Cannot access memory at address 0xffff000043a80010\n', 'g')).toThrow(
      /g line 2: not gdb x output .*"Cannot access memory/,
    );
    expect(() => parseTextDump('0xffff000043a80000:\t0x00000000004\t0x1f\n', 'g')).toThrow(/16 hex digits/);
  });

  it('--format gdb-32 on x/gx output is refused; crash -64 with an odd word count too', () => {
    expect(() => parseTextDump('0xffff000043a80000:\t0x0000000000000004\t0x000000000000001f\n', 'g', 'gdb-32')).toThrow(
      /is a 64-bit word, but the gdb output so far holds 32-bit words/,
    );
    expect(() => parseTextDump('ffff000043a80000:  0000000000000004   ........\n', 'c')).toThrow(/odd number of words/);
  });

  it('a kernel log: a message cut short, or words with no "skipping command" line, are refused', () => {
    const head = '[   14.209521] arm-smmu-v3 arm-smmu-v3.0.auto: skipping command in error state:\n';
    const w = '[   14.210046] arm-smmu-v3 arm-smmu-v3.0.auto: \t0x0001000000000012\n';
    expect(parseTextDump(head + w + w, 'k').halves.length).toBe(4); // the clean twin
    expect(() => parseTextDump(head + w, 'k')).toThrow(/message of line 1 has only 1 of its two words/);
    expect(() => parseTextDump(head + w + head + w + w, 'k')).toThrow(/k line 3: a new .* line 1 has only 1/);
    expect(() => parseTextDump(w + w, 'k')).toThrow(/without a "skipping command in error state:" line/);
  });

  it('forcing a format the text is not in fails on its first line', () => {
    const text = readFileSync(join(DIR, 'crash-rd64.txt'), 'utf8');
    expect(() => parseTextDump(text, 'c', 'gdb')).toThrow(/c line 2: not gdb x output/);
    expect(() => parseTextDump(text, 'c', 'hex64')).toThrow(/c line 2 word "ffff000043a800b0:"/);
  });
});
