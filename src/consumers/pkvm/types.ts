/**
 * The pKVM-style hypervisor consumer's objects: its options (SMMUs, host RAM, host devices), the VMs it runs,
 * the ownership of a host page, and its counters. What the hypervisor does with them is ../pkvm.ts.
 */
import type { Granule } from '../../pgtable/config.js';
import type { PhysMemory } from '../../pgtable/memory.js';
import type { IoPageTable } from '../../pgtable/pagetable.js';
import type { TableConfig } from '../../smmu/walker.js';
import type { Policy } from '../../tlbi/index.js';
import type { InjectionPoints } from '../injection.js';
import type { SmmuSpec } from '../smmu-port.js';
import type { HeldFrames } from '../space.js';

/** A host device: StreamIDs on one SMMU; `stage1` when the host gives it a stage-1 table of its own. */
export interface HostDeviceSpec {
  readonly smmu: number;
  readonly sid: number;
  readonly ats: boolean;
}

export interface HypOptions {
  readonly smmus: readonly SmmuSpec[];
  readonly granule: Granule;
  readonly policy: Policy;
  readonly seed?: number;
  /** Hooks that break the hypervisor at its injection points (a simulated fault). */
  readonly injection?: InjectionPoints;
  /** Host RAM mapped page by page (donations of any page-multiple range). */
  readonly pagedRam: { readonly base: number; readonly size: number };
  /** Host RAM mapped with level-2 blocks (donations of whole blocks). */
  readonly blockRam: { readonly base: number; readonly size: number };
  readonly hostDevices: readonly HostDeviceSpec[];
  readonly memory?: PhysMemory;
  /** Decode plans for statistics (over-invalidated pages); default true. */
  readonly planStatistics?: boolean;
}

export interface Vm {
  readonly id: number;
  readonly vmid: number;
  readonly ranges: { pa: number; size: number }[];
  readonly s2: IoPageTable;
  readonly frames: HeldFrames;
  readonly cfg: TableConfig;
  device: { smmu: number; sid: number } | null;
}

export interface HypCounters {
  donations: number;
  reclaims: number;
  shares: number;
  unshares: number;
  vmBoots: number;
  vmTeardowns: number;
  powerOffs: number;
  powerOns: number;
  hostBatches: number;
  hostAccesses: number;
  vmAccesses: number;
  /** Host accesses that reached a page the host does not own, or landed anywhere but their identity (must stay 0). */
  hostViolations: number;
  /** VM device accesses that did not land on the VM's pages (must stay 0). */
  vmViolations: number;
  /** Cache entries or translations that still reach donated pages after the donation returned (must stay 0). */
  isolationViolations: number;
  isolationChecks: number;
  /** Submissions in which a CMD_SYNC raised CERROR_ATC_INV_SYNC (a host ATS endpoint did not answer). */
  atcTimeouts: number;
  /** Host devices quarantined after such a timeout (shadow STE blocked, device reset, shadow restored). */
  quarantines: number;
}

/** Ownership of a host page. */
export type Owner = 'host' | 'vm' | 'hyp' | 'shared';

/** Every counter at 0. */
export function newHypCounters(): HypCounters {
  return {
    donations: 0,
    reclaims: 0,
    shares: 0,
    unshares: 0,
    vmBoots: 0,
    vmTeardowns: 0,
    powerOffs: 0,
    powerOns: 0,
    hostBatches: 0,
    hostAccesses: 0,
    vmAccesses: 0,
    hostViolations: 0,
    vmViolations: 0,
    isolationViolations: 0,
    isolationChecks: 0,
    atcTimeouts: 0,
    quarantines: 0,
  };
}
