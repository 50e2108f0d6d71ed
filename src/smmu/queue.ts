/**
 * The command queue of the SMMU model: a ring of 2^log2Size 16-byte entries in the model's physical memory,
 * with the architecture's PROD and CONS registers (index in the low log2Size bits, the wrap bit just above,
 * and, in CONS, the error code in bits [30:24]) and the GERROR / GERRORN handshake for command errors.
 *
 * This module is the ring arithmetic and register state only; the SMMU model decides what an entry means.
 */
import type { PhysMemory } from '../pgtable/memory.js';

/** CONS.ERR values (Arm IHI 0070, 4.1.3). */
export const CmdqError = { NONE: 0, ILL: 1, ABT: 2, ATC_INV_SYNC: 3 } as const;

/** GERROR.CMDQ_ERR is bit 0 of GERROR / GERRORN. */
export const GERROR_CMDQ_ERR = 1;

const CONS_ERR_SHIFT = 24;
const ENTRY_BYTES = 16;

export class CommandQueue {
  readonly log2Size: number;
  readonly entries: number;
  /** PROD register: WR index | WR_WRAP. */
  prod = 0;
  /** CONS register: RD index | RD_WRAP | ERR << 24. */
  cons = 0;
  /** GERROR and GERRORN (bit 0 = CMDQ_ERR): an error is active while they differ. */
  gerror = 0;
  gerrorn = 0;

  constructor(
    private readonly mem: PhysMemory,
    /** Physical address of slot 0 (16-byte aligned). */
    readonly base: number,
    log2Size: number,
  ) {
    if (!Number.isInteger(log2Size) || log2Size < 1 || log2Size > 19)
      throw new RangeError(`queue log2 size ${log2Size} is outside [1, 19]`);
    if (base % ENTRY_BYTES !== 0) throw new RangeError(`queue base 0x${base.toString(16)} is not 16-byte aligned`);
    this.log2Size = log2Size;
    this.entries = 1 << log2Size;
  }

  private get idxMask(): number {
    return this.entries - 1;
  }

  /** Index+wrap part of a PROD/CONS value. */
  private pos(reg: number): number {
    return reg & ((this.entries << 1) - 1);
  }

  /** Slot index of a PROD/CONS value. */
  slotOf(reg: number): number {
    return reg & this.idxMask;
  }

  /** Physical address of a slot. */
  slotAddr(slot: number): number {
    return this.base + slot * ENTRY_BYTES;
  }

  get consErr(): number {
    return (this.cons >>> CONS_ERR_SHIFT) & 0x7f;
  }

  /** True while a command error is active (GERROR.CMDQ_ERR ≠ GERRORN.CMDQ_ERR). */
  get stalled(): boolean {
    return ((this.gerror ^ this.gerrorn) & GERROR_CMDQ_ERR) !== 0;
  }

  get empty(): boolean {
    return this.pos(this.prod) === this.pos(this.cons);
  }

  get full(): boolean {
    return (this.prod & this.idxMask) === (this.cons & this.idxMask) && this.pos(this.prod) !== this.pos(this.cons);
  }

  /** Entries written and not yet consumed. */
  get pending(): number {
    const span = this.entries << 1;
    return (this.pos(this.prod) - this.pos(this.cons) + span) % span;
  }

  get free(): number {
    return this.entries - this.pending;
  }

  /** Write an entry into `slot` (the producer's write; recovery overwrites the slot CONS stopped at). */
  writeAt(slot: number, h0: number, h1: number, h2: number, h3: number): void {
    const pa = this.slotAddr(slot);
    this.mem.writeU32(pa, h0);
    this.mem.writeU32(pa + 4, h1);
    this.mem.writeU32(pa + 8, h2);
    this.mem.writeU32(pa + 12, h3);
  }

  /** Producer: write one entry at PROD and advance PROD (wrap bit toggles). Throws when the ring is full. */
  push(h0: number, h1: number, h2: number, h3: number): void {
    if (this.full) throw new RangeError('command queue is full');
    this.writeAt(this.slotOf(this.prod), h0, h1, h2, h3);
    this.prod = this.advance(this.prod);
  }

  /** The value after `reg` moves one slot (index + wrap; other bits cleared). */
  advance(reg: number): number {
    return (this.pos(reg) + 1) & ((this.entries << 1) - 1);
  }

  /** Consumer: read the entry at CONS into `h`. */
  readCons(h: Uint32Array): void {
    const pa = this.slotAddr(this.slotOf(this.cons));
    h[0] = this.mem.readU32(pa);
    h[1] = this.mem.readU32(pa + 4);
    h[2] = this.mem.readU32(pa + 8);
    h[3] = this.mem.readU32(pa + 12);
  }

  /** Consumer: move CONS past the current entry (clears ERR). */
  consume(): void {
    this.cons = this.advance(this.cons);
  }

  /** Consumer: stop at the current entry with an error: CONS.ERR set, GERROR.CMDQ_ERR toggled. */
  raise(err: number): void {
    this.cons = (this.pos(this.cons) | (err << CONS_ERR_SHIFT)) >>> 0;
    this.gerror ^= GERROR_CMDQ_ERR;
  }

  /** Producer: acknowledge the error (write GERRORN = GERROR); consumption resumes at CONS. */
  acknowledge(): void {
    this.gerrorn = this.gerror;
  }
}
