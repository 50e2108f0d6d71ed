/**
 * Simulated physical memory: sparse, little-endian, byte-addressed up to 52 bits. Storage is allocated in
 * 4 KiB chunks on first write; unwritten memory reads as zero. Table frames come from a FrameAllocator that
 * reuses the most recently freed frame first and never clears a frame by itself — a freed table keeps its
 * old descriptors until it is reused, which is what makes a stale walk-cache entry dangerous.
 */

const CHUNK_SHIFT = 12;
const CHUNK_BYTES = 1 << CHUNK_SHIFT;
const CHUNK_WORDS = CHUNK_BYTES >>> 2;

export class PhysMemory {
  private readonly chunks = new Map<number, Uint32Array>();
  /** The chunk used last (a walk reads a few words of one table page): spares the Map look-up per word. */
  private lastKey = -1;
  private lastChunk: Uint32Array | undefined = undefined;

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
    const c = this.chunk(key);
    return c === undefined ? 0 : c[(pa - key * CHUNK_BYTES) >>> 2]!;
  }

  /** Write the 32-bit word at `pa` (4-byte aligned). */
  writeU32(pa: number, value: number): void {
    const key = Math.floor(pa / CHUNK_BYTES);
    let c = this.chunk(key);
    if (c === undefined) {
      if (value === 0) return;
      c = new Uint32Array(CHUNK_WORDS);
      this.chunks.set(key, c);
      this.lastChunk = c;
    }
    c[(pa - key * CHUNK_BYTES) >>> 2] = value >>> 0;
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
    for (let off = 0; off < bytes; off += CHUNK_BYTES) this.chunks.delete(Math.floor((pa + off) / CHUNK_BYTES));
    this.lastKey = -1;
    this.lastChunk = undefined;
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
