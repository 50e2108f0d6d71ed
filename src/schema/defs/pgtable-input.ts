/**
 * The script `pgtable` runs: `{stage, granule, ias, oas, ops: [{op: "map" | "unmap" | "walk", …}]}`. Each
 * operation has exactly the keys of its kind. Alignment, overlap, address-space and granule checks are the
 * page table's (src/pgtable), which name the operation's field too.
 */
import { MaxInputBits, MaxOutputBits, MinInputBits, MinOutputBits } from '../../pgtable/config.js';
import { DIALECT, schemaId } from './common.js';
import { boolValue, closed, oneOfNames, uintValue } from './input-parts.js';

const address = (what: string): Record<string, unknown> =>
  uintValue(`${what}: a non-negative integer or a "0x…" string`);
const bits = (what: string, min: number, max: number): Record<string, unknown> => ({
  ...uintValue(`${what}: an integer from ${min} to ${max}`, max),
  minimum: min,
});

const prot = {
  description:
    'a prot: letters from "rwx" such as "rw" or "r-x", or an object {read, write, exec, priv, global, ns, memType}',
  type: ['string', 'object'],
  properties: {
    read: boolValue('true or false'),
    write: boolValue('true or false'),
    exec: boolValue('true or false'),
    priv: boolValue('true or false'),
    global: boolValue('true or false'),
    ns: boolValue('true or false'),
    memType: oneOfNames('memType', ['cached', 'noncached', 'device']),
  },
  additionalProperties: false,
};

/** The keys of each kind of operation (the schema of one kind, when `op` names it). */
function kind(op: string, properties: Record<string, unknown>): Record<string, unknown> {
  return {
    if: { type: 'object', required: ['op'], properties: { op: { const: op } } },
    then: closed(
      `a ${op} operation`,
      { op: true, ...properties },
      Object.keys(properties).filter((k) => k !== 'prot'),
    ),
  };
}

const operation = {
  description: 'an operation such as {"op": "map", "iova": …, "pa": …, "size": …}',
  type: 'object',
  required: ['op'],
  properties: { op: oneOfNames('op', ['map', 'unmap', 'walk']) },
  allOf: [
    kind('map', { iova: address('an input address'), pa: address('an output address'), size: address('a size'), prot }),
    kind('unmap', { iova: address('an input address'), size: address('a size') }),
    kind('walk', { iova: address('an input address') }),
  ],
};

export const schema = {
  $schema: DIALECT,
  $id: schemaId('pgtable-input'),
  ...closed(
    'a JSON object {stage, granule, ias, oas, ops}',
    {
      stage: bits('a stage', 1, 2),
      granule: uintValue('a granule: 4096, 16384 or 65536 (or "4K", "16K", "64K")'),
      ias: bits('an input address size in bits', MinInputBits, MaxInputBits),
      oas: bits('an output address size in bits', MinOutputBits, MaxOutputBits),
      ops: { description: 'an array of operations', type: 'array', items: operation },
    },
    ['ops'],
  ),
  title: 'smmuv3-tlbi pgtable script',
};
