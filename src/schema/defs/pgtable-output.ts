/** `pgtable --json`: the table's configuration, one record per script operation, the gather over the unmaps. */
import { DIALECT, count, exact, schemaId } from './common.js';

const object = { type: 'object' };

export const schema = {
  $schema: DIALECT,
  $id: schemaId('pgtable-output'),
  title: 'smmuv3-tlbi pgtable --json',
  ...exact(
    {
      schemaVersion: { const: 1 },
      config: {
        type: 'object',
        properties: {
          stage: { enum: [1, 2] },
          granule: { enum: [4096, 16384, 65536] },
          ias: count,
          oas: count,
          startLevel: { type: 'integer', minimum: -1, maximum: 3 },
          rootEntries: count,
          rootPa: { type: 'string' },
        },
        required: ['stage', 'granule', 'ias', 'oas', 'startLevel', 'rootEntries', 'rootPa'],
      },
      ops: {
        type: 'array',
        items: {
          type: 'object',
          properties: { index: count, op: { enum: ['map', 'unmap', 'walk'] } },
          required: ['index', 'op'],
        },
      },
      gather: object,
      liveTables: count,
    },
    ['gather'],
  ),
};
