/**
 * The kernel-driver consumer's invs bookkeeping: which invalidation targets a master brings to a domain,
 * merging them before an attach installs its STE/CD, unref'ing them when the master leaves, and the
 * whole-tag flush (one engine plan, size 0) of an ASID / VMID that lost its last user on an SMMU — with
 * the count of TLB and walk-cache entries still tagged with it afterwards.
 */
import { GLOBAL_ASID, Kind, Regime, type TlbEntry, type WalkEntry } from '../../smmu/caches.js';
import {
  invalidateRange,
  invsOf,
  isS1Type,
  isTlbType,
  mergeInvs,
  purgeInvs,
  unrefInvs,
  type Inv,
  type InvKey,
} from '../../tlbi/index.js';
import type { SmmuPort } from '../smmu-port.js';
import { portOf, type DriverCore } from './core.js';
import type { Domain, Master, VSmmu } from './domain.js';
import { EVERYTHING, planAndRun } from './routing.js';

/** The invalidation targets a master brings to a domain (for one PASID). */
export function keysFor(c: DriverCore, m: Master, d: Domain, pasid: number): InvKey[] {
  const smmu = m.smmu;
  const pgsize = c.granule;
  const keys: InvKey[] = [];
  if (d.kind === 's1') {
    // A guest stage 1 behind a vSMMU is tagged with the vSMMU's VMID: the nested target type.
    if (d.vsmmu !== null) keys.push({ smmu, type: 'S1_ASID_NESTED', id: d.tag, vmid: d.vsmmu.vmid, pgsize });
    else keys.push({ smmu, type: 'S1_ASID', id: d.tag, pgsize });
    if (m.ats) for (const sid of m.sids) keys.push({ smmu, type: 'ATS', id: sid, ssid: pasid, pgsize });
  } else if (d.kind === 's2') {
    keys.push({ smmu, type: 'S2_VMID', id: d.tag, pgsize });
    if (m.ats) for (const sid of m.sids) keys.push({ smmu, type: 'ATS', id: sid, ssid: 0, pgsize });
  } else {
    const v = m.vsmmu!;
    keys.push({ smmu, type: 'S2_VMID', id: v.vmid, pgsize });
    keys.push({ smmu, type: 'S2_VMID_S1_CLEAR', id: v.vmid, pgsize });
    if (m.ats) for (const sid of m.sids) keys.push({ smmu, type: 'ATS_FULL', id: sid, pgsize });
  }
  return keys;
}

/**
 * Step 1 of an attach: the new domain's array covers the master before it can translate through it (and,
 * for a guest domain, the nesting parent's array covers it as a nested device of the vSMMU, unless it was
 * already one). `oldV` is the vSMMU the master sat behind before.
 */
export function mergeForAttach(c: DriverCore, m: Master, d: Domain, pasid: number, oldV: VSmmu | null): void {
  if (d.vsmmu !== null) {
    d.invs = mergeInvs(d.invs, keysFor(c, m, d, 0));
    const parent = d.vsmmu.parent;
    const asNested = { ...m, vsmmu: d.vsmmu } as Master;
    if (oldV !== d.vsmmu) parent.invs = mergeInvs(parent.invs, keysFor(c, asNested, parent, 0));
  } else d.invs = mergeInvs(d.invs, keysFor(c, m, d, pasid));
}

/** The tail of a release: the master's targets leave `old` (and the parent of the vSMMU it left, if any). */
export function unrefMaster(c: DriverCore, m: Master, old: Domain, pasid: number, oldV: VSmmu | null): void {
  unref(c, old, keysFor(c, m, old, oldV !== null ? 0 : pasid));
  if (oldV !== null) unref(c, oldV.parent, keysFor(c, { ...m, vsmmu: oldV } as Master, oldV.parent, 0));
}

function unref(c: DriverCore, d: Domain, keys: InvKey[]): void {
  const r = unrefInvs(d.invs, keys);
  c.counters.unrefWarnings += r.warnings.length;
  const tags = r.trashed.filter((e) => isTlbType(e.type) || e.type === 'S2_VMID_S1_CLEAR');
  if (tags.length > 0) flushTags(c, d, tags);
  const p = purgeInvs(d.invs);
  if (p !== null) d.invs = p;
}

/** Whole-tag flush of tags that lost their last user on an SMMU (one engine plan, size 0). */
function flushTags(c: DriverCore, d: Domain, tags: readonly Inv[]): void {
  c.counters.tagFlushes++;
  const table = d.vsmmu !== null ? c.guestTable : c.smmuTable;
  const invs = invsOf(tags);
  planAndRun(c, d, (out) => invalidateRange(invs, EVERYTHING, table, out), null);
  for (const t of tags) {
    const port = portOf(c, t.smmu);
    if (!port.powered) continue;
    const n = leftoverTagEntries(port, t);
    c.stale.leftover(t.smmu, 'TLB', `${t.type} ${t.id} after its last user left`, n);
  }
}

/**
 * TLB and walk-cache entries still tagged with a target's ASID / VMID on its SMMU — global (nG = 0) stage-1
 * entries walked through the ASID's tables included: the ASID goes back to the allocator, and every
 * context of the VMID hits a global entry.
 */
function leftoverTagEntries(port: SmmuPort, t: Inv): number {
  let n = 0;
  const m = port.model;
  const s1 = isS1Type(t.type);
  const vmid = t.type === 'S1_ASID_NESTED' ? t.vmid : s1 ? 0 : t.id;
  const hit = (e: TlbEntry | WalkEntry): boolean =>
    s1 ? e.kind !== Kind.S2 && e.asid === t.id && e.vmid === vmid : e.regime === Regime.NH && e.vmid === vmid;
  for (const e of m.tlb.all)
    if (hit(e) || (s1 && e.asid === GLOBAL_ASID && e.srcAsid === t.id && e.kind !== Kind.S2 && e.vmid === vmid)) n++;
  for (const e of m.walkCache.all) if (hit(e)) n++;
  return n;
}
