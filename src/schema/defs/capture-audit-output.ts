/**
 * `audit --capture DIR --json`: the capture's facts, the verdict counts, what evidence each verdict rests on,
 * the findings, every unmap's verdict, the re-planning of each request, and the ring report (`audit --file`'s
 * whole report, version 1 layout: findings and re-planning rows in place).
 */
import { DIALECT, count, exact, mapOf, orNull, schemaId } from './common.js';
import { FINDING_OPTIONAL, counts, finding, histograms, input, replanRow, replanTotals } from './audit-parts.js';

const str = { type: 'string' };
const strings = { type: 'array', items: str };
const hex = { type: 'string', pattern: '^0x[0-9a-f]+$' };

const facts = exact({
  kernel: orNull(str),
  kernelPackage: orNull(str),
  qemu: orNull(str),
  accel: orNull(str),
  mode: { enum: ['strict', 'lazy'] },
  modeFrom: str,
  guestCmdline: orNull(str),
  generation: orNull(str),
  pageSize: count,
  registers: mapOf(str),
  ring: exact({ log2size: count, prod: count, cons: count, entriesWritten: count, wrapped: { type: 'boolean' } }),
  probes: { type: 'array', items: exact({ definition: str, ok: { type: 'boolean' } }) },
  traceEvents: count,
  complete: orNull({ type: 'boolean' }),
  problems: strings,
  notes: strings,
});

const cost = exact({ commands: count, syncs: count });
const costOver = exact({ commands: count, syncs: count, pagesOverInvalidated: count });

export const schema = {
  $schema: DIALECT,
  $id: schemaId('capture-audit-output'),
  title: 'smmuv3-tlbi audit --capture DIR --json',
  ...exact({
    schemaVersion: { const: 1 },
    capture: facts,
    counts: exact({
      requests: count,
      requestsByCaller: mapOf(count),
      otherCmdlists: count,
      unmaps: count,
      unmapsCovered: count,
      unmapsUnverifiable: count,
      maps: count,
      findings: count,
      ringFindings: count,
      byRule: mapOf(count),
    }),
    evidence: exact({ available: mapOf({ type: 'boolean' }), verdicts: mapOf(count), meaning: mapOf(str) }),
    findings: {
      type: 'array',
      items: exact({
        rule: str,
        message: str,
        line: count,
        requests: { type: 'array', items: count },
        slots: { type: 'array', items: count },
        evidence: orNull(str),
        reason: str,
      }),
    },
    unmaps: {
      type: 'array',
      items: exact({
        line: count,
        flow: str,
        iova: hex,
        size: count,
        ok: { type: 'boolean' },
        evidence: str,
        requests: { type: 'array', items: count },
        rule: orNull(str),
        verifiable: { type: 'boolean' },
      }),
    },
    reproduction: exact({
      requests: count,
      identical: count,
      different: count,
      skipped: count,
      stream: cost,
      linux: costOver,
      tlbi: costOver,
      firstDifferences: { type: 'array', items: { type: 'object' } },
    }),
    ring: exact({
      input,
      counts,
      findings: { type: 'array', items: exact(finding, FINDING_OPTIONAL) },
      histograms,
      replan: orNull(exact({ ...replanTotals, rows: { type: 'array', items: exact(replanRow) } })),
    }),
  }),
};
