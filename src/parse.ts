/**
 * Parsing of user-supplied numbers at the edges (CLI flags, JSON inputs, the web page): `0x` hex, decimal,
 * `_` separators and size suffixes (K, M, G, T = powers of 1024). Errors name the field.
 */

export class InputError extends Error {
  readonly field: string;
  constructor(field: string, message: string) {
    super(`${field}: ${message}`);
    this.name = 'InputError';
    this.field = field;
  }
}

const SUFFIX: Record<string, number> = { K: 2 ** 10, M: 2 ** 20, G: 2 ** 30, T: 2 ** 40, P: 2 ** 50 };

/**
 * Parse a non-negative integer. Accepts numbers (must be safe integers) and strings: `0x1f`, `4096`,
 * `0x8000_0000`, `4K`, `2M`, `1G`, `0x10K`. The result must be exactly representable: below 2^53, or a
 * multiple of 2^12 below 2^64 (a 64-bit address).
 */
export function parseUint(value: unknown, field: string): number {
  if (typeof value === 'number') {
    if (!Number.isInteger(value) || value < 0)
      throw new InputError(field, `expected a non-negative integer, got ${String(value)}`);
    // Above 2^53 the same rule as for text: a 4 KiB-aligned value below 2^64 is held exactly. The message
    // prints hex: the decimal form of such a double (18446744073709548000) is not the number it holds.
    if (!Number.isSafeInteger(value)) {
      const hex = `0x${value.toString(16)}`;
      if (value >= 2 ** 64) throw new InputError(field, `${hex} does not fit in 64 bits`);
      if (value % 4096 !== 0)
        throw new InputError(field, `${hex} is above 2^53 and not 4 KiB aligned, so it cannot be held exactly`);
    }
    return value;
  }
  if (typeof value === 'bigint') return fromBig(value, field, String(value));
  if (typeof value !== 'string') throw new InputError(field, `expected a number or a string, got ${typeof value}`);
  const raw = value.trim();
  const s = raw.replace(/_/g, '');
  const m = /^(0[xX][0-9a-fA-F]+|[0-9]+)([kKmMgGtTpP])?[bB]?$/.exec(s);
  if (!m)
    throw new InputError(field, `cannot parse ${JSON.stringify(raw)} (use 0x hex, decimal, or a size such as 4K, 2M)`);
  let big = BigInt(m[1]!);
  if (m[2]) big *= BigInt(SUFFIX[m[2].toUpperCase()]!);
  return fromBig(big, field, raw);
}

function fromBig(big: bigint, field: string, raw: string): number {
  if (big < 0n) throw new InputError(field, `must not be negative (${raw})`);
  if (big >= 1n << 64n) throw new InputError(field, `${raw} does not fit in 64 bits`);
  if (big > BigInt(Number.MAX_SAFE_INTEGER) && big % 4096n !== 0n)
    throw new InputError(field, `${raw} is above 2^53 and not 4 KiB aligned, so it cannot be held exactly`);
  return Number(big);
}

/** Bounds of a number: an inclusive range, or a set of allowed values. */
export interface UintBounds {
  readonly min?: number;
  readonly max?: number;
  /** Allowed values (then min/max are not used); `names` spells them in messages (4K, 16K, 64K). */
  readonly oneOf?: readonly number[];
  readonly names?: readonly string[];
}

/**
 * The one bounded number parser of the CLI (flags) and the JSON inputs: parseUint's syntax (0x hex,
 * decimal, `_`, size suffixes), then the bounds. Errors name the field and print what was written.
 */
export function parseUintIn(value: unknown, field: string, bounds: UintBounds): number {
  const v = parseUint(value, field);
  const shown = typeof value === 'string' ? JSON.stringify(value.trim()) : String(value);
  if (bounds.oneOf !== undefined) {
    if (!bounds.oneOf.includes(v))
      throw new InputError(field, `${shown} must be one of ${(bounds.names ?? bounds.oneOf.map(String)).join(', ')}`);
    return v;
  }
  const min = bounds.min ?? 0;
  if (v < min || (bounds.max !== undefined && v > bounds.max))
    throw new InputError(
      field,
      bounds.max === undefined
        ? `${shown} is out of range (at least ${min})`
        : `${shown} is out of range (${min} to ${bounds.max})`,
    );
  return v;
}

/** Parse an integer with an upper bound (inclusive). */
export function parseUintMax(value: unknown, field: string, max: number): number {
  const v = parseUint(value, field);
  if (v > max) throw new InputError(field, `${String(value)} is out of range (at most ${max})`);
  return v;
}

/** Parse a boolean from JSON or flags: true/false, 1/0, on/off, yes/no. */
export function parseBool(value: unknown, field: string): boolean {
  if (typeof value === 'boolean') return value;
  if (value === 1 || value === 0) return value === 1;
  if (typeof value === 'string') {
    const v = value.trim().toLowerCase();
    if (['true', '1', 'on', 'yes'].includes(v)) return true;
    if (['false', '0', 'off', 'no'].includes(v)) return false;
  }
  throw new InputError(field, `expected a boolean (true/false, on/off), got ${JSON.stringify(value)}`);
}

/** Parse one 64-bit hex word (`0x` optional, `_` allowed) into [lo, hi] halves. */
export function parseWord64(text: string, field: string): [number, number] {
  const s = text.trim().replace(/_/g, '');
  const m = /^(?:0[xX])?([0-9a-fA-F]{1,16})$/.exec(s);
  if (!m) throw new InputError(field, `${JSON.stringify(text)} is not a 64-bit hex word`);
  const hex = m[1]!.padStart(16, '0');
  return [parseInt(hex.slice(8), 16) >>> 0, parseInt(hex.slice(0, 8), 16) >>> 0];
}
