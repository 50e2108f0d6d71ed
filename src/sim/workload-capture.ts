/**
 * Capture of one change of the randomized workload (off unless `SimConfig.capture` asks for it; the run is the
 * same either way): the commands each SMMU received for it and its caches before and after them, kept by
 * reference while the run goes on and turned into report rows only for the change finally kept.
 */
import { hex64 } from '../bits.js';
import type { StaleReport } from '../smmu/checker.js';
import type { SmmuModel } from '../smmu/model.js';
import { collectEntries, listEntries, staleReportKey, type CacheEntries } from '../smmu/snapshot.js';
import type { EntryList } from './faults.js';
import { describeEntry } from './workload-report.js';
import type { CaptureOptions, ChangeCapture } from './workload-types.js';

/** Capture defaults: rows per cache per snapshot, margin in granules, changes with stale translations listed. */
const CAPTURE_LIMIT = 400;
const CAPTURE_MARGIN_GRANULES = 16;
const CAPTURE_STALE_LIST = 1000;

/** A capture while the run goes on: entries by reference, commands as words. */
export interface PendingCapture {
  readonly change: number;
  readonly op: number;
  readonly domain: number;
  readonly stage: 1 | 2;
  readonly range: { readonly first: number; readonly last: number };
  readonly window: { readonly first: number; readonly last: number; readonly viaIpa: boolean };
  readonly smmus: {
    readonly smmu: number;
    readonly list: EntryList;
    readonly before: CacheEntries;
    readonly after: CacheEntries;
    readonly stale: readonly StaleReport[];
  }[];
}

/** The change being captured: which one the options select, and what it has recorded so far. */
export class ChangeCapturer {
  private captured: PendingCapture | null = null;
  /** 'auto' keeps the latest change until one leaves a stale translation, then keeps that one. */
  private locked = false;
  private readonly staleChanges: number[] = [];

  constructor(
    private readonly opts: CaptureOptions,
    private readonly granule: number,
  ) {}

  /** A capture record for change `change` if the options select it (or may select it: 'auto'), else null. */
  start(
    change: number,
    op: number,
    dom: { readonly index: number; readonly stage: 1 | 2 },
    first: number,
    last: number,
  ): PendingCapture | null {
    const want = this.opts.change;
    if (want === 'auto' ? this.locked : want !== change) return null;
    const margin = this.opts.margin ?? CAPTURE_MARGIN_GRANULES * this.granule;
    return {
      change,
      op,
      domain: dom.index,
      stage: dom.stage,
      range: { first, last },
      window: { first: Math.max(0, first - margin), last: last + margin, viaIpa: dom.stage === 2 },
      smmus: [],
    };
  }

  /** Record one SMMU's side (entries by reference: rows are made only for the change finally kept). */
  addSmmu(cap: PendingCapture, model: SmmuModel, list: EntryList, before: CacheEntries, stale: StaleReport[]): void {
    cap.smmus.push({
      smmu: model.id,
      list: list.map((h) => h.slice()),
      before,
      after: collectEntries(model, cap.window),
      stale,
    });
    this.captured = cap;
    if (stale.length > 0) this.locked = true;
  }

  /** Change `change` left a stale translation (the first CAPTURE_STALE_LIST such changes are listed). */
  noteStale(change: number): void {
    const l = this.staleChanges;
    if (l.length < CAPTURE_STALE_LIST && l[l.length - 1] !== change) l.push(change);
  }

  /** The captured change as the report gives it: rows sorted and capped, commands decoded. */
  finish(changes: number): ChangeCapture | null {
    const cap = this.captured;
    if (cap === null) return null;
    const limit = this.opts.limit ?? CAPTURE_LIMIT;
    const { window, smmus, ...rest } = cap;
    return {
      ...rest,
      changes,
      staleChanges: this.staleChanges.slice(),
      window: { first: window.first, last: window.last },
      viaIpa: window.viaIpa,
      smmus: smmus.map((m) => ({
        smmu: m.smmu,
        commands: m.list.map((h) => ({
          text: describeEntry(h),
          words: [hex64(h[0]!, h[1]!), hex64(h[2]!, h[3]!)] as const,
        })),
        before: listEntries(m.before, { limit }),
        after: listEntries(m.after, { limit, pinned: new Set(m.stale.map(staleReportKey)) }),
        stale: m.stale,
      })),
    };
  }
}
