/**
 * A streamed audit: entries are pushed one at a time (by a ring, hex-word or trace reader) and checked a window
 * at a time, so that memory is bounded by the window, not by the stream. A window is cut after a CMD_SYNC (a
 * batch never straddles two windows, and every rule but the nesting rule looks only inside a batch; the nesting
 * rule keeps its state per VMID across windows, nested.ts). Findings and re-planning rows go to callbacks as they
 * are found, with their indices in the whole stream; the report keeps the counts, the histograms and as many
 * findings and rows as asked.
 *
 * A batch longer than `maxWindow` commands (no CMD_SYNC for 2^16 entries) is checked in pieces, and a note
 * says so: duplicates, covers and batch lengths are then not looked for across the pieces.
 *
 * `--nested-vmids auto` needs the VMIDs of the whole stream. Given a list (a first pass found it: vmids.ts),
 * the session is exact. Without one, it waits for `lookahead` entries, infers the list from them, and checks at
 * the end that the whole stream gives the same list; if not, `end()` throws a usage error naming the option.
 */
import { CheckedEntry, CommandChecker, Opcode } from '../cmdq/index.js';
import { AuditInputError } from './errors.js';
import { interpret, nameOfOpcode, type Interpreted } from './interpret.js';
import { entryRef, NestedTracker, type EntryRef } from './nested.js';
import type { TraceStats } from './qemu-trace.js';
import {
  DIFFERENCES,
  joinReplan,
  replan,
  replanRow,
  replanRowCount,
  replanRowIdentical,
  replanRowJson,
  type DifferenceId,
  type ReplanPart,
  type ReplanRow,
  type ReplanRowJson,
  type ReplanSummary,
} from './replan.js';
import {
  addBatchSizes,
  addRangePages,
  findingJsonOf,
  Histogram,
  type AuditReport,
  type FindingJson,
} from './report.js';
import { RULE_IDS, type Finding, type RuleId } from './rules-table.js';
import { RuleChecker, type RuleOptions } from './rules.js';
import type { MsiSync } from './rules-corpus.js';
import { AuditStream, EntryFlag, type EntrySink, type RingInfo, type StreamSource } from './stream.js';
import { nestedOf } from './vmids.js';

export interface SessionOptions extends RuleOptions {
  /** The validator, bound to the SMMU's features (default: the codec's defaults). */
  readonly checker?: CommandChecker;
  /** Re-plan with the engine (default true). */
  readonly replan?: boolean;
  /** Page size assumed for a lone TG=0 command when re-planning (default 4096). */
  readonly pageSize?: number;
  /** The list was inferred by a first pass (the report says "inferred"). */
  readonly nestedInferred?: boolean;
  /** Entries checked at a time (default 2^16); a window ends after a CMD_SYNC. */
  readonly window?: number;
  /** A window that reaches this many entries without a CMD_SYNC is cut anyway (default MAX_WINDOW, 2^16). */
  readonly maxWindow?: number;
  /** Without `nestedVmids`: entries read before the list is inferred (default 2^20). */
  readonly lookahead?: number;
  /** Findings kept in the report (the first ones in stream order; default all). */
  readonly keepFindings?: number;
  /** Re-planning rows kept: 'all' (default), or the first n that differ from the linux policy. */
  readonly keepRows?: 'all' | number;
  /** Each finding as found (stream order within a window; nesting findings that need the end, at the end). */
  readonly onFinding?: (f: FindingJson) => void;
  /** Each re-planning row as found (stream order). */
  readonly onRow?: (row: ReplanRowJson) => void;
  /** Called after each window with the entries checked so far. */
  readonly onWindow?: (entries: number) => void;
}

type Totals = {
  requests: number;
  identical: number;
  notPlannable: number;
  stream: { commands: number; syncs: number };
  linux: { commands: number; syncs: number };
  tlbi: { commands: number; syncs: number };
  differences: Partial<Record<DifferenceId, number>>;
};

const byIndexThenRule = (a: Finding, b: Finding): number =>
  a.index - b.index || RULE_IDS.indexOf(a.rule) - RULE_IDS.indexOf(b.rule);

/**
 * Default `maxWindow`: 2^16 entries. A window holds its entries and, until it is checked, what they found; on
 * a dump of random words (every entry illegal) that is about 2.7 KB per entry, so 2^20 entries made 1.9 GB and
 * 2^16 make under 200 MB. No driver batches 2^16 commands without a CMD_SYNC (Linux syncs every 64 or fewer).
 */
export const MAX_WINDOW = 1 << 16;

export class AuditSession implements EntrySink {
  private readonly win: AuditStream;
  private readonly checker: CommandChecker;
  private readonly e = new CheckedEntry();
  private readonly window: number;
  private readonly maxWindow: number;
  /** Global index of the window's entry 0, and global batch number of its batch 0. */
  private offset = 0;
  private batchOffset = 0;
  private nextCheck: number;
  /** Entries of the window known to hold no legal CMD_SYNC (from 0). */
  private scanned = 0;
  private nested: Set<number> | null;
  private tracker: NestedTracker | null = null;
  private readonly s2Vmids = new Set<number>();
  /** The last MSI-signalled CMD_SYNC per MSIAddr, across windows (the sync-msidata-order rule). */
  private readonly msiSyncs = new Map<number, MsiSync>();
  private readonly nhVmids = new Set<number>();
  private readonly notes: string[] = [];
  private splitNoted = false;
  ring: RingInfo | null = null;

  private readonly perOp = new Float64Array(256);
  private unknown = 0;
  private pending = 0;
  private batches = 0;
  private readonly batchHist = new Histogram();
  private readonly pagesHist = new Histogram();
  private readonly ruleCounts = new Map<RuleId, number>();
  /** The lowest entry index with a finding of each rule (byRule lists rules in order of their first finding). */
  private readonly ruleFirst = new Map<RuleId, number>();
  private findingCount = 0;
  private readonly kept: { f: Finding; json: FindingJson }[] = [];
  private readonly keepFindings: number;
  private readonly totals: Totals = {
    requests: 0,
    identical: 0,
    notPlannable: 0,
    stream: { commands: 0, syncs: 0 },
    linux: { commands: 0, syncs: 0 },
    tlbi: { commands: 0, syncs: 0 },
    differences: {},
  };
  private readonly parts: ReplanPart[] | null;
  private readonly keptRows: ReplanRow[] = [];
  private ended = false;

  constructor(
    readonly source: StreamSource,
    private readonly o: SessionOptions = {},
  ) {
    this.checker = o.checker ?? new CommandChecker();
    this.window = Math.max(1, o.window ?? 1 << 16);
    this.maxWindow = Math.max(this.window, o.maxWindow ?? MAX_WINDOW);
    this.nested = o.nestedVmids ? new Set(o.nestedVmids) : null;
    if (this.nested) this.tracker = new NestedTracker(this.nested);
    this.nextCheck = this.nested ? this.window : Math.max(this.window, o.lookahead ?? 1 << 20);
    this.win = new AuditStream(source, Math.min(this.nextCheck + 1, 1 << 16));
    this.keepFindings = o.keepFindings ?? Infinity;
    this.parts = (o.keepRows ?? 'all') === 'all' ? [] : null;
  }

  /** Entries pushed so far. */
  get entries(): number {
    return this.offset + this.win.count;
  }

  push(h0: number, h1: number, h2: number, h3: number, slot: number, flags = 0, line = 0): void {
    // Windows are cut before an entry is added, so that `blame` always finds the entry pushed last.
    if (this.win.count >= this.nextCheck) this.maybeCut();
    this.win.push(h0, h1, h2, h3, slot, flags, line);
    if (flags & EntryFlag.Pending) this.pending++;
  }

  blame(code: number): void {
    this.win.blame(code);
  }

  note(text: string): void {
    this.notes.push(text);
  }

  /** Push every entry of a whole stream (its ring, notes and errors too). */
  pushStream(s: AuditStream): void {
    this.ring = s.ring;
    const errs = new Map(s.cerrors.map((c) => [c.index, c.code]));
    const h = s.halves;
    for (let i = 0; i < s.count; i++) {
      const k = i * 4;
      this.push(h[k]!, h[k + 1]!, h[k + 2]!, h[k + 3]!, s.slot[i]!, s.flags[i]!, s.line[i]!);
      const code = errs.get(i);
      if (code !== undefined) this.win.cerrors.push({ index: this.win.count - 1, code });
    }
    for (const n of s.notes) this.notes.push(n);
  }

  private maybeCut(): void {
    const w = this.win;
    const h = w.halves;
    let cut = 0;
    for (let i = w.count - 1; i >= this.scanned; i--) {
      const k = i * 4;
      if ((h[k]! & 0xff) === Opcode.CMD_SYNC && this.checker.check(h[k]!, h[k + 1]!, h[k + 2]!, h[k + 3]!, this.e)) {
        cut = i + 1;
        break;
      }
    }
    if (cut === 0) {
      this.scanned = w.count;
      if (w.count >= this.maxWindow) {
        // No CMD_SYNC for maxWindow entries: check them in pieces (keep one back so the stream's end is never empty).
        cut = w.count - 1;
        if (!this.splitNoted) {
          this.splitNoted = true;
          this.notes.push(
            `a batch of more than ${this.maxWindow} commands without a CMD_SYNC (from #${this.offset}) was checked in pieces of ${this.maxWindow}: duplicates, covers and batch lengths were not looked for across the pieces`,
          );
        }
      }
    }
    if (cut > 0) this.process(cut, false);
    this.nextCheck = this.win.count + this.window;
  }

  private addFinding(f: Finding, json: FindingJson, late = false): void {
    this.findingCount++;
    this.ruleCounts.set(f.rule, (this.ruleCounts.get(f.rule) ?? 0) + 1);
    const first = this.ruleFirst.get(f.rule);
    if (first === undefined || f.index < first) this.ruleFirst.set(f.rule, f.index);
    // Window findings come in stream order; the late ones (nesting, at the end) may sort before them.
    if (late || this.kept.length < this.keepFindings) this.kept.push({ f, json });
    this.o.onFinding?.(json);
  }

  /** Check entries [0, cut) of the window (ending after a CMD_SYNC unless `final` or split) and drop them. */
  private process(cut: number, final: boolean): void {
    const w = this.win;
    const v = cut === w.count ? w : w.prefix(cut);
    const r = interpret(v, this.checker);
    for (const x of r.s2Vmids) this.s2Vmids.add(x);
    for (const x of r.nhVmids) this.nhVmids.add(x);
    if (this.nested === null) {
      this.nested = new Set(nestedOf(this.s2Vmids, this.nhVmids));
      this.tracker = new NestedTracker(this.nested);
    }
    this.check(v, r, final);
    if (this.o.replan !== false) this.replanWindow(v, r);
    this.count(v, r);
    if (cut === w.count) {
      w.count = 0;
      w.cerrors.length = 0;
    } else w.dropFront(cut);
    this.offset += cut;
    this.batches += r.batchCount;
    this.batchOffset += r.batchCount;
    this.scanned = 0;
    this.o.onWindow?.(this.offset);
  }

  private check(v: AuditStream, r: Interpreted, final: boolean): void {
    const off = this.offset;
    const rc = new RuleChecker(
      v,
      r,
      {
        ...this.o,
        nestedVmids: [...this.nested!],
        ds: this.o.ds ?? this.checker.features.ds,
        msiSyncs: this.msiSyncs,
      },
      off,
    );
    const found: { f: Finding; ref: EntryRef }[] = [];
    for (const f of rc.run({ nested: false, finalSync: final }))
      found.push({ f, ref: entryRef(v, f.index - off, off) });
    this.tracker!.scan(v, r, off, this.batchOffset, (f, ref) => found.push({ f, ref }));
    found.sort((a, b) => byIndexThenRule(a.f, b.f));
    for (const { f, ref } of found) this.addFinding(f, findingJsonOf(f, ref));
  }

  private replanWindow(v: AuditStream, r: Interpreted): void {
    const rp = replan(v, r, {
      nestedVmids: [...this.nested!],
      ds: this.o.ds ?? this.checker.features.ds,
      ...(this.o.pageSize !== undefined ? { pageSize: this.o.pageSize } : {}),
    });
    const t = this.totals;
    t.requests += rp.requests;
    t.identical += rp.identical;
    t.notPlannable += rp.notPlannable;
    for (const k of ['stream', 'linux', 'tlbi'] as const) {
      t[k].commands += rp[k].commands;
      t[k].syncs += rp[k].syncs;
    }
    for (const [id, c] of Object.entries(rp.differences) as [DifferenceId, number][])
      t.differences[id] = (t.differences[id] ?? 0) + c;
    const onRow = this.o.onRow;
    const n = replanRowCount(rp);
    if (onRow) for (let k = 0; k < n; k++) onRow(replanRowJson(rp, k, this.offset, this.batchOffset));
    if (this.parts) this.parts.push({ rp, entryOffset: this.offset, batchOffset: this.batchOffset });
    else {
      const max = this.o.keepRows as number;
      for (let k = 0; k < n && this.keptRows.length < max; k++)
        if (!replanRowIdentical(rp, k)) this.keptRows.push(replanRow(rp, k, this.offset, this.batchOffset));
    }
  }

  private count(v: AuditStream, r: Interpreted): void {
    const flags = v.flags;
    for (let i = 0; i < r.n; i++) {
      if (flags[i]! & EntryFlag.UnknownOpcode) this.unknown++;
      else this.perOp[r.op[i]!]!++;
    }
    addBatchSizes(this.batchHist, r);
    addRangePages(this.pagesHist, r);
  }

  /** The stream ended: check the rest, close the nesting rule, build the report. */
  end(extra: { trace?: TraceStats | null } = {}): AuditReport {
    if (this.ended) throw new Error('AuditSession.end called twice');
    this.ended = true;
    if (this.win.count > 0 || this.offset === 0) this.process(this.win.count, true);
    const used = [...this.nested!].sort((a, b) => a - b);
    if (!this.o.nestedVmids) {
      const all = nestedOf(this.s2Vmids, this.nhVmids);
      if (all.join() !== used.join())
        throw new AuditInputError(
          '--nested-vmids',
          `auto: the first ${this.o.lookahead ?? 1 << 20} entries give nested VMIDs [${used.join(', ')}] but the whole stream gives [${all.join(', ')}]; on stdin the input cannot be read twice: give --nested-vmids ${all.length > 0 ? all.join(',') : 'none'} (or the input as a file)`,
        );
    }
    const late: { f: Finding; json: FindingJson }[] = [];
    this.tracker!.finish((f, ref) => late.push({ f, json: findingJsonOf(f, ref) }));
    for (const x of late) this.addFinding(x.f, x.json, true);
    this.kept.sort((a, b) => byIndexThenRule(a.f, b.f));
    if (this.kept.length > this.keepFindings) this.kept.length = this.keepFindings;
    return this.report(used, extra.trace ?? null);
  }

  private report(nestedVmids: number[], trace: TraceStats | null): AuditReport {
    const byCommand: Record<string, number> = {};
    for (let op = 0; op < 256; op++) if (this.perOp[op]! > 0) byCommand[nameOfOpcode(op)] = this.perOp[op]!;
    if (this.unknown > 0) byCommand['unknown (QEMU: UNKNOWN/INVALID)'] = this.unknown;
    const sorted = Object.fromEntries(Object.entries(byCommand).sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)));
    const byRule: Partial<Record<RuleId, number>> = {};
    const order = [...this.ruleFirst.entries()].sort(
      (a, b) => a[1] - b[1] || RULE_IDS.indexOf(a[0]) - RULE_IDS.indexOf(b[0]),
    );
    for (const [id] of order) byRule[id] = this.ruleCounts.get(id)!;
    const t = this.totals;
    let rp: ReplanSummary | null = null;
    if (this.o.replan !== false) {
      const differences: Partial<Record<DifferenceId, number>> = {};
      for (const id of Object.keys(t.differences) as DifferenceId[])
        if (id in DIFFERENCES) differences[id] = t.differences[id]!;
      rp = joinReplan(
        {
          requests: t.requests,
          identical: t.identical,
          different: t.requests - t.identical - t.notPlannable,
          notPlannable: t.notPlannable,
          stream: t.stream,
          linux: t.linux,
          tlbi: t.tlbi,
          differences,
        },
        this.source === 'qemu-trace',
        this.parts,
        this.keptRows,
      );
    }
    return {
      input: {
        source: this.source,
        entries: this.entries,
        pending: this.pending,
        ring: this.ring,
        trace,
        notes: this.notes,
        nestedVmids,
        nestedVmidsInferred: this.o.nestedInferred ?? !this.o.nestedVmids,
      },
      counts: { byCommand: sorted, byRule, findings: this.findingCount, batches: this.batches },
      findings: this.kept.map((x) => x.json),
      histograms: { commandsPerSync: this.batchHist.buckets(), pagesPerRangeCommand: this.pagesHist.buckets() },
      replan: rp,
    };
  }
}
