/**
 * Commands as typed values: a discriminated union on `name`, each variant carrying exactly the fields of
 * its opcode (raw encodings as numbers; `addr` and `msiaddr` as byte addresses).
 */
import { FIELD_IDS } from './check.js';
import { COMMAND_NAMES, fieldNames, type CommandName, type FieldName } from './opcodes.js';

/** The fields each command carries (see OPCODE_SPECS for where they sit). */
export interface CommandFieldMap {
  PREFETCH_CONFIG: 'ssec' | 'ssv' | 'ssid' | 'sid';
  PREFETCH_ADDR: 'ssec' | 'ssv' | 'ssid' | 'sid' | 'size' | 'stride' | 'addr';
  CFGI_STE: 'ssec' | 'sid' | 'leaf';
  CFGI_STE_RANGE: 'ssec' | 'sid' | 'range';
  CFGI_CD: 'ssec' | 'ssid' | 'sid' | 'leaf';
  CFGI_CD_ALL: 'ssec' | 'sid';
  CFGI_VMS_PIDM: 'ssec' | 'vmid';
  TLBI_NH_ALL: 'vmid';
  TLBI_NH_ASID: 'vmid' | 'asid';
  TLBI_NH_VA: 'num' | 'scale' | 'vmid' | 'asid' | 'leaf' | 'ttl' | 'tg' | 'addr';
  TLBI_NH_VAA: 'num' | 'scale' | 'vmid' | 'leaf' | 'ttl' | 'tg' | 'addr';
  TLBI_EL3_ALL: never;
  TLBI_EL3_VA: 'num' | 'scale' | 'leaf' | 'ttl' | 'tg' | 'addr';
  TLBI_EL2_ALL: never;
  TLBI_EL2_ASID: 'asid';
  TLBI_EL2_VA: 'num' | 'scale' | 'asid' | 'leaf' | 'ttl' | 'tg' | 'addr';
  TLBI_EL2_VAA: 'num' | 'scale' | 'leaf' | 'ttl' | 'tg' | 'addr';
  TLBI_S12_VMALL: 'vmid';
  TLBI_S2_IPA: 'num' | 'scale' | 'vmid' | 'leaf' | 'ttl' | 'tg' | 'addr';
  TLBI_NSNH_ALL: never;
  ATC_INV: 'global' | 'ssv' | 'ssid' | 'sid' | 'size' | 'addr';
  PRI_RESP: 'ssv' | 'ssid' | 'sid' | 'grpid' | 'resp';
  RESUME: 'ssec' | 'resp' | 'sid' | 'stag';
  STALL_TERM: 'ssec' | 'sid';
  CMD_SYNC: 'cs' | 'msh' | 'msiattr' | 'msidata' | 'msiaddr';
}

export type CommandOf<N extends CommandName> = { readonly name: N } & {
  readonly [K in CommandFieldMap[N]]: number;
};

/** Any SMMUv3 command. */
export type Command = { [N in CommandName]: CommandOf<N> }[CommandName];

/** Build a command of the given name; omitted fields are 0. */
export function makeCommand<N extends CommandName>(
  name: N,
  fields: Partial<Record<CommandFieldMap[N], number>> = {},
): CommandOf<N> {
  return { name, ...fields } as CommandOf<N>;
}

/**
 * Per command, how its typed value maps to and from the flat field record of `CheckedEntry.values` (indexed
 * by FIELD_IDS). Both functions are compiled once per command from OPCODE_SPECS (`fieldNames`, table order,
 * addr last): `build` is one object literal with the command's keys in that order — one shape per command,
 * the order of `decode --json` — and `read` one plain property read per field, so decoding and encoding do
 * no keyed lookups. Where the environment forbids compiling code (a Content-Security-Policy without
 * 'unsafe-eval'), the same functions are built as loops over the table: same results, slower.
 */
export interface CommandShape<N extends CommandName> {
  /** The typed command from field values. */
  build(v: Float64Array): CommandOf<N>;
  /** Field values from a typed command: omitted fields read as 0, non-numbers as NaN (rejected by the encoder). */
  read(c: CommandOf<N>, v: Float64Array): void;
}

/** A field value as given: a number, 0 when omitted, NaN for anything else. */
const u = (x: unknown): number => (typeof x === 'number' ? x : x === undefined ? 0 : NaN);

type AnyShape = CommandShape<CommandName>;
type ShapeFactory = (name: CommandName, fields: readonly FieldName[]) => AnyShape;

/** The shape as generated code: `{ name: 'X', f1: v[id1], … }` and `v[id1] = u(c.f1); …`. */
const compiledShape: ShapeFactory = (name, fields) => {
  for (const f of [name, ...fields]) if (!/^[A-Za-z_0-9]+$/.test(f)) throw new Error(`bad field name ${f}`);
  const entries = fields.map((f) => `${f}: v[${FIELD_IDS[f]}]`);
  const reads = fields.map((f) => `v[${FIELD_IDS[f]}] = u(c.${f});`);
  const make = new Function(
    'u',
    `'use strict';
     return {
       build: function build_${name}(v) { return { name: '${name}'${entries.map((e) => `, ${e}`).join('')} }; },
       read: function read_${name}(c, v) { ${reads.join(' ')} },
     };`,
  ) as (uf: typeof u) => AnyShape;
  return make(u);
};

/** The shape as loops over the table (no generated code): the fallback, and the tests' second opinion. */
export const loopShape: ShapeFactory = (name, fields) => {
  const ids = fields.map((f) => FIELD_IDS[f]);
  return {
    build: (v) => {
      const c: Record<string, unknown> = { name };
      for (let k = 0; k < fields.length; k++) c[fields[k]!] = v[ids[k]!];
      return c as unknown as CommandOf<CommandName>;
    },
    read: (c, v) => {
      const rec = c as unknown as Record<string, unknown>;
      for (let k = 0; k < fields.length; k++) v[ids[k]!] = u(rec[fields[k]!]);
    },
  };
};

/** Every command's shape from `factory`. */
export function makeCommandShapes(factory: ShapeFactory): { readonly [N in CommandName]: CommandShape<N> } {
  const out: Partial<Record<CommandName, AnyShape>> = {};
  for (const n of COMMAND_NAMES) out[n] = factory(n, fieldNames(n));
  return out as { readonly [N in CommandName]: CommandShape<N> };
}

function canCompile(): boolean {
  try {
    return (new Function('return 1') as () => number)() === 1;
  } catch {
    return false;
  }
}

export const COMMAND_SHAPES: { readonly [N in CommandName]: CommandShape<N> } = makeCommandShapes(
  canCompile() ? compiledShape : loopShape,
);
