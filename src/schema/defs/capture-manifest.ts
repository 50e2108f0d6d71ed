/**
 * The manifest a capture writes (`manifest.json`, and what `capture --json` prints), and what `audit --capture`
 * reads back (src/capture/manifest.ts): one schema for the output and the input. Unknown keys are refused.
 */
import { DIALECT, count, exact, mapOf, orNull, schemaId } from './common.js';

const str = { type: 'string' };
const strings = { type: 'array', items: str };
const bool = { type: 'boolean' };
const registerValue = {
  description: 'a register value: a "0x…" hex string of at most 16 digits, or a non-negative integer',
  anyOf: [count, { type: 'string', pattern: '^0[xX][0-9a-fA-F]{1,16}$' }],
};
const REQUIRED_REGISTERS = ['CMDQ_BASE', 'CMDQ_PROD', 'CMDQ_CONS', 'IDR0', 'IDR1', 'IDR3', 'IDR5'];

export const schema = {
  $schema: DIALECT,
  $id: schemaId('capture-manifest'),
  title: 'smmuv3-tlbi capture manifest.json',
  ...exact({
    schemaVersion: { const: 1, description: 'manifest schemaVersion 1' },
    tool: str,
    complete: bool,
    problems: strings,
    mode: { enum: ['strict', 'lazy'], description: '"strict" or "lazy"' },
    stage: { enum: [1, 2], description: '1 or 2' },
    kernel: exact({
      release: orNull(str),
      version: orNull(str),
      package: orNull(str),
      pageSize: { enum: [4096, 16384, 65536], description: 'the page size: 4096, 16384 or 65536' },
      config: mapOf(str),
    }),
    qemu: exact({ version: str, accel: { enum: ['tcg', 'kvm'], description: '"tcg" or "kvm"' }, cmdline: strings }),
    guestCmdline: str,
    driver: exact({ generation: orNull(str), probes: { type: 'array', items: exact({ definition: str, ok: bool }) } }),
    registers: {
      type: 'object',
      properties: Object.fromEntries(REQUIRED_REGISTERS.map((r) => [r, registerValue])),
      required: REQUIRED_REGISTERS,
      additionalProperties: registerValue,
    },
    ring: exact({ entriesWritten: count, wrapped: bool, lost: count }),
    trace: exact({ events: count, lostEvents: count }),
    times: exact({ start: str, end: str, bootMs: orNull(count), workloadMs: orNull(count), totalMs: count }),
    files: mapOf(str),
  }),
};
