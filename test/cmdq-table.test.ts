/**
 * Table tests over OPCODE_SPECS: the table agrees with the independent reference layout, fields never
 * overlap, every field round-trips at 0, its maximum and random values, the fast writers produce exactly
 * what the validating encoder produces, and the per-command shapes match the table.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  COMMAND_NAMES,
  COMMAND_SHAPES,
  CommandChecker,
  CommandEncodeError,
  FIELD_IDS,
  OPCODE_NAME,
  OPCODE_SPECS,
  Opcode,
  copyEntry,
  decodeHalves,
  encodeHalves,
  featuresFromIdRegs,
  fieldNames,
  loopShape,
  makeCommandShapes,
  withFeatures,
  writeAtcInv,
  writeSync,
  writeSyncSev,
  writeTlbiRange,
  writeTlbiRangeH0,
  writeTlbiTag,
  tlbiNumScaleBits,
  tlbiRangeLowBits,
  tlbiTagBits,
  writeTlbiThenSyncSev,
  type Command,
  type CommandName,
  type CommandShape,
} from '../src/cmdq/index.js';
import { address, uintBits } from './cmdq-arbitraries.js';
import { REF, entryHalves, refEncode, refFieldNames } from './cmdq-reference.js';

/** Where a table field sits, as absolute bit positions in the 128-bit entry. */
function bitsOfSpecField(half: number, lsb: number, width: number): number[] {
  return Array.from({ length: width }, (_, k) => half * 32 + lsb + k);
}

/** A checker on which every command exists (Secure queue, MPAM, DS), lax so RES0 interplay is a warning. */
const EVERYTHING = new CommandChecker({ queue: 'secure', features: withFeatures({ mpam: true, ds: true }), lax: true });

describe('OPCODE_SPECS', () => {
  it('has the 25 commands of the issue, and OPCODE_NAME inverts Opcode', () => {
    expect(COMMAND_NAMES.sort()).toEqual(Object.keys(REF).sort());
    for (const n of COMMAND_NAMES) {
      expect(OPCODE_SPECS[n].opcode).toBe(REF[n]!.opcode);
      expect(Opcode[n]).toBe(REF[n]!.opcode);
      expect(OPCODE_NAME[REF[n]!.opcode]).toBe(n);
    }
    expect(OPCODE_NAME.filter((x) => x !== undefined)).toHaveLength(25);
  });

  it.each(COMMAND_NAMES)('%s: fields at the positions of the reference layout', (name) => {
    const spec = OPCODE_SPECS[name];
    const ref = REF[name]!;
    const got = spec.fields.map((f) => ({ name: f.name, bits: bitsOfSpecField(f.half, f.lsb, f.width) }));
    const want = ref.fields.map(([n, word, lsb, width]) => ({ name: n, bits: bitsOfSpecField(word * 2, lsb, width) }));
    expect(got.sort((a, b) => a.name.localeCompare(b.name))).toEqual(want.sort((a, b) => a.name.localeCompare(b.name)));
    expect(spec.addr ? { name: spec.addr.name, lsb: spec.addr.lsb, msb: spec.addr.msb } : undefined).toEqual(ref.addr);
    expect(fieldNames(name).sort()).toEqual(refFieldNames(name).sort());
  });

  it.each(COMMAND_NAMES)('%s: no two fields overlap, none overlaps the opcode, all inside 128 bits', (name) => {
    const spec = OPCODE_SPECS[name];
    const owner = new Map<number, string>();
    for (let b = 0; b < 8; b++) owner.set(b, 'opcode');
    const claim = (bit: number, who: string): void => {
      expect(bit).toBeGreaterThanOrEqual(0);
      expect(bit).toBeLessThan(128);
      expect(owner.get(bit), `bit ${bit} claimed by ${who}`).toBeUndefined();
      owner.set(bit, who);
    };
    for (const f of spec.fields) {
      expect(f.lsb + f.width, `${f.name} stays inside its half`).toBeLessThanOrEqual(32);
      for (const b of bitsOfSpecField(f.half, f.lsb, f.width)) claim(b, f.name);
    }
    if (spec.addr) for (let b = spec.addr.lsb; b <= spec.addr.msb; b++) claim(64 + b, spec.addr.name);
  });
});

/** A base command of `name` that stays legal when any single field changes (on EVERYTHING, lax). */
function baseFields(name: CommandName): Record<string, number> {
  return OPCODE_SPECS[name].range ? { tg: 1, ttl: 3, num: 1 } : {};
}

/** Values the architecture reserves (the encoder must refuse them, naming the field). */
const RESERVED_MAX: Partial<Record<CommandName, Record<string, number>>> = {
  CMD_SYNC: { cs: 2 },
  PRI_RESP: { resp: 2 },
  ATC_INV: { size: 52 },
};

function roundTrip(name: CommandName, fields: Record<string, number>): void {
  const c = { name, ...fields } as unknown as Command;
  const h = encodeHalves(c, EVERYTHING);
  expect(h).toEqual(entryHalves(...refEncode(name, fields)));
  const r = decodeHalves(...h, EVERYTHING);
  expect(r.ok).toBe(true);
  if (r.ok) expect(r.command).toEqual({ name, ...Object.fromEntries(fieldNames(name).map((f) => [f, 0])), ...fields });
}

describe('every field round-trips at 0, its maximum and random values', () => {
  it.each(COMMAND_NAMES)('%s', (name) => {
    const spec = OPCODE_SPECS[name];
    for (const f of spec.fields) {
      const widthMax = 2 ** f.width - 1;
      const legalMax = RESERVED_MAX[name]?.[f.name] ?? widthMax;
      for (const v of [0, 1, legalMax]) roundTrip(name, { ...baseFields(name), [f.name]: v });
      fc.assert(
        fc.property(fc.integer({ min: 0, max: legalMax }), (v) =>
          roundTrip(name, { ...baseFields(name), [f.name]: v }),
        ),
        { numRuns: 40 },
      );
      if (legalMax !== widthMax) {
        expect(() => encodeHalves({ name, [f.name]: widthMax } as unknown as Command, EVERYTHING)).toThrow(
          CommandEncodeError,
        );
        try {
          encodeHalves({ name, [f.name]: widthMax } as unknown as Command, EVERYTHING);
        } catch (e) {
          expect((e as CommandEncodeError).issue.field).toBe(f.name);
          expect((e as CommandEncodeError).issue.rule).toBe('reserved-value');
        }
      }
      // One past the width is refused by the encoder, naming the field.
      expect(() => encodeHalves({ name, [f.name]: widthMax + 1 } as unknown as Command, EVERYTHING)).toThrow(
        new RegExp(`${f.name}: ${f.name} must be an integer`),
      );
    }
    if (spec.addr) {
      const a = spec.addr;
      const top = 2 ** (a.msb + 1) - 2 ** a.lsb;
      for (const v of [0, 2 ** a.lsb, top]) roundTrip(name, { ...baseFields(name), [a.name]: v });
      fc.assert(
        fc.property(address(a.lsb, a.msb), (v) => roundTrip(name, { ...baseFields(name), [a.name]: v })),
        { numRuns: 40 },
      );
      expect(() => encodeHalves({ name, [a.name]: 2 ** a.lsb / 2 } as unknown as Command, EVERYTHING)).toThrow(
        /must be a multiple of/,
      );
      if (a.msb < 63)
        expect(() => encodeHalves({ name, [a.name]: 2 ** (a.msb + 1) } as unknown as Command, EVERYTHING)).toThrow(
          /byte address below/,
        );
    }
  });

  it('rejects non-integer, negative and non-number field values, naming the field', () => {
    for (const bad of [-1, 1.5, Number.NaN, '3', null, true]) {
      expect(() => encodeHalves({ name: 'TLBI_NH_ASID', asid: bad } as unknown as Command)).toThrow(
        /TLBI_NH_ASID: asid/,
      );
    }
    expect(() => encodeHalves({ name: 'NOPE' } as unknown as Command)).toThrow(/unknown command name/);
    expect(() => encodeHalves({ name: 'toString' } as unknown as Command)).toThrow(/unknown command name/);
  });
});

describe('COMMAND_SHAPES', () => {
  // The compiled shapes (what the codec uses here) and the loop shapes (its fallback where code cannot be
  // compiled) must agree with the table, in its order: that order is the key order of a decoded command.
  const LOOP_SHAPES = makeCommandShapes(loopShape);
  const cases = COMMAND_NAMES.flatMap((name) => [
    { name, kind: 'compiled', shape: COMMAND_SHAPES[name] as CommandShape<CommandName> },
    { name, kind: 'loop', shape: LOOP_SHAPES[name] as CommandShape<CommandName> },
  ]);
  it.each(cases)('$name ($kind): build() gives exactly the table fields in order, read() inverts it', (t) => {
    const { name, shape } = t;
    const v = new Float64Array(24);
    fieldNames(name).forEach((f, k) => (v[FIELD_IDS[f]] = k + 1));
    const c = shape.build(v) as unknown as Record<string, unknown>;
    expect(Object.keys(c)).toEqual(['name', ...fieldNames(name)]);
    expect(c.name).toBe(name);
    for (const f of fieldNames(name)) expect(c[f]).toBe(v[FIELD_IDS[f]]);
    const back = new Float64Array(24);
    shape.read(c as never, back);
    expect(back).toEqual(v);
  });
  it.each(cases)('$name ($kind): read() gives 0 for an omitted field and NaN for a non-number', (t) => {
    const fields = fieldNames(t.name);
    if (fields.length === 0) return expect(fields).toEqual([]);
    const v = new Float64Array(24).fill(7);
    t.shape.read({ name: t.name, [fields[0]!]: '3' } as never, v);
    expect(v[FIELD_IDS[fields[0]!]]).toBeNaN();
    for (const f of fields.slice(1)) expect(v[FIELD_IDS[f]]).toBe(0);
  });
});

describe('the fast writers produce exactly what the validating encoder produces', () => {
  const checker = new CommandChecker({ queue: 'secure', features: withFeatures({ mpam: true, ds: true }) });
  const q = new Uint32Array(8);
  const slotHalves = (slot: number): [number, number, number, number] => [
    q[slot * 4]!,
    q[slot * 4 + 1]!,
    q[slot * 4 + 2]!,
    q[slot * 4 + 3]!,
  ];

  const RANGE: CommandName[] = [
    'TLBI_NH_VA',
    'TLBI_NH_VAA',
    'TLBI_EL2_VA',
    'TLBI_EL2_VAA',
    'TLBI_EL3_VA',
    'TLBI_S2_IPA',
  ];
  it.each(RANGE)('writeTlbiRange and writeTlbiRangeH0 as %s', (name) => {
    const hasAsid = refFieldNames(name).includes('asid');
    const hasVmid = refFieldNames(name).includes('vmid');
    const ipa = name === 'TLBI_S2_IPA';
    fc.assert(
      fc.property(
        fc.record({
          asid: uintBits(16),
          vmid: uintBits(16),
          num: uintBits(5),
          scale: uintBits(6),
          leaf: uintBits(1),
          ttl: uintBits(2),
          tg: fc.integer({ min: 1, max: 3 }),
          addr: ipa ? address(12, 51) : address(12, 63),
          slot: fc.nat({ max: 1 }),
        }),
        (x) => {
          const asid = hasAsid ? x.asid : 0;
          const vmid = hasVmid ? x.vmid : 0;
          const ttl = x.num === 0 && x.scale === 0 && x.ttl === 0 ? 3 : x.ttl;
          writeTlbiRange(q, x.slot, Opcode[name], asid, vmid, x.num, x.scale, x.leaf, ttl, x.tg, x.addr);
          const fields: Record<string, number> = {
            num: x.num,
            scale: x.scale,
            leaf: x.leaf,
            ttl,
            tg: x.tg,
            addr: x.addr,
          };
          if (hasAsid) fields.asid = asid;
          if (hasVmid) fields.vmid = vmid;
          const c = { name, ...fields } as unknown as Command;
          expect(slotHalves(x.slot)).toEqual(encodeHalves(c, checker));
          expect(slotHalves(x.slot)).toEqual(entryHalves(...refEncode(name, fields)));
          // The engine's fast path: h0 packed first (tlbiNumScaleBits), then the rest, into the other slot.
          const h0 = Opcode[name] | tlbiNumScaleBits(x.num, x.scale);
          writeTlbiRangeH0(q, 1 - x.slot, h0, asid, vmid, x.leaf, ttl, x.tg, x.addr);
          expect(slotHalves(1 - x.slot)).toEqual(slotHalves(x.slot));
          // The one-command batch: the same command from its halves, then writeSyncSev's CMD_SYNC.
          const pair = new Uint32Array(8).fill(0xdeadbeef);
          const h2 = tlbiRangeLowBits(x.leaf, ttl, x.tg);
          writeTlbiThenSyncSev(pair, 0, h0, tlbiTagBits(asid, vmid), h2, x.addr);
          const sev = new Uint32Array(4);
          writeSyncSev(sev, 0);
          expect([...pair]).toEqual([...slotHalves(x.slot), ...sev]);
        },
      ),
      { numRuns: 300 },
    );
  });

  const TAG: [CommandName, boolean, boolean][] = [
    ['TLBI_NH_ALL', false, true],
    ['TLBI_NH_ASID', true, true],
    ['TLBI_EL2_ASID', true, false],
    ['TLBI_S12_VMALL', false, true],
    ['TLBI_NSNH_ALL', false, false],
    ['TLBI_EL2_ALL', false, false],
    ['TLBI_EL3_ALL', false, false],
    ['CFGI_VMS_PIDM', false, true],
  ];
  it.each(TAG)('writeTlbiTag as %s', (name, hasAsid, hasVmid) => {
    fc.assert(
      fc.property(uintBits(16), uintBits(16), (a, v) => {
        const asid = hasAsid ? a : 0;
        const vmid = hasVmid ? v : 0;
        q.fill(0xdeadbeef);
        writeTlbiTag(q, 1, Opcode[name], asid, vmid);
        const fields: Record<string, number> = {};
        if (hasAsid) fields.asid = asid;
        if (hasVmid) fields.vmid = vmid;
        expect(slotHalves(1)).toEqual(encodeHalves({ name, ...fields } as unknown as Command, checker));
        expect(slotHalves(1)).toEqual(entryHalves(...refEncode(name, fields)));
      }),
      { numRuns: 200 },
    );
  });

  it('writeAtcInv (SSV set exactly when SSID ≠ 0, Global 0)', () => {
    fc.assert(
      fc.property(
        uintBits(32),
        uintBits(20),
        fc.integer({ min: 0, max: 52 }),
        address(12, 63),
        (sid, ssid, size, addr) => {
          q.fill(0xffffffff);
          writeAtcInv(q, 0, sid, ssid, size, addr);
          const fields = { global: 0, ssv: ssid !== 0 ? 1 : 0, ssid, sid, size, addr };
          expect(slotHalves(0)).toEqual(encodeHalves({ name: 'ATC_INV', ...fields }, checker));
          expect(slotHalves(0)).toEqual(entryHalves(...refEncode('ATC_INV', fields)));
        },
      ),
      { numRuns: 300 },
    );
  });

  it('writeSync and writeSyncSev', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 2 }),
        uintBits(2),
        uintBits(4),
        uintBits(32),
        address(2, 51),
        (cs, msh, msiattr, msidata, msiaddr) => {
          writeSync(q, 1, cs, msh, msiattr, msidata, msiaddr);
          const fields = { cs, msh, msiattr, msidata, msiaddr };
          expect(slotHalves(1)).toEqual(encodeHalves({ name: 'CMD_SYNC', ...fields }, checker));
          expect(slotHalves(1)).toEqual(entryHalves(...refEncode('CMD_SYNC', fields)));
        },
      ),
      { numRuns: 300 },
    );
    q.fill(0xffffffff);
    writeSyncSev(q, 0);
    // The Linux SEV form, as in the real sample ring: 0x000000000fc02046 0x0.
    expect(slotHalves(0)).toEqual([0x0fc02046, 0, 0, 0]);
    expect(slotHalves(0)).toEqual(
      encodeHalves({ name: 'CMD_SYNC', cs: 2, msh: 3, msiattr: 15, msidata: 0, msiaddr: 0 }),
    );
  });

  it('copyEntry copies one 16-byte slot', () => {
    const src = Uint32Array.from([1, 2, 3, 4, 5, 6, 7, 8]);
    const dst = new Uint32Array(12);
    copyEntry(src, 1, dst, 2);
    expect([...dst]).toEqual([0, 0, 0, 0, 0, 0, 0, 0, 5, 6, 7, 8]);
  });
});

describe('features from ID registers', () => {
  it('reads the sample SMMU (QEMU 7.2: IDR0 0x0d40101a, IDR3 0x1404) as worked out by hand', () => {
    // IDR0 0x0d40101a = bits 1 (S1P), 3 (TTF=0b10 AArch64), 4 (COHACC), 12 (ASID16), 22 (TTENDIAN=0b10),
    // 24 (STALL_MODEL=0b01), 26 (TERM_MODEL), 27 (ST_LEVEL=0b01); no S2P, so no VMID16 either. IDR3 0x1404 = bits 2 (HAD), 10 (RIL), 12 (BBML=0b10).
    const f = featuresFromIdRegs({ idr0: 0x0d40101a, idr3: 0x1404 });
    expect(f).toEqual({
      stage1: true,
      stage2: false,
      ats: false,
      pri: false,
      hyp: false,
      ril: true,
      stallModel: 1,
      mpam: false,
      ds: false,
      asid16: true,
      vmid16: false,
      // Not in any ID register: IHI 0070 4.5.1 leaves it to the implementation; the default is CERROR_ILL.
      atcSizeAbove52: 'illegal',
    });
  });

  it('reads each legality bit from its own position', () => {
    const one = (idr0: number) => featuresFromIdRegs({ idr0 });
    expect(one(1 << 0).stage2).toBe(true);
    expect(one(1 << 1).stage1).toBe(true);
    expect(one(1 << 9).hyp).toBe(true);
    expect(one(1 << 10).ats).toBe(true);
    expect(one(1 << 12).asid16).toBe(true);
    expect(one(1 << 16).pri).toBe(true);
    expect(one(1 << 18).vmid16).toBe(true);
    expect(one(0).stallModel).toBe(0);
    expect(one(2 << 24).stallModel).toBe(2);
    expect(one(3 << 24).stallModel).toBe(1); // 0b11 reserved: treated as no stalls
    expect(featuresFromIdRegs({ idr3: 1 << 7 }).mpam).toBe(true);
    expect(featuresFromIdRegs({ idr3: 0 }).ril).toBe(false);
    // IHI 0070 6.3.6: IDR5.DS is bit 7 (bit 3 is RES0, D128 is bit 8).
    expect(featuresFromIdRegs({ idr5: 1 << 7 }).ds).toBe(true);
    expect(featuresFromIdRegs({ idr5: (1 << 3) | (1 << 8) }).ds).toBe(false);
  });
});
