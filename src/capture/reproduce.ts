/**
 * Reproduction: each request of a capture re-planned by the engine under the `linux` policy (compared word
 * for word with the ring slots its command lists occupied, CMD_SYNC included) and under the `tlbi` policy
 * (from the tlbi description of the request), with the over-invalidation each policy has.
 */
import { hex64 } from '../bits.js';
import { PlanOutput, invalidateRange, invsOf, planStats, tlbiInv, type InvKey, type SmmuTable } from '../tlbi/index.js';
import { tlbiDescription } from '../audit/replan.js';
import type { Request, TiedCapture } from './requests.js';

export interface Difference {
  readonly request: number;
  readonly line: number;
  readonly fn: string;
  readonly iova: number;
  readonly size: number;
  readonly granule: number;
  readonly leaf: boolean;
  readonly slots: readonly number[];
  readonly stream: readonly [string, string][];
  readonly linux: readonly [string, string][];
}

export interface PolicyTotals {
  commands: number;
  syncs: number;
  /** 4 KiB pages invalidated beyond what the requests asked for (ranged commands). */
  pagesOverInvalidated: number;
}

export interface Reproduction {
  readonly requests: number;
  /** Requests whose ring words are exactly the `linux` plan. */
  readonly identical: number;
  readonly different: number;
  /** Not re-planned: no target known, slots overwritten, or a target the engine does not plan. */
  readonly skipped: number;
  readonly stream: { commands: number; syncs: number };
  readonly linux: PolicyTotals;
  readonly tlbi: PolicyTotals;
  readonly firstDifferences: Difference[];
}

/** The ring words of a request: each command list's slots, then its CMD_SYNC slot. */
export function requestSlots(r: Request): number[] {
  const out: number[] = [];
  for (const l of r.cmdlists) {
    out.push(...l.slots);
    if (l.syncSlot >= 0) out.push(l.syncSlot);
  }
  return out;
}

function wordsAt(u32: Uint32Array, slot: number): [string, string] {
  const q = slot * 4;
  return [hex64(u32[q]!, u32[q + 1]!), hex64(u32[q + 2]!, u32[q + 3]!)];
}

export interface ReproduceOptions {
  readonly ring: Uint32Array;
  /** SMMU_IDR3.RIL and CR2.E2H of the SMMU. */
  readonly ril: boolean;
  readonly e2h: boolean;
  readonly maxDifferences?: number;
}

export function reproduce(tied: TiedCapture, o: ReproduceOptions): Reproduction {
  const smmus: SmmuTable = [{ ril: o.ril, e2h: o.e2h, forceSync: false }];
  const overwritten = new Set(tied.overwritten);
  const max = o.maxDifferences ?? 10;
  const out = new PlanOutput();
  const stream = { commands: 0, syncs: 0 };
  const linux: PolicyTotals = { commands: 0, syncs: 0, pagesOverInvalidated: 0 };
  const tlbi: PolicyTotals = { commands: 0, syncs: 0, pagesOverInvalidated: 0 };
  const firstDifferences: Difference[] = [];
  let identical = 0;
  let different = 0;
  let skipped = 0;
  for (const r of tied.requests) {
    const keys: InvKey[] = r.targets
      .filter((t) => t.type === 'S1_ASID' || t.type === 'S2_VMID' || t.type === 'S2_VMID_S1_CLEAR')
      .map((t) => ({ smmu: 0, type: t.type as InvKey['type'], id: t.id, ssid: 0, vmid: 0, pgsize: t.pgsize }));
    if (
      keys.length === 0 ||
      keys.length !== r.targets.length ||
      overwritten.has(r.id) ||
      r.cmdlists.some((l) => l.prod < 0)
    ) {
      skipped++;
      continue;
    }
    const invs = invsOf(keys);
    const slots = requestSlots(r);
    for (const l of r.cmdlists) {
      stream.commands += l.n;
      if (l.sync) stream.syncs++;
    }
    const req = {
      iova: r.iova,
      size: r.size,
      granule: r.granule === 0 ? (keys[0]!.pgsize ?? 4096) : r.granule,
      leaf: r.leaf,
    };
    out.clear();
    invalidateRange(invs, req, smmus, out);
    const ls = planStats(out, r.size, req.granule, invs);
    linux.commands += ls.commands;
    linux.syncs += ls.syncs;
    linux.pagesOverInvalidated += ls.pagesOverInvalidated;
    const u = out.buf.u32;
    let same = out.count === slots.length;
    for (let k = 0; same && k < out.count; k++) {
      const q = slots[k]! * 4;
      const p = k * 4;
      same =
        u[p] === o.ring[q] && u[p + 1] === o.ring[q + 1] && u[p + 2] === o.ring[q + 2] && u[p + 3] === o.ring[q + 3];
    }
    if (same) identical++;
    else {
      different++;
      if (firstDifferences.length < max) {
        const planned: [string, string][] = [];
        for (let k = 0; k < out.count; k++)
          planned.push([hex64(u[k * 4]!, u[k * 4 + 1]!), hex64(u[k * 4 + 2]!, u[k * 4 + 3]!)]);
        firstDifferences.push({
          request: r.id,
          line: r.line,
          fn: r.fn,
          iova: r.iova,
          size: r.size,
          granule: r.granule,
          leaf: r.leaf,
          slots,
          stream: slots.map((s) => wordsAt(o.ring, s)),
          linux: planned,
        });
      }
    }
    // The tlbi policy, from what the request says changed (size 0: everything, planned as Linux does).
    const d = tlbiDescription(req, keys[0]!.pgsize ?? 4096);
    out.clear();
    if (d === null) invalidateRange(invs, req, smmus, out);
    else tlbiInv(d, invs, smmus, out);
    const ts = planStats(out, r.size, req.granule, invs);
    tlbi.commands += ts.commands;
    tlbi.syncs += ts.syncs;
    tlbi.pagesOverInvalidated += ts.pagesOverInvalidated;
  }
  return {
    requests: tied.requests.length,
    identical,
    different,
    skipped,
    stream,
    linux,
    tlbi,
    firstDifferences,
  };
}
