/**
 * Injection points: the named places where a consumer (the kernel-driver layer, the pKVM hypervisor, their
 * SMMU ports) lets something outside it break what it does, so that users can watch the checker catch a
 * broken consumer. The consumers call these hooks and know nothing of who implements them; the simulator's
 * fault catalog (src/sim/faults.ts, `faultInjection`) does. Every hook is optional: without it the consumer
 * does what it would do anyway, and `NO_INJECTION` has none.
 */
import type { Command } from '../cmdq/index.js';

/** One SMMU's entries of a plan as 32-bit halves (4 per 16-byte entry), in queue order. */
export type EntryList = number[][];

export interface InjectionPoints {
  /**
   * Before queueing: one SMMU's share of a plan, just before it is written to that SMMU's command queue
   * (edited in place: entries removed, moved, rewritten).
   */
  readonly beforeQueue?: (list: EntryList) => void;
  /**
   * At batch submit: the commands of a configuration batch (CFGI_*, a device's ATC flush), before the
   * consumer's CMD_SYNC is added and the batch encoded; returns the commands that are issued.
   */
  readonly atBatchSubmit?: (cmds: readonly Command[]) => readonly Command[];
  /**
   * On detach (and the tail of a move): whether the device-wide ATC invalidation of the device leaving a
   * domain is sent (false: the consumer trusts the ATS disable to empty the ATC).
   */
  readonly onDetachAtcFlush?: () => boolean;
  /**
   * On sync error: a CMD_SYNC raised CERROR_ATC_INV_SYNC; whether the consumer quarantines the devices whose
   * ATC invalidation it waited for (false: it treats the range as clean, as if the SYNC had succeeded).
   */
  readonly onAtcSyncTimeout?: () => boolean;
}

/** No hook: the consumer as written. */
export const NO_INJECTION: InjectionPoints = Object.freeze({});
