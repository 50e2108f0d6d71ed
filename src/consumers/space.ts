/**
 * Address-space bookkeeping shared by the consumers:
 * - `RangeAllocator`: first-fit allocation of aligned ranges in [base, limit) (IOVA space, DMA buffers),
 *   with coalescing frees and a check against freeing what is not allocated;
 * - `HeldFrames`: a FrameAllocator for one page table that takes frames from a shared pool but holds the
 *   frames the table frees until the caller says the invalidation that covers them has completed — a freed
 *   table may still be reachable through a walk cache until then, so its frame must not be reused.
 */
import { FrameAllocator } from '../pgtable/memory.js';

interface Span {
  start: number;
  end: number;
}

export class RangeAllocator {
  /** Free spans, sorted by start, disjoint and not touching. */
  private readonly free: Span[];
  private allocatedBytes = 0;
  readonly base: number;
  readonly limit: number;

  constructor(base: number, limit: number) {
    this.base = base;
    this.limit = limit;
    this.free = [{ start: base, end: limit }];
  }

  get inUse(): number {
    return this.allocatedBytes;
  }

  /** A range of `size` bytes aligned to `align` (a power of two), or null when none is free. */
  alloc(size: number, align: number): number | null {
    for (let i = 0; i < this.free.length; i++) {
      const f = this.free[i]!;
      const start = Math.ceil(f.start / align) * align;
      if (start + size > f.end) continue;
      const pieces: Span[] = [];
      if (start > f.start) pieces.push({ start: f.start, end: start });
      if (start + size < f.end) pieces.push({ start: start + size, end: f.end });
      this.free.splice(i, 1, ...pieces);
      this.allocatedBytes += size;
      return start;
    }
    return null;
  }

  /** Give [start, start + size) back. Throws when any part of it is already free (a double free). */
  release(start: number, size: number): void {
    const end = start + size;
    let i = 0;
    while (i < this.free.length && this.free[i]!.end <= start) i++;
    const next = this.free[i];
    if (next !== undefined && next.start < end)
      throw new RangeError(`range allocator: [0x${start.toString(16)}, 0x${end.toString(16)}) is partly free`);
    const prev = this.free[i - 1];
    const joinPrev = prev !== undefined && prev.end === start;
    const joinNext = next !== undefined && next.start === end;
    if (joinPrev && joinNext) {
      prev.end = next.end;
      this.free.splice(i, 1);
    } else if (joinPrev) prev.end = end;
    else if (joinNext) next.start = start;
    else this.free.splice(i, 0, { start, end });
    this.allocatedBytes -= size;
  }

  /** True when no byte of [start, start + size) is free (it is allocated). */
  isAllocated(start: number, size: number): boolean {
    const end = start + size;
    for (const f of this.free) if (f.start < end && start < f.end) return false;
    return true;
  }
}

/** Frames for one page table: taken from `pool`, frees held until `releaseHeld()`. */
export class HeldFrames extends FrameAllocator {
  private readonly pool: FrameAllocator;
  private held: number[] = [];

  constructor(pool: FrameAllocator) {
    super(pool.frameSize, pool.base, pool.limit - pool.base);
    this.pool = pool;
  }

  override alloc(): number {
    return this.pool.alloc();
  }

  override free(pa: number): void {
    this.held.push(pa);
  }

  /** Frames freed by the table and not yet given back to the pool. */
  get heldCount(): number {
    return this.held.length;
  }

  /** Take the held frames (the caller gives them back once their invalidation completed). */
  takeHeld(): number[] {
    const h = this.held;
    this.held = [];
    return h;
  }

  /** Give frames back to the pool. */
  giveBack(frames: readonly number[]): void {
    for (const pa of frames) this.pool.free(pa);
  }

  /** Give every held frame back to the pool (only once their invalidation has completed). */
  releaseHeld(): void {
    this.giveBack(this.takeHeld());
  }
}
