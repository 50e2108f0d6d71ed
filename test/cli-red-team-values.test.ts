/**
 * The red-team rows about plan and decode option values that test/cli-values.test.ts does not hold (issue
 * 18 item 3): each malformed or out-of-range value is exit 2 with one stderr line naming the option and
 * nothing on stdout, beside a clean twin that differs only in that value (plan: exit 0 with a plan; decode:
 * neither a usage nor an internal error, entry 0 printed).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { cli, ensureBuilt } from './cli-codec-helpers.js';

beforeAll(() => ensureBuilt(), 180_000);

/** [row, bad arguments, stderr's one line, twin arguments]. */
const plan: Array<[string, string[], RegExp, string[]]> = [
  ['N02', ['--iova', 'NaN', '--size', '4K'], /iova: cannot parse "NaN"/, ['--iova', '0', '--size', '4K']],
  ['N03', ['--iova', '0', '--size', '1e400'], /size: cannot parse "1e400"/, ['--iova', '0', '--size', '4K']],
  ['N04', ['--iova', '0x', '--size', '4K'], /iova: cannot parse "0x"/, ['--iova', '0x0', '--size', '4K']],
  [
    'N06',
    ['--iova', '0x20000000000001', '--size', '4K'],
    /iova: 0x20000000000001 is above 2\^53 and not 4 KiB aligned/,
    ['--iova', '0x1000', '--size', '4K'],
  ],
  [
    'N07',
    ['--iova', '0x10000000000000000', '--size', '4K'],
    /iova: 0x10000000000000000 does not fit in 64 bits/,
    ['--iova', '0x1000000000000', '--size', '4K'],
  ],
  [
    'N08',
    ['--iova', '0xffffffffffffffffffff', '--size', '4K'],
    /iova: 0xffffffffffffffffffff does not fit in 64 bits/,
    ['--iova', '0xfffffffff000', '--size', '4K'],
  ],
  ['N15', ['--iova', '0', '--size', '4X'], /size: cannot parse "4X"/, ['--iova', '0', '--size', '4K']],
  ['N16', ['--iova', '0', '--size', '４K'], /size: cannot parse "４K"/, ['--iova', '0', '--size', '4K']],
  ['N17', ['--iova', '٤٠٩٦', '--size', '4K'], /iova: cannot parse "٤٠٩٦"/, ['--iova', '4096', '--size', '4K']],
  ['N18', ['--iova', '', '--size', '4K'], /iova: cannot parse ""/, ['--iova', '0', '--size', '4K']],
  ['N19', ['--iova', '0', '--size', ' '], /size: cannot parse ""/, ['--iova', '0', '--size', ' 4K ']],
  ['N20', ['--iova', '0', '--size', '1e3'], /size: cannot parse "1e3"/, ['--iova', '0', '--size', '4096']],
  ['N21', ['--iova', '+4096', '--size', '4K'], /iova: cannot parse "\+4096"/, ['--iova', '4096', '--size', '4K']],
  [
    'N22',
    ['--iova', '0b1000000000000', '--size', '4K'],
    /iova: cannot parse "0b1000000000000"/,
    ['--iova', '0x1000', '--size', '4K'],
  ],
  ['N23', ['--iova', '___', '--size', '4K'], /iova: cannot parse "___"/, ['--iova', '0x1_000', '--size', '4K']],
  ['N24', ['--iova', '0', '--size', '16384P'], /size: 16384P does not fit in 64 bits/, ['--iova', '0', '--size', '1P']],
  [
    'N27',
    ['--iova', '0', '--last', '0xffffffffffffffff'],
    /last: 0xffffffffffffffff is above 2\^53 and not 4 KiB aligned/,
    ['--iova', '0', '--last', '0xfffffffffffff'],
  ],
];

const decode: Array<[string, string[], RegExp, string[]]> = [
  ['N50', ['--idr0', '-1', '--sample'], /--idr0: cannot parse "-1"/, ['--idr0', '0', '--sample']],
  ['N52', ['--idr3', '1e400', '--sample'], /--idr3: cannot parse "1e400"/, ['--idr3', '0', '--sample']],
  ['N53', ['--idr5', '', '--sample'], /--idr5: cannot parse ""/, ['--idr5', '0', '--sample']],
  ['N56', ['-0x12', '0x0'], /unknown option '-0x12'/, ['0x12', '0x0']],
  [
    'N64',
    ['--queue', 'bogus', '--sample'],
    /--queue must be one of non-secure, secure \(got "bogus"\)/,
    ['--queue', 'secure', '--sample'],
  ],
];

function usage(args: string[], message: RegExp): void {
  const r = cli(args);
  expect(r.code, r.stderr).toBe(2);
  expect(r.stdout).toBe('');
  const lines = r.stderr.split('\n').filter((l) => l !== '');
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(/^error: /);
  expect(lines[0]).toMatch(message);
}

describe('plan option values (red-team N rows): exit 2, one line naming the option; the twin plans', () => {
  for (const [row, bad, message, twin] of plan) {
    it(`${row}: plan ${bad.join(' ')}`, () => {
      usage(['plan', ...bad], message);
      const t = cli(['plan', ...twin, '--json']);
      expect(t.code, t.stderr).toBe(0);
      expect((JSON.parse(t.stdout) as { commands: unknown[] }).commands.length).toBeGreaterThan(0);
    });
  }
});

describe('decode option values (red-team N rows): exit 2, one line naming the option; the twin decodes', () => {
  for (const [row, bad, message, twin] of decode) {
    it(`${row}: decode ${bad.join(' ')}`, () => {
      usage(['decode', ...bad], message);
      const t = cli(['decode', ...twin]);
      expect(t.code, t.stderr).not.toBe(2);
      expect(t.code).not.toBe(3);
      expect(t.stdout).toMatch(/^ +0 {2}0x[0-9a-f]{16} 0x[0-9a-f]{16} {2}[A-Z]/);
    });
  }
});
