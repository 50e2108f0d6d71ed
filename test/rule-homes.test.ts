/**
 * Two more rules with one home each (issue 12, item 6), kept true by a scan of the sources and the page:
 *
 * - Command fields are read and written only in src/cmdq/ (the codec, the writers, the field accessors):
 *   nowhere else does code shift a word of a 16-byte command slot (`u32[k * 4 + 2] >>> 10`) or place a field
 *   into one (`(scale & 0x3f) << 20`, `num << 12`).
 * - The span of a range TLBI — (NUM + 1) · 2^SCALE · granule — is computed on purpose in two places that must
 *   not share code: the engine (src/tlbi/range.ts, which encodes) and the model/checker (src/smmu/, which
 *   judges); the tests' BigInt oracle is a third, independent copy. Everything else asks one of them.
 *
 * Register fields (IDRn, CR, STRTAB_BASE_CFG…) are not command fields and are not scanned here. The scanner
 * is checked on planted copies first, so a pattern that stopped matching cannot pass silently.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = new URL('..', import.meta.url).pathname;

interface Rule {
  name: string;
  /** Files (prefixes) where the rule's arithmetic lives. */
  homes: readonly string[];
  patterns: readonly RegExp[];
  use: string;
}

const RULES: readonly Rule[] = [
  {
    name: 'command fields',
    homes: ['src/cmdq/'],
    patterns: [
      // A word of a command slot (indexed k * 4 + i, or e * 4) shifted to read a field.
      /\[[^\]]*\* 4(?: \+ [0-3])?\]!?\s*>>>\s*\d+/,
      // A masked field shifted into its place in a command word.
      /\(\s*[\w.]*\b(?:num|scale|tg|ttl|leaf|ssid|asid|vmid)\b[\w.]*\s*&\s*(?:0x[0-9a-f]+|\d+)\s*\)\s*<<\s*\d+/i,
      /\b(?:num|scale)\b\s*<<\s*(?:12|20)\b/,
      // A CMD_SYNC or other opcode word built by hand (opcode | flag << n).
      /\b0x46\s*\|\s*\(?\s*\d+\s*<</,
    ],
    use: 'the accessors and writers of src/cmdq/',
  },
  {
    name: 'the span of a range TLBI',
    homes: ['src/tlbi/range.ts', 'src/smmu/'],
    patterns: [
      /\(\s*[\w.]*num\s*\+\s*1\s*\)\s*\*\s*2\s*\*\*\s*[\w.]*scale/i,
      /\bnum\w*\s*\+\s*1\)\s*<<\s*[\w.]*scale/i,
    ],
    use: 'tlbiRangeBytes of src/tlbi/range.ts (the engine) or the model (the judge)',
  },
];

/**
 * Hits that were there when the scan was added, per file: a ratchet. A file may only go down (to 0, and then
 * off this list); any other file must have none. Being removed by their owners' work in progress.
 */
const KNOWN: Readonly<Record<string, number>> = {};

function sources(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...sources(p));
    else if (name.endsWith('.ts')) out.push(p);
  }
  return out;
}

function outside(rule: Rule, file: string, text: string): string[] {
  if (rule.homes.some((h) => file.startsWith(h))) return [];
  const found: string[] = [];
  text.split('\n').forEach((line, k) => {
    const code = line.replace(/\/\/.*$/, '');
    if (/^\s*(\*|\/\*\*)/.test(code)) return; // doc comments may state the formula
    if (rule.patterns.some((re) => re.test(code)))
      found.push(`${file}:${k + 1}: ${line.trim()} (${rule.name}: use ${rule.use})`);
  });
  return found;
}

describe('command fields and range spans live in their homes', () => {
  it('the scanner finds a planted copy of each pattern, and nothing in clean code', () => {
    const [fields, span] = RULES as [Rule, Rule];
    const planted: [Rule, string][] = [
      [fields, 'const scale = (u[e * 4]! >>> 20) & 0x3f;'],
      [fields, 'const tg = (u32[k * 4 + 2]! >>> 10) & 3;'],
      [fields, 'h0 |= (ns.num << 12) | ((ns.scale & 0x3f) << 20);'],
      [fields, 'h2 = ((c.tg & 3) << 10) >>> 0;'],
      [fields, 'stream.push(0x46 | (1 << 12), 0);'],
      [span, 'const len = (cmd.num + 1) * 2 ** cmd.scale * 2 ** g;'],
      [span, 'span += (num + 1) * 2 ** scale * granule;'],
    ];
    for (const [rule, line] of planted) expect(outside(rule, 'src/x.ts', line), line).toHaveLength(1);
    const clean = [
      'const len = tlbiRangeBytes(cmd.num, cmd.scale, cmd.tg); // (num + 1) * 2 ** scale',
      ' * (NUM + 1) * 2 ** SCALE pages',
      'const cmdqs = (idr1 >>> 21) & 0x1f;',
      'const key = op * 2 ** 32 + asid * 2 ** 16 + vmid;',
    ].join('\n');
    for (const rule of RULES) expect(outside(rule, 'src/x.ts', clean)).toEqual([]);
    // In a home, the arithmetic is allowed.
    expect(outside(span, 'src/smmu/invalidate.ts', 'const n = (num + 1) * 2 ** scale;')).toEqual([]);
  });

  it('no source file or page file outside the homes does the arithmetic itself (beyond the known, shrinking list)', () => {
    const files = [...sources(join(ROOT, 'src')), ...sources(join(ROOT, 'web/src'))].map((f) => relative(ROOT, f));
    expect(files.length).toBeGreaterThan(100);
    const excess: string[] = [];
    for (const f of files) {
      const text = readFileSync(join(ROOT, f), 'utf8');
      const found = RULES.flatMap((r) => outside(r, f, text));
      if (found.length > (KNOWN[f] ?? 0)) excess.push(...found);
    }
    expect(excess).toEqual([]);
  });
});
