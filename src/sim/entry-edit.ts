/**
 * Editing 16-byte command entries given as halves (4 per entry), for the faults and the workload's broken
 * consumers: which opcodes carry a range, decoding an entry through the codec's lax checker, and rewriting a
 * range-capable TLBI with some fields changed through the codec's writer (src/cmdq: no bit position here).
 */
import { CheckedEntry, CommandChecker, FIELD_IDS } from '../cmdq/check.js';
import { OPCODE_SPECS, Opcode, type CommandName } from '../cmdq/opcodes.js';
import { writeTlbiRange } from '../cmdq/writers.js';
import type { EntryList } from '../consumers/injection.js';

const F = FIELD_IDS;

/** The opcodes of the range-capable TLBIs (NH_VA, NH_VAA, EL2_VA, EL2_VAA, EL3_VA, S2_IPA). */
export const RANGE_OPS: ReadonlySet<number> = new Set<number>(
  (Object.keys(OPCODE_SPECS) as CommandName[]).filter((n) => OPCODE_SPECS[n].range).map((n) => Opcode[n]),
);

/** The opcode of an entry. */
export function opOf(h: readonly number[]): number {
  return h[0]! & 0xff;
}

/** Any TLBI (opcodes 0x10 to 0x30). */
export function isTlbi(op: number): boolean {
  return op >= 0x10 && op <= 0x30;
}

const lax = new CommandChecker({ lax: true });

/** Decode an entry into `out` (lax: RES0 bits are not refused). */
export function decodeEntry(h: readonly number[], out: CheckedEntry): CheckedEntry {
  lax.check(h[0]!, h[1]!, h[2]!, h[3]!, out);
  return out;
}

/** Fields of a range-capable TLBI that a rewrite may change. */
export interface RangeOverride {
  readonly num?: number;
  readonly scale?: number;
  readonly ttl?: number;
  readonly tg?: number;
  readonly leaf?: number;
  readonly addr?: number;
}

/** A range-capable TLBI (decoded as `e`) written again with the fields of `over` changed. */
export function rewriteRange(h: readonly number[], e: CheckedEntry, over: RangeOverride): number[] {
  const v = e.values;
  const u = new Uint32Array(4);
  writeTlbiRange(
    u,
    0,
    opOf(h),
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

/** The index of the last entry whose opcode (and halves) satisfy `pred`, or -1. */
export function lastIndex(list: EntryList, pred: (op: number, h: number[]) => boolean): number {
  for (let i = list.length - 1; i >= 0; i--) if (pred(opOf(list[i]!), list[i]!)) return i;
  return -1;
}

/** Remove every entry whose opcode satisfies `pred` (in place). */
export function dropWhere(list: EntryList, pred: (op: number) => boolean): void {
  for (let i = list.length - 1; i >= 0; i--) if (pred(opOf(list[i]!))) list.splice(i, 1);
}
