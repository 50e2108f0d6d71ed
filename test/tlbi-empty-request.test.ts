/**
 * Bug corpus L6 (Linux 6cc7e5a9c6b0, "Add a check to avoid invalid iotlb sync"): an iotlb sync with an empty
 * gather (pgsize 0, start ULONG_MAX, end 0) computed a wrapped size and ilog2(0) and queued a garbage range.
 * The engine's rule: an empty request plans nothing — no command, no CMD_SYNC — for both policies, on any
 * targets and SMMUs. Empty means `last` below `start` for the tlbi description, granule 0 for a Linux-style
 * request. The reference is independent of the code under test: nothing at all.
 *
 * Clean twins: the same random case made non-empty (start and last swapped; the page size as granule) plans
 * a non-empty stream that ends in a CMD_SYNC, and the consumers' sync of an empty gather submits nothing.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Driver } from '../src/consumers/driver.js';
import { DEFAULT_SMMU_SPEC } from '../src/consumers/smmu-port.js';
import {
  PlanOutput,
  invalidateRange,
  invsOf,
  tlbiInv,
  type InvKey,
  type SmmuOptions,
  type TlbiDescription,
} from '../src/tlbi/index.js';
import { decodeAll } from './tlbi-helpers.js';

const ADDRESS_LIMIT = 2 ** 52;
const PGSIZES = [4096, 16384, 65536] as const;
/**
 * The twins span at most 2^34 bytes: without range invalidation a plan over the whole 52-bit space takes one
 * command per block (millions at level 1), which proves nothing more here.
 */
const TWIN_SPAN = 2 ** 34;

const smmuArb: fc.Arbitrary<SmmuOptions> = fc.record({
  ril: fc.boolean(),
  e2h: fc.boolean(),
  forceSync: fc.boolean(),
  ds: fc.boolean(),
});

const TYPES = ['S1_ASID', 'S1_ASID_NESTED', 'S2_VMID', 'S2_VMID_S1_CLEAR', 'ATS', 'ATS_FULL'] as const;

/** Random targets on 1 to 3 SMMUs, one page size, and two distinct addresses below 2^52. */
const caseArb = fc
  .record({ pg: fc.constantFrom(...PGSIZES), nSmmu: fc.integer({ min: 1, max: 3 }) })
  .chain(({ pg, nSmmu }) =>
    fc.record({
      pg: fc.constant(pg),
      smmus: fc.array(smmuArb, { minLength: nSmmu, maxLength: nSmmu }),
      keys: fc.array(
        fc
          .record({
            smmu: fc.integer({ min: 0, max: nSmmu - 1 }),
            type: fc.constantFrom(...TYPES),
            id: fc.integer({ min: 0, max: 0xffff }),
            ssid: fc.integer({ min: 0, max: 0xfffff }),
            vmid: fc.integer({ min: 0, max: 0xffff }),
          })
          .map((k): InvKey => ({
            ...k,
            ssid: k.type === 'ATS' ? k.ssid : 0,
            vmid: k.type === 'S1_ASID_NESTED' ? k.vmid : 0,
            pgsize: pg,
          })),
        { minLength: 1, maxLength: 6 },
      ),
      // An empty gather's [ULONG_MAX, 0] (here the top of the 52-bit space), or any pair of distinct addresses.
      ends: fc.oneof(
        fc.constant<[number, number]>([ADDRESS_LIMIT - 1, 0]),
        fc
          .tuple(fc.integer({ min: 0, max: ADDRESS_LIMIT - 1 }), fc.integer({ min: 0, max: ADDRESS_LIMIT - 1 }))
          .filter(([a, b]) => a !== b)
          .map(([a, b]): [number, number] => (a > b ? [a, b] : [b, a])),
      ),
      leafLevels: fc.subarray([1, 2, 3]),
      tableLevels: fc.subarray([0, 1, 2]),
    }),
  );

function description(start: number, last: number, c: { leafLevels: number[]; tableLevels: number[]; pg: number }) {
  const t: TlbiDescription = {
    start,
    last,
    leafLevels: c.leafLevels.length === 0 && c.tableLevels.length === 0 ? [3] : c.leafLevels,
    tableLevels: c.tableLevels,
    granule: c.pg,
  };
  return t;
}

/** A planned stream is non-empty, legal for its SMMUs, and ends with a CMD_SYNC on every SMMU it touches. */
function expectSyncedStream(out: PlanOutput, smmus: readonly SmmuOptions[], keys: readonly InvKey[]): void {
  // Linux's loop gives a lone S2_VMID_S1_CLEAR nothing on the whole-tag path (its S2_VMID's S12_VMALL would
  // clear stage 1); every other target gets at least one command.
  if (keys.some((k) => k.type !== 'S2_VMID_S1_CLEAR')) expect(out.count).toBeGreaterThan(0);
  if (out.count === 0) return;
  const d = decodeAll(out, smmus);
  expect(d.at(-1)!.cmd.name).toBe('CMD_SYNC');
  for (let k = 1; k < d.length; k++) if (d[k]!.smmu !== d[k - 1]!.smmu) expect(d[k - 1]!.cmd.name).toBe('CMD_SYNC');
}

describe('L6: an empty request plans nothing (both policies, any targets)', () => {
  it('tlbi policy: last below start gives no entry and no batch; the swapped twin plans a synced stream', () => {
    fc.assert(
      fc.property(caseArb, (c) => {
        const invs = invsOf(c.keys);
        const [hi, lo] = c.ends;
        const empty = new PlanOutput(8);
        expect(tlbiInv(description(hi, lo, c), invs, c.smmus, empty)).toBe(0);
        expect(empty.count).toBe(0);
        expect(empty.batchCount).toBe(0);
        // Clean twin: the same range the right way round.
        const twin = new PlanOutput(8);
        const lo2 = lo - (lo % c.pg);
        const hi2 = Math.min(hi - (hi % c.pg) + c.pg - 1, lo2 + TWIN_SPAN - 1);
        expect(tlbiInv(description(lo2, hi2, c), invs, c.smmus, twin)).toBe(twin.count);
        expectSyncedStream(twin, c.smmus, c.keys);
      }),
      { numRuns: 300 },
    );
  });

  it('linux policy: granule 0 (an empty gather) gives no entry, whatever iova and size; the page-size twin plans', () => {
    fc.assert(
      fc.property(caseArb, fc.boolean(), (c, leaf) => {
        const invs = invsOf(c.keys);
        const [hi, lo] = c.ends;
        const iova = lo - (lo % c.pg);
        const size = Math.min(hi - iova + 1, TWIN_SPAN);
        for (const s of [size, 0, 2]) {
          const empty = new PlanOutput(8);
          expect(invalidateRange(invs, { iova, size: s, granule: 0, leaf }, c.smmus, empty)).toBe(0);
          expect(empty.count).toBe(0);
          expect(empty.batchCount).toBe(0);
        }
        const twin = new PlanOutput(8);
        const rounded = Math.ceil(size / c.pg) * c.pg;
        invalidateRange(
          invs,
          { iova, size: Math.min(rounded, ADDRESS_LIMIT - iova), granule: c.pg, leaf },
          c.smmus,
          twin,
        );
        expectSyncedStream(twin, c.smmus, c.keys);
      }),
      { numRuns: 300 },
    );
  });
});

describe('L6 in the consumer: a sync of an empty gather submits nothing', () => {
  for (const policy of ['linux', 'tlbi'] as const)
    it(`driver (${policy}): iotlbSync with nothing gathered queues no command; after an unmap it queues a synced plan`, () => {
      const drv = new Driver({ smmus: [DEFAULT_SMMU_SPEC], granule: 4096, seed: 1 });
      const d = drv.createDomain('s1', policy);
      const m = drv.addMaster(0, [1], true);
      drv.attach(m, d);
      const model = drv.port(0).model;
      let submitted = 0;
      let lastOp = -1;
      const orig = model.submit.bind(model);
      model.submit = (u32: Uint32Array, from: number, count: number): number => {
        submitted += count;
        if (count > 0) lastOp = u32[(from + count - 1) * 4]! & 0xff;
        return orig(u32, from, count);
      };
      drv.iotlbSync(d);
      expect(submitted).toBe(0);
      // Clean twin: a mapped and unmapped buffer makes the same sync queue commands ending in a CMD_SYNC.
      const b = drv.dmaMap(d, 4 * 4096)!;
      drv.dmaUnmap(d, b);
      drv.iotlbSync(d);
      expect(submitted).toBeGreaterThan(0);
      expect(lastOp).toBe(0x46);
    });
});
