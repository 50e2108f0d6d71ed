/**
 * The first pass of `--nested-vmids auto` over a streamed input: the VMIDs that appear both in stage-2 TLBIs
 * (S2_IPA, S12_VMALL) and in stage-1 NH_* TLBIs, from legal entries only (as interpret.ts reads them). Bounded:
 * two sets of 16-bit VMIDs.
 */
import { CheckedEntry, CommandChecker, FIELD_IDS, Opcode } from '../cmdq/index.js';
import type { EntrySink } from './stream.js';

const F_VMID = FIELD_IDS.vmid;

export class VmidScan implements EntrySink {
  readonly s2 = new Set<number>();
  readonly nh = new Set<number>();
  private readonly e = new CheckedEntry();
  entries = 0;

  constructor(private readonly checker: CommandChecker = new CommandChecker()) {}

  push(h0: number, h1: number, h2: number, h3: number): void {
    this.entries++;
    const op = h0 & 0xff;
    const s2 = op === Opcode.TLBI_S2_IPA || op === Opcode.TLBI_S12_VMALL;
    if (!s2 && (op < Opcode.TLBI_NH_ALL || op > Opcode.TLBI_NH_VAA)) return;
    if (!this.checker.check(h0, h1, h2, h3, this.e)) return;
    (s2 ? this.s2 : this.nh).add(this.e.values[F_VMID]!);
  }

  pushHalves(u32: Uint32Array, count = u32.length >>> 2): void {
    // Most entries are neither kind of TLBI: their opcode is tested here, without a call per entry.
    for (let i = 0; i < count; i++) {
      const op = u32[i * 4]! & 0xff;
      if (
        op === Opcode.TLBI_S2_IPA ||
        op === Opcode.TLBI_S12_VMALL ||
        (op >= Opcode.TLBI_NH_ALL && op <= Opcode.TLBI_NH_VAA)
      )
        this.push(u32[i * 4]!, u32[i * 4 + 1]!, u32[i * 4 + 2]!, u32[i * 4 + 3]!);
      else this.entries++;
    }
  }

  blame(): void {}

  note(): void {}

  /** The nested VMIDs, ascending. */
  get nested(): number[] {
    return nestedOf(this.s2, this.nh);
  }
}

/** VMIDs in both sets, ascending. */
export function nestedOf(s2: ReadonlySet<number>, nh: ReadonlySet<number>): number[] {
  return [...s2].filter((v) => nh.has(v)).sort((a, b) => a - b);
}
