/** `plan --json`: the request as understood, the planned entries by SMMU and batch, and their counts. */
import { DIALECT, commandFields, count, exact, mapOf, schemaId, word64 } from './common.js';

const smmu = exact(
  {
    id: count,
    ril: { type: 'boolean' },
    e2h: { type: 'boolean' },
    forceSync: { type: 'boolean' },
    ds: { type: 'boolean' },
  },
  ['ds'],
);
const inv = exact({
  smmu: count,
  type: { enum: ['S1_ASID', 'S1_ASID_NESTED', 'S2_VMID', 'S2_VMID_S1_CLEAR', 'ATS', 'ATS_FULL'] },
  id: count,
  ssid: count,
  vmid: count,
  pgsize: count,
});
const levels = { type: 'array', items: { type: 'integer', minimum: 0, maximum: 3 } };

export const schema = {
  $schema: DIALECT,
  $id: schemaId('plan-output'),
  title: 'smmuv3-tlbi plan --json',
  ...exact({
    schemaVersion: { const: 1 },
    policy: { enum: ['linux', 'tlbi'] },
    request: {
      type: 'object',
      properties: {
        smmus: { type: 'array', items: smmu },
        invs: { type: 'array', items: inv },
        iova: { type: 'string' },
        size: { type: 'string' },
        granule: count,
        leaf: { type: 'boolean' },
        tlbi: exact({
          start: { type: 'string' },
          last: { type: 'string' },
          leafLevels: levels,
          tableLevels: levels,
          granule: count,
        }),
      },
      required: ['smmus', 'invs'],
      additionalProperties: false,
      oneOf: [
        {
          properties: { iova: true, size: true, granule: true, leaf: true },
          required: ['iova', 'size', 'granule', 'leaf'],
        },
        { properties: { tlbi: true }, required: ['tlbi'] },
      ],
    },
    commands: {
      type: 'array',
      items: exact({
        smmu: count,
        batch: count,
        name: { type: 'string' },
        fields: commandFields,
        words: { type: 'array', prefixItems: [word64, word64], items: false, minItems: 2 },
      }),
    },
    stats: {
      type: 'object',
      properties: {
        entries: count,
        commands: count,
        syncs: count,
        batches: count,
        byKind: mapOf(count),
        bySmmu: mapOf(count),
        wholeTag: count,
        rangedTargets: count,
        pagesRequested: count,
        pagesInvalidated: count,
        pagesOverInvalidated: count,
        atcCommands: count,
        atcPages: count,
        atcWhole: count,
      },
      required: ['entries', 'commands', 'syncs', 'batches', 'byKind', 'pagesRequested', 'pagesInvalidated'],
      additionalProperties: { type: 'number' },
    },
  }),
};
