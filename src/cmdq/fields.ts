/**
 * Field accessors for readers of raw entries (the audit, which works on streams of halves rather than typed
 * commands): read one field of the entry in a slot of a u32 view, or place a value into its half. Every
 * position and width comes from OPCODE_SPECS (opcodes.ts), looked up once when this module loads; nothing
 * here writes a bit position of its own.
 */
import { TWO_POW_32 } from '../bits.js';
import { OPCODE_SPECS, type BitField, type CommandName, type FieldName } from './opcodes.js';

/** Where a field sits: its half (0–3), its lowest bit in that half and the mask of its width. */
export interface FieldPlace {
  readonly half: number;
  readonly lsb: number;
  readonly mask: number;
}

function place(command: CommandName, name: FieldName): FieldPlace {
  const f: BitField | undefined = OPCODE_SPECS[command].fields.find((x) => x.name === name);
  if (f === undefined) throw new Error(`${command} has no field ${name}`);
  return { half: f.half, lsb: f.lsb, mask: f.width === 32 ? 0xffffffff : 2 ** f.width - 1 };
}

/** The opcode, bits [7:0] of every entry (the architecture's one field common to all commands). */
export const OPCODE_FIELD: FieldPlace = { half: 0, lsb: 0, mask: 0xff };

/** The fields of a range-capable TLBI (the same place in every one of them: NH_VA lists them all). */
export const TLBI_NUM = place('TLBI_NH_VA', 'num');
export const TLBI_SCALE = place('TLBI_NH_VA', 'scale');
export const TLBI_ASID = place('TLBI_NH_VA', 'asid');
export const TLBI_VMID = place('TLBI_NH_VA', 'vmid');
export const TLBI_LEAF = place('TLBI_NH_VA', 'leaf');
export const TLBI_TTL = place('TLBI_NH_VA', 'ttl');
export const TLBI_TG = place('TLBI_NH_VA', 'tg');

/** The fields of CMD_SYNC. */
export const SYNC_CS = place('CMD_SYNC', 'cs');
export const SYNC_MSIDATA = place('CMD_SYNC', 'msidata');

const MSIADDR = OPCODE_SPECS.CMD_SYNC.addr!;
/** The bits of MSIAddr in h2 (bits [31:lsb]) and in h3 (bits [msb:32]). */
const MSIADDR_LO_MASK = (0xffffffff - (2 ** MSIADDR.lsb - 1)) >>> 0;
const MSIADDR_HI_MASK = 2 ** (MSIADDR.msb + 1 - 32) - 1;

/** Field `f` of the entry in `slot` of a little-endian u32 view (4 halves per entry). */
export function fieldAt(u32: Uint32Array, slot: number, f: FieldPlace): number {
  return ((u32[slot * 4 + f.half]! >>> f.lsb) & f.mask) >>> 0;
}

/** Field `f` of a half that holds it. */
export function fieldOf(half: number, f: FieldPlace): number {
  return ((half >>> f.lsb) & f.mask) >>> 0;
}

/** The opcode of the entry in `slot`. */
export function opcodeAt(u32: Uint32Array, slot: number): number {
  return u32[slot * 4]! & OPCODE_FIELD.mask;
}

/**
 * `value` placed in field `f`'s bits of its half (bits of `value` above the field's width dropped), as an
 * unsigned 32-bit number to OR into that half.
 */
export function fieldBits(f: FieldPlace, value: number): number {
  return ((value & f.mask) << f.lsb) >>> 0;
}

/** The MSIAddr of a CMD_SYNC given its halves h2 and h3 (bits outside MSIAddr ignored). */
export function syncMsiAddr(h2: number, h3: number): number {
  return (h3 & MSIADDR_HI_MASK) * TWO_POW_32 + ((h2 & MSIADDR_LO_MASK) >>> 0);
}
