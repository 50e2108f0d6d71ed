/**
 * The built-in end-to-end scenarios (`simulate --scenario NAME`): `driver`, `pkvm`, `nested`.
 *
 * `runScenario(name, options)` runs the scenario under the chosen policy (the detailed run) and again, with
 * the same seed, under every other policy, and returns one report: the detailed run plus a side-by-side
 * comparison (commands, CMD_SYNCs, whole-tag commands, pages invalidated and over-invalidated, stale
 * translations, failures). `ok` is false when any run found a stale translation or broke an invariant.
 * `formatScenarioReport(report)` gives the human text (lines). Both are free of Node APIs.
 */
import { FAULT_HELP } from '../faults.js';
import { failures, runToEnd, type ScenarioOptions, type ScenarioRun, type ScenarioStepper } from './common.js';
import { POLICIES, type Policy } from '../../tlbi/plan.js';
import { startDriverScenario } from './driver.js';
import { startNestedScenario } from './nested.js';
import { startPkvmScenario } from './pkvm.js';

export * from './common.js';
export { runDriverScenario, startDriverScenario } from './driver.js';
export { runNestedScenario, startNestedScenario } from './nested.js';
export { runPkvmScenario, startPkvmScenario } from './pkvm.js';

export const SCENARIO_NAMES = ['driver', 'pkvm', 'nested'] as const;
export type ScenarioName = (typeof SCENARIO_NAMES)[number];
/** What `simulate --scenario` runs when no name is given. */
export const DEFAULT_SCENARIO: ScenarioName = 'driver';

export const SCENARIO_HELP: Readonly<Record<ScenarioName, string>> = {
  driver:
    'kernel-driver domain layer: 3 SMMUs (plain, force-sync erratum, E2H), S1 and S2 domains, strict and lazy, ATS masters, PASIDs, attach/detach and map/unmap churn',
  pkvm: 'pKVM hypervisor: identity stage 2 for host DMA, three VMs boot and tear down, donate/share/reclaim, host command filter, an SMMU powers off and on',
  nested:
    'nesting parent with two vSMMUs: guest stage-1 domains, ATS devices, guest RAM migrated by the VMM, device moves',
};

export function isScenarioName(s: string): s is ScenarioName {
  return (SCENARIO_NAMES as readonly string[]).includes(s);
}

/** One run of the scenario as a stepper: set up now, advanced by the caller. */
export function startScenarioOnce(name: ScenarioName, o: ScenarioOptions): ScenarioStepper {
  switch (name) {
    case 'driver':
      return startDriverScenario(o);
    case 'pkvm':
      return startPkvmScenario(o);
    case 'nested':
      return startNestedScenario(o);
  }
}

export function runScenarioOnce(name: ScenarioName, o: ScenarioOptions): ScenarioRun {
  return runToEnd(startScenarioOnce(name, o));
}

export interface PolicyComparison {
  policy: Policy;
  commands: number;
  syncs: number;
  /** Whole-tag commands: wholeAsid + wholeVmid. */
  wholeTag: number;
  /** Commands that discarded a whole ASID / a whole VMID. */
  wholeAsid: number;
  wholeVmid: number;
  /** Address span the ranged TLBIs covered, in 4 KiB pages summed over TLB targets (not a command cost). */
  pagesInvalidated: number;
  /** The part of that span beyond the changed range. */
  pagesOverInvalidated: number;
  stale: number;
  failures: number;
  opsPerSecond: number;
}

export interface ScenarioReport {
  scenario: ScenarioName;
  seed: number;
  config: {
    granule: number;
    ril: boolean;
    ats: boolean;
    policy: Policy;
    fault: string | null;
    ops: number | null;
    /** Only when set: the probability per operation that an ATS endpoint lets an invalidation time out. */
    atsTimeouts?: number;
    /** Only when set: every SMMU has IDR5.DS. */
    ds?: boolean;
  };
  /** The run under the chosen policy, in full. */
  run: ScenarioRun;
  /** Every policy on the same seed, side by side. */
  comparison: PolicyComparison[];
  /** Stale translations plus invariant violations, over all runs. */
  failures: number;
  ok: boolean;
  /**
   * Only in a partial report (Ctrl-C): the runs stopped after `opsDone` main-loop operations in all (the
   * comparison holds only the runs that were started).
   */
  interrupted?: true;
  opsDone?: number;
}

function compare(r: ScenarioRun): PolicyComparison {
  return {
    policy: r.policy,
    commands: r.commands.commands,
    syncs: r.commands.syncs,
    wholeTag: r.invalidation.wholeTag,
    wholeAsid: r.invalidation.wholeAsid,
    wholeVmid: r.invalidation.wholeVmid,
    pagesInvalidated: r.invalidation.pagesInvalidated,
    pagesOverInvalidated: r.invalidation.pagesOverInvalidated,
    stale: r.stale,
    failures: failures(r),
    opsPerSecond: r.opsPerSecond,
  };
}

/**
 * `runScenario` in pieces: the run under the chosen policy first, then the same seed under every other policy
 * (POLICIES order), each made when the one before it has finished. `advance(n)` runs up to n more main-loop
 * operations over the whole sequence; `report()` gives the report — complete, or (when called before
 * `advance` said done) a partial one marked `interrupted`, holding the finished runs and the cut one (its
 * final checks done over the operations it ran) and leaving out the runs never started.
 */
export class ScenarioSession {
  /** Main-loop operations over every policy run: runs × operations per run. */
  readonly total: number;
  private readonly order: readonly Policy[];
  private readonly runs = new Map<Policy, ScenarioRun>();
  // The run in progress is that of order[runs.size] (the runs before it are in `runs`).
  private current: ScenarioStepper | null;
  private doneBefore = 0;

  constructor(
    readonly name: ScenarioName,
    readonly options: ScenarioOptions,
  ) {
    this.order = [options.policy, ...POLICIES.filter((p) => p !== options.policy)];
    this.current = startScenarioOnce(name, options);
    this.total = this.current.planned * this.order.length;
  }

  /** Main-loop operations done, over every run. */
  get done(): number {
    return this.doneBefore + (this.current?.done ?? 0);
  }

  /** Main-loop operations planned per run. */
  get perRun(): number {
    return this.total / this.order.length;
  }

  /** Run up to `n` more main-loop operations; true once every run has finished. */
  advance(n: number): boolean {
    let left = n;
    while (this.current !== null) {
      const before = this.current.done;
      const finished = this.current.advance(left);
      left -= this.current.done - before;
      if (!finished) return false;
      this.closeCurrent(true);
      if (left <= 0) return this.current === null;
    }
    return true;
  }

  /** Finish the current run (its final checks, its report); with `startNext`, make the next policy's run. */
  private closeCurrent(startNext: boolean): void {
    const cur = this.current!;
    this.runs.set(this.order[this.runs.size]!, cur.finish());
    this.doneBefore += cur.done;
    const policy = this.order[this.runs.size];
    this.current = startNext && policy !== undefined ? startScenarioOnce(this.name, { ...this.options, policy }) : null;
  }

  /** The report: complete when every run finished, else partial (marked interrupted). */
  report(): ScenarioReport {
    const interrupted = this.current !== null;
    if (interrupted) this.closeCurrent(false);
    const o = this.options;
    const main = this.runs.get(o.policy)!;
    const runs = POLICIES.flatMap((p) => this.runs.get(p) ?? []);
    const total = runs.reduce((n, r) => n + failures(r), 0);
    return {
      scenario: this.name,
      seed: o.seed,
      config: {
        granule: o.granule,
        ril: o.ril,
        ats: o.ats,
        policy: o.policy,
        fault: o.fault,
        ops: o.ops ?? null,
        ...((o.atsTimeouts ?? 0) > 0 ? { atsTimeouts: o.atsTimeouts } : {}),
        ...(o.ds === true ? { ds: true } : {}),
      },
      run: main,
      comparison: runs.map(compare),
      failures: total,
      ok: total === 0,
      ...(interrupted ? { interrupted: true as const, opsDone: this.done } : {}),
    };
  }
}

export function runScenario(name: ScenarioName, o: ScenarioOptions): ScenarioReport {
  const s = new ScenarioSession(name, o);
  s.advance(s.total);
  return s.report();
}

function kib(g: number): string {
  return `${g / 1024}K`;
}

/** What a stale translation is, in one sentence (the report's definition). */
export const STALE_TRANSLATION =
  'stale translation: a TLB, walk-cache or ATC entry still cached after its CMD_SYNC that the tables no longer give';

/** What the scenario set up and did, in two lines, for the options of `config`. */
export function describeScenario(name: ScenarioName, c: ScenarioReport['config']): string[] {
  const ril = `range invalidation ${c.ril ? 'on' : 'off'}`;
  const ats = (n: number): string => (c.ats ? `${n} with ATS` : 'ATS off');
  switch (name) {
    case 'driver':
      return [
        `3 SMMUs (plain; force-sync erratum, 32-entry queue; E2H without ATS), ${ril}, ${kib(c.granule)} granule;`,
        `5 domains (stage 1: 2 strict + 1 lazy, stage 2: 1 strict + 1 lazy), 7 masters (${ats(3)}), PASIDs, churn`,
      ];
    case 'pkvm':
      return [
        `3 SMMUs (plain; force-sync erratum; 32-entry queue), ${ril}, ${kib(c.granule)} granule; identity stage 2`,
        `(strict) for 6 host devices (${ats(3)}), 3 VMs, donate/share/reclaim, host command filter, SMMU off/on`,
      ];
    case 'nested':
      return [
        `2 SMMUs (plain; force-sync erratum), ${ril}, ${kib(c.granule)} granule; one vSMMU per SMMU over a nesting`,
        `parent: 4 guest stage-1 domains (strict), 4 nested devices (${ats(2)}), guest RAM migrated, host stage 2`,
      ];
  }
}

/** Counter names (camelCase keys of the JSON document) in words, for the text report. */
const COUNTER_WORDS: Readonly<Record<string, string>> = {
  maps: 'DMA maps',
  unmaps: 'DMA unmaps',
  attaches: 'attaches',
  detaches: 'detaches',
  pasidAttaches: 'PASID attaches',
  domainsRecreated: 'domains re-created',
  iotlbSyncs: 'IOTLB syncs',
  queueFlushes: 'lazy queue flushes',
  tagFlushes: 'whole-tag flushes',
  atcFlushes: 'ATC flushes',
  dmaAccesses: 'DMA accesses',
  guestRamMigrations: 'guest RAM migrations',
  donations: 'donations',
  reclaims: 'reclaims',
  shares: 'shares',
  unshares: 'unshares',
  vmBoots: 'VM boots',
  vmTeardowns: 'VM teardowns',
  powerOffs: 'SMMU power-offs',
  powerOns: 'SMMU power-ons',
  hostMaps: 'host maps',
  hostUnmaps: 'host unmaps',
  hostQueueBatches: 'host queue batches',
  hostBogusCommands: 'bogus host commands',
  hostAccesses: 'host accesses',
  vmAccesses: 'VM accesses',
  isolationChecks: 'isolation checks',
  wrongTranslations: 'wrong translations',
  atcToDetached: 'ATC_INVs to detached streams',
  unrefWarnings: 'unref warnings',
  hostViolations: 'host access violations',
  vmViolations: 'VM access violations',
  isolationViolations: 'isolation violations',
};

/** A counter's key in words: the table above, else the camelCase split into lower-case words. */
export function counterWords(key: string): string {
  return COUNTER_WORDS[key] ?? key.replace(/([a-z0-9])([A-Z])/g, '$1 $2').toLowerCase();
}

/** A byte count with a binary unit (B, KiB … EiB), three significant digits. */
export function formatSpan(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB', 'EiB'];
  let u = 0;
  let v = bytes;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${v} B` : `${v.toPrecision(3)} ${units[u]}`;
}

function wholeTags(p: PolicyComparison): string {
  const parts: string[] = [];
  if (p.wholeAsid > 0) parts.push(`${p.wholeAsid} ASID${p.wholeAsid === 1 ? '' : 's'}`);
  if (p.wholeVmid > 0) parts.push(`${p.wholeVmid} VMID${p.wholeVmid === 1 ? '' : 's'}`);
  return parts.join(' + ') || '0';
}

/** The report as human-readable lines. */
export function formatScenarioReport(r: ScenarioReport): string[] {
  const L: string[] = [];
  const c = r.config;
  const run = r.run;
  L.push(
    `scenario ${r.scenario}: seed ${r.seed}, granule ${kib(c.granule)}, ril ${c.ril ? 'on' : 'off'}, ats ${c.ats ? 'on' : 'off'}, ` +
      `policy ${c.policy}, fault ${c.fault ?? 'none'}` +
      (c.ds === true ? ', ds on' : '') +
      (c.atsTimeouts !== undefined ? `, ATS endpoint timeouts ${c.atsTimeouts} per operation` : ''),
  );
  for (const line of describeScenario(r.scenario, c)) L.push(`  ${line}`);
  L.push(`  ${STALE_TRANSLATION}`);
  if (c.fault !== null) L.push(`  fault: ${FAULT_HELP[c.fault as keyof typeof FAULT_HELP] ?? c.fault}`);
  L.push('');
  const pad = (k: string): string => `  ${counterWords(k).padEnd(28)}`;
  L.push(`operations      ${run.ops} in ${(run.elapsedMs / 1000).toFixed(2)} s (${run.opsPerSecond} ops/s)`);
  for (const [k, v] of Object.entries(run.operations)) L.push(`${pad(k)} ${v}`);
  L.push(`commands        ${run.commands.commands} (+ ${run.commands.syncs} CMD_SYNCs)`);
  for (const [k, v] of Object.entries(run.commands.byKind)) L.push(`  ${k.padEnd(28)} ${v}`);
  if (run.commands.skipped > 0) L.push(`  ${'skipped (SMMU powered off)'.padEnd(28)} ${run.commands.skipped}`);
  L.push(`CMD_SYNCs       ${run.commands.syncs}`);
  if (run.hostFilter !== undefined) {
    const h = run.hostFilter.counts;
    L.push(
      `host queue      ${Object.entries(h)
        .map(([k, v]) => `${v} ${k}`)
        .join(', ')}`,
    );
    for (const e of run.hostFilter.examples as { action: string; command?: string; reason: string }[])
      L.push(`  ${e.action.padEnd(9)} ${(e.command ?? '?').padEnd(16)} ${e.reason}`);
  }
  L.push(`stale translations ${run.stale}`);
  L.push('invariants (each must be 0)');
  for (const [k, v] of Object.entries(run.violations)) L.push(`${pad(k)} ${v}`);
  for (const s of run.staleReports.slice(0, 5)) {
    L.push(`  stale ${s.cache} entry on SMMU ${s.smmu}: ${JSON.stringify(s.entry)}`);
    L.push(`    at ${s.address}: cached ${s.cached}; live: ${s.live}`);
  }
  L.push('');
  L.push('the same run under each policy:');
  const head = [
    'policy',
    'commands',
    'CMD_SYNCs',
    'whole ASID/VMID',
    'span covered',
    'beyond change',
    'stale',
    'failures',
  ];
  const rows = r.comparison.map((p) => [
    p.policy,
    String(p.commands),
    String(p.syncs),
    wholeTags(p),
    formatSpan(p.pagesInvalidated * 4096),
    formatSpan(p.pagesOverInvalidated * 4096),
    String(p.stale),
    String(p.failures),
  ]);
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  L.push('  ' + head.map((h, i) => (i === 0 ? h.padEnd(w[i]!) : h.padStart(w[i]!))).join('  '));
  for (const row of rows) L.push('  ' + row.map((v, i) => (i === 0 ? v.padEnd(w[i]!) : v.padStart(w[i]!))).join('  '));
  L.push('  (for table changes. whole ASID/VMID: commands that discard all of one ASID or VMID on one SMMU;');
  L.push('  span covered: addresses the ranged TLBIs covered, summed over TLB targets — a span, not a cost: one');
  L.push('  range command can cover a freed table; beyond change: the part of it outside the changed range)');
  L.push('');
  L.push(
    r.ok
      ? 'result          ok: 0 stale translations, every invariant held'
      : `result          FAILED: ${r.failures} stale translations or violations`,
  );
  return L;
}
