/**
 * Audit rules for the stream-visible classes of the bug corpus (src/corpus, issue 15), self-contained: each
 * works on one interpreted window (batches are whole within a window) and reports through `add`.
 *
 * - `atc-before-tlbi` (L4 353e3cf8590c): an ATC_INV placed before a TLBI of the same batch. The existing
 *   `atc-before-sync` rule sees the ATC_INV after the TLBI; before it is worse (the TLBI has not even been
 *   issued), and neither completes before the batch's CMD_SYNC.
 * - `nested-vmid-missing` (L2 935d43ba272e): an NH_VA/NH_ASID with a VMID that is not a nesting VMID, for an
 *   ASID the same window also invalidates under a nesting VMID. A nested guest's stage-1 entries are tagged
 *   with the parent's VMID, so the command without it misses them. (ASIDs are per VMID: a host stage-1
 *   domain may use the same ASID legitimately; the rule only looks when nesting VMIDs are known.)
 * - `nh-under-e2h` (L19 9111aebf770d): with CR2.E2H set, an NH_VA/NH_ASID/NH_VAA/NH_ALL for a VMID that is not
 *   a nesting VMID. Under E2H Linux's host stage-1 domains are EL2-E2H address spaces, which only the
 *   TLBI_EL2_* commands reach (IHI 0070 4.4.2: NH_* act on the NS-EL1 StreamWorld).
 * - MMU-700 erratum 2812531 (L15) is the existing `long-batch` rule: a registers file whose SMMU_IIDR names
 *   an MMU-700 sets --max-batch 63 (src/cli/audit.ts).
 *
 * Not a rule: a TTL hint on a non-leaf TLBI (L10 6833b8f2e199). Whether it is wrong depends on the levels the
 * freed tables held, which a stream does not show (the tlbi policy sets it exactly where a teardown removed
 * leaves of that one level only); L10 is a model vector instead (test/corpus-vectors.test.ts).
 */
import { Opcode } from '../cmdq/index.js';
import { Kind, batchEnd, batchStart, type Interpreted } from './interpret.js';
import type { RuleId } from './rules-table.js';

export interface CorpusRuleOptions {
  /** SMMU_CR2.E2H (from the registers file): stage-1 host domains are EL2-E2H. */
  readonly e2h?: boolean | undefined;
}

export type AddFinding = (
  rule: RuleId,
  index: number,
  related: readonly number[],
  message: string,
  reason: string,
) => void;

function isNh(op: number): boolean {
  return op >= Opcode.TLBI_NH_ALL && op <= Opcode.TLBI_NH_VAA;
}

/** Run the corpus rules over one window; `offset` is the global index of entry 0 (for messages). */
export function checkCorpusRules(
  r: Interpreted,
  o: CorpusRuleOptions,
  nested: ReadonlySet<number>,
  add: AddFinding,
  offset: number,
): void {
  atcBeforeTlbi(r, add, offset);
  if (nested.size > 0) nestedVmidMissing(r, nested, add);
  if (o.e2h === true) nhUnderE2h(r, nested, add);
}

function atcBeforeTlbi(r: Interpreted, add: AddFinding, offset: number): void {
  for (let b = 0; b < r.batchCount; b++) {
    const start = batchStart(r, b);
    const end = batchEnd(r, b);
    // The last TLBI of the batch: every ATC_INV before it is too early.
    let lastTlbi = -1;
    for (let i = end - 1; i >= start && lastTlbi < 0; i--) {
      const k = r.kind[i]!;
      if (k === Kind.RangeTlbi || k === Kind.TagTlbi) lastTlbi = i;
    }
    if (lastTlbi < 0) continue;
    for (let i = start; i < lastTlbi; i++) {
      if (r.kind[i] !== Kind.Atc) continue;
      let next = i + 1;
      while (r.kind[next] !== Kind.RangeTlbi && r.kind[next] !== Kind.TagTlbi) next++;
      add(
        'atc-before-tlbi',
        i,
        [next],
        `ATC_INV SID=${r.sid[i]} comes before ${r.name(next)} #${next + offset} of the same batch: the TLB invalidation is not even issued yet`,
        'the ATC may only be invalidated after the SMMU TLB invalidation has completed (TLBI → CMD_SYNC → ATC_INV → CMD_SYNC); a device translating meanwhile refills its ATC from the TLB entry still cached (IHI 0070 4.5.1; Linux 353e3cf8590c)',
      );
    }
  }
}

function nestedVmidMissing(r: Interpreted, nested: ReadonlySet<number>, add: AddFinding): void {
  // ASIDs the window invalidates under a nesting VMID (NH_VA / NH_ASID carry both tags).
  const nestedAsid = new Map<number, number>();
  for (let i = 0; i < r.n; i++) {
    const op = r.op[i]!;
    if (
      (op === Opcode.TLBI_NH_VA || op === Opcode.TLBI_NH_ASID) &&
      nested.has(r.vmid[i]!) &&
      r.kind[i] !== Kind.Illegal
    )
      if (!nestedAsid.has(r.asid[i]!)) nestedAsid.set(r.asid[i]!, r.vmid[i]!);
  }
  if (nestedAsid.size === 0) return;
  for (let i = 0; i < r.n; i++) {
    const op = r.op[i]!;
    if (op !== Opcode.TLBI_NH_VA && op !== Opcode.TLBI_NH_ASID) continue;
    if (r.kind[i] === Kind.Illegal || nested.has(r.vmid[i]!)) continue;
    const v = nestedAsid.get(r.asid[i]!);
    if (v === undefined) continue;
    add(
      'nested-vmid-missing',
      i,
      [],
      `${r.name(i)} ASID=${r.asid[i]} VMID=${r.vmid[i]}: the stream also invalidates ASID ${r.asid[i]} under the nesting VMID ${v}`,
      "a nested guest's stage-1 TLB entries are tagged with its parent stage-2 VMID as well as the ASID; TLBI_NH_VA/NH_ASID match both, so one with another VMID leaves the guest's entries (IHI 0070 4.4.1; Linux 935d43ba272e)",
    );
  }
}

function nhUnderE2h(r: Interpreted, nested: ReadonlySet<number>, add: AddFinding): void {
  for (let i = 0; i < r.n; i++) {
    const op = r.op[i]!;
    if (!isNh(op) || r.kind[i] === Kind.Illegal || nested.has(r.vmid[i]!)) continue;
    add(
      'nh-under-e2h',
      i,
      [],
      `${r.name(i)} VMID=${r.vmid[i]}${op !== Opcode.TLBI_NH_ALL && op !== Opcode.TLBI_NH_VAA ? ` ASID=${r.asid[i]}` : ''} while SMMU_CR2.E2H is set`,
      'with E2H the host stage-1 domains are EL2-E2H address spaces (STE.STRW = EL2-E2H); TLBI_NH_* act on the NS-EL1 regime only and leave them cached: TLBI_EL2_VA / TLBI_EL2_ASID are needed (IHI 0070 4.4.2, 6.3.12; Linux 9111aebf770d)',
    );
  }
}
