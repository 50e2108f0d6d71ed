/**
 * smmuv3-tlbi — the public API. Each area is available as a namespace (`bits`, `parse`, `cmdq`, `tlbi`,
 * `pgtable`, `smmu`, `audit`, `textdump`, `driver`, `pkvm`, `hostFilter`, `scenarios`); the engine's entry points, the
 * page table, the SMMU model and the codec's main functions are also exported directly.
 */
export * as bits from './bits.js';
export * as parse from './parse.js';
export * as cmdq from './cmdq/index.js';
export * as tlbi from './tlbi/index.js';
export * as pgtable from './pgtable/index.js';
export * as smmu from './smmu/index.js';
export * as audit from './audit/index.js';
export * as textdump from './textdump/index.js';
export * as driver from './consumers/driver.js';
export * as pkvm from './consumers/pkvm.js';
export * as hostFilter from './consumers/host-cmdq-filter.js';
export * as scenarios from './sim/scenarios/index.js';

export {
  Invs,
  emptyInvs,
  invsOf,
  mergeInvs,
  unrefInvs,
  purgeInvs,
  invalidateRange,
  tlbiInv,
  PlanOutput,
  planEntriesToJson,
  type Inv,
  type RangeRequest,
  type TlbiDescription,
  type SmmuOptions,
  type SmmuTable,
} from './tlbi/index.js';
export { IoPageTable, Gather, PhysMemory, FrameAllocator } from './pgtable/index.js';
export { SmmuModel } from './smmu/index.js';
export { CommandChecker, CommandBuffer, decodeSlot, decodeHalves, encodeCommand, encodeHalves } from './cmdq/index.js';
