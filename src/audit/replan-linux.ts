/**
 * Linux's rules reversed: from a run of TLBIs of one target in one batch, the Linux request
 * (`arm_smmu_domain_inv_range`'s iova, size, leaf size and leaf flag) they would have come from — the page
 * size from TG, the leaf size from TTL, the size from the commands' spans, and for a non-leaf run the request
 * before Linux's extra page (eb6c97647be2) as a second candidate — and whether the engine can plan it.
 *
 * The runs themselves are cut here too (`continuesRun`): same TG, TTL and Leaf, contiguous addresses (range
 * commands) or one constant power-of-two stride (TG=0: one command per granule).
 */
import { Opcode } from '../cmdq/index.js';
import { TLBI_NUM, TLBI_SCALE, TLBI_TG, fieldAt, opcodeAt } from '../cmdq/fields.js';
import { tlbiRangeBytes, type PlanOutput, type RangeRequest } from '../tlbi/index.js';
import { granuleLog2OfTg, levelShift } from '../units.js';
import type { Interpreted } from './interpret.js';
import { POW2, isMultiple } from './replan-description.js';
import type { DifferenceId, Target } from './replan-rows.js';

/** Addresses the engine plans (52-bit). */
const ADDRESS_LIMIT = 2 ** 52;

/** Leaf sizes (page and block sizes) per page size, as the engine accepts them. */
const LEAF_SIZES: ReadonlyMap<number, readonly number[]> = new Map(
  [12, 14, 16].map((g) => [2 ** g, [3, 2, 1].map((l) => 2 ** levelShift(g, l)).filter((x) => x <= 2 ** 42)]),
);

/** A request the engine can plan for targets of this page size (what its edge validation would accept). */
export function plannableRequest(req: RangeRequest, pgsize: number): boolean {
  if (req.iova + req.size > ADDRESS_LIMIT) return false;
  if (req.size === 0) return true;
  const sizes = LEAF_SIZES.get(pgsize);
  if (!sizes || !sizes.includes(req.granule)) return false;
  // granule and pgsize are powers of two here (leaf sizes of a page size).
  return (
    isMultiple(req.iova, req.granule) &&
    isMultiple(req.size, req.granule) &&
    isMultiple(req.iova, pgsize) &&
    isMultiple(req.size, pgsize)
  );
}

/** A request recovered from a run, with the page size and RIL of the SMMU it is planned for. */
export interface Candidate {
  req: RangeRequest;
  pgsize: number;
  ril: boolean;
}

/** The primary candidate of the run being planned (one reused object; rows copy its values). */
const PRIMARY: { req: { iova: number; size: number; granule: number; leaf: boolean }; pgsize: number; ril: boolean } = {
  req: { iova: 0, size: 0, granule: 4096, leaf: false },
  pgsize: 4096,
  ril: true,
};

/** The candidate of a whole-tag command: everything (size 0). Never modified. */
export const WHOLE: Candidate = { req: { iova: 0, size: 0, granule: 4096, leaf: false }, pgsize: 4096, ril: true };

/** The Linux request a run of range commands [a, b] would come from (candidates, best first). */
export function runRequests(r: Interpreted, run: readonly number[], pageSize: number): Candidate[] {
  const first = run[0]!;
  const tg = r.tg[first]!;
  const leaf = r.leaf[first] === 1;
  if (tg !== 0) {
    const pgShift = granuleLog2OfTg(tg);
    const pgsize = 2 ** pgShift;
    let size = 0;
    for (const i of run) size += r.span[i]!;
    const ttl = r.ttl[first]!;
    const granule = leaf && ttl !== 0 ? 2 ** levelShift(pgShift, ttl) : pgsize;
    const out = [{ req: { iova: r.addr[first]!, size, granule, leaf }, pgsize, ril: true }];
    const pages = size / pgsize;
    if (!leaf && pages > 1 && (pages - 1) % 32 === 1)
      out.push({ req: { iova: r.addr[first]!, size: size - pgsize, granule, leaf }, pgsize, ril: true });
    return out;
  }
  const stride = run.length > 1 ? r.addr[run[1]!]! - r.addr[first]! : pageSize;
  return [
    { req: { iova: r.addr[first]!, size: stride * run.length, granule: stride, leaf }, pgsize: 4096, ril: false },
  ];
}

/** The first candidate of `runRequests` (the only one for leaf or TG=0 runs), in the reused `PRIMARY`. */
export function primaryRequest(r: Interpreted, run: readonly number[], pageSize: number): Candidate {
  const first = run[0]!;
  const tg = r.tg[first]!;
  const leaf = r.leaf[first] === 1;
  const c = PRIMARY;
  const req = c.req;
  req.iova = r.addr[first]!;
  req.leaf = leaf;
  if (tg !== 0) {
    const pgShift = granuleLog2OfTg(tg);
    const pgsize = POW2[pgShift]!;
    let size = 0;
    for (let k = 0; k < run.length; k++) size += r.span[run[k]!]!;
    const ttl = r.ttl[first]!;
    req.size = size;
    req.granule = leaf && ttl !== 0 ? POW2[levelShift(pgShift, ttl)]! : pgsize;
    c.pgsize = pgsize;
    c.ril = true;
  } else {
    const stride = run.length > 1 ? r.addr[run[1]!]! - r.addr[first]! : pageSize;
    req.size = stride * run.length;
    req.granule = stride;
    c.pgsize = 4096;
    c.ril = false;
  }
  return c;
}

/** Does command i continue the run (same TG/TTL/Leaf, contiguous or constant stride)? */
export function continuesRun(r: Interpreted, run: readonly number[], i: number): boolean {
  const last = run[run.length - 1]!;
  if (r.tg[i] !== r.tg[last] || r.ttl[i] !== r.ttl[last] || r.leaf[i] !== r.leaf[last]) return false;
  if (r.tg[i] !== 0) return r.addr[i] === r.addr[last]! + r.span[last]!;
  const step = r.addr[i]! - r.addr[last]!;
  if (run.length === 1) return step > 0 && step % 4096 === 0 && Number.isInteger(Math.log2(step));
  return step === r.addr[last]! - r.addr[run[run.length - 2]!]!;
}

/**
 * Why a run the `linux` policy does not reproduce differs from what Linux emits for request `c` (whose linux
 * plan is in `o`): a whole-tag command Linux would use instead, a Linux rule for non-leaf invalidations the
 * stream did not follow, or the same span cut differently, or a different span (the engine's
 * tlbiRangeBytes gives each planned command's span).
 */
export function classifyDifference(
  o: PlanOutput,
  r: Interpreted,
  t: Target,
  run: readonly number[],
  c: Candidate,
): DifferenceId {
  const u = o.buf.u32;
  for (let e = 0; e < o.count; e++) {
    const op = opcodeAt(u, e);
    if ((op === Opcode.TLBI_NH_ASID || op === Opcode.TLBI_S12_VMALL || op === Opcode.TLBI_EL2_ASID) && op !== t.op)
      return 'linux-whole-tag';
  }
  const first = run[0]!;
  if (r.leaf[first] === 0 && r.tg[first] !== 0) {
    if (run.some((i) => r.ttl[i] !== 0)) return 'non-leaf-ttl';
    const pages = c.req.size / c.pgsize;
    if (pages % 32 === 1) return 'non-leaf-no-extra-page';
  }
  // Same span? Compare the union of the linux commands with the request.
  let span = 0;
  for (let e = 0; e < o.count; e++) {
    const op = opcodeAt(u, e);
    if (op !== t.op) continue;
    const tg = fieldAt(u, e, TLBI_TG);
    span += tg === 0 ? c.req.granule : tlbiRangeBytes(fieldAt(u, e, TLBI_NUM), fieldAt(u, e, TLBI_SCALE), tg);
  }
  return span === c.req.size ? 'split' : 'span';
}
