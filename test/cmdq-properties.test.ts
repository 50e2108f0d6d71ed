/**
 * Property tests of the codec: round trips both ways for every command kind, agreement with the BigInt
 * reference layout, and robustness on arbitrary 16-byte inputs (decode never throws).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  CommandChecker,
  DEFAULT_FEATURES,
  decodeBytes,
  decodeHalves,
  encodeHalves,
  withFeatures,
  type Command,
  type CommandName,
} from '../src/cmdq/index.js';
import { availableNames, legalCommandOf, type Config } from './cmdq-arbitraries.js';
import { REF, REF_NAMES, entryHalves, refDecode, refDefinedMask, refEncode, wordsOf } from './cmdq-reference.js';

const CONFIGS: Config[] = [
  { label: 'default (Non-secure queue)', features: DEFAULT_FEATURES, queue: 'non-secure' },
  { label: 'Secure queue, MPAM, DS', features: withFeatures({ mpam: true, ds: true }), queue: 'secure' },
  {
    label: 'S1-only, 8-bit tags, no RIL, stall model 1',
    features: withFeatures({ stage2: false, asid16: false, vmid16: false, ril: false, stallModel: 1 }),
    queue: 'non-secure',
  },
];

const checkerOf = (cfg: Config, lax = false): CommandChecker =>
  new CommandChecker({ features: cfg.features, queue: cfg.queue, lax });

const VALID_OPCODES = REF_NAMES.map((n) => REF[n]!.opcode);

describe('decode(encode(c)) = c for random legal commands', () => {
  for (const cfg of CONFIGS) {
    const checker = checkerOf(cfg);
    const names = availableNames(cfg);
    it(`${cfg.label}: every available kind (${names.length}), words as in the BigInt reference`, () => {
      for (const name of names) {
        fc.assert(
          fc.property(legalCommandOf(name, cfg), (c: Command) => {
            const h = encodeHalves(c, checker);
            const [w0, w1] = refEncode(name, c as unknown as Record<string, number>);
            expect(h).toEqual(entryHalves(w0, w1));
            const r = decodeHalves(...h, checker);
            expect(r.ok).toBe(true);
            if (r.ok) {
              expect(r.command).toEqual(c);
              expect(r.warnings).toHaveLength(0);
            }
          }),
          { numRuns: 300 },
        );
      }
    });
  }

  it('the default SMMU refuses EL3_* and CFGI_VMS_PIDM commands that are legal with the right option', () => {
    const full = CONFIGS[1]!;
    const def = checkerOf(CONFIGS[0]!);
    for (const name of ['TLBI_EL3_ALL', 'TLBI_EL3_VA', 'CFGI_VMS_PIDM'] as CommandName[]) {
      fc.assert(
        fc.property(legalCommandOf(name, { ...full, queue: 'non-secure' }), (c) => {
          expect(() => encodeHalves(c, def)).toThrow(/illegal here/);
        }),
        { numRuns: 50 },
      );
    }
  });
});

/** Random entries that are often legal: a known opcode and random bits, mostly inside the defined fields. */
const likelyEntry = fc
  .record({
    opcode: fc.constantFrom(...VALID_OPCODES),
    w0: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
    w1: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
    keepStray: fc.boolean(),
    sparse: fc.nat({ max: 3 }),
  })
  .map(({ opcode, w0, w1, keepStray, sparse }) => {
    const name = REF_NAMES.find((n) => REF[n]!.opcode === opcode)!;
    const [m0, m1] = refDefinedMask(name);
    // Sparse variants clear most range-field bits so TG=0 / small values appear often.
    const thin = sparse === 0 ? 0x000fffffffff0000n : (1n << 64n) - 1n;
    let a = ((w0 & ~0xffn) | BigInt(opcode)) & (keepStray ? (1n << 64n) - 1n : m0);
    let b = w1 & (keepStray ? (1n << 64n) - 1n : m1) & (sparse === 0 ? thin : (1n << 64n) - 1n);
    if (sparse === 1) {
      a &= (~(0x3fn << 20n) & ~(0x1fn << 12n)) | 0xffn;
      b &= ~(0xfn << 8n);
    }
    return [a, b] as const;
  });

describe('encode(decode(w)) = w for every legal w', () => {
  for (const cfg of CONFIGS) {
    it(`${cfg.label}`, () => {
      const checker = checkerOf(cfg);
      let legal = 0;
      let total = 0;
      fc.assert(
        fc.property(likelyEntry, ([w0, w1]) => {
          total++;
          const h = entryHalves(w0, w1);
          const r = decodeHalves(...h, checker);
          if (!r.ok) return;
          legal++;
          expect(encodeHalves(r.command, checker)).toEqual(h);
          // Same fields as the reference reads from the words.
          const ref = refDecode(w0, w1)!;
          expect(r.command.name).toBe(ref.name);
          const got = Object.fromEntries(Object.entries(r.command).filter(([k]) => k !== 'name'));
          expect(Object.fromEntries(Object.entries(got).map(([k, x]) => [k, BigInt(x as number)]))).toEqual(ref.fields);
        }),
        { numRuns: 20_000 },
      );
      // The property must not pass vacuously.
      expect(legal / total).toBeGreaterThan(0.1);
    });
  }

  it('lax: a legal entry with stray RES0 bits re-encodes to its defined bits only', () => {
    const checker = checkerOf(CONFIGS[1]!, true);
    let warned = 0;
    fc.assert(
      fc.property(likelyEntry, ([w0, w1]) => {
        const h = entryHalves(w0, w1);
        const r = decodeHalves(...h, checker);
        if (!r.ok) return;
        const [m0, m1] = refDefinedMask(r.command.name);
        const back = wordsOf(...encodeHalves(r.command, checker));
        expect(back).toEqual([w0 & m0, w1 & m1]);
        if ((w0 & ~m0) !== 0n || (w1 & ~m1) !== 0n) {
          warned++;
          expect(r.warnings.length).toBeGreaterThan(0);
        }
      }),
      { numRuns: 5_000 },
    );
    expect(warned).toBeGreaterThan(100);
  });
});

describe('decode never throws on arbitrary 16-byte input', () => {
  const checkers = [
    new CommandChecker(),
    new CommandChecker({ lax: true }),
    new CommandChecker({ queue: 'secure', features: withFeatures({ mpam: true, ds: true }) }),
    new CommandChecker({
      features: withFeatures({ stage1: false, ats: false, pri: false, hyp: false, stallModel: 1 }),
    }),
  ];
  it('10^5 random entries (half with a known opcode) give the typed result', () => {
    let ok = 0;
    let runs = 0;
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 16, maxLength: 16 }),
        fc.boolean(),
        fc.nat({ max: checkers.length - 1 }),
        (bytes, forceOpcode, k) => {
          runs++;
          if (forceOpcode) bytes[0] = VALID_OPCODES[bytes[1]! % VALID_OPCODES.length]!;
          const checker = checkers[k]!;
          // Plain checks (not expect) so that 10^5 runs stay fast; a throw from decodeBytes fails the property.
          const r = decodeBytes(bytes, 0, checker);
          if (r.ok) {
            ok++;
            if (REF[r.command.name]?.opcode !== bytes[0]) return false;
            return r.warnings.every((w) => w.kind === 'WARNING');
          }
          return (
            r.error.kind === 'ILLEGAL' &&
            r.opcode === bytes[0] &&
            typeof r.error.field === 'string' &&
            r.error.field !== '' &&
            r.error.reason !== ''
          );
        },
      ),
      { numRuns: 100_000 },
    );
    expect(runs).toBe(100_000);
    expect(ok).toBeGreaterThan(0);
  });

  it('the same 16 bytes decode the same way through bytes and halves, at any offset', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 48, maxLength: 48 }), fc.nat({ max: 32 }), (bytes, off) => {
        const dv = new DataView(bytes.buffer);
        const h = [0, 4, 8, 12].map((k) => dv.getUint32(off + k, true)) as [number, number, number, number];
        expect(decodeBytes(bytes, off)).toEqual(decodeHalves(...h));
      }),
      { numRuns: 2_000 },
    );
  });
});
