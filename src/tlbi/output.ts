/**
 * Where a plan goes: the 16-byte entries in a CommandBuffer, plus, per entry, the SMMU whose command queue it
 * belongs to, and the batch boundaries (a batch is a run of commands ending with its CMD_SYNC). Entries of
 * one plan are in issue order; a consumer copies, for each SMMU, that SMMU's entries in order into its queue.
 *
 * The emission state (current SMMU, commands in the current batch, the forced-SYNC option) also lives here so
 * that the range loops write straight into the typed arrays: no allocation per emitted command.
 */
import { CommandBuffer } from '../cmdq/buffer.js';
import { Opcode } from '../cmdq/opcodes.js';
import { writeSyncSev } from '../cmdq/writers.js';

const ATC_INV_OPCODE = Opcode.ATC_INV;

/** Low half of the planner's CMD_SYNC (SEV, Inner Shareable, write-back; see `writeSyncSev`, checked in tests). */
const SYNC_SEV_H0 = (() => {
  const q = new Uint32Array(4);
  writeSyncSev(q, 0);
  return q[0]!;
})();

/** Commands a batch may hold before an SMMU with the MMU-700 erratum 2812531 workaround needs a CMD_SYNC. */
export const FORCE_SYNC_BATCH = 63;

export class PlanOutput {
  readonly buf: CommandBuffer;
  /** SMMU id of each entry (parallel to `buf`; valid for indexes below `buf.count`). */
  smmuOf: Int32Array;
  /** One past the CMD_SYNC that ends each batch, in order (valid below `batchCount`). */
  batchEnd: Int32Array;
  batchCount = 0;
  /**
   * Entries `buf`, `smmuOf` and `batchEnd` all have room for (the smallest of the three): a slot below it can
   * be written, and a batch recorded, without a look at each array (a batch holds at least its CMD_SYNC, so
   * `batchCount` never passes `buf.count`). Only the engine writes `buf.count`.
   */
  private room: number;

  // Emission state of the batch being built.
  /** SMMU of the batch being built. */
  smmu = -1;
  /** Commands in the batch being built (CMD_SYNC excluded). */
  batchLen = 0;
  /** The batch's SMMU needs a CMD_SYNC before a batch would exceed FORCE_SYNC_BATCH commands. */
  forceSync = false;
  /**
   * The batch's SMMU has the Tegra264 invalidation erratum: every batch without an ATC_INV is issued twice,
   * its CMD_SYNC included (ATC invalidations are not repeated).
   */
  repeat = false;
  /** The batch's SMMU has IDR5.DS: the range loop may use SCALE up to 39. */
  ds = false;

  constructor(capacity = 256) {
    this.buf = new CommandBuffer(capacity);
    this.smmuOf = new Int32Array(this.buf.capacity);
    this.batchEnd = new Int32Array(this.buf.capacity);
    this.room = this.buf.capacity;
  }

  /** Entries written. */
  get count(): number {
    return this.buf.count;
  }

  /** Forget every entry (keeps the storage). */
  clear(): void {
    this.buf.count = 0;
    this.batchCount = 0;
    this.smmu = -1;
    this.batchLen = 0;
  }

  /** Start a batch for `smmu` (the batch being built must be empty), with that SMMU's forceSync, repeat and DS. */
  begin(smmu: number, forceSync: boolean, repeat = false, ds = false): void {
    this.smmu = smmu;
    this.forceSync = forceSync;
    this.repeat = repeat;
    this.ds = ds;
    this.batchLen = 0;
  }

  /**
   * Reserve the slot for the next command of the batch and return it; the caller writes the entry at that
   * slot of `buf.u32` (read `buf.u32` after this call: it may have grown). With forceSync, a batch already
   * holding FORCE_SYNC_BATCH commands is first closed with a CMD_SYNC.
   */
  add(): number {
    if (this.forceSync && this.batchLen === FORCE_SYNC_BATCH) this.sync();
    const buf = this.buf;
    let s = buf.count;
    if (s + 1 > this.room) s = this.grow(1);
    buf.count = s + 1;
    this.smmuOf[s] = this.smmu;
    this.batchLen++;
    return s;
  }

  /**
   * A whole batch of one command on `smmu` at once (the common plan): reserves the command's slot, which it
   * returns, and the CMD_SYNC's after it, and records the batch; the caller writes both entries (writers'
   * writeTlbiThenSyncSev). Not for an SMMU with `repeat`; the batch being built must be empty.
   */
  reserveOneCommandBatch(smmu: number): number {
    const buf = this.buf;
    let s = buf.count;
    if (s + 2 > this.room) s = this.grow(2);
    const smmuOf = this.smmuOf;
    smmuOf[s] = smmu;
    smmuOf[s + 1] = smmu;
    buf.count = s + 2;
    this.smmu = smmu;
    this.batchLen = 0;
    // batchCount ≤ s < room ≤ batchEnd.length: no growth check.
    this.batchEnd[this.batchCount++] = s + 2;
    return s;
  }

  /** End the batch being built: a CMD_SYNC when it holds any command, nothing otherwise. */
  submit(): void {
    if (this.batchLen > 0) this.sync();
  }

  private sync(): void {
    const buf = this.buf;
    let s = buf.count;
    if (s + 1 > this.room) s = this.grow(1);
    const q = buf.u32;
    const i = s * 4;
    q[i] = SYNC_SEV_H0;
    q[i + 1] = 0;
    q[i + 2] = 0;
    q[i + 3] = 0;
    buf.count = s + 1;
    this.smmuOf[s] = this.smmu;
    this.batchLen = 0;
    // batchCount ≤ s < room ≤ batchEnd.length: no growth check.
    this.batchEnd[this.batchCount++] = s + 1;
    if (this.repeat) this.repeatBatch();
  }

  /** Tegra264 repeat: append a copy of the batch just closed (entries and CMD_SYNC) unless it holds an ATC_INV. */
  private repeatBatch(): void {
    const start = this.batchStart(this.batchCount - 1);
    const end = this.buf.count;
    for (let k = start; k < end; k++) if ((this.buf.u32[k * 4]! & 0xff) === ATC_INV_OPCODE) return;
    const n = end - start;
    const s = this.buf.count;
    if (s + n > this.room) this.grow(n);
    const q = this.buf.u32;
    q.copyWithin(s * 4, start * 4, end * 4);
    this.smmuOf.copyWithin(s, start, end);
    this.buf.count = s + n;
    this.batchEnd[this.batchCount++] = s + n;
  }

  /**
   * Make room for `n` more entries (CommandBuffer and `smmuOf`) without writing any, so that a caller that
   * knows a plan's worst-case command count can then write its entries unchecked (`buf.u32` and `smmuOf`
   * may be replaced: read them after this call).
   */
  ensure(n: number): void {
    if (this.buf.count + n > this.room) this.grow(n);
  }

  /** Room for `n` more entries in `buf`, `smmuOf` and `batchEnd` (out of line: the hot paths only compare). */
  private grow(n: number): number {
    const s = this.buf.reserve(n);
    const cap = this.buf.capacity;
    if (this.smmuOf.length < cap) {
      const next = new Int32Array(cap);
      next.set(this.smmuOf.subarray(0, s));
      this.smmuOf = next;
    }
    if (this.batchEnd.length < cap) {
      const next = new Int32Array(cap);
      next.set(this.batchEnd.subarray(0, this.batchCount));
      this.batchEnd = next;
    }
    this.room = cap;
    return s;
  }

  /** Index of the first entry of batch `b`. */
  batchStart(b: number): number {
    return b === 0 ? 0 : this.batchEnd[b - 1]!;
  }
}
