/**
 * The example command lines the documentation shows: README.md's shell blocks and the "Examples:" of a
 * command's --help, with the promise each one's trailing comment makes (`# exits 1`, `# needs …`). Shared by
 * test/examples.test.ts (which runs them) and scripts/same-output.ts (which compares their output between two
 * commits); nothing here imports vitest.
 */

export interface Example {
  /** Where it was found: `README.md:74` or `plan --help`. */
  where: string;
  /** The command line as the text prints it (continuation lines joined). */
  line: string;
  /** The exit status the text promises. */
  expect: 0 | 1;
  /** Why it is not run (the `# needs …` mark), if it is not. */
  needs?: string;
}

/** The promise an example's trailing comment makes: `# exits 1` or `# needs …`. */
function marks(line: string): Pick<Example, 'expect' | 'needs'> {
  const comment = /\s#\s(.*)$/.exec(line)?.[1] ?? '';
  const needs = /^needs\b.*/.exec(comment)?.[0];
  const expect: 0 | 1 = /\bexits 1\b/.test(comment) ? 1 : 0;
  return needs === undefined ? { expect } : { expect, needs };
}

/** Command lines of README.md's shell blocks (fenced without a language, or sh/shell/bash) naming the CLI. */
export function readmeExamples(text: string): Example[] {
  const found: Example[] = [];
  const lines = text.split('\n');
  let inShell = false;
  let inFence = false;
  for (let i = 0; i < lines.length; i++) {
    const fence = /^```(\w*)\s*$/.exec(lines[i]!);
    if (fence) {
      if (inFence) inFence = inShell = false;
      else {
        inFence = true;
        inShell = ['', 'sh', 'shell', 'bash'].includes(fence[1]!);
      }
      continue;
    }
    if (!inShell) continue;
    const at = i;
    let line = lines[i]!;
    while (line.endsWith('\\') && i + 1 < lines.length) line = line.slice(0, -1).trimEnd() + ' ' + lines[++i]!.trim();
    if (!/\bsmmuv3-tlbi\b/.test(line)) continue;
    // The quick start installs first; the test runs on the installed checkout, so `npm ci &&` is done.
    line = line.replace(/^npm ci && /, '');
    found.push({ where: `README.md:${at + 1}`, line, ...marks(line) });
  }
  return found;
}

/** The lines after "Examples:" in a command's help, without their `$ `. */
export function helpExamples(name: string, help: string): Example[] {
  const at = help.indexOf('\nExamples:\n');
  if (at < 0) return [];
  return help
    .slice(at + '\nExamples:\n'.length)
    .split('\n')
    .map((l) => /^\s+\$ (.*)$/.exec(l)?.[1])
    .filter((l): l is string => l !== undefined)
    .map((line) => ({ where: `${name} --help`, line, ...marks(line) }));
}
