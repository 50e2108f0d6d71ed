/**
 * What both consumers (the kernel-driver domain layer and the pKVM hypervisor) need from an SMMU: its
 * features, the engine's per-SMMU options, its model (command queue, caches, stream table) and its power
 * state; a router that feeds a PlanOutput's entries to the command queue of the SMMU each belongs to (through
 * the `beforeQueue` injection point, for showing that the checker catches broken streams); and command statistics.
 *
 * This is plumbing, not invalidation logic: it never decides what to invalidate (the engine does) and never
 * computes a range (range.ts does).
 */
import { encodeHalves, type Command } from '../cmdq/index.js';
import { OPCODE_NAME, Opcode } from '../cmdq/opcodes.js';
import type { PhysMemory } from '../pgtable/memory.js';
import { SmmuModel, type ModelMode, type SmmuErratum } from '../smmu/model.js';
import { CmdqError } from '../smmu/queue.js';
import { StaleChecker, type ChangeSpec, type StaleReport } from '../smmu/checker.js';
import { planStats, tlbiShape, type Invs, type PlanOutput, type SmmuOptions } from '../tlbi/index.js';
import { levelMask, type TlbiDescription } from '../tlbi-description.js';
import type { Policy } from '../tlbi/plan.js';
import { log2Of } from '../units.js';
import { NO_INJECTION, type EntryList, type InjectionPoints } from './injection.js';

/** The CMD_SYNC the consumers issue: SEV completion signal, Inner Shareable, write-back (as Linux without MSIs). */
const SYNC: Command = { name: 'CMD_SYNC', cs: 2, msh: 3, msiattr: 0xf, msidata: 0, msiaddr: 0 };

/** What an SMMU instance implements and how the driver runs it. */
export interface SmmuSpec {
  /** IDR3.RIL: range invalidation. */
  readonly ril: boolean;
  /** IDR0.ATS: endpoints behind it may have ATCs. */
  readonly ats: boolean;
  /** CR2.E2H: stage-1 domains use the EL2-E2H regime (TLBI_EL2_*). */
  readonly e2h: boolean;
  /**
   * MMU-700 erratum 2812531: the SMMU may lose an invalidation past 63 commands without a CMD_SYNC (the model
   * enforces it), so the engine puts a CMD_SYNC at least every 64 entries.
   */
  readonly forceSync: boolean;
  /**
   * Tegra264 invalidation erratum: an invalidation batch may be lost unless it is issued twice (the model
   * enforces it); the engine and the consumer's configuration batches repeat every non-ATC batch.
   */
  readonly repeat?: boolean;
  /** log2 of the command-queue entries (1..19). */
  readonly queueLog2Size: number;
  /** IDR5.DS: the 6-bit SCALE (up to 39) is legal, and the engine plans with it. */
  readonly ds?: boolean;
}

export const DEFAULT_SMMU_SPEC: SmmuSpec = Object.freeze({
  ril: true,
  ats: true,
  e2h: false,
  forceSync: false,
  queueLog2Size: 8,
});

/** Commands routed to queues: by command name, plus CMD_SYNCs and entries skipped (SMMU powered off). */
export class CommandStats {
  byKind: Record<string, number> = {};
  commands = 0;
  syncs = 0;
  /** Entries not sent because their SMMU was powered off. */
  skipped = 0;

  count(h0: number): void {
    const name = OPCODE_NAME[h0 & 0xff] ?? `opcode 0x${(h0 & 0xff).toString(16)}`;
    this.byKind[name] = (this.byKind[name] ?? 0) + 1;
    if ((h0 & 0xff) === Opcode.CMD_SYNC) this.syncs++;
    else this.commands++;
  }

  toJson(): { commands: number; syncs: number; skipped: number; byKind: Record<string, number> } {
    const byKind: Record<string, number> = {};
    for (const k of Object.keys(this.byKind).sort()) byKind[k] = this.byKind[k]!;
    return { commands: this.commands, syncs: this.syncs, skipped: this.skipped, byKind };
  }
}

/** One SMMU as a consumer drives it. */
export class SmmuPort {
  readonly id: number;
  readonly spec: SmmuSpec;
  readonly options: SmmuOptions;
  readonly model: SmmuModel;
  readonly checker: StaleChecker;
  /** Powered off: no command reaches it and no device behind it issues traffic. */
  powered = true;

  constructor(id: number, spec: SmmuSpec, mem: PhysMemory, seed: number, mode: ModelMode = 'adversarial') {
    this.id = id;
    this.spec = spec;
    this.options = {
      ril: spec.ril,
      e2h: spec.e2h,
      forceSync: spec.forceSync,
      repeat: spec.repeat === true,
      ...(spec.ds === true ? { ds: true } : {}),
    };
    const errata: SmmuErratum[] = [];
    if (spec.forceSync) errata.push('mmu700-2812531');
    if (spec.repeat === true) errata.push('tegra264-repeat');
    this.model = new SmmuModel(mem, {
      id,
      errata,
      features: { ril: spec.ril, ats: spec.ats, ...(spec.ds === true ? { ds: true } : {}) },
      e2h: spec.e2h,
      mode,
      queueLog2Size: spec.queueLog2Size,
      seed,
    });
    this.checker = new StaleChecker(mem);
  }

  /** Power off: caches are lost (the devices behind the SMMU lose their ATCs too). */
  powerOff(): void {
    this.powered = false;
    this.dropCaches();
  }

  /** Power on: the SMMU comes back with empty caches. */
  powerOn(): void {
    this.dropCaches();
    this.powered = true;
  }

  private dropCaches(): void {
    const m = this.model;
    m.pending.length = 0;
    m.tlb.clear();
    m.walkCache.clear();
    m.atc.clear();
    m.forgetConfig();
    m.endpoints.clearOutstanding();
    this.atcUnsynced = [];
  }

  /**
   * What the consumer does once a CMD_SYNC reported CERROR_ATC_INV_SYNC (an ATS Invalidate Request timed
   * out): called after the GERRORN handshake let the queue drain, with the StreamIDs that got an ATC_INV
   * the failed CMD_SYNC waited for. Their ATCs may still hold what those ATC_INVs were to remove (IHI 0070
   * 4.7.3: the SYNC gives no guarantee for them), so the range is not clean until the consumer made the
   * devices harmless. Without a handler a CERROR_ATC_INV_SYNC is an error, like CERROR_ILL.
   */
  onAtcTimeout: ((sids: readonly number[]) => void) | null = null;
  /** CMD_SYNC executions that raised CERROR_ATC_INV_SYNC and were acknowledged (GERRORN) here. */
  atcSyncErrors = 0;
  /** StreamIDs of ATC_INVs submitted after the last CMD_SYNC of the previous submission (not yet waited for). */
  private atcUnsynced: number[] = [];

  /**
   * Write entries [from, from + count) of `u32` into the queue and let the SMMU consume them all. A CMD_SYNC
   * that stops on CERROR_ATC_INV_SYNC (CONS stays on it) is acknowledged as a driver does (GERRORN :=
   * GERROR, the SMMU executes the same CMD_SYNC again, which may fail again), then the rest is written;
   * once the queue drained, `onAtcTimeout` gets the StreamIDs whose ATC invalidations were not guaranteed.
   * Any other command error (CERROR_ILL) throws.
   */
  submit(u32: Uint32Array, from: number, count: number): void {
    if (count === 0) return;
    const model = this.model;
    const q = model.queue;
    let done = 0;
    let failed: number[] | null = null;
    // StreamIDs of the ATC_INVs since the last CMD_SYNC scanned (a CMD_SYNC waits for these).
    let batch = this.atcUnsynced;
    let scanned = 0;
    const scanTo = (end: number): void => {
      for (let k = scanned; k < end; k++) {
        const op = u32[(from + k) * 4]! & 0xff;
        if (op === Opcode.ATC_INV) batch.push(u32[(from + k) * 4 + 1]!);
        else if (op === Opcode.CMD_SYNC) batch = [];
      }
      scanned = end;
    };
    while (done < count) {
      done += model.submit(u32, from + done, count - done);
      if (q.stalled && q.consErr === CmdqError.ATC_INV_SYNC) {
        // CONS stays on the failed CMD_SYNC: the entries from it to PROD are the last `pending` written, so
        // the ATC_INVs before it since the previous CMD_SYNC are the ones it waited for (the model reports a
        // timed-out request at the next CMD_SYNC, like hardware: the SYNC cannot say which one failed).
        scanTo(done - q.pending);
        failed ??= [];
        for (const sid of batch) if (!failed.includes(sid)) failed.push(sid);
        // GERRORN := GERROR; the SMMU executes the same CMD_SYNC again (it may time out again).
        while (q.stalled && q.consErr === CmdqError.ATC_INV_SYNC) {
          this.atcSyncErrors++;
          model.acknowledgeError();
        }
      }
      if (q.stalled) {
        const e = model.lastError;
        throw new Error(
          `SMMU ${this.id}: command queue stopped (CERROR_ILL at slot ${e?.slot ?? '?'}: ` +
            `${e ? `${e.issue.field}: ${e.issue.reason}` : 'unknown'})`,
        );
      }
    }
    scanTo(count);
    this.atcUnsynced = batch;
    if (failed === null) return;
    if (this.onAtcTimeout === null)
      throw new Error(`SMMU ${this.id}: a CMD_SYNC raised CERROR_ATC_INV_SYNC and the consumer has no handler`);
    this.onAtcTimeout(failed);
  }

  /**
   * Encode commands through the codec and submit them followed by a CMD_SYNC (configuration changes; not on
   * hot paths). Nothing is sent to a powered-off SMMU. The `atBatchSubmit` injection point sees the commands
   * first (fault no-cfgi: the configuration invalidations are never issued; the CMD_SYNC still is).
   */
  submitCommands(cmds: readonly Command[], stats: CommandStats, inject: InjectionPoints = NO_INJECTION): void {
    if (!this.powered) return;
    const kept = inject.atBatchSubmit !== undefined ? inject.atBatchSubmit(cmds) : cmds;
    // Tegra264: a configuration batch is issued twice, its CMD_SYNC with it (ATC_INV batches are not).
    const once = [...kept, SYNC];
    const all = this.spec.repeat === true && !cmds.some((c) => c.name === 'ATC_INV') ? [...once, ...once] : once;
    const u32 = new Uint32Array(all.length * 4);
    all.forEach((c, i) => {
      u32.set(encodeHalves(c), i * 4);
      stats.count(u32[i * 4]!);
    });
    this.submit(u32, 0, all.length);
  }

  /** Check the cached entries a table change can have made stale. */
  checkChange(change: ChangeSpec): StaleReport[] {
    if (!this.powered) return [];
    return this.checker.checkChange(this.model, change);
  }

  /** Check every cached entry. */
  checkAll(): StaleReport[] {
    if (!this.powered) return [];
    return this.checker.checkAll(this.model);
  }
}

/** How plans are routed: the injection points (`beforeQueue` sees each SMMU's share of every plan). */
export type RouteOptions = InjectionPoints;

/**
 * Feed entries [from, out.count) of a plan to the queues of their SMMUs, in order (a plan lists one SMMU's
 * entries contiguously). Entries of a powered-off SMMU are skipped; an SMMU id without a port is an error.
 * Returns the number of entries sent.
 */
export function routePlan(
  out: PlanOutput,
  from: number,
  ports: ReadonlyArray<SmmuPort | undefined>,
  route: RouteOptions,
  stats: CommandStats,
): number {
  const u32 = out.buf.u32;
  let sent = 0;
  let k = from;
  while (k < out.count) {
    const id = out.smmuOf[k]!;
    let end = k + 1;
    while (end < out.count && out.smmuOf[end] === id) end++;
    const port = ports[id];
    if (port === undefined) throw new RangeError(`plan entry for SMMU ${id}, which does not exist`);
    if (!port.powered) {
      stats.skipped += end - k;
    } else if (route.beforeQueue === undefined) {
      for (let s = k; s < end; s++) stats.count(u32[s * 4]!);
      port.submit(u32, k, end - k);
      sent += end - k;
    } else {
      const list: EntryList = [];
      for (let s = k; s < end; s++) list.push([u32[s * 4]!, u32[s * 4 + 1]!, u32[s * 4 + 2]!, u32[s * 4 + 3]!]);
      route.beforeQueue(list);
      const flat = new Uint32Array(list.length * 4);
      list.forEach((h, i) => flat.set(h, i * 4));
      for (let s = 0; s < list.length; s++) stats.count(flat[s * 4]!);
      port.submit(flat, 0, list.length);
      sent += list.length;
    }
    k = end;
  }
  return sent;
}

/**
 * Totals over the plans a consumer issued for table changes: whole-tag commands (split into those that discard a
 * whole ASID — TLBI_NH_ASID, TLBI_EL2_ASID — and those that discard a whole VMID — TLBI_S12_VMALL), 4 KiB pages
 * of address span covered by ranged TLBIs (summed over TLB targets) and the part of them beyond the changed
 * range. A whole-tag command covers no counted span: it discards the whole tag, counted apart. The figures come
 * from the engine's planStats (which decodes the entries); `decode` false counts plans only.
 */
export interface PlanTotalsJson {
  plans: number;
  /** Whole-tag commands: wholeAsid + wholeVmid. */
  wholeTag: number;
  /** Commands that discard a whole ASID (TLBI_NH_ASID, TLBI_EL2_ASID). */
  wholeAsid: number;
  /** Commands that discard a whole VMID (TLBI_S12_VMALL). */
  wholeVmid: number;
  /** Address span covered by ranged TLBIs, in 4 KiB pages, summed over TLB targets (not a command cost). */
  pagesInvalidated: number;
  /** The part of that span beyond the changed range. */
  pagesOverInvalidated: number;
}

export class PlanTotals {
  plans = 0;
  wholeTag = 0;
  wholeAsid = 0;
  wholeVmid = 0;
  pagesInvalidated = 0;
  pagesOverInvalidated = 0;

  constructor(private readonly decode: boolean) {}

  /** Account one plan (`out` holds only it) made with `policy` for the change `desc` over `invs`. */
  add(out: PlanOutput, desc: TlbiDescription, policy: Policy, invs: Invs): void {
    this.plans++;
    if (!this.decode) return;
    const size = desc.last - desc.start + 1;
    const g = log2Of(desc.granule);
    const stride =
      policy === 'tlbi'
        ? 2 ** tlbiShape(levelMask(desc.leafLevels), levelMask(desc.tableLevels), desc.start, size, g).strideShift
        : desc.granule;
    const s = planStats(out, size, stride, invs);
    this.wholeTag += s.wholeTag;
    this.wholeAsid += (s.byKind.TLBI_NH_ASID ?? 0) + (s.byKind.TLBI_EL2_ASID ?? 0);
    this.wholeVmid += s.byKind.TLBI_S12_VMALL ?? 0;
    this.pagesInvalidated += s.pagesInvalidated;
    this.pagesOverInvalidated += Math.max(0, s.pagesInvalidated - s.pagesRequested);
  }

  toJson(): PlanTotalsJson {
    return {
      plans: this.plans,
      wholeTag: this.wholeTag,
      wholeAsid: this.wholeAsid,
      wholeVmid: this.wholeVmid,
      pagesInvalidated: this.pagesInvalidated,
      pagesOverInvalidated: this.pagesOverInvalidated,
    };
  }
}

/** Stale translations found by a consumer's checks: all counted, the first few kept in full. */
export class StaleLog {
  count = 0;
  readonly reports: StaleReport[] = [];
  /** All stale translations counted by the cache that held them (the kept reports are only the first few). */
  readonly byCache: Record<string, number> = {};

  constructor(private readonly keep = 10) {}

  /** Record reports; `count` when one report stands for several entries. */
  note(reports: readonly StaleReport[], count = reports.length): void {
    this.count += count;
    if (count === reports.length) for (const r of reports) this.byCache[r.cache] = (this.byCache[r.cache] ?? 0) + 1;
    else if (reports.length > 0) this.byCache[reports[0]!.cache] = (this.byCache[reports[0]!.cache] ?? 0) + count;
    for (const r of reports) if (this.reports.length < this.keep) this.reports.push(r);
  }

  /** `n` cache entries that a flush should have removed and did not (one report for all of them). */
  leftover(smmu: number, cache: 'TLB' | 'ATC', what: string, n: number): void {
    if (n === 0) return;
    this.note(
      [
        {
          smmu,
          cache,
          entry: { what },
          address: '-',
          cached: `${n} entries left`,
          live: 'none may remain',
          commands: [],
        },
      ],
      n,
    );
  }

  /** The checker over every cache of every powered-on SMMU; returns what it found. */
  checkAll(ports: readonly SmmuPort[]): number {
    let n = 0;
    for (const p of ports) {
      const r = p.checkAll();
      n += r.length;
      this.note(r);
    }
    return n;
  }
}
