/**
 * One command of `encode`'s input (`{"name": …, "fields": {…}}`, or an entry `decode --json` printed, whose
 * `opcode`, `words`, `index`, `warnings` and `judged` are accepted): the CLI checks each entry of the input
 * with it. Which fields a command has, and whether each value fits its field, is the encoder's check (a
 * value too wide for its field is an illegal command, exit 1); a `words` pair must equal the encoding.
 */
import { COMMAND_NAMES } from '../../cmdq/opcodes.js';
import { DIALECT, schemaId } from './common.js';
import { closed, oneOfNames, uintValue } from './input-parts.js';

export const schema = {
  $schema: DIALECT,
  $id: schemaId('encode-input'),
  ...closed(
    'a JSON object {"name": …, "fields": {…}}',
    {
      name: oneOfNames('command name', COMMAND_NAMES),
      fields: {
        description: 'an object of field values by name',
        type: 'object',
        additionalProperties: uintValue('a field value: a non-negative integer or a "0x…" string'),
      },
      opcode: uintValue('an opcode: an integer from 0 to 255', 255),
      words: {
        description: 'two 64-bit hex words ["0x…", "0x…"] (as decode --json prints them)',
        type: 'array',
        minItems: 2,
        maxItems: 2,
        items: { description: 'a 64-bit hex word "0x…"', type: 'string' },
      },
      index: uintValue('an entry index: a non-negative integer'),
      warnings: { description: 'an array (decode --json warnings, not read)', type: 'array' },
      judged: { description: 'true or false (decode --json judged, not read)', type: 'boolean' },
    },
    ['name'],
  ),
  title: 'smmuv3-tlbi encode input command',
};
