/**
 * The audit report: counts by command and by finding, every finding, histograms (commands per CMD_SYNC,
 * pages per range command), the re-planning table; as a JSON-ready object and as readable text.
 */
import { hex64, hexAddr } from '../bits.js';
import { Kind, nameOfOpcode, type Interpreted } from './interpret.js';
import type { TraceStats } from './qemu-trace.js';
import { DIFFERENCES, differentRows, replanToJson, type ReplanSummary } from './replan.js';
import { CERROR_NAMES } from './ring.js';
import { RULES, RULE_IDS, type Finding, type RuleId } from './rules.js';
import { EntryFlag, type AuditStream, type RingInfo } from './stream.js';
import { entryRef, type EntryRef } from './nested.js';

export interface Bucket {
  readonly label: string;
  readonly min: number;
  readonly max: number;
  count: number;
}

export interface FindingJson {
  readonly rule: RuleId;
  readonly category: string;
  readonly index: number;
  readonly slot: number;
  readonly line?: number;
  readonly command: string;
  readonly words: [string, string];
  readonly related: readonly number[];
  readonly message: string;
  readonly reason: string;
}

export interface AuditReport {
  readonly input: {
    readonly source: string;
    readonly entries: number;
    readonly pending: number;
    readonly ring: RingInfo | null;
    readonly trace: TraceStats | null;
    readonly notes: readonly string[];
    readonly nestedVmids: readonly number[];
    readonly nestedVmidsInferred: boolean;
  };
  readonly counts: {
    readonly byCommand: Record<string, number>;
    readonly byRule: Partial<Record<RuleId, number>>;
    readonly findings: number;
    readonly batches: number;
  };
  readonly findings: FindingJson[];
  readonly histograms: {
    readonly commandsPerSync: Bucket[];
    readonly pagesPerRangeCommand: Bucket[];
  };
  readonly replan: ReplanSummary | null;
}

/** Power-of-two buckets: 0, 1, 2, 3-4, 5-8, 9-16, … */
function bucketOf(n: number): { label: string; min: number; max: number; key: number } {
  if (n <= 2) return { label: String(n), min: n, max: n, key: n };
  const k = Math.ceil(Math.log2(n));
  const min = 2 ** (k - 1) + 1;
  const max = 2 ** k;
  return { label: `${min}-${max}`, min, max, key: k + 2 };
}

/** The bucket key of bucketOf(n), without making the bucket (n ≥ 0). */
function bucketKey(n: number): number {
  if (n <= 2) return n;
  // ceil(log2(n)) + 2; with clz32 for the integers below 2^31 (exact), Math.log2 above, as bucketOf does.
  return (n <= 0x7fffffff && Number.isInteger(n) ? 32 - Math.clz32(n - 1) : Math.ceil(Math.log2(n))) + 2;
}

/** Counts of values by bucket key, then the buckets in key order (as many as the keys seen). */
export class Histogram {
  private readonly counts = new Float64Array(2048);
  private readonly example = new Float64Array(2048);

  add(v: number): void {
    const k = bucketKey(v);
    if (k >= 0 && k < this.counts.length && Number.isInteger(k)) {
      if (this.counts[k] === 0) this.example[k] = v;
      this.counts[k]!++;
    } else this.odd.push(v);
  }

  /** Values whose key does not index the table (NaN, negative or huge): counted the slow way. */
  private readonly odd: number[] = [];

  buckets(): Bucket[] {
    const m = new Map<number, Bucket>();
    for (let k = 0; k < this.counts.length; k++) {
      const c = this.counts[k]!;
      if (c === 0) continue;
      const b = bucketOf(this.example[k]!);
      m.set(b.key, { label: b.label, min: b.min, max: b.max, count: c });
    }
    for (const v of this.odd) {
      const b = bucketOf(v);
      let x = m.get(b.key);
      if (!x) m.set(b.key, (x = { label: b.label, min: b.min, max: b.max, count: 0 }));
      x.count++;
    }
    return [...m.entries()].sort((a, b) => a[0] - b[0]).map(([, b]) => b);
  }
}

/** Add the sizes of r's batches that end with a CMD_SYNC (commands before it) to h. */
export function addBatchSizes(h: Histogram, r: Interpreted): Histogram {
  let start = 0;
  for (let b = 0; b < r.batchCount; b++) {
    const s = r.batchSync[b]!;
    if (s < 0) break; // the tail has no SYNC
    h.add(s - start);
    start = s + 1;
  }
  return h;
}

/** Add the page counts of r's range TLBIs with TG≠0 to h. */
export function addRangePages(h: Histogram, r: Interpreted): Histogram {
  for (let i = 0; i < r.n; i++) if (r.kind[i] === Kind.RangeTlbi && r.tg[i] !== 0) h.add(r.pages[i]!);
  return h;
}

function batchSizes(r: Interpreted): Bucket[] {
  return addBatchSizes(new Histogram(), r).buckets();
}

function rangePages(r: Interpreted): Bucket[] {
  return addRangePages(new Histogram(), r).buckets();
}

export function findingToJson(s: AuditStream, f: Finding): FindingJson {
  return findingJsonOf(f, entryRef(s, f.index, 0));
}

/** A finding as JSON, from the entry it names (kept by reference once a streamed window is gone). */
export function findingJsonOf(f: Finding, e: EntryRef): FindingJson {
  const base = {
    rule: f.rule,
    category: f.category,
    index: f.index,
    slot: e.slot,
  };
  const line = e.line;
  return {
    ...base,
    ...(line > 0 ? { line } : {}),
    command: f.command,
    words: [hex64(e.h0, e.h1), hex64(e.h2, e.h3)],
    related: f.related,
    message: f.message,
    reason: f.reason,
  };
}

export function buildReport(
  s: AuditStream,
  r: Interpreted,
  findings: readonly Finding[],
  replan: ReplanSummary | null,
  extra: { trace?: TraceStats | null; nestedVmids: readonly number[]; nestedInferred: boolean },
): AuditReport {
  // Counted per opcode (and the trace's unknown opcodes apart), then named.
  const perOp = new Float64Array(256);
  let unknown = 0;
  let pending = 0;
  const flags = s.flags;
  for (let i = 0; i < r.n; i++) {
    const f = flags[i]!;
    if (f & EntryFlag.UnknownOpcode) unknown++;
    else perOp[r.op[i]!]!++;
    if (f & EntryFlag.Pending) pending++;
  }
  const byCommand: Record<string, number> = {};
  for (let op = 0; op < 256; op++) if (perOp[op]! > 0) byCommand[nameOfOpcode(op)] = perOp[op]!;
  if (unknown > 0) byCommand['unknown (QEMU: UNKNOWN/INVALID)'] = unknown;
  const sorted = Object.fromEntries(Object.entries(byCommand).sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)));
  const byRule: Partial<Record<RuleId, number>> = {};
  for (const f of findings) byRule[f.rule] = (byRule[f.rule] ?? 0) + 1;
  return {
    input: {
      source: s.source,
      entries: s.count,
      pending,
      ring: s.ring,
      trace: extra.trace ?? null,
      notes: s.notes,
      nestedVmids: extra.nestedVmids,
      nestedVmidsInferred: extra.nestedInferred,
    },
    counts: { byCommand: sorted, byRule, findings: findings.length, batches: r.batchCount },
    findings: findings.map((f) => findingToJson(s, f)),
    histograms: { commandsPerSync: batchSizes(r), pagesPerRangeCommand: rangePages(r) },
    replan,
  };
}

/** The report as JSON-ready data (numbers that may exceed 2^53 as hex strings). */
export function reportToJson(rep: AuditReport): Record<string, unknown> {
  const rp = rep.replan;
  return {
    input: {
      ...rep.input,
      ring: rep.input.ring && {
        ...rep.input.ring,
        prod: '0x' + rep.input.ring.prod.toString(16),
        cons: '0x' + rep.input.ring.cons.toString(16),
        consErrName: CERROR_NAMES[rep.input.ring.consErr] ?? 'reserved',
      },
    },
    counts: rep.counts,
    findings: rep.findings,
    histograms: rep.histograms,
    replan: rp && replanToJson(rp),
  };
}

function pad(s: string | number, n: number): string {
  return String(s).padStart(n);
}

function bar(count: number, max: number, width = 40): string {
  if (count === 0) return '';
  return '#'.repeat(Math.max(1, Math.round((count / max) * width)));
}

export interface FormatOptions {
  /** How many findings to print in full (default 20). */
  readonly maxFindings?: number;
  /** How many differing re-planned requests to list (default 10). */
  readonly maxDifferences?: number;
}

/** The readable report. */
export function formatReport(rep: AuditReport, o: FormatOptions = {}): string {
  const L: string[] = [];
  const inp = rep.input;
  const src = inp.source === 'dump' ? 'a raw queue dump' : inp.source === 'qemu-trace' ? 'a QEMU trace' : 'hex words';
  L.push(`Audit of ${src}: ${inp.entries} entries, ${rep.counts.batches} batches`);
  if (inp.ring) {
    const g = inp.ring;
    L.push(
      `  ring: 2^${g.log2size} slots, PROD 0x${g.prod.toString(16)}, CONS 0x${g.cons.toString(16)}` +
        `${g.consErr ? ` (ERR ${g.consErr}: ${CERROR_NAMES[g.consErr] ?? 'reserved'})` : ''}, ${g.wrapped ? 'wrapped' : 'never wrapped'}, ` +
        `${g.entries} entries read from slot ${g.firstSlot}, ${g.pending} not yet consumed`,
    );
  }
  if (inp.trace) {
    const t = inp.trace;
    const fmts = Object.entries(t.formats)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ');
    L.push(
      `  trace: ${t.lines} lines (${fmts}); ${t.unknownLines} not SMMU events, skipped${t.unknownLines ? ` (first: line ${t.firstUnknownLine})` : ''}`,
    );
  }
  for (const n of inp.notes) L.push(`  note: ${n}`);
  if (inp.nestedVmids.length)
    L.push(
      `  nested VMIDs: ${inp.nestedVmids.join(', ')}${inp.nestedVmidsInferred ? ' (inferred: used by both stage-2 and NH_* TLBIs)' : ''}`,
    );
  L.push('');
  L.push('Commands');
  for (const [k, v] of Object.entries(rep.counts.byCommand)) L.push(`  ${k.padEnd(28)}${pad(v, 9)}`);
  L.push('');
  L.push(`Findings: ${rep.counts.findings}`);
  for (const id of RULE_IDS) {
    const c = rep.counts.byRule[id];
    if (c) L.push(`  ${id.padEnd(26)}${pad(c, 9)}  ${RULES[id].category}: ${RULES[id].title}`);
  }
  const maxF = o.maxFindings ?? 20;
  if (rep.findings.length) {
    L.push('');
    L.push(
      rep.counts.findings > maxF
        ? `First ${maxF} findings (of ${rep.counts.findings}; --json lists all)`
        : 'Findings in full',
    );
    for (const f of rep.findings.slice(0, maxF)) {
      const where = `#${f.index} (slot ${f.slot}${f.line !== undefined ? `, line ${f.line}` : ''})`;
      L.push(`  ${where} ${f.command} [${f.rule}]`);
      L.push(`      words:   ${f.words[0]} ${f.words[1]}`);
      L.push(`      found:   ${f.message}`);
      L.push(`      why:     ${f.reason}`);
      if (f.related.length) L.push(`      related: ${f.related.map((x) => `#${x}`).join(', ')}`);
    }
  }
  for (const [title, h] of [
    ['Commands per CMD_SYNC (batches)', rep.histograms.commandsPerSync],
    ['Pages per range command (TG≠0)', rep.histograms.pagesPerRangeCommand],
  ] as const) {
    L.push('');
    L.push(title);
    if (h.length === 0) L.push('  (none)');
    const max = Math.max(1, ...h.map((b) => b.count));
    for (const b of h) L.push(`  ${b.label.padStart(13)} ${pad(b.count, 9)}  ${bar(b.count, max)}`);
  }
  const rp = rep.replan;
  if (rp) {
    L.push('');
    L.push("Re-planning (requests recovered from each batch's TLBIs, planned by the engine)");
    L.push(`  ${''.padEnd(14)}${'stream'.padStart(10)}${'linux'.padStart(10)}${'tlbi'.padStart(10)}`);
    L.push(
      `  ${'commands'.padEnd(14)}${pad(rp.stream.commands, 10)}${pad(rp.linux.commands, 10)}${pad(rp.tlbi.commands, 10)}`,
    );
    L.push(`  ${'CMD_SYNCs'.padEnd(14)}${pad(rp.stream.syncs, 10)}${pad(rp.linux.syncs, 10)}${pad(rp.tlbi.syncs, 10)}`);
    const planned = rp.requests - rp.notPlannable;
    L.push(
      `  requests: ${rp.requests}; identical to the linux policy: ${rp.identical}${planned > 0 && rp.identical === planned ? ' (all, bit for bit)' : ''}; different: ${rp.different}; not plannable: ${rp.notPlannable}`,
    );
    if (rp.fromTrace)
      L.push(
        '  (from a trace: commands compared on the traced fields, NUM/SCALE in canonical form — the form Linux emits)',
      );
    for (const [id, c] of Object.entries(rp.differences))
      L.push(`  ${id} × ${c}: ${DIFFERENCES[id as keyof typeof DIFFERENCES]}`);
    const maxD = o.maxDifferences ?? 10;
    const nDiffs = rp.requests - rp.identical;
    for (const row of differentRows(rp, maxD)) {
      const req =
        row.size === 0
          ? 'everything'
          : `iova ${hexAddr(row.iova)} size ${hexAddr(row.size)} granule ${hexAddr(row.granule)} leaf=${row.leaf}`;
      L.push(
        `    batch ${row.batch} #${row.entries.join(',#')} ${row.command} ASID=${row.asid} VMID=${row.vmid}: ${req}; stream ${row.streamCommands}, linux ${row.linuxCommands < 0 ? '-' : row.linuxCommands}, tlbi ${row.tlbiCommands < 0 ? '-' : row.tlbiCommands} commands [${row.difference ?? ''}]`,
      );
    }
    if (nDiffs > maxD) L.push(`    … ${nDiffs - maxD} more in --json`);
  }

  return L.join('\n') + '\n';
}
