/**
 * The kernel-driver consumer's shared state: what the concerns of this folder (configuration, target
 * bookkeeping, plan routing, ATS, guests) read and update. `Driver` (../driver.ts) builds one and passes it
 * to them; it is not part of the public API.
 */
import type { FrameAllocator, PhysMemory } from '../../pgtable/memory.js';
import type { Granule } from '../../pgtable/config.js';
import type { PlanOutput, SmmuTable } from '../../tlbi/index.js';
import type { InjectionPoints } from '../injection.js';
import type { RangeAllocator } from '../space.js';
import type { CommandStats, PlanTotals, SmmuPort, StaleLog } from '../smmu-port.js';
import type { DriverCounters, Master } from './domain.js';

export interface DriverCore {
  readonly mem: PhysMemory;
  readonly granule: Granule;
  /** Page-table frames of host-owned tables (and the frames the VMM moves guest tables to). */
  readonly tablePool: FrameAllocator;
  /** DMA buffers of host-owned domains, and guest RAM. */
  readonly data: RangeAllocator;
  readonly ports: readonly SmmuPort[];
  /** The engine's view of the SMMUs, for host domains. */
  readonly smmuTable: SmmuTable;
  /** The same SMMUs as a guest's emulated vSMMU queue sees them (no E2H: guests run at EL1). */
  readonly guestTable: SmmuTable;
  readonly stats: CommandStats;
  readonly counters: DriverCounters;
  readonly planTotals: PlanTotals;
  readonly stale: StaleLog;
  readonly masters: readonly Master[];
  readonly injection: InjectionPoints;
  /** The one plan output every plan of the driver is written into (cleared before each). */
  readonly out: PlanOutput;
  /** Masters by `sidKey(smmu, sid)`. */
  readonly bySid: Map<number, Master>;
  /** The master whose ATC `release` is flushing. */
  inRelease: Master | null;
}

/** The key of (SMMU, StreamID) in `DriverCore.bySid`. */
export function sidKey(smmu: number, sid: number): number {
  return smmu * 2 ** 32 + sid;
}

/** SMMU `id`, or a RangeError. */
export function portOf(c: DriverCore, id: number): SmmuPort {
  const p = c.ports[id];
  if (p === undefined) throw new RangeError(`no SMMU ${id}`);
  return p;
}
