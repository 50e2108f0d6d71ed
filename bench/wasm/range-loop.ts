/**
 * AssemblyScript build of the engine's RIL range loop, for bench/wasm-range.ts only (the product keeps the
 * TypeScript path in src/tlbi/range.ts, which stays the reference). Compiled at bench time with
 * `asc bench/wasm/range-loop.ts -O3 --runtime stub`; not type-checked by tsc (it uses u64/usize/i32).
 *
 * Emits for one S1 request the same TLBI_NH_VA words as emitRilRange: w0 = opcode | (NUM << 12) |
 * (SCALE << 20) | (VMID << 32) | (ASID << 48), w1 = Leaf | (TTL << 8) | (TG << 10) | address, as 16-byte
 * little-endian slots (w2, w3 zero) in linear memory. SCALE is the lowest set bit of the remaining page
 * count, NUM + 1 the 5 bits from there; with TTL 0 a page count ending in 0b00001 gets one page more (no
 * SCALE = NUM = TTL = 0 command). A chunk whose SCALE would exceed the 5-bit field goes out at SCALE 31.
 * Size 0 is a whole-ASID TLBI_NH_ASID, as in the bench's likeForLike case.
 */

const NH_ASID: u64 = 0x11;
const NH_VA: u64 = 0x12;
const MAX_SCALE: u64 = 31;

/** Where the batch form leaves its results: [0] commands (u64), [8] checksum (u64). */
const RESULT: usize = 0;

/** Slots written for one request at `out`; returns the number of commands. */
function plan(out: usize, iova: u64, size: u64, pgShift: u32, asid: u64, vmid: u64, ttl: u64, leaf: u64): u32 {
  const tag: u64 = (vmid << 32) | (asid << 48);
  if (size == 0) {
    store<u64>(out, NH_ASID | tag);
    store<u64>(out, 0, 8);
    store<u64>(out, 0, 16);
    return 1;
  }
  const shift = <u64>pgShift;
  let pages: u64 = size >> shift;
  if (ttl == 0 && (pages & 31) == 1) pages++;
  const w0: u64 = NH_VA | tag;
  const w1: u64 = leaf | (ttl << 8) | ((<u64>((pgShift - 10) >> 1)) << 10);
  let addr = iova;
  let p = out;
  while (pages != 0) {
    let scale: u64 = ctz<u64>(pages);
    let num: u64;
    if (scale <= MAX_SCALE) {
      num = (pages >> scale) & 31;
    } else {
      scale = MAX_SCALE;
      num = pages >> MAX_SCALE;
      if (num > 31) num = 31;
    }
    store<u64>(p, w0 | ((num - 1) << 12) | (scale << 20));
    store<u64>(p, w1 | (addr & ~(<u64>0xfff)), 8);
    store<u64>(p, 0, 16);
    p += 16;
    pages -= num << scale;
    addr += num << (scale + shift);
  }
  return <u32>((p - out) >> 4);
}

/**
 * One request (the per-request call a planner would make): addresses and sizes as doubles (exact below
 * 2^53; JS passes numbers, no BigInt), slots written from `out`. Returns the number of commands.
 */
export function rangeOne(out: usize, iova: f64, size: f64, pgShift: u32, asid: u32, ttl: u32, leaf: u32): u32 {
  return plan(out, <u64>iova, <u64>size, pgShift, <u64>asid, 0, <u64>ttl, <u64>leaf);
}

/**
 * `n` requests in one call, from parallel arrays (iova and size f64, ttl and leaf u8), each planned into the
 * same slots at `out` (as bench/linux_loop.c reuses its buffer), with C's checksum: the sum mod 2^64 of the
 * last command's w1 XOR the first command's w0. Commands and checksum are left at RESULT.
 */
export function rangeBatch(
  out: usize,
  iovaP: usize,
  sizeP: usize,
  ttlP: usize,
  leafP: usize,
  n: i32,
  pgShift: u32,
  asid: u32,
): void {
  let cmds: u64 = 0;
  let sum: u64 = 0;
  const a = <u64>asid;
  for (let i = 0; i < n; i++) {
    const k = plan(
      out,
      <u64>load<f64>(iovaP + ((<usize>i) << 3)),
      <u64>load<f64>(sizeP + ((<usize>i) << 3)),
      pgShift,
      a,
      0,
      <u64>load<u8>(ttlP + <usize>i),
      <u64>load<u8>(leafP + <usize>i),
    );
    cmds += k;
    sum += load<u64>(out + ((<usize>k - 1) << 4), 8) ^ load<u64>(out);
  }
  store<u64>(RESULT, cmds);
  store<u64>(RESULT, sum, 8);
}
