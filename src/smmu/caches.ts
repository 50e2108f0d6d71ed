/**
 * The translation caches of the SMMU model: a TLB (leaf entries: stage 1, stage 2, or combined nested
 * stage 1 + 2), a walk cache (table descriptors) and, per ATS stream, an ATC. Entries are grouped by tag —
 * translation regime, kind and VMID, then ASID (global stage-1 entries in a group of their own) — and each
 * tag's entries live in an interval index keyed by input address, so an invalidation by address costs
 * O(log n + k). Capacity is bounded; inserting into a full cache evicts a randomly chosen entry. The ATCs
 * live in atc-cache.ts (re-exported here).
 */
export { ATC_PAGE_LOG2, AtcCache, AtcEntry } from './atc-cache.js';
import { IntervalIndex } from './interval.js';
import { OutputIndex } from './output-index.js';
import { POW2 } from '../units.js';
import type { Rng } from './rng.js';

/** Translation regimes the model tags entries with. */
export const Regime = { NH: 0, EL2: 1, EL2_E2H: 2 } as const;
export type RegimeValue = (typeof Regime)[keyof typeof Regime];

/** What an entry was made from: a stage-1-only walk, a stage-2-only walk, or both stages (nested). */
export const Kind = { S1: 0, S2: 1, NESTED: 2 } as const;
export type KindValue = (typeof Kind)[keyof typeof Kind];

export const KIND_NAMES = ['stage1', 'stage2', 'nested'] as const;
export const REGIME_NAMES = ['NS-EL1', 'EL2', 'EL2-E2H'] as const;

/** ASID key of global (nG=0) stage-1 entries. Stage-2 entries use ASID key 0. */
export const GLOBAL_ASID = -1;

export interface TaggedEntry {
  regime: RegimeValue;
  kind: KindValue;
  vmid: number;
  /** ASID, GLOBAL_ASID for a global entry, 0 for stage 2. */
  asid: number;
  inStart: number;
  sizeLog2: number;
  /** Level and granule an invalidation by address matches against (TTL, TG). */
  level: number;
  granuleLog2: number;
  /**
   * log2 of the span an invalidation by address matches the entry on: its own span, except for a nested
   * entry splintered by a smaller stage 2, which any address of its stage-1 leaf invalidates.
   */
  matchLog2: number;
  /** Position in the cache's entry list (maintained by the cache). */
  slot: number;
  /** The per-tag index holding the entry (maintained by the cache). */
  idx: IntervalIndex<unknown> | null;
}

/** Every field of a TLB entry, named (see `TlbEntry`). */
export interface TlbEntryInit {
  readonly regime: RegimeValue;
  readonly kind: KindValue;
  readonly vmid: number;
  /** ASID key: the ASID, GLOBAL_ASID for a global entry, 0 for stage 2. */
  readonly asid: number;
  /** For a global entry: the ASID of the context whose walk produced it (to check it against). */
  readonly srcAsid: number;
  readonly inStart: number;
  readonly sizeLog2: number;
  readonly outStart: number;
  /** Level and granule of the stage TLBIs match against (stage 1 for S1 and nested entries). */
  readonly level: number;
  readonly granuleLog2: number;
  readonly attrLo: number;
  readonly attrHi: number;
  /** Nested entries only: the stage-2 part (single-stage entries have none). */
  readonly nested?: NestedPart;
}

/** The stage-2 half of a combined nested TLB entry. */
export interface NestedPart {
  /** The IPA of the entry's span start. */
  readonly ipa: number;
  /** The stage-2 leaf's level, granule and attributes. */
  readonly s2Level: number;
  readonly s2GranuleLog2: number;
  readonly s2AttrLo: number;
  readonly s2AttrHi: number;
  /** log2 of the stage-1 leaf's span: an invalidation by address matches the entry on it. */
  readonly matchLog2: number;
}

/** A leaf translation. */
export class TlbEntry implements TaggedEntry {
  slot = -1;
  idx: IntervalIndex<unknown> | null = null;
  regime: RegimeValue;
  kind: KindValue;
  vmid: number;
  asid: number;
  /** For a global entry: the ASID of the context whose walk produced it (to check it against). */
  srcAsid: number;
  inStart: number;
  sizeLog2: number;
  outStart: number;
  /** Level and granule of the stage TLBIs match against (stage 1 for S1 and nested entries). */
  level: number;
  granuleLog2: number;
  attrLo: number;
  attrHi: number;
  /** Nested only: the IPA of the span start, the stage-2 leaf's level/granule/attributes (-1, 0, … otherwise). */
  ipa: number;
  s2Level: number;
  s2GranuleLog2: number;
  s2AttrLo: number;
  s2AttrHi: number;
  /** Nested: log2 of the stage-1 leaf's span (otherwise the entry's own span). */
  matchLog2: number;

  constructor(f: TlbEntryInit) {
    this.regime = f.regime;
    this.kind = f.kind;
    this.vmid = f.vmid;
    this.asid = f.asid;
    this.srcAsid = f.srcAsid;
    this.inStart = f.inStart;
    this.sizeLog2 = f.sizeLog2;
    this.outStart = f.outStart;
    this.level = f.level;
    this.granuleLog2 = f.granuleLog2;
    this.attrLo = f.attrLo;
    this.attrHi = f.attrHi;
    const n = f.nested;
    this.ipa = n === undefined ? -1 : n.ipa;
    this.s2Level = n === undefined ? 0 : n.s2Level;
    this.s2GranuleLog2 = n === undefined ? 0 : n.s2GranuleLog2;
    this.s2AttrLo = n === undefined ? 0 : n.s2AttrLo;
    this.s2AttrHi = n === undefined ? 0 : n.s2AttrHi;
    this.matchLog2 = n === undefined ? f.sizeLog2 : n.matchLog2;
  }
}

/** Every field of a walk-cache entry, named (see `WalkEntry`). */
export interface WalkEntryInit {
  readonly regime: RegimeValue;
  /** S1 (stage-1 tables), S2 (stage-2 tables), NESTED (stage-1 tables of a nested stream). */
  readonly kind: KindValue;
  readonly vmid: number;
  readonly asid: number;
  readonly inStart: number;
  readonly sizeLog2: number;
  /** Level of the table descriptor (the table it points to is at level + 1). */
  readonly level: number;
  readonly granuleLog2: number;
  /** The next table's address (an IPA under nesting). */
  readonly next: number;
  /** The next table's PA (default `next`; under nesting its stage-2 translation). */
  readonly nextPa?: number;
}

/** A cached table descriptor: the walk for any address in [inStart, +2^sizeLog2) continues at `next`. */
export class WalkEntry implements TaggedEntry {
  slot = -1;
  idx: IntervalIndex<unknown> | null = null;
  regime: RegimeValue;
  /** S1 (stage-1 tables), S2 (stage-2 tables), NESTED (stage-1 tables of a nested stream: `next` is an IPA, `nextPa` its PA). */
  kind: KindValue;
  vmid: number;
  asid: number;
  inStart: number;
  sizeLog2: number;
  /** Level of the table descriptor (the table it points to is at level + 1). */
  level: number;
  granuleLog2: number;
  next: number;
  /**
   * The PA of the next table. Under nesting `next` is an IPA and this entry is a combined stage-1 +
   * stage-2 structure holding its stage-2 translation as it was when the walk read it: TLBI_S2_IPA is not
   * required to remove it (IHI 0070 4.4.3.1), NH_ALL / NH_VAA / S12_VMALL are.
   */
  nextPa: number;
  matchLog2: number;

  constructor(f: WalkEntryInit) {
    this.regime = f.regime;
    this.kind = f.kind;
    this.vmid = f.vmid;
    this.asid = f.asid;
    this.inStart = f.inStart;
    this.sizeLog2 = f.sizeLog2;
    this.level = f.level;
    this.granuleLog2 = f.granuleLog2;
    this.next = f.next;
    this.nextPa = f.nextPa ?? f.next;
    this.matchLog2 = f.sizeLog2;
  }
}

/** One tag group: entries of one regime, kind and VMID, by ASID. */
export class TagGroup<E extends TaggedEntry> {
  readonly byAsid = new Map<number, IntervalIndex<E>>();
  /** Largest matchLog2 of any entry inserted (invalidation queries widen to it). */
  maxMatchLog2 = 0;
  /** Nested TLB groups: the same entries keyed by IPA (for checking stage-2 changes). */
  readonly byIpa: IntervalIndex<E> | null;
  constructor(
    readonly regime: RegimeValue,
    readonly kind: KindValue,
    readonly vmid: number,
    withIpa: boolean,
  ) {
    this.byIpa = withIpa ? new IntervalIndex<E>() : null;
  }
}

function groupKey(regime: number, kind: number, vmid: number): number {
  return (regime * 4 + kind) * 65536 + vmid;
}

/**
 * Which entries of a group an invalidation by address removes besides overlapping it (IHI 0070 4.4.1.1:
 * TG ≠ 0 reaches only entries of that granule; TTL only leaves of that level, or with Leaf = 0 also tables
 * above it). `granuleLog2` -1: every entry that overlaps.
 */
export class AddressFilter {
  granuleLog2 = -1;
  /** The TTL hint (0: any level). */
  ttl = 0;
  /** Walk-cache entries: levels below TTL match (table descriptors above the leaf); TLB entries: level TTL. */
  tables = false;

  matches(e: TaggedEntry): boolean {
    if (this.granuleLog2 < 0) return true;
    if (e.granuleLog2 !== this.granuleLog2) return false;
    return this.ttl === 0 || (this.tables ? e.level < this.ttl : e.level === this.ttl);
  }
}

/** Groups an invalidation selects: regimes and kinds as bit masks (1 << value), a VMID or every VMID (-1). */
export interface GroupSelector {
  regimes: number;
  kinds: number;
  vmid: number;
}

/** The TLB or the walk cache. */
export class TaggedCache<E extends TaggedEntry> {
  readonly groups = new Map<number, TagGroup<E>>();
  readonly all: E[] = [];
  fills = 0;
  removed = 0;
  evicted = 0;
  /** Emptied per-ASID indexes, reused (caches empty and refill all the time). */
  private readonly idxPool: IntervalIndex<E>[] = [];
  private readonly victims: E[] = [];
  private readonly found: E[] = [];
  /** The entries by output address, once asked for (`overlappingOutput`). */
  private outputs: OutputIndex<E> | null = null;

  constructor(
    public capacity: number,
    private readonly rng: Rng,
    /** The IPA of an entry for the nested IPA index, or null when the cache keeps no IPA index. */
    private readonly ipaOf: ((e: E) => number) | null,
  ) {}

  get size(): number {
    return this.all.length;
  }

  group(regime: number, kind: number, vmid: number): TagGroup<E> | undefined {
    return this.groups.get(groupKey(regime, kind, vmid));
  }

  private groupFor(e: E): TagGroup<E> {
    const k = groupKey(e.regime, e.kind, e.vmid);
    let g = this.groups.get(k);
    if (g === undefined) {
      g = new TagGroup<E>(e.regime, e.kind, e.vmid, this.ipaOf !== null && e.kind === 2);
      this.groups.set(k, g);
    }
    return g;
  }

  private indexFor(g: TagGroup<E>, asid: number): IntervalIndex<E> {
    let idx = g.byAsid.get(asid);
    if (idx === undefined) {
      idx = this.idxPool.pop() ?? new IntervalIndex<E>();
      g.byAsid.set(asid, idx);
    }
    return idx;
  }

  /** Insert (replacing an entry of the same tag and span). */
  insert(e: E): void {
    const g = this.groupFor(e);
    let idx = this.indexFor(g, e.asid);
    const old = idx.get(e.inStart, e.sizeLog2);
    if (old !== undefined) {
      this.detach(old, g);
      // The entry goes into the same index object even when the old entry emptied it (and it left its group).
      const pool = this.idxPool;
      if (pool[pool.length - 1] === idx) pool.pop();
    } else if (this.all.length >= this.capacity && this.all.length > 0) {
      this.evicted++;
      this.remove(this.all[this.rng.below(this.all.length)]!, false);
      // The victim may have emptied and dropped this group's index: look it up again.
      idx = this.indexFor(g, e.asid);
      if (!this.groups.has(groupKey(e.regime, e.kind, e.vmid))) this.groups.set(groupKey(e.regime, e.kind, e.vmid), g);
    }
    idx.insert(e.inStart, e.sizeLog2, e);
    if (e.matchLog2 > g.maxMatchLog2) g.maxMatchLog2 = e.matchLog2;
    e.idx = idx as IntervalIndex<unknown>;
    if (g.byIpa !== null) g.byIpa.insert(this.ipaOf!(e), e.sizeLog2, e);
    if (this.outputs !== null) this.outputs.add(e);
    e.slot = this.all.length;
    this.all.push(e);
    this.fills++;
  }

  /** Remove one entry (counted as removed by invalidation unless `counted` is false). */
  remove(e: E, counted = true): void {
    const g = this.group(e.regime, e.kind, e.vmid);
    if (g === undefined || e.slot < 0) return;
    this.detach(e, g);
    if (counted) this.removed++;
  }

  private detach(e: E, g: TagGroup<E>): void {
    const idx = e.idx as IntervalIndex<E> | null;
    if (idx !== null) {
      idx.remove(e.inStart, e.sizeLog2, e);
      if (idx.size === 0 && g.byAsid.get(e.asid) === idx) {
        g.byAsid.delete(e.asid);
        this.idxPool.push(idx);
      } else if (idx.size === 0) g.byAsid.delete(e.asid);
    }
    if (g.byIpa !== null) g.byIpa.remove(this.ipaOf!(e), e.sizeLog2, e);
    if (this.outputs !== null) this.outputs.delete(e);
    if (g.byAsid.size === 0) this.groups.delete(groupKey(g.regime, g.kind, g.vmid));
    e.idx = null;
    const last = this.all.pop()!;
    if (last !== e) {
      this.all[e.slot] = last;
      last.slot = e.slot;
    }
    e.slot = -1;
  }

  /** The entry for `addr` under (regime, kind, vmid, asid), trying the global entries too when `global`. */
  lookup(regime: number, kind: number, vmid: number, asid: number, addr: number, global: boolean): E | undefined {
    const g = this.groups.get(groupKey(regime, kind, vmid));
    if (g === undefined) return undefined;
    const e = g.byAsid.get(asid)?.find(addr);
    if (e !== undefined || !global) return e;
    return g.byAsid.get(GLOBAL_ASID)?.find(addr);
  }

  /**
   * Remove the entries of group `g` (ASID key `asid`, or every ASID when `asid` is undefined) that overlap
   * [first, last] and pass `filter` (null: all). Returns the number removed.
   */
  removeOverlapping(
    g: TagGroup<E>,
    asid: number | undefined,
    first: number,
    last: number,
    filter: AddressFilter | null,
  ): number {
    // Entries matched on a wider span than their own (splintered nested entries) may start before `first`.
    let qFirst = first;
    let qLast = last;
    if (g.maxMatchLog2 > 0 && g.kind === 2) {
      const m = POW2[g.maxMatchLog2]!;
      qFirst = Math.floor(first / m) * m;
      qLast = Math.floor(last / m) * m + m - 1;
    }
    const found = this.found;
    found.length = 0;
    if (asid === undefined) for (const idx of g.byAsid.values()) idx.collect(qFirst, qLast, found);
    else g.byAsid.get(asid)?.collect(qFirst, qLast, found);
    const victims = this.victims;
    victims.length = 0;
    const widened = qFirst !== first || qLast !== last;
    for (let i = 0; i < found.length; i++) {
      const e = found[i]!;
      if (e.matchLog2 > e.sizeLog2) {
        const m = POW2[e.matchLog2]!;
        const ms = Math.floor(e.inStart / m) * m;
        if (ms > last || ms + m - 1 < first) continue;
      } else if (widened) {
        if (e.inStart > last || e.inStart + POW2[e.sizeLog2]! - 1 < first) continue;
      }
      if (filter === null || filter.matches(e)) victims.push(e);
    }
    found.length = 0;
    return this.removeVictims();
  }

  /** Remove every entry of group `g` (ASID key `asid` only when given). */
  removeAll(g: TagGroup<E>, asid: number | undefined): number {
    const victims = this.victims;
    victims.length = 0;
    if (asid === undefined) for (const idx of g.byAsid.values()) idx.values(victims);
    else g.byAsid.get(asid)?.values(victims);
    return this.removeVictims();
  }

  /** Remove what `victims` holds, in order. */
  private removeVictims(): number {
    const victims = this.victims;
    const n = victims.length;
    for (let i = 0; i < n; i++) this.remove(victims[i]!);
    victims.length = 0;
    return n;
  }

  /** The groups `sel` selects, in the cache's group order, appended to `out` (so callers may remove while iterating). */
  selectGroups(sel: GroupSelector, out: TagGroup<E>[]): TagGroup<E>[] {
    for (const g of this.groups.values())
      if (
        (sel.regimes & (1 << g.regime)) !== 0 &&
        (sel.kinds & (1 << g.kind)) !== 0 &&
        (sel.vmid < 0 || g.vmid === sel.vmid)
      )
        out.push(g);
    return out;
  }

  /**
   * Append the entries whose output span [outOf(e), +2^sizeLog2) overlaps [first, last] to `out` (in no
   * particular order). The first call builds the index by output (`outOf` must be the same every call).
   */
  overlappingOutput(first: number, last: number, out: E[], outOf: (e: E) => number): E[] {
    this.outputs ??= OutputIndex.over(this.all, outOf, (e) => e.sizeLog2);
    return this.outputs.collect(first, last, out);
  }

  clear(): void {
    this.removed += this.all.length;
    this.outputs?.clear();
    this.groups.clear();
    for (const e of this.all) {
      e.slot = -1;
      e.idx = null;
    }
    this.all.length = 0;
  }
}
