import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { IntervalIndex, SortedBlocks } from '../src/smmu/interval.js';

interface Span {
  start: number;
  sizeLog2: number;
  id: number;
}

const op = fc.oneof(
  fc.record({
    kind: fc.constant('insert' as const),
    slot: fc.nat(3000),
    sizeLog2: fc.constantFrom(12, 14, 16, 21, 30),
  }),
  fc.record({ kind: fc.constant('remove' as const), pick: fc.nat() }),
  fc.record({ kind: fc.constant('query' as const), a: fc.nat(3000 * 4096), len: fc.nat(2 ** 31) }),
);

describe('IntervalIndex', () => {
  it('finds exactly the spans a linear scan finds (random inserts, removals, queries)', () => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 300 }), (ops) => {
        const idx = new IntervalIndex<Span>();
        const ref: Span[] = [];
        let id = 0;
        for (const o of ops) {
          if (o.kind === 'insert') {
            const span = 2 ** o.sizeLog2;
            const start = Math.floor((o.slot * 4096 * 7) / span) * span;
            const s = { start, sizeLog2: o.sizeLog2, id: id++ };
            idx.insert(start, o.sizeLog2, s);
            ref.push(s);
          } else if (o.kind === 'remove') {
            if (ref.length === 0) continue;
            const s = ref.splice(o.pick % ref.length, 1)[0]!;
            expect(idx.remove(s.start, s.sizeLog2, s)).toBe(true);
          } else {
            const first = o.a;
            const last = o.a + o.len;
            const got = idx
              .collect(first, last, [])
              .map((s) => s.id)
              .sort((x, y) => x - y);
            const want = ref
              .filter((s) => s.start <= last && s.start + 2 ** s.sizeLog2 - 1 >= first)
              .map((s) => s.id)
              .sort((x, y) => x - y);
            expect(got).toEqual(want);
            const hit = idx.find(first);
            const covering = ref.filter((s) => s.start <= first && first < s.start + 2 ** s.sizeLog2);
            if (covering.length === 0) expect(hit).toBeUndefined();
            else expect(covering).toContain(hit);
          }
          expect(idx.size).toBe(ref.length);
        }
      }),
      { numRuns: 150 },
    );
  });

  it('handles addresses above 2^32 and spans of 2^64', () => {
    const idx = new IntervalIndex<string>();
    idx.insert(0x7_ffff_f000, 12, 'page');
    idx.insert(0, 64, 'all');
    expect(idx.collect(0x7_ffff_f800, 0x8_0000_0000, []).sort()).toEqual(['all', 'page']);
    expect(idx.find(0x7_ffff_ffff)).toBe('page');
  });
});

describe('SortedBlocks', () => {
  it('keeps order across block splits and equal keys', () => {
    const sb = new SortedBlocks<number>();
    const keys: number[] = [];
    for (let i = 0; i < 5000; i++) {
      const k = (i * 7919) % 1013;
      sb.insert(k, i);
      keys.push(k);
    }
    const seen: number[] = [];
    sb.forEach((k) => seen.push(k));
    expect(seen).toEqual(keys.slice().sort((a, b) => a - b));
    expect(sb.remove(17, 999_999)).toBe(false);
    const vals: number[] = [];
    sb.range(500, 500, (_k, v) => {
      vals.push(v);
    });
    for (const v of vals) expect(sb.remove(500, v)).toBe(true);
    let left = 0;
    sb.range(500, 500, () => {
      left++;
    });
    expect(left).toBe(0);
    expect(sb.size).toBe(5000 - vals.length);
  });
});
