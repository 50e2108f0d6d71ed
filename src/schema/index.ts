/**
 * Input validation: a strict JSON reader and the JSON Schemas of the tool's inputs (and outputs), compiled
 * ahead of time (scripts/schemas.ts → src/schema/generated/), so no schema compiler is loaded at run time.
 */
export { MAX_JSON_DEPTH, formatPath, parseStrictJson } from './json.js';
export { checkDocument, describeErrors, nearestKey, type SchemaError, type Validator } from './validate.js';
export { parseRegisters, registersFromDocument, type Halves, type RegisterFile } from './registers.js';
export { REGISTERS, type RegisterInfo } from './registers-table.js';
