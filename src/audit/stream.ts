/**
 * The audited command stream: the entries of a queue in the order the SMMU consumed (or would consume)
 * them, as 16-byte entries (four little-endian 32-bit halves each), with where each came from. Readers
 * (`ring.ts`, `qemu-trace.ts`, hex words) build one; the rules and the re-planner only read it.
 */

/** Entry flags (bit set per entry). */
export const EntryFlag = {
  /** Between CONS and PROD: written by software but not yet consumed by the SMMU. */
  Pending: 1,
  /** The entry at CONS while CMDQ_CONS.ERR was set: the SMMU stopped on it. */
  Blamed: 2,
  /** A CMD_SYNC whose first word the SMMU overwrote with its MSI write (MSIAddr pointing at the slot). */
  MsiOverwritten: 4,
  /** Rebuilt from a trace: NUM/SCALE inferred from the page count (the trace gives only the product). */
  NumScaleInferred: 8,
  /** Rebuilt from a trace: fields the trace does not show were set to 0 (they could not be checked). */
  Partial: 16,
  /** Rebuilt from a trace: QEMU named the opcode UNKNOWN/INVALID, so its value is not known. */
  UnknownOpcode: 32,
} as const;

export type StreamSource = 'dump' | 'hex' | 'qemu-trace';

/** What the queue registers said about the ring (dumps with --prod/--cons, or traces from MMIO writes). */
export interface RingInfo {
  readonly log2size: number;
  /** CMDQ_PROD and CMDQ_CONS as given (index and wrap bit; CONS with ERR in bits [30:24]). */
  readonly prod: number;
  readonly cons: number;
  /** CMDQ_CONS.ERR: 0 none, 1 CERROR_ILL, 2 CERROR_ABT, 3 CERROR_ATC_INV_SYNC. */
  readonly consErr: number;
  /** True when every slot holds an entry that was written at least once (the queue has gone round). */
  readonly wrapped: boolean;
  /** Entries read, oldest first. */
  readonly entries: number;
  /** Entries between CONS and PROD. */
  readonly pending: number;
  /** The first slot read (oldest entry). */
  readonly firstSlot: number;
}

/** Where readers put the entries they rebuild: an AuditStream (whole input) or an AuditSession (streamed). */
export interface EntrySink {
  push(h0: number, h1: number, h2: number, h3: number, slot: number, flags?: number, line?: number): unknown;
  /** The SMMU reported CERROR `code` on the entry pushed last (flags it Blamed). */
  blame(code: number): void;
  /** An observation about the input that is not a finding. */
  note(text: string): void;
}

/** A growable struct-of-arrays stream of entries. */
export class AuditStream implements EntrySink {
  readonly source: StreamSource;
  count = 0;
  halves: Uint32Array;
  /** Ring slot of each entry (dumps and traces), or its position in the input (hex words). */
  slot: Int32Array;
  flags: Uint8Array;
  /** Input line of each entry (traces and hex words; 0 when unknown). */
  line: Int32Array;
  ring: RingInfo | null = null;
  /** Entries the SMMU reported an error on (CMDQ_CONS.ERR, or QEMU's consume_error), with the CERROR code. */
  readonly cerrors: { index: number; code: number }[] = [];
  /** Observations about the input that are not findings (e.g. "the ring has wrapped"). */
  readonly notes: string[] = [];

  constructor(source: StreamSource, capacity = 1024) {
    this.source = source;
    const c = Math.max(1, capacity);
    this.halves = new Uint32Array(c * 4);
    this.slot = new Int32Array(c);
    this.flags = new Uint8Array(c);
    this.line = new Int32Array(c);
  }

  private grow(): void {
    const c = this.slot.length * 2;
    const h = new Uint32Array(c * 4);
    h.set(this.halves);
    this.halves = h;
    const s = new Int32Array(c);
    s.set(this.slot);
    this.slot = s;
    const f = new Uint8Array(c);
    f.set(this.flags);
    this.flags = f;
    const l = new Int32Array(c);
    l.set(this.line);
    this.line = l;
  }

  /** Append one entry; returns its index. */
  push(h0: number, h1: number, h2: number, h3: number, slot: number, flags = 0, line = 0): number {
    if (this.count === this.slot.length) this.grow();
    const i = this.count++;
    const k = i * 4;
    this.halves[k] = h0;
    this.halves[k + 1] = h1;
    this.halves[k + 2] = h2;
    this.halves[k + 3] = h3;
    this.slot[i] = slot;
    this.flags[i] = flags;
    this.line[i] = line;
    return i;
  }

  blame(code: number): void {
    const index = this.count - 1;
    this.flags[index] = this.flags[index]! | EntryFlag.Blamed;
    this.cerrors.push({ index, code });
  }

  note(text: string): void {
    this.notes.push(text);
  }

  /** A stream of the first n entries, sharing this one's arrays (the errors among them; no notes). */
  prefix(n: number): AuditStream {
    const v = new AuditStream(this.source, 1);
    v.halves = this.halves.subarray(0, n * 4);
    v.slot = this.slot.subarray(0, n);
    v.flags = this.flags.subarray(0, n);
    v.line = this.line.subarray(0, n);
    v.count = n;
    v.ring = this.ring;
    for (const c of this.cerrors) if (c.index < n) v.cerrors.push(c);
    return v;
  }

  /** Drop the first n entries (the rest move to the front; their errors are renumbered). */
  dropFront(n: number): void {
    const m = this.count - n;
    this.halves.copyWithin(0, n * 4, this.count * 4);
    this.slot.copyWithin(0, n, this.count);
    this.flags.copyWithin(0, n, this.count);
    this.line.copyWithin(0, n, this.count);
    this.count = m;
    const kept = this.cerrors.filter((c) => c.index >= n).map((c) => ({ index: c.index - n, code: c.code }));
    this.cerrors.length = 0;
    this.cerrors.push(...kept);
  }

  /** The opcode byte of entry i. */
  opcode(i: number): number {
    return this.halves[i * 4]! & 0xff;
  }

  /** Build a stream from hex-word halves (four per entry), in input order. */
  static fromHalves(u32: Uint32Array, source: StreamSource = 'hex'): AuditStream {
    const n = u32.length >>> 2;
    const s = new AuditStream(source, n);
    s.halves.set(u32.subarray(0, n * 4));
    for (let i = 0; i < n; i++) s.slot[i] = i;
    s.count = n;
    return s;
  }
}
