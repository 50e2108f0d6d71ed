/**
 * Read-only snapshots of the SMMU model's caches: the entries of the TLB, the walk cache and the ATCs as
 * plain rows (numbers and short texts, JSON-ready), optionally only those overlapping an input range, sorted
 * by input address and capped in count. Taking a snapshot changes nothing in the model (no lookups that
 * count, no random draws, no reordering): it only reads the caches' interval indexes.
 *
 * Every row carries a `key` naming its slot — the cache, the tag and the span — which is unique within one
 * cache of one SMMU (the model replaces an entry of the same tag and span), so that two snapshots of the same
 * model can be compared row by row, and so that a stale-translation report of the checker can be tied to the
 * row it is about (`staleReportKey`).
 */
import { hexAddr } from '../bits.js';
import {
  ATC_PAGE_LOG2,
  GLOBAL_ASID,
  KIND_NAMES,
  Kind,
  REGIME_NAMES,
  type AtcEntry,
  type TaggedCache,
  type TaggedEntry,
  type TlbEntry,
  type WalkEntry,
} from './caches.js';
import type { StaleReport } from './checker.js';
import type { SmmuModel } from './model.js';
import { canRead, canWrite, permText } from './walker.js';

export type KindName = (typeof KIND_NAMES)[number];
export type RegimeName = (typeof REGIME_NAMES)[number];

/** A leaf translation of the TLB. */
export interface TlbRow {
  readonly key: string;
  /** stage1, stage2, or nested (a combined stage-1 + stage-2 entry). */
  readonly kind: KindName;
  readonly regime: RegimeName;
  readonly vmid: number;
  /** The ASID, 'global' for a global (nG = 0) stage-1 entry; 0 for stage 2. */
  readonly asid: number | 'global';
  /** Level of the leaf that TLBIs match against (stage 1 for nested entries). */
  readonly level: number;
  /** Translation granule in bytes. */
  readonly granule: number;
  /** Input span [input, input + size). */
  readonly input: number;
  readonly size: number;
  /** Output address of `input`. */
  readonly output: number;
  /** As the device sees it: r/w/x or '-' ("rw-"). */
  readonly perm: string;
  /** Nested entries: the IPA of `input` and the level of the stage-2 leaf; null otherwise. */
  readonly ipa: number | null;
  readonly s2Level: number | null;
}

/** A cached table descriptor of the walk cache. */
export interface WalkRow {
  readonly key: string;
  /** stage1 / stage2 tables, or nested (stage-1 tables of a nested stream: `next` is an IPA). */
  readonly kind: KindName;
  readonly regime: RegimeName;
  readonly vmid: number;
  readonly asid: number;
  /** Level of the table descriptor (the table it points to is at level + 1). */
  readonly level: number;
  readonly granule: number;
  /** Input span the descriptor covers. */
  readonly input: number;
  readonly size: number;
  /** Address of the next-level table. */
  readonly next: number;
}

/** A 4 KiB translation in an ATS endpoint's ATC. */
export interface AtcRow {
  readonly key: string;
  readonly sid: number;
  readonly ssid: number;
  readonly input: number;
  readonly size: number;
  readonly output: number;
  /** "rw", "r-", "-w" or "--". */
  readonly perm: string;
  /** Nested streams: the IPA the page went through; null otherwise. */
  readonly ipa: number | null;
}

export interface CacheListing<R> {
  /** Entries in the cache. */
  readonly total: number;
  /** Entries that overlap the range (all of them without a range). */
  readonly matching: number;
  /** The matching entries by input address, at most `limit` (plus pinned ones). */
  readonly entries: readonly R[];
}

export interface CacheSnapshot {
  readonly smmu: number;
  /** The input range the listing is limited to, or null for everything. */
  readonly range: { readonly first: number; readonly last: number } | null;
  readonly tlb: CacheListing<TlbRow>;
  readonly walk: CacheListing<WalkRow>;
  readonly atc: CacheListing<AtcRow>;
}

export interface SnapshotOptions {
  /** Limit to entries whose input span overlaps [first, last] (both or neither). */
  readonly first?: number;
  readonly last?: number;
  /** Also entries whose IPA overlaps the range (nested TLB entries, ATC entries of nested streams). */
  readonly viaIpa?: boolean;
  /** Rows listed per cache at most (default: all). */
  readonly limit?: number;
  /** Keys listed even past the limit (e.g. the entries a stale report names). */
  readonly pinned?: ReadonlySet<string>;
}

// ------------------------------------------------------------------ keys

function tlbKey(
  kind: string,
  regime: string,
  vmid: number | string,
  asid: number | string,
  input: string,
  size: string,
) {
  return `TLB ${kind} ${regime} vmid=${vmid} asid=${asid} ${input}+${size}`;
}

function walkKey(
  kind: string,
  regime: string,
  vmid: number | string,
  asid: number | string,
  input: string,
  size: string,
) {
  return `walk ${kind} ${regime} vmid=${vmid} asid=${asid} ${input}+${size}`;
}

function atcKey(sid: number | string, ssid: number | string, input: string): string {
  return `ATC sid=${sid} ssid=${ssid} ${input}`;
}

/**
 * The key of the row a stale-translation report is about (the report describes its entry by tag and span,
 * which identify one slot of one cache of the report's SMMU).
 */
export function staleReportKey(r: StaleReport): string {
  const e = r.entry;
  const s = (k: string): string => String(e[k]);
  if (r.cache === 'TLB') return tlbKey(s('kind'), s('regime'), s('vmid'), s('asid'), s('input'), s('size'));
  if (r.cache === 'walk') return walkKey(s('kind'), s('regime'), s('vmid'), s('asid'), s('input'), s('span'));
  if (r.cache === 'STE' || r.cache === 'CD') return `${r.cache} sid=${s('sid')} ssid=${s('ssid')}`;
  return atcKey(s('sid'), s('ssid'), s('page'));
}

// ------------------------------------------------------------------ rows

function tlbPerm(e: TlbEntry): string {
  const p = permText(e.kind === Kind.S2 ? 2 : 1, e.attrLo, e.attrHi);
  if (e.kind !== Kind.NESTED) return p;
  const r = p[0] === 'r' && canRead(2, e.s2AttrLo) ? 'r' : '-';
  const w = p[1] === 'w' && canWrite(2, e.s2AttrLo) ? 'w' : '-';
  return r + w + p[2]!;
}

export function tlbRow(e: TlbEntry): TlbRow {
  const kind = KIND_NAMES[e.kind];
  const regime = REGIME_NAMES[e.regime];
  const asid = e.asid === GLOBAL_ASID ? 'global' : e.asid;
  const size = 2 ** e.sizeLog2;
  const nested = e.kind === Kind.NESTED;
  return {
    key: tlbKey(kind, regime, e.vmid, asid, hexAddr(e.inStart), hexAddr(size)),
    kind,
    regime,
    vmid: e.vmid,
    asid,
    level: e.level,
    granule: 2 ** e.granuleLog2,
    input: e.inStart,
    size,
    output: e.outStart,
    perm: tlbPerm(e),
    ipa: nested ? e.ipa : null,
    s2Level: nested ? e.s2Level : null,
  };
}

export function walkRow(e: WalkEntry): WalkRow {
  const kind = KIND_NAMES[e.kind];
  const regime = REGIME_NAMES[e.regime];
  const size = 2 ** e.sizeLog2;
  return {
    key: walkKey(kind, regime, e.vmid, e.asid, hexAddr(e.inStart), hexAddr(size)),
    kind,
    regime,
    vmid: e.vmid,
    asid: e.asid,
    level: e.level,
    granule: 2 ** e.granuleLog2,
    input: e.inStart,
    size,
    next: e.next,
  };
}

export function atcRow(e: AtcEntry): AtcRow {
  return {
    key: atcKey(e.sid, e.ssid, hexAddr(e.page)),
    sid: e.sid,
    ssid: e.ssid,
    input: e.page,
    size: 2 ** ATC_PAGE_LOG2,
    output: e.outPage,
    perm: ((e.perm & 1) !== 0 ? 'r' : '-') + ((e.perm & 2) !== 0 ? 'w' : '-'),
    ipa: e.ipa >= 0 ? e.ipa : null,
  };
}

// ------------------------------------------------------------------ listing

/** An inclusive input-address range. */
export interface InputRange {
  readonly first: number;
  readonly last: number;
}

/** Entries of a TLB or walk cache overlapping `range` (by input, or by IPA for nested TLB entries). */
function taggedEntries<E extends TaggedEntry>(cache: TaggedCache<E>, range: InputRange | null, viaIpa: boolean): E[] {
  if (range === null) return cache.all.slice();
  const out: E[] = [];
  for (const g of cache.groups.values()) {
    for (const idx of g.byAsid.values()) idx.collect(range.first, range.last, out);
    if (viaIpa && g.byIpa !== null) g.byIpa.collect(range.first, range.last, out);
  }
  return viaIpa ? [...new Set(out)] : out;
}

function atcEntries(model: SmmuModel, range: InputRange | null, viaIpa: boolean): AtcEntry[] {
  const atc = model.atc;
  if (range === null) return atc.all.slice();
  const out: AtcEntry[] = [];
  for (const sid of atc.sids()) {
    atc.overlapping(sid, undefined, range.first, range.last, out);
    if (viaIpa) atc.overlappingIpa(sid, range.first, range.last, out);
  }
  return viaIpa ? [...new Set(out)] : out;
}

/** Sort rows by input address (larger spans first), then by key; keep `limit` of them plus pinned ones. */
function listing<E, R extends { key: string; input: number; size: number }>(
  total: number,
  entries: readonly E[],
  toRow: (e: E) => R,
  limit: number,
  pinned: ReadonlySet<string> | undefined,
): CacheListing<R> {
  const rows = entries.map(toRow);
  rows.sort((a, b) => a.input - b.input || b.size - a.size || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  let kept = rows;
  if (rows.length > limit) {
    kept = rows.filter((r, i) => i < limit || (pinned?.has(r.key) ?? false));
  }
  return { total, matching: rows.length, entries: kept };
}

/**
 * The entries a snapshot lists, held by reference (cache entries are never modified once made, so this is a
 * faithful record of the moment it was taken): cheap to take, turned into rows by `listEntries` only when
 * wanted.
 */
export interface CacheEntries {
  readonly smmu: number;
  readonly range: InputRange | null;
  readonly totals: { readonly tlb: number; readonly walk: number; readonly atc: number };
  readonly tlb: readonly TlbEntry[];
  readonly walk: readonly WalkEntry[];
  readonly atc: readonly AtcEntry[];
}

/** Collect the entries a snapshot with `opts` (range and viaIpa; the cap applies in `listEntries`) lists. */
export function collectEntries(model: SmmuModel, opts: SnapshotOptions = {}): CacheEntries {
  let range: InputRange | null = null;
  if (opts.first !== undefined || opts.last !== undefined) {
    if (opts.first === undefined || opts.last === undefined)
      throw new RangeError('snapshot range: give both first and last, or neither');
    if (!(opts.first >= 0 && opts.last >= opts.first))
      throw new RangeError(`snapshot range: [${opts.first}, ${opts.last}] is not a range of addresses`);
    range = { first: opts.first, last: opts.last };
  }
  const viaIpa = opts.viaIpa ?? false;
  return {
    smmu: model.id,
    range,
    totals: { tlb: model.tlb.size, walk: model.walkCache.size, atc: model.atc.size },
    tlb: taggedEntries(model.tlb, range, viaIpa),
    walk: taggedEntries(model.walkCache, range, false),
    atc: atcEntries(model, range, viaIpa),
  };
}

/** Rows of collected entries, sorted and capped (`limit`, `pinned` of SnapshotOptions). */
export function listEntries(c: CacheEntries, opts: Pick<SnapshotOptions, 'limit' | 'pinned'> = {}): CacheSnapshot {
  const limit = opts.limit ?? Infinity;
  if (!(limit >= 0)) throw new RangeError(`snapshot limit: ${limit} is not a count`);
  return {
    smmu: c.smmu,
    range: c.range,
    tlb: listing(c.totals.tlb, c.tlb, tlbRow, limit, opts.pinned),
    walk: listing(c.totals.walk, c.walk, walkRow, limit, opts.pinned),
    atc: listing(c.totals.atc, c.atc, atcRow, limit, opts.pinned),
  };
}

/** List the model's cache entries (see SnapshotOptions). Reads only: the model is left exactly as it was. */
export function snapshotCaches(model: SmmuModel, opts: SnapshotOptions = {}): CacheSnapshot {
  if (opts.limit !== undefined && !(opts.limit >= 0))
    throw new RangeError(`snapshot limit: ${opts.limit} is not a count`);
  return listEntries(collectEntries(model, opts), opts);
}
