/**
 * The randomized workload's vocabulary: its configuration (`SimConfig`), the operations a run makes and
 * replays (`SimOp`), what a capture of one change holds, the report (`SimReport`), and the books the run keeps
 * on its domains (attachments, slots, mappings). Types and constants only; src/sim/workload.ts runs them.
 */
import type { IoPageTable } from '../pgtable/pagetable.js';
import type { Invs } from '../tlbi/invs.js';
import type { Policy } from '../tlbi/plan.js';
import type { StaleReport } from '../smmu/checker.js';
import type { ModelMode, SmmuErratum } from '../smmu/model.js';
import type { CacheSnapshot } from '../smmu/snapshot.js';
import type { TableConfig } from '../smmu/walker.js';
import type { FaultName } from './faults.js';

export type SimStage = '1' | '2' | 'nested';

export interface SimConfig {
  readonly granule: 4096 | 16384 | 65536;
  readonly stage: SimStage;
  readonly ril: boolean;
  readonly ats: boolean;
  readonly smmus: number;
  readonly ops: number;
  readonly seed: number;
  readonly policy: Policy;
  readonly fault: FaultName | null;
  /** Stage 1 only: the SMMUs run with CR2.E2H and the domains are EL2-E2H address spaces (EL2_VA / EL2_ASID). */
  readonly e2h?: boolean;
  /**
   * IDR5.DS on every SMMU: the model accepts the 6-bit SCALE (up to 39) and the engine plans with it (the
   * SMMU option `ds`). Default off.
   */
  readonly ds?: boolean;
  /** The model's semantics (default adversarial). */
  readonly mode?: ModelMode;
  /**
   * Errata every SMMU has (the model enforces them, the engine works around them: `mmu700-2812531` →
   * forceSync, `tegra264-repeat` → repeat). Default none.
   */
  readonly errata?: readonly SmmuErratum[];
  /**
   * Page runs of 65 to 128 pages instead of mostly short ones (what fault no-force-sync needs: without RIL a
   * run's unmap is one TLBI per page, past the 63 commands MMU-700 erratum 2812531 allows), and the caches
   * filled over every page of such a run before its unmap (not a sample of 16). Default false.
   */
  readonly longRuns?: boolean;
  /** Stale reports kept in full (default 20); all are counted. */
  readonly maxReports?: number;
  /**
   * Called with every run of entries written to an SMMU's command queue, as written (before the SMMU reads
   * them; an entry it refused stays in the run): what `simulate --emit-stream` dumps.
   */
  readonly onCommands?: (smmu: number, entries: Uint32Array) => void;
  /** Called every `progressEvery` operations (and at the end). */
  readonly onProgress?: (done: number, total: number) => void;
  readonly progressEvery?: number;
  /** Capture the cache contents around one change (off when absent; the run is the same either way). */
  readonly capture?: CaptureOptions;
  /**
   * Replay: run these operations instead of drawing them (`ops` is then ignored). An operation that no
   * longer applies — a map of a slot that is taken, an unmap outside the slot's mapping — is skipped and
   * counted (`skipped`), so that any sub-list of a recorded run replays (src/campaign/shrink.ts).
   */
  readonly script?: readonly SimOp[];
  /** Record the operations the run makes (drawn or replayed, skipped ones left out) into this array. */
  readonly record?: SimOp[];
  /** Stop after the first operation that leaves a stale translation (the report's `ops` says how many ran). */
  readonly stopAtFirstStale?: boolean;
}

/**
 * One operation of the workload, with every random choice it made, so that a list of them replays without
 * the random generator: a map (slot, range, leaf size, output address, write permission), an unmap (range,
 * and the page numbers its cache prefetch drew), or configuration change `n` (config-change.ts).
 */
export type SimOp =
  | {
      readonly k: 'map';
      readonly d: number;
      readonly slot: number;
      readonly iova: number;
      readonly size: number;
      readonly leaf: number;
      readonly pa: number;
      readonly write: boolean;
    }
  | {
      readonly k: 'unmap';
      readonly d: number;
      readonly slot: number;
      readonly iova: number;
      readonly size: number;
      readonly picks: readonly number[];
    }
  | { readonly k: 'config'; readonly n: number };

/**
 * Which change to capture, and how much. A change is one invalidation of an unmap (an unmap that punches a
 * hole makes two); changes are numbered from 0 in the order the run makes them.
 */
export interface CaptureOptions {
  /** 'auto': the first change with a stale translation, else the last change; or a change number. */
  readonly change: 'auto' | number;
  /** Bytes listed on each side of the change's input range (default 16 granules). */
  readonly margin?: number;
  /** Rows per cache per snapshot at most (default 400); entries a stale report names are always listed. */
  readonly limit?: number;
}

/** One command of a change as the SMMU received it (after any fault): decoded, and its two 64-bit words. */
export interface CapturedCommand {
  readonly text: string;
  readonly words: readonly [string, string];
}

/** One SMMU's side of a captured change. */
export interface SmmuCapture {
  readonly smmu: number;
  readonly commands: readonly CapturedCommand[];
  /** The caches as the commands found them (after the tables changed, before the first command). */
  readonly before: CacheSnapshot;
  /** The caches once the last CMD_SYNC completed: what the checker examined. */
  readonly after: CacheSnapshot;
  /** The checker's reports for this change on this SMMU (all of them). */
  readonly stale: readonly StaleReport[];
}

export interface ChangeCapture {
  /** The change's number, the operation that made it, and how many changes the run made in all. */
  readonly change: number;
  readonly op: number;
  readonly changes: number;
  /** Numbers of the changes that left a stale translation (at most the first 1000). */
  readonly staleChanges: readonly number[];
  /** The changed table: the domain (its index in the workload), its stage, the changed input range. */
  readonly domain: number;
  readonly stage: 1 | 2;
  readonly range: { readonly first: number; readonly last: number };
  /** The listed window (the range plus the margin); stage-2 changes also list entries by IPA. */
  readonly window: { readonly first: number; readonly last: number };
  readonly viaIpa: boolean;
  readonly smmus: readonly SmmuCapture[];
}

export interface CacheFigures {
  fills: number;
  removed: number;
  evicted: number;
  size: number;
}

export interface SimReport {
  seed: number;
  config: Record<string, string | number | boolean | null>;
  ops: number;
  maps: number;
  unmaps: number;
  commands: Record<string, number>;
  syncs: number;
  illegal: number;
  stale: number;
  staleReports: (StaleReport & { op: number })[];
  caches: { tlb: CacheFigures; walk: CacheFigures; atc: CacheFigures };
  translations: number;
  /** How translations were served: ATC hits, TLB hits, table walks (the rest faulted or bypassed). */
  hits: { atc: number; tlb: number; walks: number };
  elapsedMs: number;
  opsPerSecond: number;
  /** Only when `capture` was asked for: the captured change (null when the run made no change). */
  capture?: ChangeCapture | null;
  /** Only for a replay (`script`): operations that no longer applied and were skipped. */
  skipped?: number;
  /** Only when the run was stopped before its end (Ctrl-C in the CLI): `ops` is how many operations ran. */
  interrupted?: true;
}

/** Slots per domain window; each slot is two blocks wide so that a mapping has its own last-level table. */
export const SLOTS = 48;
export const DOMAINS = 2;
/** The shortest page run of `longRuns`: one past the 64 commands of a batch (CMDQ_BATCH_ENTRIES). */
export const LONG_RUN = 65;

/** Where a domain is attached: an SMMU, a StreamID and a SubstreamID. */
export interface Attachment {
  readonly smmu: number;
  readonly sid: number;
  readonly ssid: number;
}

/** What one slot of a domain maps. */
export interface Mapping {
  iova: number;
  size: number;
  /** Leaf size the mapping was made of (a page or a block). */
  leaf: number;
}

/** One domain of the workload: its table, its invalidation targets, where it is attached, its slots. */
export interface Domain {
  readonly pt: IoPageTable;
  readonly stage: 1 | 2;
  readonly cfg: TableConfig;
  /** The domain's invalidation targets (its tag changes with every configuration change). */
  invs: Invs;
  readonly attach: Attachment[];
  /** Window base (input addresses) and the slots' mappings. */
  readonly base: number;
  readonly slots: (Mapping | null)[];
  /** Output addresses: identity (nested stage 1) or random data pages. */
  readonly identity: boolean;
}
