/**
 * Audit of real command streams — public API. Environment-free: takes bytes or text, returns a report.
 *
 * - `readRing(bytes, {prod, cons, log2size})` — a raw queue dump, oldest entry first (ring.ts);
 * - `parseQemuTrace(text)` — a QEMU SMMUv3 trace rebuilt into a stream (qemu-trace.ts);
 * - `AuditStream.fromHalves(u32)` — hex words already parsed into halves;
 * - `auditStream(stream, options)` — interpret, check the rules, re-plan with the engine, build the report.
 */
import { CommandChecker } from '../cmdq/index.js';
import { interpret } from './interpret.js';
import type { TraceStats } from './qemu-trace.js';
import { replan } from './replan.js';
import { buildReport, type AuditReport } from './report.js';
import { checkRules, type RuleOptions } from './rules.js';
import type { AuditStream } from './stream.js';

export * from './errors.js';
export * from './stream.js';
export * from './ring.js';
export * from './qemu-trace.js';
export * from './interpret.js';
export * from './rules.js';
export * from './replan.js';
export * from './report.js';

export interface AuditOptions extends RuleOptions {
  /** The validator, bound to the SMMU's features (default: the codec's defaults). */
  readonly checker?: CommandChecker;
  /** Re-plan with the engine (default true). */
  readonly replan?: boolean;
  /** Page size assumed for a lone TG=0 command when re-planning (default 4096). */
  readonly pageSize?: number;
  /** Trace statistics, when the stream came from a trace. */
  readonly trace?: TraceStats | null;
  /** Progress: phase name, done, total. */
  readonly onProgress?: (phase: string, done: number, total: number) => void;
}

/** Audit a stream: findings, counts, histograms and the re-planning table. */
export function auditStream(s: AuditStream, o: AuditOptions = {}): AuditReport {
  const checker = o.checker ?? new CommandChecker();
  const prog = o.onProgress;
  const r = interpret(s, checker, prog ? (d, t) => prog('decode', d, t) : undefined);
  const { findings, nestedVmids, nestedInferred } = checkRules(s, r, { ...o, ds: o.ds ?? checker.features.ds });
  const rp =
    o.replan === false
      ? null
      : replan(s, r, {
          nestedVmids,
          ...(o.pageSize !== undefined ? { pageSize: o.pageSize } : {}),
          ...(prog ? { onProgress: (d: number, t: number) => prog('replan', d, t) } : {}),
        });
  return buildReport(s, r, findings, rp, { trace: o.trace ?? null, nestedVmids, nestedInferred });
}
