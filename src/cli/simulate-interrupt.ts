/**
 * Long `simulate` runs: an estimate of the run's length on stderr once a short warm-up measured the rate, and
 * Ctrl-C as `campaign` defines it (issue 16) — the first SIGINT lets the operation in progress finish and
 * the partial report be written (exit 130), a second stops at once (130). The workload runs in slices of
 * about 50 ms so that the signal is seen between them.
 */
import { warn } from './common.js';

/** Exit status of an interrupted run (Ctrl-C), the same as `campaign`'s (src/cli/campaign.ts). */
export const EXIT_INTERRUPTED = 130;

/** Runs of at least this many operations get the estimate (shorter ones take seconds at most). */
export const ESTIMATE_FROM_OPS = 250_000;
/** The warm-up the rate is measured over (wall time), and the slice length aimed at. */
const WARMUP_MS = 1000;
const SLICE_MS = 50;

/** SIGINT while a run goes on: the first asks it to stop (`requested`), the second exits at once. */
export class InterruptGate {
  requested = false;
  private count = 0;
  private readonly handler = (): void => {
    this.count++;
    if (this.count === 1) {
      this.requested = true;
      this.onFirst();
      warn(
        `${this.name}: interrupted; finishing the operation in progress for a partial report (Ctrl-C again stops at once)`,
      );
    } else {
      warn(`${this.name}: stopped at once`);
      process.exit(EXIT_INTERRUPTED);
    }
  };

  constructor(
    private readonly name: string,
    private readonly onFirst: () => void = () => {},
  ) {}

  install(): void {
    process.on('SIGINT', this.handler);
  }

  remove(): void {
    process.removeListener('SIGINT', this.handler);
  }
}

/** A duration for people: seconds, minutes or hours with one decimal where it matters. */
export function formatDuration(ms: number): string {
  const s = ms / 1000;
  if (s < 90) return `${s.toFixed(s < 10 ? 1 : 0)} s`;
  if (s < 5400) return `${(s / 60).toFixed(s < 600 ? 1 : 0)} min`;
  return `${(s / 3600).toFixed(1)} h`;
}

/** The estimate line: how long `total` operations take at the rate measured over the first `done`. */
export function estimateLine(total: number, done: number, elapsedMs: number): string {
  const rate = done / Math.max(1, elapsedMs);
  const restMs = (total - done) / Math.max(rate, 1e-9);
  const fmt = (n: number): string => Math.round(n).toLocaleString('en-US');
  return (
    `simulate: ${fmt(total)} operations will take about ${formatDuration(elapsedMs + restMs)} ` +
    `(${fmt(rate * 1000)} ops/s, measured over the first ${fmt(done)} operations in ${formatDuration(elapsedMs)}); ` +
    'Ctrl-C stops with a partial report'
  );
}

/** What runInSlices drives: the workload's Simulation, a scenario's ScenarioSession. */
export interface Advancing {
  /** Run up to `n` more operations; true once the run is complete. */
  advance(n: number): boolean;
  /** Operations done so far. */
  readonly done: number;
}

/**
 * Run `sim` to its end in slices, yielding to the event loop between them (so that SIGINT is handled);
 * stop early once `gate.requested`. With `estimate`, print the estimate after the warm-up (`around` lets a
 * progress bar step aside while it is printed). Resolves true when the run finished.
 */
export async function runInSlices(
  sim: Advancing,
  gate: InterruptGate,
  estimate: { readonly total: number; readonly around?: (print: () => void) => void } | null,
): Promise<boolean> {
  let slice = 256;
  const t0 = performance.now();
  let pending = estimate;
  while (!gate.requested) {
    const t = performance.now();
    if (sim.advance(slice)) return true;
    const now = performance.now();
    slice = Math.max(64, Math.min(1 << 17, Math.round((slice * SLICE_MS) / Math.max(1, now - t))));
    if (pending !== null && now - t0 >= WARMUP_MS) {
      const line = estimateLine(pending.total, sim.done, now - t0);
      const print = (): void => warn(line);
      if (pending.around !== undefined) pending.around(print);
      else print();
      pending = null;
    }
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
  return false;
}
