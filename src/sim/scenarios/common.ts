/**
 * What every end-to-end scenario takes and returns. A scenario drives a consumer (the kernel-driver layer or
 * the pKVM hypervisor) over SMMU models for a seeded sequence of operations and reports operations,
 * commands by kind, CMD_SYNCs, stale translations and the consumer's own invariants (violations).
 */
import { Driver, type DriverCounters, type Master } from '../../consumers/driver.js';
import type { PlanTotalsJson, SmmuSpec } from '../../consumers/smmu-port.js';
import type { Granule } from '../../pgtable/config.js';
import type { StaleReport } from '../../smmu/checker.js';
import type { SmmuModel } from '../../smmu/model.js';
import { Rng } from '../../smmu/rng.js';
import type { Policy } from '../../tlbi/plan.js';
import { faultInjection, type FaultName } from '../faults.js';
import { log2Of } from '../../units.js';

export interface ScenarioOptions {
  readonly granule: Granule;
  readonly ril: boolean;
  readonly ats: boolean;
  readonly seed: number;
  readonly policy: Policy;
  readonly fault: FaultName | null;
  /** Main-loop operations (each scenario has its own default). */
  readonly ops?: number;
  /** Decode plans for the over-invalidation figures (default true). */
  readonly planStatistics?: boolean;
  /**
   * Scenario `nested`: what the VMM's stage-2 changes are — guest RAM chunk migrations (`ram`), moves of the
   * pages holding guest tables (`tables`: copy, remap in stage 2, scrub the old frame), or both (default).
   */
  readonly nestedVmm?: NestedVmmChanges;
  /**
   * Every scenario (`driver`, `pkvm`, `nested`): ATS endpoints that do not answer. Before each main-loop operation, with
   * this probability (0 to 1, default 0), one ATS endpoint chosen at random lets its next ATS Invalidate
   * Request time out, so that a later CMD_SYNC raises CERROR_ATC_INV_SYNC and the consumer must quarantine
   * the device. Drawn from a random stream of its own: the operations are those of the run without it.
   */
  readonly atsTimeouts?: number;
  /** IDR5.DS on every SMMU of the scenario (the model takes the 6-bit SCALE, the engine plans with it). */
  readonly ds?: boolean;
}

export type NestedVmmChanges = 'ram' | 'tables' | 'both';

export interface ScenarioRun {
  readonly policy: Policy;
  /** Operations by kind (maps, unmaps, attaches, donations, …). */
  readonly operations: Record<string, number>;
  /** Sum of the operations. */
  readonly ops: number;
  readonly commands: { commands: number; syncs: number; skipped: number; byKind: Record<string, number> };
  /** Stale translations the checker found after invalidations completed (must be 0). */
  readonly stale: number;
  readonly staleReports: StaleReport[];
  /** Every stale translation counted by the cache that held it (TLB, walk, ATC, …). */
  readonly staleByCache: Record<string, number>;
  /** The consumer's own invariants: each count must be 0. */
  readonly violations: Record<string, number>;
  readonly invalidation: PlanTotalsJson;
  /** pKVM only: the host command filter's decisions. */
  readonly hostFilter?: { counts: Record<string, number>; examples: unknown[] };
  readonly elapsedMs: number;
  readonly opsPerSecond: number;
}

export function failures(r: ScenarioRun): number {
  let n = r.stale;
  for (const v of Object.values(r.violations)) n += v;
  return n;
}

export function sumValues(o: Record<string, number>): number {
  let n = 0;
  for (const v of Object.values(o)) n += v;
  return n;
}

/** The level-2 block size of a granule (2 MiB, 32 MiB, 512 MiB). */
export function blockSize(granule: Granule): number {
  const g = log2Of(granule);
  return 2 ** (g + (g - 3));
}

export function now(): number {
  return Date.now();
}

/** The run report of a scenario built on the driver layer, from its counters and the operations it counted. */
export function driverRun(
  drv: Driver,
  policy: Policy,
  operations: Record<string, number>,
  elapsedMs: number,
): ScenarioRun {
  const c = drv.counters;
  const total = sumValues(operations);
  return {
    policy,
    operations,
    ops: total,
    commands: drv.stats.toJson(),
    stale: drv.stale.count,
    staleReports: drv.stale.reports,
    staleByCache: { ...drv.stale.byCache },
    violations: {
      wrongTranslations: c.wrongTranslations,
      atcToDetached: c.atcToDetached,
      unrefWarnings: c.unrefWarnings,
    },
    invalidation: drv.planTotals.toJson(),
    elapsedMs,
    opsPerSecond: elapsedMs > 0 ? Math.round((total * 1000) / elapsedMs) : 0,
  };
}

/** An ATS endpoint a scenario may make time out: its SMMU's model and its StreamID. */
export interface AtsEndpointRef {
  readonly model: SmmuModel;
  readonly sid: number;
}

/**
 * The `atsTimeouts` option: a function to call before each main-loop operation, which with probability
 * `rate` makes one of `endpoints` let one more ATS Invalidate Request time out (a no-op when the rate is 0
 * or there is no ATS endpoint).
 */
export function atsTimeoutArmer(
  rate: number | undefined,
  seed: number,
  endpoints: readonly AtsEndpointRef[],
): () => void {
  const r = rate ?? 0;
  if (!(r >= 0 && r <= 1)) throw new RangeError(`atsTimeouts must be from 0 to 1 (got ${r})`);
  if (r === 0 || endpoints.length === 0) return () => undefined;
  const rng = new Rng((seed ^ 0x7a3c_51e9) >>> 0);
  return () => {
    if (rng.float() >= r) return;
    const e = endpoints[rng.below(endpoints.length)]!;
    e.model.setEndpointTimeouts(e.sid, e.model.endpoints.timeoutsLeft(e.sid) + 1);
  };
}

/** The ATS endpoints of a driver's masters (every StreamID of every master with ATS), for atsTimeoutArmer. */
export function driverAtsEndpoints(drv: Driver, masters: readonly Master[]): AtsEndpointRef[] {
  return masters.filter((m) => m.ats).flatMap((m) => m.sids.map((sid) => ({ model: drv.port(m.smmu).model, sid })));
}

/** The timeout counts a driver-based report lists: present only when the run had endpoints that time out. */
export function atsTimeoutOperations(o: ScenarioOptions, c: DriverCounters): Record<string, number> {
  return (o.atsTimeouts ?? 0) > 0 ? { atcTimeouts: c.atcTimeouts, quarantines: c.quarantines } : {};
}

/** How one SMMU of a scenario differs from the options: its erratum, queue size, and ATS / E2H when not as given. */
export interface ScenarioSmmuShape {
  readonly forceSync?: boolean;
  readonly queueLog2Size: number;
  /** Default: the scenario's `ats`. */
  readonly ats?: boolean;
  readonly e2h?: boolean;
}

/** One SMMU of a scenario: the scenario's RIL (and ATS unless the shape says otherwise), the shape's features. */
export function scenarioSmmu(o: ScenarioOptions, shape: ScenarioSmmuShape): SmmuSpec {
  return {
    ril: o.ril,
    ats: shape.ats ?? o.ats,
    e2h: shape.e2h ?? false,
    forceSync: shape.forceSync ?? false,
    queueLog2Size: shape.queueLog2Size,
  };
}

/**
 * The Driver the driver and nested scenarios run: the given SMMUs (IDR5.DS on each when the options ask for
 * it), the scenario's granule, seed and fault, and plan statistics unless turned off.
 */
export function scenarioDriver(
  o: ScenarioOptions,
  smmus: readonly SmmuSpec[],
  extra: { readonly flushQueueDepth?: number } = {},
): Driver {
  return new Driver({
    smmus: smmus.map((s): SmmuSpec => (o.ds === true ? { ...s, ds: true } : s)),
    granule: o.granule,
    seed: o.seed,
    injection: faultInjection(o.fault),
    ...extra,
    planStatistics: o.planStatistics ?? true,
  });
}

/**
 * A scenario run that can be advanced in pieces (so that a long run sees Ctrl-C between them): the set-up is
 * done when it is made, `advance(n)` runs up to n more main-loop operations, and `finish()` does the final
 * checks and gives the run report — after the last operation, or early for a partial report of the first
 * `done` operations.
 */
export interface ScenarioStepper {
  /** Main-loop operations planned (the option `ops`, or the scenario's default). */
  readonly planned: number;
  /** Main-loop operations done so far. */
  readonly done: number;
  /** Run up to `n` more main-loop operations; true once all `planned` have run. */
  advance(n: number): boolean;
  /** The final checks and the run report (call once). */
  finish(): ScenarioRun;
}

/** A stepper over a main-loop step: `step(op)` is called for op = 0, 1, …, planned − 1. */
export function loopStepper(planned: number, step: (op: number) => void, finish: () => ScenarioRun): ScenarioStepper {
  let done = 0;
  return {
    planned,
    get done() {
      return done;
    },
    advance(n: number): boolean {
      const end = Math.min(planned, done + n);
      while (done < end) step(done++);
      return done >= planned;
    },
    finish,
  };
}

/** Run a stepper to its end in one piece. */
export function runToEnd(s: ScenarioStepper): ScenarioRun {
  s.advance(s.planned);
  return s.finish();
}
