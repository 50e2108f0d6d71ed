/**
 * The report of a randomized-workload run: figures summed over the SMMU models (commands, CMD_SYNCs, refused
 * entries, cache fills and removals, how translations were served) with the run's own counts, in the order
 * `simulate --json` prints them; and `describeEntry`, the one-line form of a command in stale reports.
 */
import { hexAddr } from '../bits.js';
import { CheckedEntry, CommandChecker, FIELD_IDS } from '../cmdq/check.js';
import { OPCODE_SPECS, type CommandName } from '../cmdq/opcodes.js';
import type { StaleReport } from '../smmu/checker.js';
import type { SmmuModel } from '../smmu/model.js';
import type { CacheFigures, ChangeCapture, SimConfig, SimReport } from './workload-types.js';

/** What the run itself counted (the models count the rest). */
export interface RunCounts {
  readonly ops: number;
  readonly maps: number;
  readonly unmaps: number;
  readonly stale: number;
  readonly staleReports: (StaleReport & { op: number })[];
  readonly elapsedMs: number;
  /** Only when a capture was asked for. */
  readonly capture?: ChangeCapture | null;
  /** Only for a replay. */
  readonly skipped?: number;
  /** Only when the run was stopped before its end (SIGINT in the CLI): the report covers `ops` operations. */
  readonly interrupted?: boolean;
}

interface CacheCounters {
  readonly fills: number;
  readonly removed: number;
  readonly evicted: number;
  readonly size: number;
}

function sumCaches(models: readonly SmmuModel[], pick: (m: SmmuModel) => CacheCounters): CacheFigures {
  const f: CacheFigures = { fills: 0, removed: 0, evicted: 0, size: 0 };
  for (const m of models) {
    const x = pick(m);
    f.fills += x.fills;
    f.removed += x.removed;
    f.evicted += x.evicted;
    f.size += x.size;
  }
  return f;
}

export function buildReport(c: SimConfig, e2h: boolean, models: readonly SmmuModel[], run: RunCounts): SimReport {
  const commands: Record<string, number> = {};
  let syncs = 0;
  let illegal = 0;
  let translations = 0;
  const hits = { atc: 0, tlb: 0, walks: 0 };
  for (const m of models) {
    for (const [k, v] of Object.entries(m.stats.commands)) commands[k] = (commands[k] ?? 0) + v;
    syncs += m.stats.syncs;
    illegal += m.stats.illegal;
    translations += m.stats.translations;
    hits.atc += m.stats.atcHits;
    hits.tlb += m.stats.tlbHits;
    hits.walks += m.stats.walks;
  }
  const { elapsedMs } = run;
  return {
    seed: c.seed,
    config: {
      granule: c.granule,
      stage: c.stage,
      ril: c.ril,
      ats: c.ats,
      smmus: c.smmus,
      policy: c.policy,
      fault: c.fault,
      e2h,
      mode: c.mode ?? 'adversarial',
      ...(c.ds === true ? { ds: true } : {}),
    },
    ops: run.ops,
    maps: run.maps,
    unmaps: run.unmaps,
    commands,
    syncs,
    illegal,
    stale: run.stale,
    staleReports: run.staleReports,
    caches: {
      tlb: sumCaches(models, (m) => m.tlb),
      walk: sumCaches(models, (m) => m.walkCache),
      atc: sumCaches(models, (m) => m.atc),
    },
    translations,
    hits,
    elapsedMs,
    opsPerSecond: elapsedMs > 0 ? Math.round((run.ops * 1000) / elapsedMs) : 0,
    ...(run.capture !== undefined ? { capture: run.capture } : {}),
    ...(run.skipped !== undefined ? { skipped: run.skipped } : {}),
    ...(run.interrupted === true ? { interrupted: true as const } : {}),
  };
}

const describeChecker = new CommandChecker({ lax: true });
const describeScratch = new CheckedEntry();

/** One line per command for reports: the name and its non-zero fields (addresses in hex). */
export function describeEntry(h: readonly number[]): string {
  const e = describeScratch;
  describeChecker.check(h[0]!, h[1]!, h[2]!, h[3]!, e);
  if (e.name === undefined) return `reserved opcode 0x${(h[0]! & 0xff).toString(16)}`;
  const spec = OPCODE_SPECS[e.name as CommandName];
  const parts: string[] = [e.name];
  for (const f of spec.fields) {
    const v = e.values[FIELD_IDS[f.name]]!;
    if (v !== 0) parts.push(`${f.name}=${v}`);
  }
  if (spec.addr !== undefined) {
    const v = e.values[FIELD_IDS[spec.addr.name]]!;
    if (v !== 0 || spec.addr.name === 'addr') parts.push(`${spec.addr.name}=${hexAddr(v)}`);
  }
  return parts.join(' ');
}
