/**
 * The input schemas (src/schema): the generated validators are up to date with their definitions and load
 * nothing at run time; the strict JSON reader agrees with JSON.parse on every document JSON.parse reads
 * exactly, and refuses what JSON.parse would silently change (duplicate keys, numbers past 2^53, Infinity);
 * the registers schema accepts every sample's cmdq.json and every register name of IHI 0070 §6.2/§6.3, and
 * refuses each bad value of the red-team report (V rows) naming the field, each beside a clean twin.
 */
import { readFileSync, readdirSync, existsSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { staleFiles } from '../scripts/schemas.js';
import { InputError } from '../src/parse.js';
import { parseRegisters, parseStrictJson, REGISTERS } from '../src/schema/index.js';

const root = new URL('../', import.meta.url);

function errorOf(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(InputError);
    return (e as Error).message;
  }
  throw new Error('expected an InputError');
}

describe('generated validators', () => {
  it('are what scripts/schemas.ts makes from src/schema/defs (npm run schemas)', async () => {
    expect(await staleFiles()).toEqual([]);
  });

  it('import nothing (no ajv at run time)', () => {
    const dir = new URL('src/schema/generated/', root);
    const files = readdirSync(dir).filter((f) => f.endsWith('.ts'));
    expect(files.length).toBeGreaterThan(0);
    for (const f of files) {
      const text = readFileSync(new URL(f, dir), 'utf8');
      expect(text).not.toMatch(/\bimport\b|\brequire\s*\(/);
      expect(existsSync(new URL(`schemas/${f.replace(/\.ts$/, '.schema.json')}`, root))).toBe(true);
    }
  });
});

describe('strict JSON', () => {
  const safeJson = fc.jsonValue({ maxDepth: 6 }).filter((v) => {
    // Only documents JSON.parse reads exactly: numbers within 2^53 (and not -0, which JSON writes as 0).
    const text = JSON.stringify(v);
    return !/\d{16,}|e\+/i.test(text);
  });

  it('reads what JSON.parse reads, the same way (random documents, any spacing)', () => {
    fc.assert(
      fc.property(safeJson, fc.integer({ min: 0, max: 4 }), (v, indent) => {
        const text = JSON.stringify(v, null, indent);
        expect(parseStrictJson(text, 'in')).toEqual(JSON.parse(text));
      }),
      { numRuns: 300 },
    );
  });

  it('refuses what JSON.parse refuses (truncated documents)', () => {
    fc.assert(
      fc.property(safeJson, fc.nat(), (v, cut) => {
        const text = JSON.stringify(v);
        const part = text.slice(0, cut % Math.max(1, text.length));
        let ok = true;
        try {
          JSON.parse(part);
        } catch {
          ok = false;
        }
        if (ok) expect(parseStrictJson(part, 'in')).toEqual(JSON.parse(part));
        else expect(() => parseStrictJson(part, 'in')).toThrow(InputError);
      }),
      { numRuns: 300 },
    );
  });

  it('a duplicate key names its path; the twin with distinct keys reads', () => {
    expect(errorOf(() => parseStrictJson('{"a": {"b": [1, {"c": 1, "c": 2}]}}', '--input'))).toBe(
      '--input: a.b[1].c: the key is given twice',
    );
    expect(parseStrictJson('{"a": {"b": [1, {"c": 1, "d": 2}]}}', '--input')).toEqual({
      a: { b: [1, { c: 1, d: 2 }] },
    });
  });

  it('numbers past 2^53 or overflowing are refused as written, not rounded; 2^53 - 1 reads', () => {
    expect(errorOf(() => parseStrictJson('{"x": 18446744073709551615}', 's'))).toMatch(
      /^s: x: the number 18446744073709551615 is above 2\^53 - 1/,
    );
    expect(errorOf(() => parseStrictJson('[1e400]', 's'))).toBe('s: [0]: the number 1e400 is out of range');
    expect(errorOf(() => parseStrictJson('[9007199254740992]', 's'))).toMatch(/above 2\^53/);
    expect(parseStrictJson('[9007199254740991, -9007199254740991, 1.5e3]', 's')).toEqual([
      9007199254740991, -9007199254740991, 1500,
    ]);
  });

  it('100k-deep nesting is one error, not a stack overflow; 64 levels read', () => {
    const deep = '['.repeat(100_000) + ']'.repeat(100_000);
    expect(errorOf(() => parseStrictJson(deep, 's'))).toMatch(/nested deeper than 64 levels/);
    const ok = '['.repeat(64) + ']'.repeat(64);
    expect(parseStrictJson(ok, 's')).toEqual(JSON.parse(ok));
  });

  it('__proto__ is an own key, not the prototype', () => {
    const v = parseStrictJson('{"__proto__": {"polluted": 1}}', 's') as Record<string, unknown>;
    expect(Object.keys(v)).toEqual(['__proto__']);
    expect(Object.getPrototypeOf(v)).toBe(Object.prototype);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('syntax errors give line and column', () => {
    expect(errorOf(() => parseStrictJson('{\n  "a": 1,\n}', 'f.json'))).toBe(
      'f.json: invalid JSON at line 3 column 1: expected a key in double quotes',
    );
  });
});

/** BigInt oracle: a register value as written → [lo, hi]. */
function oracle(v: string | number): [number, number] {
  const b = BigInt(v);
  return [Number(b & 0xffffffffn), Number(b >> 32n)];
}

describe('registers schema', () => {
  const samples = readdirSync(new URL('samples/', root)).filter((d) =>
    existsSync(new URL(`samples/${d}/cmdq.json`, root)),
  );

  it('accepts every sample cmdq.json, values exact (BigInt oracle), log2size agreeing with CMDQ_BASE', () => {
    expect(samples.length).toBeGreaterThanOrEqual(4);
    for (const d of samples) {
      const text = readFileSync(new URL(`samples/${d}/cmdq.json`, root), 'utf8');
      const raw = JSON.parse(text) as Record<string, string | number>;
      const file = parseRegisters(text, d);
      for (const [k, v] of Object.entries(raw)) {
        if (k === 'log2size' || k === 'bytes' || k === 'base') continue;
        const [lo, hi] = oracle(v);
        expect(file.values.get(k), `${d} ${k}`).toEqual({ lo, hi });
      }
      expect(file.log2size).toBe(raw.log2size);
      expect(file.log2size).toBe(Number(BigInt(raw.CMDQ_BASE!) & 0x1fn));
      expect(file.base).toBe(Number(BigInt(raw.base!)));
    }
  });

  it('accepts every register name, with and without SMMU_, and indexed control-page registers', () => {
    const doc: Record<string, string> = {};
    for (const r of REGISTERS)
      doc[r.bits === 64 ? `SMMU_${r.name}` : r.name] = r.bits === 64 ? '0xffffffffffffffff' : '0xffffffff';
    doc.CMDQ_CONTROL_PAGE_BASE0 = '0x1';
    doc.SMMU_S_CMDQ_CONTROL_PAGE_CFG255 = '0x1';
    doc.R_CMDQ_CONTROL_PAGE_STATUS17 = '0x1';
    delete doc.SMMU_CMDQ_BASE; // all ones would be LOG2SIZE 31
    const file = parseRegisters(JSON.stringify(doc), 'r');
    expect(file.values.size).toBe(REGISTERS.length - 1 + 3);
    expect(file.values.get('S_STRTAB_BASE')).toEqual({ lo: 0xffffffff, hi: 0xffffffff });
    // Names from the spec's register map (IHI 0070 §6.2) spot-checked.
    const names = new Set(REGISTERS.map((r) => r.name));
    for (const n of [
      'IDR6',
      'CR0ACK',
      'GERROR_IRQ_CFG2',
      'PRIQ_CONS',
      'VATOS_PAR',
      'S_INIT',
      'R_GMECID',
      'ROOT_TLBI_CTRL',
      'ECMDQ_CONS',
    ])
      expect(names.has(n), n).toBe(true);
    expect(names.has('S_PRIQ_BASE')).toBe(false);
    expect(errorOf(() => parseRegisters('{"CMDQ_CONTROL_PAGE_BASE256": "0x1"}', 'r'))).toMatch(/unknown key/);
  });

  /** [bad document, message pattern, clean twin]. */
  const cases: Array<[string, RegExp, string]> = [
    [
      '{"CMDQ_PRODD": "0x4585"}',
      /^--regs: CMDQ_PRODD: unknown key \(did you mean CMDQ_PROD\?\)$/,
      '{"CMDQ_PROD": "0x4585"}',
    ],
    ['{"CMDQ_PROD": null}', /^--regs: CMDQ_PROD: expected a 32-bit value.*got null$/, '{"CMDQ_PROD": 0}'],
    ['{"CMDQ_PROD": "garbage"}', /^--regs: CMDQ_PROD: expected a 32-bit value.*got "garbage"$/, '{"CMDQ_PROD": "0xa"}'],
    ['{"CMDQ_PROD": "0x1_0000_0000"}', /^--regs: CMDQ_PROD: /, '{"CMDQ_PROD": "0x00000000ffffffff"}'],
    ['{"CMDQ_PROD": 4294967296}', /^--regs: CMDQ_PROD: expected a 32-bit value/, '{"CMDQ_PROD": 4294967295}'],
    ['{"IDR0": "0x1ffffffff"}', /^--regs: IDR0: expected a 32-bit value.*got "0x1ffffffff"$/, '{"IDR0": "0xffffffff"}'],
    // Decimal in a string is ambiguous (is "4585" hex?): a JSON number is decimal, a string must be 0x hex.
    [
      '{"CMDQ_BASE": "40000000f8900010"}',
      /^--regs: CMDQ_BASE: expected a 64-bit value/,
      '{"CMDQ_BASE": "0x40000000f8900010"}',
    ],
    ['{"CMDQ_BASE": "65552"}', /^--regs: CMDQ_BASE: expected a 64-bit value/, '{"CMDQ_BASE": 65552}'],
    [
      '{"CMDQ_BASE": 18446744073709551615}',
      /^--regs: CMDQ_BASE: the number 18446744073709551615 is above 2\^53/,
      '{"CMDQ_BASE": "0xffffffffffffff10"}',
    ],
    ['{"CMDQ_BASE": "0x1f"}', /^--regs: CMDQ_BASE: LOG2SIZE \(bits \[4:0\]\) is 31/, '{"CMDQ_BASE": "0x13"}'],
    [
      '{"CMDQ_PROD": 1, "CMDQ_PROD": 2}',
      /^--regs: CMDQ_PROD: the key is given twice$/,
      '{"CMDQ_PROD": 1, "CMDQ_CONS": 2}',
    ],
    [
      '{"CMDQ_PROD": 1, "SMMU_CMDQ_PROD": 1}',
      /given twice \(as CMDQ_PROD and SMMU_CMDQ_PROD\)/,
      '{"SMMU_CMDQ_PROD": 1}',
    ],
    ['{"log2size": 20}', /^--regs: log2size: expected the queue size as log2/, '{"log2size": 19}'],
    ['{"log2size": "16"}', /^--regs: log2size: expected the queue size as log2.*got "16"$/, '{"log2size": 16}'],
    [
      '{"log2size": 8, "CMDQ_BASE": "0x10"}',
      /^--regs: log2size: 8 disagrees with CMDQ_BASE.LOG2SIZE = 16$/,
      '{"log2size": 16, "CMDQ_BASE": "0x10"}',
    ],
    ['{"bytes": 1000}', /^--regs: bytes: 1000 is not 16 times a power of two/, '{"bytes": 1024}'],
    [
      '{"bytes": 4096, "log2size": 16}',
      /^--regs: bytes: 4096 disagrees with a queue of 2\^16 entries/,
      '{"bytes": 1048576, "log2size": 16}',
    ],
    ['{"base": "0xffffffffffffffff"}', /^--regs: base: 0xffffffffffffffff is above 2\^53/, '{"base": "0xf8900000"}'],
    ['{"__proto__": {"CMDQ_PROD": 1}}', /^--regs: __proto__: unknown key$/, '{}'],
    ['{"constructor": 1}', /^--regs: constructor: unknown key$/, '{}'],
    ['[1, 2]', /^--regs: expected a JSON object, got \[1,2\]$/, '{}'],
    ['"0x10"', /^--regs: expected a JSON object, got "0x10"$/, '{}'],
  ];
  for (const [bad, message, twin] of cases) {
    it(`refuses ${bad} naming the field; ${twin} reads`, () => {
      expect(errorOf(() => parseRegisters(bad, '--regs'))).toMatch(message);
      expect(() => parseRegisters(twin, '--regs')).not.toThrow();
    });
  }

  it('a decimal CMDQ_BASE number reads the same ring size as its hex string (red-team V: 2^8 vs 2^16)', () => {
    const hex = parseRegisters('{"CMDQ_BASE": "0x40000000f8900010"}', 'r');
    const dec = parseRegisters(`{"CMDQ_BASE": ${0xf8900010}}`, 'r');
    expect(hex.log2size).toBe(16);
    expect(dec.log2size).toBe(16);
  });
});
