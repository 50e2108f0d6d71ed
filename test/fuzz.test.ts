/**
 * Issue 18: the fuzz harness (CI runs it with a bounded number of cases; FUZZ_RUNS raises them locally).
 * fast-check over the CLI's value parsers (numbers, features, registers, strict JSON) and mutated real samples
 * (the Linux 6.1 ring, its QEMU trace, the pasted kernel log) through decode, text-dump reading and audit, all
 * in-process. What must hold for every input: a result, or a usage error (InputError: exit 2) — never another
 * exception (exit 3); time linear in the input (a per-case budget generous enough to be only a hang guard);
 * memory bounded (heap growth over the whole run). The regression corpus (test/fuzz-corpus/) holds inputs that
 * once broke the tool; each is replayed with the outcome it must have now.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { auditStream, parseQemuTrace, readRing } from '../src/audit/index.js';
import { decodeSlot, halvesFromBytes } from '../src/cmdq/index.js';
import { parseFeatureList } from '../src/cli/features.js';
import { InputError, parseUint, parseUintIn } from '../src/parse.js';
import { parseRegisters, parseStrictJson } from '../src/schema/index.js';
import { parseTextDump } from '../src/textdump/index.js';
import { DEFAULT_FEATURES } from '../src/cmdq/index.js';

const RUNS = Number(process.env.FUZZ_RUNS ?? 60);
const S = new URL('../samples/linux-6.1-qemu-7.2-strict/', import.meta.url);
const RING = new Uint8Array(gunzipSync(readFileSync(new URL('cmdq.bin.gz', S))));
const TRACE = gunzipSync(readFileSync(new URL('qemu-trace.log.gz', S))).toString('utf8');
const TRACE_HEAD = TRACE.split('\n').slice(0, 400).join('\n');

/** Run f; only a usage error (InputError and its subclasses) may escape. Returns the time taken in ms. */
function usageOnly(f: () => unknown): number {
  const t0 = performance.now();
  try {
    f();
  } catch (e) {
    if (!(e instanceof InputError)) throw e;
  }
  return performance.now() - t0;
}

const hostileText = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.constantFrom(
    'constructor',
    '__proto__',
    'toString',
    'no-hasOwnProperty',
    '1e400',
    '0x',
    '-1',
    '٤٠٩٦',
    '４K',
    '0x1_0000',
  ),
  fc.stringMatching(/^(0x[0-9a-f]{0,20}|[0-9]{0,22})[kKmMgGtTpP]?$/),
);

describe('CLI value parsers', () => {
  it('numbers: a value within the bounds or a usage error, and what is accepted is what BigInt reads', () => {
    fc.assert(
      fc.property(hostileText, fc.integer({ min: 0, max: 2 ** 32 }), (t, max) => {
        usageOnly(() => parseUintIn(t, '--x', { max }));
        let v: number | undefined;
        try {
          v = parseUint(t, '--x');
        } catch (e) {
          expect(e).toBeInstanceOf(InputError);
        }
        if (v !== undefined && /^(0x[0-9a-f]+|[0-9]+)$/i.test(t)) expect(BigInt(v)).toBe(BigInt(t));
      }),
      { numRuns: RUNS * 10 },
    );
  });

  it('--features lists', () => {
    fc.assert(
      fc.property(fc.array(hostileText, { maxLength: 6 }), (xs) => {
        usageOnly(() => parseFeatureList(xs.join(','), DEFAULT_FEATURES));
      }),
      { numRuns: RUNS * 5 },
    );
  });

  it('registers documents and JSON: mutated real cmdq.json texts', () => {
    const text = readFileSync(new URL('cmdq.json', S), 'utf8');
    fc.assert(
      fc.property(fc.nat(text.length), fc.string({ maxLength: 8 }), fc.nat(8), (at, put, cut) => {
        const m = text.slice(0, at) + put + text.slice(at + cut);
        usageOnly(() => parseRegisters(m, '--regs'));
        usageOnly(() => parseStrictJson(m, 'in'));
      }),
      { numRuns: RUNS * 10 },
    );
  });
});

/** Flip, zero or copy bytes of a ring. */
const ringMutation = fc.array(
  fc.tuple(fc.nat(RING.length - 1), fc.nat(255), fc.constantFrom('set', 'zero16', 'copy16')),
  {
    minLength: 1,
    maxLength: 64,
  },
);

function mutateRing(muts: Array<[number, number, string]>): Uint8Array {
  const b = RING.slice();
  for (const [at, v, kind] of muts) {
    const slot = at & ~15;
    if (kind === 'set') b[at] = v;
    else if (kind === 'zero16') b.fill(0, slot, slot + 16);
    else b.copyWithin(slot, (v * 16) % RING.length, ((v * 16) % RING.length) + 16);
  }
  return b;
}

describe('mutated real samples through decode and audit (in-process)', () => {
  const heap0 = process.memoryUsage().heapUsed;

  it('the 6.1 ring: decode every slot, audit with and without registers', () => {
    fc.assert(
      fc.property(ringMutation, fc.option(fc.nat(0x1ffff)), (muts, prod) => {
        const b = mutateRing(muts);
        const u32 = halvesFromBytes(b);
        for (let s = 0; s < 2048; s++) decodeSlot(u32, s);
        const ms = usageOnly(() => {
          const st = readRing(b, prod === null ? {} : { prod, cons: prod, log2size: 16 });
          auditStream(st, { replan: false });
        });
        expect(ms).toBeLessThan(30_000);
      }),
      { numRuns: Math.max(5, RUNS / 6) },
    );
  }, 600_000);

  it('the QEMU trace: lines cut, duplicated, numbers replaced', () => {
    const lines = TRACE_HEAD.split('\n');
    fc.assert(
      fc.property(
        fc.array(
          fc.tuple(
            fc.nat(lines.length - 1),
            fc.constantFrom('cut', 'dup', 'num', 'junk'),
            fc.string({ maxLength: 12 }),
          ),
          {
            maxLength: 20,
          },
        ),
        (muts) => {
          const ls = lines.slice();
          for (const [at, kind, s] of muts) {
            const l = ls[at] ?? '';
            if (kind === 'cut') ls[at] = l.slice(0, s.length * 3);
            else if (kind === 'dup') ls.splice(at, 0, l);
            else if (kind === 'num') ls[at] = l.replace(/=(\S+)/, `=${s}`);
            else ls[at] = l + s;
          }
          const text = ls.join('\n');
          const ms = usageOnly(() => auditStream(parseQemuTrace(text).stream, { replan: false }));
          expect(ms).toBeLessThan(30_000);
        },
      ),
      { numRuns: RUNS },
    );
  }, 600_000);

  it('random lines up to 1 MB through the trace parser and the text-dump reader: linear time (hang guard)', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(
          'smmuv3_cmdq_cfgi_ste ',
          'smmuv3_s1_range_inval ',
          '[  1.0] arm-smmu-v3 CMDQ error (cons 0x1): ',
          'x/gx ',
        ),
        fc.constantFrom('a', 'a=', '0x', ' ', 'CMDQ error (cons 0x1):', 'arm-smmu-v3', '=1 ', '\t'),
        fc.integer({ min: 1, max: 1 << 20 }),
        (head, unit, n) => {
          const line = head + unit.repeat(Math.ceil(n / unit.length)).slice(0, n);
          const text = `smmuv3_cmdq_opcode <--- SMMU_CMD_CFGI_STE\n${line}\nsmmuv3_cmdq_opcode <--- SMMU_CMD_SYNC\n`;
          const ms = usageOnly(() => parseQemuTrace(text)) + usageOnly(() => parseTextDump(line, 'in'));
          // Generous: a hang guard only (the per-byte cost is measured in bench/, not here).
          expect(ms).toBeLessThan(10_000);
        },
      ),
      { numRuns: Math.max(6, RUNS / 5) },
    );
  }, 600_000);

  it('memory stays bounded over the run', () => {
    expect(process.memoryUsage().heapUsed - heap0).toBeLessThan(1024 * 1024 * 1024);
  });
});

describe('regression corpus (test/fuzz-corpus/): inputs that once broke the tool', () => {
  const dir = new URL('fuzz-corpus/', import.meta.url);
  const cases = readdirSync(dir).filter((f) => f.endsWith('.json'));
  it('has cases', () => expect(cases.length).toBeGreaterThan(5));
  for (const f of cases) {
    const c = JSON.parse(readFileSync(new URL(f, dir), 'utf8')) as {
      row: string;
      kind: 'trace' | 'regs' | 'json' | 'features' | 'number';
      input: string;
      /** The usage error's message (a pattern), or null for "accepted". */
      error: string | null;
    };
    it(`${c.row}: ${f}`, () => {
      const run = (): unknown => {
        if (c.kind === 'trace') return parseQemuTrace(c.input);
        if (c.kind === 'regs') return parseRegisters(c.input, '--regs');
        if (c.kind === 'json') return parseStrictJson(c.input, 'in');
        if (c.kind === 'features') return parseFeatureList(c.input, DEFAULT_FEATURES);
        return parseUint(c.input, '--x');
      };
      if (c.error === null) expect(run).not.toThrow();
      else expect(run).toThrow(new RegExp(c.error));
    });
  }
});
