/**
 * Which whole-tag command of a batch covers a TLBI of the same batch (the `covered-by-whole-tag` waste rule),
 * answered from the first whole-tag command of each kind and tag instead of by trying every whole-tag command
 * for every TLBI: a batch of n NH_ASID commands took n² tests (16,000 of them: 2.9 s; 2^16: about a minute).
 *
 * What covers what (rules.ts `tagCovers` says it with its caveat; this index only finds the candidate):
 * NSNH_ALL covers every NH_*, S2_IPA and S12_VMALL; S12_VMALL covers NH_* and S2_IPA of its VMID; NH_ALL covers
 * NH_* of its VMID; NH_ASID covers NH_VA of its VMID and ASID; EL2_ALL covers every EL2_*; EL2_ASID covers
 * EL2_VA of its ASID. A command never covers one of its own opcode (those are duplicates, reported apart).
 * The answer is the earliest covering command in the batch, as the loop over the batch in order gave.
 */
import { Opcode } from '../cmdq/index.js';
import type { Interpreted } from './interpret.js';

const isNh = (op: number): boolean => op >= Opcode.TLBI_NH_ALL && op <= Opcode.TLBI_NH_VAA;
const isEl2 = (op: number): boolean => op >= Opcode.TLBI_EL2_ALL && op <= Opcode.TLBI_EL2_VAA;

/** The first whole-tag command of each kind and tag in one batch. */
export class TagCoverIndex {
  private nsnhAll = -1;
  private el2All = -1;
  // Made on first use: most batches hold one kind of whole-tag command, or none of some kinds.
  private s12ByVmid: Map<number, number> | null = null;
  private nhAllByVmid: Map<number, number> | null = null;
  private nhAsidByTag: Map<number, number> | null = null;
  private el2AsidByAsid: Map<number, number> | null = null;

  /** Index the whole-tag commands `tagCmds` (entry indices, in batch order) of `r`. */
  constructor(
    private readonly r: Interpreted,
    tagCmds: readonly number[],
  ) {
    const first = (m: Map<number, number> | null, key: number, y: number): Map<number, number> => {
      const map = m ?? new Map<number, number>();
      if (!map.has(key)) map.set(key, y);
      return map;
    };
    for (const y of tagCmds) {
      const vmid = r.vmid[y]!;
      switch (r.op[y]) {
        case Opcode.TLBI_NSNH_ALL:
          if (this.nsnhAll < 0) this.nsnhAll = y;
          break;
        case Opcode.TLBI_S12_VMALL:
          this.s12ByVmid = first(this.s12ByVmid, vmid, y);
          break;
        case Opcode.TLBI_NH_ALL:
          this.nhAllByVmid = first(this.nhAllByVmid, vmid, y);
          break;
        case Opcode.TLBI_NH_ASID:
          this.nhAsidByTag = first(this.nhAsidByTag, vmid * 2 ** 17 + r.asid[y]!, y);
          break;
        case Opcode.TLBI_EL2_ALL:
          if (this.el2All < 0) this.el2All = y;
          break;
        case Opcode.TLBI_EL2_ASID:
          this.el2AsidByAsid = first(this.el2AsidByAsid, r.asid[y]!, y);
          break;
        default:
          break;
      }
    }
  }

  /** The earliest whole-tag command of the batch that covers entry x, or -1. */
  coverOf(x: number): number {
    const r = this.r;
    const ox = r.op[x]!;
    const vmid = r.vmid[x]!;
    let best = -1;
    const take = (y: number | undefined): void => {
      if (y !== undefined && y >= 0 && (best < 0 || y < best)) best = y;
    };
    const nh = isNh(ox);
    if (ox !== Opcode.TLBI_NSNH_ALL && (nh || ox === Opcode.TLBI_S2_IPA || ox === Opcode.TLBI_S12_VMALL))
      take(this.nsnhAll);
    if (ox !== Opcode.TLBI_S12_VMALL && (nh || ox === Opcode.TLBI_S2_IPA)) take(this.s12ByVmid?.get(vmid));
    if (ox !== Opcode.TLBI_NH_ALL && nh) take(this.nhAllByVmid?.get(vmid));
    if (ox === Opcode.TLBI_NH_VA) take(this.nhAsidByTag?.get(vmid * 2 ** 17 + r.asid[x]!));
    if (ox !== Opcode.TLBI_EL2_ALL && isEl2(ox)) take(this.el2All);
    if (ox === Opcode.TLBI_EL2_VA) take(this.el2AsidByAsid?.get(r.asid[x]!));
    return best;
  }
}
