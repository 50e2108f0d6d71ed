/**
 * What a capture's ring entries cover, read from the words the SMMU consumed and interpreted here on their own
 * (the rules are in coverage.ts's header): per request and target, the address intervals its commands remove,
 * and which of them a CMD_SYNC of the same flow completed. Also the interval helpers the verdict uses.
 */
import { decodeSlot, type CommandChecker } from '../cmdq/index.js';
import type { CmdList, Request, RequestTarget } from './requests.js';
import { granuleLog2OfTg, log2Of } from '../units.js';

/** What one ring entry removes, in the terms of one target. */
export interface Cover {
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

/** The covers of each request (computed once), and which of them a CMD_SYNC completed. */
export class CoverIndex {
  private readonly byRequest = new Map<number, Cover[]>();

  constructor(
    private readonly ring: Uint32Array,
    private readonly checker: CommandChecker,
  ) {}

  /** The command list's CMD_SYNC is in the ring at its slot, and the call did not return an error. */
  syncOk(l: CmdList): boolean {
    return (
      l.sync && l.syncSlot >= 0 && (this.ring[l.syncSlot * 4]! & 0xff) === OP_SYNC && (l.ret === null || l.ret === 0)
    );
  }

  /** Every cover of request r's commands, per target, in slot order. */
  covers(r: Request): Cover[] {
    let cs = this.byRequest.get(r.id);
    if (cs) return cs;
    cs = [];
    for (const l of r.cmdlists)
      for (const s of l.slots)
        for (const t of r.targets) {
          const c = coverOf(this.ring, s, this.checker, t, r, l);
          if (c) cs.push(c);
        }
    this.byRequest.set(r.id, cs);
    return cs;
  }

  /** The covers that a CMD_SYNC among `lists`, issued by the same flow no earlier, completed. */
  completed(cs: readonly Cover[], lists: readonly CmdList[]): Cover[] {
    return cs.filter((c) => lists.some((l) => l.flow === c.list.flow && l.event >= c.list.event && this.syncOk(l)));
  }
}

/** The requests (sorted by event) with lo < event < hi. */
export function between(rs: readonly Request[], lo: number, hi: number): Request[] {
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
export function subtract(
  start: number,
  end: number,
  cuts: readonly { start: number; end: number }[],
): [number, number][] {
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

export function hex(n: number): string {
  return '0x' + n.toString(16);
}

/** The first three intervals left uncovered, and how many more. */
export function fmtLeft(left: readonly [number, number][]): string {
  const parts = left.slice(0, 3).map(([a, b]) => `[${hex(a)}, ${hex(b)})`);
  return parts.join(', ') + (left.length > 3 ? ` and ${left.length - 3} more` : '');
}
