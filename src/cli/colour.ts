/**
 * Colour for a person at a terminal, and `--quiet`.
 *
 * Human lines on stdout get colour when stdout is a terminal and `NO_COLOR` is not set (https://no-color.org:
 * any non-empty value) and `TERM` is not `dumb`: ILLEGAL entries, stale translations and audit findings in
 * red, a clean result in green. A pipe, a file or `--json` never sees an escape code.
 *
 * `--quiet` (anywhere before `--`) silences stderr but for errors (lines starting `error:` or
 * `internal error:`): no notes, summaries, progress bars or warnings. stdout and the exit status are as
 * without it.
 */

const Red = '\u001b[31m';
const BoldRed = '\u001b[1;31m';
const Green = '\u001b[32m';
const Reset = '\u001b[0m';

/** Whether a stream should get colour, by the rules above. */
export function colourWanted(stream: { isTTY?: boolean }, env: NodeJS.ProcessEnv = process.env): boolean {
  if (stream.isTTY !== true) return false;
  if ((env.NO_COLOR ?? '') !== '') return false;
  return env.TERM !== 'dumb';
}

const red = (s: string): string => `${Red}${s}${Reset}`;

/** What is coloured: each pattern's match is wrapped in its colour. */
const RULES: ReadonlyArray<readonly [RegExp, (s: string) => string]> = [
  // decode / audit: an entry the SMMU refuses.
  [/\bILLEGAL\b/g, (s) => `${BoldRed}${s}${Reset}`],
  // simulate: a stale translation reported in full, and a non-zero count of them.
  [/\bstale (?:TLB|walk cache|walk-cache|ATC|STE|CD) entry\b/g, red],
  [/^(?:stale(?: translations)?\s+)[1-9]\d*$/g, red],
  // audit: the findings count when there are any, and each finding's "found:" line.
  [/^Findings: [1-9]\d*$/g, red],
  [/^\s+found: .*$/g, red],
  // scenario: the closing verdict.
  [/^result\s+ok\b/g, (s) => `${Green}${s}${Reset}`],
  [/^result\s+(?!ok\b)\S.*$/g, red],
];

/** The line with its findings coloured. */
export function paint(line: string): string {
  let s = line;
  for (const [re, colour] of RULES) s = s.replace(re, colour);
  return s;
}

let stdoutColour: boolean | null = null;

/** The line as it goes to stdout: painted when stdout wants colour. */
export function forStdout(line: string): string {
  stdoutColour ??= colourWanted(process.stdout);
  return stdoutColour ? paint(line) : line;
}

/** Force the colour decision (tests). */
export function setStdoutColour(on: boolean | null): void {
  stdoutColour = on;
}

/** Remove `--quiet` / `-q` from the arguments (before a `--`); true when it was there. */
export function takeQuiet(argv: string[]): boolean {
  let quiet = false;
  const end = argv.indexOf('--');
  for (let k = (end < 0 ? argv.length : end) - 1; k >= 2; k--) {
    if (argv[k] === '--quiet' || argv[k] === '-q') {
      argv.splice(k, 1);
      quiet = true;
    }
  }
  return quiet;
}

/** From now on stderr carries errors only. */
export function quietStderr(): void {
  const write = process.stderr.write.bind(process.stderr);
  process.stderr.write = ((chunk: string | Uint8Array, ...rest: unknown[]): boolean => {
    const text = typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8');
    if (/^(?:error|internal error):/.test(text))
      return (write as (c: unknown, ...r: unknown[]) => boolean)(chunk, ...rest);
    const done = rest.find((r): r is () => void => typeof r === 'function');
    if (done) queueMicrotask(done);
    return true;
  }) as typeof process.stderr.write;
}
