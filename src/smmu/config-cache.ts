/**
 * The SMMU model's configuration caches: STEs by StreamID and CDs by (StreamID, SubstreamID), as the
 * architecture lets an implementation hold them (IHI 0070 §16.2, §3.21.3).
 *
 * - The model's stream table (`SmmuModel.streams`) is the memory software writes; this cache is what the
 *   SMMU translates with. A structure not cached is fetched from memory when traffic needs it, and then
 *   kept, valid or not (§3.21.3: "permitted to cache any successfully fetched … configuration structure,
 *   whether marked as valid or not"). The adversary keeps every cached STE and CD until a CFGI_* command
 *   that covers it completes at a CMD_SYNC; it never re-reads one early (a fresh read is always allowed,
 *   but keeping is what exposes a missing invalidation; the order in which the commands of one batch
 *   complete is chosen by the model's CMD_SYNC).
 * - CDs are reached through the cached STE (a CD is fetched only through a valid STE that enables stage 1,
 *   §3.21.3) and read from the stream's CD table as it is in memory now: the model's CD table is per
 *   StreamID, as Linux's per-master table.
 * - What removes what (§4.3.1–4.3.6): CFGI_STE (either Leaf) the STE and every CD cached through that
 *   StreamID; CFGI_STE_RANGE the aligned block of 2^(Range+1) StreamIDs and their CDs (Range = 31 is
 *   CFGI_ALL: everything); CFGI_CD one CD; CFGI_CD_ALL every CD of the StreamID. The model's stream table is
 *   linear, and "STEs cached from linear Stream tables are invalidated with any value of Leaf" (§4.3.1): there
 *   is no level-1 descriptor (L1STD) to cache, so Leaf = 0 adds nothing here; the CD tables are linear too
 *   (no L1CD). CFGI_VMS_PIDM has nothing to remove (no VMS is modelled).
 * - A stale STE or CD is one whose cached copy differs from memory once the change's invalidation should
 *   have completed; `configDiffs` names the fields that differ (STE: V, Config, EATS, S2VMID, STRW, S2TTB /
 *   S2TG / S2T0SZ; CD: V, ASID, TTB0, TG0, T0SZ).
 *
 * Not modelled: torn reads. A structure is written and fetched whole; an SMMU that observes a half-written
 * STE or CD (§3.21.3: the double-words of a structure may be read in any order, so a live update of fields
 * in different double-words needs the V = 0 → update → V = 1 procedure of §3.21.3.1) is not simulated.
 */
import { Opcode } from '../cmdq/opcodes.js';
import { CFGI_RANGE_ALL } from '../cmdq/opcodes.js';
import type { ContextDescriptor, StreamConfig } from './streams.js';
import type { TableConfig } from './walker.js';

/** What one invalidation names. */
export interface ConfigInvalidation {
  readonly op: number;
  readonly sid: number;
  readonly ssid: number;
  readonly range: number;
}

export class ConfigCache {
  /** Cached STEs by StreamID (null: an invalid STE was fetched and cached). */
  readonly ste = new Map<number, StreamConfig | null>();
  /** Cached CDs by StreamID, then SubstreamID (null: an invalid CD was fetched and cached). */
  readonly cd = new Map<number, Map<number, ContextDescriptor | null>>();
  /** Structures fetched and cached, and removed by invalidation, so far. */
  fills = 0;
  removed = 0;

  /** The cached STE of `sid`, fetching it from `mem` (the stream table) when it is not cached. */
  steOf(sid: number, mem: ReadonlyMap<number, StreamConfig>): StreamConfig | null {
    const hit = this.ste.get(sid);
    if (hit !== undefined) return hit;
    const st = mem.get(sid) ?? null;
    this.ste.set(sid, st);
    this.fills++;
    return st;
  }

  /** The cached CD (sid, ssid), fetching it from the stream's CD table in `mem` when it is not cached. */
  cdOf(sid: number, ssid: number, mem: ReadonlyMap<number, StreamConfig>): ContextDescriptor | null {
    let bySsid = this.cd.get(sid);
    const hit = bySsid?.get(ssid);
    if (hit !== undefined) return hit;
    const cd = mem.get(sid)?.cds?.get(ssid) ?? null;
    if (bySsid === undefined) this.cd.set(sid, (bySsid = new Map()));
    bySsid.set(ssid, cd);
    this.fills++;
    return cd;
  }

  /** Forget the STE of `sid` and every CD cached through it; returns the structures removed. */
  dropStream(sid: number): number {
    let n = this.ste.delete(sid) ? 1 : 0;
    const cds = this.cd.get(sid);
    if (cds !== undefined) {
      n += cds.size;
      this.cd.delete(sid);
    }
    return n;
  }

  /** Apply a completed CFGI_* command; returns the number of structures removed. */
  invalidate(inv: ConfigInvalidation): number {
    let n = 0;
    switch (inv.op) {
      case Opcode.CFGI_STE:
        n = this.dropStream(inv.sid);
        break;
      case Opcode.CFGI_STE_RANGE: {
        if (inv.range >= CFGI_RANGE_ALL) {
          n = this.ste.size;
          for (const m of this.cd.values()) n += m.size;
          this.ste.clear();
          this.cd.clear();
          break;
        }
        // The bottom Range+1 bits of StreamID are ignored: an aligned block of 2^(Range+1) StreamIDs.
        const span = 2 ** (inv.range + 1);
        const first = Math.floor(inv.sid / span) * span;
        const sids = new Set<number>([...this.ste.keys(), ...this.cd.keys()]);
        for (const s of sids) if (s >= first && s < first + span) n += this.dropStream(s);
        break;
      }
      case Opcode.CFGI_CD: {
        const m = this.cd.get(inv.sid);
        if (m !== undefined && m.delete(inv.ssid)) n = 1;
        break;
      }
      case Opcode.CFGI_CD_ALL: {
        const m = this.cd.get(inv.sid);
        if (m !== undefined) {
          n = m.size;
          this.cd.delete(inv.sid);
        }
        break;
      }
      default:
        break; // CFGI_VMS_PIDM: no VMS structure is modelled
    }
    this.removed += n;
    return n;
  }

  /** Every cached structure (for the checker): STEs first, then CDs. */
  *entries(): Generator<CachedConfig> {
    for (const [sid, st] of this.ste) yield { kind: 'STE', sid, ssid: -1, ste: st, cd: null };
    for (const [sid, m] of this.cd) for (const [ssid, cd] of m) yield { kind: 'CD', sid, ssid, ste: null, cd };
  }

  get size(): number {
    let n = this.ste.size;
    for (const m of this.cd.values()) n += m.size;
    return n;
  }
}

/** One cached structure, for reports. */
export interface CachedConfig {
  readonly kind: 'STE' | 'CD';
  readonly sid: number;
  /** SubstreamID of a CD (-1 for an STE). */
  readonly ssid: number;
  readonly ste: StreamConfig | null;
  readonly cd: ContextDescriptor | null;
}

function tableDiffs(prefix: string, a: TableConfig | undefined, b: TableConfig | undefined, out: string[]): void {
  if (a === undefined || b === undefined) {
    if (a !== b) out.push(`${prefix}TTB`);
    return;
  }
  if (a.root !== b.root) out.push(`${prefix}TTB`);
  if (a.granuleLog2 !== b.granuleLog2) out.push(`${prefix}TG`);
  if (a.ias !== b.ias) out.push(`${prefix}T0SZ`);
}

/**
 * The architectural fields in which a cached STE differs from the one in memory (empty when they agree).
 * The CD table an STE points at is the stream's own (see the module note), so S1ContextPtr is not compared.
 */
export function steDiffs(cached: StreamConfig | null, live: StreamConfig | null): string[] {
  if (cached === null || live === null) return cached === live ? [] : ['V'];
  const out: string[] = [];
  if (cached.mode !== live.mode) out.push('Config');
  if (cached.ats !== live.ats) out.push('EATS');
  if (cached.vmid !== live.vmid) out.push('S2VMID');
  if ((cached.regime ?? 'nh') !== (live.regime ?? 'nh')) out.push('STRW');
  tableDiffs('S2', cached.s2, live.s2, out);
  return out;
}

/** The architectural fields in which a cached CD differs from the one in memory (empty when they agree). */
export function cdDiffs(cached: ContextDescriptor | null, live: ContextDescriptor | null): string[] {
  if (cached === null || live === null) return cached === live ? [] : ['V'];
  const out: string[] = [];
  if (cached.asid !== live.asid) out.push('ASID');
  const t: string[] = [];
  tableDiffs('', cached.table, live.table, t);
  for (const f of t) out.push(f === 'TTB' ? 'TTB0' : f === 'TG' ? 'TG0' : 'T0SZ');
  return out;
}

/** A short text of an STE's fields, for reports. */
export function steText(st: StreamConfig | null): string {
  if (st === null) return 'V=0 (invalid: abort)';
  const s2 = st.s2 !== undefined ? ` S2TTB=0x${st.s2.root.toString(16)}` : '';
  return `Config=${st.mode} EATS=${st.ats ? 1 : 0} S2VMID=${st.vmid} STRW=${st.regime ?? 'nh'}${s2}`;
}

/** A short text of a CD's fields, for reports. */
export function cdText(cd: ContextDescriptor | null): string {
  if (cd === null) return 'V=0 (invalid)';
  return `ASID=${cd.asid} TTB0=0x${cd.table.root.toString(16)} TG0=${2 ** cd.table.granuleLog2} T0SZ=${64 - cd.table.ias}`;
}
