/**
 * The request `plan` reads (--input or stdin): the SMMUs, the targets and, for policy linux, the range
 * `{iova, size, granule, leaf}` or, for policy tlbi, the description `tlbi: {start, last, leafLevels,
 * tableLevels, granule}`. What depends on other values — an ASID's 16 bits, the SMMU a target names,
 * alignment to the page size, the 52-bit address limit, which keys the policy uses — is checked by
 * parsePlanRequest (src/tlbi/validate.ts), for this input and for the flags alike.
 */
import { INV_TYPES } from '../../tlbi/invs.js';
import { DIALECT, schemaId } from './common.js';
import { boolValue, closed, oneOfNames, uintValue } from './input-parts.js';

const number = (what: string, max?: number): Record<string, unknown> =>
  max === undefined
    ? uintValue(`${what}: a non-negative integer or a "0x…" string`)
    : uintValue(`${what}: an integer from 0 to ${max}`, max);
const bool = boolValue('true or false (or "on"/"off", "yes"/"no", 1/0)');
const levels = {
  description: 'an array of levels (0-3)',
  type: 'array',
  items: uintValue('a level from 0 to 3', 3),
};

const smmu = closed('an SMMU {id, ril, e2h, forceSync, ds}', {
  id: number('an SMMU id', 0xffff),
  ril: bool,
  e2h: bool,
  forceSync: bool,
  ds: bool,
});

const target = closed(
  'a target {smmu, type, id, ssid, vmid, pgsize}',
  {
    smmu: number('an SMMU id', 0xffff),
    type: oneOfNames('type', INV_TYPES),
    id: number('an ASID, VMID or StreamID', 0xffffffff),
    ssid: number('a SubstreamID', 2 ** 20 - 1),
    vmid: number('a VMID', 0xffff),
    pgsize: number('a page size (4096, 16384 or 65536)'),
    users: number('a count of users'),
  },
  ['type'],
);

export const schema = {
  $schema: DIALECT,
  $id: schemaId('plan-input'),
  ...closed(
    'a JSON object {smmus, invs, policy, …}',
    {
      smmus: { description: 'a non-empty array of SMMUs', type: 'array', minItems: 1, items: smmu },
      invs: { description: 'an array of invalidation targets', type: 'array', items: target },
      policy: oneOfNames('policy', ['linux', 'tlbi']),
      iova: number('an address'),
      size: number('a size in bytes'),
      granule: number('a leaf size in bytes'),
      leaf: bool,
      tlbi: closed(
        'a tlbi description {start, last, leafLevels, tableLevels, granule}',
        {
          start: number('an address'),
          last: number('an address'),
          leafLevels: levels,
          tableLevels: levels,
          granule: number('a page size in bytes'),
        },
        ['start', 'last'],
      ),
    },
    ['invs'],
  ),
  title: 'smmuv3-tlbi plan request',
};
