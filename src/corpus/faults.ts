/**
 * The fault catalog: for every fault of src/sim/faults.ts, its class, the layer it is injected at, what
 * catches it, and the configuration that reaches it — `requires` (an explicit option that contradicts it is
 * refused) and `prefers` (chosen when the option was not given, because the fault shows sooner there).
 * Aliases come from the corpus records (src/corpus/cases.ts): every case a fault reproduces adds
 * `linux-<commit>` / `qemu-<commit>`.
 */
import { FAULT_HELP, FAULT_NAMES, type FaultName } from '../sim/faults.js';
import { CORPUS, caseAlias, type CorpusCase, type CorpusLayer } from './cases.js';

export type SetupStage = '1' | '2' | 'nested';
export type SetupErratum = 'mmu700-2812531' | 'tegra264-repeat';
export type SetupScenario = 'driver' | 'pkvm' | 'nested';

/** A configuration of `simulate` (each field as the option of the same name; granule in bytes). */
export interface FaultSetup {
  readonly stage?: SetupStage;
  readonly granule?: 4096 | 16384 | 65536;
  readonly ril?: boolean;
  readonly ats?: boolean;
  readonly e2h?: boolean;
  readonly ds?: boolean;
  /** Errata every SMMU of the workload has (no option: the fault sets them). */
  readonly errata?: readonly SetupErratum[];
  /** The workload maps page runs of 65-128 pages (no option: the fault sets it; see SimConfig.longRuns). */
  readonly longRuns?: boolean;
  /** The fault lives in a consumer: it is reached by this scenario, not by the randomized workload. */
  readonly scenario?: SetupScenario;
  /** Other scenarios whose consumer has the fault too (an explicit --scenario among them is kept). */
  readonly alsoScenarios?: readonly SetupScenario[];
  /** Scenarios: the probability per operation that an ATS endpoint lets its next invalidation time out. */
  readonly atsTimeouts?: number;
}

/**
 * Whether the fault shows in a command stream alone (a ring dump or a QEMU trace, what `audit` reads): the
 * audit rule that reports the stream `simulate --fault NAME --emit-stream` writes (an id of src/audit/rules-table.ts;
 * the corpus may not import audit, test/audit-corpus.test.ts checks it), or why no rule can.
 */
export type StreamVisibility = { readonly rule: string } | { readonly reason: string };

export interface FaultInfo {
  readonly class: string;
  readonly layer: CorpusLayer;
  /** What reports it. */
  readonly caughtBy: string;
  readonly inStream: StreamVisibility;
  readonly requires: FaultSetup;
  readonly prefers: FaultSetup;
}

const CHECKER = 'checker: stale translations (exit 1)';

/** The change a stream invalidates for lives in the page tables, not in the stream. */
const NEEDS_CHANGE =
  'what changed is in the page tables, not in the commands: a stream that invalidates less than changed reads ' +
  "like one that invalidates exactly that; audit --capture, which has the kernel's unmap requests, checks that " +
  'each request is covered';
/** The fault is in memory (STE, CD, descriptors) that a command stream does not carry. */
const inMemory = (what: string): StreamVisibility => ({
  reason: `${what} is in memory, not in the command stream: audit sees the CFGI/TLBI commands but not the structures they are for`,
});

/**
 * Keyed by name (a fault listed here that is not in FAULT_NAMES yet is ignored; a fault of FAULT_NAMES
 * missing here is listed with the fallback below and fails test/corpus-records.test.ts).
 */
const CATALOG: Readonly<Record<string, FaultInfo>> = {
  'drop-sync': {
    class: 'missing-sync',
    layer: 'consumer',
    caughtBy: CHECKER,
    inStream: { rule: 'missing-final-sync' },
    requires: {},
    prefers: {},
  },
  'skip-last-tlbi': {
    class: 'missing-tlbi',
    layer: 'engine',
    caughtBy: CHECKER,
    inStream: { reason: NEEDS_CHANGE },
    requires: {},
    prefers: {},
  },
  'leaf-always': {
    class: 'leaf-on-table-teardown',
    layer: 'engine',
    caughtBy: `${CHECKER}: walk-cache entries into freed tables`,
    inStream: {
      reason: `whether a table was freed is in the page tables (Leaf=1 is right for a leaf-only change); ${NEEDS_CHANGE}`,
    },
    requires: {},
    prefers: { ats: false },
  },
  'wrong-ttl': {
    class: 'ttl-wrong-level',
    layer: 'engine',
    caughtBy: CHECKER,
    inStream: {
      reason: `the level of the entries a TLBI is for is in the page tables (only TTL values illegal for the granule show as findings); ${NEEDS_CHANGE}`,
    },
    requires: { ril: true },
    prefers: { ats: false },
  },
  'wrong-tg': {
    class: 'tg-mismatch',
    layer: 'engine',
    caughtBy: CHECKER,
    inStream: {
      reason: `the granule of a table is in its CD or STE, not in the TLBI (audit takes TG as given); ${NEEDS_CHANGE}`,
    },
    requires: { ril: true },
    prefers: { granule: 16384 },
  },
  'no-atc': {
    class: 'missing-atc-inv',
    layer: 'engine',
    caughtBy: CHECKER,
    inStream: inMemory('which streams have ATS enabled (STE.EATS)'),
    requires: { ats: true },
    prefers: {},
  },
  'atc-before-tlbi': {
    class: 'atc-before-tlbi',
    layer: 'consumer',
    caughtBy: `${CHECKER}: the ATC refilled from a TLB entry not yet invalidated`,
    inStream: { rule: 'atc-before-tlbi' },
    requires: { ats: true },
    prefers: {},
  },
  'no-nested-s1-clear': {
    class: 'nested-s1-not-cleared',
    layer: 'engine',
    caughtBy: `${CHECKER}: combined nested entries after a stage-2 change`,
    inStream: { rule: 'nested-s1-not-cleared' },
    requires: { stage: 'nested' },
    prefers: { ats: false },
  },
  'short-range': {
    class: 'range-truncated',
    layer: 'engine',
    caughtBy: CHECKER,
    inStream: { reason: NEEDS_CHANGE },
    requires: {},
    prefers: { ats: false },
  },
  'no-cfgi': {
    class: 'missing-cfgi',
    layer: 'consumer',
    caughtBy: `${CHECKER}: cached STE/CD differs from memory (the fields named), old tag refilled`,
    inStream: inMemory('an STE or CD rewrite'),
    requires: {},
    prefers: {},
  },
  'no-repeat': {
    class: 'no-repeat',
    layer: 'hardware-erratum',
    caughtBy: `SMMU model (erratum tegra264-repeat) loses the single copy; ${CHECKER}`,
    inStream: {
      reason:
        'a single issue of a batch is legal on every other SMMU, and nothing that comes with a stream (ID registers included) says the SMMU has the Tegra264 erratum',
    },
    requires: { errata: ['tegra264-repeat'] },
    prefers: {},
  },
  'nested-vmid-missing': {
    class: 'nested-vmid-missing',
    layer: 'engine',
    caughtBy: `${CHECKER}: nested stage-1 entries tagged with the parent VMID survive a TLBI_NH_VA of VMID 0`,
    inStream: { rule: 'nested-vmid-missing' },
    requires: { stage: 'nested' },
    prefers: { ats: false },
  },
  'nh-under-e2h': {
    class: 'nh-opcode-under-e2h',
    layer: 'engine',
    caughtBy: `${CHECKER}: TLBI_NH_* act on the EL1 regime, the EL2-E2H entries stay cached`,
    inStream: { rule: 'nh-under-e2h' },
    requires: { stage: '1', e2h: true },
    prefers: {},
  },
  'first-page-only': {
    class: 'first-page-only',
    layer: 'engine',
    caughtBy: `${CHECKER}: every page of a range but the first stays cached`,
    inStream: { reason: NEEDS_CHANGE },
    requires: {},
    prefers: { ats: false },
  },
  'tg-from-empty-pgsize': {
    class: 'tg-from-empty-pgsize',
    layer: 'engine',
    caughtBy: `${CHECKER}: a range command naming the 64K granule does not remove the 4K table's entries`,
    inStream: { reason: `the granule of a table is in its CD or STE, not in the TLBI; ${NEEDS_CHANGE}` },
    requires: { ril: true, granule: 4096 },
    prefers: { ats: false },
  },
  'illegal-range-encoding': {
    class: 'illegal-range-encoding',
    layer: 'engine',
    caughtBy: 'codec / SMMU model: CERROR_ILL (TG≠0 with TTL = SCALE = NUM = 0); the lost command leaves stale walks',
    inStream: { rule: 'illegal' },
    requires: { ril: true },
    prefers: { ats: false },
  },
  'no-force-sync': {
    class: 'no-sync-within-64',
    layer: 'hardware-erratum',
    caughtBy: `SMMU model (erratum mmu700-2812531) loses a command past 63 without CMD_SYNC; ${CHECKER}`,
    inStream: { rule: 'long-batch' },
    requires: { errata: ['mmu700-2812531'], ril: false },
    prefers: { ats: false, longRuns: true },
  },
  'scale-beyond-smmu': {
    class: 'scale-beyond-smmu',
    layer: 'codec',
    caughtBy: 'codec / SMMU model: CERROR_ILL (SCALE above 31 without IDR5.DS); the lost flush leaves the old ASID',
    inStream: { rule: 'illegal' },
    requires: { stage: '1', granule: 4096, ds: false },
    prefers: {},
  },
  'end-off-by-one': {
    class: 'end-off-by-one',
    layer: 'consumer',
    caughtBy: `${CHECKER}: the last page of the change stays cached`,
    inStream: { reason: NEEDS_CHANGE },
    requires: {},
    prefers: { ats: false },
  },
  'asid-reuse-no-flush': {
    class: 'asid-reuse-no-flush',
    layer: 'consumer',
    caughtBy: `${CHECKER}: TLB entries under the old ASID/VMID outlive its renumbering`,
    inStream: inMemory('the CD or STE that renumbers the ASID/VMID'),
    requires: {},
    prefers: {},
  },
  'no-atc-on-detach': {
    class: 'no-atc-inv-on-detach',
    layer: 'consumer',
    caughtBy: `${CHECKER}: the detached device's ATC still holds translations of its old domain`,
    inStream: inMemory('a detach (the STE rewrite) and whether the device had ATS'),
    requires: { ats: true, scenario: 'driver' },
    prefers: {},
  },
  'ignore-atc-timeout': {
    class: 'atc-timeout-ignored',
    layer: 'consumer',
    caughtBy: `${CHECKER}: ATC entries left by an ATC_INV whose CMD_SYNC raised CERROR_ATC_INV_SYNC`,
    inStream: {
      reason:
        'the CERROR_ATC_INV_SYNC lives in CMDQ_CONS.ERR at the moment of the error, and the quarantine it calls for is an STE rewrite; a ring read afterwards shows neither',
    },
    requires: { ats: true, scenario: 'driver', alsoScenarios: ['pkvm', 'nested'] },
    prefers: { atsTimeouts: 0.05 },
  },
};

const FALLBACK: FaultInfo = {
  class: 'unclassified',
  layer: 'engine',
  caughtBy: CHECKER,
  inStream: { reason: 'not described' },
  requires: {},
  prefers: {},
};

export function faultInfo(name: FaultName): FaultInfo {
  return CATALOG[name] ?? FALLBACK;
}

/** Whether the catalog describes `name` (tests require it for every fault). */
export function hasFaultInfo(name: string): boolean {
  return Object.hasOwn(CATALOG, name);
}

/** The corpus cases a fault reproduces. */
export function casesOfFault(name: FaultName): CorpusCase[] {
  return CORPUS.filter((c) => c.fault === name);
}

/** The aliases of a fault: one per corpus case it reproduces that has a commit. */
export function faultAliases(name: FaultName): string[] {
  const out: string[] = [];
  for (const c of casesOfFault(name)) {
    const a = caseAlias(c);
    if (a !== null && !out.includes(a)) out.push(a);
  }
  return out;
}

/** A fault name or alias → the fault, or null. */
export function resolveFault(nameOrAlias: string): FaultName | null {
  const s = nameOrAlias.trim().toLowerCase();
  for (const f of FAULT_NAMES) if (f === s || faultAliases(f).includes(s)) return f;
  return null;
}

/** One fault as `simulate --list-faults --json` lists it. */
export interface FaultListing {
  readonly name: FaultName;
  readonly aliases: string[];
  /** The first corpus case's commit and title (null when the fault reproduces no recorded bug). */
  readonly commit: string | null;
  readonly title: string | null;
  readonly cases: string[];
  readonly class: string;
  readonly layer: CorpusLayer;
  readonly caughtBy: string;
  /** The audit rule that reports the fault in a command stream, or why none can. */
  readonly inStream: StreamVisibility;
  readonly description: string;
  /** The configuration the fault picks by itself: required settings, then preferred ones. */
  readonly configuration: { readonly requires: FaultSetup; readonly prefers: FaultSetup };
}

export function listFaults(): FaultListing[] {
  return FAULT_NAMES.map((name) => {
    const info = faultInfo(name);
    const cases = casesOfFault(name);
    const first = cases[0];
    return {
      name,
      aliases: faultAliases(name),
      commit: first?.commit ?? null,
      title: first?.title ?? null,
      cases: cases.map((c) => c.id),
      class: info.class,
      layer: info.layer,
      caughtBy: info.caughtBy,
      inStream: info.inStream,
      description: FAULT_HELP[name],
      configuration: { requires: info.requires, prefers: info.prefers },
    };
  });
}

/** The configuration a fault picks by itself: its preferred settings, overridden by its required ones. */
export function faultSetup(name: FaultName): FaultSetup {
  const info = faultInfo(name);
  return { ...info.prefers, ...info.requires };
}
