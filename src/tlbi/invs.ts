/**
 * The invalidation-target array of a domain: which caches (an SMMU's TLB under an ASID or VMID, a device's
 * ATC under a StreamID) may hold translations from the domain's page table. It is sorted, deduplicated and
 * reference-counted, with the semantics of Linux's per-domain `arm_smmu_invs`:
 *
 * - `mergeInvs(invs, toMerge)` returns a NEW array (a reader holding the old one keeps a whole, consistent
 *   array): entries already present get users + 1, new ones users = 1, trash (users = 0) is dropped.
 * - `unrefInvs(invs, toUnref)` works IN PLACE and cannot fail: users − 1; an entry reaching 0 becomes trash
 *   (kept in place so concurrent readers never see a shifted array, skipped by every reader) and is reported
 *   back; trailing trash is cut by shrinking `count`; an entry that is not present is reported as a warning.
 * - `purgeInvs(invs)` returns a NEW array without trash, or `null` when there is no trash.
 *
 * The key of an entry (sort order, equality) is (smmu, type in TYPE_ORDER, id, then vmid for S1_ASID_NESTED
 * only, then ssid for ATS types only); `pgsize` is an attribute carried along, not part of the key. Two
 * S1_ASID_NESTED targets with the same ASID under different VMIDs (two guests behind two vSMMUs on one SMMU)
 * are different TLB tags, hence different entries. `vmid` is meaningful for S1_ASID_NESTED only: every other
 * type stores 0 (a plain stage-1 STE is tagged with VMID 0, as Linux programs it; S2 types carry their VMID
 * in `id`).
 *
 * Sort order of the types (TYPE_ORDER): S1_ASID, S1_ASID_NESTED, S2_VMID, S2_VMID_S1_CLEAR, ATS, ATS_FULL —
 * Linux's enum order with the nested stage-1 type placed next to the other stage-1 type. S1_ASID_NESTED
 * batches like S1_ASID (its commands may share a batch with S1_ASID and S2_VMID commands of the same SMMU);
 * see the batching rules in plan.ts.
 */
import { Opcode } from '../cmdq/opcodes.js';
import { tlbiTagBits } from '../cmdq/writers.js';
import { log2Of } from '../units.js';

/** The kinds of target, in sort order (which is also the order commands are issued in). */
export const INV_TYPES = ['S1_ASID', 'S1_ASID_NESTED', 'S2_VMID', 'S2_VMID_S1_CLEAR', 'ATS', 'ATS_FULL'] as const;
export type InvType = (typeof INV_TYPES)[number];

/** Rank of each type in the sort order. */
export const TYPE_ORDER: Readonly<Record<InvType, number>> = {
  S1_ASID: 0,
  S1_ASID_NESTED: 1,
  S2_VMID: 2,
  S2_VMID_S1_CLEAR: 3,
  ATS: 4,
  ATS_FULL: 5,
};

// Type codes of the TLB targets (TYPE_ORDER): the planners' hot paths compare numbers, not strings.
const T_S1_ASID = TYPE_ORDER.S1_ASID;
const T_S1_ASID_NESTED = TYPE_ORDER.S1_ASID_NESTED;
const T_S2_VMID = TYPE_ORDER.S2_VMID;

/**
 * One invalidation target.
 * - `S1_ASID`: id = ASID of a plain stage-1 domain (its STE has no stage 2 and is tagged with VMID 0, as
 *   Linux's `struct arm_smmu_inv`, which has no VMID, assumes): TLBI_NH_VA / TLBI_NH_ASID with VMID 0, or
 *   TLBI_EL2_VA / TLBI_EL2_ASID under E2H.
 * - `S1_ASID_NESTED`: id = ASID, `vmid` = VMID of a stage-1 table under a nesting parent (a guest stage 1
 *   behind a vSMMU, pKVM's host stage 1 over its identity stage 2): TLBI_NH_VA / TLBI_NH_ASID carrying that
 *   VMID, as Linux's vSMMU forwarding path writes a guest's commands (the SMMU's E2H does not apply: such
 *   streams are EL1 streams under a stage 2).
 * - `S2_VMID`: id = VMID.
 * - `S2_VMID_S1_CLEAR`: id = VMID of a nesting parent; after the stage-2 invalidation completed, NH_ALL(VMID).
 * - `ATS`: id = StreamID, `ssid` = SubstreamID (0 = none).
 * - `ATS_FULL`: id = StreamID; always the whole ATC.
 * `pgsize` is the smallest page size of the domain on that SMMU in bytes (4096, 16384 or 65536): the TG of
 * range invalidations. `users` is the reference count; 0 marks trash.
 */
export interface Inv {
  readonly smmu: number;
  readonly type: InvType;
  readonly id: number;
  readonly ssid: number;
  readonly vmid: number;
  readonly pgsize: number;
  users: number;
}

/** What a caller provides to merge/unref: `users` is ignored, omitted numbers default to 0 (pgsize 4096). */
export interface InvKey {
  readonly smmu: number;
  readonly type: InvType;
  readonly id: number;
  readonly ssid?: number;
  readonly vmid?: number;
  readonly pgsize?: number;
}

/** The array: `inv[0 .. count)` are the live slots (trash included, with users = 0). */
export class Invs {
  /** Entries; only the first `count` are part of the array. Never reordered once published. */
  readonly inv: readonly Inv[];
  /** Number of slots in use (shrinks when unref cuts trailing trash). */
  count: number;
  /** Entries within `count` whose users is 0. */
  numTrashes: number;
  /** True when an ATS or ATS_FULL entry is present. */
  readonly hasAts: boolean;
  /** For planners: TYPE_ORDER of each entry's type (parallel to `inv`), so the hot path compares numbers. */
  readonly typeCode: Uint8Array;
  /** For planners: log2 of each entry's `pgsize` (parallel to `inv`). */
  readonly pgShift: Uint8Array;
  /** For planners: h1 of a TLB entry's commands (its ASID and VMID fields, `tlbiTagBits`); 0 for the others. */
  readonly tagBits: Int32Array;
  /** For planners: the ranged TLBI opcode of a TLB entry, [2i] without E2H and [2i + 1] with it; 0 for the others. */
  readonly rangeOp: Uint8Array;

  constructor(inv: readonly Inv[], numTrashes = 0) {
    this.inv = inv;
    this.count = inv.length;
    this.numTrashes = numTrashes;
    this.hasAts = inv.some((e) => isAtsType(e.type));
    this.typeCode = new Uint8Array(inv.length);
    this.pgShift = new Uint8Array(inv.length);
    this.tagBits = new Int32Array(inv.length);
    this.rangeOp = new Uint8Array(2 * inv.length);
    for (let i = 0; i < inv.length; i++) {
      const e = inv[i]!;
      const type = TYPE_ORDER[e.type];
      this.typeCode[i] = type;
      this.pgShift[i] = log2Of(e.pgsize);
      if (type > T_S2_VMID) continue;
      this.tagBits[i] = tlbiTagBits(tlbAsid(e, type), tlbVmid(e, type));
      this.rangeOp[2 * i] = tlbRangeOpcode(type, false);
      this.rangeOp[2 * i + 1] = tlbRangeOpcode(type, true);
    }
  }

  /** The live (non-trash) entries, as a new array (for display and tests; readers index `inv` directly). */
  live(): Inv[] {
    const out: Inv[] = [];
    for (let i = 0; i < this.count; i++) if (this.inv[i]!.users > 0) out.push(this.inv[i]!);
    return out;
  }
}

/** The ASID field of a TLB target's commands (by its type code): the id of a stage-1 target, else 0. */
export function tlbAsid(cur: Inv, type: number): number {
  return type < T_S2_VMID ? cur.id : 0;
}

/**
 * The VMID field of a TLB target's commands (by its type code): S1_ASID 0 (a plain stage-1 STE is tagged with
 * VMID 0; EL2 commands have no VMID), S1_ASID_NESTED its `vmid`, S2_VMID its id.
 */
export function tlbVmid(cur: Inv, type: number): number {
  return type === T_S1_ASID ? 0 : type === T_S1_ASID_NESTED ? cur.vmid : cur.id;
}

/** Whole-tag opcode of a TLB target: S1_ASID under E2H uses the EL2 form, S1_ASID_NESTED never does. */
export function tlbTagOpcode(type: number, e2h: boolean): number {
  if (type === T_S1_ASID) return e2h ? Opcode.TLBI_EL2_ASID : Opcode.TLBI_NH_ASID;
  return type === T_S1_ASID_NESTED ? Opcode.TLBI_NH_ASID : Opcode.TLBI_S12_VMALL;
}

/** Ranged opcode of a TLB target (see tlbTagOpcode). */
export function tlbRangeOpcode(type: number, e2h: boolean): number {
  if (type === T_S1_ASID) return e2h ? Opcode.TLBI_EL2_VA : Opcode.TLBI_NH_VA;
  return type === T_S1_ASID_NESTED ? Opcode.TLBI_NH_VA : Opcode.TLBI_S2_IPA;
}

/** True for the TLB types tagged by an ASID (S1_ASID, S1_ASID_NESTED). */
export function isS1Type(t: InvType): boolean {
  return t === 'S1_ASID' || t === 'S1_ASID_NESTED';
}

/** True for the targets of an SMMU TLB whose page size matters: the stage-1 types and S2_VMID. */
export function isTlbType(t: InvType): boolean {
  return t === 'S1_ASID' || t === 'S1_ASID_NESTED' || t === 'S2_VMID';
}

export function isAtsType(t: InvType): boolean {
  return t === 'ATS' || t === 'ATS_FULL';
}

/** The empty array. */
export function emptyInvs(): Invs {
  return new Invs([]);
}

/** Compare two targets by key: SMMU, type rank, id, then vmid for S1_ASID_NESTED, ssid for ATS types. */
export function compareInv(a: InvKey, b: InvKey): number {
  if (a.smmu !== b.smmu) return a.smmu < b.smmu ? -1 : 1;
  const ta = TYPE_ORDER[a.type];
  const tb = TYPE_ORDER[b.type];
  if (ta !== tb) return ta < tb ? -1 : 1;
  if (a.id !== b.id) return a.id < b.id ? -1 : 1;
  if (a.type === 'S1_ASID_NESTED') {
    const va = a.vmid ?? 0;
    const vb = b.vmid ?? 0;
    if (va !== vb) return va < vb ? -1 : 1;
  }
  if (isAtsType(a.type)) {
    const sa = a.ssid ?? 0;
    const sb = b.ssid ?? 0;
    if (sa !== sb) return sa < sb ? -1 : 1;
  }
  return 0;
}

function makeInv(k: InvKey, users: number): Inv {
  return {
    smmu: k.smmu,
    type: k.type,
    id: k.id,
    ssid: k.ssid ?? 0,
    vmid: k.type === 'S1_ASID_NESTED' ? (k.vmid ?? 0) : 0,
    pgsize: k.pgsize ?? 4096,
    users,
  };
}

/** Sorted copy of the keys, equal keys grouped with their multiplicity. */
function sortedGroups(keys: readonly InvKey[]): { key: InvKey; n: number }[] {
  const s = [...keys].sort(compareInv);
  const out: { key: InvKey; n: number }[] = [];
  for (const k of s) {
    const last = out[out.length - 1];
    if (last !== undefined && compareInv(last.key, k) === 0) last.n++;
    else out.push({ key: k, n: 1 });
  }
  return out;
}

/**
 * A new array holding `invs` plus `toMerge` (which need not be sorted). An entry of `toMerge` that is
 * already present adds one user (the existing entry's attributes are kept); a new one starts with one user;
 * a key given k times adds k users. Trash of `invs` is dropped (re-merging a trashed key revives it with
 * users = 1). `invs` is not modified.
 */
export function mergeInvs(invs: Invs, toMerge: readonly InvKey[]): Invs {
  const add = sortedGroups(toMerge);
  const out: Inv[] = [];
  let i = 0;
  let j = 0;
  const n = invs.count;
  while (i < n || j < add.length) {
    const cur = i < n ? invs.inv[i]! : undefined;
    if (cur !== undefined && cur.users === 0) {
      i++;
      continue;
    }
    const m = j < add.length ? add[j]! : undefined;
    const c = cur === undefined ? 1 : m === undefined ? -1 : compareInv(cur, m.key);
    if (c < 0) {
      out.push(makeInv(cur!, cur!.users));
      i++;
    } else if (c > 0) {
      out.push(makeInv(m!.key, m!.n));
      j++;
    } else {
      out.push(makeInv(cur!, cur!.users + m!.n));
      i++;
      j++;
    }
  }
  return new Invs(out);
}

/** What unref reports: entries that became trash, and keys that were not found (a warning each). */
export interface UnrefResult {
  /** The entries whose users reached 0 (the caller flushes their IOTLB tag / ATC when it needs to). */
  readonly trashed: Inv[];
  /** One message per key of `toUnref` that matched no live entry. */
  readonly warnings: string[];
}

function keyText(k: InvKey): string {
  const ssid = isAtsType(k.type) ? ` ssid ${k.ssid ?? 0}` : '';
  const vmid = k.type === 'S1_ASID_NESTED' ? ` vmid ${k.vmid ?? 0}` : '';
  return `{smmu ${k.smmu}, ${k.type}, id ${k.id}${vmid}${ssid}}`;
}

/**
 * Drop one user of each key of `toUnref`, in place (never throws). Entries reaching 0 become trash and are
 * reported; trash at the end of the array is cut off (`count` shrinks, `numTrashes` with it), trash in the
 * middle stays counted until `purgeInvs`.
 */
export function unrefInvs(invs: Invs, toUnref: readonly InvKey[]): UnrefResult {
  const trashed: Inv[] = [];
  const warnings: string[] = [];
  const keys = [...toUnref].sort(compareInv);
  let i = 0;
  for (const k of keys) {
    // Advance to the first entry not below k (keys are sorted, so the walk is linear overall).
    while (i < invs.count && compareInv(invs.inv[i]!, k) < 0) i++;
    const e = i < invs.count ? invs.inv[i]! : undefined;
    if (e === undefined || compareInv(e, k) !== 0 || e.users === 0) {
      warnings.push(`unref of ${keyText(k)}: no such entry`);
      continue;
    }
    e.users--;
    if (e.users === 0) {
      invs.numTrashes++;
      trashed.push(e);
    }
  }
  while (invs.count > 0 && invs.inv[invs.count - 1]!.users === 0) {
    invs.count--;
    invs.numTrashes--;
  }
  return { trashed, warnings };
}

/** A new array without trash, or null when there is none (the old array stays valid either way). */
export function purgeInvs(invs: Invs): Invs | null {
  if (invs.numTrashes === 0) return null;
  const out: Inv[] = [];
  for (let i = 0; i < invs.count; i++) {
    const e = invs.inv[i]!;
    if (e.users > 0) out.push(makeInv(e, e.users));
  }
  return new Invs(out);
}

/** An array built from targets (each with one user per occurrence). */
export function invsOf(keys: readonly InvKey[]): Invs {
  return mergeInvs(emptyInvs(), keys);
}
