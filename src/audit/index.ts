/**
 * Audit of real command streams — public API. Environment-free: takes bytes or text, returns a report.
 *
 * - `readRing(bytes, {prod, cons, log2size})` — a raw queue dump, oldest entry first (ring.ts);
 * - `parseQemuTrace(text)` — a QEMU SMMUv3 trace rebuilt into a stream (qemu-trace.ts);
 * - `AuditStream.fromHalves(u32)` — hex words already parsed into halves;
 * - `auditStream(stream, options)` — interpret, check the rules, re-plan with the engine, build the report;
 * - `AuditSession` — the same, fed an entry at a time (a streamed input: bounded memory).
 */
import { CommandChecker } from '../cmdq/index.js';
import type { TraceStats } from './qemu-trace.js';
import type { AuditReport } from './report.js';
import { AuditSession, type SessionOptions } from './session.js';
import type { AuditStream } from './stream.js';
import { VmidScan } from './vmids.js';

export * from './errors.js';
export * from './stream.js';
export * from './ring.js';
export * from './qemu-trace.js';
export * from './interpret.js';
export * from './rules.js';
export * from './replan.js';
export * from './report.js';
export * from './nested.js';
export * from './session.js';
export * from './vmids.js';
export * from './report-json.js';

export interface AuditOptions extends Omit<SessionOptions, 'onWindow'> {
  /** Trace statistics, when the stream came from a trace. */
  readonly trace?: TraceStats | null;
  /** Progress: phase name, done, total. */
  readonly onProgress?: (phase: string, done: number, total: number) => void;
}

/**
 * Audit a whole stream held in memory: findings, counts, histograms and the re-planning table. The stream is
 * checked a window at a time by an AuditSession (the streamed audit's one implementation); `--nested-vmids auto`
 * (no `nestedVmids`) is inferred exactly by a first pass over the stream.
 */
export function auditStream(s: AuditStream, o: AuditOptions = {}): AuditReport {
  const checker = o.checker ?? new CommandChecker();
  let nestedVmids = o.nestedVmids;
  let nestedInferred = o.nestedInferred ?? false;
  if (nestedVmids === undefined) {
    const scan = new VmidScan(checker);
    scan.pushHalves(s.halves, s.count);
    nestedVmids = scan.nested;
    nestedInferred = true;
  }
  const prog = o.onProgress;
  const session = new AuditSession(s.source, {
    ...o,
    checker,
    nestedVmids,
    nestedInferred,
    ...(prog ? { onWindow: (d: number) => prog('audit', d, s.count) } : {}),
  });
  session.pushStream(s);
  return session.end({ trace: o.trace ?? null });
}
