/**
 * Building blocks shared by the schema definitions (src/schema/defs/*.ts). Only scripts/schemas.ts reads
 * the definitions: the CLI loads the validators compiled from them (src/schema/generated/), never ajv.
 *
 * `description` on a sub-schema is the phrase "expected …" of the usage error for a value that fails it,
 * so it is written as a noun phrase.
 */

/** JSON Schema dialect of every schema. */
export const DIALECT = 'https://json-schema.org/draft/2020-12/schema';

/** The `$id` of schema `name` (a URN: no host is implied). */
export function schemaId(name: string): string {
  return `urn:smmuv3-tlbi:schema:${name}`;
}

/** A 0x hex string of up to `digits` significant hex digits (leading zeros allowed). */
export function hexString(digits: number): Record<string, unknown> {
  return { type: 'string', pattern: `^0[xX]0*[0-9a-fA-F]{1,${digits}}$` };
}

/** A register value of `bits` bits: a 0x hex string or a JSON number (decimal). */
export function registerValue(bits: 32 | 64): Record<string, unknown> {
  const max = bits === 32 ? 0xffffffff : Number.MAX_SAFE_INTEGER;
  return {
    description:
      bits === 32
        ? 'a 32-bit value: a "0x…" hex string of at most 8 digits, or a JSON number from 0 to 4294967295'
        : 'a 64-bit value: a "0x…" hex string of at most 16 digits, or a JSON number from 0 to 2^53 - 1',
    anyOf: [{ type: 'integer', minimum: 0, maximum: max }, hexString(bits / 4)],
  };
}
