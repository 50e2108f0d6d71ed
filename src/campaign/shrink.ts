/**
 * Counterexamples for the randomized workload: a failing case is shrunk to a short list of operations that
 * still leaves a stale translation, and written as a replay (`simulate --replay FILE`).
 *
 * Approach: record and shrink the operation list directly, not fast-check's `fc.commands`. The workload
 * draws its operations from its own seeded generator (src/smmu/rng.ts), and every seed's run is part of what
 * users and tests already rely on (seeded counts, goldens, `--seed N` to reproduce); generating the campaign's
 * operations through fast-check would make a second, different workload. fast-check can only shrink what it
 * generated, so instead the run records each operation with all of its random choices (workload.ts `SimOp`),
 * which makes any sub-list replayable without the generator (operations that no longer apply are skipped).
 *
 * The shrinker is delta debugging's chunk removal (Zeller's ddmin, simplified to its complement step): cut
 * the list at the first operation that failed, then try removing chunks of half, a quarter, … one operation,
 * keeping every removal after which the replay still fails, and repeat while a pass removed something and
 * the budget lasts. Each test replays the candidate from an empty model (the model's own seeded choices
 * included), so the result is deterministic for a given case.
 */
import { runSimulation, type SimConfig, type SimOp } from '../sim/workload.js';

export interface ShrinkBudget {
  /** Replays at most (default 3000). */
  readonly tests?: number;
  /** Wall-clock milliseconds at most (default 30 s); `now` gives the time (default Date.now). */
  readonly ms?: number;
  readonly now?: () => number;
}

export interface ShrinkResult {
  /** The shrunk operation list (every operation applies; the last one leaves the stale translation). */
  readonly script: SimOp[];
  /** Operations of the original run up to and including the first that failed. */
  readonly found: number;
  /** Replays made while shrinking. */
  readonly tests: number;
  /** Whether the budget ran out before a pass removed nothing. */
  readonly exhausted: boolean;
  /** Stale translations the shrunk replay leaves at its last operation. */
  readonly stale: number;
}

/** The configuration without the options a replay must not carry (progress, capture, recording). */
function base(cfg: SimConfig): SimConfig {
  const rest: Record<string, unknown> = { ...cfg };
  delete rest.onProgress;
  delete rest.progressEvery;
  delete rest.capture;
  delete rest.record;
  delete rest.script;
  return { ...(rest as unknown as SimConfig), maxReports: 0, stopAtFirstStale: true };
}

/**
 * Run `cfg` recording its operations; null when it leaves no stale translation. Otherwise shrink the
 * recorded prefix (see the file comment).
 */
export function shrinkWorkload(cfg: SimConfig, budget: ShrinkBudget = {}): ShrinkResult | null {
  const b = base(cfg);
  const rec: SimOp[] = [];
  const first = runSimulation({ ...b, record: rec });
  if (first.stale === 0) return null;
  const now = budget.now ?? Date.now;
  const deadline = now() + (budget.ms ?? 30_000);
  const maxTests = budget.tests ?? 3000;
  let tests = 0;
  const fails = (script: readonly SimOp[]): boolean => {
    tests++;
    return runSimulation({ ...b, script }).stale > 0;
  };
  let cur: SimOp[] = rec;
  let exhausted = false;
  for (let progress = true; progress && !exhausted;) {
    progress = false;
    for (let size = Math.ceil(cur.length / 2); size >= 1 && !exhausted; size = size === 1 ? 0 : Math.ceil(size / 2)) {
      for (let i = 0; i < cur.length;) {
        if (tests >= maxTests || now() > deadline) {
          exhausted = true;
          break;
        }
        const cand = cur.slice(0, i).concat(cur.slice(i + size));
        if (cand.length > 0 && fails(cand)) {
          cur = cand;
          progress = true;
        } else i += size;
      }
    }
  }
  // The canonical list: what a replay applies, up to the failing operation.
  const applied: SimOp[] = [];
  const last = runSimulation({ ...b, script: cur, record: applied });
  return { script: applied, found: rec.length, tests, exhausted, stale: last.stale };
}
