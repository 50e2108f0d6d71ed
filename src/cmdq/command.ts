/**
 * Commands as typed values: a discriminated union on `name`, each variant carrying exactly the fields of
 * its opcode (raw encodings as numbers; `addr` and `msiaddr` as byte addresses).
 */
import type { CommandName } from './opcodes.js';

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
