/**
 * A cache's entries by output address (the TLB's and the ATC's), for checks that ask which entries reach a
 * range of physical memory (the pKVM isolation property) without scanning every entry. A cache builds it
 * on the first such question and keeps it from then on, so a workload that never asks pays nothing. An
 * entry whose output is not aligned to its own span (none is, by the architecture's descriptor formats) is
 * kept aside and compared on every question, so nothing is missed either way.
 */
import { IntervalIndex } from './interval.js';
import { POW2 } from '../units.js';

export class OutputIndex<E> {
  private idx = new IntervalIndex<E>();
  /** Entries whose output start is not a multiple of their span. */
  private readonly odd: E[] = [];

  constructor(
    /** The entry's output start and log2 of its span. */
    private readonly startOf: (e: E) => number,
    private readonly sizeLog2Of: (e: E) => number,
  ) {}

  /** An index over the entries `all` holds now (kept up to date by its cache from then on). */
  static over<E>(all: readonly E[], startOf: (e: E) => number, sizeLog2Of: (e: E) => number): OutputIndex<E> {
    const x = new OutputIndex<E>(startOf, sizeLog2Of);
    for (const e of all) x.add(e);
    return x;
  }

  add(e: E): void {
    const start = this.startOf(e);
    const z = this.sizeLog2Of(e);
    const span = POW2[z]!;
    if (Math.floor(start / span) * span === start) this.idx.insert(start, z, e);
    else this.odd.push(e);
  }

  delete(e: E): void {
    if (this.idx.remove(this.startOf(e), this.sizeLog2Of(e), e)) return;
    const i = this.odd.indexOf(e);
    if (i >= 0) this.odd.splice(i, 1);
  }

  clear(): void {
    this.idx = new IntervalIndex<E>();
    this.odd.length = 0;
  }

  /** Append the entries whose output span overlaps [first, last] to `out`. */
  collect(first: number, last: number, out: E[]): E[] {
    this.idx.collect(first, last, out);
    for (const e of this.odd) {
      const start = this.startOf(e);
      if (start <= last && start + POW2[this.sizeLog2Of(e)]! - 1 >= first) out.push(e);
    }
    return out;
  }
}
