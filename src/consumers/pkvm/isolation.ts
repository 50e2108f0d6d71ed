/**
 * The pKVM-style hypervisor's security property, proved with the model: after a donation returned, no host
 * device on any powered-on SMMU reaches the donated range — through a TLB, walk-cache or ATC entry, or
 * through a translation.
 */
import type { AtcEntry } from '../../smmu/caches.js';
import { Kind, Regime } from '../../smmu/caches.js';
import { HOST_VMID } from '../host-cmdq-filter.js';
import type { SmmuPort } from '../smmu-port.js';
import type { HostDeviceSpec } from './types.js';

/** What the check looks at: the SMMUs, the host devices and the identity map the host translates through. */
export interface IsolationView {
  readonly ports: readonly SmmuPort[];
  readonly hostDevices: readonly HostDeviceSpec[];
  readonly granule: number;
  /** Root of the identity stage 2 (walk-cache entries of tables it no longer uses are violations). */
  readonly idmapRoot: number;
  /** Whether a host device has a stage-1 table of its own (shadowed as nested: it reaches memory by IOVA). */
  hasHostStage1(smmu: number, sid: number): boolean;
}

/** A host IOVA of a nested host device and the PA its stage 1 maps it to. */
export interface HostIova {
  readonly sid: number;
  readonly smmu: number;
  readonly iova: number;
  readonly pa: number;
}

/**
 * The violations of isolation of [pa, pa + size): TLB entries (stage 2 or nested, VMID 0) whose output or
 * IPA overlaps it, ATC entries of host devices over it, walk-cache entries the checker flags for the range,
 * and successful translations of it (stage-2 host devices at sampled pages, nested ones at `hostIovas`).
 */
export function isolationViolations(
  v: IsolationView,
  pa: number,
  size: number,
  hostIovas: readonly HostIova[],
): number {
  const last = pa + size - 1;
  let bad = 0;
  for (const p of v.ports) {
    if (!p.powered) continue;
    const m = p.model;
    for (const e of m.tlb.all) {
      if (e.regime !== Regime.NH || e.vmid !== HOST_VMID) continue;
      const span = 2 ** e.sizeLog2;
      const outFirst = e.outStart;
      if (outFirst <= last && outFirst + span - 1 >= pa) bad++;
      else if (e.kind === Kind.NESTED && e.ipa <= last && e.ipa + span - 1 >= pa) bad++;
    }
    const atc: AtcEntry[] = [];
    for (const d of v.hostDevices) if (d.smmu === p.id) m.atc.overlapping(d.sid, undefined, 0, 2 ** 64, atc);
    for (const e of atc) if (e.outPage <= last && e.outPage + 4095 >= pa) bad++;
    // Walk-cache entries: the checker knows which tables the idmap still uses.
    const walk = p.checkChange({ stage: 2, root: v.idmapRoot, first: pa, last });
    bad += walk.length;
    // Translations: stage-2 host devices at sampled pages of the range, nested ones at their IOVAs.
    const pages = size / v.granule;
    const samples = Math.min(pages, 8);
    for (const d of v.hostDevices) {
      if (d.smmu !== p.id || v.hasHostStage1(d.smmu, d.sid)) continue;
      for (let i = 0; i < samples; i++) {
        const page = samples === pages ? i : Math.floor((i * (pages - 1)) / (samples - 1));
        if (m.translate(d.sid, 0, pa + page * v.granule, false) >= 0) bad++;
      }
    }
    for (const h of hostIovas) {
      if (h.smmu !== p.id || h.pa < pa || h.pa > last) continue;
      if (m.translate(h.sid, 0, h.iova, false) >= 0) bad++;
    }
  }
  return bad;
}
