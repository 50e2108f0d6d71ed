/**
 * How the stale checker describes what it reports: a TLB or walk-cache entry as cached, and permissions as
 * r/w/x text (the report fields of checker.ts).
 */
import { hexAddr } from '../bits.js';
import { GLOBAL_ASID, KIND_NAMES, Kind, REGIME_NAMES, type TlbEntry, type WalkEntry } from './caches.js';
import { canRead, canWrite, permText } from './walker.js';

export function perm(kind: number, attrLo: number, attrHi: number, s2AttrLo: number): string {
  const p = permText(kind === Kind.S2 ? 2 : 1, attrLo, attrHi);
  if (kind !== Kind.NESTED) return p;
  const r = p[0] === 'r' && canRead(2, s2AttrLo) ? 'r' : '-';
  const w = p[1] === 'w' && canWrite(2, s2AttrLo) ? 'w' : '-';
  return r + w + p[2]!;
}

export function atcPerm(p: number): string {
  return ((p & 1) !== 0 ? 'r' : '-') + ((p & 2) !== 0 ? 'w' : '-');
}

export function describeTlb(e: TlbEntry): Record<string, string | number> {
  const d: Record<string, string | number> = {
    kind: KIND_NAMES[e.kind],
    regime: REGIME_NAMES[e.regime],
    vmid: e.vmid,
    asid: e.asid === GLOBAL_ASID ? 'global' : e.asid,
    input: hexAddr(e.inStart),
    size: hexAddr(2 ** e.sizeLog2),
    level: e.level,
    granule: 2 ** e.granuleLog2,
    output: hexAddr(e.outStart),
  };
  if (e.kind === Kind.NESTED) d.ipa = hexAddr(e.ipa);
  return d;
}

export function describeWalk(e: WalkEntry): Record<string, string | number> {
  return {
    kind: KIND_NAMES[e.kind],
    regime: REGIME_NAMES[e.regime],
    vmid: e.vmid,
    asid: e.asid,
    input: hexAddr(e.inStart),
    span: hexAddr(2 ** e.sizeLog2),
    level: e.level,
    granule: 2 ** e.granuleLog2,
    next: hexAddr(e.next),
  };
}
