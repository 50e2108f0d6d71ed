/**
 * The audit's JSON outputs, written as the audit runs (a streamed audit never holds the whole document).
 *
 * `--json`, schemaVersion 2: one document, `JSON.stringify(doc, null, 2)` layout, whose fields come in this order:
 *  - `schemaVersion`: 2;
 *  - `records`: every finding and every re-planning row, in the order the audit found them, each tagged with
 *    `type` ("finding" or "replan") followed by the fields a finding or a row had in version 1. Findings come a
 *    window at a time in stream order; the nesting rule's findings that need the end of the stream come last;
 *  - `input`, `counts`, `histograms`: as in version 1;
 *  - `replan`: version 1's totals and `fromTrace`, without `rows` (they are in `records`), or null.
 * Version 1 put `findings` (sorted by entry, then rule) after `counts` and the rows under `replan.rows`;
 * `auditJsonV1` turns a version 2 document back into that layout.
 *
 * `--ndjson`: one line per finding (`{"type":"finding",…}`), then one last line `{"type":"summary",
 * "schemaVersion":2, input, counts, histograms, replan}` (the summary without records).
 *
 * A run that fails after part of its output was written (a read error late in a stream) still ends with one
 * whole document: `--json` closes `records` and has an `error` member ({exitCode, message}) in place of the
 * summary; `--ndjson` ends with a `{"type":"error", schemaVersion, exitCode, message}` line.
 */
import { CERROR_NAMES } from './ring.js';
import { replanTotals, type ReplanRowJson } from './replan.js';
import type { AuditReport, FindingJson } from './report.js';
import { RULE_IDS } from './rules-table.js';
import { nestedJson } from '../json-layout.js';

export const AUDIT_SCHEMA_VERSION = 2;

/** Why a streamed document ended early (the run failed after part of it was written): exit code and message. */
export interface AuditFailure {
  readonly exitCode: number;
  readonly message: string;
}

/** The summary fields of a report as version 2 writes them after the records. */
export function auditSummaryJson(rep: AuditReport): Record<string, unknown> {
  const ring = rep.input.ring;
  return {
    input: {
      ...rep.input,
      ring: ring && {
        ...ring,
        prod: '0x' + ring.prod.toString(16),
        cons: '0x' + ring.cons.toString(16),
        consErrName: CERROR_NAMES[ring.consErr] ?? 'reserved',
      },
    },
    counts: rep.counts,
    histograms: rep.histograms,
    replan: rep.replan && { ...replanTotals(rep.replan), fromTrace: rep.replan.fromTrace },
  };
}

/**
 * The `--json` document (schemaVersion 2) written as it is made: `finding` and `row` append a record (call them
 * from the session's onFinding / onRow), `end` writes the summary. Nothing is written before the first record or
 * `end`, so an input refused before any entry was checked leaves stdout empty.
 */
export class AuditJsonWriter {
  private records = 0;
  private started = false;

  constructor(private readonly write: (s: string) => void) {}

  private start(): void {
    if (this.started) return;
    this.started = true;
    this.write(`{\n  "schemaVersion": ${AUDIT_SCHEMA_VERSION},\n  "records": [`);
  }

  private record(v: Record<string, unknown>): void {
    this.start();
    this.write(`${this.records++ > 0 ? ',' : ''}\n    ${nestedJson(v, '    ')}`);
  }

  finding(f: FindingJson): void {
    this.record({ type: 'finding', ...f });
  }

  row(r: ReplanRowJson): void {
    this.record({ type: 'replan', ...r });
  }

  /** Close `records` (started if nothing was written yet). */
  private closeRecords(): void {
    this.start();
    this.write(this.records > 0 ? '\n  ]' : ']');
  }

  end(rep: AuditReport): void {
    this.closeRecords();
    for (const [k, v] of Object.entries(auditSummaryJson(rep)))
      this.write(`,\n  ${JSON.stringify(k)}: ${nestedJson(v, '  ')}`);
    this.write('\n}\n');
  }

  /**
   * The run failed after records were written: close `records` and end the document with an `error` member
   * ({exitCode, message}) instead of the summary, so that stdout still holds one whole document.
   */
  endWithError(failure: AuditFailure): void {
    this.closeRecords();
    this.write(`,\n  "error": ${nestedJson({ exitCode: failure.exitCode, message: failure.message }, '  ')}\n}\n`);
  }
}

/** `--ndjson`: one line per finding, then the summary line. */
export class AuditNdjsonWriter {
  constructor(private readonly write: (s: string) => void) {}

  finding(f: FindingJson): void {
    this.write(JSON.stringify({ type: 'finding', ...f }) + '\n');
  }

  end(rep: AuditReport): void {
    this.write(
      JSON.stringify({ type: 'summary', schemaVersion: AUDIT_SCHEMA_VERSION, ...auditSummaryJson(rep) }) + '\n',
    );
  }

  /** The run failed after findings were written: a last line `{"type":"error", schemaVersion, exitCode, message}`. */
  endWithError(failure: AuditFailure): void {
    this.write(
      JSON.stringify({
        type: 'error',
        schemaVersion: AUDIT_SCHEMA_VERSION,
        exitCode: failure.exitCode,
        message: failure.message,
      }) + '\n',
    );
  }
}

const ruleOrder = (r: unknown): number => RULE_IDS.indexOf(r as (typeof RULE_IDS)[number]);

/**
 * A version 2 document in version 1's layout (findings sorted by entry then rule, rows under replan.rows), for
 * readers written against version 1 and to compare the two versions.
 */
export function auditJsonV1(doc: Record<string, unknown>): Record<string, unknown> {
  if (doc.schemaVersion !== AUDIT_SCHEMA_VERSION)
    throw new Error(`auditJsonV1: expected schemaVersion ${AUDIT_SCHEMA_VERSION}, got ${String(doc.schemaVersion)}`);
  const records = doc.records as Record<string, unknown>[];
  const strip = (x: Record<string, unknown>): Record<string, unknown> => {
    const { type: _type, ...rest } = x;
    return rest;
  };
  const findings = records
    .filter((x) => x.type === 'finding')
    .map(strip)
    .sort((a, b) => (a.index as number) - (b.index as number) || ruleOrder(a.rule) - ruleOrder(b.rule));
  const rows = records.filter((x) => x.type === 'replan').map(strip);
  const rp = doc.replan as Record<string, unknown> | null;
  let replan: Record<string, unknown> | null = null;
  if (rp) {
    const { fromTrace, ...totals } = rp;
    replan = { ...totals, rows, fromTrace };
  }
  return {
    schemaVersion: 1,
    input: doc.input,
    counts: doc.counts,
    findings,
    histograms: doc.histograms,
    replan,
  };
}
