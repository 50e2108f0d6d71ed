/**
 * What the phases of `capture` share: the command's options, the progress lines on stderr, the error that
 * marks a capture incomplete (exit 1 with what to do), and a sleep.
 */

export interface CaptureOpts {
  kernel?: string;
  modules?: string;
  qemu?: string;
  busybox?: string;
  strict?: boolean;
  lazy?: boolean;
  stage: '1' | '2';
  workload: string;
  timeout: number;
  out?: string;
  smp: number;
  json?: boolean;
  keepWork?: boolean;
}

export class Progress {
  private readonly t0 = Date.now();
  step(text: string): void {
    const s = ((Date.now() - this.t0) / 1000).toFixed(0).padStart(4);
    process.stderr.write(`[capture ${s}s] ${text}\n`);
  }
  elapsed(): number {
    return Date.now() - this.t0;
  }
}

/** A failure after the guest started: exit 1 with what to do, and a note in the output directory. */
export class IncompleteCapture extends Error {
  constructor(
    message: string,
    readonly advice: string,
  ) {
    super(message);
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
