/**
 * An independent, deliberately slow reference for the command layout, used by the codec tests as the oracle:
 * field positions written down again, in 64-bit word terms (w0 = bits [63:0], w1 = bits [127:64]), straight
 * from the field list, IHI 0070 chapter 4 and Linux's CMDQ_* field masks — not derived from
 * src/cmdq/opcodes.ts. Words are BigInts, so there is no 32-bit arithmetic to get wrong.
 */

/** [field, word, lsb, width]: a plain field of `width` bits at w<word>[lsb+width-1:lsb]. */
export type RefField = readonly [name: string, word: 0 | 1, lsb: number, width: number];

export interface RefCommand {
  readonly opcode: number;
  readonly fields: readonly RefField[];
  /** A byte address held in w1[msb:lsb] (bits below lsb are zero in the address). */
  readonly addr?: { readonly name: 'addr' | 'msiaddr'; readonly lsb: number; readonly msb: number };
}

const SSEC: RefField = ['ssec', 0, 10, 1];
const SSV: RefField = ['ssv', 0, 11, 1];
const SSID: RefField = ['ssid', 0, 12, 20];
const SID: RefField = ['sid', 0, 32, 32];
const VMID: RefField = ['vmid', 0, 32, 16];
const ASID: RefField = ['asid', 0, 48, 16];
const NUM: RefField = ['num', 0, 12, 5];
const SCALE: RefField = ['scale', 0, 20, 6];
const LEAF: RefField = ['leaf', 1, 0, 1];
const TTL: RefField = ['ttl', 1, 8, 2];
const TG: RefField = ['tg', 1, 10, 2];
const VA = { name: 'addr', lsb: 12, msb: 63 } as const;
const IPA = { name: 'addr', lsb: 12, msb: 51 } as const;

export const REF: Readonly<Record<string, RefCommand>> = {
  PREFETCH_CONFIG: { opcode: 0x01, fields: [SSEC, SSV, SSID, SID] },
  PREFETCH_ADDR: { opcode: 0x02, fields: [SSEC, SSV, SSID, SID, ['size', 1, 0, 5], ['stride', 1, 5, 5]], addr: VA },
  CFGI_STE: { opcode: 0x03, fields: [SSEC, SID, LEAF] },
  CFGI_STE_RANGE: { opcode: 0x04, fields: [SSEC, SID, ['range', 1, 0, 5]] },
  CFGI_CD: { opcode: 0x05, fields: [SSEC, SSID, SID, LEAF] },
  CFGI_CD_ALL: { opcode: 0x06, fields: [SSEC, SID] },
  CFGI_VMS_PIDM: { opcode: 0x07, fields: [SSEC, VMID] },
  TLBI_NH_ALL: { opcode: 0x10, fields: [VMID] },
  TLBI_NH_ASID: { opcode: 0x11, fields: [VMID, ASID] },
  TLBI_NH_VA: { opcode: 0x12, fields: [NUM, SCALE, VMID, ASID, LEAF, TTL, TG], addr: VA },
  TLBI_NH_VAA: { opcode: 0x13, fields: [NUM, SCALE, VMID, LEAF, TTL, TG], addr: VA },
  TLBI_EL3_ALL: { opcode: 0x18, fields: [] },
  TLBI_EL3_VA: { opcode: 0x1a, fields: [NUM, SCALE, LEAF, TTL, TG], addr: VA },
  TLBI_EL2_ALL: { opcode: 0x20, fields: [] },
  TLBI_EL2_ASID: { opcode: 0x21, fields: [ASID] },
  TLBI_EL2_VA: { opcode: 0x22, fields: [NUM, SCALE, ASID, LEAF, TTL, TG], addr: VA },
  TLBI_EL2_VAA: { opcode: 0x23, fields: [NUM, SCALE, LEAF, TTL, TG], addr: VA },
  TLBI_S12_VMALL: { opcode: 0x28, fields: [VMID] },
  TLBI_S2_IPA: { opcode: 0x2a, fields: [NUM, SCALE, VMID, LEAF, TTL, TG], addr: IPA },
  TLBI_NSNH_ALL: { opcode: 0x30, fields: [] },
  ATC_INV: { opcode: 0x40, fields: [['global', 0, 9, 1], SSV, SSID, SID, ['size', 1, 0, 6]], addr: VA },
  PRI_RESP: { opcode: 0x41, fields: [SSV, SSID, SID, ['grpid', 1, 0, 9], ['resp', 1, 12, 2]] },
  RESUME: { opcode: 0x44, fields: [SSEC, ['resp', 0, 12, 2], SID, ['stag', 1, 0, 16]] },
  STALL_TERM: { opcode: 0x45, fields: [SSEC, SID] },
  CMD_SYNC: {
    opcode: 0x46,
    fields: [
      ['cs', 0, 12, 2],
      ['msh', 0, 22, 2],
      ['msiattr', 0, 24, 4],
      ['msidata', 0, 32, 32],
    ],
    addr: { name: 'msiaddr', lsb: 2, msb: 51 },
  },
};

export const REF_NAMES = Object.keys(REF);

/** All field names of a command in the reference (addr last). */
export function refFieldNames(name: string): string[] {
  const r = REF[name]!;
  return [...r.fields.map((f) => f[0]), ...(r.addr ? [r.addr.name] : [])];
}

const mask = (width: number): bigint => (1n << BigInt(width)) - 1n;

/** The words of a command from its field values (numbers or bigints); throws when a value does not fit. */
export function refEncode(name: string, fields: Readonly<Record<string, number | bigint | string>>): [bigint, bigint] {
  const r = REF[name];
  if (!r) throw new Error(`reference: unknown command ${name}`);
  const w: [bigint, bigint] = [BigInt(r.opcode), 0n];
  for (const [f, word, lsb, width] of r.fields) {
    const v = BigInt(fields[f] ?? 0);
    if (v < 0n || v > mask(width)) throw new Error(`reference: ${name}.${f}=${v} does not fit ${width} bits`);
    w[word] |= v << BigInt(lsb);
  }
  if (r.addr) {
    const v = BigInt(fields[r.addr.name] ?? 0);
    if (v < 0n || v >= 1n << BigInt(r.addr.msb + 1) || (v & mask(r.addr.lsb)) !== 0n)
      throw new Error(`reference: ${name}.${r.addr.name}=0x${v.toString(16)} is not encodable`);
    w[1] |= v;
  }
  return w;
}

/** Field values from the words (no legality judgement), as bigints. */
export function refDecode(w0: bigint, w1: bigint): { name: string; fields: Record<string, bigint> } | null {
  const op = Number(w0 & 0xffn);
  const name = REF_NAMES.find((n) => REF[n]!.opcode === op);
  if (name === undefined) return null;
  const r = REF[name]!;
  const w = [w0, w1];
  const fields: Record<string, bigint> = {};
  for (const [f, word, lsb, width] of r.fields) fields[f] = (w[word]! >> BigInt(lsb)) & mask(width);
  if (r.addr) fields[r.addr.name] = w1 & (mask(r.addr.msb + 1) ^ mask(r.addr.lsb));
  return { name, fields };
}

/** The bits of [w0, w1] that some field of the command (or the opcode) defines. */
export function refDefinedMask(name: string): [bigint, bigint] {
  const r = REF[name]!;
  const m: [bigint, bigint] = [0xffn, 0n];
  for (const [, word, lsb, width] of r.fields) m[word] |= mask(width) << BigInt(lsb);
  if (r.addr) m[1] |= mask(r.addr.msb + 1) ^ mask(r.addr.lsb);
  return m;
}

/** 64-bit word → its two 32-bit halves [lo, hi]. */
export function halvesOf(w: bigint): [number, number] {
  return [Number(w & 0xffffffffn), Number((w >> 32n) & 0xffffffffn)];
}

/** The four halves [h0, h1, h2, h3] of an entry. */
export function entryHalves(w0: bigint, w1: bigint): [number, number, number, number] {
  return [...halvesOf(w0), ...halvesOf(w1)];
}

/** Halves back to words. */
export function wordsOf(h0: number, h1: number, h2: number, h3: number): [bigint, bigint] {
  return [(BigInt(h1 >>> 0) << 32n) | BigInt(h0 >>> 0), (BigInt(h3 >>> 0) << 32n) | BigInt(h2 >>> 0)];
}

export const hex16 = (w: bigint): string => '0x' + w.toString(16).padStart(16, '0');
