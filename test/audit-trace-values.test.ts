/**
 * Issue 18 item 3 (trace numbers): every operand of a QEMU trace is range-checked by the trace parser. A value
 * the command cannot hold (red-team rows T14–T21, T25) is exit 2 naming the line and the operand as written,
 * never masked into other fields; each bad line has a clean twin. For valid operands, the rebuilt entry's
 * fields are read back from its words with BigInt (an oracle independent of the parser's packing).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AuditInputError, parseQemuTrace } from '../src/audit/index.js';
import { operandValue } from '../src/audit/qemu-trace.js';

function trace(rangeLine: string, opcode = 'SMMU_CMD_TLBI_NH_VA'): string {
  return `smmuv3_cmdq_opcode <--- ${opcode}\n${rangeLine}\nsmmuv3_cmdq_opcode <--- SMMU_CMD_SYNC\n`;
}

const CLEAN = 'smmuv3_s1_range_inval vmid=0 asid=1 addr=0xffff6000 tg=1 num_pages=0x2 ttl=3 leaf=1';

function refusal(text: string): string {
  try {
    parseQemuTrace(text);
  } catch (e) {
    expect(e).toBeInstanceOf(AuditInputError);
    return (e as Error).message;
  }
  throw new Error('expected the trace to be refused');
}

/** The first entry's 128 bits. */
function entryBits(text: string): bigint {
  const { stream } = parseQemuTrace(text);
  const h = stream.halves;
  return BigInt(h[0]!) | (BigInt(h[1]!) << 32n) | (BigInt(h[2]!) << 64n) | (BigInt(h[3]!) << 96n);
}
const bits = (x: bigint, hi: number, lo: number): number =>
  Number((x >> BigInt(lo)) & ((1n << BigInt(hi - lo + 1)) - 1n));

describe('trace operands out of range are refused (exit 2), naming line and operand', () => {
  const cases: Array<[string, string, RegExp]> = [
    ['T14', 'num_pages=0x0', /^line 2: num_pages=0x0 is out of range/],
    ['T15', 'num_pages=-5', /^line 2: num_pages=-5 is out of range/],
    ['T16', 'num_pages=0x100000000000', /^line 2: num_pages=0x100000000000 is out of range/],
    ['T17', 'num_pages=1e400', /^line 2: num_pages=1e400 is not a whole decimal or 0x hex number$/],
    ['T17b', 'num_pages=1.5', /^line 2: num_pages=1\.… is not a whole number$/],
    ['T16b', 'num_pages=33', /^line 2: num_pages=33 is not \(NUM\+1\) × 2\^SCALE/],
    ['T18', 'addr=0xffffffffffffffffffff', /^line 2: addr=0xffffffffffffffffffff does not fit in 64 bits$/],
    ['T19', 'addr=-0x1000', /^line 2: addr=-0x1000 is out of range \(0 to 2\^64 - 1\)$/],
    ['T20', 'tg=7', /^line 2: tg=7 is out of range \(0 to 3\)$/],
    ['T20b', 'ttl=9', /^line 2: ttl=9 is out of range \(0 to 3\)$/],
    ['T20c', 'leaf=5', /^line 2: leaf=5 is out of range \(0 or 1\)$/],
    ['T21', 'asid=12345678901', /^line 2: asid=12345678901 is out of range \(a 16-bit ASID, or -1 for any\)$/],
    ['T21b', 'vmid=99999999', /^line 2: vmid=99999999 is out of range \(a 16-bit VMID, or -1 for any\)$/],
  ];
  for (const [row, operand, message] of cases) {
    it(`${row}: ${operand}`, () => {
      const key = operand.split('=')[0]!;
      const bad = CLEAN.replace(new RegExp(` ${key}=\\S+`), ` ${operand}`);
      expect(bad).not.toBe(CLEAN);
      expect(refusal(trace(bad))).toMatch(message);
      // The clean twin reads, with no finding made up from the operands.
      expect(() => parseQemuTrace(trace(CLEAN))).not.toThrow();
    });
  }

  it('T25: cfgi_ste_range with end below start; the twin with end above reads as RANGE', () => {
    const bad = trace('smmuv3_cmdq_cfgi_ste_range start=16 end=3', 'SMMU_CMD_CFGI_STE_RANGE');
    expect(refusal(bad)).toBe('line 2: end=3 is below start=16');
    const good = entryBits(trace('smmuv3_cmdq_cfgi_ste_range start=16 end=31', 'SMMU_CMD_CFGI_STE_RANGE'));
    expect(bits(good, 63, 32)).toBe(16); // StreamID
    expect(bits(good, 68, 64)).toBe(3); // Range: 2^(3+1) = 16 StreamIDs (IHI 0070 §4.3.3)
  });

  it("QEMU's wildcard ASID (-1, or 4294967295 printed unsigned) is the wildcard, not an error", () => {
    for (const w of ['-1', '4294967295', '0xffffffff']) {
      const x = entryBits(trace(CLEAN.replace('asid=1', `asid=${w}`)));
      expect(bits(x, 63, 48)).toBe(0);
    }
  });
});

describe('valid operands rebuild the same values (BigInt oracle)', () => {
  it('addr, TG, TTL, leaf, ASID, VMID and (NUM+1) × 2^SCALE', () => {
    const encodable = fc
      .tuple(fc.integer({ min: 0, max: 31 }), fc.integer({ min: 0, max: 31 }))
      .map(([num, scale]) => (num + 1) * 2 ** scale);
    fc.assert(
      fc.property(
        fc.bigInt({ min: 0n, max: (1n << 52n) - 1n }).map((a) => a << 12n),
        fc.integer({ min: 1, max: 3 }),
        encodable,
        fc.integer({ min: 0, max: 3 }),
        fc.integer({ min: 0, max: 1 }),
        fc.integer({ min: 0, max: 0xffff }),
        fc.integer({ min: 0, max: 0xffff }),
        (addr, tg, pages, ttl, leaf, asid, vmid) => {
          const line = `smmuv3_s1_range_inval vmid=${vmid} asid=${asid} addr=0x${addr.toString(16)} tg=${tg} num_pages=0x${pages.toString(16)} ttl=${ttl} leaf=${leaf}`;
          const x = entryBits(trace(line));
          const num = bits(x, 16, 12);
          const scale = bits(x, 24, 20);
          expect((num + 1) * 2 ** scale).toBe(pages);
          expect(bits(x, 63, 48)).toBe(asid);
          expect(bits(x, 47, 32)).toBe(vmid);
          expect(bits(x, 64, 64)).toBe(leaf);
          expect(bits(x, 73, 72)).toBe(ttl);
          expect(bits(x, 75, 74)).toBe(tg);
          expect((x >> 76n) << 12n).toBe(addr);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('operandValue reads what BigInt reads, and refuses what a double cannot hold', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), fc.boolean(), (v, hex) => {
        const text = hex ? `0x${v.toString(16)}` : v.toString(10);
        const got = operandValue(text, NaN);
        const exact = BigInt(Number(v)) === v;
        if (hex ? v <= BigInt(Number.MAX_SAFE_INTEGER) || v % 4096n === 0n : v <= BigInt(Number.MAX_SAFE_INTEGER)) {
          expect(exact).toBe(true);
          expect(got).toBe(Number(v));
        } else expect(typeof got).toBe('string');
      }),
      { numRuns: 500 },
    );
  });

  it('operandValue at every length: leading zeros, upper-case hex, signs (BigInt oracle)', () => {
    const value = fc
      .integer({ min: 0, max: 64 })
      .chain((bits) => fc.bigInt({ min: 0n, max: (1n << BigInt(bits)) - 1n }));
    fc.assert(
      fc.property(
        value,
        fc.boolean(),
        fc.integer({ min: 0, max: 3 }),
        fc.boolean(),
        fc.boolean(),
        (v, hex, zeros, upper, neg) => {
          let digits = '0'.repeat(zeros) + v.toString(hex ? 16 : 10);
          if (upper) digits = digits.toUpperCase();
          const text = `${neg ? '-' : ''}${hex ? '0x' : ''}${digits}`;
          const got = operandValue(text, NaN);
          const fits = v <= BigInt(Number.MAX_SAFE_INTEGER) || (hex && v % 4096n === 0n && v < 1n << 64n);
          if (fits) expect(got).toBe(neg ? -Number(v) : Number(v));
          else expect(typeof got).toBe('string');
        },
      ),
      { numRuns: 2000 },
    );
    // Digits that are not digits of the base are refused, wherever they are.
    for (const bad of ['0x12g4', '12a', '0x', '-', '1_000', '0x1.5'])
      expect(typeof operandValue(bad, NaN), bad).toBe('string');
  });
});
