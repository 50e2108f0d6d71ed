/**
 * What `decode` judges in a dump of a whole command queue, and what it only reports.
 *
 * With the queue registers (--prod/--cons/--log2size or --regs, as `audit` takes them) the entries the SMMU has
 * still to consume are the slots from CMDQ_CONS up to, not including, CMDQ_PROD (IHI 0070 3.5: the index in the
 * low LOG2SIZE bits, the wrap bit above it; equal index and wrap means empty, equal index with different wrap
 * full). Those are judged, a zero entry among them too (opcode 0 is not a command: ILLEGAL). The slots outside
 * the window were consumed long ago or never written: they are not judged.
 *
 * Without registers, a raw dump is a ring whose never-written slots are zero: runs of all-zero slots are
 * reported as one line each, counted apart, and never make the exit status 1 by themselves; a dump with no
 * non-zero entry at all holds no command (exit 2). Entries given as text (hex words, a kernel log, gdb or
 * crash output) are explicit: a zero entry there is judged like any other.
 */
import { UsageError } from './errors.js';

/** The registers as given (any may be missing). */
export interface RingRegs {
  prod?: number;
  cons?: number;
  log2size?: number;
}

export interface RingWindow {
  readonly log2size: number;
  /** Entries in the ring (2^log2size). */
  readonly size: number;
  /** CMDQ_PROD and CMDQ_CONS as used (CONS with its ERR field). */
  readonly prod: number;
  readonly cons: number;
  /** The slot CONS points at, and how many entries from it are still to consume. */
  readonly first: number;
  readonly pending: number;
  /** CMDQ_CONS.ERR ([30:24]): the error the SMMU stopped on at `first`, 0 for none. */
  readonly err: number;
}

const MaxLog2Size = 19; // SMMU_IDR1.CMDQS is at most 19
const ErrShift = 2 ** 24;

/**
 * The window the registers describe. `entries` is the dump's size in entries when it is known now (it gives
 * the ring size when --log2size is not given). Throws UsageError naming the register that is wrong.
 */
export function ringWindow(regs: RingRegs, entries: number | undefined): RingWindow {
  let log2size = regs.log2size;
  if (log2size === undefined) {
    const l = entries === undefined ? NaN : Math.log2(entries);
    if (!Number.isInteger(l))
      throw new UsageError(
        entries === undefined
          ? '--log2size: needed with --prod/--cons when the dump size is not known before reading it (gzip, stdin or text)'
          : `--log2size: not given, and the dump's ${entries} entries are not a power of two`,
      );
    log2size = l;
  }
  if (!Number.isInteger(log2size) || log2size < 0 || log2size > MaxLog2Size)
    throw new UsageError(`--log2size: ${log2size} is out of range (0 to ${MaxLog2Size})`);
  const size = 2 ** log2size;
  const ptrMask = size * 2 - 1;
  const prod = regs.prod ?? (regs.cons !== undefined ? (regs.cons % ErrShift) & ptrMask : 0);
  const cons = regs.cons ?? prod;
  if (prod > ptrMask)
    throw new UsageError(
      `--prod: 0x${prod.toString(16)} has bits above the wrap bit (bit ${log2size}); with --log2size ${log2size} it is at most 0x${ptrMask.toString(16)}`,
    );
  const consPtr = cons % ErrShift;
  if (consPtr > ptrMask || cons >= 2 ** 31)
    throw new UsageError(
      `--cons: 0x${cons.toString(16)} has bits set outside the index, the wrap bit (bit ${log2size}) and ERR [30:24]`,
    );
  const pending = (prod - consPtr + 2 * size) & ptrMask;
  if (pending > size)
    throw new UsageError(
      `--cons: CMDQ_CONS 0x${cons.toString(16)} is ahead of CMDQ_PROD 0x${prod.toString(16)}: the registers are inconsistent`,
    );
  return {
    log2size,
    size,
    prod,
    cons,
    first: consPtr & (size - 1),
    pending,
    err: Math.floor(cons / ErrShift) & 0x7f,
  };
}

/** Whether a slot is one the SMMU has still to consume. */
export function inWindow(w: RingWindow, slot: number): boolean {
  return ((slot - w.first + w.size) & (w.size - 1)) < w.pending;
}

/** A run of all-zero slots, both ends included. */
export interface ZeroRun {
  first: number;
  last: number;
}

/** The human line for a run of zero slots. */
export function formatZeroRun(r: ZeroRun): string {
  return r.first === r.last ? `slot ${r.first}: empty (zero)` : `slots ${r.first}–${r.last}: empty (zero)`;
}

/** Consecutive zero slots gathered into runs; `flush` hands the open run on when a non-zero slot ends it. */
export class ZeroRuns {
  private open: ZeroRun | null = null;
  /** Zero slots seen, and runs closed. */
  slots = 0;
  runs = 0;

  constructor(private readonly onRun: (r: ZeroRun) => void) {}

  add(slot: number): void {
    this.slots++;
    if (this.open !== null && this.open.last === slot - 1) this.open.last = slot;
    else {
      this.flush();
      this.open = { first: slot, last: slot };
    }
  }

  flush(): void {
    if (this.open === null) return;
    this.runs++;
    const r = this.open;
    this.open = null;
    this.onRun(r);
  }
}
