/**
 * Issue 18 item 2: no regular expression of the project's sources can backtrack catastrophically. Every regex
 * literal and every `new RegExp('…')` with a literal source in src/ (the CLI, the parsers, the generated schema
 * validators) is found with the TypeScript parser and checked by recheck (a ReDoS checker, pinned in
 * package.json); so are the trace parser's exported TRACE_PATTERNS. A pattern flagged vulnerable fails, with
 * recheck's attack string size in the message. A negative control: the old trace key=value pattern (the one that
 * took 103 s on a 200 KB line, red-team T30) is flagged.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { check } from 'recheck';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { TRACE_PATTERNS } from '../src/audit/qemu-trace.js';
import { MAX_FTRACE_LINE, parseTraceLine } from '../src/capture/ftrace.js';

/**
 * Patterns recheck flags as polynomial that stay, each with the bound on its input that the next test checks.
 * The ftrace event line (task names may hold '-' and spaces) is parsed only up to MAX_FTRACE_LINE characters.
 */
const BOUNDED = new Map<string, string>([['src/capture/ftrace.ts', 'EVENT_RE, lines capped at MAX_FTRACE_LINE']]);

const ROOT = fileURLToPath(new URL('..', import.meta.url));

interface Found {
  where: string;
  source: string;
  flags: string;
}

function files(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...files(p));
    else if (e.name.endsWith('.ts') && !e.name.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

function regexesOf(path: string): Found[] {
  const text = readFileSync(path, 'utf8');
  const sf = ts.createSourceFile(path, text, ts.ScriptTarget.ES2022, true);
  const found: Found[] = [];
  const where = (n: ts.Node): string =>
    `${relative(ROOT, path)}:${sf.getLineAndCharacterOfPosition(n.getStart()).line + 1}`;
  const visit = (n: ts.Node): void => {
    if (ts.isRegularExpressionLiteral(n)) {
      const t = n.text;
      const end = t.lastIndexOf('/');
      found.push({ where: where(n), source: t.slice(1, end), flags: t.slice(end + 1) });
    } else if (ts.isNewExpression(n) && ts.isIdentifier(n.expression) && n.expression.text === 'RegExp') {
      const [src, flags] = n.arguments ?? [];
      if (src && (ts.isStringLiteral(src) || ts.isNoSubstitutionTemplateLiteral(src)))
        found.push({
          where: where(n),
          source: src.text,
          flags: flags && ts.isStringLiteral(flags) ? flags.text : '',
        });
    }
    ts.forEachChild(n, visit);
  };
  visit(sf);
  return found;
}

const all: Found[] = files(join(ROOT, 'src')).flatMap(regexesOf);
for (const [k, r] of TRACE_PATTERNS.entries())
  all.push({ where: `TRACE_PATTERNS[${k}]`, source: r.source, flags: r.flags });
// One check per distinct pattern (the generated validators repeat theirs).
const distinct = new Map<string, Found>();
for (const f of all) if (!distinct.has(`${f.flags}/${f.source}`)) distinct.set(`${f.flags}/${f.source}`, f);

describe('ReDoS (recheck)', () => {
  it('finds the regular expressions of the sources', () => {
    expect(all.length).toBeGreaterThan(50);
    expect(all.some((f) => f.where.startsWith('src/schema/generated/'))).toBe(true);
    expect(all.some((f) => f.where.startsWith('TRACE_PATTERNS'))).toBe(true);
  });

  it('flags the old trace key=value pattern (negative control)', async () => {
    const r = await check(String.raw`([A-Za-z_][\w.]*)\s*[=:]\s*(-?(?:0x[0-9a-f]+|\d+))`, 'g', { timeout: 20_000 });
    expect(r.status).toBe('vulnerable');
  });

  it('no pattern of src/ is vulnerable', async () => {
    const bad: string[] = [];
    for (const f of distinct.values()) {
      const r = await check(f.source, f.flags, { timeout: 20_000 });
      const bounded =
        BOUNDED.has(f.where.split(':')[0]!) &&
        f.source.startsWith(String.raw`^\s*(.*?)-(\d+)`) &&
        r.status === 'vulnerable';
      if (r.status === 'vulnerable' && !bounded)
        bad.push(`${f.where}: /${f.source}/${f.flags} (${r.complexity.summary}; attack ${r.attack.pattern})`);
    }
    expect(bad).toEqual([]);
  }, 300_000);

  it('the bounded ftrace pattern never sees a line past its cap: a hostile long line is refused at once', () => {
    const hostile = '\t'.repeat(MAX_FTRACE_LINE) + '-0\t[0]\t:\t0.0:\tA::'.repeat(50);
    const t0 = performance.now();
    expect(() => parseTraceLine(hostile, 1)).toThrow(/longer than 4096 characters/);
    expect(performance.now() - t0).toBeLessThan(1000);
    // Its twin within the cap, a real event line, parses.
    expect(
      parseTraceLine('  modprobe-123   [001] d..1.   12.345678: arm_smmu_tlb_inv_range_domain: iova=0x1000', 2),
    ).not.toBeNull();
  });
});
