/**
 * Fault injection between the engine and the command queues: each fault breaks the command stream of one
 * change in a way real drivers have (or could have) got wrong, so that users can watch the checker catch it.
 * Faults edit 16-byte entries through the codec's field table (src/cmdq), per SMMU. The consumers are
 * broken through their injection points (src/consumers/injection.ts), which `faultInjection` implements.
 */
import { CheckedEntry, CommandChecker, FIELD_IDS } from '../cmdq/check.js';
import { OPCODE_SPECS, Opcode, type CommandName } from '../cmdq/opcodes.js';
import { NO_INJECTION, type EntryList, type InjectionPoints } from '../consumers/injection.js';
import { writeTlbiRange } from '../cmdq/writers.js';
import { granuleLog2OfTg } from '../units.js';

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
const RANGE_OPS = new Set<number>(
  (Object.keys(OPCODE_SPECS) as CommandName[]).filter((n) => OPCODE_SPECS[n].range).map((n) => Opcode[n]),
);

function isTlbi(op: number): boolean {
  return op >= 0x10 && op <= 0x30;
}

/** One SMMU's entries of a change, as halves (4 per entry). */
export type { EntryList };

const scratch = new CheckedEntry();
const lax = new CommandChecker({ lax: true });

function decode(h: number[], out: CheckedEntry): CheckedEntry {
  lax.check(h[0]!, h[1]!, h[2]!, h[3]!, out);
  return out;
}

/** Rewrite a range-capable TLBI with new NUM / SCALE / TTL / TG / Leaf / address. */
function rewrite(
  h: number[],
  e: CheckedEntry,
  over: { num?: number; scale?: number; ttl?: number; tg?: number; leaf?: number; addr?: number },
): number[] {
  const v = e.values;
  const u = new Uint32Array(4);
  writeTlbiRange(
    u,
    0,
    h[0]! & 0xff,
    v[F.asid]!,
    v[F.vmid]!,
    over.num ?? v[F.num]!,
    over.scale ?? v[F.scale]!,
    over.leaf ?? v[F.leaf]!,
    over.ttl ?? v[F.ttl]!,
    over.tg ?? v[F.tg]!,
    over.addr ?? v[F.addr]!,
  );
  return [u[0]!, u[1]!, u[2]!, u[3]!];
}

function lastIndex(list: EntryList, pred: (op: number, h: number[]) => boolean): number {
  for (let i = list.length - 1; i >= 0; i--) if (pred(list[i]![0]! & 0xff, list[i]!)) return i;
  return -1;
}

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
  switch (fault) {
    case 'drop-sync': {
      const i = lastIndex(list, (op) => op === Opcode.CMD_SYNC);
      if (i >= 0) list.splice(i, 1);
      return;
    }
    case 'skip-last-tlbi': {
      const i = lastIndex(list, (op) => isTlbi(op));
      if (i >= 0) list.splice(i, 1);
      return;
    }
    case 'leaf-always':
      for (let i = 0; i < list.length; i++) {
        const h = list[i]!;
        if (RANGE_OPS.has(h[0]! & 0xff)) h[2] = (h[2]! | 1) >>> 0;
      }
      return;
    case 'wrong-ttl':
      for (let i = 0; i < list.length; i++) {
        const h = list[i]!;
        if (!RANGE_OPS.has(h[0]! & 0xff)) continue;
        const e = decode(h, scratch);
        const ttl = e.values[F.ttl]!;
        if (e.values[F.tg] === 0 || ttl === 0) continue;
        list[i] = rewrite(h, e, { ttl: ttl === 3 ? 2 : 3 });
      }
      return;
    case 'wrong-tg':
      for (let i = 0; i < list.length; i++) {
        const h = list[i]!;
        if (!RANGE_OPS.has(h[0]! & 0xff)) continue;
        const e = decode(h, scratch);
        const tg = e.values[F.tg]!;
        if (tg === 0) continue;
        // Keep the command legal: 16K with TTL=1 and NUM=SCALE=0 would be a reserved encoding.
        let ntg = tg === 1 ? 2 : 1;
        if (ntg === 2 && e.values[F.ttl] === 1 && e.values[F.num] === 0 && e.values[F.scale] === 0) ntg = 3;
        list[i] = rewrite(h, e, { tg: ntg });
      }
      return;
    case 'no-atc':
      for (let i = list.length - 1; i >= 0; i--) if ((list[i]![0]! & 0xff) === Opcode.ATC_INV) list.splice(i, 1);
      return;
    case 'atc-before-tlbi': {
      const atc = list.filter((h) => (h[0]! & 0xff) === Opcode.ATC_INV);
      if (atc.length === 0) return;
      const rest = list.filter((h) => (h[0]! & 0xff) !== Opcode.ATC_INV);
      list.length = 0;
      list.push(...atc, ...rest);
      return;
    }
    case 'no-nested-s1-clear':
      for (let i = list.length - 1; i >= 0; i--) if ((list[i]![0]! & 0xff) === Opcode.TLBI_NH_ALL) list.splice(i, 1);
      return;
    case 'no-cfgi':
      for (let i = list.length - 1; i >= 0; i--) {
        const op = list[i]![0]! & 0xff;
        if (op >= Opcode.CFGI_STE && op <= Opcode.CFGI_VMS_PIDM) list.splice(i, 1);
      }
      return;
    case 'ignore-atc-timeout':
      // A consumer fault (src/consumers): the commands are as planned; the error handling is what is wrong.
      return;
    case 'no-repeat': {
      // A batch (commands up to and including a CMD_SYNC) equal to the batch before it is the repeat: drop it.
      const kept: EntryList = [];
      let prev: number[][] = [];
      let cur: number[][] = [];
      const same = (a: number[][], b: number[][]): boolean =>
        a.length === b.length && a.every((h, i) => h.every((x, j) => x === b[i]![j]));
      for (const h of list) {
        cur.push(h);
        if ((h[0]! & 0xff) !== Opcode.CMD_SYNC) continue;
        if (!same(cur, prev)) kept.push(...cur);
        prev = cur;
        cur = [];
      }
      kept.push(...cur);
      list.length = 0;
      list.push(...kept);
      return;
    }
    case 'nested-vmid-missing':
      for (let i = 0; i < list.length; i++) {
        const h = list[i]!;
        if ((h[0]! & 0xff) === Opcode.TLBI_NH_VA) h[1] = (h[1]! & 0xffff0000) >>> 0; // VMID is w0[47:32]
      }
      return;
    case 'nh-under-e2h':
      for (let i = 0; i < list.length; i++) {
        const h = list[i]!;
        const op = h[0]! & 0xff;
        if (op === Opcode.TLBI_EL2_VA) h[0] = ((h[0]! & ~0xff) | Opcode.TLBI_NH_VA) >>> 0;
        else if (op === Opcode.TLBI_EL2_ASID) h[0] = ((h[0]! & ~0xff) | Opcode.TLBI_NH_ASID) >>> 0;
      }
      return;
    case 'first-page-only':
      firstPageOnly(list);
      return;
    case 'tg-from-empty-pgsize':
      for (let i = 0; i < list.length; i++) {
        const h = list[i]!;
        if (!RANGE_OPS.has(h[0]! & 0xff)) continue;
        const e = decode(h, scratch);
        if (e.values[F.tg] === 0) continue;
        // (__ffs(0) − 10) / 2 = 27, and the 2-bit field keeps 27 & 3 = 3.
        list[i] = rewrite(h, e, { tg: 27 & 3 });
      }
      return;
    case 'scale-beyond-smmu':
      for (let i = 0; i < list.length; i++) {
        const h = list[i]!;
        const op = h[0]! & 0xff;
        if (op !== Opcode.TLBI_NH_ASID && op !== Opcode.TLBI_EL2_ASID) continue;
        const v = decode(h, scratch).values;
        // 2^36 pages of 4 KiB from 0: the whole 48-bit space in one command. SCALE 36 needs IDR5.DS.
        const u = new Uint32Array(4);
        const va = op === Opcode.TLBI_NH_ASID ? Opcode.TLBI_NH_VA : Opcode.TLBI_EL2_VA;
        writeTlbiRange(u, 0, va, v[F.asid]!, v[F.vmid]!, 0, 36, 0, 0, 1, 0);
        list[i] = [u[0]!, u[1]!, u[2]!, u[3]!];
      }
      return;
    case 'no-force-sync':
    case 'illegal-range-encoding':
    case 'end-off-by-one':
    case 'asid-reuse-no-flush':
    case 'no-atc-on-detach':
      // Injected where the bug lived (engine options, the workload's consumer, config-change.ts, the driver).
      return;
    case 'short-range': {
      const i = lastIndex(list, (op) => RANGE_OPS.has(op));
      if (i < 0) return;
      const h = list[i]!;
      const e = decode(h, scratch);
      const v = e.values;
      const tg = v[F.tg]!;
      if (tg === 0) {
        // One address (one page): leaving it out entirely is one page too few.
        list.splice(i, 1);
        return;
      }
      const g = 2 ** granuleLog2OfTg(tg);
      if (v[F.scale] === 0 && v[F.num]! > 0) list[i] = rewrite(h, e, { num: v[F.num]! - 1 });
      else if (v[F.scale] === 0) list.splice(i, 1);
      else list[i] = rewrite(h, e, { addr: v[F.addr]! + g }); // the range now starts one page late
      return;
    }
  }
}

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
    const op = h[0]! & 0xff;
    if (!RANGE_OPS.has(op)) {
      runKey = '';
      kept.push(h);
      continue;
    }
    const e = decode(h, scratch);
    const v = e.values;
    if (v[F.tg] !== 0) {
      runKey = '';
      const single = v[F.ttl] === 0;
      kept.push(rewrite(h, e, { num: 0, scale: 0, ...(single ? { tg: 0 } : {}) }));
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
