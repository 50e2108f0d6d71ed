/** `simulate --list-faults --json`: the faults `--fault` takes, with their corpus cases and configuration. */
import { DIALECT, exact, orNull, schemaId } from './common.js';

const strings = { type: 'array', items: { type: 'string' } };

export const schema = {
  $schema: DIALECT,
  $id: schemaId('fault-list-output'),
  title: 'smmuv3-tlbi simulate --list-faults --json',
  ...exact({
    schemaVersion: { const: 1 },
    kind: { const: 'fault-list' },
    faults: {
      type: 'array',
      minItems: 1,
      items: exact({
        name: { type: 'string', pattern: '^[a-z0-9-]+$' },
        aliases: strings,
        commit: orNull({ type: 'string' }),
        title: orNull({ type: 'string' }),
        cases: strings,
        class: { type: 'string' },
        layer: { type: 'string' },
        caughtBy: { type: 'string' },
        inStream: {
          oneOf: [exact({ rule: { type: 'string', pattern: '^[a-z0-9-]+$' } }), exact({ reason: { type: 'string' } })],
        },
        description: { type: 'string' },
        configuration: exact({ requires: { type: 'object' }, prefers: { type: 'object' } }),
      }),
    },
  }),
};
