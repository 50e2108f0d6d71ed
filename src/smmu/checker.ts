/**
 * The stale-translation checker: after a change's invalidation has completed, every entry left in a cache
 * must agree with the live tables in memory — a TLB or ATC entry must give the same output address and
 * permissions a fresh walk gives, and a walk-cache entry must point at the table that is live at that
 * place. Anything else is a stale translation.
 *
 * It judges outcomes, not command lists: it reads the caches and walks the live tables with the model's own
 * walker, and knows nothing of the engine. Only entries that can have gone stale are examined — those
 * overlapping the changed input range of the changed table (stage-2 changes also reach nested entries and
 * ATC entries through their IPA) — so checking stays cheap on long runs; `checkAll` examines everything.
 *
 * Configuration: a cached STE or CD must agree with the stream table in memory once the change's CFGI_*
 * commands should have completed (`checkConfig`); the report names the fields that differ. Every other
 * check judges entries by the configuration in memory (what the translation should have used).
 */
import { hexAddr } from '../bits.js';
import { AtcEntry, GLOBAL_ASID, Kind, Regime, TlbEntry, WalkEntry } from './caches.js';
import type { ResolvedContext, SmmuModel } from './model.js';
import { WalkResult, WalkStatus, canRead, canWrite, walk, type TableConfig } from './walker.js';
import type { PhysMemory } from '../pgtable/memory.js';
import type { TableUse } from './table-uses.js';
import { cdDiffs, cdText, steDiffs, steText, type CachedConfig } from './config-cache.js';
import { POW2, levelShift } from '../units.js';
import { CleanMemo } from './check-memo.js';
import { atcPerm, describeTlb, describeWalk, perm } from './check-describe.js';

/** One whole-cache sweep (`checkAll`) in this many judges every entry, remembered clean or not. */
const FULL_SWEEP_EVERY = 32;

/** One change to a table: which table (by stage and root) and the input range whose descriptors changed. */
export interface ChangeSpec {
  readonly stage: 1 | 2;
  readonly root: number;
  readonly first: number;
  readonly last: number;
  /** The commands issued for the change (decoded, for the report). */
  readonly commands?: readonly string[];
}

export type CacheName = 'TLB' | 'walk' | 'ATC' | 'STE' | 'CD';

export interface StaleReport {
  readonly smmu: number;
  readonly cache: CacheName;
  /** The entry, described as cached. */
  readonly entry: Record<string, string | number>;
  /** The input address at which cached and live disagree. */
  readonly address: string;
  /** What the cache translates it to (output and permissions, or the next-table address). */
  readonly cached: string;
  /** What the live tables say. */
  readonly live: string;
  readonly commands: readonly string[];
}

const FAULT_NAMES = [
  'ok',
  'translation fault',
  'access flag fault',
  'address size fault',
  'stage-2 fault on a stage-1 table',
];

/** The live translation of one address. */
class Live {
  status = 0;
  level = 0;
  inStart = 0;
  sizeLog2 = 0;
  outStart = 0;
  attrLo = 0;
  attrHi = 0;
  ipaStart = -1;
  s2AttrLo = 0;
  s2AttrHi = 0;
}

export class StaleChecker {
  private readonly r1 = new WalkResult();
  private readonly r2 = new WalkResult();
  private readonly rt = new WalkResult();
  private readonly live = new Live();
  private s2Cfg: TableConfig | null = null;
  private readonly xlate = (ipa: number): number => {
    const r = walk(this.mem, this.s2Cfg!, ipa, this.rt);
    return r.status === WalkStatus.OK ? r.out(ipa) : -1;
  };
  private ctxVersion = -1;
  private ctxModel: SmmuModel | null = null;
  private readonly ctxByTag = new Map<number, ResolvedContext>();
  /** Per tag group (regime, kind, VMID): one context per distinct stage-1 table (what a global entry serves). */
  private readonly ctxByGroup = new Map<number, ResolvedContext[]>();
  private readonly s2ByVmid = new Map<number, TableConfig>();
  /** Entries examined so far (statistics). */
  examined = 0;
  /** Clean judgements of whole-cache sweeps, and what they read (check-memo.ts). */
  private readonly memo: CleanMemo;

  constructor(private readonly mem: PhysMemory) {
    this.memo = new CleanMemo(mem, FULL_SWEEP_EVERY);
  }

  // ------------------------------------------------------------ contexts by tag

  private static tagKey(regime: number, kind: number, vmid: number, asid: number): number {
    return ((regime * 4 + kind) * 65536 + vmid) * 65536 + asid;
  }

  private refresh(model: SmmuModel): void {
    if (this.ctxModel === model && this.ctxVersion === model.streamsVersion) return;
    this.ctxModel = model;
    this.ctxVersion = model.streamsVersion;
    this.ctxByTag.clear();
    this.ctxByGroup.clear();
    this.s2ByVmid.clear();
    for (const st of model.streams.values()) {
      if ((st.mode === 'stage2' || st.mode === 'nested') && st.s2 !== undefined && !this.s2ByVmid.has(st.vmid))
        this.s2ByVmid.set(model.features.stage2 ? st.vmid : 0, st.s2);
      if ((st.mode === 'stage1' || st.mode === 'nested') && st.cds !== undefined) {
        for (const ssid of st.cds.keys()) {
          const ctx = model.resolveLive(st.sid, ssid);
          if (ctx === null) continue;
          const k = StaleChecker.tagKey(ctx.regime, ctx.kind, ctx.vmid, ctx.asid);
          if (!this.ctxByTag.has(k)) this.ctxByTag.set(k, ctx);
          const gk = StaleChecker.tagKey(ctx.regime, ctx.kind, ctx.vmid, 0);
          let list = this.ctxByGroup.get(gk);
          if (list === undefined) this.ctxByGroup.set(gk, (list = []));
          if (!list.some((c) => c.s1 === ctx.s1 && c.s2 === ctx.s2)) list.push(ctx);
        }
      }
    }
  }

  // ------------------------------------------------------------ live translation

  /** Walk the live tables of `ctx`'s kind for `addr` into this.live. */
  private liveTranslate(kind: number, s1: TableConfig | null, s2: TableConfig | null, addr: number): Live {
    const L = this.live;
    L.ipaStart = -1;
    if (kind === Kind.S2 || kind === Kind.S1) {
      const cfg = (kind === Kind.S2 ? s2 : s1)!;
      const r = walk(this.mem, cfg, addr, this.r1);
      L.status = r.status;
      L.level = r.level;
      if (r.status === WalkStatus.OK) {
        L.inStart = r.inStart;
        L.sizeLog2 = r.sizeLog2;
        L.outStart = r.outStart;
        L.attrLo = r.attrLo;
        L.attrHi = r.attrHi;
      }
      return L;
    }
    // Nested: stage 1 with its table addresses through stage 2, then stage 2 of the output.
    this.s2Cfg = s2;
    const r = walk(this.mem, s1!, addr, this.r1, this.xlate);
    L.status = r.status;
    L.level = r.level;
    if (r.status !== WalkStatus.OK) return L;
    const ipa = r.out(addr);
    const r2 = walk(this.mem, s2!, ipa, this.r2);
    if (r2.status !== WalkStatus.OK) {
      L.status = r2.status;
      L.level = r2.level;
      return L;
    }
    const sizeLog2 = Math.min(r.sizeLog2, r2.sizeLog2);
    const span = POW2[sizeLog2]!;
    L.inStart = Math.floor(addr / span) * span;
    L.sizeLog2 = sizeLog2;
    L.ipaStart = Math.floor(ipa / span) * span;
    L.outStart = r2.out(L.ipaStart);
    L.attrLo = r.attrLo;
    L.attrHi = r.attrHi;
    L.s2AttrLo = r2.attrLo;
    L.s2AttrHi = r2.attrHi;
    return L;
  }

  private liveText(L: Live, kind: number, addr: number): string {
    if (L.status !== WalkStatus.OK) return `${FAULT_NAMES[L.status] ?? 'fault'} at level ${L.level}`;
    const out = L.outStart + (addr - L.inStart);
    return `${hexAddr(out)} ${perm(kind, L.attrLo, L.attrHi, L.s2AttrLo)} (level ${L.level} leaf)`;
  }

  // ------------------------------------------------------------ entry checks

  private tablesFor(
    model: SmmuModel,
    e: TlbEntry | WalkEntry,
    asid: number,
  ): { s1: TableConfig | null; s2: TableConfig | null } | null {
    if (e.kind === Kind.S2) {
      const s2 = this.s2ByVmid.get(e.vmid);
      return s2 === undefined ? null : { s1: null, s2 };
    }
    const ctx = this.ctxByTag.get(StaleChecker.tagKey(e.regime, e.kind, e.vmid, asid));
    return ctx === undefined ? null : { s1: ctx.s1, s2: ctx.s2 };
  }

  /**
   * A TLB entry: every address of its span must translate as the live tables do. A global (nG = 0) stage-1
   * entry is hit by every ASID of its regime and VMID (IHI 0070 §4.4: the ASID is not part of its tag), so it
   * must agree with the live tables of every context of that tag group, not only of the one that walked it;
   * with no context left it is a leftover like any other.
   */
  checkTlb(model: SmmuModel, e: TlbEntry, commands: readonly string[], out: StaleReport[]): void {
    if (e.asid === GLOBAL_ASID && e.kind !== Kind.S2) {
      const ctxs = this.ctxByGroup.get(StaleChecker.tagKey(e.regime, e.kind, e.vmid, 0));
      if (ctxs !== undefined && ctxs.length > 0) {
        const n = out.length;
        for (const ctx of ctxs) {
          this.checkTlbAgainst(model, e, { s1: ctx.s1, s2: ctx.s2 }, commands, out);
          if (out.length > n) return;
        }
        return;
      }
    }
    this.checkTlbAgainst(
      model,
      e,
      this.tablesFor(model, e, e.asid === GLOBAL_ASID ? e.srcAsid : e.asid),
      commands,
      out,
    );
  }

  private checkTlbAgainst(
    model: SmmuModel,
    e: TlbEntry,
    t: { s1: TableConfig | null; s2: TableConfig | null } | null,
    commands: readonly string[],
    out: StaleReport[],
  ): void {
    this.examined++;
    const stale = (addr: number, live: string): void => {
      out.push({
        smmu: model.id,
        cache: 'TLB',
        entry: describeTlb(e),
        address: hexAddr(addr),
        cached: `${hexAddr(e.outStart + (addr - e.inStart))} ${perm(e.kind, e.attrLo, e.attrHi, e.s2AttrLo)}`,
        live,
        commands,
      });
    };
    if (t === null) {
      stale(e.inStart, 'no stream uses this tag any more');
      return;
    }
    // Every live leaf under the cached entry is compared, however many there are: stopping after some
    // number of pieces would call a block clean whose far end the live table has remapped (the block still
    // translates that end to its old output until an invalidation matching it removes it, IHI 0070 §16.2).
    // Each step advances past one live leaf descriptor, so the work is bounded by the live table's size.
    const end = e.inStart + POW2[e.sizeLog2]!;
    let a = e.inStart;
    while (a < end) {
      const L = this.liveTranslate(e.kind, t.s1, t.s2, a);
      if (L.status !== WalkStatus.OK) {
        stale(a, this.liveText(L, e.kind, a));
        return;
      }
      const liveOut = L.outStart + (a - L.inStart);
      const cachedOut = e.outStart + (a - e.inStart);
      const same =
        liveOut === cachedOut &&
        L.attrLo === e.attrLo &&
        L.attrHi === e.attrHi &&
        (e.kind !== Kind.NESTED ||
          (L.s2AttrLo === e.s2AttrLo &&
            L.s2AttrHi === e.s2AttrHi &&
            L.ipaStart + (a - L.inStart) === e.ipa + (a - e.inStart)));
      if (!same) {
        stale(a, this.liveText(L, e.kind, a));
        return;
      }
      a = L.inStart + POW2[L.sizeLog2]!;
    }
  }

  /** A walk-cache entry: the live walk must reach a table descriptor at its level pointing at its table. */
  checkWalk(model: SmmuModel, e: WalkEntry, commands: readonly string[], out: StaleReport[]): void {
    this.examined++;
    const t = this.tablesFor(model, e, e.asid);
    const report = (live: string): void => {
      out.push({
        smmu: model.id,
        cache: 'walk',
        entry: describeWalk(e),
        address: hexAddr(e.inStart),
        cached:
          `level ${e.level} table descriptor → table at ${hexAddr(e.next)}` +
          (e.kind === Kind.NESTED ? ` (IPA; cached PA ${hexAddr(e.nextPa)})` : ''),
        live,
        commands,
      });
    };
    if (t === null) {
      report('no stream uses this tag any more');
      return;
    }
    const cfg = (e.kind === Kind.S2 ? t.s2 : t.s1)!;
    this.s2Cfg = t.s2;
    const r = walk(this.mem, cfg, e.inStart, this.r1, e.kind === Kind.NESTED ? this.xlate : null);
    for (let i = 0; i < r.tables; i++) {
      if (r.tableLevel[i] === e.level) {
        const next = r.tableNext[i]!;
        if (next !== e.next || cfg.granuleLog2 !== e.granuleLog2) {
          report(`level ${e.level} table descriptor → table at ${hexAddr(next)}`);
          return;
        }
        if (e.kind !== Kind.NESTED) return;
        // A combined entry also holds the next table's PA: stage 2 must still map the table's IPA there.
        const pa = this.xlate(next);
        if (pa !== e.nextPa)
          report(
            `level ${e.level} table descriptor → table at IPA ${hexAddr(next)}, which stage 2 now ` +
              (pa < 0 ? 'does not map' : `maps to PA ${hexAddr(pa)}`),
          );
        return;
      }
    }
    if (r.status === WalkStatus.OK) report(`a level ${r.level} leaf (no table at level ${e.level + 1})`);
    else report(`${FAULT_NAMES[r.status] ?? 'fault'} at level ${r.level} (no table at level ${e.level + 1})`);
  }

  /** An ATC entry: its page must translate, through the stream's live configuration, to the same page and permissions. */
  checkAtc(model: SmmuModel, e: AtcEntry, commands: readonly string[], out: StaleReport[]): void {
    this.examined++;
    const ctx = model.resolveLive(e.sid, e.ssid);
    const report = (live: string): void => {
      out.push({
        smmu: model.id,
        cache: 'ATC',
        entry: { sid: e.sid, ssid: e.ssid, page: hexAddr(e.page), output: hexAddr(e.outPage), perm: atcPerm(e.perm) },
        address: hexAddr(e.page),
        cached: `${hexAddr(e.outPage)} ${atcPerm(e.perm)}`,
        live,
        commands,
      });
    };
    if (ctx === null) {
      report('the stream or SubstreamID is no longer configured');
      return;
    }
    const L = this.liveTranslate(ctx.kind, ctx.s1, ctx.s2, e.page);
    if (L.status !== WalkStatus.OK) {
      report(this.liveText(L, ctx.kind, e.page));
      return;
    }
    const liveOut = L.outStart + (e.page - L.inStart);
    const stage = ctx.kind === Kind.S2 ? 2 : 1;
    let p = (canRead(stage, L.attrLo) ? 1 : 0) | (canWrite(stage, L.attrLo) ? 2 : 0);
    if (ctx.kind === Kind.NESTED) p &= (canRead(2, L.s2AttrLo) ? 1 : 0) | (canWrite(2, L.s2AttrLo) ? 2 : 0);
    if (liveOut !== e.outPage || p !== e.perm) report(`${hexAddr(liveOut)} ${atcPerm(p)}`);
  }

  // ------------------------------------------------------------ what to check

  /** Check every entry that a change of `change.stage` table `change.root` over [first, last] can have made stale. */
  checkChange(model: SmmuModel, change: ChangeSpec): StaleReport[] {
    this.refresh(model);
    const out: StaleReport[] = [];
    const cmds = change.commands ?? [];
    const { first, last } = change;
    const seen = new Set<object>();
    const tlbs: TlbEntry[] = [];
    const walks: WalkEntry[] = [];
    const atcs: AtcEntry[] = [];
    if (change.stage === 1) {
      for (const ctx of this.ctxByTag.values()) {
        if (ctx.s1 === null || ctx.s1.root !== change.root) continue;
        collectByInput(model, ctx, first, last, tlbs, walks);
      }
      for (const st of model.streams.values()) {
        if (!st.ats || st.cds === undefined) continue;
        for (const [ssid, cd] of st.cds)
          if (cd.table.root === change.root) model.atc.overlapping(st.sid, ssid, first, last, atcs);
      }
    } else {
      // Stage-1 tables of nested streams that sit in the changed IPA range: everything cached through them
      // (the walk-cache entry holding the table's PA, and every leaf, deeper table and ATC entry walked
      // through it) can be stale, whatever its own input or output address.
      const uses: TableUse[] = [];
      for (const ctx of this.ctxByTag.values()) {
        if (ctx.kind !== Kind.NESTED || ctx.s2 === null || ctx.s2.root !== change.root) continue;
        uses.length = 0;
        model.tableUses.overlapping(ctx.regime, ctx.vmid, ctx.asid, first, last, uses);
        for (const u of uses) {
          const spanLast = u.spanStart + POW2[u.spanLog2]! - 1;
          collectByInput(model, ctx, u.spanStart, spanLast, tlbs, walks);
          for (const st of model.streams.values()) {
            if (!st.ats || st.mode !== 'nested' || st.cds === undefined) continue;
            for (const ssid of st.cds.keys()) {
              const c = model.resolveLive(st.sid, ssid);
              if (c !== null && c.regime === ctx.regime && c.vmid === ctx.vmid && c.asid === ctx.asid)
                model.atc.overlapping(st.sid, ssid, u.spanStart, spanLast, atcs);
            }
          }
        }
      }
      for (const st of model.streams.values()) {
        if (st.s2 === undefined || st.s2.root !== change.root) continue;
        const vmid = model.features.stage2 ? st.vmid : 0;
        model.tlb.group(Regime.NH, Kind.S2, vmid)?.byAsid.get(0)?.collect(first, last, tlbs);
        model.walkCache.group(Regime.NH, Kind.S2, vmid)?.byAsid.get(0)?.collect(first, last, walks);
        model.tlb.group(Regime.NH, Kind.NESTED, vmid)?.byIpa?.collect(first, last, tlbs);
        if (st.ats) {
          if (st.mode === 'nested') model.atc.overlappingIpa(st.sid, first, last, atcs);
          else if (st.mode === 'stage2') model.atc.overlapping(st.sid, undefined, first, last, atcs);
        }
      }
    }
    for (const e of tlbs) {
      if (seen.has(e)) continue;
      seen.add(e);
      this.checkTlb(model, e, cmds, out);
    }
    for (const e of walks) {
      if (seen.has(e)) continue;
      seen.add(e);
      this.checkWalk(model, e, cmds, out);
    }
    for (const e of atcs) {
      if (seen.has(e)) continue;
      seen.add(e);
      this.checkAtc(model, e, cmds, out);
    }
    return out;
  }

  /**
   * Cached STEs and CDs that differ from the stream table in memory: of the given StreamIDs, or all. Traffic
   * through such an STE or CD translates with a configuration software has replaced (for example an old
   * ASID, whose TLB entries are then still used).
   */
  checkConfig(model: SmmuModel, sids?: readonly number[], commands: readonly string[] = []): StaleReport[] {
    const out: StaleReport[] = [];
    const want = sids === undefined ? null : new Set(sids);
    for (const c of model.config.entries()) {
      if (want !== null && !want.has(c.sid)) continue;
      this.examined++;
      this.checkOneConfig(model, c, commands, out);
    }
    return out;
  }

  private checkOneConfig(model: SmmuModel, c: CachedConfig, commands: readonly string[], out: StaleReport[]): void {
    const live = model.streams.get(c.sid) ?? null;
    const sid = `0x${c.sid.toString(16)}`;
    if (c.kind === 'STE') {
      const diffs = steDiffs(c.ste, live);
      if (diffs.length === 0) return;
      out.push({
        smmu: model.id,
        cache: 'STE',
        entry: { sid, fields: diffs.join(',') },
        address: `StreamID ${sid}`,
        cached: steText(c.ste),
        live: steText(live),
        commands,
      });
      return;
    }
    const liveCd = live?.cds?.get(c.ssid) ?? null;
    const diffs = cdDiffs(c.cd, liveCd);
    if (diffs.length === 0) return;
    out.push({
      smmu: model.id,
      cache: 'CD',
      entry: { sid, ssid: c.ssid, fields: diffs.join(',') },
      address: `StreamID ${sid} SubstreamID ${c.ssid}`,
      cached: cdText(c.cd),
      live: cdText(liveCd),
      commands,
    });
  }

  /**
   * Every TLB and walk-cache entry still tagged (regime, kind, VMID) and, when given, ASID: after a tag left
   * its last structure and was flushed, whatever remains (or was refilled through a stale STE/CD) is judged
   * against the live configuration, where no context uses the tag any more.
   */
  checkTag(
    model: SmmuModel,
    tag: { regime: number; kind: number; vmid: number },
    asid: number | undefined,
    commands: readonly string[] = [],
  ): StaleReport[] {
    this.refresh(model);
    const out: StaleReport[] = [];
    const tlbs: TlbEntry[] = [];
    const walks: WalkEntry[] = [];
    const all = 2 ** 64;
    const t = model.tlb.group(tag.regime, tag.kind, tag.vmid);
    const w = model.walkCache.group(tag.regime, tag.kind, tag.vmid);
    if (asid === undefined) {
      for (const idx of t?.byAsid.values() ?? []) idx.collect(0, all, tlbs);
      for (const idx of w?.byAsid.values() ?? []) idx.collect(0, all, walks);
    } else {
      t?.byAsid.get(asid)?.collect(0, all, tlbs);
      w?.byAsid.get(asid)?.collect(0, all, walks);
    }
    for (const e of tlbs) this.checkTlb(model, e, commands, out);
    for (const e of walks) this.checkWalk(model, e, commands, out);
    return out;
  }

  /**
   * Check every cached entry of the model, configuration included. Entries judged clean by an earlier sweep
   * whose inputs have not changed since are not judged again (check-memo.ts): the reports are those of a
   * judgement of every entry.
   */
  checkAll(model: SmmuModel, commands: readonly string[] = []): StaleReport[] {
    this.refresh(model);
    const out: StaleReport[] = this.checkConfig(model, undefined, commands);
    const memo = this.memo;
    const v = model.streamsVersion;
    memo.beginSweep();
    for (const e of model.tlb.all.slice()) {
      if (memo.stillClean(e, model, v)) continue;
      const n = out.length;
      memo.begin();
      this.checkTlb(model, e, commands, out);
      memo.end(e, model, v, out.length === n);
    }
    for (const e of model.walkCache.all.slice()) {
      if (memo.stillClean(e, model, v)) continue;
      const n = out.length;
      memo.begin();
      this.checkWalk(model, e, commands, out);
      memo.end(e, model, v, out.length === n);
    }
    for (const e of model.atc.all.slice()) {
      if (memo.stillClean(e, model, v)) continue;
      const n = out.length;
      memo.begin();
      this.checkAtc(model, e, commands, out);
      memo.end(e, model, v, out.length === n);
    }
    memo.endSweep();
    return out;
  }
}

/** The TLB entries (the context's ASID and the global ones) and walk-cache entries of `ctx`'s tag over [first, last]. */
function collectByInput(
  model: SmmuModel,
  ctx: ResolvedContext,
  first: number,
  last: number,
  tlbs: TlbEntry[],
  walks: WalkEntry[],
): void {
  const g = model.tlb.group(ctx.regime, ctx.kind, ctx.vmid);
  if (g !== undefined) {
    g.byAsid.get(ctx.asid)?.collect(first, last, tlbs);
    g.byAsid.get(GLOBAL_ASID)?.collect(first, last, tlbs);
  }
  model.walkCache.group(ctx.regime, ctx.kind, ctx.vmid)?.byAsid.get(ctx.asid)?.collect(first, last, walks);
}

/** log2 span of the region one table descriptor at `level` covers (re-exported for tests). */
export function tableSpanLog2(granuleLog2: number, level: number): number {
  return levelShift(granuleLog2, level);
}
