/**
 * Input validation for the planners, used at the edges (CLI, web page, JSON requests): every error is an
 * InputError naming the field. The hot path (plan.ts, range.ts) trusts what passes here.
 */
import { InputError, parseBool, parseUint } from '../parse.js';
import { INV_TYPES, invsOf, isTlbType, type Inv, type InvKey, type InvType, type Invs } from './invs.js';
import type { Policy, RangeRequest, SmmuOptions, SmmuTable, TlbiDescription } from './plan.js';
import { leafLevelAllowed, tableLevelAllowed } from './range.js';
import { levelShift, log2Of } from '../units.js';

/** Addresses handled: 52-bit VA / IPA. */
export const ADDRESS_BITS = 52;
const ADDRESS_LIMIT = 2 ** ADDRESS_BITS;
export const PAGE_SIZES: readonly number[] = [4096, 16384, 65536];
const MAX_SMMU_ID = 0xffff;

const ID_LIMITS: Readonly<Record<InvType, { bits: number; what: string }>> = {
  S1_ASID: { bits: 16, what: 'ASID' },
  S1_ASID_NESTED: { bits: 16, what: 'ASID' },
  S2_VMID: { bits: 16, what: 'VMID' },
  S2_VMID_S1_CLEAR: { bits: 16, what: 'VMID' },
  ATS: { bits: 32, what: 'StreamID' },
  ATS_FULL: { bits: 32, what: 'StreamID' },
};

/** One SMMU's options with its id, as requests list them. */
export interface SmmuSpec extends SmmuOptions {
  readonly id: number;
}

function obj(v: unknown, field: string): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new InputError(field, 'expected an object');
  return v as Record<string, unknown>;
}

function onlyKeys(o: Record<string, unknown>, field: string, keys: readonly string[]): void {
  for (const k of Object.keys(o))
    if (!keys.includes(k)) throw new InputError(`${field}.${k}`, `unknown key (expected one of ${keys.join(', ')})`);
}

function boundedUint(v: unknown, field: string, bits: number, what: string): number {
  const x = parseUint(v, field);
  if (x >= 2 ** bits) throw new InputError(field, `${what} ${String(v)} does not fit in ${bits} bits`);
  return x;
}

/** Parse `[{id, ril, e2h, forceSync, ds}, …]` into specs and a table indexed by id (`ds` kept only when true). */
export function parseSmmus(v: unknown, field = 'smmus'): { specs: SmmuSpec[]; table: SmmuTable } {
  if (!Array.isArray(v) || v.length === 0) throw new InputError(field, 'expected a non-empty array of SMMUs');
  const specs: SmmuSpec[] = [];
  const table: (SmmuOptions | undefined)[] = [];
  v.forEach((raw, k) => {
    const f = `${field}[${k}]`;
    const o = obj(raw, f);
    onlyKeys(o, f, ['id', 'ril', 'e2h', 'forceSync', 'ds']);
    const id = o.id === undefined ? k : parseUint(o.id, `${f}.id`);
    if (id > MAX_SMMU_ID) throw new InputError(`${f}.id`, `SMMU id ${id} is out of range (at most ${MAX_SMMU_ID})`);
    if (table[id] !== undefined) throw new InputError(`${f}.id`, `SMMU ${id} is listed twice`);
    const spec: SmmuSpec = {
      id,
      ril: o.ril === undefined ? true : parseBool(o.ril, `${f}.ril`),
      e2h: o.e2h === undefined ? false : parseBool(o.e2h, `${f}.e2h`),
      forceSync: o.forceSync === undefined ? false : parseBool(o.forceSync, `${f}.forceSync`),
      // Only when true, so that requests and documents without DS read as before.
      ...(o.ds !== undefined && parseBool(o.ds, `${f}.ds`) ? { ds: true } : {}),
    };
    specs.push(spec);
    table[id] = { ril: spec.ril, e2h: spec.e2h, forceSync: spec.forceSync, ds: spec.ds === true };
  });
  return { specs, table };
}

/** Check one target (numbers already parsed); throws naming `field`. */
export function checkInvKey(k: InvKey, smmus: SmmuTable, field: string): void {
  if (!(INV_TYPES as readonly string[]).includes(k.type))
    throw new InputError(`${field}.type`, `unknown type ${JSON.stringify(k.type)} (expected ${INV_TYPES.join(', ')})`);
  if (!Number.isInteger(k.smmu) || k.smmu < 0 || smmus[k.smmu] === undefined)
    throw new InputError(`${field}.smmu`, `SMMU ${String(k.smmu)} is not listed in smmus`);
  const lim = ID_LIMITS[k.type];
  if (!Number.isInteger(k.id) || k.id < 0 || k.id >= 2 ** lim.bits)
    throw new InputError(`${field}.id`, `${lim.what} ${String(k.id)} does not fit in ${lim.bits} bits`);
  const ssid = k.ssid ?? 0;
  if (!Number.isInteger(ssid) || ssid < 0 || ssid >= 2 ** 20)
    throw new InputError(`${field}.ssid`, `SubstreamID ${String(ssid)} does not fit in 20 bits`);
  if (ssid !== 0 && k.type !== 'ATS') throw new InputError(`${field}.ssid`, `only ATS targets have a SubstreamID`);
  const vmid = k.vmid ?? 0;
  if (!Number.isInteger(vmid) || vmid < 0 || vmid >= 2 ** 16)
    throw new InputError(`${field}.vmid`, `VMID ${String(vmid)} does not fit in 16 bits`);
  if (vmid !== 0 && k.type !== 'S1_ASID_NESTED')
    throw new InputError(
      `${field}.vmid`,
      k.type === 'S1_ASID'
        ? 'a plain S1_ASID target is tagged with VMID 0 (use type S1_ASID_NESTED for a stage 1 under a nesting parent)'
        : `only S1_ASID_NESTED targets have a VMID (a ${k.type} target has none besides its id)`,
    );
  const pg = k.pgsize ?? 4096;
  if (!PAGE_SIZES.includes(pg))
    throw new InputError(`${field}.pgsize`, `pgsize ${String(pg)} is not 4096, 16384 or 65536`);
}

/** Parse the targets of a request: `[{smmu, type, id, ssid?, vmid?, pgsize?, users?}, …]`. */
export function parseInvKeys(v: unknown, smmus: SmmuTable, field = 'invs'): InvKey[] {
  if (!Array.isArray(v)) throw new InputError(field, 'expected an array of invalidation targets');
  return v.map((raw, k) => {
    const f = `${field}[${k}]`;
    const o = obj(raw, f);
    onlyKeys(o, f, ['smmu', 'type', 'id', 'ssid', 'vmid', 'pgsize', 'users']);
    if (typeof o.type !== 'string' || !(INV_TYPES as readonly string[]).includes(o.type))
      throw new InputError(`${f}.type`, `unknown type ${JSON.stringify(o.type)} (expected ${INV_TYPES.join(', ')})`);
    const type = o.type as InvType;
    const lim = ID_LIMITS[type];
    const key: InvKey = {
      smmu: o.smmu === undefined ? 0 : parseUint(o.smmu, `${f}.smmu`),
      type,
      id: boundedUint(o.id ?? 0, `${f}.id`, lim.bits, lim.what),
      ssid: o.ssid === undefined ? 0 : boundedUint(o.ssid, `${f}.ssid`, 20, 'SubstreamID'),
      vmid: o.vmid === undefined ? 0 : boundedUint(o.vmid, `${f}.vmid`, 16, 'VMID'),
      pgsize: o.pgsize === undefined ? 4096 : parseUint(o.pgsize, `${f}.pgsize`),
    };
    checkInvKey(key, smmus, f);
    if (o.users !== undefined && parseUint(o.users, `${f}.users`) === 0)
      throw new InputError(`${f}.users`, 'a target in a request must have users ≥ 1');
    return key;
  });
}

/** Sizes a leaf may have with a given page size: the page and the block sizes of its levels. */
export function leafSizes(pgsize: number): number[] {
  const g = log2Of(pgsize);
  return [3, 2, 1].filter((l) => leafLevelAllowed(g, l)).map((l) => 2 ** levelShift(g, l));
}

/** TLB targets (those whose pgsize matters). */
function tlbTargets(invs: Invs): Inv[] {
  return invs.live().filter((e) => isTlbType(e.type));
}

/** Check a linux-policy request against the targets; throws an InputError naming the field. */
export function checkRangeRequest(req: RangeRequest, invs: Invs, field = ''): void {
  const p = (n: string): string => (field ? `${field}.${n}` : n);
  const { iova, size, granule } = req;
  const all = [...new Set(PAGE_SIZES.flatMap(leafSizes))];
  if (!all.includes(granule))
    throw new InputError(
      p('granule'),
      `${granule} is not a page or block size (${all.sort((a, b) => a - b).join(', ')})`,
    );
  for (const t of tlbTargets(invs))
    if (!leafSizes(t.pgsize).includes(granule))
      throw new InputError(
        p('granule'),
        `${granule} is not a page or block size of a ${t.pgsize}-byte page table (target ${t.type} ${t.id}: ${leafSizes(t.pgsize).join(', ')})`,
      );
  if (iova >= ADDRESS_LIMIT)
    throw new InputError(p('iova'), `beyond 2^${ADDRESS_BITS} (${ADDRESS_BITS}-bit addresses)`);
  if (iova + size > ADDRESS_LIMIT)
    throw new InputError(p('size'), `the range ends beyond 2^${ADDRESS_BITS} (${ADDRESS_BITS}-bit addresses)`);
  if (size === 0) return;
  for (const t of tlbTargets(invs)) {
    if (iova % t.pgsize !== 0)
      throw new InputError(p('iova'), `0x${iova.toString(16)} is not aligned to pgsize ${t.pgsize}`);
    if (size % t.pgsize !== 0)
      throw new InputError(p('size'), `0x${size.toString(16)} is not a multiple of pgsize ${t.pgsize}`);
  }
  if (iova % granule !== 0)
    throw new InputError(p('iova'), `0x${iova.toString(16)} is not aligned to the granule ${granule}`);
  if (size % granule !== 0)
    throw new InputError(p('size'), `0x${size.toString(16)} is not a multiple of the granule ${granule}`);
}

/** Check a tlbi description against the targets; throws an InputError naming the field. */
export function checkTlbi(t: TlbiDescription, invs: Invs, field = 'tlbi'): void {
  const p = (n: string): string => `${field}.${n}`;
  if (!PAGE_SIZES.includes(t.granule)) throw new InputError(p('granule'), `${t.granule} is not 4096, 16384 or 65536`);
  if (t.last < t.start)
    throw new InputError(p('last'), `last (0x${t.last.toString(16)}) is below start (0x${t.start.toString(16)})`);
  if (t.last >= ADDRESS_LIMIT)
    throw new InputError(p('last'), `beyond 2^${ADDRESS_BITS} (${ADDRESS_BITS}-bit addresses)`);
  if (t.start % t.granule !== 0)
    throw new InputError(p('start'), `0x${t.start.toString(16)} is not aligned to the granule ${t.granule}`);
  if ((t.last + 1) % t.granule !== 0)
    throw new InputError(p('last'), `0x${t.last.toString(16)} is not the last byte of a ${t.granule}-byte page`);
  const g = log2Of(t.granule);
  t.leafLevels.forEach((l, k) => {
    if (!Number.isInteger(l) || !leafLevelAllowed(g, l))
      throw new InputError(
        `${p('leafLevels')}[${k}]`,
        `level ${String(l)} cannot hold a leaf with a ${t.granule}-byte granule`,
      );
  });
  t.tableLevels.forEach((l, k) => {
    if (!Number.isInteger(l) || !tableLevelAllowed(g, l))
      throw new InputError(
        `${p('tableLevels')}[${k}]`,
        `level ${String(l)} cannot hold a table descriptor with a ${t.granule}-byte granule`,
      );
  });
  if (t.leafLevels.length === 0 && t.tableLevels.length === 0)
    throw new InputError(p('leafLevels'), 'nothing changed: leafLevels and tableLevels are both empty');
  for (const inv of tlbTargets(invs))
    if (inv.pgsize !== t.granule)
      throw new InputError(
        p('granule'),
        `${t.granule} differs from the pgsize ${String(inv.pgsize)} of target ${inv.type} ${inv.id}`,
      );
}

function levels(v: unknown, field: string): number[] {
  if (!Array.isArray(v)) throw new InputError(field, 'expected an array of levels (0-3)');
  return v.map((x, k) => {
    const l = parseUint(x, `${field}[${k}]`);
    if (l > 3) throw new InputError(`${field}[${k}]`, `level ${l} is not 0-3`);
    return l;
  });
}

/** Parse a tlbi description `{start, last, leafLevels, tableLevels, granule}` (numbers checked by checkTlbi). */
export function parseTlbi(v: unknown, field = 'tlbi'): TlbiDescription {
  const o = obj(v, field);
  onlyKeys(o, field, ['start', 'last', 'leafLevels', 'tableLevels', 'granule']);
  if (o.start === undefined) throw new InputError(`${field}.start`, 'missing');
  if (o.last === undefined) throw new InputError(`${field}.last`, 'missing');
  return {
    start: parseUint(o.start, `${field}.start`),
    last: parseUint(o.last, `${field}.last`),
    leafLevels: levels(o.leafLevels ?? [], `${field}.leafLevels`),
    tableLevels: levels(o.tableLevels ?? [], `${field}.tableLevels`),
    granule: o.granule === undefined ? 4096 : parseUint(o.granule, `${field}.granule`),
  };
}

/** A whole, checked plan request (what `smmuv3-tlbi plan` reads). */
export interface PlanRequest {
  readonly smmus: SmmuSpec[];
  readonly table: SmmuTable;
  readonly invs: Invs;
  readonly policy: Policy;
  /** Policy linux. */
  readonly range?: RangeRequest;
  /** Policy tlbi. */
  readonly tlbi?: TlbiDescription;
}

/**
 * Parse and check a request:
 * `{"smmus":[…], "invs":[…], "policy":"linux", "iova", "size", "granule", "leaf"}` or
 * `{"smmus":[…], "invs":[…], "policy":"tlbi", "tlbi":{…}}` (policy defaults to tlbi when `tlbi` is given).
 */
export function parsePlanRequest(v: unknown): PlanRequest {
  const o = obj(v, 'request');
  onlyKeys(o, 'request', ['smmus', 'invs', 'policy', 'iova', 'size', 'granule', 'leaf', 'tlbi']);
  const { specs, table } = parseSmmus(o.smmus ?? [{ id: 0 }]);
  const keys = parseInvKeys(o.invs, table);
  if (keys.length === 0) throw new InputError('invs', 'no invalidation targets');
  const invs = invsOf(keys);
  const policy = o.policy ?? (o.tlbi !== undefined ? 'tlbi' : 'linux');
  if (policy !== 'linux' && policy !== 'tlbi')
    throw new InputError('policy', `unknown policy ${JSON.stringify(policy)} (linux or tlbi)`);
  if (policy === 'tlbi') {
    for (const k of ['iova', 'size', 'leaf'])
      if (o[k] !== undefined)
        throw new InputError(
          k,
          'not used by policy tlbi (give "tlbi": {start, last, leafLevels, tableLevels, granule})',
        );
    if (o.tlbi === undefined)
      throw new InputError('tlbi', 'missing (policy tlbi needs {start, last, leafLevels, tableLevels, granule})');
    const tlbi = parseTlbi(o.tlbi);
    checkTlbi(tlbi, invs);
    return { smmus: specs, table, invs, policy, tlbi };
  }
  if (o.tlbi !== undefined) throw new InputError('tlbi', 'not used by policy linux (give iova, size, granule, leaf)');
  if (o.iova === undefined) throw new InputError('iova', 'missing');
  if (o.size === undefined) throw new InputError('size', 'missing');
  const range: RangeRequest = {
    iova: parseUint(o.iova, 'iova'),
    size: parseUint(o.size, 'size'),
    granule: o.granule === undefined ? 4096 : parseUint(o.granule, 'granule'),
    leaf: o.leaf === undefined ? true : parseBool(o.leaf, 'leaf'),
  };
  checkRangeRequest(range, invs);
  return { smmus: specs, table, invs, policy, range };
}
