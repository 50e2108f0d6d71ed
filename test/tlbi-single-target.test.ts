/**
 * The planners' single-target fast path (one live TLB target on an SMMU with range invalidation, written
 * without the walk over the targets, its one-command plans in one piece) against the general walk: the same
 * target behind a trashed entry (so the array holds two slots and the walk runs) must give the same entries,
 * SMMU tags and batch ends, for both policies, over random requests — 52-bit addresses, every granule and
 * block size, RIL on and off, E2H, forceSync, repeat and DS, leaf and non-leaf, every TTL level, several
 * plans accumulated into one small output (so its storage grows mid-plan). The walk itself is judged against
 * an independent model in tlbi-coverage and against real captures in tlbi-golden.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  PlanOutput,
  invalidateRange,
  invsOf,
  tlbiInv,
  unrefInvs,
  type InvKey,
  type Invs,
  type RangeRequest,
  type SmmuOptions,
  type TlbiDescription,
} from '../src/tlbi/index.js';

const ADDRESS_LIMIT = 2 ** 52;
const PGSIZES = [4096, 16384, 65536] as const;
const TLB_TYPES = ['S1_ASID', 'S1_ASID_NESTED', 'S2_VMID'] as const;

/** Page and block sizes of a table of `pg`-byte pages (the granules of Linux's requests). */
function granulesOf(pg: number): number[] {
  const level2 = pg * (pg / 8);
  return pg === 4096 ? [pg, level2, level2 * 512] : [pg, level2];
}

const smmuArb: fc.Arbitrary<SmmuOptions> = fc.record({
  ril: fc.constantFrom(true, true, true, false),
  e2h: fc.boolean(),
  forceSync: fc.boolean(),
  repeat: fc.boolean(),
  ds: fc.boolean(),
});

/** One TLB target with ASID/VMID ≥ 1 (so that the trashed S1_ASID 0 of the same SMMU sorts before it). */
const targetArb = (pg: number): fc.Arbitrary<InvKey> =>
  fc
    .record({
      type: fc.constantFrom(...TLB_TYPES),
      id: fc.integer({ min: 1, max: 0xffff }),
      vmid: fc.integer({ min: 0, max: 0xffff }),
    })
    .map((k) => ({ smmu: 0, type: k.type, id: k.id, vmid: k.type === 'S1_ASID_NESTED' ? k.vmid : 0, pgsize: pg }));

/**
 * A page count: mostly small (1, 2, a block's worth — the one-command cases), sometimes large (up to 2^40
 * units, RIL only: without it a per-stride loop would take millions of commands).
 */
const countArb = (ril: boolean): fc.Arbitrary<number> =>
  fc.oneof(
    fc.constantFrom(1, 2, 3, 31, 32, 33, 512, 513),
    fc.integer({ min: 1, max: 4096 }),
    ril ? fc.integer({ min: 1, max: 2 ** 40 }) : fc.integer({ min: 1, max: 600 }),
  );

/** An address below 2^52, a multiple of `unit`, leaving room for `bytes` bytes. */
function addressArb(unit: number, bytes: number): fc.Arbitrary<number> {
  const slots = Math.floor((ADDRESS_LIMIT - bytes) / unit);
  return fc.oneof(fc.integer({ min: 0, max: slots }), fc.constant(slots)).map((k) => k * unit);
}

const caseArb = fc.record({ pg: fc.constantFrom(...PGSIZES), smmu: smmuArb }).chain(({ pg, smmu }) =>
  fc.record({
    pg: fc.constant(pg),
    smmu: fc.constant(smmu),
    target: targetArb(pg),
    requests: fc.array(
      fc
        .record({
          granule: fc.constantFrom(...granulesOf(pg)),
          count: countArb(smmu.ril),
          leaf: fc.boolean(),
          everything: fc.integer({ min: 0, max: 19 }).map((x) => x === 0),
          leafLevels: fc.subarray([1, 2, 3]),
          tableLevels: fc.subarray([0, 1, 2]),
        })
        .chain((r) => {
          const bytes = Math.min(r.count * r.granule, ADDRESS_LIMIT / 2);
          const size = bytes - (bytes % r.granule);
          return addressArb(r.granule, size).map((iova) => ({ ...r, size, iova }));
        }),
      { minLength: 1, maxLength: 4 },
    ),
  }),
);

type Case = typeof caseArb extends fc.Arbitrary<infer T> ? T : never;
type Req = Case['requests'][number];

/** The target alone (the fast path) and behind a trashed S1_ASID 0 of its SMMU (the walk). */
function arrays(target: InvKey): { fast: Invs; walk: Invs } {
  const trash: InvKey = { smmu: 0, type: 'S1_ASID', id: 0, pgsize: target.pgsize ?? 4096 };
  const walk = invsOf([trash, target]);
  unrefInvs(walk, [trash]);
  expect(walk.count).toBe(2);
  expect(walk.inv[0]!.users).toBe(0);
  return { fast: invsOf([target]), walk };
}

function snapshot(out: PlanOutput): { words: number[]; smmuOf: number[]; batchEnd: number[] } {
  return {
    words: [...out.buf.u32.subarray(0, out.count * 4)],
    smmuOf: [...out.smmuOf.subarray(0, out.count)],
    batchEnd: [...out.batchEnd.subarray(0, out.batchCount)],
  };
}

function description(r: Req, pg: number): TlbiDescription {
  const none = r.leafLevels.length === 0 && r.tableLevels.length === 0;
  const size = Math.max(r.size, pg);
  return {
    start: r.iova,
    last: r.iova + size - 1,
    leafLevels: none ? [3] : r.leafLevels,
    tableLevels: r.tableLevels,
    granule: pg,
  };
}

describe('single-target fast path = the walk over the targets', () => {
  it('linux policy (invalidateRange): same entries, SMMU tags and batch ends', () => {
    fc.assert(
      fc.property(caseArb, (c) => {
        const { fast, walk } = arrays(c.target);
        const a = new PlanOutput(1);
        const b = new PlanOutput(1);
        for (const r of c.requests) {
          const req: RangeRequest = { iova: r.iova, size: r.everything ? 0 : r.size, granule: r.granule, leaf: r.leaf };
          const n = invalidateRange(fast, req, [c.smmu], a);
          expect(invalidateRange(walk, req, [c.smmu], b)).toBe(n);
          expect(n).toBeGreaterThan(0);
        }
        expect(snapshot(a)).toEqual(snapshot(b));
      }),
      { numRuns: 400 },
    );
  });

  it('tlbi policy (tlbiInv): same entries, SMMU tags and batch ends', () => {
    fc.assert(
      fc.property(caseArb, (c) => {
        const { fast, walk } = arrays(c.target);
        const a = new PlanOutput(1);
        const b = new PlanOutput(1);
        for (const r of c.requests) {
          const d = description(r, c.pg);
          const n = tlbiInv(d, fast, [c.smmu], a);
          expect(tlbiInv(d, walk, [c.smmu], b)).toBe(n);
          expect(n).toBeGreaterThan(0);
        }
        expect(snapshot(a)).toEqual(snapshot(b));
      }),
      { numRuns: 400 },
    );
  });
});
