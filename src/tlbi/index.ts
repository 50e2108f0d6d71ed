/**
 * The invalidation engine — public API.
 *
 * ## Targets: the invs array (invs.ts)
 * `Inv` = {smmu, type, id, ssid, vmid, pgsize, users}; `type` ∈ S1_ASID (id = ASID of a plain stage-1
 * domain, VMID 0), S1_ASID_NESTED (id = ASID, vmid = VMID of its nesting parent), S2_VMID (id = VMID),
 * S2_VMID_S1_CLEAR (id = VMID of a nesting parent), ATS (id = StreamID, ssid = SubstreamID, 0 = none),
 * ATS_FULL (id = StreamID). `pgsize` in bytes (4096 / 16384 / 65536).
 * `Invs` holds them sorted by (smmu, type, id, vmid for S1_ASID_NESTED, ssid for ATS types), deduplicated,
 * reference-counted:
 * - `mergeInvs(invs, keys)` → new Invs (present: users+1; new: users=1; trash dropped);
 * - `unrefInvs(invs, keys)` → in place: users−1, entries reaching 0 become trash (reported in `trashed`,
 *   skipped by planners), trailing trash cut; a missing key is a warning, never an exception;
 * - `purgeInvs(invs)` → new Invs without trash, or null when there is none.
 * A reader holding an Invs always sees a whole array: merge and purge build new ones; unref only lowers
 * `users` and `count`.
 *
 * ## SMMUs
 * `SmmuTable`: options indexed by SMMU id, `{ril, e2h, forceSync, ds?}` (ds: IDR5.DS, SCALE up to 39).
 *
 * ## Planning (plan.ts): append entries to a `PlanOutput`
 * - `invalidateRange(invs, {iova, size, granule, leaf}, smmus, out)`: policy `linux`, Linux's range loop as
 *   the per-domain arm_smmu_invs driver (7.1+, arm_smmu_domain_inv_range) runs it (size 0 = everything);
 *   checked word for word against real captures of Debian's 6.1, 6.12, 7.0 and 7.3 kernels (samples/).
 * - `tlbiInv({start, last, leafLevels, tableLevels, granule}, invs, smmus, out)`: policy `tlbi`.
 * Both return the number of entries appended and trust their inputs (check them with validate.ts at the
 * edges). No allocation per emitted command, no BigInt.
 *
 * ## Output (output.ts)
 * `PlanOutput.buf` is a CommandBuffer (16-byte little-endian entries, `buf.u32`, `buf.count`);
 * `smmuOf[k]` is the SMMU of entry k; `batchEnd[0 .. batchCount)` are the indexes one past each batch's
 * CMD_SYNC. To feed queues: for each entry in order, copy it (`copyEntry`) into the queue of `smmuOf[k]`.
 * A PlanOutput can be reused (`clear()`) and accumulates plans when not cleared.
 *
 * ## Edges
 * validate.ts: `parsePlanRequest(json)`, `checkRangeRequest`, `checkTlbi`, `parseSmmus`, `parseInvKeys` —
 * InputError naming the field. report.ts: `planEntriesToJson(out)` ({smmu, batch, name, fields, words}),
 * `planStats(...)`, and `planLinuxReport` / `planTlbiReport` that do all three.
 */
export * from './invs.js';
export * from './output.js';
export * from './plan.js';
export { levelMask } from '../tlbi-description.js';
export * from './range.js';
export * from './report.js';
export * from './validate.js';
