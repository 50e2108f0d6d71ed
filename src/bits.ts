/**
 * Arithmetic on integers wider than 32 bits without BigInt.
 *
 * JavaScript's bitwise operators work on 32-bit signed integers, so addresses (up to 52 bits, or 64-bit
 * values whose low 12 bits are zero) are kept as plain `number`s and manipulated with `*`, `/` and
 * `Math.floor`; 64-bit words are kept as two unsigned 32-bit halves. Every function here is exact for the
 * documented input range.
 */

/** 2^32 as a number. */
export const TWO_POW_32 = 4294967296;

/** Largest integer n such that every integer in [0, n] is exactly representable. */
export const MAX_SAFE = Number.MAX_SAFE_INTEGER;

/** Low 32 bits of a non-negative integer (exact when the value itself is exactly representable). */
export function lo32(x: number): number {
  return (x % TWO_POW_32) >>> 0;
}

/** Bits [63:32] of a non-negative integer below 2^64. */
export function hi32(x: number): number {
  return Math.floor(x / TWO_POW_32) >>> 0;
}

/** Join two unsigned 32-bit halves into one number (exact below 2^53, or when the low bits are zero). */
export function join64(lo: number, hi: number): number {
  return hi * TWO_POW_32 + (lo >>> 0);
}

/** Count trailing zeros of a positive integer below 2^53; returns 53 for 0. */
export function ctz53(x: number): number {
  if (x === 0) return 53;
  const lo = x % TWO_POW_32;
  if (lo !== 0) return 31 - Math.clz32(lo & -lo);
  const hi = Math.floor(x / TWO_POW_32);
  return 32 + 31 - Math.clz32(hi & -hi);
}

/** Bit length (fls): index of the highest set bit plus one; 0 for 0. Exact for integers below 2^53. */
export function bitLength53(x: number): number {
  if (x < TWO_POW_32) return 32 - Math.clz32(x);
  return 64 - Math.clz32(Math.floor(x / TWO_POW_32));
}

/** 2^n for 0 <= n <= 1023, exactly. */
export function pow2(n: number): number {
  return 2 ** n;
}

/** True when x is a non-negative integer multiple of 2^n (x below 2^64). */
export function isAligned(x: number, n: number): boolean {
  return x % 2 ** n === 0;
}

/**
 * x mod m for a non-negative x below 2^53 and m > 0, as floor-multiply: exact for a power-of-two m (and any
 * m while the quotient stays exact), and unlike `%` on values above 2^31 it needs no call to C's fmod.
 */
export function modFloor(x: number, m: number): number {
  return x - Math.floor(x / m) * m;
}

/** Round x down to a multiple of 2^n. */
export function alignDown(x: number, n: number): number {
  const a = 2 ** n;
  return x - (x % a);
}

/** log2 of an exact power of two, or -1 when x is not one. */
export function log2Exact(x: number): number {
  if (!(x > 0) || !Number.isInteger(x)) return -1;
  const n = ctz53(x);
  return 2 ** n === x ? n : -1;
}

/** XOR of two non-negative integers below 2^53 (exact). */
export function xor53(a: number, b: number): number {
  const lo = ((a % TWO_POW_32) ^ (b % TWO_POW_32)) >>> 0;
  const hi = (Math.floor(a / TWO_POW_32) ^ Math.floor(b / TWO_POW_32)) >>> 0;
  return hi * TWO_POW_32 + lo;
}

/** `0x`-prefixed lower-case hex of a 64-bit word given as halves, zero-padded to 16 digits. */
export function hex64(lo: number, hi: number): string {
  return '0x' + (hi >>> 0).toString(16).padStart(8, '0') + (lo >>> 0).toString(16).padStart(8, '0');
}

/** `0x`-prefixed hex of a non-negative integer (exact when the number is). */
export function hexAddr(x: number): string {
  if (x < TWO_POW_32) return '0x' + x.toString(16);
  const hi = Math.floor(x / TWO_POW_32);
  const lo = x - hi * TWO_POW_32;
  return '0x' + hi.toString(16) + lo.toString(16).padStart(8, '0');
}
