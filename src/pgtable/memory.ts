/**
 * Simulated physical memory: sparse, little-endian, byte-addressed up to 52 bits. Storage is allocated in
 * 4 KiB chunks on first write; unwritten memory reads as zero. Table frames come from a FrameAllocator that
 * reuses the most recently freed frame first and never clears a frame by itself — a freed table keeps its
 * old descriptors until it is reused, which is what makes a stale walk-cache entry dangerous.
 *
 * Each 64-bit word carries a write stamp (the memory's `stamp` when it was last written or its chunk dropped),
 * and reads can be recorded by 64-bit word: the stale checker uses both to know that nothing a clean entry's
 * check read has changed since (`changedSince`), which is what lets it skip judging that entry again.
 */

const CHUNK_SHIFT = 12;
const CHUNK_BYTES = 1 << CHUNK_SHIFT;
const CHUNK_WORDS = CHUNK_BYTES >>> 2;
/** Where a chunk's write stamps start, after its words: one stamp per 64-bit word (a descriptor). */
const STAMPS = CHUNK_WORDS;
const CHUNK_DWORDS = CHUNK_WORDS >>> 1;

export class PhysMemory {
  private readonly chunks = new Map<number, Uint32Array>();
  /** The chunk used last (a walk reads a few words of one table page): spares the Map look-up per word. */
  private lastKey = -1;
  private lastChunk: Uint32Array | undefined = undefined;
  /** The stamp writes get now (see `nextStamp`). */
  private stampNow = 1;
  /** Chunks dropped by `zero`, with the stamp then (a dropped chunk reads as zero from that stamp on). */
  private readonly dropped = new Map<number, number>();
  /** The 64-bit words (pa / 8) read while recording (null: not recording). */
  private reads: number[] | null = null;

  /** Number of 4 KiB chunks holding data (for memory statistics). */
  get chunkCount(): number {
    return this.chunks.size;
  }

  private chunk(key: number): Uint32Array | undefined {
    if (key === this.lastKey) return this.lastChunk;
    const c = this.chunks.get(key);
    this.lastKey = key;
    this.lastChunk = c;
    return c;
  }

  /** Read the 32-bit little-endian word at `pa` (4-byte aligned). */
  readU32(pa: number): number {
    const key = Math.floor(pa / CHUNK_BYTES);
    const r = this.reads;
    if (r !== null) {
      const dword = Math.floor(pa / 8);
      if (r[r.length - 1] !== dword) r.push(dword);
    }
    const c = this.chunk(key);
    return c === undefined ? 0 : c[(pa - key * CHUNK_BYTES) >>> 2]!;
  }

  /** Write the 32-bit word at `pa` (4-byte aligned). */
  writeU32(pa: number, value: number): void {
    const key = Math.floor(pa / CHUNK_BYTES);
    let c = this.chunk(key);
    if (c === undefined) {
      if (value === 0) return;
      c = new Uint32Array(CHUNK_WORDS + CHUNK_DWORDS);
      // Every word of a new chunk counts as written now (it may have held other values before a drop).
      c.fill(this.stampNow, STAMPS);
      this.chunks.set(key, c);
      this.lastChunk = c;
    }
    const w = (pa - key * CHUNK_BYTES) >>> 2;
    c[w] = value >>> 0;
    c[STAMPS + (w >>> 1)] = this.stampNow;
  }

  /** Low half (bits [31:0]) of the 64-bit word at `pa` (8-byte aligned). */
  readLo(pa: number): number {
    return this.readU32(pa);
  }

  /** High half (bits [63:32]) of the 64-bit word at `pa`. */
  readHi(pa: number): number {
    return this.readU32(pa + 4);
  }

  /** Write a 64-bit word given as halves. */
  write64(pa: number, lo: number, hi: number): void {
    this.writeU32(pa, lo);
    this.writeU32(pa + 4, hi);
  }

  /** Zero `bytes` bytes from `pa` (both multiples of 4 KiB): drops the backing chunks. */
  zero(pa: number, bytes: number): void {
    for (let off = 0; off < bytes; off += CHUNK_BYTES) {
      const key = Math.floor((pa + off) / CHUNK_BYTES);
      if (this.chunks.delete(key)) this.dropped.set(key, this.stampNow);
    }
    this.lastKey = -1;
    this.lastChunk = undefined;
  }

  // ------------------------------------------------------------ write stamps and read records

  /** The stamp writes get now. */
  get stamp(): number {
    return this.stampNow;
  }

  /** Writes from now on get a newer stamp than every write before. */
  nextStamp(): void {
    this.stampNow++;
  }

  /**
   * Record the 64-bit words read from now on (as pa / 8) into `into` (null: stop recording). Consecutive
   * reads of one word are recorded once; other repeats may stay.
   */
  recordReads(into: number[] | null): void {
    this.reads = into;
  }

  /** True when any of the 64-bit words `dwords` (pa / 8) was written or dropped with a stamp above `stamp`. */
  changedSince(dwords: readonly number[], stamp: number): boolean {
    for (let i = 0; i < dwords.length; i++) {
      const d = dwords[i]!;
      const key = Math.floor(d / CHUNK_DWORDS);
      const c = this.chunk(key);
      const s = c !== undefined ? c[STAMPS + (d - key * CHUNK_DWORDS)]! : (this.dropped.get(key) ?? 0);
      if (s > stamp) return true;
    }
    return false;
  }
}

export class OutOfFramesError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'OutOfFramesError';
  }
}

/**
 * Hands out frames of `frameSize` bytes from [base, base + bytes). Freed frames go on a LIFO list and are
 * handed out again before fresh ones; their contents are left as they were.
 */
export class FrameAllocator {
  readonly frameSize: number;
  readonly base: number;
  readonly limit: number;
  private next: number;
  private readonly freeList: number[] = [];
  private live = 0;

  constructor(frameSize: number, base: number, bytes: number) {
    if (base % frameSize !== 0)
      throw new RangeError(`frame allocator base 0x${base.toString(16)} is not frame aligned`);
    this.frameSize = frameSize;
    this.base = base;
    this.limit = base + bytes;
    this.next = base;
  }

  /** A frame's physical address. Contents are whatever the frame last held (zero if never used). */
  alloc(): number {
    this.live++;
    const f = this.freeList.pop();
    if (f !== undefined) return f;
    if (this.next + this.frameSize > this.limit) {
      this.live--;
      throw new OutOfFramesError(`no free ${this.frameSize}-byte frames left below 0x${this.limit.toString(16)}`);
    }
    const pa = this.next;
    this.next += this.frameSize;
    return pa;
  }

  free(pa: number): void {
    this.live--;
    this.freeList.push(pa);
  }

  /** Frames currently handed out. */
  get liveFrames(): number {
    return this.live;
  }
}
