/**
 * The verdict on a capture: was every unmapped IOVA range invalidated, for its domain's ASID or VMID, by
 * commands that a CMD_SYNC completed before it mattered — and did every request's own commands cover it?
 *
 * What a command covers is read from the ring words (what the SMMU consumed), interpreted here on their own:
 * - TLBI_NH_VA (ASID, VMID 0) / TLBI_EL2_VA (ASID) / TLBI_S2_IPA (VMID): with TG ≠ 0 the range
 *   [Addr, Addr + (NUM+1)·2^SCALE·granule(TG)) (IHI 0070 §4.4.1.1, range invalidation); with TG = 0 the one
 *   entry holding Addr, taken to be of the request's granule (the size io-pgtable reported). A TTL ≠ 0 limits
 *   the command to entries of that level, so it covers nothing when the request's entries are of another
 *   level. Leaf = 1 removes leaf entries only: a freed table needs Leaf = 0 (walk caches, §4.4.1).
 * - TLBI_NH_ASID / TLBI_EL2_ASID (that ASID), TLBI_NH_ALL / TLBI_S12_VMALL (that VMID), TLBI_NSNH_ALL:
 *   everything of the tag.
 * A command counts as completed when a CMD_SYNC that the same flow issued after it (its own command list or
 * a later one of the same flow, in the window) sits in the ring at the slot the driver wrote it to, and the
 * command-list call returned 0 where that return was probed (§4.7: CMD_SYNC completes all earlier commands).
 *
 * When it mattered (the evidence each verdict names):
 * - strict (iommu.strict=1): before the unmap call returned — the return probe of the enclosing
 *   `__iommu_dma_unmap` / `iommu_unmap` call on the same flow; for captures without return probes, the next
 *   iommu:map/unmap event of the same flow (the `iommu:unmap` tracepoint fires inside `__iommu_unmap`,
 *   before the IOTLB sync, so it cannot mark the return itself); failing both, the end of the trace.
 * - lazy (iommu.strict=0): before the IOVA was released — the `free_iova_fast` probe for an overlapping
 *   range; failing that, the next `iommu:map` overlapping the range; failing both, the end of the trace.
 */
import type { CommandChecker } from '../cmdq/index.js';
import { iommuEventOf, type TraceEvent } from './ftrace.js';
import type { Request, RequestTarget, TiedCapture } from './requests.js';
import { CoverIndex, between, fmtLeft, hex, subtract, type Cover } from './covers.js';
import {
  evidenceAvailable,
  unmapBounds,
  type Evidence,
  type EvidenceAvailable,
  type RangeEvent,
  type UnmapAt,
} from './unmap-bounds.js';

export type { Evidence } from './unmap-bounds.js';

export const EVIDENCE: Readonly<Record<Evidence, string>> = {
  'return-probe': 'completed before the return probe of the unmap call on the same flow',
  'next-event-same-cpu':
    'completed before the next iommu:map/unmap event of the same CPU (no return probe in this capture)',
  'end-of-trace': 'completed before the end of the trace (no later event bounds this unmap)',
  'iova-free-probe': 'completed before the IOVA was freed (free_iova_fast probe)',
  'next-overlapping-map': 'completed before the next iommu:map overlapping the range (no IOVA-free probe)',
};

export const CAPTURE_RULES = {
  'unmap-not-invalidated':
    'part of an unmapped IOVA range was never invalidated for its domain (no TLBI of its ASID/VMID covers it)',
  'unmap-invalidated-late':
    'part of an unmapped IOVA range was invalidated only after it mattered (after the unmap returned, or after the IOVA was reused)',
  'unmap-not-synced':
    'an unmapped IOVA range was invalidated, but no CMD_SYNC issued by the unmapping flow completed the commands before it mattered',
  'request-not-covered':
    "a request's own commands do not cover what it asked for (range, leaf/walk, ASID/VMID, or level by TTL)",
  'request-not-synced': "a request's commands were not completed by a CMD_SYNC of the same flow",
  'ring-mismatch': 'a ring slot does not hold the entry the driver handed to the queue for it (the words differ)',
} as const;
export type CaptureRuleId = keyof typeof CAPTURE_RULES;

export interface CaptureFinding {
  readonly rule: CaptureRuleId;
  readonly message: string;
  /** Trace line of the unmap (coverage rules) or of the request. */
  readonly line: number;
  readonly requests: readonly number[];
  readonly slots: readonly number[];
  readonly evidence: Evidence | null;
}

export interface UnmapVerdict {
  readonly line: number;
  readonly flow: string;
  readonly iova: number;
  readonly size: number;
  readonly ok: boolean;
  readonly evidence: Evidence;
  /** Requests whose commands covered it. */
  readonly requests: readonly number[];
  readonly rule: CaptureRuleId | null;
  /** False when the ring slots of its window were overwritten before the dump (no verdict possible). */
  readonly verifiable: boolean;
}

export interface CoverageResult {
  readonly mode: 'strict' | 'lazy';
  readonly unmaps: UnmapVerdict[];
  readonly findings: CaptureFinding[];
  readonly byEvidence: Partial<Record<Evidence, number>>;
  readonly evidenceAvailable: EvidenceAvailable;
}

export interface CoverageOptions {
  readonly mode: 'strict' | 'lazy';
  readonly ring: Uint32Array;
  readonly checker: CommandChecker;
  /** Slots overwritten before the dump (their words cannot be read). */
  readonly overwritten?: ReadonlySet<number>;
}

function finding(
  rule: CaptureRuleId,
  line: number,
  requests: readonly number[],
  slots: readonly number[],
  evidence: Evidence | null,
  message: string,
): CaptureFinding {
  return { rule, line, requests, slots, evidence, message };
}

/** Phase 1, per request and target: do the request's own commands cover it, and did a CMD_SYNC complete them? */
function targetFinding(r: Request, t: RequestTarget, all: readonly Cover[], idx: CoverIndex): CaptureFinding | null {
  const lists = r.cmdlists;
  const slots = lists.flatMap((l) => [...l.slots, ...(l.syncSlot >= 0 ? [l.syncSlot] : [])]);
  const tagged = all.filter((c) => c.target === t && (r.leaf || !c.leafOnly));
  const end = r.size === 0 ? Infinity : r.iova + r.size;
  const left =
    r.size === 0
      ? tagged.some((c) => c.end === Infinity)
        ? []
        : [[0, Infinity] as [number, number]]
      : subtract(r.iova, end, tagged);
  const what = r.size === 0 ? 'everything' : `[${hex(r.iova)}, ${hex(end)})`;
  const args = r.size === 0 ? 'all' : `${hex(r.iova)}, ${hex(r.size)}`;
  if (left.length > 0)
    return finding(
      'request-not-covered',
      r.line,
      [r.id],
      slots,
      null,
      `${r.fn}(${args}, granule ${hex(r.granule)}, ${r.leaf ? 'leaf' : 'walk'}) for ${t.type} ${t.id}: its commands at slots ${slots.join(',')} leave ${r.size === 0 ? what : fmtLeft(left)} ${r.leaf ? '' : '(Leaf=0 needed) '}uncovered`,
    );
  const done = idx.completed(tagged, lists);
  const left2 = r.size === 0 ? (done.some((c) => c.end === Infinity) ? [] : [[0, 1]]) : subtract(r.iova, end, done);
  if (left2.length === 0) return null;
  const failed = lists.some((l) => l.ret !== null && l.ret !== 0);
  return finding(
    'request-not-synced',
    r.line,
    [r.id],
    slots,
    null,
    `${r.fn}(${args}) for ${t.type} ${t.id}: no CMD_SYNC of ${r.flow} after its commands at slots ${slots.join(',')}${failed ? ' (the command-list call returned an error)' : ''}`,
  );
}

function requestFindings(
  reqs: readonly Request[],
  overwritten: ReadonlySet<number>,
  idx: CoverIndex,
): CaptureFinding[] {
  const out: CaptureFinding[] = [];
  for (const r of reqs) {
    if (overwritten.has(r.id) || r.targets.length === 0) continue;
    const all = idx.covers(r);
    for (const t of r.targets) {
      if (t.type !== 'S1_ASID' && t.type !== 'S2_VMID') continue;
      const f = targetFinding(r, t, all, idx);
      if (f) out.push(f);
    }
  }
  return out;
}

/** Ring slots that do not hold what the driver wrote there. */
function mismatchFindings(events: readonly TraceEvent[], tied: TiedCapture, ring: Uint32Array): CaptureFinding[] {
  const w = (lo: number, hi: number): string => hex(hi * 4294967296 + lo);
  return tied.mismatched.map((m) => {
    const q = m.slot * 4;
    const f = m.cmdlist.first!;
    return finding(
      'ring-mismatch',
      events[m.cmdlist.event]!.line,
      m.request === null ? [] : [m.request],
      [m.slot],
      null,
      `slot ${m.slot} holds ${w(ring[q]!, ring[q + 1]!)} ${w(ring[q + 2]!, ring[q + 3]!)}, but the driver wrote ${w(f[0], f[1])} ${w(f[2], f[3])} there`,
    );
  });
}

/** What phase 2 judges every unmap against. */
interface UnmapContext {
  readonly events: readonly TraceEvent[];
  readonly reqs: readonly Request[];
  /** Per flow: its requests, in order. */
  readonly flowReqs: ReadonlyMap<string, Request[]>;
  readonly overwritten: ReadonlySet<number>;
  readonly idx: CoverIndex;
  readonly maps: readonly RangeEvent[];
  readonly frees: readonly RangeEvent[];
  readonly lazy: boolean;
}

interface UnmapJudgement {
  readonly verdict: UnmapVerdict;
  readonly finding: CaptureFinding | null;
}

/** Where the unmap [start, end) stopped mattering, and the requests whose commands count for it. */
function unmapWindow(
  u: UnmapAt,
  start: number,
  end: number,
  x: UnmapContext,
): { endK: number; evidence: Evidence; window: Request[] } {
  if (!x.lazy)
    return { endK: u.endK, evidence: u.evidence, window: between(x.flowReqs.get(u.flow) ?? [], u.startK, u.endK) };
  const f = x.frees.find((y) => y.k > u.k && y.iova < end && y.end > start);
  const m = f ? undefined : x.maps.find((y) => y.k > u.k && y.iova < end && y.end > start);
  const endK = f ? f.k : m ? m.k : x.events.length;
  const evidence: Evidence = f ? 'iova-free-probe' : m ? 'next-overlapping-map' : 'end-of-trace';
  // Requests of the unmapping flow inside the call (table frees), and any flow's after it.
  const window = between(x.reqs, u.startK, endK).filter((r) => r.event > u.k || r.flow === u.flow);
  return { endK, evidence, window };
}

const slotsOf = (cs: readonly Cover[]): number[] => [...new Set(cs.map((c) => c.slot))].sort((a, b) => a - b);

/** Why the unmap [start, end) was not covered and completed in time: the rule, the requests, the slots. */
function explainMiss(
  u: UnmapAt,
  range: { start: number; end: number },
  covers: readonly Cover[],
  bound: { endK: number; evidence: Evidence },
  x: UnmapContext,
): CaptureFinding {
  const { start, end } = range;
  const what = `unmap [${hex(start)}, ${hex(end)}) at trace line ${u.e.line} (${u.flow})`;
  const f = (rule: CaptureRuleId, rids: number[], slots: number[], message: string): CaptureFinding =>
    finding(rule, u.e.line, rids, slots, bound.evidence, message);
  const left2 = subtract(start, end, covers);
  const rids = [...new Set(covers.map((c) => c.request))];
  const slots = slotsOf(covers);
  if (left2.length === 0)
    return f(
      'unmap-not-synced',
      rids,
      slots,
      `${what}: covered by the commands at slots ${slots.join(',')} of request(s) ${rids.join(',')}, but no CMD_SYNC of ${u.flow} completed them before it mattered (${EVIDENCE[bound.evidence]})`,
    );
  // Was the rest covered later?
  const later = x.reqs.find(
    (r) =>
      r.event >= bound.endK &&
      !x.overwritten.has(r.id) &&
      subtract(left2[0]![0], left2[0]![1], x.idx.completed(x.idx.covers(r), r.cmdlists)).length === 0,
  );
  if (later) {
    const ls = slotsOf(x.idx.covers(later));
    return f(
      'unmap-invalidated-late',
      [later.id],
      ls,
      `${what}: ${fmtLeft(left2)} was invalidated only by request ${later.id} (trace line ${later.line}, slots ${ls.join(',')}), after it mattered (${EVIDENCE[bound.evidence]})`,
    );
  }
  return f(
    'unmap-not-invalidated',
    rids,
    slots,
    `${what}: ${fmtLeft(left2)} is covered by no TLBI of the domain's ASID/VMID${slots.length > 0 ? ` (the commands at slots ${slots.join(',')} cover the rest)` : ''}`,
  );
}

/** Phase 2, per unmap: were its pages invalidated and completed before it mattered? Null for an empty unmap. */
function judgeUnmap(u: UnmapAt, x: UnmapContext, byEvidence: Partial<Record<Evidence, number>>): UnmapJudgement | null {
  const ev = iommuEventOf(u.e);
  const start = ev.iova;
  const end = ev.iova + ev.done;
  if (ev.done === 0) return null;
  const bound = unmapWindow(u, start, end, x);
  const { evidence, window } = bound;
  const wr = window.filter((r) => !x.overwritten.has(r.id));
  const covers = wr.flatMap((r) => x.idx.covers(r));
  const done = x.idx.completed(
    covers,
    wr.flatMap((r) => r.cmdlists),
  );
  byEvidence[evidence] = (byEvidence[evidence] ?? 0) + 1;
  const verdict = (ok: boolean, requests: number[], rule: CaptureRuleId | null, verifiable: boolean): UnmapVerdict => ({
    line: u.e.line,
    flow: u.flow,
    iova: start,
    size: ev.done,
    ok,
    evidence,
    requests,
    rule,
    verifiable,
  });
  if (subtract(start, end, done).length === 0) {
    const used = [...new Set(done.filter((c) => c.end > start && c.start < end).map((c) => c.request))];
    return { verdict: verdict(true, used, null, true), finding: null };
  }
  if (window.some((r) => x.overwritten.has(r.id))) return { verdict: verdict(false, [], null, false), finding: null };
  const f = explainMiss(u, { start, end }, covers, bound, x);
  return { verdict: verdict(false, [...f.requests], f.rule, true), finding: f };
}

export function checkCoverage(events: readonly TraceEvent[], tied: TiedCapture, o: CoverageOptions): CoverageResult {
  const reqs = tied.requests;
  const overwritten = new Set(tied.overwritten);
  const idx = new CoverIndex(o.ring, o.checker);
  // Domain tags: the targets requests used (one DMA domain in the default workload).
  const targets: RequestTarget[] = [];
  for (const r of reqs)
    for (const t of r.targets)
      if (!targets.some((x) => x.type === t.type && x.id === t.id && x.pgsize === t.pgsize)) targets.push(t);

  // 1. Each request's own commands, and the ring against what the driver wrote.
  const findings = [...requestFindings(reqs, overwritten, idx), ...mismatchFindings(events, tied, o.ring)];

  // 2. The unmaps.
  const available = evidenceAvailable(events);
  const flowReqs = new Map<string, Request[]>();
  for (const r of reqs) {
    const a = flowReqs.get(r.flow) ?? [];
    a.push(r);
    flowReqs.set(r.flow, a);
  }
  const bounds = unmapBounds(events, available, targets[0]?.pgsize ?? 4096);
  const { maps, frees } = bounds;
  const x: UnmapContext = { events, reqs, flowReqs, overwritten, idx, maps, frees, lazy: o.mode === 'lazy' };
  const unmaps: UnmapVerdict[] = [];
  const byEvidence: Partial<Record<Evidence, number>> = {};
  for (const u of bounds.unmaps) {
    const j = judgeUnmap(u, x, byEvidence);
    if (!j) continue;
    if (j.finding) findings.push(j.finding);
    unmaps.push(j.verdict);
  }
  return { mode: o.mode, unmaps, findings, byEvidence, evidenceAvailable: available };
}
