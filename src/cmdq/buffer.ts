/**
 * A growable array of 16-byte command entries, stored as hardware reads them: little-endian 32-bit halves in
 * one ArrayBuffer. Producers write with the functions of `writers.ts` at `reserve()`d slots.
 */

/** True when this host stores typed arrays little-endian (every platform Node and browsers run on today). */
export const HOST_LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

export class CommandBuffer {
  u32: Uint32Array;
  /** Entries written so far. */
  count = 0;

  constructor(capacity = 256) {
    this.u32 = new Uint32Array(Math.max(1, capacity) * 4);
  }

  get capacity(): number {
    return this.u32.length >>> 2;
  }

  /** Make room for `n` more entries and return the first free slot (does not advance `count`). */
  reserve(n: number): number {
    const need = (this.count + n) * 4;
    if (need > this.u32.length) {
      let cap = this.u32.length * 2;
      while (cap < need) cap *= 2;
      const next = new Uint32Array(cap);
      next.set(this.u32.subarray(0, this.count * 4));
      this.u32 = next;
    }
    return this.count;
  }

  clear(): void {
    this.count = 0;
  }

  /** The entries as little-endian bytes (a copy when the host is big-endian). */
  bytes(): Uint8Array {
    const n = this.count * 16;
    if (HOST_LITTLE_ENDIAN) return new Uint8Array(this.u32.buffer, this.u32.byteOffset, n);
    const out = new Uint8Array(n);
    const dv = new DataView(out.buffer);
    for (let k = 0; k < this.count * 4; k++) dv.setUint32(k * 4, this.u32[k]!, true);
    return out;
  }
}

/** Little-endian bytes (length a multiple of 16) → u32 halves, four per entry. */
export function halvesFromBytes(bytes: Uint8Array): Uint32Array {
  const n = bytes.length >>> 2;
  if (HOST_LITTLE_ENDIAN && bytes.byteOffset % 4 === 0) return new Uint32Array(bytes.buffer, bytes.byteOffset, n);
  const out = new Uint32Array(n);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  for (let k = 0; k < n; k++) out[k] = dv.getUint32(k * 4, true);
  return out;
}
