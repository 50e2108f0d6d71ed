/**
 * Parts of the audit's JSON documents shared by `audit --json` (audit-output), `audit --ndjson` and the ring
 * report inside `audit --capture --json` (capture-audit-output): the input, the counts, the histograms, a
 * finding and a re-planning row.
 */
import { count, exact, mapOf, orNull, word64 } from './common.js';

const hex = { type: 'string', pattern: '^0x[0-9a-f]+$' } as const;

export const finding = {
  rule: { type: 'string' },
  category: { type: 'string' },
  index: count,
  slot: count,
  line: count,
  command: { type: 'string' },
  words: { type: 'array', prefixItems: [word64, word64], items: false, minItems: 2 },
  related: { type: 'array', items: count },
  message: { type: 'string' },
  reason: { type: 'string' },
};
export const FINDING_OPTIONAL = ['line'];

export const replanRow = {
  batch: count,
  entries: { type: 'array', items: count },
  command: { type: 'string' },
  asid: count,
  vmid: count,
  iova: hex,
  size: hex,
  granule: hex,
  leaf: { type: 'boolean' },
  pgsize: count,
  streamCommands: count,
  linuxCommands: count,
  linuxSyncs: count,
  tlbiCommands: count,
  tlbiSyncs: count,
  identical: { type: 'boolean' },
  difference: orNull({ type: 'string' }),
};

const ring = exact({
  log2size: count,
  prod: hex,
  cons: hex,
  consErr: count,
  wrapped: { type: 'boolean' },
  entries: count,
  pending: count,
  firstSlot: count,
  consErrName: { type: 'string' },
});

const trace = exact({
  lines: count,
  formats: mapOf(count),
  events: mapOf(count),
  unknownLines: count,
  firstUnknownLine: count,
  opcodeNames: mapOf(count),
  numScaleAmbiguous: count,
  rangeWithoutEvent: count,
  cmdqLog2size: orNull(count),
  cmdqProd: orNull(count),
  cmdqCons: orNull(count),
});

export const input = exact({
  source: { enum: ['dump', 'hex', 'qemu-trace'] },
  entries: count,
  pending: count,
  ring: orNull(ring),
  trace: orNull(trace),
  notes: { type: 'array', items: { type: 'string' } },
  nestedVmids: { type: 'array', items: count },
  nestedVmidsInferred: { type: 'boolean' },
});

export const counts = exact({ byCommand: mapOf(count), byRule: mapOf(count), findings: count, batches: count });

const bucket = exact({ label: { type: 'string' }, min: count, max: count, count });
export const histograms = exact({
  commandsPerSync: { type: 'array', items: bucket },
  pagesPerRangeCommand: { type: 'array', items: bucket },
});

const cost = exact({ commands: count, syncs: count });
/** The re-planning totals; `rows` are added by the documents that carry them. */
export const replanTotals = {
  requests: count,
  identical: count,
  different: count,
  notPlannable: count,
  stream: cost,
  linux: cost,
  tlbi: cost,
  differences: mapOf(count),
  fromTrace: { type: 'boolean' },
};
