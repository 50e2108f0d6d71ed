/**
 * What the stale checker's whole-cache sweeps (`checkAll`) may skip: an entry judged clean stays clean as
 * long as nothing its judgement read has changed — the 64-bit words of memory its walks read (write stamps
 * of PhysMemory), the stream configuration in memory (the model's streamsVersion) and the entry itself (cache
 * entries are never edited in place). Such an entry is not judged again: the judgement is a function of
 * exactly those inputs, so it would be clean again, and a sweep reports what a sweep over every entry
 * reports. Entries found stale are never remembered (they are judged, and reported, at every sweep).
 *
 * Every `fullEvery`-th sweep still judges every entry (and renews the memo), as a safety net; memory that
 * reads through something other than PhysMemory's own words (a subclass, such as a guest's view) turns the
 * memo off.
 */
import { PhysMemory } from '../pgtable/memory.js';

/** A clean judgement: of which model, under which configuration version, at which stamp, over which words. */
interface Clean {
  readonly model: object;
  readonly version: number;
  readonly stamp: number;
  readonly dwords: readonly number[];
}

export class CleanMemo {
  private readonly clean = new WeakMap<object, Clean>();
  private readonly enabled: boolean;
  private sweeps = 0;
  private full = true;
  private reads: number[] = [];

  constructor(
    private readonly mem: PhysMemory,
    /** One sweep in this many judges every entry. */
    private readonly fullEvery: number,
  ) {
    this.enabled = Object.getPrototypeOf(mem) === PhysMemory.prototype;
  }

  /** A sweep begins (every `fullEvery`-th is a full one). */
  beginSweep(): void {
    this.full = this.sweeps % this.fullEvery === 0;
    this.sweeps++;
  }

  /** A sweep ended: later writes get a newer stamp than every judgement of this sweep. */
  endSweep(): void {
    if (this.enabled) this.mem.nextStamp();
  }

  /** True when `e` was judged clean and nothing that judgement read has changed since (it may be skipped). */
  stillClean(e: object, model: object, version: number): boolean {
    if (!this.enabled || this.full) return false;
    const c = this.clean.get(e);
    return c !== undefined && c.model === model && c.version === version && !this.mem.changedSince(c.dwords, c.stamp);
  }

  /** A judgement begins: record what it reads. */
  begin(): void {
    if (!this.enabled) return;
    this.reads = [];
    this.mem.recordReads(this.reads);
  }

  /** The judgement of `e` ended, clean or not. */
  end(e: object, model: object, version: number, clean: boolean): void {
    if (!this.enabled) return;
    this.mem.recordReads(null);
    if (!clean) {
      this.clean.delete(e);
      return;
    }
    const r = this.reads;
    r.sort((a, b) => a - b);
    let n = 0;
    for (let i = 0; i < r.length; i++) if (n === 0 || r[n - 1] !== r[i]) r[n++] = r[i]!;
    r.length = n;
    this.clean.set(e, { model, version, stamp: this.mem.stamp, dwords: r });
  }
}
