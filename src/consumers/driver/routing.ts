/**
 * The kernel-driver consumer's plan routing: every invalidation the driver makes is a plan of the engine
 * written into the shared output, checked (no ATC_INV to a device that left the domain), run with the
 * adversary's device traffic over the changed range, routed to each SMMU's queue, and followed by the
 * stale checker over what the change touched.
 */
import { Opcode } from '../../cmdq/opcodes.js';
import type { GatheredChanges } from '../../pgtable/gather.js';
import type { TlbiDescription } from '../../pgtable/pagetable.js';
import type { ChangeSpec } from '../../smmu/checker.js';
import type { TrafficTarget } from '../../smmu/model.js';
import { invalidateRange, tlbiInv, type PlanOutput } from '../../tlbi/index.js';
import { routePlan } from '../smmu-port.js';
import { portOf, sidKey, type DriverCore } from './core.js';
import type { Domain } from './domain.js';

/** Size 0: everything (whole-tag commands, ATC Size 52). */
export const EVERYTHING = { iova: 0, size: 0, granule: 4096, leaf: false } as const;

/**
 * Plan into the shared output, check that no ATC_INV is addressed to a device that left the domain, set
 * the adversary's traffic (the domain's devices over the changed range), route to the queues.
 */
export function planAndRun(
  c: DriverCore,
  d: Domain,
  plan: (out: PlanOutput) => void,
  desc: TlbiDescription | null,
): void {
  const out = c.out;
  out.clear();
  plan(out);
  if (out.count === 0) return;
  checkAtcTargets(c, d, out);
  const first = desc?.start ?? d.mappedFirst;
  const last = desc?.last ?? d.mappedLast;
  if (first <= last) setTraffic(c, d, first, last);
  try {
    routePlan(out, 0, c.ports, c.injection, c.stats);
  } finally {
    for (const p of c.ports) p.model.clearTraffic();
  }
}

/** Plan the invalidation of gathered changes with the domain's policy, run it, check what it touched. */
export function invalidateChanges(c: DriverCore, d: Domain, g: GatheredChanges, everythingForLinux: boolean): void {
  const desc = g.tlbi!;
  const table = d.vsmmu !== null ? c.guestTable : c.smmuTable;
  planAndRun(
    c,
    d,
    (out) => {
      if (d.policy === 'tlbi') tlbiInv(desc, d.invs, table, out);
      else if (everythingForLinux) invalidateRange(d.invs, EVERYTHING, table, out);
      else for (const req of g.linuxRequests) invalidateRange(d.invs, req, table, out);
      c.planTotals.add(out, desc, d.policy, d.invs);
    },
    desc,
  );
  const change: ChangeSpec = { stage: d.stage, root: d.tableConfig.root, first: desc.start, last: desc.last };
  for (const id of smmusOf(d)) c.stale.note(portOf(c, id).checkChange(change));
}

/** SMMU ids on which a domain has live targets. */
export function smmusOf(d: Domain): number[] {
  const ids = new Set<number>();
  for (let i = 0; i < d.invs.count; i++) if (d.invs.inv[i]!.users > 0) ids.add(d.invs.inv[i]!.smmu);
  return [...ids];
}

/** Count the plan's ATC_INVs addressed to a StreamID no longer attached to `d` (counter `atcToDetached`). */
function checkAtcTargets(c: DriverCore, d: Domain, out: PlanOutput): void {
  const u32 = out.buf.u32;
  for (let k = 0; k < out.count; k++) {
    if ((u32[k * 4]! & 0xff) !== Opcode.ATC_INV) continue;
    const m = c.bySid.get(sidKey(out.smmuOf[k]!, u32[k * 4 + 1]!));
    // The device-wide flush of a release goes to the master leaving `d` (its STE already changed).
    if (m !== undefined && m === c.inRelease) continue;
    const attached =
      m !== undefined &&
      (m.rid === d || [...m.pasids.values()].includes(d) || (m.vsmmu !== null && m.vsmmu.parent === d));
    if (!attached) c.counters.atcToDetached++;
  }
}

/** The adversary's device traffic during a plan: every device of `d` over [first, last] (or its guest IOVAs). */
function setTraffic(c: DriverCore, d: Domain, first: number, last: number): void {
  const per = new Map<number, TrafficTarget[]>();
  for (const m of c.masters) {
    const ssids: number[] = [];
    let lo = first;
    let hi = last;
    if (m.rid === d || (m.vsmmu !== null && m.vsmmu.parent === d)) {
      ssids.push(0);
      if (m.vsmmu !== null && m.vsmmu.parent === d && m.rid !== null) {
        // A stage-2 change reaches a nested device through its guest's IOVAs.
        lo = m.rid.mappedFirst;
        hi = m.rid.mappedLast;
      }
    }
    for (const [p, pd] of m.pasids) if (pd === d) ssids.push(p);
    if (ssids.length === 0 || lo > hi) continue;
    let list = per.get(m.smmu);
    if (list === undefined) per.set(m.smmu, (list = []));
    for (const sid of m.sids) for (const ssid of ssids) list.push({ sid, ssid, first: lo, last: hi });
  }
  for (const [id, ts] of per) portOf(c, id).model.setTraffic(ts);
}
