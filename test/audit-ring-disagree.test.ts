/**
 * Issue 18 item 4 (audit's zero-slot rule): registers that say slots were written which the ring holds as
 * never written (all zero) are a usage error, "the registers and the ring disagree" (red-team R05: a wrap bit
 * on the real 6.1 ring gave 47,739 illegal findings); a dump with no command at all says so (F42: it exited 0
 * with "0 entries"). Each case has its clean twin. The zero-slot counts are taken by a plain scan of the bytes
 * here, not from the reader.
 */
import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { AuditInputError, readRing, WrittenSlotReader, AuditStream } from '../src/audit/index.js';

const ring = new Uint8Array(
  gunzipSync(readFileSync(new URL('../samples/linux-6.1-qemu-7.2-strict/cmdq.bin.gz', import.meta.url))),
);
const regs = JSON.parse(
  readFileSync(new URL('../samples/linux-6.1-qemu-7.2-strict/cmdq.json', import.meta.url), 'utf8'),
) as Record<string, string | number>;
const prod = Number(regs.CMDQ_PROD);

function zeroSlots(bytes: Uint8Array): number {
  let z = 0;
  for (let s = 0; s < bytes.length; s += 16) if (bytes.subarray(s, s + 16).every((b) => b === 0)) z++;
  return z;
}

function message(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(AuditInputError);
    return (e as Error).message;
  }
  throw new Error('expected an AuditInputError');
}

describe('the registers and the ring disagree', () => {
  it('R05: the wrap bit set on a ring with never-written slots; the real registers read it', () => {
    const zeros = zeroSlots(ring);
    expect(zeros).toBe(65536 - prod); // the sample never wrapped: slots from PROD on were never written
    const m = message(() => readRing(ring, { prod: prod | 0x10000, cons: prod | 0x10000, log2size: 16 }));
    expect(m).toMatch(
      /^--prod: the registers and the ring disagree: CMDQ_PROD 0x14585 has its wrap bit \(bit 16\) set/,
    );
    expect(m).toContain(`but ${zeros} of them are all zero`);
    const twin = readRing(ring, { prod, cons: prod, log2size: 16 });
    expect(twin.count).toBe(prod);
  });

  it('registers saying entries were written over an all-zero ring; the same ring with PROD 0 is just empty', () => {
    const zero = new Uint8Array(16 * 256);
    expect(message(() => readRing(zero, { prod: 0x10, log2size: 8 }))).toMatch(
      /^--prod: the registers and the ring disagree: CMDQ_PROD 0x10 says 16 entries were written, but all of them are zero/,
    );
    const twin = readRing(zero, { prod: 0, cons: 0, log2size: 8 });
    expect(twin.count).toBe(0);
  });

  it('a wrapped ring whose every slot is written reads all of them, oldest first', () => {
    const full = ring.slice();
    // Fill the never-written slots with copies of written ones: the ring as it would be after wrapping.
    for (let s = prod; s < 65536; s++) full.set(ring.subarray((s % prod) * 16, (s % prod) * 16 + 16), s * 16);
    expect(zeroSlots(full)).toBe(0);
    const st = readRing(full, { prod: prod | 0x10000, cons: prod | 0x10000, log2size: 16 });
    expect(st.count).toBe(65536);
    expect(st.ring?.wrapped).toBe(true);
  });
});

describe('a dump that holds no command', () => {
  it('F42: all-zero dump without registers is refused saying so; one written slot makes it a dump of one entry', () => {
    for (const n of [1, 16, 4096]) {
      const zero = new Uint8Array(16 * n);
      expect(message(() => readRing(zero))).toMatch(/^byte offset 0: the dump holds no command/);
      const r = new WrittenSlotReader(new AuditStream('dump', 1), n);
      r.push(new Uint32Array(zero.buffer));
      expect(() => r.end()).toThrow(/holds no command/);
      const one = zero.slice();
      one.set(ring.subarray(0, 16), 16 * (n - 1));
      expect(readRing(one).count).toBe(1);
    }
  });
});
