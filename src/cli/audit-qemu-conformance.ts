/**
 * `audit --qemu-trace TRACE --qemu-ring DUMP [--regs cmdq.json]`: emulator conformance (bug corpus Q1–Q5).
 * QEMU's own decode of each range TLBI (its `smmuv3_range_inval` chunks) is compared with what the command's
 * words in the ring dump of the same run say must be invalidated (src/audit/qemu-conformance.ts). Prints the
 * issues (or one JSON document with --json); exit 0 when QEMU conforms, 1 when it under- or over-invalidates
 * or decodes an operand differently.
 */
import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { interpret } from '../audit/interpret.js';
import { compareQemuRanges, traceRangesBySlot } from '../audit/qemu-conformance.js';
import { readRing } from '../audit/index.js';
import type { CommandChecker } from '../cmdq/index.js';
import { EXIT_CHECK_FAILED, EXIT_OK, UsageError, out, printJson, warn } from './common.js';

function readMaybeGz(path: string, option: string): Buffer {
  let b: Buffer;
  try {
    b = readFileSync(path);
  } catch (e) {
    throw new UsageError(
      `${option}: cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
    );
  }
  return b.length >= 2 && b[0] === 0x1f && b[1] === 0x8b ? gunzipSync(b) : b;
}

export function runQemuConformance(
  trace: string,
  ring: string,
  regs: Record<string, number>,
  checker: CommandChecker,
  json: boolean,
): number {
  const dump = readMaybeGz(ring, '--qemu-ring');
  const s = readRing(new Uint8Array(dump.buffer, dump.byteOffset, dump.length), {
    ...(regs.CMDQ_PROD !== undefined ? { prod: regs.CMDQ_PROD } : {}),
    ...(regs.CMDQ_CONS !== undefined ? { cons: regs.CMDQ_CONS } : {}),
    ...(regs.LOG2SIZE !== undefined ? { log2size: regs.LOG2SIZE } : {}),
  });
  const lines = readMaybeGz(trace, '--qemu-trace').toString('utf8').split('\n');
  const rep = compareQemuRanges(interpret(s, checker), s.slot, traceRangesBySlot(lines));
  if (json) printJson({ kind: 'qemu-conformance', ...rep });
  else {
    out(`QEMU conformance: ${rep.compared} range TLBIs compared, ${rep.untraced} not in the trace`);
    out(`Issues: ${rep.issues.length}`);
    for (const i of rep.issues) out(`  #${i.index} (slot ${i.slot}, trace line ${i.line}) ${i.kind}: ${i.message}`);
    if (rep.issues.length > 0) warn(`${rep.issues.length} conformance issue(s)`);
  }
  return rep.issues.length > 0 ? EXIT_CHECK_FAILED : EXIT_OK;
}
