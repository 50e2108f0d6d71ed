/**
 * Each unit fact has one home, src/units.ts (issue 12): no copy of "granule from TG" (10 + 2·tg), "TG from
 * granule" ((g − 10) >> 1), a private log2 or a levelShift anywhere else in the sources or the page. The
 * scanner is checked on a planted copy first, so that a pattern that stopped matching cannot pass silently.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = new URL('..', import.meta.url).pathname;
const HOME = 'src/units.ts';

/** The patterns of a unit fact written out by hand, each with what to use instead. */
const PATTERNS: readonly { re: RegExp; use: string }[] = [
  { re: /\b10 \+ 2 \* \w/, use: 'granuleLog2OfTg' },
  { re: /\b2 \* \w+ \+ 10\b/, use: 'granuleLog2OfTg' },
  { re: /- 10\) >> 1/, use: 'tgOfGranuleLog2' },
  { re: /function log2\s*\(/, use: 'log2Of' },
  { re: /Math\.round\(Math\.log2\(/, use: 'log2Of' },
  { re: /function levelShift\s*\(/, use: 'levelShift' },
  { re: /function tgField\s*\(|function tgShift\s*\(/, use: 'tgOfGranuleLog2 / granuleLog2OfTg' },
  { re: /=== 4096 \? 12\b/, use: 'log2Of' },
];

function sources(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...sources(p));
    else if (name.endsWith('.ts')) out.push(p);
  }
  return out;
}

/** Every line of `text` that writes out a unit fact, as "file:line: text (use …)". */
function copies(file: string, text: string): string[] {
  const found: string[] = [];
  text.split('\n').forEach((line, k) => {
    const code = line.replace(/\/\/.*$/, '');
    if (/^\s*(\*|\/\*\*)/.test(code)) return; // doc comments may name the formula
    for (const p of PATTERNS) if (p.re.test(code)) found.push(`${file}:${k + 1}: ${line.trim()} (use ${p.use})`);
  });
  return found;
}

describe('unit facts live in src/units.ts', () => {
  it('the scanner finds a planted copy of each pattern (and nothing in clean code)', () => {
    const planted = [
      'const g = 10 + 2 * tg;',
      'const g = 2 * tg + 10;',
      'const tg = (shift - 10) >> 1;',
      'function log2(x: number) { return 0; }',
      'const s = Math.round(Math.log2(pgsize));',
      'export function levelShift(g: number, l: number) { return 0; }',
      'function tgField(s: number) { return 0; }',
      'return granule === 4096 ? 12 : granule === 16384 ? 14 : 16;',
    ];
    expect(planted.map((l) => copies('x.ts', l).length)).toEqual(planted.map(() => 1));
    const clean = 'const g = granuleLog2OfTg(tg);\nconst s = log2Of(pgsize); // 10 + 2 * tg\n * 10 + 2 * tg in a doc';
    expect(copies('x.ts', clean)).toEqual([]);
  });

  it('no source file outside src/units.ts writes one out', () => {
    const files = [...sources(join(ROOT, 'src')), ...sources(join(ROOT, 'web/src'))]
      .map((f) => relative(ROOT, f))
      .filter((f) => f !== HOME);
    expect(files.length).toBeGreaterThan(100);
    const found = files.flatMap((f) => copies(f, readFileSync(join(ROOT, f), 'utf8')));
    expect(found).toEqual([]);
  });

  it('the home has each fact', () => {
    const home = readFileSync(join(ROOT, HOME), 'utf8');
    for (const name of ['tgOfGranuleLog2', 'granuleLog2OfTg', 'levelShift', 'log2Of'])
      expect(home).toMatch(new RegExp(`export function ${name}\\(`));
  });
});
