/**
 * Reading raw command-queue dumps: oldest first with PROD/CONS and their wrap bits, pending entries, CONS.ERR
 * blame, MSI-overwritten CMD_SYNCs, and unusable input named by byte offset. Each ring is written by a
 * simulated producer that stamps entries with their time of writing (CFGI_STE with SID = sequence number),
 * so the expected order is known independently of the reader.
 */
import { describe, expect, it } from 'vitest';
import { makeCommand } from '../src/cmdq/index.js';
import { AuditInputError, EntryFlag, auditStream, readRing } from '../src/audit/index.js';
import { halvesOf, sync } from './audit-helpers.js';

/** A ring of 2^log2size slots after `writes` entries were produced (entry t at slot t mod size). */
function producedRing(log2size: number, writes: number): { bytes: Uint8Array; prod: number } {
  const size = 2 ** log2size;
  const u = new Uint32Array(size * 4);
  for (let t = 0; t < writes; t++) u.set(halvesOf([makeCommand('CFGI_STE', { sid: t, leaf: 1 })]), (t % size) * 4);
  return { bytes: new Uint8Array(u.buffer), prod: writes % (2 * size) };
}

function sids(s: ReturnType<typeof readRing>): number[] {
  return Array.from({ length: s.count }, (_, i) => s.halves[i * 4 + 1]!);
}

describe('ring order', () => {
  it('reads slot 0 up to PROD when the slots after PROD were never written', () => {
    const { bytes, prod } = producedRing(3, 5);
    const s = readRing(bytes, { prod, cons: prod });
    expect(sids(s)).toEqual([0, 1, 2, 3, 4]);
    expect(s.ring).toMatchObject({ wrapped: false, entries: 5, pending: 0, firstSlot: 0 });
  });
  it('reads from PROD all the way round once the queue has wrapped (wrap bit set)', () => {
    const { bytes, prod } = producedRing(3, 11);
    expect(prod).toBe(0xb); // index 3, wrap 1
    const s = readRing(bytes, { prod, cons: prod, log2size: 3 });
    expect(sids(s)).toEqual([3, 4, 5, 6, 7, 8, 9, 10]);
    expect(Array.from(s.slot.subarray(0, s.count))).toEqual([3, 4, 5, 6, 7, 0, 1, 2]);
    expect(s.ring!.wrapped).toBe(true);
  });
  it('detects a wrap by written slots after PROD even when the wrap bit is clear (wrapped twice)', () => {
    const { bytes, prod } = producedRing(3, 19);
    expect(prod).toBe(3);
    expect(sids(readRing(bytes, { prod, cons: prod }))).toEqual([11, 12, 13, 14, 15, 16, 17, 18]);
  });
  it('marks the entries between CONS and PROD as not yet consumed', () => {
    const { bytes, prod } = producedRing(3, 11);
    const s = readRing(bytes, { prod, cons: 9 }); // index 1, wrap 1: entries 9 and 10 pending
    const pending = Array.from({ length: s.count }, (_, i) =>
      s.flags[i]! & EntryFlag.Pending ? s.halves[i * 4 + 1]! : -1,
    ).filter((x) => x >= 0);
    expect(pending).toEqual([9, 10]);
    expect(s.ring!.pending).toBe(2);
  });
  it('blames the entry at CONS when CONS.ERR is set', () => {
    const size = 8;
    const u = new Uint32Array(size * 4);
    u.set(halvesOf([sync(), makeCommand('TLBI_NH_ASID', { asid: 1 }), [0x08, 0, 0, 0], sync()]), 0);
    const bytes = new Uint8Array(u.buffer);
    const s = readRing(bytes, { prod: 4, cons: 2 | (1 << 24) });
    expect(s.cerrors).toEqual([{ index: 2, code: 1 }]);
    expect(s.flags[2]! & EntryFlag.Blamed).toBeTruthy();
    const rep = auditStream(s, { replan: false });
    expect(rep.findings.filter((f) => f.index === 2).map((f) => f.rule)).toEqual(['illegal', 'smmu-error']);
    expect(rep.findings.find((f) => f.rule === 'smmu-error')!.message).toMatch(/CERROR_ILL.*codec agrees/);
    // CONS.ERR on an entry the codec calls legal: the features must differ.
    const s2 = readRing(bytes, { prod: 4, cons: 1 | (1 << 24) });
    const rep2 = auditStream(s2, { replan: false });
    expect(rep2.findings.find((f) => f.rule === 'smmu-error')!.message).toMatch(/finds it legal/);
  });
  it('reads every written slot in ring order without registers', () => {
    const u = new Uint32Array(8 * 4);
    u.set(halvesOf([sync()]), 4);
    u.set(halvesOf([makeCommand('CFGI_STE', { sid: 9 })]), 12);
    const s = readRing(new Uint8Array(u.buffer));
    expect(Array.from(s.slot.subarray(0, s.count))).toEqual([1, 3]);
  });
  it('restores a CMD_SYNC whose first word its MSI write zeroed', () => {
    const base = 0x8000_0000;
    const u = new Uint32Array(8 * 4);
    u.set(halvesOf([makeCommand('TLBI_NH_ASID', { asid: 1 })]), 0);
    u.set([0, 0, base + 16, 0], 4); // slot 1: MSIAddr = base + 1 × 16
    const s = readRing(new Uint8Array(u.buffer), { prod: 2, cons: 2 });
    expect(s.opcode(1)).toBe(0x46);
    expect(s.flags[1]! & EntryFlag.MsiOverwritten).toBeTruthy();
    expect(auditStream(s, { replan: false }).counts.findings).toBe(0);
  });
});

describe('unusable dumps', () => {
  const bad = (f: () => unknown): string => {
    try {
      f();
    } catch (e) {
      expect(e).toBeInstanceOf(AuditInputError);
      return (e as Error).message;
    }
    throw new Error('no error');
  };
  it('names the byte offset of a trailing partial entry', () => {
    expect(bad(() => readRing(new Uint8Array(17)))).toMatch(/byte offset 16/);
  });
  it('refuses a ring size that does not match the dump', () => {
    expect(bad(() => readRing(new Uint8Array(16 * 8), { prod: 0, log2size: 4 }))).toMatch(/2\^4 = 16 entries/);
    expect(bad(() => readRing(new Uint8Array(16 * 6), { prod: 0 }))).toMatch(/--log2size/);
  });
  it('refuses registers with bits above the wrap bit, or CONS ahead of PROD', () => {
    const { bytes } = producedRing(3, 5);
    expect(bad(() => readRing(bytes, { prod: 0x10 }))).toMatch(/--prod/);
    expect(bad(() => readRing(bytes, { prod: 2, cons: 5 }))).toMatch(/ahead of CMDQ_PROD/);
    expect(bad(() => readRing(bytes, { prod: 5, cons: 0x100 }))).toMatch(/--cons/);
  });
});
