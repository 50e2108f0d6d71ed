/**
 * From the page's inputs to the JSON requests `smmuv3-tlbi plan` reads (one per policy), so that the core
 * parses them exactly as it parses the CLI's input and any error carries the CLI's message; and back from an
 * error's field name to the input that shows it.
 *
 * The two policies are asked about the same change: a Linux request (iova, size, granule, leaf) and a tlbi
 * description (start, last, leaf levels, table levels). The user edits one; the other is derived:
 * - Linux → tlbi: a leaf request of `granule`-sized leaves at level L is leafLevels [L]; a non-leaf request
 *   (a freed table) is leafLevels [L] and tableLevels [L − 1] (the table that pointed at those leaves).
 * - tlbi → Linux: leaf when no table level changed; granule = entry size of the deepest changed leaf level
 *   (or of the level below the deepest table level when no leaf changed).
 */
import { InputError, parseUint } from '../../src/parse.js';
import { parsePlanRequest } from '../../src/tlbi/validate.js';
import type { InvRow, PageState } from './state.js';
import { levelShift } from '../../src/units.js';
import { log2Of } from '../../src/units.js';

/** Form inputs an error can be shown at. */
export type FieldKey =
  'start' | 'size' | 'last' | 'pgsize' | 'granule' | 'leaf' | 'leafLevels' | 'tableLevels' | 'invs';

export interface FieldError {
  /** The input, or an invs cell `invs.<row>.<column>`, or '' for the banner. */
  readonly at: FieldKey | `invs.${number}.${'smmu' | 'type' | 'id' | 'extra'}` | '';
  readonly message: string;
}

export interface Requests {
  readonly linux: Record<string, unknown>;
  /** Null when the tlbi description cannot express the request (size 0 = everything). */
  readonly tlbi: Record<string, unknown> | null;
  /** How each policy's request reads (the derived one too). */
  readonly linuxText: string;
  readonly tlbiText: string;
}

/** The architecture level (1-3) whose entries are `granule` bytes in a table of `pgsize` pages, or -1. */
export function levelOfGranule(pgsize: number, granule: number): number {
  for (let l = 3; l >= 0; l--) if (2 ** levelShift(log2Of(pgsize), l) === granule) return l;
  return -1;
}

/** The Linux request's (leaf, granule) for a tlbi description. */
export function linuxFromLevels(
  pgsize: number,
  leafLevels: readonly number[],
  tableLevels: readonly number[],
): { leaf: boolean; granule: number } {
  const g = log2Of(pgsize);
  const leaf = tableLevels.length === 0;
  const level =
    leafLevels.length > 0
      ? Math.max(...leafLevels)
      : tableLevels.length > 0
        ? Math.min(3, Math.max(...tableLevels) + 1)
        : 3;
  return { leaf, granule: 2 ** levelShift(g, level) };
}

/** The tlbi description's levels for a Linux request. */
export function levelsFromLinux(
  pgsize: number,
  granule: number,
  leaf: boolean,
): { leafLevels: number[]; tableLevels: number[] } {
  const l = levelOfGranule(pgsize, granule);
  if (l < 0) return { leafLevels: [3], tableLevels: leaf ? [] : [2] };
  return { leafLevels: [l], tableLevels: leaf || l === 0 ? [] : [l - 1] };
}

function invJson(r: InvRow, pgsize: number): Record<string, unknown> {
  const o: Record<string, unknown> = { smmu: r.smmu.trim(), type: r.type, id: r.id.trim() };
  if (r.type === 'S1_ASID_NESTED') o.vmid = r.extra.trim() || '0';
  if (r.type === 'ATS') o.ssid = r.extra.trim() || '0';
  if (r.type === 'S1_ASID' || r.type === 'S1_ASID_NESTED' || r.type === 'S2_VMID') o.pgsize = pgsize;
  return o;
}

/** The SMMUs the targets name (those whose id parses; a bad id is reported by the targets' parser). */
function smmusJson(st: PageState): Record<string, unknown>[] {
  const ids = new Set<number>();
  for (const r of st.invs) {
    try {
      ids.add(parseUint(r.smmu, 'smmu'));
    } catch {
      // reported by the request parser at invs[k].smmu
    }
  }
  if (ids.size === 0) ids.add(0);
  return [...ids]
    .sort((a, b) => a - b)
    .map((id) => ({ id, ril: st.ril, e2h: st.e2h, forceSync: st.forceSync, ...(st.ds ? { ds: true } : {}) }));
}

const hex = (x: number): string => '0x' + x.toString(16);

/**
 * Build both requests. Raw texts go to the core untouched where the request has them, so that parse errors
 * are the core's; derived numbers (a size from a last address, or the reverse) are parsed here with the
 * same parser and the field names of the request they end up in.
 */
export function buildRequests(st: PageState): Requests {
  const base = { smmus: smmusJson(st), invs: st.invs.map((r) => invJson(r, st.pgsize)) };
  let leaf = st.leaf;
  let granule = st.granule;
  let leafLevels = st.leafLevels;
  let tableLevels = st.tableLevels;
  if (st.desc === 'linux') ({ leafLevels, tableLevels } = levelsFromLinux(st.pgsize, granule, leaf));
  else ({ leaf, granule } = linuxFromLevels(st.pgsize, leafLevels, tableLevels));

  let size: string;
  let last: string;
  if (st.by === 'size') {
    size = st.size.trim();
    const a = parseUint(st.start, 'iova');
    const n = parseUint(size, 'size');
    last = n === 0 ? '' : hex(a + n - 1);
  } else {
    last = st.last.trim();
    const a = parseUint(st.start, 'tlbi.start');
    const l = parseUint(last, 'tlbi.last');
    if (l < a) {
      // Let the core say it, in its words.
      parsePlanRequest({
        ...base,
        policy: 'tlbi',
        tlbi: { start: st.start.trim(), last, leafLevels, tableLevels, granule: st.pgsize },
      });
      throw new InputError('tlbi.last', 'is below start');
    }
    size = hex(l - a + 1);
  }
  const linux = { ...base, policy: 'linux', iova: st.start.trim(), size, granule, leaf };
  const tlbi =
    last === ''
      ? null
      : {
          ...base,
          policy: 'tlbi',
          tlbi: { start: st.start.trim(), last, leafLevels, tableLevels, granule: st.pgsize },
        };
  const kib = (b: number): string =>
    b >= 2 ** 30 ? `${b / 2 ** 30}G` : b >= 2 ** 20 ? `${b / 2 ** 20}M` : `${b / 1024}K`;
  return {
    linux,
    tlbi,
    linuxText: `iova ${st.start.trim()}, size ${size}, granule ${kib(granule)}, ${leaf ? 'leaf' : 'non-leaf'}`,
    tlbiText:
      last === ''
        ? 'size 0 (everything) has no tlbi description'
        : `[${st.start.trim()}, ${last}], leafLevels [${leafLevels.join(', ')}], tableLevels [${tableLevels.join(', ')}]`,
  };
}

/** Where to show an error of the core (its field name) on the page. */
export function fieldOf(e: InputError, st: PageState): FieldError {
  const f = e.field;
  const message = e.message;
  const inv = /^invs\[(\d+)\](?:\.(\w+))?/.exec(f);
  if (inv) {
    const col = inv[2];
    const column =
      col === 'smmu' || col === 'type' || col === 'id' ? col : col === 'ssid' || col === 'vmid' ? 'extra' : undefined;
    return { at: column ? `invs.${Number(inv[1])}.${column}` : 'invs', message };
  }
  if (f === 'invs' || f.startsWith('smmus')) return { at: 'invs', message };
  if (f === 'iova' || f === 'tlbi.start') return { at: 'start', message };
  if (f === 'size') return { at: st.by === 'size' ? 'size' : 'last', message };
  if (f === 'tlbi.last') return { at: st.by === 'last' ? 'last' : 'size', message };
  if (f === 'granule') return { at: st.desc === 'linux' ? 'granule' : 'leafLevels', message };
  if (f === 'leaf') return { at: 'leaf', message };
  if (f === 'tlbi.granule') return { at: 'pgsize', message };
  if (f.startsWith('tlbi.leafLevels')) return { at: st.desc === 'tlbi' ? 'leafLevels' : 'granule', message };
  if (f.startsWith('tlbi.tableLevels')) return { at: st.desc === 'tlbi' ? 'tableLevels' : 'leaf', message };
  return { at: '', message };
}

/** A copy of the state with the input an error was shown at set to a value that parses, or null if none. */
function repaired(st: PageState, at: FieldError['at']): PageState | null {
  const s: PageState = { ...st, invs: st.invs.map((r) => ({ ...r })) };
  const inv = /^invs\.(\d+)\.(smmu|type|id|extra)$/.exec(at);
  if (inv) {
    const row = s.invs[Number(inv[1])];
    if (!row) return null;
    const col = inv[2] as 'smmu' | 'type' | 'id' | 'extra';
    const good = { smmu: '0', type: 'S1_ASID', id: '1', extra: '0' } as const;
    if (row[col] === good[col]) return null;
    if (col === 'type') row.type = good.type;
    else row[col] = good[col];
    return s;
  }
  // Whole leaves of the leaf size, from address 0: the range inputs are valid whatever else is wrong.
  const leaf = s.desc === 'linux' ? s.granule : s.pgsize;
  switch (at) {
    case 'start':
      s.start = '0x0';
      if (s.by === 'last') s.last = hex(leaf - 1);
      return s;
    case 'size':
      s.size = hex(leaf);
      return s;
    case 'last':
      s.start = '0x0';
      s.last = hex(leaf - 1);
      return s;
    case 'granule':
      if (s.granule === s.pgsize) return null;
      s.granule = s.pgsize;
      return s;
    case 'leafLevels':
      s.leafLevels = [3];
      return s;
    case 'tableLevels':
      s.tableLevels = [];
      return s;
    default:
      return null;
  }
}

/**
 * Every input that is wrong, not only the first: the requests are built and `check`ed (the core's parser, as
 * the CLI runs it); after each error its input is set to a value that parses and the check runs again, until
 * the request passes or an error cannot be set aside. Each input appears once, with the first message for it.
 */
export function allFieldErrors(st: PageState, check: (r: Requests) => void, maxErrors = 12): FieldError[] {
  const found: FieldError[] = [];
  let s: PageState | null = st;
  while (s !== null && found.length < maxErrors) {
    try {
      check(buildRequests(s));
      break;
    } catch (e) {
      if (!(e instanceof InputError)) throw e;
      const fe = fieldOf(e, s);
      if (found.some((f) => f.at === fe.at)) break;
      found.push(fe);
      s = fe.at === '' ? null : repaired(s, fe.at);
    }
  }
  return found;
}
