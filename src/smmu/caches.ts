/**
 * The translation caches of the SMMU model: a TLB (leaf entries: stage 1, stage 2, or combined nested
 * stage 1 + 2), a walk cache (table descriptors) and, per ATS stream, an ATC. Entries are grouped by tag —
 * translation regime, kind and VMID, then ASID (global stage-1 entries in a group of their own) — and each
 * tag's entries live in an interval index keyed by input address, so an invalidation by address costs
 * O(log n + k). Capacity is bounded; inserting into a full cache evicts a randomly chosen entry.
 */
import { IntervalIndex } from './interval.js';
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

/** A leaf translation. */
export class TlbEntry implements TaggedEntry {
  slot = -1;
  idx: IntervalIndex<unknown> | null = null;
  constructor(
    public regime: RegimeValue,
    public kind: KindValue,
    public vmid: number,
    public asid: number,
    /** For a global entry: the ASID of the context whose walk produced it (to check it against). */
    public srcAsid: number,
    public inStart: number,
    public sizeLog2: number,
    public outStart: number,
    /** Level and granule of the stage TLBIs match against (stage 1 for S1 and nested entries). */
    public level: number,
    public granuleLog2: number,
    public attrLo: number,
    public attrHi: number,
    /** Nested only: the IPA of the span start, the stage-2 leaf's level/granule/attributes. */
    public ipa: number,
    public s2Level: number,
    public s2GranuleLog2: number,
    public s2AttrLo: number,
    public s2AttrHi: number,
    /** Nested: log2 of the stage-1 leaf's span (defaults to the entry's own span). */
    public matchLog2: number = sizeLog2,
  ) {}
}

/** A cached table descriptor: the walk for any address in [inStart, +2^sizeLog2) continues at `next`. */
export class WalkEntry implements TaggedEntry {
  slot = -1;
  idx: IntervalIndex<unknown> | null = null;
  constructor(
    public regime: RegimeValue,
    /** S1 (stage-1 tables), S2 (stage-2 tables), NESTED (stage-1 tables of a nested stream: `next` is an IPA, `nextPa` its PA). */
    public kind: KindValue,
    public vmid: number,
    public asid: number,
    public inStart: number,
    public sizeLog2: number,
    /** Level of the table descriptor (the table it points to is at level + 1). */
    public level: number,
    public granuleLog2: number,
    public next: number,
    /**
     * The PA of the next table. Under nesting `next` is an IPA and this entry is a combined stage-1 +
     * stage-2 structure holding its stage-2 translation as it was when the walk read it: TLBI_S2_IPA is not
     * required to remove it (IHI 0070 4.4.3.1), NH_ALL / NH_VAA / S12_VMALL are.
     */
    public nextPa: number = next,
  ) {
    this.matchLog2 = sizeLog2;
  }
  matchLog2: number;
}

/** A 4 KiB ATC entry of an ATS endpoint. */
export class AtcEntry {
  slot = -1;
  constructor(
    public sid: number,
    public ssid: number,
    public page: number,
    public outPage: number,
    /** bit 0 read, bit 1 write. */
    public perm: number,
    /** Nested streams: the IPA the page went through (-1 otherwise), for the IPA index. */
    public ipa: number,
  ) {}
}

export const ATC_PAGE_LOG2 = 12;

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

/** The TLB or the walk cache. */
export class TaggedCache<E extends TaggedEntry> {
  readonly groups = new Map<number, TagGroup<E>>();
  readonly all: E[] = [];
  fills = 0;
  removed = 0;
  evicted = 0;

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

  /** Insert (replacing an entry of the same tag and span). */
  insert(e: E): void {
    const g = this.groupFor(e);
    let idx = g.byAsid.get(e.asid);
    if (idx === undefined) {
      idx = new IntervalIndex<E>();
      g.byAsid.set(e.asid, idx);
    }
    const old = idx.get(e.inStart, e.sizeLog2);
    if (old !== undefined) this.detach(old, g);
    else if (this.all.length >= this.capacity && this.all.length > 0) {
      this.evicted++;
      this.remove(this.all[this.rng.below(this.all.length)]!, false);
      // The victim may have emptied and dropped this group's index: look it up again.
      idx = g.byAsid.get(e.asid);
      if (idx === undefined) {
        idx = new IntervalIndex<E>();
        g.byAsid.set(e.asid, idx);
      }
      if (!this.groups.has(groupKey(e.regime, e.kind, e.vmid))) this.groups.set(groupKey(e.regime, e.kind, e.vmid), g);
    }
    idx.insert(e.inStart, e.sizeLog2, e);
    if (e.matchLog2 > g.maxMatchLog2) g.maxMatchLog2 = e.matchLog2;
    e.idx = idx as IntervalIndex<unknown>;
    if (g.byIpa !== null) g.byIpa.insert(this.ipaOf!(e), e.sizeLog2, e);
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
      if (idx.size === 0) g.byAsid.delete(e.asid);
    }
    if (g.byIpa !== null) g.byIpa.remove(this.ipaOf!(e), e.sizeLog2, e);
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
   * [first, last] and satisfy `pred`. Returns the number removed.
   */
  removeOverlapping(
    g: TagGroup<E>,
    asid: number | undefined,
    first: number,
    last: number,
    pred: ((e: E) => boolean) | null,
  ): number {
    const victims: E[] = [];
    // Entries matched on a wider span than their own (splintered nested entries) may start before `first`.
    let qFirst = first;
    let qLast = last;
    if (g.maxMatchLog2 > 0 && g.kind === 2) {
      const m = 2 ** g.maxMatchLog2;
      qFirst = Math.floor(first / m) * m;
      qLast = Math.floor(last / m) * m + m - 1;
    }
    const visit = (idx: IntervalIndex<E>): void => {
      idx.overlapping(qFirst, qLast, (e) => {
        if (e.matchLog2 > e.sizeLog2) {
          const m = 2 ** e.matchLog2;
          const ms = Math.floor(e.inStart / m) * m;
          if (ms > last || ms + m - 1 < first) return;
        } else if (qFirst !== first || qLast !== last) {
          if (e.inStart > last || e.inStart + 2 ** e.sizeLog2 - 1 < first) return;
        }
        if (pred === null || pred(e)) victims.push(e);
      });
    };
    return this.removeVictims(g, asid, visit, victims);
  }

  /** Remove every entry of group `g` (ASID key `asid` only when given) satisfying `pred`. */
  removeAll(g: TagGroup<E>, asid: number | undefined, pred: ((e: E) => boolean) | null): number {
    const victims: E[] = [];
    const visit = (idx: IntervalIndex<E>): void => {
      idx.forEach((e) => {
        if (pred === null || pred(e)) victims.push(e);
      });
    };
    return this.removeVictims(g, asid, visit, victims);
  }

  /** Visit the interval index of ASID key `asid` (every key when undefined), then remove what `visit` collected. */
  private removeVictims(
    g: TagGroup<E>,
    asid: number | undefined,
    visit: (idx: IntervalIndex<E>) => void,
    victims: E[],
  ): number {
    if (asid === undefined) for (const idx of g.byAsid.values()) visit(idx);
    else {
      const idx = g.byAsid.get(asid);
      if (idx !== undefined) visit(idx);
    }
    for (const e of victims) this.remove(e);
    return victims.length;
  }

  /** Groups matching a filter (copied, so callers may remove while iterating). */
  groupsWhere(pred: (g: TagGroup<E>) => boolean): TagGroup<E>[] {
    const out: TagGroup<E>[] = [];
    for (const g of this.groups.values()) if (pred(g)) out.push(g);
    return out;
  }

  clear(): void {
    this.removed += this.all.length;
    this.groups.clear();
    for (const e of this.all) {
      e.slot = -1;
      e.idx = null;
    }
    this.all.length = 0;
  }
}

/** The ATCs of the ATS endpoints behind one SMMU, by StreamID then SubstreamID. */
export class AtcCache {
  private readonly bySid = new Map<number, Map<number, IntervalIndex<AtcEntry>>>();
  /** Per StreamID, entries of nested streams keyed by IPA. */
  private readonly byIpa = new Map<number, IntervalIndex<AtcEntry>>();
  readonly all: AtcEntry[] = [];
  fills = 0;
  removed = 0;
  evicted = 0;

  constructor(
    public capacity: number,
    private readonly rng: Rng,
  ) {}

  get size(): number {
    return this.all.length;
  }

  lookup(sid: number, ssid: number, addr: number): AtcEntry | undefined {
    const page = Math.floor(addr / 4096) * 4096;
    return this.bySid.get(sid)?.get(ssid)?.get(page, ATC_PAGE_LOG2);
  }

  insert(e: AtcEntry): void {
    let m = this.bySid.get(e.sid);
    if (m === undefined) {
      m = new Map();
      this.bySid.set(e.sid, m);
    }
    let idx = m.get(e.ssid);
    if (idx === undefined) {
      idx = new IntervalIndex<AtcEntry>();
      m.set(e.ssid, idx);
    }
    const old = idx.get(e.page, ATC_PAGE_LOG2);
    if (old !== undefined) this.detach(old);
    else if (this.all.length >= this.capacity && this.all.length > 0) {
      this.evicted++;
      this.detach(this.all[this.rng.below(this.all.length)]!);
      return this.insert(e);
    }
    idx.insert(e.page, ATC_PAGE_LOG2, e);
    if (e.ipa >= 0) {
      let ii = this.byIpa.get(e.sid);
      if (ii === undefined) {
        ii = new IntervalIndex<AtcEntry>();
        this.byIpa.set(e.sid, ii);
      }
      ii.insert(e.ipa, ATC_PAGE_LOG2, e);
    }
    e.slot = this.all.length;
    this.all.push(e);
    this.fills++;
  }

  private detach(e: AtcEntry): void {
    const m = this.bySid.get(e.sid);
    const idx = m?.get(e.ssid);
    if (idx !== undefined) {
      idx.remove(e.page, ATC_PAGE_LOG2, e);
      if (idx.size === 0) {
        m!.delete(e.ssid);
        if (m!.size === 0) this.bySid.delete(e.sid);
      }
    }
    if (e.ipa >= 0) {
      const ii = this.byIpa.get(e.sid);
      if (ii !== undefined) {
        ii.remove(e.ipa, ATC_PAGE_LOG2, e);
        if (ii.size === 0) this.byIpa.delete(e.sid);
      }
    }
    const last = this.all.pop()!;
    if (last !== e) {
      this.all[e.slot] = last;
      last.slot = e.slot;
    }
    e.slot = -1;
  }

  /** ATC_INV: remove the entries of `sid` (one SSID, or all when `ssid` is undefined) overlapping [first, last]. */
  invalidate(sid: number, ssid: number | undefined, first: number, last: number): number {
    const m = this.bySid.get(sid);
    if (m === undefined) return 0;
    const victims: AtcEntry[] = [];
    const visit = (idx: IntervalIndex<AtcEntry>): void => {
      idx.overlapping(first, last, (e) => {
        victims.push(e);
      });
    };
    if (ssid === undefined) for (const idx of m.values()) visit(idx);
    else {
      const idx = m.get(ssid);
      if (idx !== undefined) visit(idx);
    }
    for (const e of victims) this.detach(e);
    this.removed += victims.length;
    return victims.length;
  }

  /** Entries of `sid` (given SSIDs, or all) overlapping [first, last] by input address. */
  overlapping(sid: number, ssid: number | undefined, first: number, last: number, out: AtcEntry[]): AtcEntry[] {
    const m = this.bySid.get(sid);
    if (m === undefined) return out;
    if (ssid === undefined) for (const idx of m.values()) idx.collect(first, last, out);
    else m.get(ssid)?.collect(first, last, out);
    return out;
  }

  /** StreamIDs that have entries (read-only view for snapshots). */
  sids(): IterableIterator<number> {
    return this.bySid.keys();
  }

  /** Entries of `sid` whose IPA overlaps [first, last] (nested streams). */
  overlappingIpa(sid: number, first: number, last: number, out: AtcEntry[]): AtcEntry[] {
    this.byIpa.get(sid)?.collect(first, last, out);
    return out;
  }

  clear(): void {
    this.removed += this.all.length;
    this.bySid.clear();
    this.byIpa.clear();
    for (const e of this.all) e.slot = -1;
    this.all.length = 0;
  }
}
