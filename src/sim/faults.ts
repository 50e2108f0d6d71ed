/**
 * Fault injection between the engine and the command queues: each fault breaks the command stream of one
 * change in a way real drivers have (or could have) got wrong, so that users can watch the checker catch it.
 * Faults edit 16-byte entries through the codec's field table (src/cmdq), per SMMU. The consumers are
 * broken through their injection points (src/consumers/injection.ts), which `faultInjection` implements.
 */
import { CheckedEntry, FIELD_IDS } from '../cmdq/check.js';
import { Opcode } from '../cmdq/opcodes.js';
import { NO_INJECTION, type EntryList, type InjectionPoints } from '../consumers/injection.js';
import { writeTlbiRange } from '../cmdq/writers.js';
import { granuleLog2OfTg } from '../units.js';
import {
  RANGE_OPS,
  decodeEntry,
  dropWhere,
  isTlbi,
  lastIndex,
  opOf,
  rewriteRange,
  type RangeOverride,
} from './entry-edit.js';

export const FAULT_NAMES = [
  'drop-sync',
  'skip-last-tlbi',
  'leaf-always',
  'wrong-ttl',
  'wrong-tg',
  'no-atc',
  'atc-before-tlbi',
  'no-nested-s1-clear',
  'short-range',
  'no-repeat',
  'no-cfgi',
  'nested-vmid-missing',
  'nh-under-e2h',
  'first-page-only',
  'tg-from-empty-pgsize',
  'illegal-range-encoding',
  'no-force-sync',
  'scale-beyond-smmu',
  'end-off-by-one',
  'asid-reuse-no-flush',
  'no-atc-on-detach',
  'ignore-atc-timeout',
] as const;
export type FaultName = (typeof FAULT_NAMES)[number];

export const FAULT_HELP: Readonly<Record<FaultName, string>> = {
  'drop-sync': 'drop the last CMD_SYNC of each SMMU: the invalidations are never guaranteed complete',
  'skip-last-tlbi': 'drop the last TLB invalidation of each SMMU',
  'leaf-always': 'set Leaf=1 on every address invalidation, even when table descriptors were freed',
  'wrong-ttl': 'change every non-zero TTL hint to another level (3 ↔ 2, 1 → 3)',
  'wrong-tg': 'change the TG (granule) of every range invalidation',
  'no-atc': 'drop every ATC_INV',
  'atc-before-tlbi': 'move the ATC_INVs in front of the TLB invalidations, before their CMD_SYNC',
  'no-nested-s1-clear': 'drop the TLBI_NH_ALL that clears nested stage-1 entries after a stage-2 change',
  'short-range': 'make the last address invalidation of each SMMU cover one page too few',
  'no-repeat': 'issue each invalidation batch once on an SMMU with the Tegra264 erratum (drop the repeated copy)',
  'no-cfgi': 'drop every CFGI_* (configuration invalidation): STE and CD changes reach memory only',
  'nested-vmid-missing': 'write VMID 0 in every TLBI_NH_VA (a nested guest stage 1 is tagged with its parent VMID)',
  'nh-under-e2h': 'use TLBI_NH_VA / TLBI_NH_ASID instead of TLBI_EL2_VA / TLBI_EL2_ASID on an SMMU running with E2H',
  'first-page-only': 'make every address invalidation cover its first page only (range commands and per-page runs)',
  'tg-from-empty-pgsize':
    'take TG from an empty page-size set (__ffs(0) = 64 → TG 3, the 64K granule) on every range command',
  'illegal-range-encoding':
    'emit a one-page non-leaf range command as TG≠0 with TTL = SCALE = NUM = 0 (the pre-eb6c97647be2 arithmetic)',
  'no-force-sync':
    'leave out the CMD_SYNC every 63 commands that MMU-700 erratum 2812531 needs (engine option forceSync off)',
  'scale-beyond-smmu':
    'cover each whole-ASID flush by one range command over the whole 48-bit space (SCALE 36) as if the SMMU had IDR5.DS',
  'end-off-by-one':
    "the consumer takes the change's inclusive last byte for an exclusive end (the request is one byte short)",
  'asid-reuse-no-flush': 'renumber an ASID/VMID (CD/STE rewritten, CFGI + CMD_SYNC) without flushing the old tag',
  'no-atc-on-detach': "drop the ATC_INV of a device's whole ATC when it is detached or moved (driver scenario)",
  'ignore-atc-timeout':
    'the consumer acknowledges CERROR_ATC_INV_SYNC, lets the CMD_SYNC run again and treats the range as clean (no quarantine)',
};

export function isFaultName(s: string): s is FaultName {
  return (FAULT_NAMES as readonly string[]).includes(s);
}

const F = FIELD_IDS;

/** One SMMU's entries of a change, as halves (4 per entry). */
export type { EntryList };

const scratch = new CheckedEntry();

/**
 * A fault as the consumers' injection points: every fault edits each SMMU's share of a plan before it is
 * queued (`applyFault`; the consumer faults leave it as planned); `no-cfgi` also drops the CFGI_* commands of
 * configuration batches, `no-atc-on-detach` the device-wide ATC flush of a detach, and `ignore-atc-timeout`
 * the quarantine after CERROR_ATC_INV_SYNC. No fault: no hook.
 */
export function faultInjection(fault: FaultName | null | undefined): InjectionPoints {
  if (fault === null || fault === undefined) return NO_INJECTION;
  return {
    beforeQueue: (list) => applyFault(fault, list),
    ...(fault === 'no-cfgi' ? { atBatchSubmit: (cmds) => cmds.filter((c) => !c.name.startsWith('CFGI_')) } : {}),
    ...(fault === 'no-atc-on-detach' ? { onDetachAtcFlush: () => false } : {}),
    ...(fault === 'ignore-atc-timeout' ? { onAtcSyncTimeout: () => false } : {}),
  };
}

/** Apply `fault` to one SMMU's entries of a change (in place). */
export function applyFault(fault: FaultName, list: EntryList): void {
  FAULT_EDITS[fault](list);
}

/** Leave the entries as planned: the fault is injected elsewhere (see FAULT_EDITS). */
function asPlanned(): void {}

/** Drop the last CMD_SYNC. */
function dropLastSync(list: EntryList): void {
  const i = lastIndex(list, (op) => op === Opcode.CMD_SYNC);
  if (i >= 0) list.splice(i, 1);
}

/** Drop the last TLBI. */
function dropLastTlbi(list: EntryList): void {
  const i = lastIndex(list, (op) => isTlbi(op));
  if (i >= 0) list.splice(i, 1);
}

/** Leaf=1 on every range-capable TLBI. */
function leafAlways(list: EntryList): void {
  for (const h of list) if (RANGE_OPS.has(opOf(h))) h[2] = (h[2]! | 1) >>> 0;
}

/** Rewrite every range-capable TLBI through `edit` (its override, or null to keep the entry). */
function rewriteRanges(list: EntryList, edit: (v: Float64Array) => RangeOverride | null): void {
  for (let i = 0; i < list.length; i++) {
    const h = list[i]!;
    if (!RANGE_OPS.has(opOf(h))) continue;
    const e = decodeEntry(h, scratch);
    const over = edit(e.values);
    if (over !== null) list[i] = rewriteRange(h, e, over);
  }
}

/** Every non-zero TTL hint (with TG≠0) moved to another level: 3 ↔ 2, 1 → 3. */
function wrongTtl(list: EntryList): void {
  rewriteRanges(list, (v) => (v[F.tg] === 0 || v[F.ttl] === 0 ? null : { ttl: v[F.ttl] === 3 ? 2 : 3 }));
}

/** Every TG≠0 changed to another granule (kept legal: 16K with TTL=1 and NUM=SCALE=0 is reserved, so 64K). */
function wrongTg(list: EntryList): void {
  rewriteRanges(list, (v) => {
    const tg = v[F.tg]!;
    if (tg === 0) return null;
    let ntg = tg === 1 ? 2 : 1;
    if (ntg === 2 && v[F.ttl] === 1 && v[F.num] === 0 && v[F.scale] === 0) ntg = 3;
    return { tg: ntg };
  });
}

/** Every ATC_INV moved in front of the rest, before their CMD_SYNC. */
function atcFirst(list: EntryList): void {
  const atc = list.filter((h) => opOf(h) === Opcode.ATC_INV);
  if (atc.length === 0) return;
  const rest = list.filter((h) => opOf(h) !== Opcode.ATC_INV);
  list.length = 0;
  list.push(...atc, ...rest);
}

/** A batch (commands up to and including a CMD_SYNC) equal to the batch before it is the repeat: drop it. */
function dropRepeats(list: EntryList): void {
  const kept: EntryList = [];
  let prev: number[][] = [];
  let cur: number[][] = [];
  const same = (a: number[][], b: number[][]): boolean =>
    a.length === b.length && a.every((h, i) => h.every((x, j) => x === b[i]![j]));
  for (const h of list) {
    cur.push(h);
    if (opOf(h) !== Opcode.CMD_SYNC) continue;
    if (!same(cur, prev)) kept.push(...cur);
    prev = cur;
    cur = [];
  }
  kept.push(...cur);
  list.length = 0;
  list.push(...kept);
}

/** VMID 0 in every TLBI_NH_VA. */
function nestedVmidMissing(list: EntryList): void {
  for (const h of list) if (opOf(h) === Opcode.TLBI_NH_VA) h[1] = (h[1]! & 0xffff0000) >>> 0; // VMID is w0[47:32]
}

/** TLBI_NH_VA / TLBI_NH_ASID where TLBI_EL2_VA / TLBI_EL2_ASID were planned. */
function nhUnderE2h(list: EntryList): void {
  for (const h of list) {
    const op = opOf(h);
    if (op === Opcode.TLBI_EL2_VA) h[0] = ((h[0]! & ~0xff) | Opcode.TLBI_NH_VA) >>> 0;
    else if (op === Opcode.TLBI_EL2_ASID) h[0] = ((h[0]! & ~0xff) | Opcode.TLBI_NH_ASID) >>> 0;
  }
}

/** TG from an empty page-size set on every range command: (__ffs(0) − 10) / 2 = 27, the 2-bit field keeps 3. */
function tgFromEmptyPgsize(list: EntryList): void {
  rewriteRanges(list, (v) => (v[F.tg] === 0 ? null : { tg: 27 & 3 }));
}

/** Each whole-ASID flush as one range command over the whole 48-bit space (SCALE 36, which needs IDR5.DS). */
function scaleBeyondSmmu(list: EntryList): void {
  for (let i = 0; i < list.length; i++) {
    const h = list[i]!;
    const op = opOf(h);
    if (op !== Opcode.TLBI_NH_ASID && op !== Opcode.TLBI_EL2_ASID) continue;
    const v = decodeEntry(h, scratch).values;
    // 2^36 pages of 4 KiB from 0.
    const u = new Uint32Array(4);
    const va = op === Opcode.TLBI_NH_ASID ? Opcode.TLBI_NH_VA : Opcode.TLBI_EL2_VA;
    writeTlbiRange(u, 0, va, v[F.asid]!, v[F.vmid]!, 0, 36, 0, 0, 1, 0);
    list[i] = [u[0]!, u[1]!, u[2]!, u[3]!];
  }
}

/** The last range-capable TLBI covers one page too few. */
function shortRange(list: EntryList): void {
  const i = lastIndex(list, (op) => RANGE_OPS.has(op));
  if (i < 0) return;
  const h = list[i]!;
  const e = decodeEntry(h, scratch);
  const v = e.values;
  const tg = v[F.tg]!;
  if (tg === 0) {
    // One address (one page): leaving it out entirely is one page too few.
    list.splice(i, 1);
    return;
  }
  const g = 2 ** granuleLog2OfTg(tg);
  if (v[F.scale] === 0 && v[F.num]! > 0) list[i] = rewriteRange(h, e, { num: v[F.num]! - 1 });
  else if (v[F.scale] === 0) list.splice(i, 1);
  else list[i] = rewriteRange(h, e, { addr: v[F.addr]! + g }); // the range now starts one page late
}

/**
 * Each fault's edit of one SMMU's entries. The faults left as planned are injected where the bug lived:
 * engine options (no-force-sync), the workload's consumer (illegal-range-encoding, end-off-by-one in
 * workload-plan.ts), config-change.ts (asid-reuse-no-flush), the consumers' error handling and detach
 * (ignore-atc-timeout, no-atc-on-detach).
 */
const FAULT_EDITS: Readonly<Record<FaultName, (list: EntryList) => void>> = {
  'drop-sync': dropLastSync,
  'skip-last-tlbi': dropLastTlbi,
  'leaf-always': leafAlways,
  'wrong-ttl': wrongTtl,
  'wrong-tg': wrongTg,
  'no-atc': (list) => dropWhere(list, (op) => op === Opcode.ATC_INV),
  'atc-before-tlbi': atcFirst,
  'no-nested-s1-clear': (list) => dropWhere(list, (op) => op === Opcode.TLBI_NH_ALL),
  'short-range': shortRange,
  'no-repeat': dropRepeats,
  'no-cfgi': (list) => dropWhere(list, (op) => op >= Opcode.CFGI_STE && op <= Opcode.CFGI_VMS_PIDM),
  'nested-vmid-missing': nestedVmidMissing,
  'nh-under-e2h': nhUnderE2h,
  'first-page-only': firstPageOnly,
  'tg-from-empty-pgsize': tgFromEmptyPgsize,
  'illegal-range-encoding': asPlanned,
  'no-force-sync': asPlanned,
  'scale-beyond-smmu': scaleBeyondSmmu,
  'end-off-by-one': asPlanned,
  'asid-reuse-no-flush': asPlanned,
  'no-atc-on-detach': asPlanned,
  'ignore-atc-timeout': asPlanned,
};

/**
 * first-page-only: a range command keeps only its first page (NUM = SCALE = 0; TTL 0 would make that a
 * reserved encoding, so such a command becomes a single-address one, TG = 0); of a run of single-address
 * commands of one tag on consecutive pages (the per-page loop without RIL) only the first is kept.
 */
function firstPageOnly(list: EntryList): void {
  const kept: EntryList = [];
  let runKey = '';
  let runLast = -1;
  for (const h of list) {
    const op = opOf(h);
    if (!RANGE_OPS.has(op)) {
      runKey = '';
      kept.push(h);
      continue;
    }
    const e = decodeEntry(h, scratch);
    const v = e.values;
    if (v[F.tg] !== 0) {
      runKey = '';
      const single = v[F.ttl] === 0;
      kept.push(rewriteRange(h, e, { num: 0, scale: 0, ...(single ? { tg: 0 } : {}) }));
      continue;
    }
    const key = `${op}:${v[F.asid]}:${v[F.vmid]}:${v[F.leaf]}`;
    const addr = v[F.addr]!;
    if (key === runKey && addr > runLast) {
      runLast = addr;
      continue; // a later page of the run: left out
    }
    runKey = key;
    runLast = addr;
    kept.push(h);
  }
  list.length = 0;
  list.push(...kept);
}
