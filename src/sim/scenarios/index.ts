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
import { failures, type ScenarioOptions, type ScenarioPolicy, type ScenarioRun } from './common.js';
import { runDriverScenario } from './driver.js';
import { runNestedScenario } from './nested.js';
import { runPkvmScenario } from './pkvm.js';

export * from './common.js';
export { runDriverScenario } from './driver.js';
export { runNestedScenario } from './nested.js';
export { runPkvmScenario } from './pkvm.js';

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

const POLICIES: readonly ScenarioPolicy[] = ['linux', 'tlbi'];

export function runScenarioOnce(name: ScenarioName, o: ScenarioOptions): ScenarioRun {
  switch (name) {
    case 'driver':
      return runDriverScenario(o);
    case 'pkvm':
      return runPkvmScenario(o);
    case 'nested':
      return runNestedScenario(o);
  }
}

export interface PolicyComparison {
  policy: ScenarioPolicy;
  commands: number;
  syncs: number;
  wholeTag: number;
  pagesInvalidated: number;
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
    policy: ScenarioPolicy;
    fault: string | null;
    ops: number | null;
  };
  /** The run under the chosen policy, in full. */
  run: ScenarioRun;
  /** Every policy on the same seed, side by side. */
  comparison: PolicyComparison[];
  /** Stale translations plus invariant violations, over all runs. */
  failures: number;
  ok: boolean;
}

function compare(r: ScenarioRun): PolicyComparison {
  return {
    policy: r.policy,
    commands: r.commands.commands,
    syncs: r.commands.syncs,
    wholeTag: r.invalidation.wholeTag,
    pagesInvalidated: r.invalidation.pagesInvalidated,
    pagesOverInvalidated: r.invalidation.pagesOverInvalidated,
    stale: r.stale,
    failures: failures(r),
    opsPerSecond: r.opsPerSecond,
  };
}

export function runScenario(name: ScenarioName, o: ScenarioOptions): ScenarioReport {
  const main = runScenarioOnce(name, o);
  const runs = POLICIES.map((p) => (p === o.policy ? main : runScenarioOnce(name, { ...o, policy: p })));
  const total = runs.reduce((n, r) => n + failures(r), 0);
  return {
    scenario: name,
    seed: o.seed,
    config: { granule: o.granule, ril: o.ril, ats: o.ats, policy: o.policy, fault: o.fault, ops: o.ops ?? null },
    run: main,
    comparison: runs.map(compare),
    failures: total,
    ok: total === 0,
  };
}

function kib(g: number): string {
  return `${g / 1024}K`;
}

/** The report as human-readable lines. */
export function formatScenarioReport(r: ScenarioReport): string[] {
  const L: string[] = [];
  const c = r.config;
  const run = r.run;
  L.push(
    `scenario ${r.scenario}: seed ${r.seed}, granule ${kib(c.granule)}, ril ${c.ril ? 'on' : 'off'}, ats ${c.ats ? 'on' : 'off'}, ` +
      `policy ${c.policy}, fault ${c.fault ?? 'none'}`,
  );
  if (c.fault !== null) L.push(`  fault: ${FAULT_HELP[c.fault as keyof typeof FAULT_HELP] ?? c.fault}`);
  L.push('');
  L.push(`operations      ${run.ops} in ${(run.elapsedMs / 1000).toFixed(2)} s (${run.opsPerSecond} ops/s)`);
  for (const [k, v] of Object.entries(run.operations)) L.push(`  ${k.padEnd(20)} ${v}`);
  L.push(`commands        ${run.commands.commands} (+ ${run.commands.syncs} CMD_SYNCs)`);
  for (const [k, v] of Object.entries(run.commands.byKind)) L.push(`  ${k.padEnd(20)} ${v}`);
  if (run.commands.skipped > 0) L.push(`  skipped (SMMU powered off) ${run.commands.skipped}`);
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
  L.push(`stale           ${run.stale}`);
  for (const [k, v] of Object.entries(run.violations)) L.push(`  ${k.padEnd(20)} ${v}`);
  for (const s of run.staleReports.slice(0, 5)) {
    L.push(`  stale ${s.cache} entry on SMMU ${s.smmu}: ${JSON.stringify(s.entry)}`);
    L.push(`    at ${s.address}: cached ${s.cached}; live: ${s.live}`);
  }
  L.push('');
  L.push('the same run under each policy:');
  const head = ['policy', 'commands', 'CMD_SYNCs', 'whole-tag', 'pages inval.', 'over-inval.', 'stale', 'failures'];
  const rows = r.comparison.map((p) => [
    p.policy,
    String(p.commands),
    String(p.syncs),
    String(p.wholeTag),
    String(p.pagesInvalidated),
    String(p.pagesOverInvalidated),
    String(p.stale),
    String(p.failures),
  ]);
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  L.push('  ' + head.map((h, i) => (i === 0 ? h.padEnd(w[i]!) : h.padStart(w[i]!))).join('  '));
  for (const row of rows) L.push('  ' + row.map((v, i) => (i === 0 ? v.padEnd(w[i]!) : v.padStart(w[i]!))).join('  '));
  L.push(
    '  (pages: 4 KiB pages covered by ranged TLBIs, summed over TLB targets; over-inval.: beyond the changed range)',
  );
  L.push('');
  L.push(
    r.ok
      ? 'result          ok: 0 stale translations, every invariant held'
      : `result          FAILED: ${r.failures} stale translations or violations`,
  );
  return L;
}
