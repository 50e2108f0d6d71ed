/**
 * The page's door to the engine: a request document (the JSON `smmuv3-tlbi plan` reads) is parsed and
 * checked by the core's own parser, planned by the core's own planner into a command buffer, and every
 * entry is decoded back from its 16-byte words by the codec. Nothing here plans anything itself.
 */
import { CommandChecker, decodeSlot } from '../../src/cmdq/index.js';
import { withFeatures } from '../../src/cmdq/features.js';
import {
  isTlbType,
  levelMask,
  tlbiShape,
  planLinuxReport,
  planTlbiReport,
  parsePlanRequest,
} from '../../src/tlbi/index.js';
import type { PlanEntry, PlanModel, Policy } from './plan-view.js';
import { commandClass, commandSpan } from './span.js';
import { log2Of } from '../../src/units.js';

/** Decoding what the planner wrote: a lax checker (the words are the engine's, judged elsewhere). */
const Checker = new CommandChecker({ lax: true });
/** The same for an SMMU with IDR5.DS, where SCALE is 6 bits wide (lax mode would drop its top bit otherwise). */
const DsChecker = new CommandChecker({ lax: true, features: withFeatures({ ds: true }) });

/**
 * Plan `doc` with the same calls `smmuv3-tlbi plan` makes (parsePlanRequest, then planLinuxReport or
 * planTlbiReport). Throws the core's InputError on a bad request; anything else is a bug.
 */
export function planDocument(doc: Record<string, unknown>, requestText: string): PlanModel {
  const req = parsePlanRequest(doc);
  let range: { start: number; end: number } | null;
  let stride: number;
  let pgsize: number;
  let report: ReturnType<typeof planLinuxReport>;
  if (req.policy === 'linux') {
    const r = req.range!;
    report = planLinuxReport(req.invs, r, req.table);
    range = r.size === 0 ? null : { start: r.iova, end: r.iova + r.size };
    stride = r.granule;
    pgsize = req.invs.live().find((e) => isTlbType(e.type))?.pgsize ?? 4096;
  } else {
    const t = req.tlbi!;
    report = planTlbiReport(req.invs, t, req.table);
    range = { start: t.start, end: t.last + 1 };
    const shape = tlbiShape(
      levelMask(t.leafLevels),
      levelMask(t.tableLevels),
      t.start,
      t.last + 1 - t.start,
      log2Of(t.granule),
    );
    stride = 2 ** shape.strideShift;
    pgsize = t.granule;
  }
  const out = report.out;
  const entries: PlanEntry[] = [];
  const u32 = out.buf.u32;
  for (let i = 0; i < out.count; i++) {
    const r = decodeSlot(u32, i, req.table[out.smmuOf[i]!]?.ds === true ? DsChecker : Checker);
    if (!r.ok) throw new Error(`entry ${i} the engine wrote does not decode: ${r.error.field}: ${r.error.reason}`);
    const cmd = r.command;
    entries.push({
      index: i,
      smmu: out.smmuOf[i]!,
      halves: [u32[i * 4]!, u32[i * 4 + 1]!, u32[i * 4 + 2]!, u32[i * 4 + 3]!],
      cmd,
      cls: commandClass(cmd),
      span: commandSpan(cmd, stride),
    });
  }
  return { policy: req.policy as Policy, request: requestText, entries, range, pgsize, stats: report.stats };
}
