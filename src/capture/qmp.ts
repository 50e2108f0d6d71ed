/**
 * QEMU Machine Protocol replies, and the SMMUv3 register block read through it.
 *
 * QMP is one JSON object per line: the greeting `{"QMP": {"version": …}}`, then per command
 * `{"return": …}` or `{"error": {"class": …, "desc": …}}`, with asynchronous `{"event": …}` lines in
 * between. Registers are read with the HMP `xp` command through `human-monitor-command`, whose reply is
 * text such as `0000000009050090: 0x40000000fb900010\r\n`.
 */
import { InputError } from '../parse.js';
import { halvesOfHex } from './ftrace.js';

export type QmpMessage =
  | { readonly kind: 'greeting'; readonly version: string }
  | { readonly kind: 'return'; readonly value: unknown; readonly id: unknown }
  | { readonly kind: 'error'; readonly errorClass: string; readonly desc: string; readonly id: unknown }
  | { readonly kind: 'event'; readonly event: string; readonly data: unknown };

export class QmpError extends InputError {
  constructor(message: string) {
    super('QMP', message);
    this.name = 'QmpError';
  }
}

function obj(v: unknown): Record<string, unknown> | null {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : null;
}

/** One QMP line → a message (throws QmpError naming what is wrong). */
export function parseQmpLine(line: string): QmpMessage {
  let doc: unknown;
  try {
    doc = JSON.parse(line);
  } catch {
    throw new QmpError(`not a JSON line: "${line.slice(0, 120)}"`);
  }
  const o = obj(doc);
  if (!o) throw new QmpError(`expected a JSON object, got "${line.slice(0, 120)}"`);
  const g = obj(o.QMP);
  if (g) {
    const v = obj(obj(g.version)?.qemu);
    const version = v ? `${String(v.major)}.${String(v.minor)}.${String(v.micro)}` : 'unknown';
    return { kind: 'greeting', version };
  }
  if ('return' in o) return { kind: 'return', value: o.return, id: o.id };
  const e = obj(o.error);
  if (e) return { kind: 'error', errorClass: String(e.class ?? ''), desc: String(e.desc ?? ''), id: o.id };
  if (typeof o.event === 'string') return { kind: 'event', event: o.event, data: o.data };
  throw new QmpError(`a message with neither return, error nor event: "${line.slice(0, 120)}"`);
}

/** One value from an `xp` reply: its physical address and the value as [lo, hi] halves. */
export interface XpValue {
  readonly addr: number;
  readonly lo: number;
  readonly hi: number;
}

/** Parse `xp /Nxg` or `/Nxw` output: `ADDR: 0xV [0xV …]` per line. */
export function parseXp(text: string): XpValue[] {
  const out: XpValue[] = [];
  for (const raw of text.split('\n')) {
    const l = raw.replace(/\r$/, '').trim();
    if (l === '') continue;
    const m = /^([0-9a-f]+):((?:\s+0x[0-9a-f]+)+)\s*$/i.exec(l);
    if (!m) throw new QmpError(`xp: unexpected reply line "${l.slice(0, 120)}"`);
    const base = parseInt(m[1]!, 16);
    const vals = m[2]!.trim().split(/\s+/);
    const width = vals[0]!.length > 10 ? 8 : 4;
    vals.forEach((v, k) => {
      const [lo, hi] = halvesOfHex(v, () => new QmpError(`xp: bad value ${v}`));
      out.push({ addr: base + k * width, lo, hi });
    });
  }
  return out;
}

/** SMMUv3 page-0 registers the capture reads (offset, width in bytes), IHI 0070 §6.3. */
export const SMMU_REGISTERS: readonly { readonly name: string; readonly offset: number; readonly bytes: 4 | 8 }[] = [
  { name: 'IDR0', offset: 0x00, bytes: 4 },
  { name: 'IDR1', offset: 0x04, bytes: 4 },
  { name: 'IDR2', offset: 0x08, bytes: 4 },
  { name: 'IDR3', offset: 0x0c, bytes: 4 },
  { name: 'IDR4', offset: 0x10, bytes: 4 },
  { name: 'IDR5', offset: 0x14, bytes: 4 },
  { name: 'IIDR', offset: 0x18, bytes: 4 },
  { name: 'AIDR', offset: 0x1c, bytes: 4 },
  { name: 'CR0', offset: 0x20, bytes: 4 },
  { name: 'CR1', offset: 0x28, bytes: 4 },
  { name: 'CR2', offset: 0x2c, bytes: 4 },
  { name: 'GBPA', offset: 0x44, bytes: 4 },
  { name: 'IRQ_CTRL', offset: 0x50, bytes: 4 },
  { name: 'STRTAB_BASE', offset: 0x80, bytes: 8 },
  { name: 'STRTAB_BASE_CFG', offset: 0x88, bytes: 4 },
  { name: 'CMDQ_BASE', offset: 0x90, bytes: 8 },
  { name: 'CMDQ_PROD', offset: 0x98, bytes: 4 },
  { name: 'CMDQ_CONS', offset: 0x9c, bytes: 4 },
  { name: 'EVENTQ_BASE', offset: 0xa0, bytes: 8 },
];

/** Where the `virt` machine puts the SMMUv3 (VIRT_SMMU in QEMU's hw/arm/virt.c memory map). */
export const VIRT_SMMU_BASE = 0x09050000;

/** "0x…" of a [lo, hi] pair, without leading zeros (as the samples' cmdq.json writes registers). */
export function hexOfHalves(lo: number, hi: number): string {
  return hi === 0
    ? `0x${(lo >>> 0).toString(16)}`
    : `0x${(hi >>> 0).toString(16)}${(lo >>> 0).toString(16).padStart(8, '0')}`;
}

/**
 * The command queue described by CMDQ_BASE (IHI 0070 §6.3.24: ADDR [51:5], LOG2SIZE [4:0]); the ring is
 * 2^LOG2SIZE entries of 16 bytes.
 */
export function cmdqOfBase(lo: number, hi: number): { base: number; log2size: number; bytes: number } {
  const log2size = lo & 0x1f;
  const base = (hi & 0xfffff) * 4294967296 + (((lo >>> 5) << 5) >>> 0);
  return { base, log2size, bytes: 2 ** log2size * 16 };
}
