import { describe, expect, it } from 'vitest';
import { CommandChecker } from '../src/cmdq/index.js';
import { filterHostCommands, type FilterAction } from '../src/consumers/host-cmdq-filter.js';

/** Two 64-bit hex words → four u32 halves (independent of the codec). */
function halves(w0: bigint, w1: bigint): number[] {
  const m = 0xffffffffn;
  return [Number(w0 & m), Number(w0 >> 32n), Number(w1 & m), Number(w1 >> 32n)];
}
const hex = (w: bigint): string => '0x' + w.toString(16).padStart(16, '0');

interface Case {
  what: string;
  w: [bigint, bigint];
  action: FilterAction;
  out?: [bigint, bigint];
}

// Words worked out by hand from the field positions (opcode w0[7:0], VMID w0[47:32], ASID w0[63:48], …).
const CASES: Case[] = [
  { what: 'NH_ASID with VMID 0', w: [0x0005_0000_0000_0011n, 0n], action: 'allowed' },
  { what: 'NH_ASID with VMID 3', w: [0x0005_0003_0000_0011n, 0n], action: 'dropped' },
  { what: 'NH_VA with VMID 0', w: [0x0001_0000_0000_0012n, 0x0000_0000_ffff_6701n], action: 'allowed' },
  { what: 'NH_VA with VMID 7', w: [0x0001_0007_0000_0012n, 0x0000_0000_ffff_6701n], action: 'dropped' },
  { what: 'NH_VAA with VMID 0', w: [0x0000_0000_0000_0013n, 0x0000_0000_1000_0001n], action: 'allowed' },
  { what: 'NH_VAA with VMID 1', w: [0x0000_0001_0000_0013n, 0x0000_0000_1000_0001n], action: 'dropped' },
  { what: 'CFGI_ALL (Range=31)', w: [0x04n, 0x1fn], action: 'allowed' },
  { what: 'CFGI_STE_RANGE Range=3', w: [0x0000_0010_0000_0004n, 0x03n], action: 'dropped' },
  { what: 'CFGI_STE', w: [0x0000_0008_0000_0003n, 0x01n], action: 'allowed' },
  { what: 'CFGI_CD', w: [0x0000_0008_0000_1005n, 0x01n], action: 'allowed' },
  { what: 'CFGI_CD_ALL', w: [0x0000_0008_0000_0006n, 0n], action: 'allowed' },
  { what: 'NH_ALL', w: [0x0000_0000_0000_0010n, 0n], action: 'dropped' },
  { what: 'S12_VMALL', w: [0x0000_0002_0000_0028n, 0n], action: 'dropped' },
  { what: 'S2_IPA', w: [0x0000_0000_0000_002an, 0x0000_0000_4000_0001n], action: 'dropped' },
  { what: 'EL2_ALL', w: [0x20n, 0n], action: 'dropped' },
  { what: 'EL2_ASID', w: [0x0004_0000_0000_0021n, 0n], action: 'dropped' },
  { what: 'EL2_VA', w: [0x0004_0000_0000_0022n, 0x0000_0000_0000_1001n], action: 'dropped' },
  { what: 'EL2_VAA', w: [0x23n, 0x0000_0000_0000_1001n], action: 'dropped' },
  { what: 'NSNH_ALL narrowed to NH_ALL(0)', w: [0x30n, 0n], action: 'rewritten', out: [0x10n, 0n] },
  {
    what: 'CMD_SYNC CS=IRQ with MSI downgraded to SEV',
    w: [0x1234_5678_0fc0_1046n, 0x0000_0000_8000_0040n],
    action: 'rewritten',
    out: [0x0000_0000_0fc0_2046n, 0n],
  },
  { what: 'CMD_SYNC CS=SEV', w: [0x0fc0_2046n, 0n], action: 'allowed' },
  { what: 'ATC_INV', w: [0x0000_0010_0000_0040n, 0x0000_0000_0000_8002n], action: 'allowed' },
  { what: 'PREFETCH_CONFIG', w: [0x0000_0008_0000_0001n, 0n], action: 'allowed' },
  { what: 'reserved opcode 0x00', w: [0n, 0n], action: 'illegal' },
  { what: 'SSec=1 on the Non-secure queue', w: [0x0000_0008_0000_0403n, 0n], action: 'illegal' },
];

describe('pKVM host command-queue filter', () => {
  const checker = new CommandChecker();
  for (const c of CASES) {
    it(`${c.what} → ${c.action}`, () => {
      const host = new Uint32Array(halves(...c.w));
      const r = filterHostCommands(host, 1, checker);
      expect(r.decisions).toHaveLength(1);
      const d = r.decisions[0]!;
      expect(d.action).toBe(c.action);
      expect(d.reason.length).toBeGreaterThan(10);
      expect(d.words).toEqual([hex(c.w[0]), hex(c.w[1])]);
      if (c.action === 'allowed') {
        expect(r.forwarded).toBe(1);
        expect(Array.from(r.forward.subarray(0, 4))).toEqual(halves(...c.w));
      } else if (c.action === 'rewritten') {
        expect(r.forwarded).toBe(1);
        expect(Array.from(r.forward.subarray(0, 4))).toEqual(halves(...c.out!));
        expect(d.forwarded).toEqual([hex(c.out![0]), hex(c.out![1])]);
      } else {
        expect(r.forwarded).toBe(0);
      }
    });
  }

  it('keeps the order of forwarded entries and reports every decision', () => {
    const seq = [CASES[0]!, CASES[1]!, CASES[18]!, CASES[20]!];
    const host = new Uint32Array(seq.flatMap((c) => halves(...c.w)));
    const r = filterHostCommands(host, seq.length, checker);
    expect(r.decisions.map((d) => d.action)).toEqual(['allowed', 'dropped', 'rewritten', 'allowed']);
    expect(r.forwarded).toBe(3);
    expect(Array.from(r.forward.subarray(0, 12))).toEqual([
      ...halves(...CASES[0]!.w),
      ...halves(0x10n, 0n),
      ...halves(...CASES[20]!.w),
    ]);
  });
});
