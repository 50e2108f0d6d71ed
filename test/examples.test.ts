/**
 * Every example the documentation shows runs as printed: the command lines of README.md's shell blocks and
 * the "Examples:" of every command's --help. Each one runs from the repository root through `sh -c` (a
 * pipeline through `bash -o pipefail -c`, so that a failing first command is not hidden), with
 * `smmuv3-tlbi` and `npx smmuv3-tlbi` resolved to the CLI of these sources (through tsx, as
 * test/cli-source-run.ts does), and must end with the exit status its text promises: 0, or 1 when the
 * example carries the mark `# exits 1` (it shows a finding). No example may exit 2 or 3.
 *
 * `serve` examples run with `--port 0`: the test reads the URL, fetches `/`, stops the server with SIGINT and
 * expects exit 0. An example that writes a file (`--out PATH`) gets it removed afterwards. Examples that need
 * what a repository cannot hold (an arm64 kernel, busybox and QEMU for `capture`) carry the mark
 * `# needs …` (what they need: an hour, a Slurm array, files a long run writes); they are listed, never run.
 * What an example leaves at the top of the repository under a name it mentions (a redirected `> FILE`, a
 * folder of replays) is removed when the examples have run.
 */
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { COMMAND_NAMES } from '../src/cli/main.js';
import { runCliFromSource } from './cli-source-run.js';
import { helpExamples, readmeExamples } from './example-lines.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const MAIN = fileURLToPath(new URL('../src/cli/main.ts', import.meta.url));

let bin = '';
let env: NodeJS.ProcessEnv = {};

beforeAll(() => {
  // `smmuv3-tlbi` runs these sources; `npx smmuv3-tlbi` the same, any other npx call goes to the real one.
  bin = mkdtempSync(join(tmpdir(), 'smmuv3-examples-'));
  const cli = join(bin, 'smmuv3-tlbi');
  // Double quotes only: the code sits in single quotes in the script.
  const code = `import { main } from ${JSON.stringify(MAIN)}; await main(["node", "smmuv3-tlbi", ...process.argv.slice(1)]);`;
  writeFileSync(
    cli,
    `#!/bin/sh\nexec ${JSON.stringify(process.execPath)} --import tsx --input-type=module -e '${code}' -- "$@"\n`,
  );
  const npx = join(bin, 'npx');
  const realNpx = process.env.PATH?.split(':')
    .map((d) => join(d, 'npx'))
    .find((p) => existsSync(p));
  writeFileSync(
    npx,
    `#!/bin/sh\nif [ "$1" = smmuv3-tlbi ]; then shift; exec ${JSON.stringify(cli)} "$@"; fi\n` +
      `exec ${JSON.stringify(realNpx ?? 'false')} "$@"\n`,
  );
  chmodSync(cli, 0o755);
  chmodSync(npx, 0o755);
  env = { ...process.env, PATH: `${bin}:${process.env.PATH ?? ''}`, NO_COLOR: '1', SMMUV3_TLBI_DEBUG: '' };
  for (const k of Object.keys(env)) if (k.startsWith('npm_')) delete env[k];
});

/** What the repository root held before the examples ran (anything new afterwards is theirs). */
const rootBefore = new Set(readdirSync(ROOT));

afterAll(() => {
  if (bin) rmSync(bin, { recursive: true, force: true });
  // Only what an example names (another test file may create its own folders meanwhile: those stay).
  const keep = new Set(['dist', 'test-results', 'node_modules', '.cache', '.vitest-results.json', 'web']);
  for (const name of readdirSync(ROOT))
    if (!rootBefore.has(name) && !keep.has(name) && all.some((e) => e.line.includes(name)))
      rmSync(join(ROOT, name), { recursive: true, force: true });
});

interface Ran {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Run `sh -c LINE` from the repository root; `onStdout` may act on the output as it comes (serve). */
function sh(line: string, onStdout?: (text: string, pid: number) => void): Promise<Ran> {
  return new Promise((ok, fail) => {
    // Its own process group, so that a signal reaches the shell and the CLI it started.
    // A pipeline's status is its last command's: under bash with pipefail an earlier command's failure counts.
    const shell = /\|/.test(line.replace(/'[^']*'|"[^"]*"/g, '')) ? ['bash', '-o', 'pipefail', '-c'] : ['sh', '-c'];
    const child = spawn(shell[0]!, [...shell.slice(1), line], {
      cwd: ROOT,
      env,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => {
      process.kill(-child.pid!, 'SIGKILL');
      fail(new Error(`timed out: ${line}\n${stderr}`));
    }, 90_000);
    child.stdout.on('data', (c: Buffer) => {
      stdout += c.toString('utf8');
      onStdout?.(stdout, child.pid!);
    });
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
    child.on('error', fail);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      ok({ code, signal, stdout, stderr });
    });
  });
}

/**
 * Ctrl-C for the server the shell started: SIGINT to the shell's children (a non-interactive `sh` that got the
 * signal itself would die of it, where an interactive one waits for the server), or to the shell when it has
 * none (it exec'd the command).
 */
function interrupt(shell: number): void {
  let children: number[];
  try {
    children = readFileSync(`/proc/${shell}/task/${shell}/children`, 'utf8')
      .trim()
      .split(/\s+/)
      .filter(Boolean)
      .map(Number);
  } catch {
    children = [];
  }
  for (const pid of children.length > 0 ? children : [shell]) process.kill(pid, 'SIGINT');
}

/** Run a serve example on a free port: fetch `/`, then SIGINT; resolves to the exit and the page's status. */
async function serveExample(line: string): Promise<{ ran: Ran; status: number; body: string }> {
  const onPort0 = /--port\s+\d+/.test(line)
    ? line.replace(/--port\s+\d+/, '--port 0')
    : line.replace(/#.*$/, '') + ' --port 0';
  let status = 0;
  let body = '';
  let fetched: Promise<void> | undefined;
  const ran = await sh(onPort0, (text, pid) => {
    if (fetched) return;
    const url = /--json/.test(line)
      ? text.endsWith('}\n')
        ? (JSON.parse(text) as { url: string }).url
        : undefined
      : /^(http:\/\/\S+)\n/.exec(text)?.[1];
    if (url === undefined) return;
    fetched = fetch(url)
      .then(async (r) => {
        status = r.status;
        body = await r.text();
      })
      .finally(() => interrupt(pid));
  });
  await fetched;
  return { ran, status, body };
}

/** The file an example writes with `--out PATH` (relative to the repository root), if any. */
function outputOf(line: string): string | undefined {
  const m = /--out\s+(\S+)/.exec(line);
  return m ? resolve(ROOT, m[1]!) : undefined;
}

const readme = readmeExamples(readFileSync(join(ROOT, 'README.md'), 'utf8'));
const help = COMMAND_NAMES.flatMap((name) => {
  const r = runCliFromSource([name, '--help']);
  if (r.code !== 0) throw new Error(`${name} --help: exit ${String(r.code)}\n${r.stderr}`);
  return helpExamples(name, r.stdout);
});
const all = [...readme, ...help];

describe('the examples are found', () => {
  it('README.md shows examples of several commands, and every command with examples is counted', () => {
    expect(readme.length).toBeGreaterThanOrEqual(8);
    for (const name of COMMAND_NAMES) expect(help.some((e) => e.where === `${name} --help`)).toBe(true);
  });

  it('the extraction reads marks and continuation lines (a made-up text, not the README)', () => {
    const text = [
      '```ts',
      'smmuv3-tlbi not-a-shell-line',
      '```',
      '```',
      'npm ci && npx smmuv3-tlbi decode --sample',
      'npx smmuv3-tlbi audit \\',
      '    --sample   # exits 1: shows a finding',
      'npx smmuv3-tlbi capture --out x  # needs a kernel',
      'ls',
      '```',
    ].join('\n');
    expect(readmeExamples(text)).toEqual([
      { where: 'README.md:5', line: 'npx smmuv3-tlbi decode --sample', expect: 0 },
      { where: 'README.md:6', line: 'npx smmuv3-tlbi audit --sample   # exits 1: shows a finding', expect: 1 },
      {
        where: 'README.md:8',
        line: 'npx smmuv3-tlbi capture --out x  # needs a kernel',
        expect: 0,
        needs: 'needs a kernel',
      },
    ]);
    expect(helpExamples('x', 'Usage: x\n\nExamples:\n  $ smmuv3-tlbi x --a\n  $ smmuv3-tlbi x  # exits 1\n')).toEqual([
      { where: 'x --help', line: 'smmuv3-tlbi x --a', expect: 0 },
      { where: 'x --help', line: 'smmuv3-tlbi x  # exits 1', expect: 1 },
    ]);
  });

  it('an example left unrun says what it needs; capture examples (a kernel, busybox, QEMU) are among them', () => {
    for (const e of all.filter((x) => x.needs !== undefined)) expect(e.needs!.length, e.where).toBeGreaterThan(10);
    for (const e of all.filter((x) => /\bsmmuv3-tlbi capture\b/.test(x.line))) expect(e.needs, e.where).toBeDefined();
    // Most examples run.
    expect(all.filter((x) => x.needs === undefined).length).toBeGreaterThan(all.length * 0.7);
  });

  it('no example asks for more than 10^5 operations', () => {
    for (const e of all) {
      const ops = /--ops\s+(\d+)/.exec(e.line)?.[1];
      if (ops !== undefined) expect(Number(ops), `${e.where}: ${e.line}`).toBeLessThanOrEqual(100_000);
    }
  });
});

describe.concurrent('every example exits as its text says', () => {
  for (const e of all.filter((x) => x.needs === undefined)) {
    it(`${e.where}: ${e.line}`, async () => {
      if (/\bsmmuv3-tlbi serve\b/.test(e.line)) {
        expect(existsSync(join(ROOT, 'web', 'dist', 'index.html')), 'the page is built (npm ci or npm run build)').toBe(
          true,
        );
        const { ran, status, body } = await serveExample(e.line);
        expect(status, ran.stderr).toBe(200);
        expect(body).toContain('<html');
        expect({ code: ran.code, signal: ran.signal }, ran.stderr).toEqual({ code: 0, signal: null });
        return;
      }
      const out = outputOf(e.line);
      const existed = out !== undefined && existsSync(out);
      try {
        const ran = await sh(e.line);
        expect(ran.code, `${e.line}\n${ran.stderr.slice(-2000)}`).toBe(e.expect);
        if (out !== undefined) expect(existsSync(out), `${e.line} writes ${out}`).toBe(true);
      } finally {
        if (out !== undefined && !existed) rmSync(out, { recursive: true, force: true });
      }
    });
  }
});
