/**
 * Property: random sequences of map / unmap on tables of every granule and both stages agree with a plain
 * reference model kept by the test, and every unmap's report says exactly what changed in memory.
 *
 * The reference model is a map iova → leaf {iova, size, pa, level}; the leaves a map should produce are
 * worked out greedily from the architecture's leaf sizes (largest size that iova, pa and the remaining size
 * allow); unmap follows Linux's rules (whole leaves only, stop at the first hole). Memory is read before and
 * after every operation by the independent walker of pgtable-refwalk.ts, and the difference is compared with
 * the report: the cleared leaf descriptors cover exactly [start, last] and their levels are leafLevels; the
 * cleared table descriptors are the freed tables and their levels are tableLevels; nothing else changed.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  IoPageTable,
  PageTableError,
  type OverlapError,
  type PartialUnmapError,
  type Prot,
} from '../src/pgtable/index.js';
import { refSnapshot, refSpan, type RefEntry } from './pgtable-refwalk.js';

interface Leaf {
  iova: number;
  size: number;
  pa: number;
  level: number;
}

/** Leaf sizes per granule, largest first, as [level, bytes] (VMSAv8-64 without DS / 52-bit). */
const LeafSizes: Record<number, [number, number][]> = {
  4096: [
    [1, 2 ** 30],
    [2, 2 ** 21],
    [3, 2 ** 12],
  ],
  16384: [
    [2, 2 ** 25],
    [3, 2 ** 14],
  ],
  65536: [
    [2, 2 ** 29],
    [3, 2 ** 16],
  ],
};

function expectedLeaves(granule: number, iova: number, pa: number, size: number): Leaf[] {
  const out: Leaf[] = [];
  let cur = iova;
  let o = pa;
  const end = iova + size;
  while (cur < end) {
    const [level, s] = LeafSizes[granule]!.find(([, s]) => cur % s === 0 && o % s === 0 && end - cur >= s)!;
    out.push({ iova: cur, size: s, pa: o, level });
    cur += s;
    o += s;
  }
  return out;
}

class Model {
  readonly leaves = new Map<number, Leaf>();
  sorted(): Leaf[] {
    return [...this.leaves.values()].sort((a, b) => a.iova - b.iova);
  }
  containing(a: number): Leaf | undefined {
    for (const l of this.leaves.values()) if (a >= l.iova && a < l.iova + l.size) return l;
    return undefined;
  }
  firstIntersecting(start: number, end: number): Leaf | undefined {
    return this.sorted().find((l) => l.iova < end && l.iova + l.size > start);
  }
}

type OpSpec = {
  unmap: boolean;
  shape: 'pages' | 'block' | 'huge' | 'pick' | 'clear';
  region: number;
  off: number;
  n: number;
  k: number;
  paRegion: number;
  paMisalign: boolean;
  exec: boolean;
};

const opArb: fc.Arbitrary<OpSpec> = fc.record({
  unmap: fc.boolean(),
  shape: fc.constantFrom('pages', 'pages', 'block', 'huge', 'pick', 'clear'),
  region: fc.nat(4),
  off: fc.oneof(fc.nat(16), fc.integer({ min: -16, max: 16 }), fc.nat(1 << 13)),
  n: fc.integer({ min: 1, max: 40 }),
  k: fc.integer({ min: 1, max: 2 }),
  paRegion: fc.nat(7),
  paMisalign: fc.boolean(),
  exec: fc.boolean(),
});

const configArb = fc.record({
  granule: fc.constantFrom(4096, 16384, 65536),
  stage: fc.constantFrom(1 as const, 2 as const),
  ias: fc.constantFrom(32, 33, 36, 39, 40, 42, 48),
});

interface Call {
  unmap: boolean;
  iova: number;
  pa: number;
  size: number;
}

/**
 * Turn an op spec into concrete calls for this table (none when it falls outside the input space). 'clear'
 * unmaps, run by run, every leaf under one descriptor of the start level (k = 1) or the level below (k = 2)
 * around a mapped leaf, so that whole subtrees of tables get freed.
 */
function concrete(spec: OpSpec, granule: number, ias: number, startLevel: number, model: Model): Call[] {
  if (spec.shape === 'clear' && model.leaves.size > 0) {
    const pivot = model.sorted()[Math.abs(spec.off) % model.leaves.size]!;
    const span = refSpan(granule, Math.min(2, startLevel + spec.k - 1));
    const lo = pivot.iova - (pivot.iova % span);
    const calls: Call[] = [];
    for (const l of model.sorted().filter((x) => x.iova >= lo && x.iova < lo + span)) {
      const prev = calls[calls.length - 1];
      if (prev !== undefined && prev.iova + prev.size === l.iova) prev.size += l.size;
      else calls.push({ unmap: true, iova: l.iova, pa: 0, size: l.size });
    }
    return calls;
  }
  const P = granule;
  const B = LeafSizes[granule]!.find(([l]) => l === 2)![1];
  const E = B / P;
  const limit = 2 ** ias;
  const base = spec.region < 4 ? spec.region * B : limit - 2 * B;
  let iova: number;
  let size: number;
  if (spec.shape === 'pick' && model.leaves.size > 0) {
    const l = model.sorted()[Math.abs(spec.off) % model.leaves.size]!;
    iova = l.iova;
    size = l.size * (1 + (spec.n % 3));
  } else if (spec.shape === 'huge' && granule === 4096) {
    iova = (spec.region % 4) * 2 ** 30;
    size = 2 ** 30;
  } else if (spec.shape === 'block') {
    const m = spec.n % 4;
    iova = Math.max(0, base - m * P);
    size = spec.k * B + m * P + (spec.n % 3) * P;
  } else {
    const off = spec.off < 0 ? E + spec.off : spec.off % (2 * E);
    iova = base + off * P;
    size = spec.n * P;
  }
  if (iova + size > limit) return [];
  const pa =
    spec.shape === 'huge' ? (spec.paRegion + 1) * 2 ** 30 : spec.paRegion * B + (iova % B) + (spec.paMisalign ? P : 0);
  return [{ unmap: spec.unmap, iova, size, pa }];
}

const leafKey = (level: number, iova: number): string => `${level}:${iova}`;

function diff(before: Map<string, RefEntry>, after: Map<string, RefEntry>) {
  const removed: RefEntry[] = [];
  const added: RefEntry[] = [];
  const changed: string[] = [];
  for (const [k, e] of before) {
    const a = after.get(k);
    if (a === undefined) removed.push(e);
    else if (a.desc !== e.desc) changed.push(k);
  }
  for (const [k, e] of after) if (!before.has(k)) added.push(e);
  return { removed, added, changed };
}

/** A refused operation leaves memory exactly as it was. */
function expectUnchanged(before: Map<string, RefEntry>, after: Map<string, RefEntry>): void {
  const d = diff(before, after);
  expect(d.removed.length + d.added.length + d.changed.length).toBe(0);
}

function levelsOf(es: RefEntry[]): number[] {
  return [...new Set(es.map((e) => e.level))].sort((a, b) => a - b);
}

/** Every table below the start level holds at least one valid descriptor; live frames = tables in memory. */
function checkTableInvariants(t: IoPageTable, snap: Map<string, RefEntry>): void {
  const tables = [...snap.values()].filter((e) => e.kind === 'table');
  for (const tab of tables) {
    const span = refSpan(t.config.granule, tab.level);
    let hasChild = false;
    for (const c of snap.values())
      if (c.level === tab.level + 1 && c.iova >= tab.iova && c.iova < tab.iova + span) {
        hasChild = true;
        break;
      }
    if (!hasChild) expect.fail(`table at level ${tab.level + 1} for ${tab.iova} is empty but not freed`);
  }
  expect(t.allocator.liveFrames).toBe(1 + tables.length);
}

function runSequence(cfg: { granule: number; stage: 1 | 2; ias: number }, specs: OpSpec[]): void {
  const t = new IoPageTable({ stage: cfg.stage, granule: cfg.granule, ias: cfg.ias });
  const model = new Model();
  const granule = cfg.granule;
  // What memory held after the previous operation (read again after every operation).
  let snap = refSnapshot(t.memory, t.config);
  for (const spec of specs)
    for (const c of concrete(spec, granule, cfg.ias, t.config.startLevel, model)) {
      const before = snap;
      if (!c.unmap) {
        const prot: Prot = { read: true, write: spec.paMisalign, exec: spec.exec };
        const clash = model.firstIntersecting(c.iova, c.iova + c.size);
        if (clash !== undefined) {
          let err: unknown;
          try {
            t.map(c.iova, c.pa, c.size, prot);
          } catch (e) {
            err = e;
          }
          expect(err).toBeInstanceOf(PageTableError);
          expect((err as PageTableError).kind).toBe('overlap');
          expect((err as OverlapError).existing).toEqual(clash);
          expectUnchanged(before, refSnapshot(t.memory, t.config));
          continue;
        }
        const want = expectedLeaves(granule, c.iova, c.pa, c.size);
        const r = t.map(c.iova, c.pa, c.size, prot);
        const after = refSnapshot(t.memory, t.config);
        snap = after;
        const d = diff(before, after);
        expect(d.removed).toEqual([]);
        expect(d.changed).toEqual([]);
        const addedLeaves = d.added.filter((e) => e.kind === 'leaf');
        expect(addedLeaves.map((e) => [e.iova, e.level, e.target]).sort((a, b) => a[0]! - b[0]!)).toEqual(
          want.map((l) => [l.iova, l.level, l.pa]),
        );
        expect(addedLeaves.filter((e) => (e.desc & 0x400n) === 0n)).toEqual([]); // AF set on every leaf
        expect(d.added.filter((e) => e.kind === 'table')).toHaveLength(r.tablesAllocated);
        expect(r.leaves).toEqual([0, 1, 2, 3].map((l) => want.filter((w) => w.level === l).length));
        for (const l of want) model.leaves.set(l.iova, l);
      } else {
        const end = c.iova + c.size;
        const first = model.containing(c.iova);
        const last = model.containing(end - 1);
        let partial: { field: string; leaf: Leaf } | null = null;
        // Both ends are checked before anything is cleared (even when the start is a hole).
        if (first !== undefined && first.iova !== c.iova) partial = { field: 'iova', leaf: first };
        else if (last !== undefined && last.iova + last.size > end) partial = { field: 'size', leaf: last };
        if (partial !== null) {
          let err: unknown;
          try {
            t.unmap(c.iova, c.size);
          } catch (e) {
            err = e;
          }
          expect(err).toBeInstanceOf(PageTableError);
          expect((err as PageTableError).kind).toBe('partial-unmap');
          expect((err as PageTableError).field).toBe(partial.field);
          expect((err as PartialUnmapError).block).toEqual(partial.leaf);
          expectUnchanged(before, refSnapshot(t.memory, t.config));
          continue;
        }
        // Expected: whole leaves from iova on, up to the end or the first hole.
        const gone: Leaf[] = [];
        let cur = c.iova;
        while (cur < end) {
          const l = model.leaves.get(cur);
          if (l === undefined) break;
          gone.push(l);
          cur += l.size;
        }
        const r = t.unmap(c.iova, c.size);
        expect(r.unmapped).toBe(cur - c.iova);
        expect(r.holeAt).toBe(cur < end ? cur : null);
        const after = refSnapshot(t.memory, t.config);
        snap = after;
        const d = diff(before, after);
        expect(d.added).toEqual([]);
        expect(d.changed).toEqual([]);
        const clearedLeaves = d.removed.filter((e) => e.kind === 'leaf');
        const clearedTables = d.removed.filter((e) => e.kind === 'table');
        expect(clearedLeaves.map((e) => leafKey(e.level, e.iova)).sort()).toEqual(
          gone.map((l) => leafKey(l.level, l.iova)).sort(),
        );
        if (gone.length === 0) {
          expect(r.tlbi).toBeNull();
          expect(d.removed).toEqual([]);
        } else {
          // The description covers exactly the cleared leaves, judged from memory alone.
          const spans = clearedLeaves.map((e) => [e.iova, e.iova + refSpan(granule, e.level)] as const);
          const lo = Math.min(...spans.map((s) => s[0]));
          const hi = Math.max(...spans.map((s) => s[1]));
          const total = spans.reduce((acc, s) => acc + (s[1] - s[0]), 0);
          expect(total).toBe(hi - lo); // no gap inside
          expect(r.tlbi).toEqual({
            start: lo,
            last: hi - 1,
            leafLevels: levelsOf(clearedLeaves),
            tableLevels: levelsOf(clearedTables),
            granule,
          });
          expect(lo).toBe(c.iova);
        }
        const freedWant = clearedTables
          .map((e) => ({ pa: e.target, level: e.level, iova: e.iova, size: refSpan(granule, e.level) }))
          .sort((a, b) => a.pa - b.pa);
        expect(r.freedTables.slice().sort((a, b) => a.pa - b.pa)).toEqual(freedWant);
        // Linux-style requests: one non-leaf per cleared table descriptor, one leaf request per leaf size.
        const reqWant = clearedTables.map((e) => ({
          iova: e.iova,
          size: refSpan(granule, e.level),
          granule,
          leaf: false,
        }));
        for (const lvl of levelsOf(clearedLeaves)) {
          const ofSize = clearedLeaves.filter((e) => e.level === lvl);
          const s = refSpan(granule, lvl);
          const a = Math.min(...ofSize.map((e) => e.iova));
          const b = Math.max(...ofSize.map((e) => e.iova + s));
          reqWant.push({ iova: a, size: b - a, granule: s, leaf: true });
        }
        const order = (x: { iova: number; granule: number; leaf: boolean; size: number }) =>
          `${x.leaf ? 1 : 0}:${x.granule}:${x.iova}:${x.size}`;
        expect(r.linuxRequests.map(order).sort()).toEqual(reqWant.map(order).sort());
        for (const l of gone) model.leaves.delete(l.iova);
      }
      // After every change: memory holds exactly the model's leaves, tables are never left empty, and
      // iovaToPhys agrees with the model.
      const inMemory = [...snap.values()]
        .filter((e) => e.kind === 'leaf')
        .map((e) => [e.iova, e.level, e.target])
        .sort((a, b) => a[0]! - b[0]!);
      expect(inMemory).toEqual(model.sorted().map((l) => [l.iova, l.level, l.pa]));
      checkTableInvariants(t, snap);
      const wrong: number[] = [];
      for (const l of model.leaves.values()) {
        if (t.iovaToPhys(l.iova) !== l.pa) wrong.push(l.iova);
        if (t.iovaToPhys(l.iova + l.size - 8) !== l.pa + l.size - 8) wrong.push(l.iova + l.size - 8);
      }
      expect(wrong).toEqual([]);
      for (const probe of [c.iova, c.iova + c.size - 1, c.iova + c.size]) {
        if (probe >= 2 ** cfg.ias) continue;
        const l = model.containing(probe);
        expect(t.iovaToPhys(probe)).toBe(l === undefined ? null : l.pa + (probe - l.iova));
      }
    }
}

describe('page table vs reference model (property)', () => {
  it('random map/unmap sequences: translations, reports and memory agree', () => {
    fc.assert(
      fc.property(configArb, fc.array(opArb, { minLength: 1, maxLength: 24 }), (cfg, specs) => runSequence(cfg, specs)),
      { numRuns: 100 },
    );
  });

  it('mapping then unmapping everything frees every table', () => {
    fc.assert(
      fc.property(configArb, fc.array(opArb, { minLength: 1, maxLength: 12 }), (cfg, specs) => {
        const t = new IoPageTable({ stage: cfg.stage, granule: cfg.granule, ias: cfg.ias });
        const model = new Model();
        for (const s of specs) {
          const c = concrete({ ...s, unmap: false }, cfg.granule, cfg.ias, t.config.startLevel, model)[0];
          if (c === undefined || c.unmap || model.firstIntersecting(c.iova, c.iova + c.size) !== undefined) continue;
          t.map(c.iova, c.pa, c.size, { read: true, write: true, exec: false });
          for (const l of expectedLeaves(cfg.granule, c.iova, c.pa, c.size)) model.leaves.set(l.iova, l);
        }
        let unmapped = 0;
        for (const l of model.sorted()) unmapped += t.unmap(l.iova, l.size).unmapped;
        expect(unmapped).toBe(model.sorted().reduce((a, l) => a + l.size, 0));
        expect(refSnapshot(t.memory, t.config).size).toBe(0);
        expect(t.allocator.liveFrames).toBe(1);
      }),
      { numRuns: 60 },
    );
  });
});
