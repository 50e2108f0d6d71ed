/** `decode --json`: the entries (each decoded, or illegal with the field at fault), the input, the counts. */
import { DIALECT, commandFields, count, exact, orNull, runFailure, schemaId, word64 } from './common.js';

const issue = exact(
  {
    kind: { type: 'string' },
    rule: { type: 'string' },
    field: { type: 'string' },
    value: { type: 'number' },
    reason: { type: 'string' },
    command: { type: 'string' },
  },
  ['command'],
);

const entry = exact(
  {
    index: count,
    name: { type: 'string' },
    opcode: { type: 'integer', minimum: 0, maximum: 255 },
    fields: commandFields,
    words: { type: 'array', prefixItems: [word64, word64], items: false, minItems: 2 },
    error: issue,
    warnings: { type: 'array', items: issue },
    judged: { const: false, description: 'false: a slot outside [CONS, PROD), decoded but not judged' },
  },
  ['name', 'fields', 'error', 'warnings', 'judged'],
);

/** A whole run's document; or one cut short by a late read error: the entries written so far, then `error`. */
export const schema = {
  $schema: DIALECT,
  $id: schemaId('decode-output'),
  title: 'smmuv3-tlbi decode --json',
  oneOf: [
    exact(
      {
        schemaVersion: { const: 1 },
        entries: { type: 'array', items: entry },
        input: exact(
          {
            format: orNull({ type: 'string' }),
            description: { type: 'string' },
            notes: { type: 'array', items: { type: 'string' } },
          },
          ['description'],
        ),
        empty: {
          description: 'runs of zero slots of a raw dump (not judged), both ends included',
          type: 'array',
          items: exact({ first: count, last: count }),
        },
        window: exact({
          log2size: count,
          prod: { type: 'string' },
          cons: { type: 'string' },
          first: count,
          pending: count,
          err: count,
        }),
        summary: exact({ entries: count, illegal: count, empty: count, notJudged: count }, ['empty', 'notJudged']),
      },
      ['empty', 'window'],
    ),
    exact({ schemaVersion: { const: 1 }, entries: { type: 'array', items: entry }, error: runFailure }),
  ],
};
