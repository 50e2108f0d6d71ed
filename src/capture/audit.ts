/**
 * `audit --capture`: the verdict on one capture directory's contents — the capture's facts, every request
 * tied to its ring slots, the coverage verdict per unmap with its evidence, the reproduction under both
 * policies, and the architecture rules `audit` applies to any ring.
 */
import { CommandChecker, featuresFromIdRegs } from '../cmdq/index.js';
import { auditStream, readRing, type AuditReport } from '../audit/index.js';
import { halvesFromBytes } from '../cmdq/index.js';
import { InputError } from '../parse.js';
import { parseConsole, type ConsoleSections } from './console.js';
import { checkCoverage, type CaptureFinding, type CoverageResult } from './coverage.js';
import { parseTrace, type TraceEvent } from './ftrace.js';
import type { Manifest } from './manifest.js';
import { reproduce, type Reproduction } from './reproduce.js';
import { tieRequests, type TiedCapture } from './requests.js';

export interface CaptureInput {
  /** The guest console (guest-console.log). */
  readonly console: string;
  /** The ring (cmdq.bin). */
  readonly ring: Uint8Array;
  /** cmdq.json. */
  readonly regs: Readonly<Record<string, unknown>>;
  readonly manifest: Manifest | null;
  /** summary.json of the shared samples (older captures without a manifest). */
  readonly summary: Readonly<Record<string, unknown>> | null;
  readonly qemuCmdline: string | null;
}

export interface CaptureFacts {
  readonly kernel: string | null;
  readonly kernelPackage: string | null;
  readonly qemu: string | null;
  readonly accel: string | null;
  readonly mode: 'strict' | 'lazy';
  /** Where the mode came from. */
  readonly modeFrom: string;
  readonly guestCmdline: string | null;
  readonly generation: string | null;
  readonly pageSize: number;
  readonly registers: Readonly<Record<string, string>>;
  readonly ring: {
    readonly log2size: number;
    readonly prod: number;
    readonly cons: number;
    readonly entriesWritten: number;
    readonly wrapped: boolean;
  };
  readonly probes: readonly { definition: string; ok: boolean }[];
  readonly traceEvents: number;
  readonly complete: boolean | null;
  readonly problems: readonly string[];
  readonly notes: readonly string[];
}

export interface CaptureReport {
  readonly facts: CaptureFacts;
  readonly counts: {
    readonly requests: number;
    readonly requestsByCaller: Record<string, number>;
    readonly otherCmdlists: number;
    readonly unmaps: number;
    readonly unmapsCovered: number;
    readonly unmapsUnverifiable: number;
    readonly maps: number;
    readonly findings: number;
    readonly ringFindings: number;
    readonly byRule: Record<string, number>;
  };
  readonly coverage: CoverageResult;
  readonly findings: readonly CaptureFinding[];
  readonly reproduction: Reproduction;
  readonly ring: AuditReport;
}

function regNumber(regs: Readonly<Record<string, unknown>>, key: string): number {
  const v = regs[key];
  if (typeof v === 'number' && Number.isInteger(v)) return v;
  if (typeof v === 'string' && /^(0x[0-9a-f]+|\d+)$/i.test(v)) {
    const n = Number(v);
    if (n <= Number.MAX_SAFE_INTEGER) return n;
  }
  throw new InputError(`cmdq.json: ${key}`, `expected a number or 0x hex string, got ${JSON.stringify(v)}`);
}

function modeOf(m: Manifest | null, cmdline: string | null): { mode: 'strict' | 'lazy'; from: string } {
  if (m) return { mode: m.mode, from: 'manifest' };
  const s = cmdline ? /(?:^|\s)iommu\.strict=(\d)/.exec(cmdline) : null;
  if (s) return { mode: s[1] === '0' ? 'lazy' : 'strict', from: `guest command line iommu.strict=${s[1]}` };
  return {
    mode: 'strict',
    from: 'default (no iommu.strict on the command line; Debian builds IOMMU_DEFAULT_DMA_STRICT=y)',
  };
}

export interface AuditCaptureOptions {
  readonly maxDifferences?: number;
  readonly onProgress?: (phase: string) => void;
}

/** The registers of cmdq.json the audit needs. */
interface Registers {
  readonly log2size: number;
  readonly prod: number;
  readonly cons: number;
  readonly idr0: number;
  readonly idr3: number;
  readonly idr5: number | undefined;
  readonly cr2: number;
}

function readRegisters(input: CaptureInput): Registers {
  const regs = input.regs;
  const log2size = regNumber(regs, 'log2size');
  const prod = regNumber(regs, 'CMDQ_PROD');
  const cons = regNumber(regs, 'CMDQ_CONS');
  const idr0 = regNumber(regs, 'IDR0');
  const idr3 = regNumber(regs, 'IDR3');
  const idr5 = regs.IDR5 !== undefined ? regNumber(regs, 'IDR5') : undefined;
  const cr2 = regs.CR2 !== undefined ? regNumber(regs, 'CR2') : 0;
  if (input.ring.length !== 2 ** log2size * 16)
    throw new InputError(
      'cmdq.bin',
      `${input.ring.length} bytes, but log2size ${log2size} means ${2 ** log2size * 16}`,
    );
  return { log2size, prod, cons, idr0, idr3, idr5, cr2 };
}

/** What the capture says about itself: kernel, QEMU, mode, registers, ring, probes, notes. */
function captureFacts(
  input: CaptureInput,
  con: ConsoleSections,
  r: Registers,
  tied: TiedCapture,
  context: {
    mode: 'strict' | 'lazy';
    modeFrom: string;
    guestCmdline: string | null;
    pageSize: number;
    traceEvents: number;
  },
): CaptureFacts {
  const { log2size, prod, cons } = r;
  const genFact = con.facts.map((f) => /^driver generation (\S+)/.exec(f)).find((m) => m);
  const registers: Record<string, string> = {};
  for (const [k, v] of Object.entries(input.regs)) registers[k] = typeof v === 'number' ? String(v) : String(v);
  const notes = [...tied.notes];
  const size = 2 ** log2size;
  if (tied.entriesWritten > 0 && (tied.entriesWritten & (size * 2 - 1)) !== (prod & (size * 2 - 1)))
    notes.push(
      `CMDQ_PROD at the dump (0x${prod.toString(16)}) is not where the traced command lists end (0x${(tied.entriesWritten & (size * 2 - 1)).toString(16)}): commands were written after the trace stopped or without a wr event`,
    );
  const summary = input.summary;
  const kernel =
    input.manifest?.kernel.release ?? (typeof summary?.kernel === 'string' ? summary.kernel : null) ?? con.linuxVersion;
  const kernelPackage =
    input.manifest?.kernel.package ?? (typeof summary?.kernel_pkg === 'string' ? summary.kernel_pkg : null);
  return {
    kernel,
    kernelPackage,
    qemu: input.manifest?.qemu.version ?? null,
    accel:
      input.manifest?.qemu.accel ??
      (input.qemuCmdline ? (/-enable-kvm|accel=kvm/.test(input.qemuCmdline) ? 'kvm' : 'tcg') : null),
    mode: context.mode,
    modeFrom: context.modeFrom,
    guestCmdline: context.guestCmdline,
    generation: input.manifest?.driver.generation ?? (genFact ? genFact[1]! : null),
    pageSize: context.pageSize,
    registers,
    ring: { log2size, prod, cons, entriesWritten: tied.entriesWritten, wrapped: tied.entriesWritten > size },
    probes: input.manifest?.driver.probes ?? con.probes.map((p) => ({ definition: p.definition, ok: p.ok })),
    traceEvents: context.traceEvents,
    complete: input.manifest ? input.manifest.complete : null,
    problems: input.manifest?.problems ?? [],
    notes,
  };
}

function captureCounts(
  events: readonly TraceEvent[],
  tied: TiedCapture,
  coverage: CoverageResult,
  ringReport: AuditReport,
): CaptureReport['counts'] {
  const byCaller: Record<string, number> = {};
  for (const r of tied.requests) {
    const c = r.caller ?? r.fn;
    byCaller[c] = (byCaller[c] ?? 0) + 1;
  }
  const byRule: Record<string, number> = {};
  for (const f of coverage.findings) byRule[f.rule] = (byRule[f.rule] ?? 0) + 1;
  return {
    requests: tied.requests.length,
    requestsByCaller: byCaller,
    otherCmdlists: tied.otherCmdlists.length,
    unmaps: coverage.unmaps.length,
    unmapsCovered: coverage.unmaps.filter((u) => u.ok).length,
    unmapsUnverifiable: coverage.unmaps.filter((u) => !u.verifiable).length,
    maps: events.filter((e) => e.name === 'map').length,
    findings: coverage.findings.length,
    ringFindings: ringReport.counts.findings,
    byRule,
  };
}

export function auditCapture(input: CaptureInput, o: AuditCaptureOptions = {}): CaptureReport {
  const prog = o.onProgress ?? (() => undefined);
  prog('console');
  const con: ConsoleSections = parseConsole(input.console);
  if (con.trace === null)
    throw new InputError(
      'guest-console.log',
      `no trace between ${con.prefix ?? 'CAPTURE'}_TRACE_BEGIN and _TRACE_END: the guest did not finish the workload`,
    );
  prog('trace');
  const events: TraceEvent[] = parseTrace(con.trace, con.traceFirstLine);
  const regs = readRegisters(input);
  const { log2size, prod, cons, idr0, idr3, idr5, cr2 } = regs;
  const ring = halvesFromBytes(input.ring);
  const pageFact = con.facts.map((f) => /^page size (\d+)/.exec(f)).find((m) => m);
  const pageSize = input.manifest?.kernel.pageSize ?? (pageFact ? Number(pageFact[1]) : 4096);
  const cmdline = input.manifest?.guestCmdline ?? con.kernelCmdline;
  const { mode, from } = modeOf(input.manifest, cmdline);
  prog('tie');
  const tied: TiedCapture = tieRequests(events, { log2size, ring, prod, pageSize });
  const checker = new CommandChecker({
    features: featuresFromIdRegs({ idr0, idr3, ...(idr5 !== undefined ? { idr5 } : {}) }),
  });
  prog('coverage');
  const coverage = checkCoverage(events, tied, { mode, ring, checker });
  prog('reproduce');
  const reproduction = reproduce(tied, {
    ring,
    ril: ((idr3 >>> 10) & 1) === 1,
    e2h: (cr2 & 1) === 1,
    ...(o.maxDifferences !== undefined ? { maxDifferences: o.maxDifferences } : {}),
  });
  prog('ring');
  const stream = readRing(input.ring, { prod, cons, log2size });
  const ringReport = auditStream(stream, { checker, ...(idr5 !== undefined ? {} : {}) });
  const facts = captureFacts(input, con, regs, tied, {
    mode,
    modeFrom: from,
    guestCmdline: cmdline,
    pageSize,
    traceEvents: events.length,
  });
  return {
    facts,
    counts: captureCounts(events, tied, coverage, ringReport),
    coverage,
    findings: coverage.findings,
    reproduction,
    ring: ringReport,
  };
}
