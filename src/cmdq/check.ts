/**
 * The command validator: given the four 32-bit halves of an entry, decide as an SMMU does whether the entry
 * is legal (or raises CERROR_ILL), and extract its fields into a reusable numeric record — no allocation on
 * the legal path, no BigInt, no exceptions on any input.
 */
import { TWO_POW_32 } from '../bits.js';
import { OPCODE_NAME, OPCODE_SPECS, type CommandName, type FieldName, type OpcodeSpec } from './opcodes.js';
import { DEFAULT_FEATURES, type QueueKind, type SmmuFeatures } from './features.js';

/** Numeric ids for the fields, so that decoded values live in a flat array. */
export const FIELD_IDS: Readonly<Record<FieldName, number>> = {
  ssec: 0,
  ssv: 1,
  ssid: 2,
  sid: 3,
  size: 4,
  stride: 5,
  addr: 6,
  leaf: 7,
  range: 8,
  vmid: 9,
  asid: 10,
  num: 11,
  scale: 12,
  ttl: 13,
  tg: 14,
  global: 15,
  grpid: 16,
  resp: 17,
  stag: 18,
  cs: 19,
  msh: 20,
  msiattr: 21,
  msidata: 22,
  msiaddr: 23,
};
export const FIELD_COUNT = 24;
const F = FIELD_IDS;

/** Why an entry is illegal (CERROR_ILL) or, in lax mode, what was tolerated. */
export type IssueRule =
  | 'reserved-opcode' // opcode not defined by the architecture
  | 'unsupported' // command not available on this SMMU or this queue
  | 'ssec' // SSec=1 on the Non-secure queue
  | 'reserved-value' // a field value the architecture reserves
  | 'res0'; // a RES0 bit is set

export interface CommandIssue {
  /** `ILLEGAL` = the SMMU raises CERROR_ILL; `WARNING` = tolerated in lax mode (RES0 bits may be ignored). */
  readonly kind: 'ILLEGAL' | 'WARNING';
  readonly rule: IssueRule;
  /** The command, when the opcode is known. */
  readonly command?: CommandName;
  /** The field at fault (architecture name, lower case), or `opcode`, or `w0[bits]`/`w1[bits]` for RES0 bits. */
  readonly field: string;
  /** The offending raw value. */
  readonly value: number;
  readonly reason: string;
}

export interface CheckOptions {
  readonly features?: SmmuFeatures;
  readonly queue?: QueueKind;
  /** Lax: set RES0 bits become warnings (an implementation may ignore them); strict (default): illegal. */
  readonly lax?: boolean;
}

/** The result of checking one entry: the extracted fields, the opcode, and any issues. */
export class CheckedEntry {
  opcode = 0;
  name: CommandName | undefined = undefined;
  /** Field values by FIELD_IDS; fields the command does not have are left at 0. */
  readonly values = new Float64Array(FIELD_COUNT);
  error: CommandIssue | null = null;
  warnings: CommandIssue[] = [];
  /**
   * @internal The opcode whose fields `values` may hold (the others are 0), or -1 when unknown; lets the
   * checker clear only what the previous entry set.
   */
  valuesOpcode = -1;
}

interface CompiledField {
  id: number;
  half: number;
  lsb: number;
  mask: number; // applied after the shift; 0xffffffff for 32-bit fields
}

/** How the reserved-value rules apply to a command (precomputed so the hot path does not compare names). */
const ReservedKind = { None: 0, Sync: 1, PriResp: 2, AtcInv: 3, Range: 4 } as const;
type ReservedKind = (typeof ReservedKind)[keyof typeof ReservedKind];

interface Compiled {
  spec: OpcodeSpec;
  fields: CompiledField[];
  /** Bits defined by the command in each half (before feature-dependent narrowing). */
  defined: [number, number, number, number];
  addrLsb: number;
  addrMsb: number;
  addrId: number;
  /** Masks selecting the address bits in h2 and h3 (0 when the command has no address). */
  addrLoMask: number;
  addrHiMask: number;
  reserved: ReservedKind;
  hasAsid: boolean;
  hasVmid: boolean;
}

function compile(spec: OpcodeSpec): Compiled {
  const defined: [number, number, number, number] = [0xff, 0, 0, 0]; // opcode w0[7:0]
  const fields: CompiledField[] = [];
  for (const fl of spec.fields) {
    const mask = fl.width === 32 ? 0xffffffff : (1 << fl.width) - 1;
    fields.push({ id: F[fl.name], half: fl.half, lsb: fl.lsb, mask });
    defined[fl.half] = (defined[fl.half]! | ((mask << fl.lsb) >>> 0)) >>> 0;
  }
  let addrLsb = 0;
  let addrMsb = -1;
  let addrId = F.addr;
  let addrLoMask = 0;
  let addrHiMask = 0;
  if (spec.addr) {
    addrId = F[spec.addr.name];
    addrLsb = spec.addr.lsb;
    addrMsb = spec.addr.msb;
    for (let b = addrLsb; b <= addrMsb; b++) {
      const h = b < 32 ? 2 : 3;
      defined[h] = (defined[h]! | (1 << (b & 31))) >>> 0;
      if (b < 32) addrLoMask = (addrLoMask | (1 << b)) >>> 0;
      else addrHiMask = (addrHiMask | (1 << (b - 32))) >>> 0;
    }
  }
  const reserved =
    spec.name === 'CMD_SYNC'
      ? ReservedKind.Sync
      : spec.name === 'PRI_RESP'
        ? ReservedKind.PriResp
        : spec.name === 'ATC_INV'
          ? ReservedKind.AtcInv
          : spec.range
            ? ReservedKind.Range
            : ReservedKind.None;
  return {
    spec,
    fields,
    defined,
    addrLsb,
    addrMsb,
    addrId,
    addrLoMask,
    addrHiMask,
    reserved,
    hasAsid: spec.fields.some((x) => x.name === 'asid'),
    hasVmid: spec.fields.some((x) => x.name === 'vmid'),
  };
}

const COMPILED: (Compiled | undefined)[] = OPCODE_NAME.map((n) => (n ? compile(OPCODE_SPECS[n]) : undefined));

/** The compiled field layout of an opcode (for tests and writers); undefined for reserved opcodes. */
export function compiledLayout(opcode: number): Readonly<Compiled> | undefined {
  return COMPILED[opcode & 0xff];
}

const HALF_NAMES = ['w0', 'w0', 'w1', 'w1'];
const HALF_BASE = [0, 32, 0, 32];

function bitList(half: number, bits: number): string {
  const out: number[] = [];
  for (let b = 31; b >= 0; b--) if ((bits >>> b) & 1) out.push(HALF_BASE[half]! + b);
  return `${HALF_NAMES[half]}[${out.join(',')}]`;
}

function unsupportedReason(name: CommandName, f: SmmuFeatures, queue: QueueKind): string | null {
  switch (name) {
    case 'TLBI_NH_ALL':
    case 'TLBI_NH_ASID':
    case 'TLBI_NH_VA':
    case 'TLBI_NH_VAA':
    case 'CFGI_CD':
    case 'CFGI_CD_ALL':
      return f.stage1 ? null : 'the SMMU does not implement stage 1 (IDR0.S1P=0)';
    case 'TLBI_S2_IPA':
    case 'TLBI_S12_VMALL':
      return f.stage2 ? null : 'the SMMU does not implement stage 2 (IDR0.S2P=0)';
    case 'ATC_INV':
      return f.ats ? null : 'the SMMU does not implement ATS (IDR0.ATS=0)';
    case 'PRI_RESP':
      return f.pri ? null : 'the SMMU does not implement PRI (IDR0.PRI=0)';
    // EL2_* and EL3_* are stage-1 commands too: CERROR_ILL on a stage-2-only SMMU (IHI 0070 4.4.2).
    case 'TLBI_EL2_ALL':
    case 'TLBI_EL2_ASID':
    case 'TLBI_EL2_VA':
    case 'TLBI_EL2_VAA':
      if (!f.stage1) return 'the SMMU does not implement stage 1 (IDR0.S1P=0)';
      return f.hyp ? null : 'the SMMU does not implement Hyp (IDR0.Hyp=0)';
    case 'RESUME':
    case 'STALL_TERM':
      return f.stallModel === 1 ? 'the SMMU does not support stalls (IDR0.STALL_MODEL=0b01)' : null;
    case 'CFGI_VMS_PIDM':
      return f.mpam ? null : 'the SMMU does not implement MPAM (IDR3.MPAM=0)';
    case 'TLBI_EL3_ALL':
    case 'TLBI_EL3_VA':
      if (queue !== 'secure') return 'EL3 invalidations exist only on the Secure command queue';
      return f.stage1 ? null : 'the SMMU does not implement stage 1 (IDR0.S1P=0)';
    default:
      return null;
  }
}

function issue(
  kind: 'ILLEGAL' | 'WARNING',
  rule: IssueRule,
  command: CommandName | undefined,
  field: string,
  value: number,
  reason: string,
): CommandIssue {
  return command === undefined ? { kind, rule, field, value, reason } : { kind, rule, command, field, value, reason };
}

/** Clear bits [lsb+from, lsb+from+count) of field `fl` from `mask` (used to narrow the defined bits). */
function withoutFieldBits(mask: number, fl: CompiledField, from: number, count: number): number {
  const bits = count >= 32 ? 0xffffffff : (((1 << count) - 1) << (fl.lsb + from)) >>> 0;
  return (mask & ~bits) >>> 0;
}

/**
 * Make `out.values` all zero except possibly the fields of `opcode` (which the caller then overwrites): clears
 * only the fields of the entry held before, so a run of same-kind entries costs nothing here.
 */
function clearValues(out: CheckedEntry, opcode: number): void {
  const prev = out.valuesOpcode;
  if (prev === opcode) return;
  const v = out.values;
  const p = prev >= 0 ? COMPILED[prev] : undefined;
  if (prev < 0) v.fill(0);
  else if (p !== undefined) {
    const fs = p.fields;
    for (let k = 0; k < fs.length; k++) v[fs[k]!.id] = 0;
    if (p.addrMsb >= 0) v[p.addrId] = 0;
  }
  out.valuesOpcode = opcode;
}

/** @internal For the encoder: prepare `out.values` to receive the fields of `opcode` (see checkWithValues). */
export function prepareValues(out: CheckedEntry, opcode: number): void {
  clearValues(out, opcode & 0xff);
}

/**
 * A validator bound to one SMMU's features and queue. `check()` never throws; it fills `out` and returns
 * true when the entry is legal (warnings may still be present in lax mode).
 */
export class CommandChecker {
  readonly features: SmmuFeatures;
  readonly queue: QueueKind;
  readonly lax: boolean;
  private readonly nonSecure: boolean;
  /** Per opcode: why the command is not available on this SMMU and queue, or null. */
  private readonly unavailable: (string | null)[];
  /**
   * Per opcode, 4 halves: the bits that may be set in a legal entry on this SMMU (the defined bits, narrowed
   * by the features: SCALE[5] without DS, ASID/VMID[15:8] with 8-bit tags, VMID of NH_* without stage 2,
   * TG/TTL/NUM/SCALE without RIL). An entry with no bit outside these and no range field set with TG=0 has no
   * RES0 issue, so the detailed (allocating) RES0 report runs only for entries that have one.
   */
  private readonly allowed: Uint32Array;

  constructor(opts: CheckOptions = {}) {
    this.features = opts.features ?? DEFAULT_FEATURES;
    this.queue = opts.queue ?? 'non-secure';
    this.lax = opts.lax ?? false;
    this.nonSecure = this.queue === 'non-secure';
    const feats = this.features;
    this.unavailable = COMPILED.map((c) => (c ? unsupportedReason(c.spec.name, feats, this.queue) : null));
    this.allowed = new Uint32Array(256 * 4);
    COMPILED.forEach((c, op) => {
      if (!c) return;
      const a = [...c.defined];
      for (const fl of c.fields) {
        if (c.spec.range && !feats.ril && (fl.id === F.num || fl.id === F.scale || fl.id === F.ttl || fl.id === F.tg))
          a[fl.half] = withoutFieldBits(a[fl.half]!, fl, 0, 32 - Math.clz32(fl.mask));
        else if (c.spec.range && !feats.ds && fl.id === F.scale) a[fl.half] = withoutFieldBits(a[fl.half]!, fl, 5, 1);
        if (fl.id === F.asid && !feats.asid16) a[fl.half] = withoutFieldBits(a[fl.half]!, fl, 8, 8);
        if (fl.id === F.vmid) {
          if (!feats.stage2 && c.spec.name.startsWith('TLBI_NH_'))
            a[fl.half] = withoutFieldBits(a[fl.half]!, fl, 0, 16);
          else if (!feats.vmid16) a[fl.half] = withoutFieldBits(a[fl.half]!, fl, 8, 8);
        }
      }
      for (let k = 0; k < 4; k++) this.allowed[op * 4 + k] = a[k]!;
    });
  }

  /** Check the entry at `slot` (16-byte slots) of a little-endian u32 view. */
  checkSlot(u32: Uint32Array, slot: number, out: CheckedEntry): boolean {
    const i = slot * 4;
    return this.check(u32[i]!, u32[i + 1]!, u32[i + 2]!, u32[i + 3]!, out);
  }

  check(h0: number, h1: number, h2: number, h3: number, out: CheckedEntry): boolean {
    h0 >>>= 0;
    h1 >>>= 0;
    h2 >>>= 0;
    h3 >>>= 0;
    const opcode = h0 & 0xff;
    clearValues(out, opcode);
    const c = COMPILED[opcode];
    if (c !== undefined) {
      const v = out.values;
      const fs = c.fields;
      for (let k = 0; k < fs.length; k++) {
        const fl = fs[k]!;
        const h = fl.half === 0 ? h0 : fl.half === 1 ? h1 : fl.half === 2 ? h2 : h3;
        v[fl.id] = ((h >>> fl.lsb) & fl.mask) >>> 0;
      }
      // Byte address from w1[msb:lsb]; bits below lsb are zero.
      if (c.addrMsb >= 0) v[c.addrId] = ((h3 & c.addrHiMask) >>> 0) * TWO_POW_32 + ((h2 & c.addrLoMask) >>> 0);
    }
    return this.judge(h0, h1, h2, h3, out);
  }

  /**
   * @internal For the encoder, which already holds the field values: `out.values` must hold exactly the
   * fields of the entry (after `prepareValues(out, opcode)` and storing them), which must fit their widths.
   * Then this judges the entry like `check()` without extracting the fields again.
   */
  checkWithValues(h0: number, h1: number, h2: number, h3: number, out: CheckedEntry): boolean {
    return this.judge(h0 >>> 0, h1 >>> 0, h2 >>> 0, h3 >>> 0, out);
  }

  /** The rules, on an entry whose fields are in `out.values`. */
  private judge(h0: number, h1: number, h2: number, h3: number, out: CheckedEntry): boolean {
    const opcode = h0 & 0xff;
    out.opcode = opcode;
    out.error = null;
    if (out.warnings.length) out.warnings = [];
    const c = COMPILED[opcode];
    if (c === undefined) {
      out.name = undefined;
      out.error = issue(
        'ILLEGAL',
        'reserved-opcode',
        undefined,
        'opcode',
        opcode,
        opcode === 0
          ? 'opcode 0x00 is reserved (an unused ring slot is not a command)'
          : `opcode 0x${opcode.toString(16).padStart(2, '0')} is reserved`,
      );
      return false;
    }
    const name = c.spec.name;
    out.name = name;
    const v = out.values;

    // 1. Availability of the command on this SMMU and queue.
    const why = this.unavailable[opcode];
    if (why != null) {
      out.error = issue('ILLEGAL', 'unsupported', name, 'opcode', opcode, `${name} is illegal here: ${why}`);
      return false;
    }
    // 2. SSec on the Non-secure queue.
    if (v[F.ssec] === 1 && this.nonSecure) {
      out.error = issue('ILLEGAL', 'ssec', name, 'ssec', 1, 'SSec=1 on the Non-secure command queue');
      return false;
    }
    // 3. Reserved values.
    if (c.reserved !== ReservedKind.None) {
      const err = this.reservedValue(name, c.reserved, v);
      if (err !== null) {
        out.error = err;
        return false;
      }
    }
    // 4. RES0 bits: a fast test, then the detailed report only when something is set.
    const a = this.allowed;
    const o = opcode * 4;
    const stray = (h0 & ~a[o]!) | (h1 & ~a[o + 1]!) | (h2 & ~a[o + 2]!) | (h3 & ~a[o + 3]!);
    if (
      stray === 0 &&
      !(c.reserved === ReservedKind.Range && v[F.tg] === 0 && (v[F.num]! | v[F.scale]! | v[F.ttl]!) !== 0)
    )
      return true;
    return this.res0(name, c, [h0, h1, h2, h3], v, out);
  }

  private reservedValue(name: CommandName, kind: ReservedKind, v: Float64Array): CommandIssue | null {
    switch (kind) {
      case ReservedKind.Sync:
        if (v[F.cs] === 3) return issue('ILLEGAL', 'reserved-value', name, 'cs', 3, 'CS=0b11 is reserved');
        return null;
      case ReservedKind.PriResp:
        if (v[F.resp] === 3) return issue('ILLEGAL', 'reserved-value', name, 'resp', 3, 'Resp=0b11 is reserved');
        return null;
      case ReservedKind.AtcInv:
        // IHI 0070 4.5.1: Size > 52 may raise CERROR_ILL or give an UNKNOWN span; the features say which.
        if (v[F.size]! > 52 && this.features.atcSizeAbove52 === 'illegal')
          return issue('ILLEGAL', 'reserved-value', name, 'size', v[F.size]!, 'Size above 52 (2^64 bytes) is reserved');
        return null;
      case ReservedKind.Range:
        break;
      default:
        return null;
    }
    const tg = v[F.tg]!;
    // Without range invalidation TG is RES0 (reported by the RES0 rules), so there is no range encoding to judge.
    if (tg === 0 || !this.features.ril) return null;
    const num = v[F.num]!;
    // Without DS, SCALE bit 25 is RES0 and an implementation that ignores it sees SCALE[4:0].
    const scale = this.features.ds ? v[F.scale]! : v[F.scale]! & 31;
    const ttl = v[F.ttl]!;
    if (num === 0 && scale === 0 && ttl === 0)
      return issue(
        'ILLEGAL',
        'reserved-value',
        name,
        'tg',
        tg,
        'TG≠0 with NUM=0, SCALE=0 and TTL=0 is reserved (a range command must not encode a single page without a TTL hint)',
      );
    if (tg === 2 && ttl === 1 && !this.features.ds && num === 0 && scale === 0)
      return issue(
        'ILLEGAL',
        'reserved-value',
        name,
        'ttl',
        1,
        'TTL=1 with a 16KB granule (TG=2) and no DS is treated as TTL=0, so with NUM=0 and SCALE=0 the encoding is reserved',
      );
    return null;
  }

  private res0(name: CommandName, c: Compiled, h: number[], v: Float64Array, out: CheckedEntry): boolean {
    const kind = this.lax ? 'WARNING' : 'ILLEGAL';
    const found: CommandIssue[] = [];
    const feats = this.features;
    // Named sub-fields whose upper bits are RES0 on this SMMU.
    if (c.spec.range) {
      if (!feats.ril) {
        for (const fname of ['num', 'scale', 'ttl', 'tg'] as const) {
          const val = v[F[fname]]!;
          if (val !== 0)
            found.push(
              issue(
                kind,
                'res0',
                name,
                fname,
                val,
                `${fname.toUpperCase()} is RES0 without range invalidation (IDR3.RIL=0)`,
              ),
            );
        }
      } else {
        if (!feats.ds && v[F.scale]! >= 32)
          found.push(
            issue(kind, 'res0', name, 'scale', v[F.scale]!, 'SCALE bit 25 is RES0 without DS (SCALE is w0[24:20])'),
          );
        if (v[F.tg] === 0) {
          for (const fname of ['num', 'scale', 'ttl'] as const) {
            const val = v[F[fname]]!;
            if (val !== 0)
              found.push(
                issue(
                  kind,
                  'res0',
                  name,
                  fname,
                  val,
                  `${fname.toUpperCase()} is RES0 when TG=0 (not a range invalidation)`,
                ),
              );
          }
        }
      }
    }
    if (c.hasAsid && !feats.asid16 && v[F.asid]! > 0xff)
      found.push(issue(kind, 'res0', name, 'asid', v[F.asid]!, 'ASID[15:8] is RES0 with 8-bit ASIDs (IDR0.ASID16=0)'));
    if (c.hasVmid) {
      const nhNoS2 = !feats.stage2 && name.startsWith('TLBI_NH_');
      if (nhNoS2 && v[F.vmid] !== 0)
        found.push(issue(kind, 'res0', name, 'vmid', v[F.vmid]!, 'VMID is RES0 on an SMMU without stage 2'));
      else if (!nhNoS2 && !feats.vmid16 && v[F.vmid]! > 0xff)
        found.push(
          issue(kind, 'res0', name, 'vmid', v[F.vmid]!, 'VMID[15:8] is RES0 with 8-bit VMIDs (IDR0.VMID16=0)'),
        );
    }
    // Bits no field of this command defines.
    for (let k = 0; k < 4; k++) {
      const extra = (h[k]! & ~c.defined[k]!) >>> 0;
      if (extra !== 0) {
        found.push(
          issue(
            kind,
            'res0',
            name,
            bitList(k, extra),
            extra,
            `${bitList(k, extra)} ${extra & (extra - 1) ? 'are' : 'is'} RES0 in ${name}`,
          ),
        );
      }
    }
    if (found.length === 0) return true;
    if (this.lax) {
      out.warnings = found;
      return true;
    }
    out.error = found[0]!;
    if (found.length > 1) out.warnings = found.slice(1);
    return false;
  }
}
