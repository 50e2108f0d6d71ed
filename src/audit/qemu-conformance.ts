/**
 * Emulator conformance (bug corpus Q1–Q5): compare what QEMU's SMMUv3 model says it invalidated for each
 * range TLBI — its own decode lines, `smmuv3_range_inval` / `smmuv3_s1_range_inval`, one per chunk it splits
 * the range into — with what the architecture says the same command must invalidate, read from the command's
 * words in a ring dump of the same run (IHI 0070 4.4.1.1: TG≠0 covers (NUM+1) × 2^SCALE granules from the
 * base; TG=0 the one address). Commands are paired by queue slot (the trace's `cons`, the dump's slot; for a
 * slot used more than once the last use is compared, which is what a ring dump holds).
 *
 * Reported per command: bytes QEMU left out (under-invalidation: stale entries in the guest), bytes QEMU
 * invalidated beyond the command (over-invalidation: safe, but not what the command says), and operands
 * QEMU decoded differently (ASID, VMID, TTL, Leaf). Works line by line on the trace; no regular expressions.
 */
import { Opcode } from '../cmdq/index.js';
import { Kind, type Interpreted } from './interpret.js';
import { field, fieldText } from './trace-scan.js';
import { granuleLog2OfTg } from '../units.js';

/** One chunk QEMU reports for a range command. */
interface Chunk {
  readonly addr: number;
  readonly bytes: number;
}

interface TraceRange {
  readonly line: number;
  readonly qemuName: string;
  readonly chunks: Chunk[];
  asid: number | undefined;
  vmid: number | undefined;
  ttl: number | undefined;
  leaf: number | undefined;
}

export interface ConformanceIssue {
  /** Entry index in the dump's stream, its slot, and the trace line of the command. */
  readonly index: number;
  readonly slot: number;
  readonly line: number;
  readonly kind: 'under-invalidation' | 'over-invalidation' | 'operand';
  readonly message: string;
}

export interface ConformanceReport {
  /** Range TLBIs of the dump that the trace also shows (at the same slot, same opcode). */
  readonly compared: number;
  /** Range TLBIs of the dump with no traced range at their slot. */
  readonly untraced: number;
  readonly issues: ConformanceIssue[];
}

const QEMU_RANGE_OPS: Readonly<Record<string, number>> = {
  SMMU_CMD_TLBI_NH_VA: Opcode.TLBI_NH_VA,
  SMMU_CMD_TLBI_NH_VAA: Opcode.TLBI_NH_VAA,
  SMMU_CMD_TLBI_S2_IPA: Opcode.TLBI_S2_IPA,
  SMMU_CMD_TLBI_EL2_VA: Opcode.TLBI_EL2_VA,
  SMMU_CMD_TLBI_EL2_VAA: Opcode.TLBI_EL2_VAA,
};

function eventOf(line: string): { name: string; payload: string } | null {
  // `name payload`, `PID@TIME:name payload`, or any prefix before the event.
  const p = line.indexOf('smmu');
  if (p < 0) return null;
  let e = p;
  while (e < line.length && line.charCodeAt(e) !== 32 && line.charCodeAt(e) !== 58) e++;
  return { name: line.slice(p, e), payload: line.slice(e + 1) };
}

/** A traced range command: its opcode and what QEMU said it invalidated. */
export interface TracedRange {
  readonly op: number;
  readonly range: TraceRange;
}

/**
 * The last traced range command at each slot, collected line by line: `line(text)` for each line of the trace
 * in order, `bySlot` at any point. State: one entry per queue slot seen (bounded by the ring), whatever the
 * trace's length, so a trace of any size can be streamed through it.
 */
export class TraceRangeCollector {
  readonly bySlot = new Map<number, TracedRange>();
  private cons = -1;
  private cur: { op: number; range: TraceRange } | null = null;
  private lineNo = 0;

  line(text: string): void {
    this.lineNo++;
    const ev = eventOf(text);
    if (ev === null) return;
    switch (ev.name) {
      case 'smmuv3_cmdq_consume':
        this.cons = field(ev.payload, 'cons') ?? -1;
        this.cur = null;
        break;
      case 'smmuv3_cmdq_opcode':
        this.opcode(ev.payload);
        break;
      case 'smmuv3_range_inval':
      case 'smmuv3_s1_range_inval':
        if (this.cur !== null) addChunk(this.cur.range, ev.payload);
        break;
      default:
        break;
    }
  }

  private opcode(payload: string): void {
    const k = payload.indexOf('SMMU_CMD_');
    let e = k;
    while (k >= 0 && e < payload.length && payload.charCodeAt(e) > 32) e++;
    const qn = k < 0 ? '' : payload.slice(k, e);
    const op = QEMU_RANGE_OPS[qn];
    this.cur = null;
    if (op === undefined || this.cons < 0) return;
    const range: TraceRange = {
      line: this.lineNo,
      qemuName: qn,
      chunks: [],
      asid: undefined,
      vmid: undefined,
      ttl: undefined,
      leaf: undefined,
    };
    this.cur = { op, range };
    this.bySlot.set(this.cons, this.cur);
  }
}

/** One `smmuv3_range_inval` / `smmuv3_s1_range_inval` line: a chunk, and the operands QEMU decoded. */
function addChunk(r: TraceRange, p: string): void {
  const tg = field(p, 'tg') ?? 0;
  const pages = field(p, 'num_pages') ?? 1;
  const granule = 2 ** (tg === 0 ? 12 : granuleLog2OfTg(tg));
  r.chunks.push({ addr: field(p, 'addr') ?? 0, bytes: pages * granule });
  if (fieldText(p, 'asid') !== undefined) r.asid = field(p, 'asid');
  if (fieldText(p, 'vmid') !== undefined) r.vmid = field(p, 'vmid');
  r.ttl = field(p, 'ttl');
  r.leaf = field(p, 'leaf');
}

/** The last traced range command at each slot, from the trace's lines (a whole trace; see TraceRangeCollector). */
export function traceRangesBySlot(lines: Iterable<string>): Map<number, TracedRange> {
  const c = new TraceRangeCollector();
  for (const line of lines) c.line(line);
  return c.bySlot;
}

/** Bytes of [a, a+n) not covered by the union of chunks, and bytes of the chunks outside [a, a+n). */
function coverage(a: number, n: number, chunks: readonly Chunk[]): { missing: number; extra: number } {
  const sorted = [...chunks].sort((x, y) => x.addr - y.addr);
  let missing = 0;
  let extra = 0;
  let at = a;
  const end = a + n;
  for (const c of sorted) {
    const cs = c.addr;
    const ce = c.addr + c.bytes;
    if (cs > at && at < end) missing += Math.min(cs, end) - at;
    extra += Math.max(0, Math.min(ce, a) - cs) + Math.max(0, ce - Math.max(cs, end));
    if (ce > at) at = ce;
  }
  if (at < end) missing += end - at;
  return { missing, extra };
}

const hex = (v: number): string => `0x${v.toString(16)}`;

/** Compare the traced ranges with the dump's commands (`slots[i]`: the ring slot of entry i). */
export function compareQemuRanges(
  r: Interpreted,
  slots: ArrayLike<number>,
  traced: ReadonlyMap<number, { op: number; range: TraceRange }>,
): ConformanceReport {
  const issues: ConformanceIssue[] = [];
  let compared = 0;
  let untraced = 0;
  for (let i = 0; i < r.n; i++) {
    if (r.kind[i] !== Kind.RangeTlbi) continue;
    const slot = slots[i]!;
    const t = traced.get(slot);
    if (t === undefined || t.op !== r.op[i] || t.range.chunks.length === 0) {
      untraced++;
      continue;
    }
    compared++;
    const q = t.range;
    const add = (kind: ConformanceIssue['kind'], message: string): void =>
      void issues.push({ index: i, slot, line: q.line, kind, message });
    const a = r.addr[i]!;
    if (r.tg[i] === 0) {
      // One address: QEMU must cover it (the granule is the table's, which the command does not give).
      if (!q.chunks.some((c) => c.addr <= a && a < c.addr + c.bytes))
        add('under-invalidation', `${r.name(i)} addr=${hex(a)} (TG=0): QEMU's chunks do not contain the address`);
    } else {
      const { missing, extra } = coverage(a, r.span[i]!, q.chunks);
      const what = `${r.name(i)} [${hex(a)}, +${hex(r.span[i]!)}) = ${r.pages[i]} pages`;
      if (missing > 0)
        add('under-invalidation', `${what}: QEMU's ${q.chunks.length} chunk(s) leave out ${hex(missing)} bytes`);
      if (extra > 0)
        add('over-invalidation', `${what}: QEMU's ${q.chunks.length} chunk(s) reach ${hex(extra)} bytes beyond it`);
    }
    const want: [string, number | undefined, number][] = [
      ['asid', q.asid, r.asid[i]!],
      ['vmid', q.vmid, r.vmid[i]!],
      ['ttl', q.ttl, r.ttl[i]!],
      ['leaf', q.leaf, r.leaf[i]!],
    ];
    for (const [name, got, arch] of want) {
      // -1: the command has no such tag (NH_VAA has no ASID): QEMU may print anything there.
      if (got === undefined || arch < 0 || got === arch) continue;
      add('operand', `${r.name(i)}: QEMU decoded ${name}=${got}, the command has ${name}=${arch}`);
    }
  }
  return { compared, untraced, issues };
}
