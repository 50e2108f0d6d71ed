/**
 * What each entry of an audited stream is, read from its 16 bytes through the codec's validator, plus the
 * audit's own coverage arithmetic (independent of the engine): the byte span a TLBI covers, its tags, and the
 * batch (run of commands ended by a CMD_SYNC) it belongs to. Struct-of-arrays, one pass, no allocation per
 * legal entry.
 */
import {
  CheckedEntry,
  CommandChecker,
  FIELD_IDS,
  OPCODE_NAME,
  Opcode,
  type CommandIssue,
  type CommandName,
} from '../cmdq/index.js';
import type { AuditStream } from './stream.js';
import { granuleLog2OfTg } from '../units.js';

/** What kind of command an entry is, for the rules. */
export const Kind = {
  Illegal: 0,
  Sync: 1,
  /** A TLBI with an address (NH_VA, NH_VAA, EL2_VA, EL2_VAA, EL3_VA, S2_IPA). */
  RangeTlbi: 2,
  /** A TLBI of a whole tag or more (NH_ALL, NH_ASID, EL2_ALL, EL2_ASID, EL3_ALL, S12_VMALL, NSNH_ALL). */
  TagTlbi: 3,
  Atc: 4,
  Cfgi: 5,
  Other: 6,
} as const;
export type Kind = (typeof Kind)[keyof typeof Kind];

const KIND_OF: Uint8Array = (() => {
  const t = new Uint8Array(256);
  OPCODE_NAME.forEach((n, op) => {
    if (!n) return;
    let k: Kind = Kind.Other;
    if (op === Opcode.CMD_SYNC) k = Kind.Sync;
    else if (op === Opcode.ATC_INV) k = Kind.Atc;
    else if (n.startsWith('CFGI_')) k = Kind.Cfgi;
    else if (n.startsWith('TLBI_')) k = /_VA$|_VAA$|_IPA$/.test(n) ? Kind.RangeTlbi : Kind.TagTlbi;
    t[op] = k;
  });
  return t;
})();

/** Which tags an opcode's TLB match uses: bit 0 ASID, bit 1 VMID. */
export const TAGS_OF: Uint8Array = (() => {
  const t = new Uint8Array(256);
  t[Opcode.TLBI_NH_ALL] = 2;
  t[Opcode.TLBI_NH_ASID] = 3;
  t[Opcode.TLBI_NH_VA] = 3;
  t[Opcode.TLBI_NH_VAA] = 2;
  t[Opcode.TLBI_EL2_ASID] = 1;
  t[Opcode.TLBI_EL2_VA] = 1;
  t[Opcode.TLBI_S12_VMALL] = 2;
  t[Opcode.TLBI_S2_IPA] = 2;
  return t;
})();

/** The largest SCALE honoured (with DS; larger values are treated as 39). */
const SCALE_CLAMP = 39;

export interface InterpretOptions {
  readonly checker: CommandChecker;
}

/** The interpreted stream. Arrays are indexed by entry. */
export class Interpreted {
  readonly n: number;
  readonly op: Uint8Array;
  readonly kind: Uint8Array;
  readonly asid: Int32Array;
  readonly vmid: Int32Array;
  /** TLBI / ATC / PREFETCH address (bytes). */
  readonly addr: Float64Array;
  /** Bytes covered by a range TLBI with TG≠0 ((NUM+1) × 2^SCALE granules); 0 for TG=0 (one address). */
  readonly span: Float64Array;
  /** Pages ((NUM+1) × 2^SCALE) of a range TLBI with TG≠0, 0 otherwise. */
  readonly pages: Float64Array;
  readonly tg: Uint8Array;
  readonly ttl: Uint8Array;
  readonly leaf: Uint8Array;
  readonly sid: Float64Array;
  /** Batch number: entries after the k-th CMD_SYNC and up to the (k+1)-th (inclusive) are batch k. */
  readonly batch: Int32Array;
  /** Index of the CMD_SYNC ending each batch (−1 for a batch with no SYNC: the tail). */
  batchSync: Int32Array;
  batchCount = 0;
  /** Issues of illegal entries (and warnings in lax mode), by entry index. */
  readonly errors = new Map<number, CommandIssue>();
  readonly warnings = new Map<number, readonly CommandIssue[]>();
  /** VMIDs seen in stage-2 TLBIs (S2_IPA, S12_VMALL) and in stage-1 NH_* TLBIs. */
  readonly s2Vmids = new Set<number>();
  readonly nhVmids = new Set<number>();

  constructor(n: number) {
    this.n = n;
    this.op = new Uint8Array(n);
    this.kind = new Uint8Array(n);
    this.asid = new Int32Array(n);
    this.vmid = new Int32Array(n);
    this.addr = new Float64Array(n);
    this.span = new Float64Array(n);
    this.pages = new Float64Array(n);
    this.tg = new Uint8Array(n);
    this.ttl = new Uint8Array(n);
    this.leaf = new Uint8Array(n);
    this.sid = new Float64Array(n);
    this.batch = new Int32Array(n);
    this.batchSync = new Int32Array(16);
  }

  /** The command name of entry i, or `reserved 0xNN` for an opcode the architecture does not define. */
  name(i: number): string {
    return nameOfOpcode(this.op[i]!);
  }
}

export function nameOfOpcode(op: number): string {
  return (OPCODE_NAME[op] as CommandName | undefined) ?? `reserved 0x${op.toString(16).padStart(2, '0')}`;
}

const F_ASID = FIELD_IDS.asid;
const F_VMID = FIELD_IDS.vmid;
const F_TG = FIELD_IDS.tg;
const F_TTL = FIELD_IDS.ttl;
const F_LEAF = FIELD_IDS.leaf;
const F_ADDR = FIELD_IDS.addr;
const F_NUM = FIELD_IDS.num;
const F_SCALE = FIELD_IDS.scale;
const F_SID = FIELD_IDS.sid;
const F_SIZE = FIELD_IDS.size;
/** 2^n for n in [0, 63]. */
const POW2 = new Float64Array(64).map((_, n) => 2 ** n);

/** Interpret every entry. `onProgress` is called every 2^16 entries. */
export function interpret(
  s: AuditStream,
  checker: CommandChecker,
  onProgress?: (done: number, total: number) => void,
): Interpreted {
  const n = s.count;
  const r = new Interpreted(n);
  const h = s.halves;
  const e = new CheckedEntry();
  const v = e.values;
  let batch = 0;
  let lastNhVmid = -2;
  for (let i = 0; i < n; i++) {
    if (onProgress && (i & 0xffff) === 0xffff) onProgress(i, n);
    const k = i * 4;
    const ok = checker.check(h[k]!, h[k + 1]!, h[k + 2]!, h[k + 3]!, e);
    const op = e.opcode;
    r.op[i] = op;
    r.batch[i] = batch;
    if (e.warnings.length) r.warnings.set(i, e.warnings);
    if (!ok) {
      r.kind[i] = Kind.Illegal;
      r.errors.set(i, e.error!);
      continue;
    }
    const kind = KIND_OF[op]! as Kind;
    r.kind[i] = kind;
    if (kind === Kind.Sync) {
      if (batch === r.batchSync.length) {
        const next = new Int32Array(batch * 2);
        next.set(r.batchSync);
        r.batchSync = next;
      }
      r.batchSync[batch++] = i;
      continue;
    }
    const tags = TAGS_OF[op]!;
    r.asid[i] = tags & 1 ? v[F_ASID]! : -1;
    r.vmid[i] = tags & 2 ? v[F_VMID]! : -1;
    if (kind === Kind.RangeTlbi) {
      const tg = v[F_TG]!;
      r.tg[i] = tg;
      r.ttl[i] = v[F_TTL]!;
      r.leaf[i] = v[F_LEAF]!;
      r.addr[i] = v[F_ADDR]!;
      if (tg !== 0) {
        const scale = Math.min(v[F_SCALE]!, SCALE_CLAMP);
        const pages = (v[F_NUM]! + 1) * POW2[scale]!;
        r.pages[i] = pages;
        r.span[i] = pages * POW2[granuleLog2OfTg(tg)]!;
      }
    } else if (kind === Kind.Atc) {
      r.addr[i] = v[F_ADDR]!;
      r.sid[i] = v[F_SID]!;
      r.span[i] = POW2[Math.min(63, 12 + v[F_SIZE]!)]!;
    } else if (kind === Kind.Cfgi) {
      r.sid[i] = v[F_SID]!;
    }
    if (op === Opcode.TLBI_S2_IPA || op === Opcode.TLBI_S12_VMALL) r.s2Vmids.add(r.vmid[i]!);
    else if (op >= Opcode.TLBI_NH_ALL && op <= Opcode.TLBI_NH_VAA && r.vmid[i] !== lastNhVmid) {
      lastNhVmid = r.vmid[i]!;
      r.nhVmids.add(lastNhVmid);
    }
  }
  if (n > 0 && (r.kind[n - 1] !== Kind.Sync || batch === 0)) {
    // The tail: entries after the last CMD_SYNC form a batch with no SYNC.
    const tailStart = batch === 0 ? 0 : r.batchSync[batch - 1]! + 1;
    if (tailStart < n) {
      if (batch === r.batchSync.length) {
        const next = new Int32Array(batch * 2);
        next.set(r.batchSync);
        r.batchSync = next;
      }
      r.batchSync[batch++] = -1;
    }
  }
  r.batchCount = batch;
  onProgress?.(n, n);
  return r;
}

/** First entry index of batch b. */
export function batchStart(r: Interpreted, b: number): number {
  return b === 0 ? 0 : r.batchSync[b - 1]! + 1;
}

/** One past the last entry of batch b (its SYNC included). */
export function batchEnd(r: Interpreted, b: number): number {
  const s = r.batchSync[b]!;
  return s >= 0 ? s + 1 : r.n;
}
