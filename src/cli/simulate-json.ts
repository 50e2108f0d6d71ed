/**
 * The one JSON document of `simulate --json`, for the randomized workload and for a scenario alike: both carry
 * the same top-level fields, in the same places (`ops`, `stale`, `commands`, … at the top); what only one kind
 * has lives in `workload` or `scenario`, null for the other kind.
 *
 * schemaVersion 2 (version 1 put a scenario's figures under `run` and the workload's at the top).
 */
import type { ScenarioReport } from '../sim/scenarios/index.js';
import type { SimReport } from '../sim/workload.js';

export const SIMULATE_SCHEMA_VERSION = 2;

export interface SimulateDocument {
  schemaVersion: number;
  kind: 'workload' | 'scenario';
  seed: number;
  config: Record<string, unknown>;
  /** No stale translation and (scenarios) every invariant held, in every run. */
  ok: boolean;
  ops: number;
  /** Operations by kind (the workload: maps and unmaps). */
  operations: Record<string, number>;
  /** Entries by command name, CMD_SYNC included. */
  commands: Record<string, number>;
  syncs: number;
  stale: number;
  staleReports: unknown[];
  /** The consumer's invariants by name, each must be 0 (the workload has none). */
  violations: Record<string, number>;
  /** Stale translations plus violations, over every run the document covers. */
  failures: number;
  elapsedMs: number;
  opsPerSecond: number;
  workload: {
    illegal: number;
    caches: SimReport['caches'];
    translations: number;
    hits: SimReport['hits'];
  } | null;
  scenario: {
    name: string;
    /** Commands not sent because their SMMU was powered off. */
    skipped: number;
    invalidation: ScenarioReport['run']['invalidation'];
    hostFilter: ScenarioReport['run']['hostFilter'] | null;
    /** The same run under every policy, side by side. */
    comparison: ScenarioReport['comparison'];
  } | null;
  /**
   * Only when the run was interrupted (Ctrl-C): the workload's document covers `ops` operations of
   * `opsPlanned`; a scenario's, `opsDone` of `opsPlanned` main-loop operations over every policy run.
   */
  interrupted?: true;
  opsPlanned?: number;
  opsDone?: number;
}

export function workloadDocument(r: SimReport): SimulateDocument {
  return {
    schemaVersion: SIMULATE_SCHEMA_VERSION,
    kind: 'workload',
    seed: r.seed,
    config: r.config,
    // A command the SMMU refused (CERROR_ILL) fails the run as a stale translation does (the engine emits none).
    ok: r.stale === 0 && r.illegal === 0,
    ops: r.ops,
    operations: { maps: r.maps, unmaps: r.unmaps },
    commands: r.commands,
    syncs: r.syncs,
    stale: r.stale,
    staleReports: r.staleReports,
    violations: {},
    failures: r.stale + r.illegal,
    elapsedMs: r.elapsedMs,
    opsPerSecond: r.opsPerSecond,
    workload: { illegal: r.illegal, caches: r.caches, translations: r.translations, hits: r.hits },
    scenario: null,
    ...(r.interrupted === true ? { interrupted: true as const } : {}),
  };
}

export function scenarioDocument(r: ScenarioReport): SimulateDocument {
  const run = r.run;
  return {
    schemaVersion: SIMULATE_SCHEMA_VERSION,
    kind: 'scenario',
    seed: r.seed,
    config: r.config,
    ok: r.ok,
    ops: run.ops,
    operations: run.operations,
    commands: run.commands.byKind,
    syncs: run.commands.syncs,
    stale: run.stale,
    staleReports: run.staleReports,
    violations: run.violations,
    failures: r.failures,
    elapsedMs: run.elapsedMs,
    opsPerSecond: run.opsPerSecond,
    workload: null,
    scenario: {
      name: r.scenario,
      skipped: run.commands.skipped,
      invalidation: run.invalidation,
      hostFilter: run.hostFilter ?? null,
      comparison: r.comparison,
    },
    ...(r.interrupted === true ? { interrupted: true as const, opsDone: r.opsDone ?? 0 } : {}),
  };
}
