/**
 * Fast entry writers for trusted producers (the planner): no validation, no allocation. Each writes one
 * 16-byte entry into a little-endian u32 view. Bit positions are those of OPCODE_SPECS; the tests check
 * every writer against the validating encoder.
 */
import { TWO_POW_32 } from '../bits.js';
import { Opcode } from './opcodes.js';

/**
 * A range-capable TLBI (NH_VA, NH_VAA, EL2_VA, EL2_VAA, EL3_VA, S2_IPA): NUM and SCALE are the raw field
 * values (NUM = count − 1), `addr` a byte address with bits [11:0] zero, below 2^64.
 */
export function writeTlbiRange(
  q: Uint32Array,
  slot: number,
  opcode: number,
  asid: number,
  vmid: number,
  num: number,
  scale: number,
  leaf: number,
  ttl: number,
  tg: number,
  addr: number,
): void {
  const i = slot * 4;
  const hi = Math.floor(addr / TWO_POW_32);
  q[i] = opcode | (num << 12) | (scale << 20);
  q[i + 1] = (vmid | (asid << 16)) >>> 0;
  q[i + 2] = (leaf | (ttl << 8) | (tg << 10) | (addr - hi * TWO_POW_32)) >>> 0;
  q[i + 3] = hi;
}

/** A whole-tag TLBI: NH_ALL(vmid), NH_ASID(asid, vmid), EL2_ASID(asid), S12_VMALL(vmid), NSNH_ALL, EL2_ALL. */
export function writeTlbiTag(q: Uint32Array, slot: number, opcode: number, asid: number, vmid: number): void {
  const i = slot * 4;
  q[i] = opcode;
  q[i + 1] = (vmid | (asid << 16)) >>> 0;
  q[i + 2] = 0;
  q[i + 3] = 0;
}

/** ATC_INV(sid, ssid, size, addr): SSV is set when ssid ≠ 0; Global is 0. */
export function writeAtcInv(q: Uint32Array, slot: number, sid: number, ssid: number, size: number, addr: number): void {
  const i = slot * 4;
  const hi = Math.floor(addr / TWO_POW_32);
  q[i] = (Opcode.ATC_INV | (ssid !== 0 ? 1 << 11 : 0) | (ssid << 12)) >>> 0;
  q[i + 1] = sid >>> 0;
  q[i + 2] = (size | (addr - hi * TWO_POW_32)) >>> 0;
  q[i + 3] = hi;
}

/** CMD_SYNC(cs, msh, msiattr, msidata, msiaddr). */
export function writeSync(
  q: Uint32Array,
  slot: number,
  cs: number,
  msh: number,
  msiattr: number,
  msidata: number,
  msiaddr: number,
): void {
  const i = slot * 4;
  const hi = Math.floor(msiaddr / TWO_POW_32);
  q[i] = Opcode.CMD_SYNC | (cs << 12) | (msh << 22) | (msiattr << 24);
  q[i + 1] = msidata >>> 0;
  q[i + 2] = (msiaddr - hi * TWO_POW_32) >>> 0;
  q[i + 3] = hi;
}

/** The CMD_SYNC Linux issues without MSI polling: CS=SEV, MSH=Inner Shareable, MSIAttr=0xF, no MSI. */
export function writeSyncSev(q: Uint32Array, slot: number): void {
  writeSync(q, slot, 2, 3, 0xf, 0, 0);
}

/** Copy entry `from` of `src` to slot `to` of `dst`. */
export function copyEntry(src: Uint32Array, from: number, dst: Uint32Array, to: number): void {
  const a = from * 4;
  const b = to * 4;
  dst[b] = src[a]!;
  dst[b + 1] = src[a + 1]!;
  dst[b + 2] = src[a + 2]!;
  dst[b + 3] = src[a + 3]!;
}
