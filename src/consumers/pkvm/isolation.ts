/**
 * The pKVM-style hypervisor's security property, proved with the model: after a donation returned, no host
 * device on any powered-on SMMU reaches the donated range — through a TLB, walk-cache or ATC entry, or
 * through a translation.
 */
import type { AtcEntry, TlbEntry } from '../../smmu/caches.js';
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

const outStartOf = (e: TlbEntry): number => e.outStart;

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
    // TLB entries of the host (NS-EL1, VMID 0) whose output overlaps the range, through the TLB's index by
    // output; then the host's nested entries whose IPA overlaps it (each entry counted once).
    const tlbs: TlbEntry[] = [];
    m.tlb.overlappingOutput(pa, last, tlbs, outStartOf);
    for (const e of tlbs) if (e.regime === Regime.NH && e.vmid === HOST_VMID) bad++;
    const nested: TlbEntry[] = [];
    m.tlb.group(Regime.NH, Kind.NESTED, HOST_VMID)?.byIpa?.collect(pa, last, nested);
    for (const e of nested) if (!(e.outStart <= last && e.outStart + 2 ** e.sizeLog2 - 1 >= pa)) bad++;
    // ATC entries over the range, once per host device of this SMMU with the entry's StreamID.
    const atc: AtcEntry[] = [];
    m.atc.overlappingOutput(pa, last, atc);
    for (const e of atc) for (const d of v.hostDevices) if (d.smmu === p.id && d.sid === e.sid) bad++;
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
