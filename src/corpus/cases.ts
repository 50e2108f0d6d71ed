/**
 * The real SMMUv3 invalidation bug corpus as data: one record per historical bug in Linux's arm-smmu-v3
 * driver (L1–L26) and in QEMU's SMMUv3 model (Q1–Q10), with how this project catches it — a named fault the
 * checker or the codec catches, an engine property, a golden vector, an audit rule — or why it is out of
 * reach. The records are the single source of `simulate --list-faults`, the fault aliases
 * (`linux-<commit>`, `qemu-<commit>`) and docs/bug-corpus.md (generated: scripts/gen-bug-corpus.ts).
 *
 * Commit ids are the upstream ids (12 hex digits); titles and one-line summaries are our own words.
 */

/** Where the bug lived. */
export type CorpusLayer = 'engine' | 'consumer' | 'codec' | 'emulator' | 'hardware-erratum';

/**
 * How a case is caught here:
 * - `fault`: a named fault (`simulate --fault NAME`) injected where the bug lived; the stale-translation
 *   checker reports it (exit 1), or the codec / SMMU model refuses the command (CERROR_ILL) as hardware would;
 * - `engine-property`: a property of the engine's output that the fixed code keeps (tested on the engine);
 * - `vector`: golden vectors that the decoder and the SMMU model get right;
 * - `audit-rule`: a rule or lint of `audit` over a captured stream;
 * - `out-of-reach`: not visible in a command stream nor reproducible by the model (`reason` says why).
 */
export type CatchKind = 'fault' | 'engine-property' | 'vector' | 'audit-rule' | 'out-of-reach';

/** `caught`: guarded by a test today; `planned`: the way to catch it is named, not built yet (see `reason`). */
export type CaseStatus = 'caught' | 'planned' | 'out-of-reach';

export interface CorpusCase {
  readonly id: string;
  readonly project: 'linux' | 'qemu';
  /** Upstream commit (12 hex digits), or null when the fix was not merged as such / its id is not known. */
  readonly commit: string | null;
  /** The upstream subject (or a short description when there is no single commit). */
  readonly title: string;
  readonly year: number;
  /** Bug class (kebab-case). */
  readonly class: string;
  readonly layer: CorpusLayer;
  readonly catch: CatchKind;
  readonly status: CaseStatus;
  /** The fault that reproduces it (catch `fault`). */
  readonly fault?: string;
  /** What shows it: who reports it and how. */
  readonly caughtBy: string;
  /** The test files that guard it (paths from the repository root); empty when not caught yet. */
  readonly tests: readonly string[];
  /** For `planned` and `out-of-reach`: why, and what would catch it. */
  readonly reason?: string;
}

const T_FAULTS = 'test/sim-faults.test.ts';
const T_SEEDS = 'test/corpus-seeds.test.ts';
const T_CF = 'test/corpus-faults.test.ts';
const T_AUDIT = 'test/audit-corpus.test.ts';
const T_VEC = 'test/corpus-vectors.test.ts';
const T_QEMU = 'test/audit-qemu-conformance.test.ts';

export const CORPUS: readonly CorpusCase[] = [
  {
    id: 'L1',
    project: 'linux',
    commit: '0f02477d1698',
    title: 'Fix unexpected CMD_SYNC timeout',
    year: 2018,
    class: 'sync-msidata-order',
    layer: 'consumer',
    catch: 'audit-rule',
    status: 'caught',
    caughtBy:
      'audit: sync-msidata-order (an MSI CMD_SYNC, CS=IRQ, whose MSIData is below that of an earlier one to the same MSIAddr, in queue order)',
    tests: [T_AUDIT],
    reason:
      'a race between CPUs taking the sequence number before the queue lock; the model has one producer and never reorders SYNCs, so no fault: the stream shows it (two SYNCs to one polled word, the later one in the queue with the lower number)',
  },
  {
    id: 'L2',
    project: 'linux',
    commit: '935d43ba272e',
    title: 'Populate VMID field for CMDQ_OP_TLBI_NH_VA',
    year: 2019,
    class: 'nested-vmid-missing',
    layer: 'engine',
    catch: 'fault',
    status: 'caught',
    fault: 'nested-vmid-missing',
    caughtBy: 'checker: stale nested stage-1 TLB entries (NH_VA with VMID 0 misses entries tagged with the VMID)',
    tests: [T_FAULTS, T_SEEDS, T_CF, T_AUDIT],
  },
  {
    id: 'L3',
    project: 'linux',
    commit: '8dd8f005bdd4',
    title: 'Invalidate ATC when detaching a device',
    year: 2019,
    class: 'no-atc-inv-on-detach',
    layer: 'consumer',
    catch: 'fault',
    status: 'caught',
    fault: 'no-atc-on-detach',
    caughtBy: "checker: the detached device's ATC still holds translations of its old domain",
    tests: [T_CF],
  },
  {
    id: 'L4',
    project: 'linux',
    commit: '353e3cf8590c',
    title: 'Fix ATC invalidation ordering wrt main TLBs',
    year: 2019,
    class: 'atc-before-tlbi',
    layer: 'consumer',
    catch: 'fault',
    status: 'caught',
    fault: 'atc-before-tlbi',
    caughtBy: 'checker: the ATC is refilled from a TLB entry not yet invalidated (stale ATC entry)',
    tests: [T_FAULTS, T_SEEDS, T_AUDIT],
  },
  {
    id: 'L5',
    project: 'linux',
    commit: null,
    title: "Don't issue CMD_SYNC for zero-length invalidations",
    year: 2019,
    class: 'wasted-sync',
    layer: 'consumer',
    catch: 'audit-rule',
    status: 'caught',
    caughtBy: 'audit --lints: sync-without-work (a CMD_SYNC right after a CMD_SYNC; the Linux 6.1 sample has two)',
    tests: [T_AUDIT],
    reason: 'a performance lint (warning: exit 0 unless --strict); not a safety bug, so no fault',
  },
  {
    id: 'L6',
    project: 'linux',
    commit: '6cc7e5a9c6b0',
    title: 'Add a check to avoid invalid iotlb sync',
    year: 2021,
    class: 'empty-range-wrap',
    layer: 'engine',
    catch: 'engine-property',
    status: 'caught',
    caughtBy:
      'engine property (fast-check, both policies, any targets and SMMUs): an empty request — a tlbi description whose last is below its start, or a Linux-style request of granule 0 (an empty gather) — plans no command and no CMD_SYNC; a driver sync of an empty gather submits nothing',
    tests: ['test/tlbi-empty-request.test.ts'],
  },
  {
    id: 'L7',
    project: 'linux',
    commit: '6a481a95d4c1',
    title: 'Add SMMUv3.2 range invalidation support',
    year: 2020,
    class: 'ril-reference',
    layer: 'engine',
    catch: 'vector',
    status: 'caught',
    caughtBy: "golden vectors: the linux policy reproduces real kernels' range commands word for word",
    tests: ['test/tlbi-golden.test.ts'],
  },
  {
    id: 'L8',
    project: 'linux',
    commit: null,
    title: 'Align invalid range with leaf page size upwards when support RIL (RFC, not merged as such)',
    year: 2021,
    class: 'range-truncated',
    layer: 'engine',
    catch: 'fault',
    status: 'caught',
    fault: 'short-range',
    caughtBy: 'checker: the last page of the range stays cached',
    tests: [T_FAULTS, T_SEEDS],
  },
  {
    id: 'L9',
    project: 'linux',
    commit: '95d4782c34a6',
    title: 'Fix size calculation in arm_smmu_mm_invalidate_range()',
    year: 2022,
    class: 'end-off-by-one',
    layer: 'consumer',
    catch: 'fault',
    status: 'caught',
    fault: 'end-off-by-one',
    caughtBy: 'checker: an inclusive end taken as exclusive leaves the last page cached',
    tests: [T_FAULTS, T_SEEDS, T_CF],
  },
  {
    id: 'L10',
    project: 'linux',
    commit: '6833b8f2e199',
    title: 'Set TTL invalidation hint better',
    year: 2023,
    class: 'ttl-on-non-leaf',
    layer: 'engine',
    catch: 'vector',
    status: 'caught',
    caughtBy: 'SMMU model: a non-leaf TLBI with TTL 3 need not remove a level-2 block below a freed table',
    tests: [T_VEC],
  },
  {
    id: 'L11',
    project: 'linux',
    commit: 'eb6c97647be2',
    title: 'Avoid constructing invalid range commands',
    year: 2023,
    class: 'illegal-range-encoding',
    layer: 'engine',
    catch: 'fault',
    status: 'caught',
    fault: 'illegal-range-encoding',
    caughtBy: 'codec / SMMU model: TG≠0 with TTL=SCALE=NUM=0 raises CERROR_ILL; the lost command leaves stale walks',
    tests: [T_FAULTS, T_SEEDS, T_CF, T_AUDIT],
  },
  {
    id: 'L12',
    project: 'linux',
    commit: 'd5afb4b47e13',
    title: 'Fix soft lockup triggered by arm_smmu_mm_invalidate_range (CVE-2023-52484)',
    year: 2023,
    class: 'tlbi-storm',
    layer: 'engine',
    catch: 'engine-property',
    status: 'caught',
    caughtBy:
      'engine: without RIL the page loop falls back to one whole-tag command at 2^(log2(stride)−3) commands; audit --lints: per-page-storm (512 address TLBIs of one tag in a batch)',
    tests: ['test/tlbi-plan.test.ts', T_AUDIT],
  },
  {
    id: 'L13',
    project: 'linux',
    commit: '12f78021973a',
    title: 'Fix pgsize_bit for sva domains',
    year: 2025,
    class: 'tg-from-empty-pgsize',
    layer: 'engine',
    catch: 'fault',
    status: 'caught',
    fault: 'tg-from-empty-pgsize',
    caughtBy: 'checker: TG derived from __ffs(0) = 64 names the 64K granule on a smaller-granule table',
    tests: [T_FAULTS, T_SEEDS, T_CF],
  },
  {
    id: 'L14',
    project: 'linux',
    commit: 'f322e8af35c7',
    title: 'Work around MMU-600 erratum 1076982',
    year: 2023,
    class: 'sev-lost',
    layer: 'hardware-erratum',
    catch: 'out-of-reach',
    status: 'out-of-reach',
    caughtBy: 'nothing here',
    tests: [],
    reason:
      'hardware-internal: a lost SEV wake-up makes a WFE waiter hang; the command stream is the same with and without it, and the model signals completion synchronously',
  },
  {
    id: 'L15',
    project: 'linux',
    commit: '309a15cb16bb',
    title: 'Document MMU-700 erratum 2812531',
    year: 2023,
    class: 'no-sync-within-64',
    layer: 'hardware-erratum',
    catch: 'fault',
    status: 'caught',
    fault: 'no-force-sync',
    caughtBy: 'SMMU model with erratum mmu700-2812531: a command past 63 without CMD_SYNC is lost; checker: stale',
    tests: [T_FAULTS, T_SEEDS, T_CF, T_AUDIT],
  },
  {
    id: 'L16',
    project: 'linux',
    commit: '0bfbfc526c70',
    title: 'Document nesting-related errata',
    year: 2023,
    class: 'nesting-errata',
    layer: 'hardware-erratum',
    catch: 'out-of-reach',
    status: 'out-of-reach',
    caughtBy: 'nothing here',
    tests: [],
    reason:
      "the workaround turns nesting off for some MMU-600/MMU-700 revisions at probe time; the defect is inside the SMMU's nested TLB, not in any command, so no stream shows it",
  },
  {
    id: 'L17',
    project: 'linux',
    commit: '587bb3e56a2c',
    title: 'arm_smmu_invs based arm_smmu_domain_inv_range (S2_VMID_S1_CLEAR, ATS_FULL)',
    year: 2026,
    class: 'nested-s1-not-cleared',
    layer: 'engine',
    catch: 'fault',
    status: 'caught',
    fault: 'no-nested-s1-clear',
    caughtBy: 'checker: combined stage-1+2 entries survive a stage-2 change (TLBI_S2_IPA does not remove them)',
    tests: [T_FAULTS, T_SEEDS, 'test/smmu-nested-walk.test.ts', T_AUDIT],
  },
  {
    id: 'L18',
    project: 'linux',
    commit: null,
    title: 'Seize private ASID (SVA): invalidate TLB entries previously associated with that context',
    year: 2020,
    class: 'asid-reuse-no-flush',
    layer: 'consumer',
    catch: 'fault',
    status: 'caught',
    fault: 'asid-reuse-no-flush',
    caughtBy: "checker: the next owner of an ASID/VMID translates through the previous owner's TLB entries",
    tests: [T_FAULTS, T_SEEDS, T_CF],
  },
  {
    id: 'L19',
    project: 'linux',
    commit: '9111aebf770d',
    title: 'Add support for VHE',
    year: 2021,
    class: 'nh-opcode-under-e2h',
    layer: 'engine',
    catch: 'fault',
    status: 'caught',
    fault: 'nh-under-e2h',
    caughtBy: 'checker: TLBI_NH_* act on the EL1 regime, the EL2-E2H entries stay cached',
    tests: [T_FAULTS, T_SEEDS, T_CF, T_AUDIT],
  },
  {
    id: 'L20',
    project: 'linux',
    commit: 'f7edb07ad7c6',
    title: 'Fix mmu notifiers for range-based invalidates',
    year: 2025,
    class: 'over-invalidation',
    layer: 'consumer',
    catch: 'audit-rule',
    status: 'caught',
    caughtBy: 'audit --lints: whole-tag-small-range (a whole-tag TLBI before ATC_INVs spanning under 512 pages)',
    tests: [T_AUDIT],
    reason: 'a performance lint (warning: exit 0 unless --strict); over-invalidation is safe, so no fault',
  },
  {
    id: 'L21',
    project: 'linux',
    commit: null,
    title: 'Recover ATC invalidate timeouts / quarantine device upon ATC invalidation timeout',
    year: 2026,
    class: 'atc-timeout-ignored',
    layer: 'consumer',
    catch: 'fault',
    status: 'caught',
    fault: 'ignore-atc-timeout',
    caughtBy:
      'checker: a device whose ATC_INV timed out keeps stale ATC entries when the consumer ignores CERROR_ATC_INV_SYNC (simulate --scenario driver|pkvm|nested --ats-timeouts RATE); the consumers quarantine the device (STE blocked with CFGI_STE + CMD_SYNC, endpoint reset) before reuse',
    tests: ['test/consumers-atc-timeout.test.ts', 'test/smmu-atc-timeout.test.ts'],
  },
  {
    id: 'L22',
    project: 'linux',
    commit: '2eedb906f9c6',
    title: 'Directly encode CMDQ_OP_ATC_INV',
    year: 2026,
    class: 'atc-size-encoding',
    layer: 'codec',
    catch: 'engine-property',
    status: 'caught',
    caughtBy: 'engine: every ATC_INV span is aligned and covers the range; Size 52 means everything',
    tests: ['test/tlbi-coverage.test.ts'],
  },
  {
    id: 'L23',
    project: 'linux',
    commit: '9d28bd2ce5d2',
    title: 'Invalidate TLBs properly (SMMUv2; same class as the 2026 Qualcomm TLBIVAL erratum)',
    year: 2015,
    class: 'first-page-only',
    layer: 'engine',
    catch: 'fault',
    status: 'caught',
    fault: 'first-page-only',
    caughtBy: 'checker: every page of a range but the first stays cached',
    tests: [T_FAULTS, T_SEEDS, T_CF],
  },
  {
    id: 'L24',
    project: 'linux',
    commit: null,
    title: 'Tegra264 CFGI/TLBI-repeat erratum',
    year: 2026,
    class: 'no-repeat',
    layer: 'hardware-erratum',
    catch: 'fault',
    status: 'caught',
    fault: 'no-repeat',
    caughtBy: 'SMMU model with erratum tegra264-repeat: a batch issued once may be lost; checker: stale',
    tests: [T_FAULTS, T_SEEDS, 'test/smmu-errata.test.ts'],
  },
  {
    id: 'L25',
    project: 'linux',
    commit: '84c6089a365f',
    title: 'Handle ARM erratum for CONT under invalidation with SVA',
    year: 2026,
    class: 'contiguous-invalidation',
    layer: 'hardware-erratum',
    catch: 'out-of-reach',
    status: 'out-of-reach',
    caughtBy: 'nothing here',
    tests: [],
    reason:
      "the Contiguous bit is not modelled (README, the SMMU model's list of what it leaves out): the page tables never set it and the SMMU model caches no Contiguous run, so no stream or run here can show the erratum; the erratum's exact conditions are not public either",
  },
  {
    id: 'L26',
    project: 'linux',
    commit: null,
    title: 'Support IDR5.DS and widen the TLBI SCALE field',
    year: 2026,
    class: 'scale-beyond-smmu',
    layer: 'codec',
    catch: 'fault',
    status: 'caught',
    fault: 'scale-beyond-smmu',
    caughtBy:
      'codec / SMMU model: SCALE above 31 without IDR5.DS raises CERROR_ILL; the lost command leaves stale entries',
    tests: [T_FAULTS, T_SEEDS, T_CF, 'test/smmu-ds-scale.test.ts', T_AUDIT],
  },
  {
    id: 'Q1',
    project: 'qemu',
    commit: '744a790ec01a',
    title: 'hw/arm/smmuv3: Fix potential integer overflow (CID 1432363)',
    year: 2020,
    class: 'ril-arithmetic-overflow',
    layer: 'emulator',
    catch: 'vector',
    status: 'caught',
    caughtBy: 'vector: NH_VA SCALE=31 NUM=31 covers 2^36 pages in the decoder and the model',
    tests: [T_VEC],
  },
  {
    id: 'Q2',
    project: 'qemu',
    commit: 'dcda883cd211',
    title: 'hw/arm/smmuv3: Fix addr_mask for range-based invalidation',
    year: 2021,
    class: 'tg-code-as-shift',
    layer: 'emulator',
    catch: 'vector',
    status: 'caught',
    caughtBy: 'vector: TG 1/2/3 decode to 4K/16K/64K pages',
    tests: [T_VEC],
  },
  {
    id: 'Q3',
    project: 'qemu',
    commit: 'a4b6e1be2c8f',
    title: 'hw/arm/smmu-common: Fix smmu_iotlb_inv_iova when asid is not set',
    year: 2021,
    class: 'asid-wildcard',
    layer: 'emulator',
    catch: 'vector',
    status: 'caught',
    caughtBy: 'vector: NH_VAA with TTL and one page removes the entries of every ASID',
    tests: [T_VEC],
  },
  {
    id: 'Q4',
    project: 'qemu',
    commit: '6d9cd115b9df',
    title: 'hw/arm/smmuv3: Enforce invalidation on a power of two range',
    year: 2021,
    class: 'range-pow2-split',
    layer: 'emulator',
    catch: 'vector',
    status: 'caught',
    caughtBy: 'vector: a range of (NUM+1)·2^SCALE pages is removed whole, whatever its power-of-two split',
    tests: [T_VEC, T_QEMU],
  },
  {
    id: 'Q5',
    project: 'qemu',
    commit: '219729cfbf9e',
    title: 'hw/arm/smmuv3: Another range invalidation fix',
    year: 2021,
    class: 'unaligned-start-split',
    layer: 'emulator',
    catch: 'vector',
    status: 'caught',
    caughtBy: 'vector: 32 pages of 4K from 0xff395000 are removed exactly',
    tests: [T_VEC, T_QEMU],
  },
  {
    id: 'Q6',
    project: 'qemu',
    commit: '1194140b7fab',
    title: 'hw/arm/smmuv3: Fix SMMU_CMD_CFGI_STE_RANGE handling',
    year: 2021,
    class: 'cfgi-range-overflow',
    layer: 'emulator',
    catch: 'vector',
    status: 'caught',
    caughtBy: 'vector: CFGI_ALL (CFGI_STE_RANGE Range=31) decodes to every StreamID',
    tests: [T_VEC],
  },
  {
    id: 'Q7',
    project: 'qemu',
    commit: null,
    title: 'hw/arm/smmu: Support nesting in smmuv3_range_inval() (and the rest of the nesting series)',
    year: 2024,
    class: 'nested-s2-ipa-semantics',
    layer: 'emulator',
    catch: 'vector',
    status: 'caught',
    caughtBy: 'SMMU model: TLBI_S2_IPA alone leaves combined nested entries; NH_ALL/S12_VMALL remove them',
    tests: ['test/smmu-nested-walk.test.ts'],
  },
  {
    id: 'Q8',
    project: 'qemu',
    commit: '2eaeb7d59325',
    title: 'hw/arm/smmuv3: Add VMID to TLB tagging',
    year: 2023,
    class: 'vmid-tagging',
    layer: 'emulator',
    catch: 'vector',
    status: 'caught',
    caughtBy: 'vector: two VMIDs with the same IPA are invalidated independently',
    tests: [T_VEC],
  },
  {
    id: 'Q9',
    project: 'qemu',
    commit: '95d855167af4',
    title: 'hw/arm/smmuv3: propagate smmuv3_cmdq_consume() errors to caller',
    year: 2026,
    class: 'accel-error-path',
    layer: 'emulator',
    catch: 'out-of-reach',
    status: 'out-of-reach',
    caughtBy: 'nothing here',
    tests: [],
    reason:
      "QEMU's accel mode forwards guest invalidations to a host SMMU through iommufd; the error path lives between QEMU and the host kernel, not in a command stream",
  },
  {
    id: 'Q10',
    project: 'qemu',
    commit: '58a789c389cb',
    title: 'Add support to issue invalidation cmd to host (accel) and the ril property',
    year: 2026,
    class: 'ril-advertised-vs-host',
    layer: 'emulator',
    catch: 'engine-property',
    status: 'caught',
    caughtBy: 'engine: without IDR3.RIL no command carries TG, NUM, SCALE or TTL',
    tests: [T_VEC],
  },
];

/** A fault's alias from a case's commit: `linux-<12 hex>` or `qemu-<12 hex>`. */
export function caseAlias(c: CorpusCase): string | null {
  return c.commit === null ? null : `${c.project}-${c.commit}`;
}

export function caseById(id: string): CorpusCase | undefined {
  return CORPUS.find((c) => c.id === id);
}
