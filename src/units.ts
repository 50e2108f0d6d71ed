/**
 * Unit facts, and only those: translation granule ↔ TG code, the span of one descriptor at a level, log2 of
 * a power-of-two size. The one home for them (engine, model, audit, page tables and the page import them
 * from here; test/units-home.test.ts fails when a copy appears elsewhere). What a command *means* — the
 * span it invalidates — is not a unit fact: the engine (src/tlbi) and the judge (src/smmu) each compute it on
 * purpose (docs/architecture.md). Values in log2 carry the suffix Log2 (docs/architecture.md, glossary).
 */

/** The TG field of a translation granule of 2^granuleLog2 bytes: 4K (12) → 1, 16K (14) → 2, 64K (16) → 3. */
export function tgOfGranuleLog2(granuleLog2: number): number {
  return (granuleLog2 - 10) >> 1;
}

/** log2 of the translation granule a TG field names: 1 → 12 (4K), 2 → 14 (16K), 3 → 16 (64K). TG 0 names none. */
export function granuleLog2OfTg(tg: number): number {
  return 10 + 2 * tg;
}

/**
 * log2 of the bytes one descriptor at `level` maps in a table of 2^granuleLog2-byte pages: each level above
 * 3 resolves granuleLog2 − 3 more bits (4K: level 3 → 12, 2 → 21, 1 → 30, 0 → 39).
 */
export function levelShift(granuleLog2: number, level: number): number {
  return granuleLog2 + (3 - level) * (granuleLog2 - 3);
}

/**
 * log2 of a power of two (a page, granule, block or ring size, up to 2^53); not meaningful for other values
 * (to test whether a value is one, use log2Exact in bits.ts).
 */
export function log2Of(x: number): number {
  return x <= 0x7fffffff ? 31 - Math.clz32(x) : Math.round(Math.log2(x));
}

/**
 * 2^n for n in [0, 64], as a table: a look-up is cheaper than `2 ** n` with a variable n on hot paths (the
 * model's walker and caches), and exact (every entry is a power of two).
 */
export const POW2: Readonly<Float64Array> = Float64Array.from({ length: 65 }, (_, n) => 2 ** n);
