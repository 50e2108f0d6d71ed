/**
 * Reading the guest's ftrace buffer (the text of /sys/kernel/tracing/trace): one event per line,
 *
 *     <task>-<pid> [<cpu>] <flags> <seconds>: <event>: <payload>
 *
 * e.g. `<idle>-0 [000] d.h2. 33.109465: unmap: IOMMU: iova=0x… - 0x… size=4096 unmapped_size=4096`, a
 * kprobe `req7: (arm_smmu_domain_inv_range+0x0/0xd8) dom=0x… iova=0x… …`, a kretprobe
 * `unmap_ret: (iommu_dma_unmap_sg+0x… <- __iommu_dma_unmap) ret=0x0`, or `tracing_mark_write: text`.
 * Header lines (`#…`) and blank lines are skipped; any other line that is not an event is an error naming it.
 */
import { InputError } from '../parse.js';

/** Where an event ran: task context (keyed by pid), hard or soft interrupt (keyed by CPU). */
export type TraceContext = 'task' | 'softirq' | 'hardirq' | 'nmi';

export interface TraceEvent {
  /** 1-based line number in the text the event came from. */
  readonly line: number;
  readonly task: string;
  readonly pid: number;
  readonly cpu: number;
  /** The latency flags column as printed (e.g. `d.h2.`). */
  readonly flags: string;
  readonly context: TraceContext;
  /** Seconds since boot, as printed. */
  readonly ts: number;
  /** Event name (a kprobe's event name, `map`, `unmap`, `tracing_mark_write`, …). */
  readonly name: string;
  /** For kprobes: the probed location `sym+off/size`; for kretprobes the function returned from. */
  readonly site: string | null;
  /** A kretprobe (`(… <- func)`). */
  readonly isReturn: boolean;
  /** `key=value` fields (values as printed; arrays `{a,b}` kept as text). */
  readonly fields: Readonly<Record<string, string>>;
  /** The text after `<event>: `. */
  readonly payload: string;
}

export class TraceParseError extends InputError {
  constructor(
    readonly line: number,
    message: string,
  ) {
    super(`trace line ${line}`, message);
    this.name = 'TraceParseError';
  }
}

// task-pid, optional "(tgid)" column, [cpu], flags, timestamp, event name.
const EVENT_RE = /^\s*(.*?)-(\d+)\s+(?:\(\s*[\d-]+\)\s+)?\[(\d+)\]\s+(\S+)\s+(\d+\.\d+):\s+([A-Za-z0-9_.]+):\s?(.*)$/;
// \b: a key starts at a word boundary, so a long run of letters is scanned once, not from each of its letters.
const FIELD_RE = /\b([A-Za-z_][A-Za-z0-9_]*)=(\{[^}]*\}|"[^"]*"|\S+)/g;
/** Longest event line parsed: EVENT_RE is polynomial (not exponential) on hostile lines, so its input is bounded. */
export const MAX_FTRACE_LINE = 4096;
const SITE_RE = /^\(([^)]*)\)\s*/;

/** The context from the flags column: 'Z' NMI, 'h'/'H' hard interrupt, 's' soft interrupt, else task. */
export function contextOfFlags(flags: string): TraceContext {
  const irq = flags.length >= 3 ? flags[2]! : '.';
  if (irq === 'Z') return 'nmi';
  if (irq === 'h' || irq === 'H') return 'hardirq';
  if (irq === 's') return 'softirq';
  return 'task';
}

/** Parse one event line (null for headers and blank lines; throws TraceParseError for anything else). */
export function parseTraceLine(text: string, line: number): TraceEvent | null {
  if (text.trim() === '' || /^\s*#/.test(text)) return null;
  if (text.length > MAX_FTRACE_LINE)
    throw new TraceParseError(line, `line longer than ${MAX_FTRACE_LINE} characters: not an ftrace event line`);
  const m = EVENT_RE.exec(text);
  if (!m) throw new TraceParseError(line, `not an ftrace event line: "${text.slice(0, 120)}"`);
  const flags = m[4]!;
  let payload = m[7]!;
  let site: string | null = null;
  let isReturn = false;
  const sm = SITE_RE.exec(payload);
  if (sm && m[6] !== 'tracing_mark_write') {
    const s = sm[1]!;
    const arrow = s.indexOf(' <- ');
    if (arrow >= 0) {
      isReturn = true;
      site = s.slice(arrow + 4).trim();
    } else site = s.trim();
    payload = payload.slice(sm[0].length);
  }
  const fields: Record<string, string> = {};
  if (m[6] !== 'tracing_mark_write') {
    FIELD_RE.lastIndex = 0;
    for (let f = FIELD_RE.exec(payload); f; f = FIELD_RE.exec(payload)) fields[f[1]!] = f[2]!;
  }
  return {
    line,
    task: m[1]!.trim(),
    pid: Number(m[2]),
    cpu: Number(m[3]),
    flags,
    context: contextOfFlags(flags),
    ts: Number(m[5]),
    name: m[6]!,
    site,
    isReturn,
    fields,
    payload,
  };
}

/** Parse a whole buffer; `firstLine` is the line number of its first line in the file. */
export function parseTrace(text: string, firstLine = 1): TraceEvent[] {
  const out: TraceEvent[] = [];
  const lines = text.split('\n');
  for (let k = 0; k < lines.length; k++) {
    const e = parseTraceLine(lines[k]!.replace(/\r$/, ''), firstLine + k);
    if (e) out.push(e);
  }
  return out;
}

/** The key that orders one flow of execution: a task by pid, an interrupt by CPU and level. */
export function flowKey(e: TraceEvent): string {
  return e.context === 'task' ? `pid ${e.pid}` : `${e.context} cpu ${e.cpu}`;
}

/** A field as a number (decimal or 0x hex, below 2^53), or throws naming the field and line. */
export function numField(e: TraceEvent, key: string): number {
  const v = e.fields[key];
  if (v === undefined) throw new TraceParseError(e.line, `${e.name}: no field "${key}"`);
  const n = /^0x[0-9a-f]+$/i.test(v) ? parseInt(v.slice(2), 16) : /^-?\d+$/.test(v) ? Number(v) : NaN;
  if (!Number.isFinite(n) || Math.abs(n) > Number.MAX_SAFE_INTEGER)
    throw new TraceParseError(e.line, `${e.name}: field ${key}=${v} is not a number below 2^53`);
  return n;
}

/** A 64-bit hex field as two 32-bit halves [lo, hi]. */
export function halvesField(e: TraceEvent, key: string): [number, number] {
  const v = e.fields[key];
  if (v === undefined) throw new TraceParseError(e.line, `${e.name}: no field "${key}"`);
  return halvesOfHex(v, () => new TraceParseError(e.line, `${e.name}: field ${key}=${v} is not a 64-bit hex value`));
}

/** "0x…" (up to 16 digits) → [lo, hi]. */
export function halvesOfHex(v: string, err: () => Error): [number, number] {
  const m = /^0x([0-9a-f]{1,16})$/i.exec(v.trim());
  if (!m) throw err();
  const d = m[1]!.padStart(16, '0');
  return [parseInt(d.slice(8), 16) >>> 0, parseInt(d.slice(0, 8), 16) >>> 0];
}

/** `iommu:map` / `iommu:unmap` payloads. */
export interface IommuEvent {
  readonly iova: number;
  /** One past the last byte. */
  readonly end: number;
  readonly size: number;
  /** unmap: bytes actually unmapped; map: size. */
  readonly done: number;
  /** map: the physical address. */
  readonly paddr: number | null;
}

const UNMAP_RE = /iova=0x([0-9a-f]+) - 0x([0-9a-f]+) size=(\d+) unmapped_size=(\d+)/i;
const MAP_RE = /iova=0x([0-9a-f]+) - 0x([0-9a-f]+) paddr=0x([0-9a-f]+) size=(\d+)/i;

/** The fields of an iommu:map or iommu:unmap event (throws naming the line when malformed). */
export function iommuEventOf(e: TraceEvent): IommuEvent {
  if (e.name === 'unmap') {
    const m = UNMAP_RE.exec(e.payload);
    if (!m) throw new TraceParseError(e.line, `unmap: expected "iova=0x… - 0x… size=N unmapped_size=N"`);
    return { iova: parseInt(m[1]!, 16), end: parseInt(m[2]!, 16), size: Number(m[3]), done: Number(m[4]), paddr: null };
  }
  if (e.name === 'map') {
    const m = MAP_RE.exec(e.payload);
    if (!m) throw new TraceParseError(e.line, `map: expected "iova=0x… - 0x… paddr=0x… size=N"`);
    const size = Number(m[4]);
    return { iova: parseInt(m[1]!, 16), end: parseInt(m[2]!, 16), size, done: size, paddr: parseInt(m[3]!, 16) };
  }
  throw new TraceParseError(e.line, `${e.name} is not an iommu:map/unmap event`);
}
