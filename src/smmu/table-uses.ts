/**
 * Where the stage-1 tables of nested streams sit in IPA space, as the model's walks found them: per stage-1
 * tag (regime, VMID, ASID), each table's IPA page and the input span it served. A stage-2 change over an IPA
 * range that holds a stage-1 table can make stale everything cached through that table — the walk-cache
 * entry that points at it (a combined stage-1 + stage-2 entry holds the table's PA, IHI 0070 4.4.3.1) and
 * every leaf, deeper table and ATC entry walked through it — so the checker asks this record which input
 * spans to examine.
 *
 * This is bookkeeping for the checker, not architectural state: nothing here changes what the SMMU caches or
 * translates. Uses are only added (a table freed and reused keeps its old record too): an old record makes the
 * checker examine more, never less.
 */
import { IntervalIndex } from './interval.js';

/** One stage-1 table seen by a nested walk: its IPA page and the input span it served. */
export class TableUse {
  constructor(
    readonly tableIpa: number,
    readonly spanStart: number,
    readonly spanLog2: number,
  ) {}
}

class TagUses {
  /** By table IPA page (span = one granule). */
  readonly byIpa = new IntervalIndex<TableUse>();
  /** Exact duplicates are not recorded twice: per table IPA, the spans seen. */
  readonly seen = new Map<number, TableUse[]>();
}

function tagKey(regime: number, vmid: number, asid: number): number {
  return (regime * 65536 + vmid) * 65537 + (asid + 1);
}

export class NestedTableUses {
  private readonly byTag = new Map<number, TagUses>();

  /** Record that the table at IPA `tableIpa` (granule 2^granuleLog2) served [spanStart, +2^spanLog2). */
  note(
    regime: number,
    vmid: number,
    asid: number,
    tableIpa: number,
    granuleLog2: number,
    spanStart: number,
    spanLog2: number,
  ): void {
    const k = tagKey(regime, vmid, asid);
    let t = this.byTag.get(k);
    if (t === undefined) {
      t = new TagUses();
      this.byTag.set(k, t);
    }
    const page = Math.floor(tableIpa / 2 ** granuleLog2) * 2 ** granuleLog2;
    let list = t.seen.get(page);
    if (list === undefined) {
      list = [];
      t.seen.set(page, list);
    } else {
      for (let i = 0; i < list.length; i++) {
        const u = list[i]!;
        if (u.spanStart === spanStart && u.spanLog2 === spanLog2) return;
      }
    }
    const u = new TableUse(page, spanStart, spanLog2);
    list.push(u);
    t.byIpa.insert(page, granuleLog2, u);
  }

  /** The uses of tag (regime, vmid, asid) whose table lies in the IPA range [first, last]. */
  overlapping(regime: number, vmid: number, asid: number, first: number, last: number, out: TableUse[]): TableUse[] {
    this.byTag.get(tagKey(regime, vmid, asid))?.byIpa.collect(first, last, out);
    return out;
  }

  clear(): void {
    this.byTag.clear();
  }
}
