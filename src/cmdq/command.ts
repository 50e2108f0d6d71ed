/**
 * Commands as typed values: a discriminated union on `name`, each variant carrying exactly the fields of
 * its opcode (raw encodings as numbers; `addr` and `msiaddr` as byte addresses).
 */
import { FIELD_IDS } from './check.js';
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

/**
 * Per command, how its typed value maps to and from the flat field record of `CheckedEntry.values` (indexed
 * by FIELD_IDS). Written out per command, with plain property accesses, so that decoding builds objects of
 * one shape per command and encoding reads them without keyed lookups; the tests check every entry against
 * OPCODE_SPECS (same field names, nothing missing).
 */
export interface CommandShape<N extends CommandName> {
  /** The typed command from field values. */
  build(v: Float64Array): CommandOf<N>;
  /** Field values from a typed command: omitted fields read as 0, non-numbers as NaN (rejected by the encoder). */
  read(c: CommandOf<N>, v: Float64Array): void;
}

const F = FIELD_IDS;
/** A field value as given: a number, 0 when omitted, NaN for anything else. */
const u = (x: unknown): number => (typeof x === 'number' ? x : x === undefined ? 0 : NaN);

export const COMMAND_SHAPES: { readonly [N in CommandName]: CommandShape<N> } = {
  PREFETCH_CONFIG: {
    build: (v) => ({ name: 'PREFETCH_CONFIG', ssec: v[F.ssec]!, ssv: v[F.ssv]!, ssid: v[F.ssid]!, sid: v[F.sid]! }),
    read: (c, v) => {
      v[F.ssec] = u(c.ssec);
      v[F.ssv] = u(c.ssv);
      v[F.ssid] = u(c.ssid);
      v[F.sid] = u(c.sid);
    },
  },
  PREFETCH_ADDR: {
    build: (v) => ({
      name: 'PREFETCH_ADDR',
      ssec: v[F.ssec]!,
      ssv: v[F.ssv]!,
      ssid: v[F.ssid]!,
      sid: v[F.sid]!,
      size: v[F.size]!,
      stride: v[F.stride]!,
      addr: v[F.addr]!,
    }),
    read: (c, v) => {
      v[F.ssec] = u(c.ssec);
      v[F.ssv] = u(c.ssv);
      v[F.ssid] = u(c.ssid);
      v[F.sid] = u(c.sid);
      v[F.size] = u(c.size);
      v[F.stride] = u(c.stride);
      v[F.addr] = u(c.addr);
    },
  },
  CFGI_STE: {
    build: (v) => ({ name: 'CFGI_STE', ssec: v[F.ssec]!, sid: v[F.sid]!, leaf: v[F.leaf]! }),
    read: (c, v) => {
      v[F.ssec] = u(c.ssec);
      v[F.sid] = u(c.sid);
      v[F.leaf] = u(c.leaf);
    },
  },
  CFGI_STE_RANGE: {
    build: (v) => ({ name: 'CFGI_STE_RANGE', ssec: v[F.ssec]!, sid: v[F.sid]!, range: v[F.range]! }),
    read: (c, v) => {
      v[F.ssec] = u(c.ssec);
      v[F.sid] = u(c.sid);
      v[F.range] = u(c.range);
    },
  },
  CFGI_CD: {
    build: (v) => ({ name: 'CFGI_CD', ssec: v[F.ssec]!, ssid: v[F.ssid]!, sid: v[F.sid]!, leaf: v[F.leaf]! }),
    read: (c, v) => {
      v[F.ssec] = u(c.ssec);
      v[F.ssid] = u(c.ssid);
      v[F.sid] = u(c.sid);
      v[F.leaf] = u(c.leaf);
    },
  },
  CFGI_CD_ALL: {
    build: (v) => ({ name: 'CFGI_CD_ALL', ssec: v[F.ssec]!, sid: v[F.sid]! }),
    read: (c, v) => {
      v[F.ssec] = u(c.ssec);
      v[F.sid] = u(c.sid);
    },
  },
  CFGI_VMS_PIDM: {
    build: (v) => ({ name: 'CFGI_VMS_PIDM', ssec: v[F.ssec]!, vmid: v[F.vmid]! }),
    read: (c, v) => {
      v[F.ssec] = u(c.ssec);
      v[F.vmid] = u(c.vmid);
    },
  },
  TLBI_NH_ALL: {
    build: (v) => ({ name: 'TLBI_NH_ALL', vmid: v[F.vmid]! }),
    read: (c, v) => {
      v[F.vmid] = u(c.vmid);
    },
  },
  TLBI_NH_ASID: {
    build: (v) => ({ name: 'TLBI_NH_ASID', vmid: v[F.vmid]!, asid: v[F.asid]! }),
    read: (c, v) => {
      v[F.vmid] = u(c.vmid);
      v[F.asid] = u(c.asid);
    },
  },
  TLBI_NH_VA: {
    build: (v) => ({
      name: 'TLBI_NH_VA',
      num: v[F.num]!,
      scale: v[F.scale]!,
      vmid: v[F.vmid]!,
      asid: v[F.asid]!,
      leaf: v[F.leaf]!,
      ttl: v[F.ttl]!,
      tg: v[F.tg]!,
      addr: v[F.addr]!,
    }),
    read: (c, v) => {
      v[F.num] = u(c.num);
      v[F.scale] = u(c.scale);
      v[F.vmid] = u(c.vmid);
      v[F.asid] = u(c.asid);
      v[F.leaf] = u(c.leaf);
      v[F.ttl] = u(c.ttl);
      v[F.tg] = u(c.tg);
      v[F.addr] = u(c.addr);
    },
  },
  TLBI_NH_VAA: {
    build: (v) => ({
      name: 'TLBI_NH_VAA',
      num: v[F.num]!,
      scale: v[F.scale]!,
      vmid: v[F.vmid]!,
      leaf: v[F.leaf]!,
      ttl: v[F.ttl]!,
      tg: v[F.tg]!,
      addr: v[F.addr]!,
    }),
    read: (c, v) => {
      v[F.num] = u(c.num);
      v[F.scale] = u(c.scale);
      v[F.vmid] = u(c.vmid);
      v[F.leaf] = u(c.leaf);
      v[F.ttl] = u(c.ttl);
      v[F.tg] = u(c.tg);
      v[F.addr] = u(c.addr);
    },
  },
  TLBI_EL3_ALL: {
    build: () => ({ name: 'TLBI_EL3_ALL' }),
    read: () => undefined,
  },
  TLBI_EL3_VA: {
    build: (v) => ({
      name: 'TLBI_EL3_VA',
      num: v[F.num]!,
      scale: v[F.scale]!,
      leaf: v[F.leaf]!,
      ttl: v[F.ttl]!,
      tg: v[F.tg]!,
      addr: v[F.addr]!,
    }),
    read: (c, v) => {
      v[F.num] = u(c.num);
      v[F.scale] = u(c.scale);
      v[F.leaf] = u(c.leaf);
      v[F.ttl] = u(c.ttl);
      v[F.tg] = u(c.tg);
      v[F.addr] = u(c.addr);
    },
  },
  TLBI_EL2_ALL: {
    build: () => ({ name: 'TLBI_EL2_ALL' }),
    read: () => undefined,
  },
  TLBI_EL2_ASID: {
    build: (v) => ({ name: 'TLBI_EL2_ASID', asid: v[F.asid]! }),
    read: (c, v) => {
      v[F.asid] = u(c.asid);
    },
  },
  TLBI_EL2_VA: {
    build: (v) => ({
      name: 'TLBI_EL2_VA',
      num: v[F.num]!,
      scale: v[F.scale]!,
      asid: v[F.asid]!,
      leaf: v[F.leaf]!,
      ttl: v[F.ttl]!,
      tg: v[F.tg]!,
      addr: v[F.addr]!,
    }),
    read: (c, v) => {
      v[F.num] = u(c.num);
      v[F.scale] = u(c.scale);
      v[F.asid] = u(c.asid);
      v[F.leaf] = u(c.leaf);
      v[F.ttl] = u(c.ttl);
      v[F.tg] = u(c.tg);
      v[F.addr] = u(c.addr);
    },
  },
  TLBI_EL2_VAA: {
    build: (v) => ({
      name: 'TLBI_EL2_VAA',
      num: v[F.num]!,
      scale: v[F.scale]!,
      leaf: v[F.leaf]!,
      ttl: v[F.ttl]!,
      tg: v[F.tg]!,
      addr: v[F.addr]!,
    }),
    read: (c, v) => {
      v[F.num] = u(c.num);
      v[F.scale] = u(c.scale);
      v[F.leaf] = u(c.leaf);
      v[F.ttl] = u(c.ttl);
      v[F.tg] = u(c.tg);
      v[F.addr] = u(c.addr);
    },
  },
  TLBI_S12_VMALL: {
    build: (v) => ({ name: 'TLBI_S12_VMALL', vmid: v[F.vmid]! }),
    read: (c, v) => {
      v[F.vmid] = u(c.vmid);
    },
  },
  TLBI_S2_IPA: {
    build: (v) => ({
      name: 'TLBI_S2_IPA',
      num: v[F.num]!,
      scale: v[F.scale]!,
      vmid: v[F.vmid]!,
      leaf: v[F.leaf]!,
      ttl: v[F.ttl]!,
      tg: v[F.tg]!,
      addr: v[F.addr]!,
    }),
    read: (c, v) => {
      v[F.num] = u(c.num);
      v[F.scale] = u(c.scale);
      v[F.vmid] = u(c.vmid);
      v[F.leaf] = u(c.leaf);
      v[F.ttl] = u(c.ttl);
      v[F.tg] = u(c.tg);
      v[F.addr] = u(c.addr);
    },
  },
  TLBI_NSNH_ALL: {
    build: () => ({ name: 'TLBI_NSNH_ALL' }),
    read: () => undefined,
  },
  ATC_INV: {
    build: (v) => ({
      name: 'ATC_INV',
      global: v[F.global]!,
      ssv: v[F.ssv]!,
      ssid: v[F.ssid]!,
      sid: v[F.sid]!,
      size: v[F.size]!,
      addr: v[F.addr]!,
    }),
    read: (c, v) => {
      v[F.global] = u(c.global);
      v[F.ssv] = u(c.ssv);
      v[F.ssid] = u(c.ssid);
      v[F.sid] = u(c.sid);
      v[F.size] = u(c.size);
      v[F.addr] = u(c.addr);
    },
  },
  PRI_RESP: {
    build: (v) => ({
      name: 'PRI_RESP',
      ssv: v[F.ssv]!,
      ssid: v[F.ssid]!,
      sid: v[F.sid]!,
      grpid: v[F.grpid]!,
      resp: v[F.resp]!,
    }),
    read: (c, v) => {
      v[F.ssv] = u(c.ssv);
      v[F.ssid] = u(c.ssid);
      v[F.sid] = u(c.sid);
      v[F.grpid] = u(c.grpid);
      v[F.resp] = u(c.resp);
    },
  },
  RESUME: {
    build: (v) => ({ name: 'RESUME', ssec: v[F.ssec]!, resp: v[F.resp]!, sid: v[F.sid]!, stag: v[F.stag]! }),
    read: (c, v) => {
      v[F.ssec] = u(c.ssec);
      v[F.resp] = u(c.resp);
      v[F.sid] = u(c.sid);
      v[F.stag] = u(c.stag);
    },
  },
  STALL_TERM: {
    build: (v) => ({ name: 'STALL_TERM', ssec: v[F.ssec]!, sid: v[F.sid]! }),
    read: (c, v) => {
      v[F.ssec] = u(c.ssec);
      v[F.sid] = u(c.sid);
    },
  },
  CMD_SYNC: {
    build: (v) => ({
      name: 'CMD_SYNC',
      cs: v[F.cs]!,
      msh: v[F.msh]!,
      msiattr: v[F.msiattr]!,
      msidata: v[F.msidata]!,
      msiaddr: v[F.msiaddr]!,
    }),
    read: (c, v) => {
      v[F.cs] = u(c.cs);
      v[F.msh] = u(c.msh);
      v[F.msiattr] = u(c.msiattr);
      v[F.msidata] = u(c.msidata);
      v[F.msiaddr] = u(c.msiaddr);
    },
  },
};
