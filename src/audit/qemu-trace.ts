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
 *
 * The parser is fed a line at a time (`QemuTraceParser`), so a trace of any length is read with bounded memory.
 * It uses no regular expression that can backtrack: event names, key=value pairs and opcode names are found by
 * hand-written scanners, the two regular expressions left are anchored and linear, and a line longer than
 * MAX_TRACE_LINE characters (QEMU's lines are under 1 KiB) is not parsed at all: it is counted as not an SMMU event.
 */
import { OPCODE_NAME, Opcode } from '../cmdq/index.js';
import { TLBI_ASID, TLBI_LEAF, TLBI_NUM, TLBI_SCALE, TLBI_TG, TLBI_TTL, TLBI_VMID, fieldBits } from '../cmdq/fields.js';
import { AuditInputError } from './errors.js';
import { consumeError, eventAnywhere, field, fieldText, fieldToken, opcodeFallback, opcodeName } from './trace-scan.js';
import { AuditStream, EntryFlag, type EntrySink } from './stream.js';
import { granuleLog2OfTg, log2Of } from '../units.js';

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

/** Longest line parsed (longer lines are counted as not SMMU events). */
export const MAX_TRACE_LINE = 4096;

/** `PID@SECONDS.MICROS:` (the log backend with -msg timestamp=on). Anchored, no nested quantifier. */
const TS_PREFIX = /^(\d+)@(\d+(?:\.\d+)?):\s*/;
/** `DELTA pid=N ` (simpletrace.py text). Anchored, no nested quantifier. */
const SIMPLE_HEAD = /^\s*-?\d+(?:\.\d+)? pid=\d+\s?/;

/** The regular expressions of this parser (for the ReDoS check of the tests). */
export const TRACE_PATTERNS: readonly RegExp[] = [TS_PREFIX, SIMPLE_HEAD];

/** What an ASID or VMID operand may be, for messages (constant: the hot path builds no string). */
const TAG_RANGE = { asid: 'a 16-bit ASID, or -1 for any', vmid: 'a 16-bit VMID, or -1 for any' } as const;

/** An ASID/VMID as traced: -1 (or its unsigned form in the simple backend) is QEMU's wildcard. */
function tag(v: number | undefined): number {
  if (v === undefined || v < 0 || v >= 2 ** 31) return -1;
  return v;
}

/**
 * A traced operand's text as a number, or why it is refused: `-`? then `0x` and hex digits, or decimal
 * digits, ending at white space, `,`, `)` or the end. A 64-bit hex value above 2^53 must be 4 KiB aligned
 * (then it is held exactly, as addresses are). No regular expression: one pass over the token.
 */
export function operandValue(text: string, next: number): number | string {
  if (!Number.isNaN(next) && next !== 32 && next !== 44 && next !== 41 && next !== 9 && next !== 13)
    return 'is not a whole number';
  let k = 0;
  const neg = text.charCodeAt(0) === 45;
  if (neg) k = 1;
  const hex = text.charCodeAt(k) === 48 && (text.charCodeAt(k + 1) | 0x20) === 120;
  if (hex) k += 2;
  while (text.charCodeAt(k) === 48 && k < text.length - 1) k++; // leading zeros
  const n = text.length - k;
  if (n === 0) return 'is not a number';
  // One pass: check every digit and add it up (exact for up to 13 hex or 15 decimal digits, below 2^53).
  const base = hex ? 16 : 10;
  let acc = 0;
  for (let i = k; i < text.length; i++) {
    const c = text.charCodeAt(i);
    const l = c | 0x20;
    let d: number;
    if (c >= 48 && c <= 57) d = c - 48;
    else if (hex && l >= 97 && l <= 102) d = l - 87;
    else return hex ? 'is not a number' : 'is not a whole decimal or 0x hex number';
    acc = acc * base + d;
  }
  let v: number;
  if (hex) {
    if (n > 16) return 'does not fit in 64 bits';
    if (n <= 13) v = acc;
    else {
      const hi = parseInt(text.slice(k, text.length - 8), 16);
      const lo = parseInt(text.slice(text.length - 8), 16);
      if (hi >= 2 ** 21 && lo % 4096 !== 0) return 'is above 2^53 and not 4 KiB aligned, so it cannot be held exactly';
      v = hi * 4294967296 + lo;
    }
  } else {
    if (n > 16) return 'is above 2^53';
    v = n <= 15 ? acc : parseInt(text.slice(k), 10);
    if (!Number.isSafeInteger(v)) return 'is above 2^53';
  }
  return neg ? -v : v;
}

/** A range command's page count (NUM+1) × 2^SCALE can be written with NUM < 32 and SCALE < 32. */
function encodablePages(pages: number): boolean {
  if (!Number.isSafeInteger(pages) || pages < 1) return false;
  let odd = pages;
  let scale = 0;
  while (odd % 2 === 0) {
    odd /= 2;
    scale++;
  }
  // canonicalNumScale moves powers of two from SCALE into NUM+1 while SCALE > 31.
  while (scale > 31 && odd * 2 <= 32) {
    odd *= 2;
    scale--;
  }
  return odd <= 32 && scale <= 31;
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

function newStats(): TraceStats {
  return {
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
}

const BINARY_PROBE = 4096;

/**
 * A QEMU trace parser fed a line at a time (without its `\n`): each command rebuilt goes to the sink as soon as the
 * next command's first event (or the end) shows it is complete. Throws AuditInputError (naming the line or
 * offset) only for unusable input.
 */
export class QemuTraceParser {
  readonly stats: TraceStats = newStats();
  private cur: Pending | null = null;
  private consSlot = -1;
  private lineNo = 0;
  /** Characters seen (up to BINARY_PROBE: the binary-file check looks at the start only). */
  private probed = 0;
  /** Commands rebuilt. */
  commands = 0;

  constructor(private readonly sink: EntrySink) {}

  /** A usage error for a traced operand, naming the line and the operand as written. */
  private badOperand(key: string, text: string, next: number, why: string): never {
    const shown = Number.isNaN(next) || next === 32 ? text : `${text}${String.fromCharCode(next)}…`;
    throw new AuditInputError(`line ${this.lineNo}`, `${key}=${shown} ${why}`);
  }

  /** Operand `key` of the payload within [min, max] (`range` says it in words), or undefined if absent. */
  private operand(payload: string, key: string, min: number, max: number, range: string): number | undefined {
    const tok = fieldToken(payload, key);
    if (tok === undefined) return undefined;
    const v = operandValue(tok.text, tok.next);
    if (typeof v === 'string') return this.badOperand(key, tok.text, tok.next, v);
    if (v < min || v > max) return this.badOperand(key, tok.text, tok.next, `is out of range (${range})`);
    return v;
  }

  /** An ASID or VMID: 16 bits, or QEMU's wildcard -1 (4294967295 when printed unsigned). -1 when absent. */
  private tagOperand(payload: string, key: 'asid' | 'vmid'): number | undefined {
    const range = TAG_RANGE[key];
    const v = this.operand(payload, key, -1, 4294967295, range);
    if (v === undefined) return undefined;
    if (v === 4294967295) return -1;
    if (v > 0xffff) {
      const tok = fieldToken(payload, key)!;
      return this.badOperand(key, tok.text, tok.next, `is out of range (${range})`);
    }
    return v;
  }

  private finish(): void {
    if (this.cur === null) return;
    emit(this.sink, this.stats, this.cur);
    this.commands++;
    this.cur = null;
  }

  private unknown(): void {
    this.stats.unknownLines++;
    if (this.stats.firstUnknownLine === 0) this.stats.firstUnknownLine = this.lineNo;
  }

  line(text: string): void {
    this.lineNo++;
    if (this.probed < BINARY_PROBE) {
      const nul = text.indexOf('\u0000');
      if (nul >= 0 && this.probed + nul < BINARY_PROBE)
        throw new AuditInputError(
          `byte offset ${this.probed + nul}`,
          "binary data: this looks like a binary trace file (the `simple` backend writes trace-PID files); convert it to text first with QEMU's scripts/simpletrace.py trace-events-all trace-PID > trace.txt",
        );
      this.probed += text.length + 1;
    }
    let line = text;
    if (line.length > MAX_TRACE_LINE) return this.unknown();
    if (line.endsWith('\r')) line = line.slice(0, -1);
    if (line.length === 0) return;

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
        const m = eventAnywhere(line);
        if (!m) return this.unknown();
        format = 'other-prefix';
        name = m.name;
        payload = line.slice(m.payload);
      }
    }
    if (name.endsWith(':')) name = name.slice(0, -1);
    // simpletrace.py's head starts with white space, '-' or a digit (all below '9' or, for Unicode white
    // space, from U+00A0): a payload starting with a letter cannot match, and most do.
    const c0 = payload.charCodeAt(0);
    const simple = c0 <= 57 || c0 >= 160 ? SIMPLE_HEAD.exec(payload) : null;
    if (simple) {
      format = 'simple';
      payload = payload.slice(simple[0].length);
    }
    this.stats.formats[format] = (this.stats.formats[format] ?? 0) + 1;
    this.stats.events[name] = (this.stats.events[name] ?? 0) + 1;
    this.event(name, payload);
  }

  private event(name: string, payload: string): void {
    switch (name) {
      case 'smmuv3_cmdq_consume': {
        this.finish();
        this.consSlot = this.operand(payload, 'cons', 0, 2 ** 20 - 1, 'a queue index below 2^20') ?? -1;
        break;
      }
      case 'smmuv3_cmdq_opcode': {
        this.finish();
        const qn = opcodeName(payload) ?? opcodeFallback(payload);
        this.stats.opcodeNames[qn] = (this.stats.opcodeNames[qn] ?? 0) + 1;
        const p = new Pending();
        p.qemuName = qn;
        p.opcode = QEMU_OPCODES.get(qn) ?? -1;
        p.slot = this.consSlot;
        p.line = this.lineNo;
        this.consSlot = -1;
        this.cur = p;
        break;
      }
      case 'smmuv3_s1_range_inval':
      case 'smmuv3_range_inval':
      case 'smmuv3_cmdq_tlbi_nh_va':
      case 'smmuv3_cmdq_tlbi_nh_vaa': {
        if (this.cur === null) break;
        const c: Pending = this.cur;
        // Every operand is range-checked: a value the command cannot hold is refused, never masked into
        // other fields (num_pages=0 once became NUM = -1, "SCALE bit 25 is RES0", a finding the tool made up).
        const addr = this.operand(payload, 'addr', 0, 2 ** 64 - 1, '0 to 2^64 - 1') ?? 0;
        const tg = this.operand(payload, 'tg', 0, 3, '0 to 3') ?? 0;
        const pages =
          this.operand(payload, 'num_pages', 1, 2 ** 36, '1 to 2^36, (NUM+1) × 2^SCALE with NUM and SCALE below 32') ??
          1;
        if (!encodablePages(pages)) {
          const tok = fieldToken(payload, 'num_pages')!;
          this.badOperand('num_pages', tok.text, tok.next, 'is not (NUM+1) × 2^SCALE with NUM and SCALE below 32');
        }
        const ttl = this.operand(payload, 'ttl', 0, 3, '0 to 3') ?? 0;
        const leaf = this.operand(payload, 'leaf', 0, 1, '0 or 1') ?? 0;
        const asid = tag(this.tagOperand(payload, 'asid'));
        const vmid = tag(this.tagOperand(payload, 'vmid'));
        if (c.rangeEvents === 0) {
          c.addr = addr;
          c.tg = tg;
          c.ttl = ttl;
          c.leaf = leaf;
          c.asid = asid;
          c.vmid = vmid;
        } else if (addr !== c.nextAddr) c.discontiguous = true;
        const granule = 2 ** (tg === 0 ? 12 : granuleLog2OfTg(tg));
        c.pages += pages;
        c.nextAddr = addr + pages * granule;
        c.rangeEvents++;
        break;
      }
      default:
        this.operands(name, payload);
        break;
    }
  }

  /** Events that complete the operands of the current command (tags, SIDs, errors) or the queue registers. */
  private operands(name: string, payload: string): void {
    switch (name) {
      case 'smmuv3_cmdq_tlbi_nh_asid':
      case 'smmu_iotlb_inv_asid':
      case 'smmu_iotlb_inv_asid_vmid': {
        if (this.cur === null) break;
        const asid = this.tagOperand(payload, 'asid');
        const vmid = this.tagOperand(payload, 'vmid');
        if (asid !== undefined) this.cur.asid = tag(asid);
        if (vmid !== undefined) this.cur.vmid = tag(vmid);
        break;
      }
      case 'smmuv3_cmdq_tlbi_nh':
      case 'smmuv3_cmdq_tlbi_s12_vmid':
      case 'smmu_iotlb_inv_vmid':
      case 'smmu_iotlb_inv_vmid_s1': {
        if (this.cur === null) break;
        const vmid = this.tagOperand(payload, 'vmid');
        if (vmid !== undefined) this.cur.vmid = tag(vmid);
        break;
      }
      case 'smmuv3_cmdq_cfgi_ste':
      case 'smmuv3_cmdq_cfgi_cd': {
        if (this.cur === null) break;
        const sid =
          this.operand(payload, 'streamid', 0, 4294967295, 'a 32-bit StreamID') ??
          this.operand(payload, 'sid', 0, 4294967295, 'a 32-bit StreamID');
        if (sid !== undefined) this.cur.sid = sid;
        break;
      }
      case 'smmuv3_cmdq_cfgi_ste_range': {
        if (this.cur === null) break;
        const start = this.operand(payload, 'start', 0, 4294967295, 'a 32-bit StreamID');
        const endSid = this.operand(payload, 'end', 0, 4294967295, 'a 32-bit StreamID');
        if (start !== undefined && endSid !== undefined && endSid < start)
          throw new AuditInputError(`line ${this.lineNo}`, `end=${endSid} is below start=${start}`);
        if (start !== undefined && endSid !== undefined) {
          this.cur.sid = start;
          const span = endSid - start + 1;
          const r = log2Of(span) - 1;
          if (2 ** (r + 1) === span && r >= 0 && r <= 31) this.cur.range = r;
        }
        break;
      }
      case 'smmuv3_cmdq_consume_error': {
        if (this.cur === null) break;
        this.cur.error = consumeError(payload) ?? 1;
        break;
      }
      case 'smmuv3_unhandled_cmd': {
        if (this.cur === null) break;
        const t = this.operand(payload, 'type', 0, 255, 'an 8-bit opcode');
        if (t !== undefined) this.cur.unhandledType = t;
        break;
      }
      case 'smmuv3_write_mmio': {
        const a = field(payload, 'addr');
        if (a !== 0x90 && a !== 0x98 && a !== 0x9c) break;
        const val = field(payload, 'val');
        if (a === 0x90) {
          // CMDQ_BASE is a 64-bit address: read LOG2SIZE (bits [4:0]) from the last hex digits, exactly.
          const t = fieldText(payload, 'val');
          if (t !== undefined && t.startsWith('0x') && t.length > 2)
            this.stats.cmdqLog2size = parseInt(t.slice(-2), 16) & 0x1f;
        } else if (a === 0x98 && val !== undefined) this.stats.cmdqProd = val;
        else if (a === 0x9c && val !== undefined) this.stats.cmdqCons = val;
        break;
      }
      default:
        break; // other SMMU events: counted, not needed
    }
  }

  /** The trace ended: the last command, the checks and notes. Returns the statistics. */
  end(): TraceStats {
    this.finish();
    const stats = this.stats;
    stats.lines = this.lineNo;
    if (this.commands === 0) {
      const where = stats.unknownLines === stats.lines ? `line ${stats.firstUnknownLine || 1}` : 'trace';
      throw new AuditInputError(
        where,
        `no smmuv3_cmdq_opcode events in ${this.lineNo} lines (${stats.unknownLines} not SMMU events): record the trace with -trace 'smmuv3_*' so that the command stream can be rebuilt`,
      );
    }
    const sink = this.sink;
    if (stats.numScaleAmbiguous > 0)
      sink.note(
        `${stats.numScaleAmbiguous} range commands: the trace gives only the page count (NUM+1)×2^SCALE, not the split; the canonical split (SCALE = lowest set bit) is shown`,
      );
    sink.note(
      'rebuilt from a QEMU trace: RES0 bits, SSec, TTL128, CMD_SYNC CS/MSI fields, CFGI leaf, SSIDs and ATC_INV/PREFETCH operands are not traced, so they were taken as 0 and not checked',
    );
    if (stats.rangeWithoutEvent > 0)
      sink.note(`${stats.rangeWithoutEvent} range TLBIs had no range event in the trace: their operands are unknown`);
    return stats;
  }
}

/** Parse a whole QEMU trace. Throws AuditInputError (naming the line or offset) only for unusable input. */
export function parseQemuTrace(text: string, opts: TraceParseOptions = {}): { stream: AuditStream; stats: TraceStats } {
  const stream = new AuditStream('qemu-trace', 4096);
  const parser = new QemuTraceParser(stream);
  const total = text.length;
  const progressEvery = 1 << 16;
  let pos = 0;
  let lines = 0;
  while (pos < total) {
    let end = text.indexOf('\n', pos);
    if (end < 0) end = total;
    parser.line(text.slice(pos, end));
    pos = end + 1;
    if (opts.onProgress && (++lines & (progressEvery - 1)) === 0) opts.onProgress(pos, total);
  }
  const stats = parser.end();
  opts.onProgress?.(total, total);
  return { stream, stats };
}

/** Build the 16-byte entry for a finished command from what the trace showed. */
function emit(sink: EntrySink, stats: TraceStats, c: Pending): void {
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
      if (c.tg !== 0 && !encodablePages(c.pages)) {
        // The range events of one command add up to a count no NUM/SCALE holds: operands unknown.
        flags |= EntryFlag.Partial;
      } else if (c.tg !== 0) {
        const ns = canonicalNumScale(c.pages);
        if (ns.ambiguous) {
          flags |= EntryFlag.NumScaleInferred;
          stats.numScaleAmbiguous++;
        }
        h0 |= fieldBits(TLBI_NUM, ns.num) | fieldBits(TLBI_SCALE, ns.scale);
      }
      const hi = Math.floor(c.addr / 4294967296);
      h2 =
        (fieldBits(TLBI_LEAF, c.leaf) |
          fieldBits(TLBI_TTL, c.ttl) |
          fieldBits(TLBI_TG, c.tg) |
          (c.addr - hi * 4294967296)) >>>
        0;
      h3 = hi >>> 0;
    }
    h1 = (fieldBits(TLBI_VMID, vmid) | fieldBits(TLBI_ASID, asid)) >>> 0;
    if (op === Opcode.TLBI_NH_VAA || op === Opcode.TLBI_S2_IPA) h1 = fieldBits(TLBI_VMID, vmid);
  } else if (op === Opcode.TLBI_NH_ASID) {
    h1 = (fieldBits(TLBI_VMID, vmid) | fieldBits(TLBI_ASID, asid)) >>> 0;
  } else if (op === Opcode.TLBI_NH_ALL || op === Opcode.TLBI_S12_VMALL) {
    h1 = fieldBits(TLBI_VMID, vmid);
  } else if (op === Opcode.CFGI_STE || op === Opcode.CFGI_CD || op === Opcode.CFGI_CD_ALL) {
    h1 = c.sid < 0 ? 0 : c.sid >>> 0;
  } else if (op === Opcode.CFGI_STE_RANGE) {
    h1 = c.sid < 0 ? 0 : c.sid >>> 0;
    h2 = c.range < 0 ? 0 : c.range;
  }
  h0 >>>= 0;
  sink.push(h0, h1, h2, h3, c.slot, flags, c.line);
  if (c.error !== 0) sink.blame(c.error);
}
