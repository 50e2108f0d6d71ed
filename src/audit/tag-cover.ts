/**
 * What a whole-tag TLBI covers, and which whole-tag command of a batch covers a TLBI of the same batch (the
 * `covered-by-whole-tag` waste rule). One table, TAG_SCOPES, says it for both: the index built from it finds
 * the earliest covering command from the first whole-tag command of each kind and tag, instead of trying every
 * whole-tag command for every TLBI (a batch of n NH_ASID commands took n² tests: 16,000 of them 2.9 s), and
 * `coverCaveat` gives the caveat of the covering command's scope, which the finding prints.
 *
 * The scopes (IHI 0070 §4.4.2, §4.4.3): NSNH_ALL covers every NH_*, S2_IPA and S12_VMALL; S12_VMALL covers
 * NH_* and S2_IPA of its VMID; NH_ALL covers NH_* of its VMID; NH_ASID covers NH_VA of its VMID and ASID;
 * EL2_ALL covers every EL2_*; EL2_ASID covers EL2_VA of its ASID. A command never covers one of its own
 * opcode (those are duplicates, reported apart).
 */
import { Opcode } from '../cmdq/index.js';
import type { Interpreted } from './interpret.js';

const isNh = (op: number): boolean => op >= Opcode.TLBI_NH_ALL && op <= Opcode.TLBI_NH_VAA;
const isEl2 = (op: number): boolean => op >= Opcode.TLBI_EL2_ALL && op <= Opcode.TLBI_EL2_VAA;

/** What one whole-tag opcode covers. */
interface TagScope {
  readonly op: number;
  /** The opcodes it covers (never its own: see above). */
  readonly covers: (op: number) => boolean;
  /** The covered command must have the same VMID / ASID. */
  readonly sameVmid: boolean;
  readonly sameAsid: boolean;
  /** Said after the finding: where the coverage is not complete. */
  readonly caveat: string;
}

const EXCEPT_GLOBAL = (va: string, asid: string): string =>
  ` (except global entries: ${va} also removes global entries for the address, ${asid} does not)`;

/** The whole-tag opcodes and their scopes (the one statement of what covers what). */
const TAG_SCOPES: readonly TagScope[] = [
  {
    op: Opcode.TLBI_NSNH_ALL,
    covers: (o) => isNh(o) || o === Opcode.TLBI_S2_IPA || o === Opcode.TLBI_S12_VMALL,
    sameVmid: false,
    sameAsid: false,
    caveat: '',
  },
  {
    op: Opcode.TLBI_S12_VMALL,
    covers: (o) => isNh(o) || o === Opcode.TLBI_S2_IPA,
    sameVmid: true,
    sameAsid: false,
    caveat: '',
  },
  {
    op: Opcode.TLBI_NH_ALL,
    covers: (o) => isNh(o) && o !== Opcode.TLBI_NH_ALL,
    sameVmid: true,
    sameAsid: false,
    caveat: '',
  },
  {
    op: Opcode.TLBI_NH_ASID,
    covers: (o) => o === Opcode.TLBI_NH_VA,
    sameVmid: true,
    sameAsid: true,
    caveat: EXCEPT_GLOBAL('NH_VA', 'NH_ASID'),
  },
  {
    op: Opcode.TLBI_EL2_ALL,
    covers: (o) => isEl2(o) && o !== Opcode.TLBI_EL2_ALL,
    sameVmid: false,
    sameAsid: false,
    caveat: '',
  },
  {
    op: Opcode.TLBI_EL2_ASID,
    covers: (o) => o === Opcode.TLBI_EL2_VA,
    sameVmid: false,
    sameAsid: true,
    caveat: EXCEPT_GLOBAL('EL2_VA', 'EL2_ASID'),
  },
];

/** Position of each whole-tag opcode in TAG_SCOPES (−1: not a whole-tag opcode). */
const SCOPE_OF: readonly number[] = (() => {
  const a: number[] = new Array<number>(256).fill(-1);
  TAG_SCOPES.forEach((s, i) => (a[s.op] = i));
  return a;
})();

/** The key of the tags a scope compares, for command x of r. */
function scopeKey(s: TagScope, r: Interpreted, x: number): number {
  return (s.sameVmid ? r.vmid[x]! : 0) * 2 ** 17 + (s.sameAsid ? r.asid[x]! : 0);
}

/**
 * The caveat a `covered-by-whole-tag` finding prints for a TLBI that coverOf found covered by whole-tag command
 * y: '' when the coverage is complete, else where it is not (global entries).
 */
export function coverCaveat(r: Interpreted, y: number): string {
  return TAG_SCOPES[SCOPE_OF[r.op[y]!]!]!.caveat;
}

/** The first whole-tag command of each kind and tag in one batch. */
export class TagCoverIndex {
  // Per scope, made on first use (most batches hold one kind of whole-tag command): tags → first command.
  private readonly firstByTags: (Map<number, number> | null)[] = TAG_SCOPES.map(() => null);

  /** Index the whole-tag commands `tagCmds` (entry indices, in batch order) of `r`. */
  constructor(
    private readonly r: Interpreted,
    tagCmds: readonly number[],
  ) {
    for (const y of tagCmds) {
      const i = SCOPE_OF[r.op[y]!] ?? -1;
      if (i < 0) continue;
      const key = scopeKey(TAG_SCOPES[i]!, r, y);
      const m = this.firstByTags[i] ?? (this.firstByTags[i] = new Map<number, number>());
      if (!m.has(key)) m.set(key, y);
    }
  }

  /** The earliest whole-tag command of the batch that covers entry x, or -1. */
  coverOf(x: number): number {
    const ox = this.r.op[x]!;
    let best = -1;
    for (let i = 0; i < TAG_SCOPES.length; i++) {
      const m = this.firstByTags[i];
      if (m === null || m === undefined) continue;
      const s = TAG_SCOPES[i]!;
      if (!s.covers(ox)) continue;
      const y = m.get(scopeKey(s, this.r, x));
      if (y !== undefined && (best < 0 || y < best)) best = y;
    }
    return best;
  }
}
