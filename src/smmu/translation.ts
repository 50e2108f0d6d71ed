/**
 * Device traffic through the SMMU model: translation as hardware may do it — the ATC of an ATS stream, the
 * TLB, the walk cache, then the tables in memory (the model's own walker, walker.ts), filling every cache on
 * the way — plus the cache prefetch the workload runs before a change and the rounds of traffic that go on
 * while invalidations are pending (model.ts says when they run).
 */
import { modFloor } from '../bits.js';
import { POW2, levelShift } from '../units.js';
import {
  AtcEntry,
  GLOBAL_ASID,
  Kind,
  Regime,
  TlbEntry,
  WalkEntry,
  type KindValue,
  type RegimeValue,
} from './caches.js';
import type { ResolvedContext, SmmuModel, TrafficTarget } from './model.js';
import {
  WalkResult,
  WalkStatus,
  canRead,
  canWrite,
  s1NotGlobal,
  startLevel,
  walkFrom,
  type TableConfig,
} from './walker.js';

/** Translation outcome codes. */
export const XlateStatus = {
  OK: 0,
  BAD_STREAM: 1,
  BAD_SUBSTREAM: 2,
  TRANSLATION: 3,
  PERMISSION: 4,
  ADDRESS_SIZE: 5,
} as const;

export const XLATE_STATUS_NAMES = [
  'ok',
  'bad-streamid',
  'bad-substreamid',
  'translation',
  'permission',
  'address-size',
] as const;

/** Where a translation came from. */
export const XlateSource = { NONE: 0, ATC: 1, TLB: 2, WALK: 3, BYPASS: 4 } as const;

/** Read (bit 0) / write (bit 1) permission of a TLB entry. */
export function permOf(e: TlbEntry): number {
  const stage = e.kind === Kind.S2 ? 2 : 1;
  let p = (canRead(stage, e.attrLo) ? 1 : 0) | (canWrite(stage, e.attrLo) ? 2 : 0);
  if (e.kind === Kind.NESTED) p &= (canRead(2, e.s2AttrLo) ? 1 : 0) | (canWrite(2, e.s2AttrLo) ? 2 : 0);
  return p;
}

/** The translating side of one SMMU model (the model's `translate`, `prefetch` and `runTraffic`). */
export class Translator {
  // Outputs of the last translate().
  lastStatus: number = XlateStatus.OK;
  lastSource: number = XlateSource.NONE;
  /** The TLB entry the last translation used or created (null for ATC hits, bypass and faults). */
  lastEntry: TlbEntry | null = null;
  /** On a walk fault: log2 of the span of the level that faulted (lets prefetch skip unmapped space). */
  lastFaultSpanLog2 = 12;
  /** Device traffic that runs while invalidations are pending (until cleared). */
  traffic: readonly TrafficTarget[] = [];
  private readonly res = new WalkResult();
  private readonly res2 = new WalkResult();
  private nestedCtx: ResolvedContext | null = null;
  private readonly tableXlate = (ipa: number): number => this.s2TableAddr(ipa);

  constructor(
    private readonly m: SmmuModel,
    /** Addresses each traffic target translates per traffic round (besides its first and last page). */
    private readonly trafficPerRound: number,
  ) {}

  /**
   * Translate one device access as hardware may: ATC (ATS streams), TLB, walk cache, then the tables in
   * memory, filling every cache on the way. Returns the output address, or -1 with `lastStatus` set.
   */
  translate(sid: number, ssid: number, addr: number, write: boolean): number {
    const m = this.m;
    m.stats.translations++;
    this.lastEntry = null;
    const st = m.config.steOf(sid, m.streams);
    if (st === null) return this.fail(XlateStatus.BAD_STREAM);
    if (st.mode === 'bypass') {
      this.lastSource = XlateSource.BYPASS;
      this.lastStatus = XlateStatus.OK;
      return addr;
    }
    const ctx = m.resolve(sid, ssid);
    if (ctx === null) return this.fail(XlateStatus.BAD_SUBSTREAM);
    if (ctx.ats) {
      const a = m.atc.lookup(sid, ssid, addr);
      if (a !== undefined) {
        m.stats.atcHits++;
        this.lastSource = XlateSource.ATC;
        if ((a.perm & (write ? 2 : 1)) === 0) return this.fail(XlateStatus.PERMISSION);
        this.lastStatus = XlateStatus.OK;
        return a.outPage + modFloor(addr, 4096);
      }
    }
    const e = this.lookupOrWalk(ctx, addr);
    if (e === null) return -1;
    const pa = e.outStart + (addr - e.inStart);
    const perm = permOf(e);
    if (ctx.ats) {
      const page = Math.floor(addr / 4096) * 4096;
      const ipa = e.kind === Kind.NESTED ? e.ipa + (page - e.inStart) : -1;
      m.atc.insert(new AtcEntry(sid, ssid, page, Math.floor(pa / 4096) * 4096, perm, ipa));
    }
    if ((perm & (write ? 2 : 1)) === 0) return this.fail(XlateStatus.PERMISSION);
    this.lastStatus = XlateStatus.OK;
    return pa;
  }

  private fail(status: number): number {
    this.lastStatus = status;
    this.m.stats.faults++;
    return -1;
  }

  private lookupOrWalk(ctx: ResolvedContext, addr: number): TlbEntry | null {
    const m = this.m;
    const global = ctx.kind !== Kind.S2;
    const hit = m.tlb.lookup(ctx.regime, ctx.kind, ctx.vmid, ctx.asid, addr, global);
    if (hit !== undefined) {
      m.stats.tlbHits++;
      this.lastSource = XlateSource.TLB;
      this.lastEntry = hit;
      return hit;
    }
    m.stats.walks++;
    this.lastSource = XlateSource.WALK;
    let e: TlbEntry | null;
    if (ctx.kind === Kind.S2) e = this.walkS2(ctx.vmid, ctx.s2!, addr);
    else if (ctx.kind === Kind.S1) e = this.walkS1(ctx, addr);
    else e = this.walkNested(ctx, addr);
    this.lastEntry = e;
    return e;
  }

  /** A walk that stops with `status`: its level's span is what prefetch may skip. */
  private walkFault(g: number, level: number, status: number): false {
    this.lastFaultSpanLog2 = levelShift(g, level);
    this.lastStatus = status;
    this.m.stats.faults++;
    return false;
  }

  /** Walk one stage for `addr`, starting from the deepest walk-cache entry, caching table descriptors. */
  private walkStage(
    res: WalkResult,
    regime: RegimeValue,
    kind: KindValue,
    vmid: number,
    asid: number,
    cfg: TableConfig,
    addr: number,
    xlate: ((ipa: number) => number) | null,
  ): boolean {
    const m = this.m;
    res.tables = 0;
    const g = cfg.granuleLog2;
    if (addr >= POW2[cfg.ias]!) {
      res.status = WalkStatus.ADDRESS_SIZE;
      res.level = startLevel(g, cfg.ias);
      return this.walkFault(g, res.level, XlateStatus.ADDRESS_SIZE);
    }
    let level = startLevel(g, cfg.ias);
    let table = cfg.root;
    const nested = kind === Kind.NESTED;
    const we = m.walkCache.lookup(regime, kind, vmid, asid, addr, false);
    if (we !== undefined) {
      // A nested entry is a combined structure: it continues at the PA it holds, without a stage-2 lookup.
      level = we.level + 1;
      table = we.nextPa;
    } else if (nested) m.tableUses.note(regime, vmid, asid, cfg.root, g, 0, cfg.ias);
    walkFrom(m.mem, cfg, addr, level, table, res, xlate, we !== undefined);
    for (let t = 0; t < res.tables; t++) {
      const lv = res.tableLevel[t]!;
      const nextPa = res.tableNextPa[t]!;
      if (nextPa < 0) continue; // the next table's stage-2 translation faulted: nothing to combine
      const shift = levelShift(g, lv);
      const inStart = res.tableIn[t]!;
      const next = res.tableNext[t]!;
      m.walkCache.insert(
        new WalkEntry({ regime, kind, vmid, asid, inStart, sizeLog2: shift, level: lv, granuleLog2: g, next, nextPa }),
      );
      if (nested) m.tableUses.note(regime, vmid, asid, next, g, inStart, shift);
    }
    if (res.status !== WalkStatus.OK) return this.walkFault(g, res.level, XlateStatus.TRANSLATION);
    return true;
  }

  private walkS1(ctx: ResolvedContext, addr: number): TlbEntry | null {
    const res = this.res;
    const cfg = ctx.s1!;
    if (!this.walkStage(res, ctx.regime, Kind.S1, ctx.vmid, ctx.asid, cfg, addr, null)) return null;
    const global = ctx.regime !== Regime.EL2 && !s1NotGlobal(res.attrLo);
    const asidKey = ctx.regime === Regime.EL2 ? 0 : global ? GLOBAL_ASID : ctx.asid;
    return this.insertSingleStage(res, ctx.regime, Kind.S1, ctx.vmid, asidKey, ctx.asid, cfg);
  }

  /** Cache the leaf of a single-stage walk (stage 1 or stage 2) in the TLB. */
  private insertSingleStage(
    res: WalkResult,
    regime: RegimeValue,
    kind: KindValue,
    vmid: number,
    asid: number,
    srcAsid: number,
    cfg: TableConfig,
  ): TlbEntry {
    const e = new TlbEntry({
      regime,
      kind,
      vmid,
      asid,
      srcAsid,
      inStart: res.inStart,
      sizeLog2: res.sizeLog2,
      outStart: res.outStart,
      level: res.level,
      granuleLog2: cfg.granuleLog2,
      attrLo: res.attrLo,
      attrHi: res.attrHi,
    });
    this.m.tlb.insert(e);
    return e;
  }

  private walkS2(vmid: number, cfg: TableConfig, ipa: number): TlbEntry | null {
    const hit = this.m.tlb.lookup(Regime.NH, Kind.S2, vmid, 0, ipa, false);
    if (hit !== undefined) return hit;
    const res = this.res2;
    if (!this.walkStage(res, Regime.NH, Kind.S2, vmid, 0, cfg, ipa, null)) return null;
    return this.insertSingleStage(res, Regime.NH, Kind.S2, vmid, 0, 0, cfg);
  }

  /** Stage-2 translation of a stage-1 table address under nesting (cached as a stage-2 entry). */
  private s2TableAddr(ipa: number): number {
    const ctx = this.nestedCtx!;
    const e = this.walkS2(ctx.vmid, ctx.s2!, ipa);
    return e === null ? -1 : e.outStart + (ipa - e.inStart);
  }

  private walkNested(ctx: ResolvedContext, addr: number): TlbEntry | null {
    const res = this.res;
    const cfg = ctx.s1!;
    this.nestedCtx = ctx;
    if (!this.walkStage(res, ctx.regime, Kind.NESTED, ctx.vmid, ctx.asid, cfg, addr, this.tableXlate)) return null;
    const s1In = res.inStart;
    const s1Size = res.sizeLog2;
    const s1Out = res.outStart;
    const s1Level = res.level;
    const s1Lo = res.attrLo;
    const s1Hi = res.attrHi;
    const ipa = s1Out + (addr - s1In);
    const e2 = this.walkS2(ctx.vmid, ctx.s2!, ipa);
    if (e2 === null) return null;
    const sizeLog2 = Math.min(s1Size, e2.sizeLog2);
    const span = POW2[sizeLog2]!;
    const inStart = Math.floor(addr / span) * span;
    const ipaStart = Math.floor(ipa / span) * span;
    const global = !s1NotGlobal(s1Lo);
    const e = new TlbEntry({
      regime: ctx.regime,
      kind: Kind.NESTED,
      vmid: ctx.vmid,
      asid: global ? GLOBAL_ASID : ctx.asid,
      srcAsid: ctx.asid,
      inStart,
      sizeLog2,
      outStart: e2.outStart + (ipaStart - e2.inStart),
      level: s1Level,
      granuleLog2: cfg.granuleLog2,
      attrLo: s1Lo,
      attrHi: s1Hi,
      nested: {
        ipa: ipaStart,
        s2Level: e2.level,
        s2GranuleLog2: e2.granuleLog2,
        s2AttrLo: e2.attrLo,
        s2AttrHi: e2.attrHi,
        matchLog2: s1Size,
      },
    });
    this.m.tlb.insert(e);
    return e;
  }

  /**
   * Fill the caches for every mapped address in [first, last] of (sid, ssid): one translation per leaf
   * (per 4 KiB page for ATS streams, whose ATC holds 4 KiB entries); unmapped space is skipped a whole
   * table span at a time. Returns the number of translations made.
   */
  prefetch(sid: number, ssid: number, first: number, last: number): number {
    const ctx = this.m.resolve(sid, ssid);
    if (ctx === null) return 0;
    let n = 0;
    let a = Math.floor(first / 4096) * 4096;
    while (a <= last) {
      n++;
      const pa = this.translate(sid, ssid, a, false);
      let step: number;
      if (pa >= 0 || this.lastStatus === XlateStatus.PERMISSION) {
        if (ctx.ats || this.lastEntry === null) step = 4096;
        else step = this.lastEntry.inStart + POW2[this.lastEntry.sizeLog2]! - a;
      } else {
        const span = POW2[this.lastFaultSpanLog2]!;
        step = span - modFloor(a, span);
      }
      a += step;
    }
    return n;
  }

  /** One round of traffic: per target, its first and last page and a few random pages in between. */
  runTraffic(): void {
    const ts = this.traffic;
    if (ts.length === 0) return;
    const m = this.m;
    m.stats.trafficRounds++;
    for (let i = 0; i < ts.length; i++) {
      const t = ts[i]!;
      const firstPage = Math.floor(t.first / 4096) * 4096;
      const lastPage = Math.floor(t.last / 4096) * 4096;
      this.translate(t.sid, t.ssid, firstPage, false);
      if (lastPage !== firstPage) this.translate(t.sid, t.ssid, lastPage, false);
      const pages = (lastPage - firstPage) / 4096 + 1;
      if (pages > 2) {
        const n = Math.min(this.trafficPerRound, pages - 2);
        for (let k = 0; k < n; k++)
          this.translate(t.sid, t.ssid, firstPage + 4096 * (1 + m.rng.below(pages - 2)), false);
      }
    }
  }
}
