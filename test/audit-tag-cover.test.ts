/**
 * The `covered-by-whole-tag` waste rule answered from an index (src/audit/tag-cover.ts) instead of trying every
 * whole-tag command of a batch for every TLBI (n² for a batch of n NH_ASID commands). Checked against a
 * reference written here from the architecture's scopes (IHI 0070 §4.4.2): for random batches of whole-tag
 * and range TLBIs with few tags, each finding names the earliest covering command of its batch, and a TLBI no
 * whole-tag command covers has none. The clean twin: the same commands, each in a batch of its own, have no
 * such finding.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { makeCommand, type Command } from '../src/cmdq/index.js';
import { run, sync } from './audit-helpers.js';

type Spec = { op: string; vmid: number; asid: number; addr: number };

const OPS = [
  'TLBI_NSNH_ALL',
  'TLBI_S12_VMALL',
  'TLBI_NH_ALL',
  'TLBI_NH_ASID',
  'TLBI_NH_VA',
  'TLBI_NH_VAA',
  'TLBI_S2_IPA',
  'TLBI_EL2_ALL',
  'TLBI_EL2_ASID',
  'TLBI_EL2_VA',
] as const;

function command(s: Spec): Command {
  const range = { addr: s.addr, num: 0, scale: 0, ttl: 3, tg: 1, leaf: 1 };
  switch (s.op) {
    case 'TLBI_NSNH_ALL':
    case 'TLBI_EL2_ALL':
      return makeCommand(s.op, {});
    case 'TLBI_S12_VMALL':
    case 'TLBI_NH_ALL':
      return makeCommand(s.op, { vmid: s.vmid });
    case 'TLBI_NH_ASID':
      return makeCommand(s.op, { vmid: s.vmid, asid: s.asid });
    case 'TLBI_EL2_ASID':
      return makeCommand(s.op, { asid: s.asid });
    case 'TLBI_NH_VA':
      return makeCommand(s.op, { vmid: s.vmid, asid: s.asid, ...range });
    case 'TLBI_NH_VAA':
    case 'TLBI_S2_IPA':
      return makeCommand(s.op, { vmid: s.vmid, ...range });
    case 'TLBI_EL2_VA':
      return makeCommand(s.op, { asid: s.asid, ...range });
    default:
      throw new Error(s.op);
  }
}

/** Does whole-tag command y remove everything TLBI x must remove? (Written from the scopes, not from rules.ts.) */
function covers(y: Spec, x: Spec): boolean {
  if (y.op === x.op) return false;
  const nh = x.op.startsWith('TLBI_NH_');
  const el2 = x.op.startsWith('TLBI_EL2_');
  switch (y.op) {
    case 'TLBI_NSNH_ALL':
      return nh || x.op === 'TLBI_S2_IPA' || x.op === 'TLBI_S12_VMALL';
    case 'TLBI_S12_VMALL':
      return (nh || x.op === 'TLBI_S2_IPA') && x.vmid === y.vmid;
    case 'TLBI_NH_ALL':
      return nh && x.vmid === y.vmid;
    case 'TLBI_NH_ASID':
      return x.op === 'TLBI_NH_VA' && x.vmid === y.vmid && x.asid === y.asid;
    case 'TLBI_EL2_ALL':
      return el2;
    case 'TLBI_EL2_ASID':
      return x.op === 'TLBI_EL2_VA' && x.asid === y.asid;
    default:
      return false;
  }
}

const WHOLE = new Set([
  'TLBI_NSNH_ALL',
  'TLBI_S12_VMALL',
  'TLBI_NH_ALL',
  'TLBI_NH_ASID',
  'TLBI_EL2_ALL',
  'TLBI_EL2_ASID',
]);

const specArb: fc.Arbitrary<Spec> = fc.record({
  op: fc.constantFrom(...OPS),
  vmid: fc.integer({ min: 0, max: 2 }),
  asid: fc.integer({ min: 0, max: 2 }),
  addr: fc.integer({ min: 1, max: 64 }).map((p) => p * 0x1000),
});

const coveredBy = (items: Command[]): Map<number, number> => {
  const rep = run(items, { e2h: true });
  const m = new Map<number, number>();
  for (const f of rep.findings) if (f.rule === 'covered-by-whole-tag') m.set(f.index, f.related[0]!);
  return m;
};

describe('covered-by-whole-tag names the earliest covering command of the batch', () => {
  it('matches the reference on random batches (fast-check)', () => {
    fc.assert(
      fc.property(fc.array(specArb, { minLength: 1, maxLength: 24 }), (specs) => {
        const got = coveredBy([...specs.map(command), sync()]);
        specs.forEach((x, i) => {
          let want = -1;
          for (let y = 0; y < specs.length && want < 0; y++)
            if (WHOLE.has(specs[y]!.op) && y !== i && covers(specs[y]!, x)) want = y;
          expect(got.get(i) ?? -1, `${x.op} #${i}`).toBe(want);
        });
      }),
      { numRuns: 400 },
    );
  });

  it('clean twin: the same commands each in a batch of its own are never covered', () => {
    fc.assert(
      fc.property(fc.array(specArb, { minLength: 1, maxLength: 12 }), (specs) => {
        expect(coveredBy(specs.flatMap((s) => [command(s), sync()])).size).toBe(0);
      }),
      { numRuns: 100 },
    );
  });

  it('a batch of 20,000 NH_ASID commands (256 tags) is checked in linear time: every repeat is a duplicate', () => {
    const items: Command[] = [];
    for (let k = 0; k < 20_000; k++) items.push(makeCommand('TLBI_NH_ASID', { vmid: 0, asid: k & 0xff }));
    const rep = run([...items, sync()], { keepFindings: 1 });
    expect(rep.counts.byRule['duplicate-span']).toBe(20_000 - 256);
    expect(rep.counts.byRule['covered-by-whole-tag'] ?? 0).toBe(0);
  });
});
