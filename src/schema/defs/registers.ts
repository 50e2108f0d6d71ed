/**
 * `audit --regs` and a capture's cmdq.json: SMMU register values by name. Every register of IHI 0070 §6.3
 * is accepted, with or without the `SMMU_` prefix, plus the keys `capture` writes beside them: `base` (the
 * queue's base address), `log2size` and `bytes`. Unknown keys are refused, so a typo such as `CMDQ_PRODD`
 * is a usage error instead of a register silently left out.
 */
import { INDEXED, REGISTERS, indexedBits } from '../registers-table.js';
import { DIALECT, registerValue, schemaId } from './common.js';

const ref = (bits: 32 | 64): Record<string, unknown> => ({ $ref: `#/$defs/reg${bits}` });
const properties: Record<string, unknown> = {};
for (const r of REGISTERS) {
  properties[r.name] = ref(r.bits);
  properties[`SMMU_${r.name}`] = ref(r.bits);
}
properties.base = ref(64);
properties.log2size = {
  description: 'the queue size as log2 of its entries: an integer from 0 to 19 (SMMU_IDR1.CMDQS is at most 19)',
  type: 'integer',
  minimum: 0,
  maximum: 19,
};
properties.bytes = {
  description: 'the queue size in bytes: 16 << log2size, at most 8 MiB',
  type: 'integer',
  minimum: 16,
  maximum: 16 * 2 ** 19,
};

const patternProperties: Record<string, unknown> = {};
for (const base of INDEXED) {
  // CMDQ_CONTROL_PAGE_BASE0 … (n below 256), for each security state, with or without SMMU_.
  patternProperties[`^(SMMU_)?(S_|R_)?${base}(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])$`] = ref(indexedBits(base));
}

export const schema = {
  $schema: DIALECT,
  $id: schemaId('registers'),
  title: 'SMMUv3 registers',
  description:
    'SMMU register values by name (IHI 0070 §6.3), as `capture` writes them to cmdq.json and `audit --regs` reads them',
  type: 'object',
  $defs: { reg32: registerValue(32), reg64: registerValue(64) },
  properties,
  patternProperties,
  additionalProperties: false,
};
