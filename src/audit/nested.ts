/**
 * The nesting rule, as a state machine that can be fed a stream a window at a time: with nesting, a
 * TLBI_S2_IPA of a nested VMID must be followed — after the CMD_SYNC that completes it — by TLBI_NH_ALL of
 * that VMID and a CMD_SYNC (or TLBI_S12_VMALL / TLBI_NSNH_ALL and a CMD_SYNC), because S2_IPA is not required
 * to remove combined stage 1+2 entries (IHI 0070 4.4.3.1). State per VMID is a few numbers, so memory is
 * bounded by the number of nested VMIDs (at most 2^16) whatever the stream's length.
 */
import { Opcode } from '../cmdq/index.js';
import { Kind, type Interpreted } from './interpret.js';
import { RULES, type Finding, type RuleId } from './rules-table.js';
import type { AuditStream } from './stream.js';

/** What a finding's JSON needs of its entry, kept after the entry's window is gone. */
export interface EntryRef {
  readonly index: number;
  readonly h0: number;
  readonly h1: number;
  readonly h2: number;
  readonly h3: number;
  readonly slot: number;
  readonly line: number;
}

/** Entry `i` of window `s` whose first entry has global index `offset`. */
export function entryRef(s: AuditStream, i: number, offset: number): EntryRef {
  const k = i * 4;
  const h = s.halves;
  return {
    index: i + offset,
    h0: h[k]!,
    h1: h[k + 1]!,
    h2: h[k + 2]!,
    h3: h[k + 3]!,
    slot: s.slot[i]!,
    line: s.line[i]!,
  };
}

export const NESTED_REASON =
  'TLBI_S2_IPA is not required to remove combined stage 1+2 entries (IHI 0070 4.4.3.1): with nesting, software must issue S2_IPA, CMD_SYNC (so no walk can re-combine the stale stage-2 entry), then TLBI_NH_ALL(VMID) and CMD_SYNC — or TLBI_S12_VMALL(VMID) and CMD_SYNC';

const SAME_BATCH_REASON =
  'with nesting, the stage-1 entries must be cleared only after the stage-2 invalidation has completed: commands of one batch may complete in any order, so a walk can re-combine the stale stage-2 entry after NH_ALL and before S2_IPA completes (IHI 0070 4.4.3.1)';

interface State {
  open: EntryRef | null;
  openCount: number;
  openLastBatch: number;
  /** An NH_ALL / S12_VMALL / NSNH_ALL that resolves the obligations once its batch's SYNC completes. */
  awaitIndex: number;
  awaitName: string;
  awaitBatch: number;
  awaitFirst: EntryRef | null;
  awaitCount: number;
}

export type NestedEmit = (f: Finding, ref: EntryRef) => void;

function finding(
  rule: RuleId,
  ref: EntryRef,
  command: string,
  related: number[],
  message: string,
  reason: string,
): Finding {
  return { rule, category: RULES[rule].category, index: ref.index, command, related, message, reason };
}

export class NestedTracker {
  private readonly st = new Map<number, State>();

  constructor(readonly nested: ReadonlySet<number>) {}

  private get(v: number): State {
    let x = this.st.get(v);
    if (!x) {
      x = {
        open: null,
        openCount: 0,
        openLastBatch: -1,
        awaitIndex: -1,
        awaitName: '',
        awaitBatch: -1,
        awaitFirst: null,
        awaitCount: 0,
      };
      this.st.set(v, x);
    }
    return x;
  }

  private static moveToAwait(x: State, index: number, name: string, b: number): void {
    if (x.openCount === 0) return;
    if (x.awaitIndex < 0 || x.awaitFirst === null) {
      x.awaitFirst = x.open;
      x.awaitCount = 0;
    }
    x.awaitCount += x.openCount;
    x.awaitIndex = index;
    x.awaitName = name;
    x.awaitBatch = b;
    x.openCount = 0;
    x.open = null;
  }

  /** Feed window `s` (interpreted as `r`); its entry 0 is global index `offset`, its batch 0 global `batchOffset`. */
  scan(s: AuditStream, r: Interpreted, offset: number, batchOffset: number, emit: NestedEmit): void {
    if (this.nested.size === 0) return;
    for (let i = 0; i < r.n; i++) {
      const op = r.op[i]!;
      const k = r.kind[i]!;
      if (k === Kind.Illegal) continue;
      const b = r.batch[i]! + batchOffset;
      if (k === Kind.Sync) {
        for (const x of this.st.values())
          if (x.awaitIndex >= 0 && x.awaitBatch === b) {
            x.awaitIndex = -1;
            x.awaitFirst = null;
            x.awaitCount = 0;
          }
        continue;
      }
      if (op === Opcode.TLBI_S2_IPA && this.nested.has(r.vmid[i]!)) {
        const x = this.get(r.vmid[i]!);
        if (x.openCount === 0) x.open = entryRef(s, i, offset);
        x.openCount++;
        x.openLastBatch = b;
      } else if (op === Opcode.TLBI_NH_ALL && this.nested.has(r.vmid[i]!)) {
        const x = this.get(r.vmid[i]!);
        if (x.openCount > 0 && x.openLastBatch === b) {
          const ref = entryRef(s, i, offset);
          const first = x.open!.index;
          emit(
            finding(
              'nested-nh-all-same-batch',
              ref,
              r.name(i),
              [first],
              `NH_ALL VMID=${r.vmid[i]} is in the same batch as S2_IPA #${first} of that VMID`,
              SAME_BATCH_REASON,
            ),
            ref,
          );
        } else NestedTracker.moveToAwait(x, i + offset, r.name(i), b);
      } else if (op === Opcode.TLBI_S12_VMALL || op === Opcode.TLBI_NSNH_ALL) {
        for (const [v, x] of this.st)
          if (op === Opcode.TLBI_NSNH_ALL || v === r.vmid[i]) NestedTracker.moveToAwait(x, i + offset, r.name(i), b);
      }
    }
  }

  /** The stream ended: the obligations still open are findings. */
  finish(emit: NestedEmit): void {
    for (const [v, x] of this.st) {
      if (x.awaitIndex >= 0 && x.awaitFirst !== null) {
        const ref = x.awaitFirst;
        emit(
          finding(
            'nested-s1-not-cleared',
            ref,
            'TLBI_S2_IPA',
            [x.awaitIndex],
            `${x.awaitCount} S2_IPA command(s) for nested VMID ${v} (first #${ref.index}): the stage-1 clear #${x.awaitIndex} (${x.awaitName}) has no CMD_SYNC after it`,
            NESTED_REASON,
          ),
          ref,
        );
      }
      if (x.openCount > 0 && x.open !== null) {
        const ref = x.open;
        emit(
          finding(
            'nested-s1-not-cleared',
            ref,
            'TLBI_S2_IPA',
            [],
            `${x.openCount} S2_IPA command(s) for nested VMID ${v} (first #${ref.index}) are not followed, after the CMD_SYNC that completes them, by TLBI_NH_ALL VMID=${v} and a CMD_SYNC (nor by TLBI_S12_VMALL VMID=${v})`,
            NESTED_REASON,
          ),
          ref,
        );
      }
    }
    this.st.clear();
  }
}
