/**
 * The ATCs of the ATS endpoints behind one SMMU model: 4 KiB entries by StreamID, then SubstreamID, each
 * SubstreamID's entries in an interval index keyed by input page (nested streams also by IPA, for checking
 * stage-2 changes, and by output page once asked for). Capacity is bounded; inserting into a full ATC evicts
 * a randomly chosen entry.
 */
import { IntervalIndex } from './interval.js';
import { OutputIndex } from './output-index.js';
import type { Rng } from './rng.js';

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

/** The ATCs of the ATS endpoints behind one SMMU, by StreamID then SubstreamID. */
export class AtcCache {
  private readonly bySid = new Map<number, Map<number, IntervalIndex<AtcEntry>>>();
  /** Per StreamID, entries of nested streams keyed by IPA. */
  private readonly byIpa = new Map<number, IntervalIndex<AtcEntry>>();
  readonly all: AtcEntry[] = [];
  fills = 0;
  removed = 0;
  evicted = 0;
  private readonly victims: AtcEntry[] = [];
  /** Emptied per-SubstreamID indexes, reused. */
  private readonly idxPool: IntervalIndex<AtcEntry>[] = [];
  /** The entries by output page, once asked for (`overlappingOutput`). */
  private outputs: OutputIndex<AtcEntry> | null = null;

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
      idx = this.idxPool.pop() ?? new IntervalIndex<AtcEntry>();
      m.set(e.ssid, idx);
    }
    const old = idx.get(e.page, ATC_PAGE_LOG2);
    if (old !== undefined) {
      this.detach(old);
      // The entry goes into the same index object even when the old entry emptied it.
      const pool = this.idxPool;
      if (pool[pool.length - 1] === idx) pool.pop();
    } else if (this.all.length >= this.capacity && this.all.length > 0) {
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
    if (this.outputs !== null) this.outputs.add(e);
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
        this.idxPool.push(idx);
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
    if (this.outputs !== null) this.outputs.delete(e);
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
    const victims = this.victims;
    victims.length = 0;
    if (ssid === undefined) for (const idx of m.values()) idx.collect(first, last, victims);
    else m.get(ssid)?.collect(first, last, victims);
    const n = victims.length;
    for (let i = 0; i < n; i++) this.detach(victims[i]!);
    victims.length = 0;
    this.removed += n;
    return n;
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

  /** Append the entries (any StreamID) whose output page overlaps [first, last] to `out`, in no particular order. */
  overlappingOutput(first: number, last: number, out: AtcEntry[]): AtcEntry[] {
    this.outputs ??= OutputIndex.over(
      this.all,
      (e) => e.outPage,
      () => ATC_PAGE_LOG2,
    );
    return this.outputs.collect(first, last, out);
  }

  clear(): void {
    this.outputs?.clear();
    this.removed += this.all.length;
    this.bySid.clear();
    this.byIpa.clear();
    for (const e of this.all) e.slot = -1;
    this.all.length = 0;
  }
}
