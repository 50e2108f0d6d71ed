/**
 * Building blocks of the input schemas of `plan`, `encode` and `pgtable` (src/schema/defs/*-input.ts). A
 * number may be a JSON number or a string (`0x…` hex, decimal, `_` separators, size suffixes such as 4K):
 * the schema checks the JSON number's range and that a string is a string; the CLI's number parser
 * (src/parse.ts) reads the string once and checks its range. `title` on an enum names what an unknown value
 * is (`unknown type "S3"`); `description` is the "expected …" phrase of every other error.
 */

/** A non-negative integer up to `max` (a JSON number), or a string the number parser reads. */
export function uintValue(description: string, max: number = Number.MAX_SAFE_INTEGER): Record<string, unknown> {
  return { description, type: ['integer', 'string'], minimum: 0, maximum: max };
}

/** A flag: true/false, 1/0, or a string (true/false, on/off, yes/no, 1/0) the boolean parser reads. */
export function boolValue(description: string): Record<string, unknown> {
  return { description, type: ['boolean', 'integer', 'string'], minimum: 0, maximum: 1 };
}

/** One of `values`; an unknown one is reported as `unknown TITLE "value"`. */
export function oneOfNames(title: string, values: readonly (string | number)[]): Record<string, unknown> {
  return { title, enum: [...values] };
}

/** An object with these properties and no other, `required` among them. */
export function closed(
  description: string,
  properties: Record<string, unknown>,
  required: readonly string[] = [],
): Record<string, unknown> {
  return {
    description,
    type: 'object',
    properties,
    ...(required.length > 0 ? { required: [...required] } : {}),
    additionalProperties: false,
  };
}
