/**
 * Rebuilding a command stream from a QEMU SMMUv3 trace (`-trace 'smmuv3_*'`).
 *
 * QEMU traces each command as `smmuv3_cmdq_consume` (the slot it reads, as CONS) and `smmuv3_cmdq_opcode`
 * (the command's name), followed by events that show some of its operands: `smmuv3_s1_range_inval` /
 * `smmuv3_range_inval` once per power-of-two chunk of a range TLBI, `smmuv3_cmdq_tlbi_*`,
 * `smmuv3_cmdq_cfgi_*`, `smmu_iotlb_inv_*`, and `smmuv3_cmdq_consume_error` when it raises a CERROR.
 *
 * Line formats accepted:
 *  - the `log` backend: `event payload` (the sample's format);
 *  - the `log` backend with `-msg timestamp=on`: `PID@SECONDS.MICROS:event payload`;
 *  - the text that `scripts/simpletrace.py` prints for the `simple` backend: `event DELTA pid=N arg=value …`
 *    (integers in hex);
 *  - any other prefix (syslog, ftrace) followed by the event name and its payload.
 * The `simple` backend's binary file is refused with the command that converts it. Lines that are not
 * SMMU events are counted and skipped.
 *
 * What a trace cannot tell: the NUM/SCALE split behind a page count (several encodings give the same count;
 * the canonical one — SCALE = lowest set bit — is used and the entry is flagged), and every operand QEMU
 * does not print (RES0 bits, SSec, TTL128, CMD_SYNC's CS and MSI fields, CFGI leaf, SSIDs, ATC_INV and
 * PREFETCH operands). Those are set to 0 and are not checked.
 */
import { OPCODE_NAME, Opcode } from '../cmdq/index.js';
import { AuditInputError } from './errors.js';
import { AuditStream, EntryFlag } from './stream.js';

export type TraceLineFormat = 'log' | 'log-timestamp' | 'simple' | 'other-prefix';

export interface TraceStats {
  lines: number;
  /** Lines per line format (SMMU event lines only). */
  formats: Partial<Record<TraceLineFormat, number>>;
  /** SMMU event lines by event name. */
  events: Record<string, number>;
  /** Lines that are not SMMU events (skipped), and the first of them. */
  unknownLines: number;
  firstUnknownLine: number;
  /** `smmuv3_cmdq_opcode` lines by the name QEMU printed (the trace's own counts). */
  opcodeNames: Record<string, number>;
  /** Range commands whose NUM/SCALE split the trace cannot tell (more than one encoding of the page count). */
  numScaleAmbiguous: number;
  /** Range TLBIs with no range event after them (QEMU refused or did not trace them). */
  rangeWithoutEvent: number;
  /** From the driver's MMIO writes, when traced: CMDQ_BASE.LOG2SIZE and the last CMDQ_PROD / CMDQ_CONS. */
  cmdqLog2size: number | null;
  cmdqProd: number | null;
  cmdqCons: number | null;
}

export interface TraceParseOptions {
  /** Called every so often with the number of characters read so far and the total. */
  readonly onProgress?: (done: number, total: number) => void;
}

/** QEMU's command names (`SMMU_CMD_*`) → opcode. QEMU calls 0x07 CFGI_ALL; the architecture, CFGI_VMS_PIDM. */
const QEMU_OPCODES: ReadonlyMap<string, number> = (() => {
  const m = new Map<string, number>();
  OPCODE_NAME.forEach((n, op) => {
    if (n) m.set(`SMMU_CMD_${n === 'CMD_SYNC' ? 'SYNC' : n}`, op);
  });
  m.set('SMMU_CMD_CFGI_ALL', Opcode.CFGI_VMS_PIDM);
  return m;
})();

const RANGE_OPS = new Set<number>([
  Opcode.TLBI_NH_VA,
  Opcode.TLBI_NH_VAA,
  Opcode.TLBI_EL2_VA,
  Opcode.TLBI_EL2_VAA,
  Opcode.TLBI_EL3_VA,
  Opcode.TLBI_S2_IPA,
]);

const TS_PREFIX = /^(\d+)@(\d+(?:\.\d+)?):\s*/;
const SIMPLE_HEAD = /^\s*-?\d+(?:\.\d+)? pid=\d+\s?/;
const EVENT_ANYWHERE = /(?:^|[\s:\]])((?:smmuv3|smmu)_[a-z0-9_]+):?(?:\s|$)/;
const KV = /([A-Za-z_][\w.]*)\s*[=:]\s*(-?(?:0x[0-9a-fA-F]+|\d+))/g;
const OPCODE_NAME_RE = /(SMMU_CMD_[A-Z0-9_]+|UNKNOWN|INVALID)/;
const CONSUME_ERROR_RE = /(?:execution:\s*|cmd_error=)(0x[0-9a-fA-F]+|\d+)/;

/** Parse a decimal or 0x-hex integer; 64-bit hex is split so addresses with zero low bits stay exact. */
function num(s: string): number {
  if (s.startsWith('-')) return -num(s.slice(1));
  if (s.startsWith('0x') || s.startsWith('0X')) {
    const h = s.slice(2);
    if (h.length <= 13) return parseInt(h, 16);
    return parseInt(h.slice(0, -8), 16) * 4294967296 + parseInt(h.slice(-8), 16);
  }
  return parseInt(s, 10);
}

/** An ASID/VMID as traced: -1 (or its unsigned form in the simple backend) is QEMU's wildcard. */
function tag(v: number | undefined): number {
  if (v === undefined || v < 0 || v >= 2 ** 31) return -1;
  return v;
}

/**
 * The number after `key` followed by `=` or `:` (spaces allowed), or undefined. Faster than kv() for the
 * frequent events; `key` must not be a suffix of another key in the same payload (checked by the caller).
 */
function field(payload: string, key: string): number | undefined {
  let p = payload.indexOf(key);
  while (p > 0) {
    const c = payload.charCodeAt(p - 1);
    if (c === 32 || c === 44 || c === 40) break; // preceded by space, comma or '('
    p = payload.indexOf(key, p + 1);
  }
  if (p < 0) return undefined;
  let q = p + key.length;
  while (payload.charCodeAt(q) === 32) q++;
  const sep = payload.charCodeAt(q);
  if (sep !== 61 && sep !== 58) return undefined; // '=' or ':'
  q++;
  while (payload.charCodeAt(q) === 32) q++;
  let e = q;
  if (payload.charCodeAt(e) === 45) e++;
  while (e < payload.length) {
    const c = payload.charCodeAt(e);
    if ((c >= 48 && c <= 57) || (c >= 97 && c <= 102) || (c >= 65 && c <= 70) || c === 120 || c === 88) e++;
    else break;
  }
  if (e === q) return undefined;
  return num(payload.slice(q, e));
}

function kv(payload: string): Map<string, number> {
  const m = new Map<string, number>();
  KV.lastIndex = 0;
  let r: RegExpExecArray | null;
  while ((r = KV.exec(payload)) !== null) m.set(r[1]!.replace('.', '_'), num(r[2]!));
  return m;
}

/** The command being rebuilt from the lines that follow its opcode event. */
class Pending {
  opcode = -1;
  qemuName = '';
  slot = -1;
  line = 0;
  asid = -1;
  vmid = -1;
  sid = -1;
  range = -1;
  addr = 0;
  tg = 0;
  ttl = 0;
  leaf = 0;
  pages = 0;
  nextAddr = 0;
  rangeEvents = 0;
  error = 0;
  unhandledType = -1;
  discontiguous = false;
}

/** Pick NUM/SCALE for a page count: SCALE = lowest set bit (the canonical form), within 5 SCALE bits. */
export function canonicalNumScale(pages: number): { num: number; scale: number; ambiguous: boolean } {
  let scale = 0;
  let odd = pages;
  while (odd % 2 === 0 && odd > 0) {
    odd /= 2;
    scale++;
  }
  let factor = odd; // NUM + 1
  while (scale > 31 && factor * 2 <= 32) {
    factor *= 2;
    scale--;
  }
  // Other encodings exist when some power of two can move from SCALE into NUM+1 (still ≤ 32).
  const ambiguous = scale > 0 && factor * 2 <= 32;
  return { num: factor - 1, scale, ambiguous };
}

/** Parse a QEMU trace. Throws AuditInputError (naming the line or offset) only for unusable input. */
export function parseQemuTrace(text: string, opts: TraceParseOptions = {}): { stream: AuditStream; stats: TraceStats } {
  const probe = text.slice(0, 4096);
  const nul = probe.indexOf('\u0000');
  if (nul >= 0)
    throw new AuditInputError(
      `byte offset ${nul}`,
      "binary data: this looks like a binary trace file (the `simple` backend writes trace-PID files); convert it to text first with QEMU's scripts/simpletrace.py trace-events-all trace-PID > trace.txt",
    );
  const stats: TraceStats = {
    lines: 0,
    formats: {},
    events: {},
    unknownLines: 0,
    firstUnknownLine: 0,
    opcodeNames: {},
    numScaleAmbiguous: 0,
    rangeWithoutEvent: 0,
    cmdqLog2size: null,
    cmdqProd: null,
    cmdqCons: null,
  };
  const stream = new AuditStream('qemu-trace', 4096);
  let cur: Pending | null = null;
  let consSlot = -1;
  const total = text.length;
  const progressEvery = 1 << 16;
  let lineNo = 0;
  let pos = 0;

  const finish = (): void => {
    if (cur === null) return;
    emit(stream, stats, cur);
    cur = null;
  };

  while (pos < total) {
    let end = text.indexOf('\n', pos);
    if (end < 0) end = total;
    let line = text.slice(pos, end);
    pos = end + 1;
    lineNo++;
    if (opts.onProgress && (lineNo & (progressEvery - 1)) === 0) opts.onProgress(pos, total);
    if (line.endsWith('\r')) line = line.slice(0, -1);
    if (line.length === 0) continue;

    // Split into event name and payload, noting the line format.
    let format: TraceLineFormat = 'log';
    let name: string;
    let payload: string;
    if (line.startsWith('smmu')) {
      const sp = line.indexOf(' ');
      name = sp < 0 ? line : line.slice(0, sp);
      payload = sp < 0 ? '' : line.slice(sp + 1);
    } else {
      const ts = TS_PREFIX.exec(line);
      const rest = ts ? line.slice(ts[0].length) : line;
      if (ts && rest.startsWith('smmu')) {
        format = 'log-timestamp';
        const sp = rest.indexOf(' ');
        name = sp < 0 ? rest : rest.slice(0, sp);
        payload = sp < 0 ? '' : rest.slice(sp + 1);
      } else {
        const m = EVENT_ANYWHERE.exec(line);
        if (!m) {
          stats.unknownLines++;
          if (stats.firstUnknownLine === 0) stats.firstUnknownLine = lineNo;
          continue;
        }
        format = 'other-prefix';
        name = m[1]!;
        payload = line.slice(m.index + m[0].length);
      }
    }
    if (name.endsWith(':')) name = name.slice(0, -1);
    const simple = SIMPLE_HEAD.exec(payload);
    if (simple) {
      format = 'simple';
      payload = payload.slice(simple[0].length);
    }
    stats.formats[format] = (stats.formats[format] ?? 0) + 1;
    stats.events[name] = (stats.events[name] ?? 0) + 1;

    switch (name) {
      case 'smmuv3_cmdq_consume': {
        finish();
        consSlot = field(payload, 'cons') ?? -1;
        break;
      }
      case 'smmuv3_cmdq_opcode': {
        finish();
        const m = OPCODE_NAME_RE.exec(payload);
        const qn = m ? m[1]! : payload.replace(/^.*?(?:<---\s*|opcode=)/, '').trim();
        stats.opcodeNames[qn] = (stats.opcodeNames[qn] ?? 0) + 1;
        const p = new Pending();
        p.qemuName = qn;
        p.opcode = QEMU_OPCODES.get(qn) ?? -1;
        p.slot = consSlot;
        p.line = lineNo;
        consSlot = -1;
        cur = p;
        break;
      }
      case 'smmuv3_s1_range_inval':
      case 'smmuv3_range_inval':
      case 'smmuv3_cmdq_tlbi_nh_va':
      case 'smmuv3_cmdq_tlbi_nh_vaa': {
        if (cur === null) break;
        const c: Pending = cur;
        const addr = field(payload, 'addr') ?? 0;
        const tg = field(payload, 'tg') ?? 0;
        const pages = field(payload, 'num_pages') ?? 1;
        if (c.rangeEvents === 0) {
          c.addr = addr;
          c.tg = tg;
          c.ttl = field(payload, 'ttl') ?? 0;
          c.leaf = field(payload, 'leaf') ?? 0;
          c.asid = tag(field(payload, 'asid'));
          c.vmid = tag(field(payload, 'vmid'));
        } else if (addr !== c.nextAddr) c.discontiguous = true;
        const granule = 2 ** (tg === 0 ? 12 : 10 + 2 * tg);
        c.pages += pages;
        c.nextAddr = addr + pages * granule;
        c.rangeEvents++;
        break;
      }
      case 'smmuv3_cmdq_tlbi_nh_asid':
      case 'smmu_iotlb_inv_asid':
      case 'smmu_iotlb_inv_asid_vmid': {
        if (cur === null) break;
        const v = kv(payload);
        if (v.has('asid')) cur.asid = tag(v.get('asid'));
        if (v.has('vmid')) cur.vmid = tag(v.get('vmid'));
        break;
      }
      case 'smmuv3_cmdq_tlbi_nh':
      case 'smmuv3_cmdq_tlbi_s12_vmid':
      case 'smmu_iotlb_inv_vmid':
      case 'smmu_iotlb_inv_vmid_s1': {
        if (cur === null) break;
        const v = kv(payload);
        if (v.has('vmid')) cur.vmid = tag(v.get('vmid'));
        break;
      }
      case 'smmuv3_cmdq_cfgi_ste':
      case 'smmuv3_cmdq_cfgi_cd': {
        if (cur === null) break;
        const v = kv(payload);
        const sid = v.get('streamid') ?? v.get('sid');
        if (sid !== undefined) cur.sid = sid;
        break;
      }
      case 'smmuv3_cmdq_cfgi_ste_range': {
        if (cur === null) break;
        const v = kv(payload);
        const start = v.get('start');
        const endSid = v.get('end');
        if (start !== undefined && endSid !== undefined) {
          cur.sid = start;
          const span = endSid - start + 1;
          const r = Math.round(Math.log2(span)) - 1;
          if (2 ** (r + 1) === span && r >= 0 && r <= 31) cur.range = r;
        }
        break;
      }
      case 'smmuv3_cmdq_consume_error': {
        if (cur === null) break;
        const m = CONSUME_ERROR_RE.exec(payload);
        cur.error = m ? num(m[1]!) : 1;
        break;
      }
      case 'smmuv3_unhandled_cmd': {
        if (cur === null) break;
        const v = kv(payload);
        const t = v.get('type');
        if (t !== undefined) cur.unhandledType = t;
        break;
      }
      case 'smmuv3_write_mmio': {
        const a = field(payload, 'addr');
        if (a !== 0x90 && a !== 0x98 && a !== 0x9c) break;
        const val = field(payload, 'val');
        if (a === 0x90) {
          // CMDQ_BASE is a 64-bit address: read LOG2SIZE (bits [4:0]) from the last hex digits, exactly.
          const m = /val\s*[=:]\s*0x([0-9a-fA-F]+)/.exec(payload);
          if (m) stats.cmdqLog2size = parseInt(m[1]!.slice(-2), 16) & 0x1f;
        } else if (a === 0x98 && val !== undefined) stats.cmdqProd = val;
        else if (a === 0x9c && val !== undefined) stats.cmdqCons = val;
        break;
      }
      default:
        break; // other SMMU events: counted, not needed
    }
  }
  finish();
  opts.onProgress?.(total, total);
  stats.lines = lineNo;
  if (stream.count === 0) {
    const where = stats.unknownLines === stats.lines ? `line ${stats.firstUnknownLine || 1}` : 'trace';
    throw new AuditInputError(
      where,
      `no smmuv3_cmdq_opcode events in ${lineNo} lines (${stats.unknownLines} not SMMU events): record the trace with -trace 'smmuv3_*' so that the command stream can be rebuilt`,
    );
  }
  if (stats.numScaleAmbiguous > 0)
    stream.notes.push(
      `${stats.numScaleAmbiguous} range commands: the trace gives only the page count (NUM+1)×2^SCALE, not the split; the canonical split (SCALE = lowest set bit) is shown`,
    );
  stream.notes.push(
    'rebuilt from a QEMU trace: RES0 bits, SSec, TTL128, CMD_SYNC CS/MSI fields, CFGI leaf, SSIDs and ATC_INV/PREFETCH operands are not traced, so they were taken as 0 and not checked',
  );
  if (stats.rangeWithoutEvent > 0)
    stream.notes.push(
      `${stats.rangeWithoutEvent} range TLBIs had no range event in the trace: their operands are unknown`,
    );
  return { stream, stats };
}

/** Build the 16-byte entry for a finished command from what the trace showed. */
function emit(stream: AuditStream, stats: TraceStats, c: Pending): void {
  let flags = 0;
  let op = c.opcode;
  if (op < 0) {
    if (c.unhandledType >= 0 && c.unhandledType < 256) op = c.unhandledType;
    else {
      op = 0;
      flags |= EntryFlag.UnknownOpcode;
    }
  }
  let h0 = op;
  let h1 = 0;
  let h2 = 0;
  let h3 = 0;
  const asid = c.asid < 0 ? 0 : c.asid & 0xffff;
  const vmid = c.vmid < 0 ? 0 : c.vmid & 0xffff;
  if (RANGE_OPS.has(op)) {
    if (c.rangeEvents === 0) {
      flags |= EntryFlag.Partial;
      stats.rangeWithoutEvent++;
    } else {
      if (c.discontiguous) flags |= EntryFlag.Partial;
      if (c.tg !== 0) {
        const ns = canonicalNumScale(c.pages);
        if (ns.ambiguous) {
          flags |= EntryFlag.NumScaleInferred;
          stats.numScaleAmbiguous++;
        }
        h0 |= (ns.num << 12) | ((ns.scale & 0x3f) << 20);
      }
      const hi = Math.floor(c.addr / 4294967296);
      h2 = ((c.leaf & 1) | ((c.ttl & 3) << 8) | ((c.tg & 3) << 10) | (c.addr - hi * 4294967296)) >>> 0;
      h3 = hi >>> 0;
    }
    h1 = (vmid | (asid << 16)) >>> 0;
    if (op === Opcode.TLBI_NH_VAA || op === Opcode.TLBI_S2_IPA) h1 = vmid;
  } else if (op === Opcode.TLBI_NH_ASID) {
    h1 = (vmid | (asid << 16)) >>> 0;
  } else if (op === Opcode.TLBI_NH_ALL || op === Opcode.TLBI_S12_VMALL) {
    h1 = vmid;
  } else if (op === Opcode.CFGI_STE || op === Opcode.CFGI_CD || op === Opcode.CFGI_CD_ALL) {
    h1 = c.sid < 0 ? 0 : c.sid >>> 0;
  } else if (op === Opcode.CFGI_STE_RANGE) {
    h1 = c.sid < 0 ? 0 : c.sid >>> 0;
    h2 = c.range < 0 ? 0 : c.range;
  }
  h0 >>>= 0;
  const index = stream.push(h0, h1, h2, h3, c.slot, flags, c.line);
  if (c.error !== 0) {
    stream.flags[index] = stream.flags[index]! | EntryFlag.Blamed;
    stream.cerrors.push({ index, code: c.error });
  }
}
