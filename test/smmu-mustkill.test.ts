/**
 * The model's invalidation (interval index + predicate) against a slow reference: the architecture's
 * mustKill rules written out plainly here and applied to every entry by a linear scan. Random entries of
 * every kind and tag, random legal commands; the survivors must be exactly the reference's.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { CommandChecker, type CommandName } from '../src/cmdq/index.js';
import { GLOBAL_ASID, Kind, Regime, TlbEntry, WalkEntry } from '../src/smmu/caches.js';
import { cmd, newModel, submit, SYNC } from './smmu-fixtures.js';

interface Ent {
  tlb: boolean;
  kind: 0 | 1 | 2;
  vmid: number;
  asid: number; // GLOBAL_ASID for global leaves; 0 for stage 2
  level: number;
  g: number;
  start: number;
  sizeLog2: number;
  /** Nested leaves: the stage-1 leaf span the entry was splintered from. */
  matchLog2: number;
}

const shift = (g: number, level: number): number => g + (3 - level) * (g - 3);

const entArb = fc
  .record({
    tlb: fc.boolean(),
    kind: fc.constantFrom(0 as const, 1 as const, 2 as const),
    vmid: fc.nat(1),
    asid: fc.integer({ min: -1, max: 1 }),
    g: fc.constantFrom(12, 14, 16),
    level: fc.integer({ min: 1, max: 3 }),
    slot: fc.nat(63),
    splinter: fc.boolean(),
  })
  .map((r): Ent => {
    const level = r.tlb ? r.level : Math.min(r.level, 2);
    const levelLog2 = shift(r.g, level);
    // A nested leaf from a stage-1 block splintered by stage-2 pages: one page of the block.
    const splinter = r.tlb && r.kind === 2 && r.splinter && level < 3;
    const sizeLog2 = splinter ? r.g : levelLog2;
    const matchLog2 = levelLog2;
    const asid = r.kind === 1 ? 0 : !r.tlb && r.asid < 0 ? 0 : r.asid;
    // Starts spread over 128 MiB so that ranges hit some entries and miss others.
    const start =
      Math.floor((r.slot * 0x20_0000 + (splinter ? 2 ** r.g * (r.slot % 5) : 0)) / 2 ** sizeLog2) * 2 ** sizeLog2;
    return { tlb: r.tlb, kind: r.kind, vmid: r.vmid, asid, level, g: r.g, start, sizeLog2, matchLog2 };
  });

const NAMES = [
  'TLBI_NH_VA',
  'TLBI_NH_VAA',
  'TLBI_S2_IPA',
  'TLBI_NH_ASID',
  'TLBI_NH_ALL',
  'TLBI_S12_VMALL',
  'TLBI_NSNH_ALL',
] as const;
const cmdArb = fc.record({
  name: fc.constantFrom(...NAMES),
  vmid: fc.nat(1),
  asid: fc.nat(1),
  tg: fc.nat(3),
  ttl: fc.nat(3),
  num: fc.nat(31),
  scale: fc.nat(8),
  leaf: fc.nat(1),
  slot: fc.nat(63),
});
type Cmd = typeof cmdArb extends fc.Arbitrary<infer T> ? T : never;

/** The reference: what the architecture requires the command to remove (adversarial: nothing more). */
function mustKill(e: Ent, c: Cmd, addr: number): boolean {
  const stage1 = e.kind !== Kind.S2;
  switch (c.name) {
    case 'TLBI_NSNH_ALL':
      return true;
    case 'TLBI_S12_VMALL':
      return e.vmid === c.vmid;
    case 'TLBI_NH_ALL':
      return stage1 && e.vmid === c.vmid;
    case 'TLBI_NH_ASID':
      return stage1 && e.vmid === c.vmid && e.asid === c.asid;
    default:
      break;
  }
  if (c.name === 'TLBI_S2_IPA') {
    if (e.kind !== Kind.S2 || e.vmid !== c.vmid) return false;
  } else {
    if (!stage1 || e.vmid !== c.vmid) return false;
    if (c.name === 'TLBI_NH_VA' && e.asid !== c.asid && !(e.tlb && e.asid === GLOBAL_ASID)) return false;
  }
  const span = 2 ** e.matchLog2;
  const eFirst = e.start - (e.start % span);
  const eLast = eFirst + span - 1;
  if (c.tg === 0) {
    if (!(eFirst <= addr && addr <= eLast)) return false;
    return e.tlb || c.leaf === 0;
  }
  const g = 10 + 2 * c.tg;
  // Misaligned base for the TTL hint: UNPREDICTABLE range, so nothing is required.
  const lowBitsClear = (top: number): boolean => addr % 2 ** (top + 1) === 0;
  const aligned =
    g === 12
      ? c.ttl === 1
        ? lowBitsClear(29)
        : c.ttl === 2
          ? lowBitsClear(20)
          : true
      : g === 14
        ? c.ttl === 2
          ? lowBitsClear(24)
          : lowBitsClear(13)
        : c.ttl === 1
          ? lowBitsClear(41)
          : c.ttl === 2
            ? lowBitsClear(28)
            : lowBitsClear(15);
  if (!aligned) return false;
  const last = addr + (c.num + 1) * 2 ** c.scale * 2 ** g - 1;
  if (eLast < addr || eFirst > last) return false;
  if (e.g !== g) return false;
  const ttl = c.tg === 2 && c.ttl === 1 ? 0 : c.ttl;
  if (e.tlb) return ttl === 0 || e.level === ttl;
  return c.leaf === 0 && (ttl === 0 || e.level < ttl);
}

describe('invalidation by the interval index equals the linear mustKill reference', () => {
  it('for random entries and random legal commands', () => {
    const checker = new CommandChecker();
    fc.assert(
      fc.property(fc.array(entArb, { minLength: 1, maxLength: 60 }), cmdArb, (ents, c) => {
        const addr = c.slot % 4 === 0 ? 0 : c.slot * 0x20_0000 + (c.tg === 0 ? 0x1000 * (c.slot % 7) : 0);
        const fields: Record<string, number> = { vmid: c.vmid };
        if (c.name === 'TLBI_NH_VA' || c.name === 'TLBI_NH_ASID') fields.asid = c.asid;
        if (c.name === 'TLBI_NH_VA' || c.name === 'TLBI_NH_VAA' || c.name === 'TLBI_S2_IPA') {
          Object.assign(fields, { addr, leaf: c.leaf, tg: c.tg });
          if (c.tg !== 0) Object.assign(fields, { ttl: c.ttl, num: c.num, scale: c.scale });
        }
        if (c.name === 'TLBI_NSNH_ALL') delete fields.vmid;
        let h: number[];
        try {
          h = cmd(c.name as CommandName, fields, checker);
        } catch {
          return; // an illegal encoding (CERROR_ILL) is tested elsewhere
        }
        const { model } = newModel();
        // Unique spans per tag (the caches replace an entry of the same tag and span).
        const seen = new Set<string>();
        const kept: Ent[] = [];
        const objs = new Map<object, Ent>();
        for (const e of ents) {
          const key = `${e.tlb}/${e.kind}/${e.vmid}/${e.asid}/${e.start}/${e.sizeLog2}`;
          if (seen.has(key)) continue;
          seen.add(key);
          kept.push(e);
          if (e.tlb) {
            const t = new TlbEntry({
              regime: Regime.NH,
              kind: e.kind,
              vmid: e.vmid,
              asid: e.asid,
              srcAsid: Math.max(e.asid, 0),
              inStart: e.start,
              sizeLog2: e.sizeLog2,
              outStart: 0,
              level: e.level,
              granuleLog2: e.g,
              attrLo: 0,
              attrHi: 0,
              nested: {
                ipa: e.kind === 2 ? e.start : -1,
                s2Level: 3,
                s2GranuleLog2: e.g,
                s2AttrLo: 0,
                s2AttrHi: 0,
                matchLog2: e.matchLog2,
              },
            });
            model.tlb.insert(t);
            objs.set(t, e);
          } else {
            const w = new WalkEntry({
              regime: Regime.NH,
              kind: e.kind,
              vmid: e.vmid,
              asid: e.asid,
              inStart: e.start,
              sizeLog2: e.sizeLog2,
              level: e.level,
              granuleLog2: e.g,
              next: 0x1000,
            });
            model.walkCache.insert(w);
            objs.set(w, e);
          }
        }
        submit(model, h, SYNC());
        const survivors = new Set<Ent>([...model.tlb.all, ...model.walkCache.all].map((o) => objs.get(o)!));
        for (const e of kept) expect(survivors.has(e), JSON.stringify({ e, c, addr })).toBe(!mustKill(e, c, addr));
      }),
      { numRuns: 800 },
    );
  });
});
