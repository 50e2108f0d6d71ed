/**
 * Fast entry writers for trusted producers (the planner): no validation, no allocation. Each writes one
 * 16-byte entry into a little-endian u32 view. Bit positions are those of OPCODE_SPECS; the tests check
 * every writer against the validating encoder.
 */
import { TWO_POW_32 } from '../bits.js';
import { Opcode } from './opcodes.js';

/** 2^32 and 2^-32 as this module's own constants (V8 folds them; an imported binding is read through a cell). */
const TWO_POW_32_LOCAL = 4294967296;
const TWO_POW_M32 = 1 / TWO_POW_32_LOCAL;

/**
 * The field groups of a TLBI's 32-bit halves, for producers that write the halves themselves (the engine's
 * range loop keeps h1 and h2 across the commands of one request). Small enough for V8 to inline.
 */

/** h0 without the opcode of a range TLBI: NUM (the raw field, count − 1) w0[16:12] and SCALE w0[25:20]. */
export function tlbiNumScaleBits(numField: number, scale: number): number {
  return (numField << 12) | (scale << 20);
}

/** h1 of a TLBI: VMID w0[47:32] and ASID w0[63:48] (an int32: store it into a u32 view). */
export function tlbiTagBits(asid: number, vmid: number): number {
  return vmid | (asid << 16);
}

/** h2 without the address of a range TLBI: Leaf w1[0], TTL w1[9:8] and TG w1[11:10]. */
export function tlbiRangeLowBits(leaf: number, ttl: number, tg: number): number {
  return leaf | (ttl << 8) | (tg << 10);
}

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
  q[i] = opcode | tlbiNumScaleBits(num, scale);
  q[i + 1] = tlbiTagBits(asid, vmid) >>> 0;
  q[i + 2] = (tlbiRangeLowBits(leaf, ttl, tg) | (addr - hi * TWO_POW_32)) >>> 0;
  q[i + 3] = hi;
}

/**
 * A range-capable TLBI whose h0 — opcode | tlbiNumScaleBits(NUM, SCALE) — the producer computed already (the
 * engine's one-command fast path decides NUM and SCALE before it has a slot). `tg` is the TG field.
 */
export function writeTlbiRangeH0(
  q: Uint32Array,
  slot: number,
  h0: number,
  asid: number,
  vmid: number,
  leaf: number,
  ttl: number,
  tg: number,
  addr: number,
): void {
  const i = slot << 2;
  const hi = Math.floor(addr * TWO_POW_M32);
  q[i] = h0;
  q[i + 1] = tlbiTagBits(asid, vmid);
  q[i + 2] = tlbiRangeLowBits(leaf, ttl, tg) | (addr - hi * TWO_POW_32_LOCAL);
  q[i + 3] = hi;
}

/**
 * A range-capable TLBI from its halves at `slot` — h0 (opcode | tlbiNumScaleBits), h1 (tlbiTagBits), h2 without
 * the address (tlbiRangeLowBits), `addr` (bits [11:0] zero) — and at `slot + 1` the CMD_SYNC of writeSyncSev:
 * the engine's one-command batch, in one small function.
 */
export function writeTlbiThenSyncSev(
  q: Uint32Array,
  slot: number,
  h0: number,
  h1: number,
  h2: number,
  addr: number,
): void {
  const i = slot << 2;
  const hi = Math.floor(addr * TWO_POW_M32);
  q[i] = h0;
  q[i + 1] = h1;
  q[i + 2] = h2 | (addr - hi * TWO_POW_32_LOCAL);
  q[i + 3] = hi;
  q[i + 4] = SYNC_SEV_H0;
  q[i + 5] = 0;
  q[i + 6] = 0;
  q[i + 7] = 0;
}

/** A whole-tag TLBI: NH_ALL(vmid), NH_ASID(asid, vmid), EL2_ASID(asid), S12_VMALL(vmid), NSNH_ALL, EL2_ALL. */
export function writeTlbiTag(q: Uint32Array, slot: number, opcode: number, asid: number, vmid: number): void {
  const i = slot * 4;
  q[i] = opcode;
  q[i + 1] = tlbiTagBits(asid, vmid) >>> 0;
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

/** Low half of writeSyncSev's command (its other halves are 0). */
const SYNC_SEV_H0 = (() => {
  const q = new Uint32Array(4);
  writeSyncSev(q, 0);
  return q[0]!;
})();

/** Copy entry `from` of `src` to slot `to` of `dst`. */
export function copyEntry(src: Uint32Array, from: number, dst: Uint32Array, to: number): void {
  const a = from * 4;
  const b = to * 4;
  dst[b] = src[a]!;
  dst[b + 1] = src[a + 1]!;
  dst[b + 2] = src[a + 2]!;
  dst[b + 3] = src[a + 3]!;
}
