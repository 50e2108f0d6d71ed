/**
 * Property tests of the planners, judged from the emitted words alone: every entry is decoded through the
 * codec (and must be legal for its SMMU), and a slow BigInt model of the architecture's "must invalidate"
 * rules (test/tlbi-helpers.ts, written independently of range.ts) decides whether the cached entries a
 * request concerns are all removed. Batching is checked from the decoded stream: per SMMU, TLB invalidations,
 * then a CMD_SYNC, then NH_ALL, then a CMD_SYNC, then ATC_INV, then a CMD_SYNC.
 *
 * The last block drives real page tables (src/pgtable): random map/unmap sequences, the tlbi description and
 * the Linux-style requests each unmap reports, and checks that the tlbi policy never needs more commands
 * than linux and leaves no changed leaf or freed-table walk entry behind.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { IoPageTable, ProtRW } from '../src/pgtable/index.js';
import {
  PlanOutput,
  invalidateRange,
  invsOf,
  tlbiInv,
  type Inv,
  type InvKey,
  type RangeRequest,
  type SmmuOptions,
  type TlbiDescription,
} from '../src/tlbi/index.js';
import { decodeAll, levelBytes, mustKill, xorshift, type CachedEntry, type Decoded } from './tlbi-helpers.js';

const TLB_CMDS = new Set([
  'TLBI_NH_VA',
  'TLBI_EL2_VA',
  'TLBI_S2_IPA',
  'TLBI_NH_ASID',
  'TLBI_EL2_ASID',
  'TLBI_S12_VMALL',
]);

/** Classes in the order an SMMU must see them: 0 TLB, 1 NH_ALL, 2 ATC. */
function classOf(name: string): number {
  if (TLB_CMDS.has(name)) return 0;
  if (name === 'TLBI_NH_ALL') return 1;
  if (name === 'ATC_INV') return 2;
  throw new Error(`unexpected command ${name}`);
}

/** Batching rules, from the decoded stream and the output's own bookkeeping. */
function check(ok: boolean, what: string): void {
  if (!ok) throw new Error(what);
}

function checkBatches(d: Decoded[], out: PlanOutput, smmus: readonly SmmuOptions[]): void {
  const seen = new Set<number>();
  let prevSmmu = -1;
  let cls = -1; // highest class seen on this SMMU
  let pendingClass = -1; // class of commands since the last SYNC (-1 = none)
  let run = 0;
  const ends: number[] = [];
  d.forEach((e, k) => {
    if (e.smmu !== prevSmmu) {
      check(!seen.has(e.smmu), 'each SMMU appears in one contiguous run');
      if (prevSmmu >= 0) check(d[k - 1]!.cmd.name === 'CMD_SYNC', 'an SMMU run ends with CMD_SYNC');
      seen.add(e.smmu);
      prevSmmu = e.smmu;
      cls = -1;
      pendingClass = -1;
      run = 0;
    }
    if (e.cmd.name === 'CMD_SYNC') {
      check(run > 0, `no empty batch (entry ${k})`);
      const c = e.cmd as unknown as Record<string, number>;
      check(c.cs === 2 && c.msh === 3 && c.msiattr === 15 && c.msidata === 0 && c.msiaddr === 0, 'SEV CMD_SYNC');
      ends.push(k + 1);
      pendingClass = -1;
      run = 0;
      return;
    }
    const c = classOf(e.cmd.name);
    check(c >= cls, `classes in order TLB, NH_ALL, ATC (entry ${k})`);
    if (pendingClass >= 0) check(c === pendingClass, `a class change needs a CMD_SYNC in between (entry ${k})`);
    cls = c;
    pendingClass = c;
    run++;
    if (smmus[e.smmu]!.forceSync) check(run <= 63, `forceSync: ${run} commands without CMD_SYNC`);
  });
  if (d.length > 0) expect(d[d.length - 1]!.cmd.name).toBe('CMD_SYNC');
  expect([...out.batchEnd.subarray(0, out.batchCount)]).toEqual(ends);
}

/** ATC: one ATC_INV per ATS / ATS_FULL target, containing [iova, iova+size) (BigInt), minimal for ATS. */
function checkAtc(d: Decoded[], inv: Inv, iova: bigint, size: bigint): void {
  const mine = d.filter(
    (e) => e.smmu === inv.smmu && e.cmd.name === 'ATC_INV' && (e.cmd as unknown as { sid: number }).sid === inv.id,
  );
  const c = mine.map((e) => e.cmd as unknown as Record<string, number>).filter((x) => x.ssid === inv.ssid);
  expect(c.length).toBeGreaterThanOrEqual(1);
  for (const x of c) expect(x.ssv).toBe(inv.ssid !== 0 ? 1 : 0);
  // The same StreamID may also be an ATS_FULL target (or an ATS one) of this array: each target needs its
  // own command, so judge the whole-space one for ATS_FULL and the tightest one for ATS.
  if (inv.type === 'ATS_FULL' || size === 0n) {
    expect(c.some((x) => x.size === 52 && x.addr === 0)).toBe(true);
    return;
  }
  const a = c.reduce((m, x) => (x.size! < m.size! ? x : m));
  const span = (1n << BigInt(a.size!)) * 4096n;
  const addr = BigInt(a.addr!);
  expect(addr % span).toBe(0n);
  expect(addr <= iova && iova + size <= addr + span).toBe(true);
  if (a.size! > 0) {
    const half = span / 2n;
    const base = iova - (iova % half);
    expect(iova + size <= base + half, 'the ATC span is the smallest aligned block').toBe(false);
  }
}

/** k indexes to probe among n: both ends, the middle, and a few pseudo-random ones. */
function probes(n: bigint, rnd: () => bigint): bigint[] {
  if (n <= 12n) return Array.from({ length: Number(n) }, (_, i) => BigInt(i));
  const out = [0n, n - 1n, n / 2n];
  for (let i = 0; i < 6; i++) out.push(rnd() % n);
  return out;
}

/**
 * The tag a target's cached entries carry: a plain stage-1 stream is tagged with VMID 0 (its STE has no
 * stage 2) and, on an E2H SMMU, belongs to the EL2-E2H regime; a stage 1 under a nesting parent is an EL1
 * stream tagged with its parent's VMID, E2H or not.
 */
function tagOf(inv: Inv, e2h: boolean): Pick<CachedEntry, 'stage' | 'asid' | 'vmid' | 'el2'> {
  if (inv.type === 'S1_ASID') return { stage: 1, asid: inv.id, vmid: 0, el2: e2h };
  if (inv.type === 'S1_ASID_NESTED') return { stage: 1, asid: inv.id, vmid: inv.vmid, el2: false };
  return { stage: 2, asid: 0, vmid: inv.id, el2: false };
}

/** Leaf entries of `bytes` at `level` inside [start, end), sampled. */
function leafEntries(
  inv: Inv,
  e2h: boolean,
  level: number,
  bytes: bigint,
  start: bigint,
  end: bigint,
  rnd: () => bigint,
): CachedEntry[] {
  const first = ((start + bytes - 1n) / bytes) * bytes;
  if (first >= end) return [];
  const n = (end - first) / bytes;
  return probes(n, rnd).map((k) => ({
    ...tagOf(inv, e2h),
    granule: BigInt(inv.pgsize),
    level,
    leaf: true,
    base: first + k * bytes,
    span: bytes,
  }));
}

/** Table (walk-cache) entries at `level` whose span overlaps [start, end), sampled. */
function tableEntries(
  inv: Inv,
  e2h: boolean,
  level: number,
  start: bigint,
  end: bigint,
  rnd: () => bigint,
): CachedEntry[] {
  const span = levelBytes(BigInt(inv.pgsize), level);
  const first = start - (start % span);
  const n = (end - first + span - 1n) / span;
  return probes(n, rnd).map((k) => ({
    ...tagOf(inv, e2h),
    granule: BigInt(inv.pgsize),
    level,
    leaf: false,
    base: first + k * span,
    span,
  }));
}

function levelOf(pgsize: number, bytes: number): number {
  for (let l = 3; l >= 0; l--) if (levelBytes(BigInt(pgsize), l) === BigInt(bytes)) return l;
  throw new Error(`no level of ${bytes} bytes at ${pgsize}`);
}

// ---------------------------------------------------------------- generators

const PGSIZES = [4096, 16384, 65536] as const;

function blockSizes(pg: number): number[] {
  const out = [pg, Number(levelBytes(BigInt(pg), 2))];
  if (pg === 4096) out.push(2 ** 30);
  return out;
}

const smmuArb: fc.Arbitrary<SmmuOptions> = fc.record({
  ril: fc.boolean(),
  e2h: fc.boolean(),
  forceSync: fc.boolean(),
  ds: fc.boolean(),
});

function targetsArb(pg: number, nSmmu: number): fc.Arbitrary<InvKey[]> {
  const key = fc
    .record({
      smmu: fc.integer({ min: 0, max: nSmmu - 1 }),
      type: fc.constantFrom(
        'S1_ASID',
        'S1_ASID',
        'S1_ASID_NESTED',
        'S2_VMID',
        'S2_VMID_S1_CLEAR',
        'ATS',
        'ATS_FULL',
      ) as fc.Arbitrary<InvKey['type']>,
      id: fc.integer({ min: 0, max: 0xffff }),
      ssid: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 0xfffff })),
      vmid: fc.integer({ min: 0, max: 0xffff }),
    })
    .map((k) => ({
      ...k,
      ssid: k.type === 'ATS' ? k.ssid : 0,
      vmid: k.type === 'S1_ASID_NESTED' ? k.vmid : 0,
      pgsize: pg,
    }));
  return fc.array(key, { minLength: 1, maxLength: 8 });
}

const caseArb = fc
  .record({ pgIdx: fc.integer({ min: 0, max: 2 }), nSmmu: fc.integer({ min: 1, max: 3 }) })
  .chain(({ pgIdx, nSmmu }) => {
    const pg = PGSIZES[pgIdx]!;
    return fc.record({
      pg: fc.constant(pg),
      smmus: fc.array(smmuArb, { minLength: nSmmu, maxLength: nSmmu }),
      keys: targetsArb(pg, nSmmu),
      seed: fc.bigInt({ min: 1n, max: (1n << 63n) - 1n }),
    });
  });

// ---------------------------------------------------------------- linux policy

const linuxReqArb = (pg: number): fc.Arbitrary<RangeRequest> =>
  fc
    .record({
      granule: fc.constantFrom(...blockSizes(pg)),
      leaf: fc.boolean(),
      blockIdx: fc.bigInt({ min: 0n, max: 1n << 20n }),
      blocks: fc.oneof(
        fc.integer({ min: 1, max: 40 }),
        fc.integer({ min: 1, max: 700 }),
        fc.integer({ min: 1, max: 1 << 30 }),
      ),
      all: fc.integer({ min: 0, max: 15 }),
    })
    .map(({ granule, leaf, blockIdx, blocks, all }) => {
      const g = BigInt(granule);
      // Keep the range below 2^48.
      const maxBlocks = (1n << 48n) / g;
      // Many blocks only at the page granule (block loops without RIL would be long to check).
      const capped = granule === pg ? BigInt(blocks) : BigInt(Math.min(blocks, 64));
      const n = capped > maxBlocks / 2n ? maxBlocks / 2n : capped;
      const start = (blockIdx % (maxBlocks - n)) * g;
      return all === 0
        ? { iova: 0, size: 0, granule, leaf }
        : { iova: Number(start), size: Number(n * g), granule, leaf: granule === pg ? leaf : true };
    });

describe('linux policy, judged from the decoded words', () => {
  it('covers every target, keeps the batch order, emits only legal entries', () => {
    fc.assert(
      fc.property(
        caseArb.chain((c) => fc.record({ c: fc.constant(c), req: linuxReqArb(c.pg) })),
        ({ c, req }) => {
          const invs = invsOf(c.keys);
          const out = new PlanOutput(8);
          invalidateRange(invs, req, c.smmus, out);
          const d = decodeAll(out, c.smmus);
          checkBatches(d, out, c.smmus);
          const rnd = xorshift(c.seed);
          const iova = BigInt(req.iova);
          const size = BigInt(req.size);
          for (const inv of invs.live()) {
            const o = c.smmus[inv.smmu]!;
            const mine = d.filter((e) => e.smmu === inv.smmu);
            if (inv.type === 'ATS' || inv.type === 'ATS_FULL') {
              checkAtc(mine, inv, iova, size);
              continue;
            }
            if (inv.type === 'S2_VMID_S1_CLEAR') continue; // checked below
            const cache: CachedEntry[] = [];
            if (size === 0n) {
              cache.push(...leafEntries(inv, o.e2h, 3, BigInt(inv.pgsize), 0n, 1n << 48n, rnd));
              cache.push(...tableEntries(inv, o.e2h, 1, 0n, 1n << 48n, rnd));
            } else {
              const lvl = levelOf(inv.pgsize, req.granule);
              cache.push(...leafEntries(inv, o.e2h, lvl, BigInt(req.granule), iova, iova + size, rnd));
              if (!req.leaf)
                for (const l of [0, 1, 2])
                  if (l > 0 || inv.pgsize !== 65536) cache.push(...tableEntries(inv, o.e2h, l, iova, iova + size, rnd));
            }
            const left = cache.filter((e) => !mine.some((x) => mustKill(x.cmd, e, o.e2h)));
            expect(left, `stale entries for ${inv.type} ${inv.id}`).toEqual([]);
          }
          // NH_ALL for each S1_CLEAR target unless the request took the whole-tag path.
          for (const inv of invs.live().filter((e) => e.type === 'S2_VMID_S1_CLEAR')) {
            const o = c.smmus[inv.smmu]!;
            const whole = req.size === 0 || (!o.ril && req.size >= 2 ** (2 * Math.log2(req.granule) - 3));
            const n = d.filter(
              (e) =>
                e.smmu === inv.smmu &&
                e.cmd.name === 'TLBI_NH_ALL' &&
                (e.cmd as unknown as { vmid: number }).vmid === inv.id,
            ).length;
            expect(n > 0).toBe(!whole);
          }
        },
      ),
      { numRuns: 250 },
    );
  });
});

// ---------------------------------------------------------------- tlbi policy

const LEAF_OK = (pg: number, l: number): boolean => l === 3 || l === 2 || (l === 1 && pg === 4096);
const TABLE_OK = (pg: number, l: number): boolean => l === 1 || l === 2 || (l === 0 && pg !== 65536);

const tlbiArb = (pg: number): fc.Arbitrary<TlbiDescription> =>
  fc
    .record({
      leafLevels: fc.subarray([1, 2, 3]),
      tableLevels: fc.subarray([0, 1, 2]),
      unitLevel: fc.integer({ min: 1, max: 3 }),
      idx: fc.bigInt({ min: 0n, max: 1n << 24n }),
      units: fc.oneof(fc.integer({ min: 1, max: 40 }), fc.integer({ min: 1, max: 1100 })),
      loose: fc.integer({ min: 0, max: 5 }),
    })
    .map(({ leafLevels, tableLevels, unitLevel, idx, units, loose }) => {
      const leaf = leafLevels.filter((l) => LEAF_OK(pg, l));
      let table = tableLevels.filter((l) => TABLE_OK(pg, l));
      if (leaf.length === 0 && table.length === 0) table = [2];
      // Usually aligned to the deepest changed level (as a page table reports); sometimes only to pages.
      const deepest = Math.max(...leaf, ...table);
      const lvl = loose === 0 ? 3 : Math.max(unitLevel, deepest);
      const unit = levelBytes(BigInt(pg), lvl);
      const maxUnits = (1n << 48n) / unit;
      const n = BigInt(units) > maxUnits / 2n ? maxUnits / 2n : BigInt(units);
      const start = (idx % (maxUnits - n)) * unit;
      return {
        start: Number(start),
        last: Number(start + n * unit - 1n),
        leafLevels: leaf,
        tableLevels: table,
        granule: pg,
      };
    });

describe('huge ranges with range invalidation, DS on and off (IDR5.DS: 6-bit SCALE)', () => {
  // Page counts from 2^31 to the whole 52-bit space: the engine's general range loop, where SCALE may pass 31.
  const hugeArb = fc
    .record({
      pgIdx: fc.integer({ min: 0, max: 2 }),
      bits: fc.integer({ min: 31, max: 40 }),
      low: fc.bigInt({ min: 0n, max: (1n << 40n) - 1n }),
      clearLow: fc.integer({ min: 0, max: 40 }),
      startIdx: fc.bigInt({ min: 0n, max: (1n << 40n) - 1n }),
      leaf: fc.boolean(),
      forceSync: fc.boolean(),
      seed: fc.bigInt({ min: 1n, max: (1n << 63n) - 1n }),
    })
    .map(({ pgIdx, bits, low, clearLow, startIdx, leaf, forceSync, seed }) => {
      const pg = PGSIZES[pgIdx]!;
      const total = (1n << 52n) / BigInt(pg); // pages in the 52-bit space
      // Clearing the low bits makes counts whose lowest set bit is above 31 (where DS changes the plan).
      let pages = (1n << BigInt(bits)) | (low & ((1n << BigInt(bits)) - 1n) & ~((1n << BigInt(clearLow)) - 1n));
      if (pages > total) pages = total;
      const start = startIdx % (total - pages + 1n);
      return { pg, pages, start, leaf, forceSync, seed };
    });

  it('cover exactly [iova, iova + size) (leaf) with SCALE ≤ 31 without DS and ≤ 39 with it; DS never needs more commands', () => {
    let wideScale = 0; // cases where DS used a SCALE above 31
    fc.assert(
      fc.property(hugeArb, ({ pg, pages, start, leaf, forceSync, seed }) => {
        const pgB = BigInt(pg);
        const iova = start * pgB;
        const size = pages * pgB;
        const req: RangeRequest = { iova: Number(iova), size: Number(size), granule: pg, leaf };
        const keys: InvKey[] = [{ smmu: 0, type: 'S1_ASID', id: 1, pgsize: pg }];
        const counts: number[] = [];
        for (const ds of [false, true]) {
          const smmus: SmmuOptions[] = [{ ril: true, e2h: false, forceSync, ds }];
          const out = new PlanOutput(4);
          invalidateRange(invsOf(keys), req, smmus, out);
          const d = decodeAll(out, smmus); // legal for an SMMU with (or without) DS
          checkBatches(d, out, smmus);
          const tlbis = d.filter((e) => e.cmd.name === 'TLBI_NH_VA');
          counts.push(tlbis.length);
          // The spans, from the decoded fields alone, in BigInt: contiguous from iova.
          let at = iova;
          for (const e of tlbis) {
            const c = e.cmd as unknown as { num: number; scale: number; addr: number; tg: number };
            expect(c.scale).toBeLessThanOrEqual(ds ? 39 : 31);
            if (c.scale > 31) wideScale++;
            expect(BigInt(c.addr)).toBe(at);
            expect(1n << BigInt(10 + 2 * c.tg)).toBe(pgB);
            at += BigInt(c.num + 1) * (1n << BigInt(c.scale)) * pgB;
          }
          // Leaf: exactly the range; non-leaf (TTL 0): at most one page more (the reserved-encoding rule).
          if (leaf) expect(at).toBe(iova + size);
          else expect(at >= iova + size && at <= iova + size + pgB).toBe(true);
          // And the architecture's must-kill rules on sampled entries of the range.
          const rnd = xorshift(seed);
          const inv = invsOf(keys).live()[0]!;
          const cache = leafEntries(inv, false, 3, pgB, iova, iova + size, rnd);
          if (!leaf) cache.push(...tableEntries(inv, false, 2, iova, iova + size, rnd));
          expect(cache.filter((x) => !d.some((e) => mustKill(e.cmd, x, false)))).toEqual([]);
        }
        expect(counts[1]).toBeLessThanOrEqual(counts[0]!);
      }),
      { numRuns: 200 },
    );
    expect(wideScale).toBeGreaterThan(10);
  });

  it('the whole 52-bit space at 4K: 32 commands at SCALE 31 without DS, one at SCALE 39 with it', () => {
    const keys: InvKey[] = [{ smmu: 0, type: 'S1_ASID', id: 1, pgsize: 4096 }];
    const req: RangeRequest = { iova: 0, size: 2 ** 52, granule: 4096, leaf: true };
    const run = (ds: boolean): Decoded[] => {
      const smmus: SmmuOptions[] = [{ ril: true, e2h: false, forceSync: false, ds }];
      const out = new PlanOutput(4);
      invalidateRange(invsOf(keys), req, smmus, out);
      return decodeAll(out, smmus).filter((e) => e.cmd.name !== 'CMD_SYNC');
    };
    const fields = (d: Decoded[]): [number, number][] =>
      d.map((e) => {
        const c = e.cmd as unknown as { num: number; scale: number };
        return [c.num, c.scale];
      });
    // Without DS: 2^40 pages = 512 × 2^31; a chunk of 31 × 2^31 leaves an odd multiple of 2^31, whose
    // lowest group is 1 × 2^31, which leaves 480 × 2^31, and so on: 16 pairs.
    const pair: [number, number][] = [
      [30, 31],
      [0, 31],
    ];
    expect(fields(run(false))).toEqual(Array.from({ length: 16 }, () => pair).flat());
    expect(fields(run(true))).toEqual([[1, 39]]);
  });
});

describe('tlbi policy, judged from the decoded words', () => {
  it('removes every changed leaf and walk entry on every target, with legal entries in the right batches', () => {
    fc.assert(
      fc.property(
        caseArb.chain((c) => fc.record({ c: fc.constant(c), t: tlbiArb(c.pg) })),
        ({ c, t }) => {
          const invs = invsOf(c.keys);
          const out = new PlanOutput(8);
          tlbiInv(t, invs, c.smmus, out);
          const d = decodeAll(out, c.smmus);
          checkBatches(d, out, c.smmus);
          const rnd = xorshift(c.seed);
          const start = BigInt(t.start);
          const end = BigInt(t.last) + 1n;
          for (const inv of invs.live()) {
            const o = c.smmus[inv.smmu]!;
            const mine = d.filter((e) => e.smmu === inv.smmu);
            if (inv.type === 'ATS' || inv.type === 'ATS_FULL') {
              checkAtc(mine, inv, start, end - start);
              continue;
            }
            if (inv.type === 'S2_VMID_S1_CLEAR') {
              // Skipped only when an S2_VMID of the same VMID on this SMMU was flushed whole.
              const nhAll = mine.some(
                (e) => e.cmd.name === 'TLBI_NH_ALL' && (e.cmd as unknown as { vmid: number }).vmid === inv.id,
              );
              const vmall = mine.some(
                (e) => e.cmd.name === 'TLBI_S12_VMALL' && (e.cmd as unknown as { vmid: number }).vmid === inv.id,
              );
              expect(nhAll || vmall).toBe(true);
              continue;
            }
            const cache: CachedEntry[] = [];
            for (const l of t.leafLevels)
              cache.push(...leafEntries(inv, o.e2h, l, levelBytes(BigInt(pg(inv)), l), start, end, rnd));
            for (const l of t.tableLevels) cache.push(...tableEntries(inv, o.e2h, l, start, end, rnd));
            const left = cache.filter((e) => !mine.some((x) => mustKill(x.cmd, e, o.e2h)));
            expect(left, `stale entries for ${inv.type} ${inv.id}`).toEqual([]);
          }
        },
      ),
      { numRuns: 250 },
    );
  });
});

function pg(inv: Inv): number {
  return inv.pgsize;
}

// ---------------------------------------------------------------- real unmaps: tlbi vs linux

function nonSync(out: PlanOutput): number {
  let n = 0;
  for (let k = 0; k < out.count; k++) if ((out.buf.u32[k * 4]! & 0xff) !== 0x46) n++;
  return n;
}

describe('tlbi vs linux on the same unmaps of real page tables', () => {
  it('never more commands than linux, never a stale changed entry', () => {
    let unmaps = 0;
    let withFreedTables = 0;
    let fewer = 0;
    fc.assert(
      fc.property(
        fc.record({
          pgIdx: fc.integer({ min: 0, max: 2 }),
          ril: fc.boolean(),
          ops: fc.array(
            fc.record({
              map: fc.boolean(),
              at: fc.integer({ min: 0, max: 4095 }),
              len: fc.oneof(fc.integer({ min: 1, max: 8 }), fc.integer({ min: 1, max: 1200 })),
              block: fc.integer({ min: 0, max: 3 }),
            }),
            { minLength: 10, maxLength: 40 },
          ),
          seed: fc.bigInt({ min: 1n, max: (1n << 62n) - 1n }),
        }),
        ({ pgIdx, ril, ops, seed }) => {
          const pgsize = PGSIZES[pgIdx]!;
          const table = new IoPageTable({ stage: 1, granule: pgsize, ias: 48 });
          const smmus: SmmuOptions[] = [{ ril, e2h: false, forceSync: false }];
          const invs = invsOf([
            { smmu: 0, type: 'S1_ASID', id: 3, pgsize },
            { smmu: 0, type: 'ATS', id: 9 },
          ]);
          const block = Number(levelBytes(BigInt(pgsize), 2));
          const rnd = xorshift(seed);
          let pa = 0;
          for (const op of ops) {
            // Eight slots of 4 blocks each; a slot is mapped with pages or (block ≥ 2) with blocks.
            const slot = op.at % 8;
            const base = 0x1_0000_0000 + slot * 4 * block;
            const slotEnd = base + 4 * block;
            const inSlot = table.leaves().filter((l) => l.iova >= base && l.iova < slotEnd);
            if (op.map) {
              const useBlocks = op.block >= 2;
              const unit = useBlocks ? block : pgsize;
              const maxUnits = (4 * block) / unit;
              const first = (op.len * 7) % maxUnits;
              const n = Math.min(maxUnits - first, useBlocks ? 1 + (op.len % 3) : op.len);
              const from = base + first * unit;
              const size = n * unit;
              if (inSlot.some((l) => l.iova < from + size && from < l.iova + l.size)) continue;
              table.map(from, pa, size, ProtRW);
              pa += 4 * block;
              continue;
            }
            if (inSlot.length === 0) continue;
            const i = op.len % inSlot.length;
            const j = i + ((op.len >> 3) % (inSlot.length - i));
            const start = inSlot[i]!.iova;
            const size = inSlot[j]!.iova + inSlot[j]!.size - start;
            const r = table.unmap(start, size);
            if (r.tlbi === null) continue;
            const inRange = inSlot.filter((l) => l.iova >= start && l.iova + l.size <= start + r.unmapped);
            const tOut = new PlanOutput();
            tlbiInv(r.tlbi, invs, smmus, tOut);
            const lOut = new PlanOutput();
            for (const q of r.linuxRequests) invalidateRange(invs, q, smmus, lOut);
            expect(nonSync(tOut), JSON.stringify(r.tlbi)).toBeLessThanOrEqual(nonSync(lOut));
            unmaps++;
            if (r.freedTables.length > 0) withFreedTables++;
            if (nonSync(tOut) < nonSync(lOut)) fewer++;
            // What was cached: the leaves that were unmapped, and walk entries of the freed tables.
            const inv = invs.live()[0]!;
            const gone = inRange;
            const cache: CachedEntry[] = gone
              .filter((_, k) => k < 3 || k === gone.length - 1 || rnd() % 8n === 0n)
              .map((l) => ({
                stage: 1,
                asid: 3,
                vmid: 0,
                granule: BigInt(pgsize),
                level: l.level,
                leaf: true,
                base: BigInt(l.iova),
                span: BigInt(l.size),
              }));
            for (const f of r.freedTables)
              cache.push({
                stage: 1,
                asid: 3,
                vmid: 0,
                granule: BigInt(pgsize),
                level: f.level,
                leaf: false,
                base: BigInt(f.iova),
                span: BigInt(f.size),
              });
            const d = decodeAll(tOut, smmus);
            const left = cache.filter((e) => !d.some((x) => mustKill(x.cmd, e, false)));
            expect(left, JSON.stringify(r.tlbi)).toEqual([]);
            expect(inv.type).toBe('S1_ASID');
          }
        },
      ),
      { numRuns: 100 },
    );
    // The runs must have exercised the interesting cases.
    expect(unmaps).toBeGreaterThan(150);
    expect(withFreedTables).toBeGreaterThan(5);
    expect(fewer).toBeGreaterThan(5);
  });
});
