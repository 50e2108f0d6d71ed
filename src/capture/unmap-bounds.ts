/**
 * When each unmap of a capture mattered, as far as the trace shows it: one pass over the events finds every
 * iommu:unmap, the event that opens its window (the enclosing unmap call, or the flow's previous boundary) and
 * the strict-mode event that closes it (the call's return probe, or the next map/unmap of the same flow or
 * CPU), with the evidence for that bound; it also collects the maps and IOVA frees that bound lazy unmaps.
 * coverage.ts's header says which bound each mode uses.
 */
import { flowKey, iommuEventOf, numField, type TraceEvent } from './ftrace.js';

export type Evidence =
  'return-probe' | 'next-event-same-cpu' | 'end-of-trace' | 'iova-free-probe' | 'next-overlapping-map';

/** Which kinds of evidence the capture's probes can give at all. */
export interface EvidenceAvailable {
  readonly returnProbe: boolean;
  readonly entryProbe: boolean;
  readonly freeIovaProbe: boolean;
  readonly mapEvents: boolean;
  readonly cmdlistReturn: boolean;
}

/** One iommu:unmap event and its strict-mode window of events (startK, endK). */
export interface UnmapAt {
  readonly k: number;
  readonly e: TraceEvent;
  readonly flow: string;
  readonly startK: number;
  endK: number;
  evidence: Evidence;
}

/** An iommu:map or an IOVA free: event index and [iova, end). */
export interface RangeEvent {
  readonly k: number;
  readonly iova: number;
  readonly end: number;
}

export interface UnmapBounds {
  readonly unmaps: UnmapAt[];
  readonly maps: RangeEvent[];
  readonly frees: RangeEvent[];
}

const isCallName = (n: string): boolean => /^unmap_call\d*$/.test(n);
const isRetName = (n: string): boolean => /^unmap_ret\d*$/.test(n);

export function evidenceAvailable(events: readonly TraceEvent[]): EvidenceAvailable {
  return {
    returnProbe: events.some((e) => isRetName(e.name)),
    entryProbe: events.some((e) => isCallName(e.name)),
    freeIovaProbe: events.some((e) => e.name === 'free_iova'),
    mapEvents: events.some((e) => e.name === 'map'),
    cmdlistReturn: events.some((e) => e.name === 'cmdlist_ret'),
  };
}

/** The state of the pass over the events: per flow, the open unmap calls and the unmaps not yet bounded. */
class UnmapScan {
  readonly unmaps: UnmapAt[] = [];
  readonly maps: RangeEvent[] = [];
  readonly frees: RangeEvent[] = [];
  private readonly stacks = new Map<string, { k: number; unmaps: UnmapAt[] }[]>();
  private readonly lastBoundary = new Map<string, number>();
  /** Unmaps outside any probed call, waiting for the flow's next iommu event to bound them. */
  readonly waitingNext = new Map<string, UnmapAt[]>();

  constructor(
    private readonly events: readonly TraceEvent[],
    private readonly available: EvidenceAvailable,
    private readonly pageSize: number,
  ) {}

  event(k: number): void {
    const e = this.events[k]!;
    const flow = flowKey(e);
    const n = e.name;
    const isCall = isCallName(n);
    const isRet = isRetName(n);
    if (n === 'map' || n === 'unmap' || (isCall && !this.available.returnProbe)) this.boundWaiting(flow, k);
    if (isCall) this.call(flow, k);
    else if (isRet) this.ret(flow, k);
    else if (n === 'unmap') this.unmap(flow, k, e);
    else if (n === 'map') {
      const m = iommuEventOf(e);
      this.maps.push({ k, iova: m.iova, end: m.end });
      this.lastBoundary.set(flow, k);
    } else if (n === 'free_iova') {
      const pfn = numField(e, 'pfn');
      this.frees.push({ k, iova: pfn * this.pageSize, end: (pfn + numField(e, 'pages')) * this.pageSize });
    }
  }

  /** The flow's next iommu event bounds the unmaps waiting for it. */
  private boundWaiting(flow: string, k: number): void {
    for (const u of this.waitingNext.get(flow) ?? []) {
      u.endK = k;
      u.evidence = 'next-event-same-cpu';
    }
    this.waitingNext.set(flow, []);
  }

  private call(flow: string, k: number): void {
    const st = this.stacks.get(flow) ?? [];
    st.push({ k, unmaps: [] });
    this.stacks.set(flow, st);
    this.lastBoundary.set(flow, k);
  }

  private ret(flow: string, k: number): void {
    const top = this.stacks.get(flow)?.pop();
    if (top)
      for (const u of top.unmaps) {
        u.endK = k;
        u.evidence = 'return-probe';
      }
    this.lastBoundary.set(flow, k);
  }

  private unmap(flow: string, k: number, e: TraceEvent): void {
    const st = this.stacks.get(flow);
    const top = st && st.length > 0 ? st[st.length - 1]! : null;
    const u: UnmapAt = {
      k,
      e,
      flow,
      startK: top ? top.k : (this.lastBoundary.get(flow) ?? -1),
      endK: this.events.length,
      evidence: 'end-of-trace',
    };
    this.unmaps.push(u);
    if (top) top.unmaps.push(u);
    else {
      const w = this.waitingNext.get(flow) ?? [];
      w.push(u);
      this.waitingNext.set(flow, w);
    }
    this.lastBoundary.set(flow, k);
  }

  /** A task that made no later iommu event: bound its last unmaps by the next map/unmap of the same CPU. */
  boundByCpu(): void {
    for (const [flow, w] of this.waitingNext) {
      if (!flow.startsWith('pid ')) continue;
      for (const u of w) {
        for (let k = u.k + 1; k < this.events.length; k++) {
          const e = this.events[k]!;
          if ((e.name === 'map' || e.name === 'unmap') && e.cpu === u.e.cpu) {
            u.endK = k;
            u.evidence = 'next-event-same-cpu';
            break;
          }
        }
      }
    }
  }
}

/** Every unmap with its strict-mode bound, and the maps and IOVA frees (pfn in pages of `pageSize`). */
export function unmapBounds(
  events: readonly TraceEvent[],
  available: EvidenceAvailable,
  pageSize: number,
): UnmapBounds {
  const scan = new UnmapScan(events, available, pageSize);
  for (let k = 0; k < events.length; k++) scan.event(k);
  scan.boundByCpu();
  return { unmaps: scan.unmaps, maps: scan.maps, frees: scan.frees };
}
