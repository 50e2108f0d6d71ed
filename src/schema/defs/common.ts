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

// ---- building blocks of the output schemas (src/schema/defs/*-output.ts: what `--json` prints) ----

/** A non-negative integer. */
export const count = { type: 'integer', minimum: 0 } as const;

/** A 64-bit word as the CLI prints it: "0x" and 16 hex digits. */
export const word64 = { type: 'string', pattern: '^0x[0-9a-f]{16}$' } as const;

/** An object with exactly these properties, all required but those named optional. */
export function exact(
  properties: Record<string, unknown>,
  optional: readonly string[] = [],
  description?: string,
): Record<string, unknown> {
  return {
    ...(description !== undefined ? { description } : {}),
    type: 'object',
    properties,
    required: Object.keys(properties).filter((k) => !optional.includes(k)),
    additionalProperties: false,
  };
}

/** An object whose values are all of one schema (counts by name, fields by name). */
export function mapOf(values: Record<string, unknown>): Record<string, unknown> {
  return { type: 'object', additionalProperties: values };
}

/** One value, or JSON null. */
export function orNull(s: Record<string, unknown>): Record<string, unknown> {
  return { anyOf: [s, { type: 'null' }] };
}

/** A command's fields as printed: numbers, or strings for addresses and named values. */
export const commandFields = mapOf({ anyOf: [{ type: 'integer' }, { type: 'string' }, { type: 'boolean' }] });

/**
 * Why a streamed document ended early: the run failed (a read error late in a stream) after part of the
 * document was on stdout, so the writer closed it with this member in place of the rest.
 */
export const runFailureFields = {
  exitCode: { enum: [2, 3], description: '2: unusable input or output (a usage error); 3: internal error' },
  message: { type: 'string', description: 'the message printed on stderr, without "error: "' },
};
export const runFailure = exact(runFailureFields, [], 'how the run failed after part of the document was written');
