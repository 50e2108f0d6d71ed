/** The rules an audit checks (ids, categories, titles) and the shape of a finding. */

export type RuleCategory = 'illegal' | 'error' | 'unpredictable' | 'ordering' | 'identity' | 'waste' | 'perf';

export const RULES = {
  illegal: { category: 'illegal', title: 'illegal entry (CERROR_ILL)' },
  'res0-set': { category: 'illegal', title: 'RES0 bits set (tolerated in lax mode)' },
  'smmu-error': { category: 'error', title: 'the SMMU stopped on this entry (CONS.ERR)' },
  'misaligned-range': { category: 'unpredictable', title: 'range base misaligned for the TTL level' },
  'range-past-top': { category: 'unpredictable', title: 'range runs past the top of the address space' },
  'atc-before-sync': { category: 'ordering', title: 'ATC_INV before the CMD_SYNC completing a TLBI' },
  'nested-s1-not-cleared': { category: 'ordering', title: 'S2_IPA of a nested VMID without a later NH_ALL + SYNC' },
  'nested-nh-all-same-batch': { category: 'ordering', title: 'NH_ALL in the same batch as the S2_IPA' },
  'missing-final-sync': { category: 'ordering', title: 'commands without a final CMD_SYNC' },
  'duplicate-span': { category: 'waste', title: 'same span invalidated twice in one batch' },
  'covered-by-whole-tag': { category: 'waste', title: 'covered by a whole-ASID/VMID command in the batch' },
  'long-batch': { category: 'waste', title: 'batch longer than --max-batch without a CMD_SYNC' },
  // The bug corpus (src/audit/rules-corpus.ts).
  'atc-before-tlbi': { category: 'ordering', title: 'ATC_INV before a TLBI of the same batch' },
  'nested-vmid-missing': { category: 'identity', title: 'NH_VA/NH_ASID without the nesting VMID of its ASID' },
  'nh-under-e2h': { category: 'identity', title: 'TLBI_NH_* for a host stage 1 under CR2.E2H' },
  'sync-msidata-order': {
    category: 'ordering',
    title: 'CMD_SYNC MSIData below an earlier CMD_SYNC to the same MSIAddr',
  },
  // Performance lints: exit 0 unless audit --strict.
  'sync-without-work': { category: 'perf', title: 'CMD_SYNC with nothing to complete' },
  'per-page-storm': { category: 'perf', title: '512 or more address TLBIs of one tag in one batch' },
  'whole-tag-small-range': { category: 'perf', title: 'whole-tag TLBI for a small range (its ATC_INVs)' },
} as const satisfies Record<string, { category: RuleCategory; title: string }>;

export type RuleId = keyof typeof RULES;
export const RULE_IDS = Object.keys(RULES) as RuleId[];

export interface Finding {
  readonly rule: RuleId;
  readonly category: RuleCategory;
  /** Index of the entry in the stream (queue order). */
  readonly index: number;
  readonly command: string;
  /** Other entries the finding involves (the TLBI an ATC_INV depends on, the covering command, …). */
  readonly related: readonly number[];
  /** What was found, with the operands. */
  readonly message: string;
  /** The architecture's reason. */
  readonly reason: string;
}
