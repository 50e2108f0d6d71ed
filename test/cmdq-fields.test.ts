/**
 * The field accessors of src/cmdq/fields.ts agree with the validating encoder: each field read back from an
 * encoded entry is the value given, and a half built with fieldBits is the half the encoder produces.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  SYNC_CS,
  SYNC_MSIDATA,
  TLBI_ASID,
  TLBI_LEAF,
  TLBI_NUM,
  TLBI_SCALE,
  TLBI_TG,
  TLBI_TTL,
  TLBI_VMID,
  fieldAt,
  fieldBits,
  fieldOf,
  opcodeAt,
  syncMsiAddr,
} from '../src/cmdq/fields.js';
import { CommandChecker, Opcode, encodeHalves, makeCommand, withFeatures } from '../src/cmdq/index.js';

const DS = new CommandChecker({ features: withFeatures({ ds: true }) });

describe('command field accessors (src/cmdq/fields.ts)', () => {
  it('read back every field of a range TLBI as the encoder placed it, and build the same halves', () => {
    fc.assert(
      fc.property(
        fc.record({
          num: fc.integer({ min: 0, max: 31 }),
          scale: fc.integer({ min: 0, max: 31 }),
          asid: fc.integer({ min: 0, max: 0xffff }),
          vmid: fc.integer({ min: 0, max: 0xffff }),
          ttl: fc.integer({ min: 1, max: 3 }),
          tg: fc.integer({ min: 1, max: 3 }),
          leaf: fc.integer({ min: 0, max: 1 }),
          page: fc.integer({ min: 0, max: 2 ** 40 - 1 }),
        }),
        (v) => {
          const cmd = makeCommand('TLBI_NH_VA', { ...v, addr: v.page * 65536 });
          const h = Uint32Array.from(encodeHalves(cmd));
          expect(opcodeAt(h, 0)).toBe(Opcode.TLBI_NH_VA);
          expect(fieldAt(h, 0, TLBI_NUM)).toBe(v.num);
          expect(fieldAt(h, 0, TLBI_SCALE)).toBe(v.scale);
          expect(fieldAt(h, 0, TLBI_ASID)).toBe(v.asid);
          expect(fieldAt(h, 0, TLBI_VMID)).toBe(v.vmid);
          expect(fieldAt(h, 0, TLBI_TTL)).toBe(v.ttl);
          expect(fieldAt(h, 0, TLBI_TG)).toBe(v.tg);
          expect(fieldAt(h, 0, TLBI_LEAF)).toBe(v.leaf);
          expect((Opcode.TLBI_NH_VA | fieldBits(TLBI_NUM, v.num) | fieldBits(TLBI_SCALE, v.scale)) >>> 0).toBe(h[0]);
          expect((fieldBits(TLBI_VMID, v.vmid) | fieldBits(TLBI_ASID, v.asid)) >>> 0).toBe(h[1]);
          const lo = (v.page * 65536) % 2 ** 32;
          const h2 = (fieldBits(TLBI_LEAF, v.leaf) | fieldBits(TLBI_TTL, v.ttl) | fieldBits(TLBI_TG, v.tg) | lo) >>> 0;
          expect(h2).toBe(h[2]);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('SCALE is read over its 6 bits (DS), and fieldBits drops what does not fit a field', () => {
    const h = Uint32Array.from(
      encodeHalves(makeCommand('TLBI_NH_VA', { num: 3, scale: 39, tg: 1, ttl: 3, addr: 0x1000 }), DS),
    );
    expect(fieldAt(h, 0, TLBI_SCALE)).toBe(39);
    expect(fieldBits(TLBI_TG, 7)).toBe(fieldBits(TLBI_TG, 3));
    expect(fieldBits(TLBI_ASID, 0x1ffff)).toBe(fieldBits(TLBI_ASID, 0xffff));
    expect(fieldBits(TLBI_ASID, 0xffff)).toBe(0xffff0000);
  });

  it('read CMD_SYNC fields: CS, MSIData over 32 bits, MSIAddr without the bits outside it', () => {
    const msiaddr = 0xf_ffff_fffc;
    const h = Uint32Array.from(
      encodeHalves(makeCommand('CMD_SYNC', { cs: 1, msh: 3, msiattr: 0xf, msidata: 0xfedc_ba98, msiaddr })),
    );
    expect(opcodeAt(h, 0)).toBe(Opcode.CMD_SYNC);
    expect(fieldAt(h, 0, SYNC_CS)).toBe(1);
    expect(fieldAt(h, 0, SYNC_MSIDATA)).toBe(0xfedc_ba98);
    expect(fieldOf(h[1]!, SYNC_MSIDATA)).toBe(0xfedc_ba98);
    expect(syncMsiAddr(h[2]!, h[3]!)).toBe(msiaddr);
    // Bits [1:0] of w1 and [63:52] are not MSIAddr: ignored.
    expect(syncMsiAddr(h[2]! | 3, h[3]! | 0xfff00000)).toBe(msiaddr);
    expect(syncMsiAddr(3, 0xfff00000)).toBe(0);
  });
});
