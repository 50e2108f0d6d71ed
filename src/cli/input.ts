/**
 * Reading inputs as streams, with one size rule for every command.
 *
 * - `openInput` names an input (a path, or stdin for `-` / none) and says whether it is a regular file (seekable:
 *   it may be read twice, its size is known). A missing file, a directory or an unreadable path is a usage error.
 * - `inputChunks` reads it in chunks of about 1 MiB, inflating gzip (detected by its magic bytes, several members
 *   allowed) as it goes, and refuses — a usage error, exit 2 — once the (inflated) bytes pass the limit the caller
 *   gives. A truncated or corrupt gzip stream is a usage error too.
 * - `TextLines` cuts decoded text into lines, refusing a line longer than LINE_LIMIT characters, so that memory is
 *   bounded by the parser's state plus one line whatever the input's size.
 * - `readWhole` reads a small whole input (JSON documents, registers files) under WHOLE_INPUT_LIMIT.
 *
 * The size rule (README, `--help` of decode and audit): QEMU traces are streamed with no total limit; dumps (binary
 * or hex words) are limited by `--max-entries` (default 2^24 entries, 256 MiB of dump); with registers the ring size
 * caps what is read; a gzip member is refused once its inflated size passes the limit that applies.
 */
import { closeSync, createReadStream, openSync, readSync, statSync } from 'node:fs';
import type { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { halvesFromBytes } from '../cmdq/index.js';
import { UsageError } from './errors.js';

/** Default `--max-entries`: 2^24 entries (a 256 MiB dump; the largest ring is 2^19 entries). */
export const DEFAULT_MAX_ENTRIES = 2 ** 24;
/** Longest text line accepted (hex words, QEMU trace lines; a trace line is under 1 KiB). */
export const LINE_LIMIT = 1 << 16;
/** Largest whole input read into memory (JSON documents and registers files). */
export const WHOLE_INPUT_LIMIT = 128 * 2 ** 20;
/** Chunk size read from a file. */
const CHUNK = 1 << 20;

export interface InputSource {
  /** For messages: the path, or `stdin`. */
  readonly name: string;
  /** null for stdin. */
  readonly path: string | null;
  /** A regular file: seekable, its size known (`bytes`), may be read more than once. */
  readonly regular: boolean;
  readonly bytes: number | null;
  /** A regular file that starts with the gzip magic (0x1f 0x8b); false for stdin (not known before reading). */
  readonly gzip: boolean;
}

function errCode(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  return err?.code ?? err?.message ?? String(e);
}

/** Name an input and check that it can be read: a usage error for a missing path, a directory, … */
export function openInput(file: string | undefined, option = 'input'): InputSource {
  if (file === undefined || file === '-') {
    if (process.stdin.isTTY) throw new UsageError(`no input: give ${option} or pipe data on stdin`);
    return { name: 'stdin', path: null, regular: false, bytes: null, gzip: false };
  }
  let st;
  try {
    st = statSync(file);
  } catch (e) {
    throw new UsageError(`cannot read ${file}: ${errCode(e)}`);
  }
  if (st.isDirectory()) throw new UsageError(`cannot read ${file}: EISDIR (a directory, not a file)`);
  let gzip = false;
  if (st.isFile() && st.size >= 2) {
    const magic = Buffer.alloc(2);
    try {
      const fd = openSync(file, 'r');
      try {
        readSync(fd, magic, 0, 2, 0);
      } finally {
        closeSync(fd);
      }
    } catch (e) {
      throw new UsageError(`cannot read ${file}: ${errCode(e)}`);
    }
    gzip = magic[0] === 0x1f && magic[1] === 0x8b;
  }
  return { name: file, path: file, regular: st.isFile(), bytes: st.isFile() ? st.size : null, gzip };
}

/** What an input may hold: at most `bytes` (inflated) bytes, and the message when it holds more. */
export interface InputLimit {
  readonly bytes: number;
  /** Completes "…: more than N bytes" with why, e.g. "the --max-entries limit (2^24 entries of 16 bytes)". */
  readonly why: string;
}

function rawStream(src: InputSource): Readable {
  if (src.path === null) return process.stdin;
  return createReadStream(src.path, { highWaterMark: CHUNK });
}

/** Whether the last chunks read came from a gzip stream (set by inputChunks). */
export interface ChunkInfo {
  gzip: boolean;
}

/**
 * The input's bytes in chunks, gzip inflated. Throws UsageError for an unreadable input, corrupt gzip data, or
 * more bytes than `limit` allows (checked as the bytes arrive: nothing past the limit is kept).
 */
export async function* inputChunks(
  src: InputSource,
  limit: InputLimit | null = null,
  info: ChunkInfo = { gzip: false },
): AsyncGenerator<Uint8Array> {
  const raw = rawStream(src);
  let gz: ReturnType<typeof createGunzip> | null = null;
  let total = 0;
  try {
    const it = raw[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
    // Sniff the gzip magic (0x1f 0x8b) from the first bytes.
    let head: Buffer = Buffer.alloc(0);
    let ended = false;
    while (head.length < 2) {
      const r = await it.next();
      if (r.done) {
        ended = true;
        break;
      }
      head = head.length === 0 ? r.value : Buffer.concat([head, r.value]);
    }
    const isGzip = head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b;
    info.gzip = isGzip;
    if (!isGzip && limit !== null && src.bytes !== null && src.bytes > limit.bytes)
      throw new UsageError(`${src.name}: ${src.bytes} bytes is more than ${limit.bytes}: ${limit.why}`);
    if (!isGzip) {
      const emit = function* (c: Buffer): Generator<Uint8Array> {
        total += c.length;
        if (limit !== null && total > limit.bytes)
          throw new UsageError(`${src.name}: more than ${limit.bytes} bytes: ${limit.why}`);
        yield c;
      };
      if (head.length > 0) yield* emit(head);
      if (ended) return;
      for (;;) {
        const r = await it.next();
        if (r.done) return;
        yield* emit(r.value);
      }
    }
    const inflater = createGunzip({ chunkSize: CHUNK });
    gz = inflater;
    // Feed the compressed bytes from their own loop; the inflated ones are read below.
    let feedError: unknown = null;
    const feed = (async () => {
      try {
        if (!inflater.write(head)) await waitDrain(inflater);
        for (;;) {
          const r = await it.next();
          if (r.done) break;
          if (!inflater.write(r.value)) await waitDrain(inflater);
        }
        inflater.end();
      } catch (e) {
        feedError = e;
        inflater.destroy(e as Error);
      }
    })();
    try {
      for await (const c of inflater as AsyncIterable<Buffer>) {
        total += c.length;
        if (limit !== null && total > limit.bytes)
          throw new UsageError(
            `${src.name}: the gzip data inflates to more than ${limit.bytes} bytes: ${limit.why} (nothing past it is inflated)`,
          );
        yield c;
      }
    } catch (e) {
      if (e instanceof UsageError) throw e;
      if (feedError !== null) throw feedError;
      throw new UsageError(`${src.name}: gzip data could not be decompressed: ${(e as Error).message}`);
    }
    await feed;
    if (feedError !== null) throw feedError;
  } catch (e) {
    if (e instanceof UsageError) throw e;
    throw new UsageError(`cannot read ${src.name}: ${errCode(e)}`);
  } finally {
    gz?.destroy();
    if (src.path !== null) raw.destroy();
  }
}

function waitDrain(w: NodeJS.WritableStream): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      w.off('drain', done);
      w.off('error', done);
      w.off('close', done);
      resolve();
    };
    w.once('drain', done);
    w.once('error', done);
    w.once('close', done);
  });
}

/**
 * Text lines from decoded chunks: `push(text)` calls `onLine(line, lineNo)` for each complete line (without the
 * `\n`; a trailing `\r` is kept for the parser), `end()` for the last one. A line longer than `limit` characters
 * is a usage error naming it.
 */
export class TextLines {
  private carry = '';
  private lineNo = 0;
  private readonly decoder = new TextDecoder('utf-8');

  constructor(
    private readonly source: string,
    private readonly onLine: (line: string, lineNo: number) => void,
    private readonly limit = LINE_LIMIT,
  ) {}

  /** Lines read so far. */
  get lines(): number {
    return this.lineNo;
  }

  pushBytes(bytes: Uint8Array): void {
    this.push(this.decoder.decode(bytes, { stream: true }));
  }

  push(text: string): void {
    let pos = 0;
    const n = text.length;
    let end = text.indexOf('\n');
    if (end >= 0 && this.carry.length > 0) {
      this.emit(this.carry + text.slice(0, end));
      this.carry = '';
      pos = end + 1;
      end = text.indexOf('\n', pos);
    }
    while (end >= 0) {
      if (end - pos > this.limit) this.tooLong(this.lineNo + 1);
      this.lineNo++;
      this.onLine(text.slice(pos, end), this.lineNo);
      pos = end + 1;
      end = text.indexOf('\n', pos);
    }
    if (pos < n) {
      this.carry = this.carry.length > 0 ? this.carry + text.slice(pos) : text.slice(pos);
      if (this.carry.length > this.limit) this.tooLong(this.lineNo + 1);
    }
  }

  private emit(line: string): void {
    if (line.length > this.limit) this.tooLong(this.lineNo + 1);
    this.lineNo++;
    this.onLine(line, this.lineNo);
  }

  private tooLong(line: number): never {
    throw new UsageError(
      `${this.source} line ${line}: longer than ${this.limit} characters (the per-line limit; is this text input?)`,
    );
  }

  /** The last line (text after the last newline), if any. */
  end(): void {
    const rest = this.decoder.decode();
    if (rest.length > 0) this.push(rest);
    if (this.carry.length > 0) {
      const c = this.carry;
      this.carry = '';
      this.emit(c);
    }
  }
}

/** Read a whole small input (stdin for `-` or none) under WHOLE_INPUT_LIMIT; gzip is not inflated. */
export async function readWhole(file: string | undefined, option = 'a file'): Promise<Buffer> {
  const src = openInput(file, option);
  if (src.bytes !== null && src.bytes > WHOLE_INPUT_LIMIT)
    throw new UsageError(`${src.name}: ${src.bytes} bytes is more than ${WHOLE_INPUT_LIMIT} (the whole-input limit)`);
  const raw = rawStream(src);
  const parts: Buffer[] = [];
  let total = 0;
  try {
    for await (const c of raw as AsyncIterable<Buffer>) {
      total += c.length;
      if (total > WHOLE_INPUT_LIMIT)
        throw new UsageError(`${src.name}: more than ${WHOLE_INPUT_LIMIT} bytes (the whole-input limit)`);
      parts.push(c);
    }
  } catch (e) {
    if (e instanceof UsageError) throw e;
    throw new UsageError(`cannot read ${src.name}: ${errCode(e)}`);
  } finally {
    if (src.path !== null) raw.destroy();
  }
  return Buffer.concat(parts);
}

/**
 * Cuts a byte stream into whole 16-byte entries: `push(chunk)` returns the halves (four per entry) of the entries
 * completed by the chunk; the bytes of an entry split across chunks are carried. `bytes` counts everything pushed,
 * `tail` the bytes left over (not a whole entry) so far.
 */
export class EntryAligner {
  bytes = 0;
  private carry = new Uint8Array(16);
  tail = 0;

  push(chunk: Uint8Array): Uint32Array {
    this.bytes += chunk.length;
    let c = chunk;
    if (this.tail > 0) {
      const joined = new Uint8Array(this.tail + chunk.length);
      joined.set(this.carry.subarray(0, this.tail));
      joined.set(chunk, this.tail);
      c = joined;
    }
    const whole = c.length - (c.length % 16);
    this.tail = c.length - whole;
    if (this.tail > 0) this.carry.set(c.subarray(whole));
    return halvesFromBytes(c.subarray(0, whole));
  }
}

/** The byte limit of a dump of at most `maxEntries` entries, as `--max-entries` gives it. */
export function entryLimit(maxEntries: number, option = '--max-entries'): InputLimit {
  return {
    bytes: maxEntries * 16,
    why: `the ${option} limit (${maxEntries} entries of 16 bytes; give ${option} to change it)`,
  };
}
