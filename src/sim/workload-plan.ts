/**
 * The workload's consumer between a table change and the queues: plan the invalidation of one unmap with the
 * engine (or as a broken consumer plans it: faults illegal-range-encoding and end-off-by-one live here, where
 * those bugs lived), split the plan by SMMU, and write one SMMU's entries into its queue, recovering from
 * CERROR_ILL as Linux does (a CMD_SYNC written over the refused slot).
 */
import { CheckedEntry, FIELD_IDS } from '../cmdq/check.js';
import { writeSync } from '../cmdq/writers.js';
import type { UnmapResult } from '../pgtable/pagetable.js';
import type { SmmuModel } from '../smmu/model.js';
import type { Invs } from '../tlbi/invs.js';
import type { PlanOutput } from '../tlbi/output.js';
import { invalidateRange, tlbiInv, type Policy, type SmmuTable, type TlbiDescription } from '../tlbi/plan.js';
import { RANGE_OPS, decodeEntry, opOf, rewriteRange } from './entry-edit.js';
import type { EntryList, FaultName } from './faults.js';

/** What a change is planned with. */
export interface PlanContext {
  readonly policy: Policy;
  readonly fault: FaultName | null;
  readonly smmuTable: SmmuTable;
  readonly granule: number;
}

/** Plan the invalidation of an unmap (its tlbi description and Linux-style requests) over `invs` into `out`. */
export function planUnmap(
  ctx: PlanContext,
  invs: Invs,
  tlbi: TlbiDescription,
  requests: UnmapResult['linuxRequests'],
  out: PlanOutput,
): void {
  const table = ctx.smmuTable;
  if (ctx.fault === 'illegal-range-encoding') planSvaUnfixed(ctx, invs, tlbi, out);
  else if (ctx.fault === 'end-off-by-one') {
    // The consumer's bug (L9): the inclusive last byte taken for an exclusive end, so the size is one short.
    if (ctx.policy === 'linux') {
      for (const r of requests) invalidateRange(invs, { ...r, size: r.size > 1 ? r.size - 1 : r.size }, table, out);
    } else tlbiInv({ ...tlbi, last: tlbi.last > tlbi.start ? tlbi.last - 1 : tlbi.last }, invs, table, out);
  } else if (ctx.policy === 'linux') for (const r of requests) invalidateRange(invs, r, table, out);
  else tlbiInv(tlbi, invs, table, out);
}

const scratch = new CheckedEntry();

/**
 * Fault illegal-range-encoding (L11): the SVA consumer invalidates every change as one non-leaf range, and
 * the engine lacks eb6c97647be2's extra page: a range of num_pages % 32 == 1 starts with its first page alone,
 * TG≠0 with TTL = SCALE = NUM = 0 (IHI 0070 4.4.1.1: CERROR_ILL), the rest as the fixed loop plans it.
 */
function planSvaUnfixed(ctx: PlanContext, invs: Invs, t: TlbiDescription, out: PlanOutput): void {
  const g = ctx.granule;
  const table = ctx.smmuTable;
  const pages = Math.floor((t.last - t.start + 1) / g);
  if (pages - Math.floor(pages / 32) * 32 !== 1) {
    invalidateRange(invs, { iova: t.start, size: pages * g, granule: g, leaf: false }, table, out);
    return;
  }
  const at = out.count;
  // One page, non-leaf: the fixed engine plans two (SCALE 1, NUM 0); the old arithmetic had SCALE 0.
  invalidateRange(invs, { iova: t.start, size: g, granule: g, leaf: false }, table, out);
  const u32 = out.buf.u32;
  for (let k = at; k < out.count; k++) {
    const h = Array.from(u32.subarray(k * 4, k * 4 + 4));
    if (!RANGE_OPS.has(opOf(h))) continue;
    const e = decodeEntry(h, scratch);
    if (e.values[FIELD_IDS.tg] !== 0) u32.set(rewriteRange(h, e, { scale: 0 }), k * 4);
  }
  if (pages > 1)
    invalidateRange(invs, { iova: t.start + g, size: (pages - 1) * g, granule: g, leaf: false }, table, out);
}

/** Each SMMU's entries of the plan in `out`, in order, into `perSmmu` (one list per SMMU, emptied first). */
export function splitBySmmu(out: PlanOutput, perSmmu: EntryList[]): void {
  const u32 = out.buf.u32;
  for (const l of perSmmu) l.length = 0;
  for (let k = 0; k < out.count; k++) {
    const i = k * 4;
    perSmmu[out.smmuOf[k]!]!.push([u32[i]!, u32[i + 1]!, u32[i + 2]!, u32[i + 3]!]);
  }
}

/**
 * Write a change's entries into a model's queue (`onCommands` sees them first, as written); recover from
 * CERROR_ILL as Linux does (CMD_SYNC over the slot).
 */
export function feedQueue(
  model: SmmuModel,
  list: EntryList,
  onCommands: ((smmu: number, entries: Uint32Array) => void) | undefined,
): void {
  const u32 = new Uint32Array(list.length * 4);
  for (let k = 0; k < list.length; k++) u32.set(list[k]!, k * 4);
  onCommands?.(model.id, u32);
  let done = 0;
  while (done < list.length) {
    done += model.submit(u32, done, list.length - done);
    if (model.queue.stalled) {
      const q = model.queue;
      const fix = new Uint32Array(4);
      writeSync(fix, 0, 2, 3, 15, 0, 0);
      q.writeAt(q.slotOf(q.cons), fix[0]!, fix[1]!, fix[2]!, fix[3]!);
      model.acknowledgeError();
    }
  }
}
