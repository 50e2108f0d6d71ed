/**
 * `audit --qemu-trace TRACE --qemu-ring DUMP [--regs cmdq.json]`: emulator conformance (bug corpus Q1–Q5).
 * QEMU's own decode of each range TLBI (its `smmuv3_range_inval` chunks) is compared with what the command's
 * words in the ring dump of the same run say must be invalidated (src/audit/qemu-conformance.ts). Prints the
 * issues (or one JSON document with --json); exit 0 when QEMU conforms, 1 when it under- or over-invalidates
 * or decodes an operand differently. The trace is streamed (any size, gzip too); the ring dump is read whole
 * under the ring's size or --max-entries, as audit reads a dump with registers.
 */
import { interpret } from '../audit/interpret.js';
import { TraceRangeCollector, compareQemuRanges } from '../audit/qemu-conformance.js';
import { readRing } from '../audit/index.js';
import type { CommandChecker } from '../cmdq/index.js';
import { readRingBytes } from './audit-read.js';
import { EXIT_CHECK_FAILED, EXIT_OK, out, printJson, warn } from './common.js';
import { TextLines, entryLimit, inputChunks, openInput } from './input.js';

/**
 * The trace's range commands by slot, streamed: no total-size limit (gzip inflated as it goes), one line at a
 * time under the per-line cap; the state is one traced command per queue slot.
 */
async function traceRanges(trace: string): Promise<TraceRangeCollector> {
  const src = openInput(trace, '--qemu-trace');
  const collector = new TraceRangeCollector();
  const lines = new TextLines(src.name, (line) => collector.line(line));
  for await (const c of inputChunks(src, null)) lines.pushBytes(c);
  lines.end();
  return collector;
}

export async function runQemuConformance(
  trace: string,
  ring: string,
  regs: Record<string, number>,
  checker: CommandChecker,
  json: boolean,
  maxEntries: number,
): Promise<number> {
  const dump = await readRingBytes(openInput(ring, '--qemu-ring'), regs.LOG2SIZE, entryLimit(maxEntries), maxEntries);
  const s = readRing(dump, {
    ...(regs.CMDQ_PROD !== undefined ? { prod: regs.CMDQ_PROD } : {}),
    ...(regs.CMDQ_CONS !== undefined ? { cons: regs.CMDQ_CONS } : {}),
    ...(regs.LOG2SIZE !== undefined ? { log2size: regs.LOG2SIZE } : {}),
  });
  const traced = await traceRanges(trace);
  const rep = compareQemuRanges(interpret(s, checker), s.slot, traced.bySlot);
  if (json) printJson({ kind: 'qemu-conformance', ...rep });
  else {
    out(`QEMU conformance: ${rep.compared} range TLBIs compared, ${rep.untraced} not in the trace`);
    out(`Issues: ${rep.issues.length}`);
    for (const i of rep.issues) out(`  #${i.index} (slot ${i.slot}, trace line ${i.line}) ${i.kind}: ${i.message}`);
    if (rep.issues.length > 0) warn(`${rep.issues.length} conformance issue(s)`);
  }
  return rep.issues.length > 0 ? EXIT_CHECK_FAILED : EXIT_OK;
}
