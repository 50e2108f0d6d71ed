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
import { decodeSlot, type CommandChecker } from '../cmdq/index.js';
import { flowKey, iommuEventOf, numField, type TraceEvent } from './ftrace.js';
import type { CmdList, Request, RequestTarget, TiedCapture } from './requests.js';
import { granuleLog2OfTg, log2Of } from '../units.js';

export type Evidence =
  'return-probe' | 'next-event-same-cpu' | 'end-of-trace' | 'iova-free-probe' | 'next-overlapping-map';

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
  readonly evidenceAvailable: {
    readonly returnProbe: boolean;
    readonly entryProbe: boolean;
    readonly freeIovaProbe: boolean;
    readonly mapEvents: boolean;
    readonly cmdlistReturn: boolean;
  };
}

/** What one ring entry removes, in the terms of one target. */
interface Cover {
  readonly start: number;
  /** Exclusive end; Infinity for a whole-tag command. */
  readonly end: number;
  readonly leafOnly: boolean;
  readonly slot: number;
  readonly list: CmdList;
  readonly request: number;
  readonly target: RequestTarget;
}

const OP_SYNC = 0x46;

/** Block size of level `level` for a page size 2^pgShift (each level resolves pgShift − 3 bits). */
function levelBytes(pgShift: number, level: number): number {
  return 2 ** (pgShift + (3 - level) * (pgShift - 3));
}

/** The level whose entries are `granule` bytes (3 for a page), or −1. */
function levelOfGranule(granule: number, pgsize: number): number {
  const s = log2Of(pgsize);
  for (let l = 0; l <= 3; l++) if (levelBytes(s, l) === granule) return l;
  return -1;
}

function tagMatches(c: Record<string, number>, name: string, t: RequestTarget): boolean | 'all' {
  const s1 = t.type === 'S1_ASID';
  const s2 = t.type === 'S2_VMID';
  switch (name) {
    case 'TLBI_NSNH_ALL':
      return 'all';
    case 'TLBI_NH_ASID':
      return s1 && c.asid === t.id && c.vmid === 0 ? 'all' : false;
    case 'TLBI_EL2_ASID':
      return s1 && c.asid === t.id ? 'all' : false;
    case 'TLBI_NH_ALL':
      return s1 && c.vmid === 0 ? 'all' : false;
    case 'TLBI_S12_VMALL':
      return s2 && c.vmid === t.id ? 'all' : false;
    case 'TLBI_NH_VA':
      return s1 && c.asid === t.id && c.vmid === 0;
    case 'TLBI_EL2_VA':
      return s1 && c.asid === t.id;
    case 'TLBI_S2_IPA':
      return s2 && c.vmid === t.id;
    default:
      return false;
  }
}

/** What the entry at `slot` covers for target t, or null. */
function coverOf(
  ring: Uint32Array,
  slot: number,
  checker: CommandChecker,
  t: RequestTarget,
  req: Request,
  list: CmdList,
): Cover | null {
  const d = decodeSlot(ring, slot, checker);
  if (!d.ok) return null;
  const c = d.command as unknown as Record<string, number> & { name: string };
  const m = tagMatches(c, c.name, t);
  if (m === false) return null;
  if (m === 'all') return { start: 0, end: Infinity, leafOnly: false, slot, list, request: req.id, target: t };
  const leafOnly = c.leaf === 1;
  if (c.ttl !== 0) {
    const want = levelOfGranule(req.granule, t.pgsize);
    if (want >= 0 && c.ttl !== want) return null;
  }
  const addr = c.addr!;
  let bytes: number;
  if (c.tg === 0) bytes = req.granule > 0 ? req.granule : t.pgsize;
  else bytes = (c.num! + 1) * 2 ** c.scale! * 2 ** granuleLog2OfTg(c.tg!);
  return { start: addr, end: addr + bytes, leafOnly, slot, list, request: req.id, target: t };
}

/** The requests (sorted by event) with lo < event < hi. */
function between(rs: readonly Request[], lo: number, hi: number): Request[] {
  let a = 0;
  let b = rs.length;
  while (a < b) {
    const m = (a + b) >>> 1;
    if (rs[m]!.event <= lo) a = m + 1;
    else b = m;
  }
  const out: Request[] = [];
  for (let k = a; k < rs.length && rs[k]!.event < hi; k++) out.push(rs[k]!);
  return out;
}

/** [start, end) minus the union of the intervals: what is left, as intervals. */
function subtract(start: number, end: number, cuts: readonly { start: number; end: number }[]): [number, number][] {
  const sorted = [...cuts].filter((c) => c.end > start && c.start < end).sort((a, b) => a.start - b.start);
  const out: [number, number][] = [];
  let pos = start;
  for (const c of sorted) {
    if (c.start > pos) out.push([pos, Math.min(c.start, end)]);
    if (c.end > pos) pos = c.end;
    if (pos >= end) break;
  }
  if (pos < end) out.push([pos, end]);
  return out;
}

function hex(n: number): string {
  return '0x' + n.toString(16);
}

function fmtLeft(left: readonly [number, number][]): string {
  const parts = left.slice(0, 3).map(([a, b]) => `[${hex(a)}, ${hex(b)})`);
  return parts.join(', ') + (left.length > 3 ? ` and ${left.length - 3} more` : '');
}

export interface CoverageOptions {
  readonly mode: 'strict' | 'lazy';
  readonly ring: Uint32Array;
  readonly checker: CommandChecker;
  /** Slots overwritten before the dump (their words cannot be read). */
  readonly overwritten?: ReadonlySet<number>;
}

export function checkCoverage(events: readonly TraceEvent[], tied: TiedCapture, o: CoverageOptions): CoverageResult {
  const { ring, checker } = o;
  const findings: CaptureFinding[] = [];
  const unmaps: UnmapVerdict[] = [];
  const byEvidence: Partial<Record<Evidence, number>> = {};
  const reqs = tied.requests;
  const overwritten = new Set(tied.overwritten);

  // Per request: its covers (per target) and whether each command list is completed by a SYNC of the request.
  const syncOk = (l: CmdList): boolean =>
    l.sync && l.syncSlot >= 0 && (ring[l.syncSlot * 4]! & 0xff) === OP_SYNC && (l.ret === null || l.ret === 0);
  const coversOf = new Map<number, Cover[]>();
  const coverList = (r: Request): Cover[] => {
    let cs = coversOf.get(r.id);
    if (cs) return cs;
    cs = [];
    for (const l of r.cmdlists)
      for (const s of l.slots)
        for (const t of r.targets) {
          const c = coverOf(ring, s, checker, t, r, l);
          if (c) cs.push(c);
        }
    coversOf.set(r.id, cs);
    return cs;
  };
  /** Covers of requests rs completed by a SYNC that the same flow issued no earlier, among lists `after`. */
  const completed = (cs: readonly Cover[], lists: readonly CmdList[]): Cover[] =>
    cs.filter((c) => lists.some((l) => l.flow === c.list.flow && l.event >= c.list.event && syncOk(l)));

  // Domain tags: the targets requests used (one DMA domain in the default workload).
  const targets: RequestTarget[] = [];
  for (const r of reqs)
    for (const t of r.targets)
      if (!targets.some((x) => x.type === t.type && x.id === t.id && x.pgsize === t.pgsize)) targets.push(t);

  // 1. Each request's own commands.
  for (const r of reqs) {
    if (overwritten.has(r.id) || r.targets.length === 0) continue;
    const lists = r.cmdlists;
    const slots = lists.flatMap((l) => [...l.slots, ...(l.syncSlot >= 0 ? [l.syncSlot] : [])]);
    const all = coverList(r);
    for (const t of r.targets) {
      if (t.type !== 'S1_ASID' && t.type !== 'S2_VMID') continue;
      const tagged = all.filter((c) => c.target === t && (r.leaf || !c.leafOnly));
      const end = r.size === 0 ? Infinity : r.iova + r.size;
      const left =
        r.size === 0
          ? tagged.some((c) => c.end === Infinity)
            ? []
            : [[0, Infinity] as [number, number]]
          : subtract(r.iova, end, tagged);
      const what = r.size === 0 ? 'everything' : `[${hex(r.iova)}, ${hex(end)})`;
      if (left.length > 0) {
        findings.push({
          rule: 'request-not-covered',
          line: r.line,
          requests: [r.id],
          slots,
          evidence: null,
          message: `${r.fn}(${r.size === 0 ? 'all' : `${hex(r.iova)}, ${hex(r.size)}`}, granule ${hex(r.granule)}, ${r.leaf ? 'leaf' : 'walk'}) for ${t.type} ${t.id}: its commands at slots ${slots.join(',')} leave ${r.size === 0 ? what : fmtLeft(left)} ${r.leaf ? '' : '(Leaf=0 needed) '}uncovered`,
        });
        continue;
      }
      const done = completed(tagged, lists);
      const left2 = r.size === 0 ? (done.some((c) => c.end === Infinity) ? [] : [[0, 1]]) : subtract(r.iova, end, done);
      if (left2.length > 0)
        findings.push({
          rule: 'request-not-synced',
          line: r.line,
          requests: [r.id],
          slots,
          evidence: null,
          message: `${r.fn}(${r.size === 0 ? 'all' : `${hex(r.iova)}, ${hex(r.size)}`}) for ${t.type} ${t.id}: no CMD_SYNC of ${r.flow} after its commands at slots ${slots.join(',')}${lists.some((l) => l.ret !== null && l.ret !== 0) ? ' (the command-list call returned an error)' : ''}`,
        });
    }
  }
  for (const m of tied.mismatched) {
    const q = m.slot * 4;
    const f = m.cmdlist.first!;
    const w = (lo: number, hi: number): string => hex(hi * 4294967296 + lo);
    findings.push({
      rule: 'ring-mismatch',
      line: events[m.cmdlist.event]!.line,
      requests: m.request === null ? [] : [m.request],
      slots: [m.slot],
      evidence: null,
      message: `slot ${m.slot} holds ${w(ring[q]!, ring[q + 1]!)} ${w(ring[q + 2]!, ring[q + 3]!)}, but the driver wrote ${w(f[0], f[1])} ${w(f[2], f[3])} there`,
    });
  }

  // 2. The unmaps.
  const available = {
    returnProbe: events.some((e) => /^unmap_ret\d*$/.test(e.name)),
    entryProbe: events.some((e) => /^unmap_call\d*$/.test(e.name)),
    freeIovaProbe: events.some((e) => e.name === 'free_iova'),
    mapEvents: events.some((e) => e.name === 'map'),
    cmdlistReturn: events.some((e) => e.name === 'cmdlist_ret'),
  };
  // Per flow: the requests, in order.
  const flowReqs = new Map<string, Request[]>();
  for (const r of reqs) {
    const a = flowReqs.get(r.flow) ?? [];
    a.push(r);
    flowReqs.set(r.flow, a);
  }
  interface UnmapAt {
    k: number;
    e: TraceEvent;
    flow: string;
    startK: number;
    endK: number;
    evidence: Evidence;
  }
  const pending: UnmapAt[] = [];
  const stacks = new Map<string, { k: number; unmaps: UnmapAt[] }[]>();
  const lastBoundary = new Map<string, number>();
  const waitingNext = new Map<string, UnmapAt[]>();
  const maps: { k: number; iova: number; end: number }[] = [];
  const frees: { k: number; iova: number; end: number }[] = [];
  const pageSize = targets[0]?.pgsize ?? 4096;
  for (let k = 0; k < events.length; k++) {
    const e = events[k]!;
    const flow = flowKey(e);
    const n = e.name;
    const isCall = /^unmap_call\d*$/.test(n);
    const isRet = /^unmap_ret\d*$/.test(n);
    if (n === 'map' || n === 'unmap' || isCall || isRet) {
      if (n === 'map' || n === 'unmap' || (isCall && !available.returnProbe)) {
        for (const u of waitingNext.get(flow) ?? []) {
          u.endK = k;
          u.evidence = 'next-event-same-cpu';
        }
        waitingNext.set(flow, []);
      }
    }
    if (isCall) {
      const st = stacks.get(flow) ?? [];
      st.push({ k, unmaps: [] });
      stacks.set(flow, st);
      lastBoundary.set(flow, k);
    } else if (isRet) {
      const st = stacks.get(flow);
      const top = st?.pop();
      if (top)
        for (const u of top.unmaps) {
          u.endK = k;
          u.evidence = 'return-probe';
        }
      lastBoundary.set(flow, k);
    } else if (n === 'unmap') {
      const st = stacks.get(flow);
      const top = st && st.length > 0 ? st[st.length - 1]! : null;
      const u: UnmapAt = {
        k,
        e,
        flow,
        startK: top ? top.k : (lastBoundary.get(flow) ?? -1),
        endK: events.length,
        evidence: 'end-of-trace',
      };
      pending.push(u);
      if (top) top.unmaps.push(u);
      else {
        const w = waitingNext.get(flow) ?? [];
        w.push(u);
        waitingNext.set(flow, w);
      }
      lastBoundary.set(flow, k);
    } else if (n === 'map') {
      const m = iommuEventOf(e);
      maps.push({ k, iova: m.iova, end: m.end });
      lastBoundary.set(flow, k);
    } else if (n === 'free_iova') {
      const pfn = numField(e, 'pfn');
      frees.push({ k, iova: pfn * pageSize, end: (pfn + numField(e, 'pages')) * pageSize });
    }
  }

  // A task that made no later iommu event: bound its last unmaps by the next map/unmap of the same CPU.
  for (const [flow, w] of waitingNext) {
    if (!flow.startsWith('pid ')) continue;
    for (const u of w) {
      for (let k = u.k + 1; k < events.length; k++) {
        const e = events[k]!;
        if ((e.name === 'map' || e.name === 'unmap') && e.cpu === u.e.cpu) {
          u.endK = k;
          u.evidence = 'next-event-same-cpu';
          break;
        }
      }
    }
  }

  const lazy = o.mode === 'lazy';
  for (const u of pending) {
    const ev = iommuEventOf(u.e);
    const start = ev.iova;
    const end = ev.iova + ev.done;
    if (ev.done === 0) continue;
    let endK = u.endK;
    let evidence = u.evidence;
    let window: Request[];
    if (lazy) {
      const f = frees.find((x) => x.k > u.k && x.iova < end && x.end > start);
      const m = f ? undefined : maps.find((x) => x.k > u.k && x.iova < end && x.end > start);
      endK = f ? f.k : m ? m.k : events.length;
      evidence = f ? 'iova-free-probe' : m ? 'next-overlapping-map' : 'end-of-trace';
      // Requests of the unmapping flow inside the call (table frees), and any flow's after it.
      window = between(reqs, u.startK, endK).filter((r) => r.event > u.k || r.flow === u.flow);
    } else {
      window = between(flowReqs.get(u.flow) ?? [], u.startK, endK);
    }
    const wr = window.filter((r) => !overwritten.has(r.id));
    const covers = wr.flatMap(coverList);
    const lists = wr.flatMap((r) => r.cmdlists);
    const done = completed(covers, lists);
    const left = subtract(start, end, done);
    const what = `unmap [${hex(start)}, ${hex(end)}) at trace line ${u.e.line} (${u.flow})`;
    byEvidence[evidence] = (byEvidence[evidence] ?? 0) + 1;
    if (left.length === 0) {
      const used = [...new Set(done.filter((c) => c.end > start && c.start < end).map((c) => c.request))];
      unmaps.push({
        line: u.e.line,
        flow: u.flow,
        iova: start,
        size: ev.done,
        ok: true,
        evidence,
        requests: used,
        rule: null,
        verifiable: true,
      });
      continue;
    }
    if (window.some((r) => overwritten.has(r.id))) {
      unmaps.push({
        line: u.e.line,
        flow: u.flow,
        iova: start,
        size: ev.done,
        ok: false,
        evidence,
        requests: [],
        rule: null,
        verifiable: false,
      });
      continue;
    }
    const slotsOf = (cs: readonly Cover[]): number[] => [...new Set(cs.map((c) => c.slot))].sort((a, b) => a - b);
    let rule: CaptureRuleId;
    let message: string;
    let rids: number[];
    let slots: number[];
    const left2 = subtract(start, end, covers);
    if (left2.length === 0) {
      rule = 'unmap-not-synced';
      rids = [...new Set(covers.map((c) => c.request))];
      slots = slotsOf(covers);
      message = `${what}: covered by the commands at slots ${slots.join(',')} of request(s) ${rids.join(',')}, but no CMD_SYNC of ${u.flow} completed them before it mattered (${EVIDENCE[evidence]})`;
    } else {
      // Was the rest covered later?
      let later: Request | null = null;
      for (const r of reqs) {
        if (r.event < endK || overwritten.has(r.id)) continue;
        const cs = completed(coverList(r), r.cmdlists);
        if (subtract(left2[0]![0], left2[0]![1], cs).length === 0) {
          later = r;
          break;
        }
      }
      if (later) {
        rule = 'unmap-invalidated-late';
        rids = [later.id];
        slots = slotsOf(coverList(later));
        message = `${what}: ${fmtLeft(left2)} was invalidated only by request ${later.id} (trace line ${later.line}, slots ${slots.join(',')}), after it mattered (${EVIDENCE[evidence]})`;
      } else {
        rule = 'unmap-not-invalidated';
        rids = [...new Set(covers.map((c) => c.request))];
        slots = slotsOf(covers);
        message = `${what}: ${fmtLeft(left2)} is covered by no TLBI of the domain's ASID/VMID${slots.length > 0 ? ` (the commands at slots ${slots.join(',')} cover the rest)` : ''}`;
      }
    }
    findings.push({ rule, line: u.e.line, requests: rids, slots, evidence, message });
    unmaps.push({
      line: u.e.line,
      flow: u.flow,
      iova: start,
      size: ev.done,
      ok: false,
      evidence,
      requests: rids,
      rule,
      verifiable: true,
    });
  }
  return { mode: o.mode, unmaps, findings, byEvidence, evidenceAvailable: available };
}
