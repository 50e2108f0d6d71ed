/** `campaign --list --json`: the matrix's axes with the values chosen and every configuration, in order. */
import { DIALECT, count, exact, schemaId } from './common.js';
import { axes } from './campaign-output.js';

export const schema = {
  $schema: DIALECT,
  $id: schemaId('campaign-matrix-output'),
  title: 'smmuv3-tlbi campaign --list --json',
  ...exact({
    schemaVersion: { const: 1 },
    kind: { const: 'campaign-matrix' },
    axes,
    count,
    configurations: { type: 'array', items: { type: 'string' } },
  }),
};
