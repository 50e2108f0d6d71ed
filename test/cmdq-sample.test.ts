/**
 * The real command-queue ring a Linux 6.1 guest wrote on QEMU 7.2 (samples/linux-6.1-qemu-7.2-strict):
 * the first PROD = 0x4585 slots decode legal with exactly the counts of samples/README.md, both on the default
 * SMMU and on the sample's own (features from its IDR0/IDR3), and the rest of the ring is empty slots.
 */
import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import {
  CheckedEntry,
  CommandChecker,
  decodeSlot,
  encodeHalves,
  featuresFromIdRegs,
  halvesFromBytes,
} from '../src/cmdq/index.js';
import { refDecode, wordsOf } from './cmdq-reference.js';

const DIR = new URL('../samples/linux-6.1-qemu-7.2-strict/', import.meta.url);

// The counts stated in samples/README.md.
const EXPECTED: Record<string, number> = {
  TLBI_NH_VA: 9155,
  CMD_SYNC: 8636,
  CFGI_STE: 2,
  CFGI_STE_RANGE: 1,
  PREFETCH_CONFIG: 1,
  TLBI_NH_ASID: 1,
  TLBI_NSNH_ALL: 1,
};

describe('the real Linux 6.1 / QEMU 7.2 command queue', () => {
  const regs = JSON.parse(readFileSync(new URL('cmdq.json', DIR), 'utf8')) as Record<string, string | number>;
  const bytes = gunzipSync(readFileSync(new URL('cmdq.bin.gz', DIR)));
  const ring = halvesFromBytes(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length));
  const prod = Number(regs.CMDQ_PROD) & ((1 << Number(regs.log2size)) - 1);
  const slots = ring.length / 4;

  it('is the 2^16-slot ring with PROD = CONS = 0x4585 (never wrapped)', () => {
    expect(bytes.length).toBe(Number(regs.bytes));
    expect(slots).toBe(2 ** Number(regs.log2size));
    expect(Number(regs.CMDQ_PROD)).toBe(0x4585);
    expect(Number(regs.CMDQ_CONS)).toBe(0x4585);
    expect(prod).toBe(17797);
  });

  const checkers: [string, CommandChecker][] = [
    ['the default SMMU', new CommandChecker()],
    [
      `the sample's SMMU (IDR0 ${String(regs.IDR0)}, IDR3 ${String(regs.IDR3)})`,
      new CommandChecker({ features: featuresFromIdRegs({ idr0: Number(regs.IDR0), idr3: Number(regs.IDR3) }) }),
    ],
  ];

  it.each(checkers)('on %s: the first 0x4585 slots are legal, with the README counts', (_label, checker) => {
    const counts: Record<string, number> = {};
    const illegal: string[] = [];
    let warnings = 0;
    for (let s = 0; s < prod; s++) {
      const r = decodeSlot(ring, s, checker);
      if (!r.ok) {
        illegal.push(`slot ${s}: ${r.error.field} ${r.error.reason}`);
        continue;
      }
      warnings += r.warnings.length;
      counts[r.command.name] = (counts[r.command.name] ?? 0) + 1;
    }
    expect(illegal.slice(0, 5)).toEqual([]);
    expect(warnings).toBe(0);
    expect(counts).toEqual(EXPECTED);
  });

  it.each(checkers)('on %s: every slot after PROD is an empty slot (opcode 0x00, illegal)', (_label, checker) => {
    const e = new CheckedEntry();
    let empty = 0;
    for (let s = prod; s < slots; s++) {
      const legal = checker.checkSlot(ring, s, e);
      if (!legal && e.opcode === 0 && e.error?.rule === 'reserved-opcode') empty++;
    }
    expect(empty).toBe(slots - prod);
    const i = prod * 4;
    expect([ring[i], ring[i + 1], ring[i + 2], ring[i + 3]]).toEqual([0, 0, 0, 0]);
  });

  it('every legal slot re-encodes to its exact words and agrees with the BigInt reference', () => {
    const checker = checkers[1]![1];
    for (let s = 0; s < prod; s++) {
      const h = [ring[s * 4]!, ring[s * 4 + 1]!, ring[s * 4 + 2]!, ring[s * 4 + 3]!] as const;
      const r = decodeSlot(ring, s, checker);
      if (!r.ok) throw new Error(`slot ${s} illegal`);
      const back = encodeHalves(r.command, checker);
      if (back.some((x, k) => x !== h[k])) expect(back, `slot ${s}`).toEqual([...h]);
      if (s % 97 === 0) {
        const ref = refDecode(...wordsOf(...h))!;
        expect(ref.name).toBe(r.command.name);
        for (const [k, v] of Object.entries(ref.fields))
          expect(BigInt((r.command as unknown as Record<string, number>)[k]!), `slot ${s} ${k}`).toBe(v);
      }
    }
  });

  it('has the shapes the README states: SEV CMD_SYNCs; NH_VA with ASID 1, VMID 0, TG 4K', () => {
    const checker = checkers[1]![1];
    const shapes = new Set<string>();
    for (let s = 0; s < prod; s++) {
      const r = decodeSlot(ring, s, checker);
      if (!r.ok) continue;
      const c = r.command;
      if (c.name === 'CMD_SYNC') shapes.add(`SYNC cs=${c.cs} msh=${c.msh} msiattr=${c.msiattr} msiaddr=${c.msiaddr}`);
      if (c.name === 'TLBI_NH_VA') shapes.add(`NH_VA asid=${c.asid} vmid=${c.vmid} tg=${c.tg}`);
      if (c.name === 'CFGI_STE_RANGE') shapes.add(`STE_RANGE range=${c.range}`);
    }
    expect([...shapes].sort()).toEqual([
      'NH_VA asid=1 vmid=0 tg=1',
      'STE_RANGE range=31',
      'SYNC cs=2 msh=3 msiattr=15 msiaddr=0',
    ]);
  });
});
