/**
 * Run the CLI on the current TypeScript sources (through tsx, no build needed) as a separate process, the way
 * a user runs it: arguments, optional stdin, exit code, stdout and stderr.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const MAIN = fileURLToPath(new URL('../src/cli/main.ts', import.meta.url));

export interface SourceRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Node's arguments that run the CLI from source with `args` (for spawn/spawnSync of process.execPath). */
export function sourceCliArgs(args: string[]): string[] {
  return [
    '--import',
    'tsx',
    '--input-type=module',
    '-e',
    `import { main } from ${JSON.stringify(MAIN)}; await main(['node', 'smmuv3-tlbi', ...process.argv.slice(1)]);`,
    // `--` ends Node's own options, so that `--version` or `--help` reach the CLI.
    '--',
    ...args,
  ];
}

export function runCliFromSource(args: string[], input?: string): SourceRun {
  const r = spawnSync(process.execPath, sourceCliArgs(args), {
    cwd: ROOT,
    ...(input !== undefined ? { input } : {}),
    encoding: 'utf8',
    env: { ...process.env, NO_COLOR: '1', SMMUV3_TLBI_DEBUG: '' },
    timeout: 120_000,
    // Whole --json documents of real samples run to megabytes (the default is 1 MiB).
    maxBuffer: 256 * 2 ** 20,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}
