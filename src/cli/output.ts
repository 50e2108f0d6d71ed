/**
 * The one stdout writer of every command.
 *
 * - Text is gathered into blocks of about 64 KiB and handed to `process.stdout.write` a block at a time. A command
 *   that produces a lot calls `await output.drain()` between chunks of its work: when the pipe is full (the reader is
 *   slower) it waits there, so at most a block or two is ever held in memory (backpressure), whatever the output size.
 * - A closed pipe (EPIPE: `… | head`) stops the run at once and quietly: the next `write` or `drain` throws
 *   `OutputClosed`, and the command exits with the status it had so far (`output.status`, raised by the command as
 *   it finds things).
 * - Any other write error (ENOSPC on `> /dev/full`, EIO, …) throws `OutputFailed`: one line
 *   `error: cannot write output: <reason>` on stderr, exit 2. An error that arrives after the command returned
 *   (an asynchronous pipe write) is reported the same way.
 */
import { nestedJson } from '../json-layout.js';

/** The reader of stdout went away (EPIPE): stop quietly with the run's status so far. */
export class OutputClosed extends Error {
  constructor() {
    super('stdout closed (EPIPE)');
    this.name = 'OutputClosed';
  }
}

/** Writing stdout failed for another reason (ENOSPC, EIO, …): exit 2 with one line naming it. */
export class OutputFailed extends Error {
  constructor(reason: string) {
    super(reason);
    this.name = 'OutputFailed';
  }
}

/** Block size handed to stdout in one write. */
const BLOCK = 1 << 16;

type Failure = { kind: 'closed' } | { kind: 'failed'; reason: string };

function failureOf(e: unknown): Failure {
  const err = e as NodeJS.ErrnoException;
  if (err?.code === 'EPIPE') return { kind: 'closed' };
  return { kind: 'failed', reason: err?.message ?? String(e) };
}

/** How a command failed, as a streamed document records it when it has to end early. */
export interface RunFailure {
  /** 2 (unusable input or output, a usage error) or 3 (internal error). */
  readonly exitCode: number;
  /** The message printed on stderr, without its `error: ` prefix. */
  readonly message: string;
}

class Output {
  private parts: string[] = [];
  private pending = 0;
  private waiting: Promise<void> | null = null;
  private failure: Failure | null = null;
  private listening = false;
  private active = false;
  private reported = false;
  /** A block went to stdout since the last turn of the event loop. */
  private flushed = false;
  /** The run's exit status so far; a command raises it (e.g. to 1 on the first finding). */
  status = 0;
  /** Some text of this run reached stdout (a streamed document is partly out). */
  private wrote = false;
  /**
   * Set by a streamed document's writer: writes what completes the document when the command fails after
   * part of it reached stdout (closing what is open and adding an `error` member or line).
   */
  closer: ((failure: RunFailure) => void) | null = null;

  /** Start a command's run: empty buffer, no failure, status 0. */
  begin(): void {
    this.parts = [];
    this.pending = 0;
    this.waiting = null;
    this.failure = null;
    this.reported = false;
    this.flushed = false;
    this.status = 0;
    this.wrote = false;
    this.closer = null;
    this.active = true;
    if (!this.listening) {
      this.listening = true;
      process.stdout.on('error', (e) => this.onError(e));
    }
  }

  private onError(e: unknown): void {
    if (this.failure === null) this.failure = failureOf(e);
    if (!this.active) this.reportLate();
  }

  /** An error that arrived once the command had returned: quiet for EPIPE, one line and exit 2 otherwise. */
  private reportLate(): void {
    const f = this.failure;
    if (f === null || this.reported) return;
    this.reported = true;
    if (f.kind === 'failed') {
      process.stderr.write(`error: cannot write output: ${f.reason}\n`);
      process.exitCode = 2;
    }
  }

  private check(): void {
    const f = this.failure;
    if (f === null) return;
    this.reported = true; // the command's error path reports it
    if (f.kind === 'closed') throw new OutputClosed();
    throw new OutputFailed(f.reason);
  }

  /** Queue text for stdout; a full block is handed to stdout at once. Throws when stdout has failed. */
  write(s: string): void {
    this.check();
    this.parts.push(s);
    this.pending += s.length;
    if (this.pending >= BLOCK) this.flushBlock();
  }

  private flushBlock(): void {
    if (this.pending === 0) return;
    const s = this.parts.length === 1 ? this.parts[0]! : this.parts.join('');
    this.parts = [];
    this.pending = 0;
    this.flushed = true;
    this.wrote = true;
    let ok: boolean;
    try {
      ok = process.stdout.write(s);
    } catch (e) {
      if (this.failure === null) this.failure = failureOf(e);
      this.check();
      return;
    }
    if (!ok && this.waiting === null) {
      const out = process.stdout;
      this.waiting = new Promise<void>((resolve) => {
        const done = (): void => {
          out.off('drain', done);
          out.off('error', done);
          out.off('close', done);
          this.waiting = null;
          resolve();
        };
        out.once('drain', done);
        out.once('error', done);
        out.once('close', done);
      });
    }
  }

  /**
   * Hand what is queued to stdout and wait until stdout can take more (backpressure). Throws `OutputClosed` /
   * `OutputFailed` when stdout has failed.
   */
  async drain(): Promise<void> {
    this.check();
    this.flushBlock();
    if (this.flushed) {
      // One turn of the event loop, so that a write error (EPIPE from `| head`) is seen now, not at the end.
      this.flushed = false;
      await new Promise<void>((resolve) => setImmediate(resolve));
      this.check();
    }
    while (this.waiting !== null) {
      await this.waiting;
      this.check();
    }
    this.check();
  }

  /** End of the command's output: everything handed to stdout, and any error seen so far thrown. */
  async end(): Promise<void> {
    try {
      await this.drain();
    } finally {
      this.active = false;
    }
  }

  /**
   * The command failed with `failure`. When part of a streamed document already reached stdout and its writer
   * left a closer, the document is completed (what is queued, then what the closer writes: one whole document with
   * the error in it); otherwise what is queued is dropped, so that stdout holds nothing of the run. Never
   * throws: a write error now is the run's second failure and is not reported.
   */
  async fail(failure: RunFailure): Promise<void> {
    const closer = this.closer;
    if (closer !== null && this.wrote && this.failure === null) {
      try {
        closer(failure);
        await this.end();
        return;
      } catch {
        // stdout itself failed: nothing more can be written.
      }
    }
    this.abort();
  }

  /** The command failed: drop what is queued (it is not written), no longer active. */
  abort(): void {
    this.parts = [];
    this.pending = 0;
    this.active = false;
  }
}

/** The process's stdout writer. */
export const output = new Output();

/**
 * One JSON document written as it is made, byte for byte what `JSON.stringify(doc, null, 2)` prints for the same
 * keys in the same order: top-level fields, and arrays whose items are written one at a time (never all held).
 */
export class JsonDocWriter {
  private fieldsWritten = 0;
  private items = -1;

  constructor(private readonly write: (s: string) => void) {
    write('{');
  }

  private key(k: string): void {
    this.write(`${this.fieldsWritten++ > 0 ? ',' : ''}\n  ${JSON.stringify(k)}: `);
  }

  field(k: string, v: unknown): void {
    this.key(k);
    this.write(nestedJson(v, '  '));
  }

  openArray(k: string): void {
    this.key(k);
    this.write('[');
    this.items = 0;
  }

  item(v: unknown): void {
    this.write(`${this.items++ > 0 ? ',' : ''}\n    ${nestedJson(v, '    ')}`);
  }

  closeArray(): void {
    this.write(this.items > 0 ? '\n  ]' : ']');
    this.items = -1;
  }

  end(): void {
    this.write(this.fieldsWritten > 0 ? '\n}\n' : '}\n');
  }

  /** End the document early: the open array closed, then an `error` member ({exitCode, message}), then `}`. */
  endWithError(failure: RunFailure): void {
    if (this.items >= 0) this.closeArray();
    this.field('error', { exitCode: failure.exitCode, message: failure.message });
    this.end();
  }
}
