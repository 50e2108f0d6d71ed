/**
 * The SMMUv3 command opcodes (Arm IHI 0070, chapter 4) and, for each, its fields: where they sit in the
 * 16-byte entry. This table is the one place that knows bit positions; the fast validator in `check.ts`
 * and the fast writers in `writers.ts` are checked against it by the tests.
 *
 * Halves: an entry is four little-endian 32-bit halves, h0 = w0[31:0], h1 = w0[63:32], h2 = w1[31:0],
 * h3 = w1[63:32].
 */

export const Opcode = {
  PREFETCH_CONFIG: 0x01,
  PREFETCH_ADDR: 0x02,
  CFGI_STE: 0x03,
  CFGI_STE_RANGE: 0x04,
  CFGI_CD: 0x05,
  CFGI_CD_ALL: 0x06,
  CFGI_VMS_PIDM: 0x07,
  TLBI_NH_ALL: 0x10,
  TLBI_NH_ASID: 0x11,
  TLBI_NH_VA: 0x12,
  TLBI_NH_VAA: 0x13,
  TLBI_EL3_ALL: 0x18,
  TLBI_EL3_VA: 0x1a,
  TLBI_EL2_ALL: 0x20,
  TLBI_EL2_ASID: 0x21,
  TLBI_EL2_VA: 0x22,
  TLBI_EL2_VAA: 0x23,
  TLBI_S12_VMALL: 0x28,
  TLBI_S2_IPA: 0x2a,
  TLBI_NSNH_ALL: 0x30,
  ATC_INV: 0x40,
  PRI_RESP: 0x41,
  RESUME: 0x44,
  STALL_TERM: 0x45,
  CMD_SYNC: 0x46,
} as const;

export type CommandName = keyof typeof Opcode;
export type OpcodeValue = (typeof Opcode)[CommandName];

export const COMMAND_NAMES = Object.keys(Opcode) as CommandName[];

/** Opcode value → name; undefined for reserved opcodes. */
export const OPCODE_NAME: ReadonlyArray<CommandName | undefined> = (() => {
  const t: (CommandName | undefined)[] = new Array<CommandName | undefined>(256).fill(undefined);
  for (const n of COMMAND_NAMES) t[Opcode[n]] = n;
  return t;
})();

/** Every field name a command can carry (lower case, the architecture's names). */
export type FieldName =
  | 'ssec'
  | 'ssv'
  | 'ssid'
  | 'sid'
  | 'size'
  | 'stride'
  | 'addr'
  | 'leaf'
  | 'range'
  | 'vmid'
  | 'asid'
  | 'num'
  | 'scale'
  | 'ttl'
  | 'tg'
  | 'global'
  | 'grpid'
  | 'resp'
  | 'stag'
  | 'cs'
  | 'msh'
  | 'msiattr'
  | 'msidata'
  | 'msiaddr';

/** A plain bit field inside one 32-bit half. */
export interface BitField {
  readonly name: FieldName;
  readonly half: 0 | 1 | 2 | 3;
  readonly lsb: number;
  readonly width: number;
}

/** An address field in w1 (byte address; bits below `lsb` are zero, bits above `msb` are RES0). */
export interface AddrField {
  readonly name: 'addr' | 'msiaddr';
  readonly lsb: number; // bit position inside w1
  readonly msb: number; // inclusive, inside w1
}

export interface OpcodeSpec {
  readonly name: CommandName;
  readonly opcode: number;
  readonly fields: readonly BitField[];
  readonly addr?: AddrField;
  /** True for the commands that take TG/TTL/NUM/SCALE (range-capable TLBIs). */
  readonly range: boolean;
  /** Width of the SCALE field when the SMMU has DS (6) — the top bit is RES0 otherwise. */
}

const f = (name: FieldName, half: 0 | 1 | 2 | 3, lsb: number, width: number): BitField => ({ name, half, lsb, width });

// Common fields.
const SSEC = f('ssec', 0, 10, 1);
const SSV = f('ssv', 0, 11, 1);
const SSID = f('ssid', 0, 12, 20);
const SID = f('sid', 1, 0, 32);
const VMID = f('vmid', 1, 0, 16);
const ASID = f('asid', 1, 16, 16);
const NUM = f('num', 0, 12, 5);
/** SCALE is w0[25:20] with DS, w0[24:20] otherwise (bit 25 then RES0); the table lists the full 6 bits. */
const SCALE = f('scale', 0, 20, 6);
const LEAF = f('leaf', 2, 0, 1);
const TTL = f('ttl', 2, 8, 2);
const TG = f('tg', 2, 10, 2);
const VA: AddrField = { name: 'addr', lsb: 12, msb: 63 };
const IPA: AddrField = { name: 'addr', lsb: 12, msb: 51 };

const RANGE_FIELDS = (w0: BitField[]): BitField[] => [...w0, LEAF, TTL, TG];

function spec(name: CommandName, fields: BitField[], extra: { addr?: AddrField; range?: boolean } = {}): OpcodeSpec {
  const s: OpcodeSpec = { name, opcode: Opcode[name], fields, range: extra.range ?? false };
  return extra.addr ? { ...s, addr: extra.addr } : s;
}

export const OPCODE_SPECS: Readonly<Record<CommandName, OpcodeSpec>> = {
  PREFETCH_CONFIG: spec('PREFETCH_CONFIG', [SSEC, SSV, SSID, SID]),
  // PREFETCH_ADDR: Size w1[4:0] and Addr w1[63:12] as Linux defines them; Stride w1[9:5] (SMMUv3.1+).
  // NS is RES0 on the Non-secure queue and is not modelled.
  PREFETCH_ADDR: spec('PREFETCH_ADDR', [SSEC, SSV, SSID, SID, f('size', 2, 0, 5), f('stride', 2, 5, 5)], { addr: VA }),
  CFGI_STE: spec('CFGI_STE', [SSEC, SID, LEAF]),
  CFGI_STE_RANGE: spec('CFGI_STE_RANGE', [SSEC, SID, f('range', 2, 0, 5)]),
  CFGI_CD: spec('CFGI_CD', [SSEC, SSID, SID, LEAF]),
  CFGI_CD_ALL: spec('CFGI_CD_ALL', [SSEC, SID]),
  CFGI_VMS_PIDM: spec('CFGI_VMS_PIDM', [SSEC, VMID]),
  TLBI_NH_ALL: spec('TLBI_NH_ALL', [VMID]),
  TLBI_NH_ASID: spec('TLBI_NH_ASID', [VMID, ASID]),
  TLBI_NH_VA: spec('TLBI_NH_VA', RANGE_FIELDS([NUM, SCALE, VMID, ASID]), { addr: VA, range: true }),
  TLBI_NH_VAA: spec('TLBI_NH_VAA', RANGE_FIELDS([NUM, SCALE, VMID]), { addr: VA, range: true }),
  TLBI_EL3_ALL: spec('TLBI_EL3_ALL', []),
  TLBI_EL3_VA: spec('TLBI_EL3_VA', RANGE_FIELDS([NUM, SCALE]), { addr: VA, range: true }),
  TLBI_EL2_ALL: spec('TLBI_EL2_ALL', []),
  TLBI_EL2_ASID: spec('TLBI_EL2_ASID', [ASID]),
  TLBI_EL2_VA: spec('TLBI_EL2_VA', RANGE_FIELDS([NUM, SCALE, ASID]), { addr: VA, range: true }),
  TLBI_EL2_VAA: spec('TLBI_EL2_VAA', RANGE_FIELDS([NUM, SCALE]), { addr: VA, range: true }),
  TLBI_S12_VMALL: spec('TLBI_S12_VMALL', [VMID]),
  TLBI_S2_IPA: spec('TLBI_S2_IPA', RANGE_FIELDS([NUM, SCALE, VMID]), { addr: IPA, range: true }),
  TLBI_NSNH_ALL: spec('TLBI_NSNH_ALL', []),
  ATC_INV: spec('ATC_INV', [f('global', 0, 9, 1), SSV, SSID, SID, f('size', 2, 0, 6)], { addr: VA }),
  PRI_RESP: spec('PRI_RESP', [SSV, SSID, SID, f('grpid', 2, 0, 9), f('resp', 2, 12, 2)]),
  RESUME: spec('RESUME', [SSEC, f('resp', 0, 12, 2), SID, f('stag', 2, 0, 16)]),
  STALL_TERM: spec('STALL_TERM', [SSEC, SID]),
  CMD_SYNC: spec('CMD_SYNC', [f('cs', 0, 12, 2), f('msh', 0, 22, 2), f('msiattr', 0, 24, 4), f('msidata', 1, 0, 32)], {
    addr: { name: 'msiaddr', lsb: 2, msb: 51 },
  }),
};

/** The field names of a command, in table order (addr last). */
export function fieldNames(name: CommandName): FieldName[] {
  const s = OPCODE_SPECS[name];
  const names: FieldName[] = s.fields.map((x) => x.name);
  if (s.addr) names.push(s.addr.name);
  return names;
}

/** CMD_SYNC CS values. */
export const SyncCs = { NONE: 0, IRQ: 1, SEV: 2 } as const;

/** ATC_INV Size that covers the whole address space. */
export const ATC_INV_SIZE_ALL = 52;

/** CFGI_STE_RANGE Range that covers every StreamID ("CFGI_ALL"). */
export const CFGI_RANGE_ALL = 31;
