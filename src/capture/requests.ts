/**
 * Tying the guest's trace to the ring: which invalidation requests the driver made, which command lists
 * each issued, and which ring slots those occupied.
 *
 * Events are grouped by flow (a task by pid, an interrupt level by CPU; see `flowKey`): on one flow a
 * request event (`req7` = arm_smmu_domain_inv_range, `req` = __arm_smmu_tlb_inv_range, or a legacy
 * `inv_ctx` whole-ASID flush with no range request under it) opens a request; the `invs`/`inv`/`inv_asid`
 * events describe its targets; each `cmdlist` is one call of the command-list function and the `wr` after
 * it on the same flow the slots it wrote (`prod`, `n`); `cmdlist_ret` its return value. A caller event
 * (`iotlb_sync`, `inv_walk`, `inv_ctx`, `flush_all`) just before a request names why it was made.
 * An iommu map/unmap, an unmap-call entry or return, or an IOVA free ends the flow's request.
 */
import { halvesField, numField, flowKey, type TraceEvent } from './ftrace.js';

/** One call of the command-list function. */
export interface CmdList {
  readonly event: number;
  readonly flow: string;
  readonly n: number;
  readonly sync: boolean;
  /** From the `wr` probe: CMDQ prod value passed (index with wrap bit, possibly the owned flag), or -1. */
  prod: number;
  /** The first entry's words as the driver handed them ([lo, hi] of w0, then of w1), or null. */
  first: [number, number, number, number] | null;
  /** `cmdlist_ret`: 0 when the call's CMD_SYNC completed; null when not probed. */
  ret: number | null;
  /** Ring slots of the commands (index into the ring), then the CMD_SYNC slot (−1 when none). */
  slots: number[];
  syncSlot: number;
  /** Position in the sequence of all entries ever written (unrolled over wraps); −1 when unknown. */
  absolute: number;
}

export type InvTargetType = 'S1_ASID' | 'S2_VMID' | 'S2_VMID_S1_CLEAR' | 'ATS' | 'ATS_FULL';

export interface RequestTarget {
  readonly type: InvTargetType;
  readonly id: number;
  /** Smallest page size of the target's page table, bytes. */
  readonly pgsize: number;
}

export interface Request {
  readonly id: number;
  /** Index in the event list of the event that opened it. */
  readonly event: number;
  readonly line: number;
  readonly flow: string;
  readonly cpu: number;
  readonly ts: number;
  readonly fn: string;
  /** What led to it: iotlb_sync (leaf gather), inv_walk (table free), inv_ctx / flush_all (whole domain). */
  caller: string | null;
  /** Domain pointer as printed (to tell domains apart). */
  readonly dom: string | null;
  readonly iova: number;
  /** 0 = everything. */
  readonly size: number;
  readonly granule: number;
  readonly leaf: boolean;
  targets: RequestTarget[];
  /** The invalidation array said ATS was on. */
  ats: boolean;
  readonly cmdlists: CmdList[];
}

export interface TiedCapture {
  readonly requests: Request[];
  /** Command lists issued outside any request (attach, CFGI, …). */
  readonly otherCmdlists: CmdList[];
  /** Entries written in all (unrolled over wraps), when every command list had its `wr` event. */
  readonly entriesWritten: number;
  /** Requests whose slots were overwritten before the dump (the ring wrapped), by id. */
  readonly overwritten: number[];
  /** Command lists whose first entry in the ring differs from what the driver handed to the queue. */
  readonly mismatched: { cmdlist: CmdList; request: number | null; slot: number }[];
  readonly notes: string[];
}

const TYPE_OF_INV: readonly InvTargetType[] = ['S1_ASID', 'S2_VMID', 'S2_VMID_S1_CLEAR', 'ATS', 'ATS_FULL'];
/** Opcode of a legacy request's command template → target type. */
const TYPE_OF_OP: Readonly<Record<number, InvTargetType>> = { 0x12: 'S1_ASID', 0x20: 'S1_ASID', 0x2a: 'S2_VMID' };

const REQUEST_EVENTS = new Set(['req7', 'req']);
const CALLER_EVENTS = new Set(['iotlb_sync', 'inv_walk', 'inv_ctx', 'flush_all']);

/** Names of the events that end a flow's request. */
export function isBoundaryEvent(name: string): boolean {
  return name === 'map' || name === 'unmap' || name === 'free_iova' || /^unmap_(call|ret)\d*$/.test(name);
}

export interface TieOptions {
  readonly log2size: number;
  /** The ring as 32-bit halves (4 per slot). */
  readonly ring: Uint32Array;
  /** CMDQ_PROD at the dump (index and wrap bit). */
  readonly prod: number;
  /** Page size of the kernel (pgsize of legacy requests). */
  readonly pageSize: number;
}

/** A request opened by event k (its range fields from `f`). */
function newRequest(
  id: number,
  k: number,
  e: TraceEvent,
  flow: string,
  f: Pick<Request, 'fn' | 'caller' | 'dom' | 'iova' | 'size' | 'granule' | 'leaf'>,
): Request {
  return {
    id,
    event: k,
    line: e.line,
    flow,
    cpu: e.cpu,
    ts: e.ts,
    fn: f.fn,
    caller: f.caller,
    dom: f.dom,
    iova: f.iova,
    size: f.size,
    granule: f.granule,
    leaf: f.leaf,
    targets: [],
    ats: false,
    cmdlists: [],
  };
}

/** Phase 1: one pass over the events, per flow, opening requests and giving them targets and command lists. */
class EventScan {
  readonly requests: Request[] = [];
  readonly otherCmdlists: CmdList[] = [];
  /** Every command list, in trace order. */
  readonly allLists: CmdList[] = [];
  readonly notes: string[] = [];
  private readonly open = new Map<string, Request | null>();
  private readonly caller = new Map<string, string | null>();
  private readonly lastList = new Map<string, CmdList>();
  private readonly ctxDom = new Map<string, string | null>();

  constructor(private readonly pageSize: number) {}

  event(k: number, e: TraceEvent): void {
    const flow = flowKey(e);
    const name = e.name;
    if (isBoundaryEvent(name)) {
      this.open.set(flow, null);
      this.caller.set(flow, null);
    } else if (CALLER_EVENTS.has(name)) {
      this.caller.set(flow, name);
      if (name === 'inv_ctx' || name === 'flush_all') {
        this.open.set(flow, null);
        this.ctxDom.set(flow, e.fields.dom ?? null);
      }
    } else if (REQUEST_EVENTS.has(name)) this.request(k, e, flow);
    else if (name === 'cmdlist') this.cmdlist(k, e, flow);
    else if (name === 'wr') this.wr(e, flow);
    else this.detail(e, flow);
  }

  /** The events that add to the open request or the last command list: invs, inv, inv_asid, cmdlist_ret. */
  private detail(e: TraceEvent, flow: string): void {
    const name = e.name;
    if (name === 'invs') {
      const r = this.open.get(flow);
      if (r) r.ats = e.fields.ats !== undefined && numField(e, 'ats') !== 0;
    } else if (name === 'inv') {
      const r = this.open.get(flow);
      const t = TYPE_OF_INV[numField(e, 'type')];
      if (r && t) r.targets.push({ type: t, id: numField(e, 'id'), pgsize: 2 ** numField(e, 'pg') });
    } else if (name === 'inv_asid') {
      const r = this.open.get(flow);
      if (r && r.targets.length === 0)
        r.targets.push({ type: 'S1_ASID', id: numField(e, 'asid'), pgsize: this.pageSize });
    } else if (name === 'cmdlist_ret') {
      const l = this.lastList.get(flow);
      if (l && l.ret === null) l.ret = numField(e, 'ret');
    }
  }

  private request(k: number, e: TraceEvent, flow: string): void {
    const legacy = e.name === 'req';
    const r = newRequest(this.requests.length, k, e, flow, {
      fn: legacy ? '__arm_smmu_tlb_inv_range' : 'arm_smmu_domain_inv_range',
      caller: this.caller.get(flow) ?? null,
      dom: e.fields.dom ?? null,
      iova: numField(e, 'iova'),
      size: numField(e, 'size'),
      granule: numField(e, 'granule'),
      leaf: numField(e, 'leaf') !== 0,
    });
    if (legacy) {
      const op = numField(e, 'op');
      const type = TYPE_OF_OP[op];
      if (type !== undefined)
        r.targets.push({ type, id: numField(e, type === 'S1_ASID' ? 'asid' : 'vmid'), pgsize: this.pageSize });
    }
    this.requests.push(r);
    this.open.set(flow, r);
    this.caller.set(flow, null);
  }

  private cmdlist(k: number, e: TraceEvent, flow: string): void {
    const list: CmdList = {
      event: k,
      flow,
      n: numField(e, 'n'),
      sync: numField(e, 'sync') !== 0,
      prod: -1,
      first: null,
      ret: null,
      slots: [],
      syncSlot: -1,
      absolute: -1,
    };
    let r = this.open.get(flow) ?? null;
    if (r === null && this.caller.get(flow) === 'inv_ctx') {
      // A legacy whole-domain flush: arm_smmu_tlb_inv_context issues TLBI_NH_ASID / S12_VMALL itself.
      r = newRequest(this.requests.length, k, e, flow, {
        fn: 'arm_smmu_tlb_inv_context',
        caller: 'inv_ctx',
        dom: this.ctxDom.get(flow) ?? null,
        iova: 0,
        size: 0,
        granule: 0,
        leaf: false,
      });
      this.requests.push(r);
      this.open.set(flow, r);
      this.caller.set(flow, null);
    }
    if (r) r.cmdlists.push(list);
    else this.otherCmdlists.push(list);
    this.lastList.set(flow, list);
    this.allLists.push(list);
  }

  private wr(e: TraceEvent, flow: string): void {
    const l = this.lastList.get(flow);
    if (!l || l.prod >= 0) {
      this.notes.push(`trace line ${e.line}: a wr event with no command-list call before it on ${flow}`);
      return;
    }
    l.prod = numField(e, 'prod');
    const w0 = halvesField(e, 'w0');
    const w1 = halvesField(e, 'w1');
    l.first = [w0[0], w0[1], w1[0], w1[1]];
  }
}

/**
 * Phase 2: a legacy whole-domain flush names no ASID (arm_smmu_tlb_inv_asid is inlined in
 * arm_smmu_tlb_inv_context on some builds): take the targets of the domain's other requests, or the only
 * domain's when there is one.
 */
function inheritTargets(requests: readonly Request[], notes: string[]): void {
  const byDom = new Map<string, RequestTarget[]>();
  for (const r of requests)
    if (r.dom !== null && r.targets.length > 0 && !byDom.has(r.dom)) byDom.set(r.dom, r.targets);
  const domains = [...new Set([...byDom.values()].map((t) => JSON.stringify(t)))];
  for (const r of requests) {
    if (r.targets.length > 0) continue;
    const t =
      (r.dom !== null ? byDom.get(r.dom) : undefined) ??
      (domains.length === 1 ? byDom.values().next().value : undefined);
    if (t) {
      r.targets = [...t];
      if (r.dom === null || !byDom.has(r.dom))
        notes.push(`request at trace line ${r.line}: targets taken from the only domain seen`);
    } else notes.push(`request at trace line ${r.line}: no ASID/VMID known for it (not checked, not re-planned)`);
  }
}

/**
 * Phase 3: slots, and positions unrolled over wraps (prod carries the wrap bit at bit log2size; mask the owned
 * flag). Returns the number of entries written in all.
 */
function placeSlots(allLists: readonly CmdList[], size: number, notes: string[]): number {
  const mask = size - 1;
  const span = size * 2;
  let base = 0;
  let last = -1;
  let written = 0;
  let complete = true;
  for (const l of allLists) {
    if (l.prod < 0) {
      if (l.n > 0 || l.sync) complete = false;
      continue;
    }
    const p = l.prod & (span - 1);
    if (last >= 0 && p < last) base += span;
    last = p;
    l.absolute = base + p;
    for (let j = 0; j < l.n; j++) l.slots.push((l.prod + j) & mask);
    if (l.sync) l.syncSlot = (l.prod + l.n) & mask;
    written = Math.max(written, l.absolute + l.n + (l.sync ? 1 : 0));
  }
  if (!complete) notes.push('some command lists have no wr event: their slots are unknown');
  return written;
}

/** Phase 4: requests whose slots the ring overwrote, and command lists whose first slot holds other words. */
function checkRing(
  scan: EventScan,
  ring: Uint32Array,
  written: number,
  size: number,
): Pick<TiedCapture, 'overwritten' | 'mismatched'> {
  const overwritten: number[] = [];
  const mismatched: TiedCapture['mismatched'] = [];
  const reqOf = new Map<CmdList, number>();
  for (const r of scan.requests) for (const l of r.cmdlists) reqOf.set(l, r.id);
  const lost = written - size;
  for (const l of scan.allLists) {
    if (l.first === null || l.n === 0) continue;
    if (lost > 0 && l.absolute < lost) {
      const rid = reqOf.get(l);
      if (rid !== undefined && !overwritten.includes(rid)) overwritten.push(rid);
      continue;
    }
    const s = l.slots[0]!;
    const q = s * 4;
    if (
      ring[q] !== l.first[0] ||
      ring[q + 1] !== l.first[1] ||
      ring[q + 2] !== l.first[2] ||
      ring[q + 3] !== l.first[3]
    )
      mismatched.push({ cmdlist: l, request: reqOf.get(l) ?? null, slot: s });
  }
  if (lost > 0)
    scan.notes.push(
      `the ring wrapped: ${written} entries were written into ${size} slots, the oldest ${lost} were overwritten`,
    );
  return { overwritten, mismatched };
}

export function tieRequests(events: readonly TraceEvent[], o: TieOptions): TiedCapture {
  const scan = new EventScan(o.pageSize);
  for (let k = 0; k < events.length; k++) scan.event(k, events[k]!);
  const { requests, otherCmdlists, notes } = scan;
  inheritTargets(requests, notes);
  const size = 2 ** o.log2size;
  const written = placeSlots(scan.allLists, size, notes);
  const { overwritten, mismatched } = checkRing(scan, o.ring, written, size);
  return { requests, otherCmdlists, entriesWritten: written, overwritten, mismatched, notes };
}
