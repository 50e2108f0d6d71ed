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
 * - `sync-msidata-order` (L1 0f02477d1698): a CMD_SYNC with CS=IRQ (completion signalled by an MSI write) whose
 *   MSIData is below that of an earlier such CMD_SYNC to the same MSIAddr, in queue order (compared as the
 *   waiters do, as a signed 32-bit difference, so the counter may wrap). Linux before that fix (the MSI polling
 *   of 4.14–4.19: every SYNC writes a sequence number to one `sync_count` word) took the number before taking
 *   the queue lock, so two CPUs could queue their SYNCs in the other order; the later SYNC's write then puts an
 *   older number back, and the waiter for the newer one misses it and times out. Linux since 5.x points each
 *   SYNC's MSI at its own queue slot with MSIData 0: equal values, never flagged. The last value per address is
 *   kept across the windows of a streamed audit (`msiSyncs`).
 * - MMU-700 erratum 2812531 (L15) is the existing `long-batch` rule: a registers file whose SMMU_IIDR names
 *   an MMU-700 sets --max-batch 63 (src/cli/audit.ts).
 *
 *
 * Performance lints (category `perf`, checked with `lints`: `audit --lints` reports them and still exits 0,
 * `audit --strict` counts them as findings), each naming its threshold:
 * - `sync-without-work` (L5): a CMD_SYNC whose batch holds no command (it follows another CMD_SYNC): it
 *   completes nothing and costs a round trip.
 * - `per-page-storm` (L12 d5afb4b47e13, CVE-2023-52484): at least PER_PAGE_STORM (512 = 1 << (PAGE_SHIFT − 3)
 *   at 4K, Linux's CMDQ_MAX_TLBI_OPS) address TLBIs of one tag in one batch: one whole-tag command (or range
 *   invalidation) does the same work.
 * - `whole-tag-small-range` (L20 f7edb07ad7c6): a whole-ASID/VMID TLBI in the batch right before ATC_INVs that
 *   all span fewer than WHOLE_TAG_PAGES (512) pages: the invalidation was for a small range, and flushing the
 *   whole tag throws away every other translation of the address space.
 *
 * Not a rule: a TTL hint on a non-leaf TLBI (L10 6833b8f2e199). Whether it is wrong depends on the levels the
 * freed tables held, which a stream does not show (the tlbi policy sets it exactly where a teardown removed
 * leaves of that one level only); L10 is a model vector instead (test/corpus-vectors.test.ts).
 */
import { SYNC_CS, SYNC_MSIDATA, fieldOf, syncMsiAddr } from '../cmdq/fields.js';
import { Opcode, SyncCs } from '../cmdq/index.js';
import type { AuditStream } from './stream.js';
import { Kind, batchEnd, batchStart, type Interpreted } from './interpret.js';
import type { RuleId } from './rules-table.js';

export interface CorpusRuleOptions {
  /** SMMU_CR2.E2H (from the registers file): stage-1 host domains are EL2-E2H. */
  readonly e2h?: boolean | undefined;
  /** Check the performance lints (default false: `audit --lints` / `--strict`). */
  readonly lints?: boolean | undefined;
  /**
   * The last MSI-signalled CMD_SYNC per MSIAddr (its MSIData and global entry index), kept by the caller across
   * the windows of a streamed audit; a fresh map per window when not given.
   */
  readonly msiSyncs?: Map<number, MsiSync> | undefined;
}

/** A CMD_SYNC that signals completion by an MSI write: what it wrote and where it is in the stream. */
export interface MsiSync {
  data: number;
  index: number;
}

/** Address TLBIs of one tag in one batch from which a whole-tag command is cheaper (Linux CMDQ_MAX_TLBI_OPS at 4K). */
export const PER_PAGE_STORM = 512;
/** ATC_INV spans (pages) below which a whole-tag TLBI of the batch before was for a small range. */
export const WHOLE_TAG_PAGES = 512;

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
  s: AuditStream,
  r: Interpreted,
  o: CorpusRuleOptions,
  nested: ReadonlySet<number>,
  add: AddFinding,
  offset: number,
): void {
  atcBeforeTlbi(r, add, offset);
  syncMsiDataOrder(s, r, o.msiSyncs ?? new Map<number, MsiSync>(), add, offset);
  if (nested.size > 0) nestedVmidMissing(r, nested, add);
  if (o.e2h === true) nhUnderE2h(r, nested, add);
  if (o.lints === true) {
    syncWithoutWork(r, add, offset);
    perPageStorm(r, add);
    wholeTagSmallRange(r, add, offset);
  }
}

function syncMsiDataOrder(
  s: AuditStream,
  r: Interpreted,
  last: Map<number, MsiSync>,
  add: AddFinding,
  offset: number,
): void {
  const h = s.halves;
  for (let i = 0; i < r.n; i++) {
    if (r.op[i] !== Opcode.CMD_SYNC || r.errors.has(i)) continue;
    if (fieldOf(h[i * 4]!, SYNC_CS) !== SyncCs.IRQ) continue;
    const addr = syncMsiAddr(h[i * 4 + 2]!, h[i * 4 + 3]!);
    if (addr === 0) continue;
    const data = fieldOf(h[i * 4 + 1]!, SYNC_MSIDATA);
    const prev = last.get(addr);
    if (prev !== undefined && ((data - prev.data) | 0) < 0)
      add(
        'sync-msidata-order',
        i,
        [prev.index - offset],
        `CMD_SYNC MSIData 0x${data.toString(16)} to MSIAddr 0x${addr.toString(16)} is below the 0x${prev.data.toString(16)} of the CMD_SYNC at entry ${prev.index}, queued before it`,
        "a CMD_SYNC's MSI write lands when the SMMU reaches it, in queue order (IHI 0070 4.7.3); a waiter that polls one address for its own sequence number sees the older number written last and misses its completion (Linux 0f02477d1698: the number must be taken under the queue lock)",
      );
    last.set(addr, { data, index: i + offset });
  }
}

function syncWithoutWork(r: Interpreted, add: AddFinding, offset: number): void {
  for (let b = 0; b < r.batchCount; b++) {
    const sync = r.batchSync[b]!;
    // The stream's first entry may complete commands from before the dump: not judged.
    if (sync < 0 || sync !== batchStart(r, b) || sync + offset === 0) continue;
    add(
      'sync-without-work',
      sync,
      sync > 0 ? [sync - 1] : [],
      'a CMD_SYNC right after another CMD_SYNC: nothing was issued for it to complete (threshold: 0 commands in the batch)',
      'a CMD_SYNC only guarantees completion of the commands before it (IHI 0070 4.7.3); with none since the last one it waits for nothing (Linux: no CMD_SYNC for an empty gather)',
    );
  }
}

function perPageStorm(r: Interpreted, add: AddFinding): void {
  for (let b = 0; b < r.batchCount; b++) {
    const start = batchStart(r, b);
    const end = batchEnd(r, b);
    if (end - start <= PER_PAGE_STORM) continue;
    const counts = new Map<number, { n: number; first: number }>();
    for (let i = start; i < end; i++) {
      if (r.kind[i] !== Kind.RangeTlbi) continue;
      const key = r.op[i]! * 2 ** 34 + (r.asid[i]! + 1) * 2 ** 17 + (r.vmid[i]! + 1);
      const c = counts.get(key);
      if (c === undefined) counts.set(key, { n: 1, first: i });
      else if (++c.n === PER_PAGE_STORM) {
        const asid = r.asid[i]! >= 0 ? ` ASID=${r.asid[i]}` : '';
        const vmid = r.vmid[i]! >= 0 ? ` VMID=${r.vmid[i]}` : '';
        add(
          'per-page-storm',
          i,
          [c.first],
          `${PER_PAGE_STORM} ${r.name(i)} commands for${asid}${vmid} in one batch (threshold ${PER_PAGE_STORM} = 1 << (PAGE_SHIFT − 3) at 4K, Linux CMDQ_MAX_TLBI_OPS)`,
          'one whole-ASID/VMID command (or a range command where IDR3.RIL is set) removes the same entries; thousands of per-page commands kept a CPU spinning on the queue for seconds (Linux d5afb4b47e13, CVE-2023-52484)',
        );
      }
    }
  }
}

function wholeTagSmallRange(r: Interpreted, add: AddFinding, offset: number): void {
  for (let b = 0; b + 1 < r.batchCount; b++) {
    const start = batchStart(r, b);
    const end = batchEnd(r, b);
    let whole = -1;
    let other = false;
    for (let i = start; i < end && !other; i++) {
      const k = r.kind[i]!;
      if (k === Kind.TagTlbi) whole = whole < 0 ? i : whole;
      else if (k !== Kind.Sync) other = true;
    }
    if (whole < 0 || other) continue;
    // The next batch: ATC_INVs only, all of them small.
    const ns = batchStart(r, b + 1);
    const ne = batchEnd(r, b + 1);
    let atcs = 0;
    let widest = 0;
    let small = true;
    for (let i = ns; i < ne && small; i++) {
      const k = r.kind[i]!;
      if (k === Kind.Atc) {
        atcs++;
        const pages = r.span[i]! / 4096;
        widest = Math.max(widest, pages);
        if (pages >= WHOLE_TAG_PAGES) small = false;
      } else if (k !== Kind.Sync) small = false;
    }
    if (atcs === 0 || !small) continue;
    add(
      'whole-tag-small-range',
      whole,
      [ns],
      `${r.name(whole)} flushes the whole tag, but the ATC_INVs that follow (#${ns + offset}…) span at most ${widest} pages (threshold ${WHOLE_TAG_PAGES} pages)`,
      'the invalidation was for a small range (its ATC_INVs say so): a whole-tag command throws away every other cached translation of the address space (Linux f7edb07ad7c6: an emptied range turned every SVA flush into invalidate-all)',
    );
  }
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
