/**
 * Configuration changes in the `simulate` workload (issue 14 item 14): every CONFIG_EVERY operations one
 * domain is given a new tag, so STEs and CDs change while the SMMUs hold them cached.
 *
 * - Stage 1 (and the guests of the nested workload): a new ASID is written into the domain's CDs (a
 *   hitless CD update: only the ASID's qword changes), then CFGI_CD for each (StreamID, SubstreamID) and a
 *   CMD_SYNC, then the old ASID is flushed (the engine's whole-tag plan: NH_ASID / EL2_ASID + CMD_SYNC).
 * - Stage 2: a new VMID is written into the domain's STEs (hitless: only S2VMID's qword changes), then
 *   CFGI_STE per StreamID + CMD_SYNC, then the old VMID is flushed (S12_VMALL + CMD_SYNC).
 *
 * This is Linux's order for a tag change: the configuration invalidation has completed before the old tag is
 * flushed, so no traffic can refill the old tag through a cached STE or CD afterwards (IHI 0070 §4.3.3: "software
 * must also invalidate TLBs using the old ASID"). The translations do not change (same tables), so the ATC
 * needs nothing. Afterwards the checker compares every cached STE/CD of the domain's streams with memory and
 * examines what the TLB still holds under the old tag. Traffic runs over a few pages of every stream while
 * the commands complete, so a stale structure is used.
 */
import { Kind, Regime } from '../smmu/caches.js';
import type { StaleChecker, StaleReport } from '../smmu/checker.js';
import type { SmmuModel, TrafficTarget } from '../smmu/model.js';
import type { StreamConfig } from '../smmu/streams.js';
import { invsOf, type InvKey, type Invs } from '../tlbi/invs.js';
import type { PlanOutput } from '../tlbi/output.js';
import { invalidateRange, type SmmuTable } from '../tlbi/plan.js';
import { encodeHalves, makeCommand, type Command } from '../cmdq/index.js';
import { applyFault, type EntryList, type FaultName } from './faults.js';

/** Operations between two configuration changes. */
export const CONFIG_EVERY = 8;

export interface TagDomain {
  invs: Invs;
  readonly stage: 1 | 2;
  readonly base: number;
  readonly attach: readonly { readonly smmu: number; readonly sid: number; readonly ssid: number }[];
}

export interface ConfigChangeEnv {
  readonly models: readonly SmmuModel[];
  readonly checkers: readonly StaleChecker[];
  readonly smmuTable: SmmuTable;
  readonly out: PlanOutput;
  readonly fault: FaultName | null;
  readonly e2h: boolean;
  /** Feed one SMMU's entries to its queue (recovering from command errors as the workload does). */
  feed(model: SmmuModel, list: EntryList): void;
}

/** One SMMU's side of a configuration change: its entries and what the checker found. */
export interface ConfigChangeResult {
  readonly smmu: number;
  readonly list: EntryList;
  readonly stale: readonly StaleReport[];
}

const SYNC: Command = { name: 'CMD_SYNC', cs: 2, msh: 3, msiattr: 0xf, msidata: 0, msiaddr: 0 };

function isTagKey(dom: TagDomain, t: string): boolean {
  return dom.stage === 1 ? t === 'S1_ASID' || t === 'S1_ASID_NESTED' : t === 'S2_VMID';
}

/** The domain's current tag (ASID or VMID), or -1 when it has none. */
export function tagOf(dom: TagDomain): number {
  for (let i = 0; i < dom.invs.count; i++) {
    const e = dom.invs.inv[i]!;
    if (e.users > 0 && isTagKey(dom, e.type)) return e.id;
  }
  return -1;
}

/** Give `dom` the tag `next` on every SMMU (see the module note); returns each SMMU's commands and reports. */
export function changeTag(env: ConfigChangeEnv, dom: TagDomain, next: number): ConfigChangeResult[] {
  const old = tagOf(dom);
  if (old < 0 || old === next) return [];
  const keys: InvKey[] = [];
  const oldKeys: InvKey[] = [];
  for (let i = 0; i < dom.invs.count; i++) {
    const e = dom.invs.inv[i]!;
    if (e.users === 0) continue;
    const k: InvKey = { smmu: e.smmu, type: e.type, id: e.id, ssid: e.ssid, vmid: e.vmid, pgsize: e.pgsize };
    if (isTagKey(dom, e.type)) {
      oldKeys.push(k);
      keys.push({ ...k, id: next });
    } else keys.push(k);
  }
  // 1. Write the STEs / CDs with the new tag and invalidate them (one batch per SMMU, then its CMD_SYNC).
  const cfgi: Command[][] = env.models.map(() => []);
  for (const a of dom.attach) {
    const model = env.models[a.smmu]!;
    const st = model.streams.get(a.sid);
    if (st === undefined) continue;
    if (dom.stage === 1) {
      const cd = st.cds?.get(a.ssid);
      if (cd === undefined) continue;
      const cds = new Map(st.cds);
      cds.set(a.ssid, { ...cd, asid: next });
      model.writeStream({ ...st, cds } satisfies StreamConfig);
      cfgi[a.smmu]!.push(makeCommand('CFGI_CD', { sid: a.sid, ssid: a.ssid, leaf: 1 }));
    } else {
      model.writeStream({ ...st, vmid: next });
      cfgi[a.smmu]!.push(makeCommand('CFGI_STE', { sid: a.sid, leaf: 1 }));
    }
  }
  // 2. Flush the old tag (the engine's whole-tag plan over the old keys).
  const out = env.out;
  out.clear();
  invalidateRange(invsOf(oldKeys), { iova: 0, size: 0, granule: 4096, leaf: false }, env.smmuTable, out);
  const flush: EntryList[] = env.models.map(() => []);
  const u32 = out.buf.u32;
  for (let k = 0; k < out.count; k++) {
    const i = k * 4;
    flush[out.smmuOf[k]!]!.push([u32[i]!, u32[i + 1]!, u32[i + 2]!, u32[i + 3]!]);
  }
  dom.invs = invsOf(keys);
  const results: ConfigChangeResult[] = [];
  for (let s = 0; s < env.models.length; s++) {
    const model = env.models[s]!;
    const list: EntryList = [];
    if (cfgi[s]!.length > 0) for (const c of [...cfgi[s]!, SYNC]) list.push(Array.from(encodeHalves(c)));
    // Tegra264: a configuration batch is issued twice, its CMD_SYNC with it (as the engine repeats TLBIs).
    if (env.smmuTable[s]?.repeat === true) list.push(...list.map((h) => h.slice()));
    // Fault asid-reuse-no-flush (L18): the tag is renumbered and the old one never flushed.
    if (env.fault !== 'asid-reuse-no-flush') list.push(...flush[s]!);
    if (list.length === 0) continue;
    if (env.fault !== null) applyFault(env.fault, list);
    const targets: TrafficTarget[] = dom.attach
      .filter((a) => a.smmu === s)
      .map((a) => ({ sid: a.sid, ssid: a.ssid, first: dom.base, last: dom.base + 0x3fff }));
    model.setTraffic(targets);
    env.feed(model, list);
    model.clearTraffic();
    const sids = [...new Set(dom.attach.filter((a) => a.smmu === s).map((a) => a.sid))];
    const stale = env.checkers[s]!.checkConfig(model, sids);
    const g = tagGroup(env, dom, s, old);
    stale.push(...env.checkers[s]!.checkTag(model, g.tag, g.asid));
    results.push({ smmu: s, list, stale });
  }
  return results;
}

/** The TLB tag group the domain's old tag lived in, and the ASID (undefined: every ASID of a VMID). */
function tagGroup(
  env: ConfigChangeEnv,
  dom: TagDomain,
  s: number,
  old: number,
): { tag: { regime: number; kind: number; vmid: number }; asid: number | undefined } {
  if (dom.stage === 2) return { tag: { regime: Regime.NH, kind: Kind.S2, vmid: old }, asid: undefined };
  const st = env.models[s]!.streams.get(dom.attach.find((a) => a.smmu === s)?.sid ?? -1);
  if (st?.mode === 'nested') return { tag: { regime: Regime.NH, kind: Kind.NESTED, vmid: st.vmid }, asid: old };
  return { tag: { regime: env.e2h ? Regime.EL2_E2H : Regime.NH, kind: Kind.S1, vmid: 0 }, asid: old };
}
