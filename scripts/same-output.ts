/**
 * Behaviour stays the same (issue 12): run the CLI examples (README.md and every command's --help) and a fixed
 * set of seeded runs (every scenario and policy, every fault, plans, page tables) on two commits, and compare
 * what each printed — stdout, stderr and the exit status — after removing timing (elapsedMs, opsPerSecond,
 * wall/CPU times, "in 1.2 s", "N ops/s", ETA lines).
 *
 *   npm run same-output                    # this tree against main (the base is built once per commit)
 *   npm run same-output -- --base 96ce95f  # against a given commit
 *   npm run same-output -- --only simulate # only the command lines containing a word
 *
 * The base is checked out with `git worktree add --detach` under the system's temporary folder and shares this
 * tree's node_modules; both trees are compiled with tsconfig.build.json (bin/ runs dist/). Examples marked
 * `# needs …` and `serve` examples are not run (nothing comparable: a kernel, a port). Prints each command that
 * differs with its first differing line, then "same-output: N commands, N identical, N differ"; exits 1 when
 * any differ.
 */
import { spawn, execFileSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  realpathSync,
  rmSync,
  symlinkSync,
  writeFileSync,
  chmodSync,
} from 'node:fs';
import { tmpdir, availableParallelism } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command } from 'commander';
import { helpExamples, readmeExamples } from '../test/example-lines.js';

const HERE = resolve(fileURLToPath(new URL('..', import.meta.url)));

interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
}

const program = new Command('same-output')
  .option('--base <ref>', 'the commit to compare with', 'main')
  .option('--only <word>', 'only the command lines that contain this word')
  .option('--jobs <n>', 'commands run at once', String(Math.max(1, Math.min(4, availableParallelism()))))
  .option('--keep', 'keep the temporary folders of the run')
  .parse();
const opts = program.opts<{ base: string; only?: string; jobs: string; keep?: boolean }>();

function git(...args: string[]): string {
  return execFileSync('git', ['-C', HERE, ...args], { encoding: 'utf8' }).trim();
}

/** A checkout of the base commit, compiled, shared between runs (keyed by the commit). */
function baseTree(sha: string): string {
  const dir = join(tmpdir(), `smmuv3-same-output-${sha.slice(0, 12)}`);
  if (!existsSync(join(dir, '.built'))) {
    if (existsSync(dir)) {
      try {
        git('worktree', 'remove', '--force', dir);
      } catch {
        rmSync(dir, { recursive: true, force: true });
      }
    }
    git('worktree', 'prune');
    git('worktree', 'add', '--detach', dir, sha);
    symlinkSync(realpathSync(join(HERE, 'node_modules')), join(dir, 'node_modules'));
    build(dir);
    writeFileSync(join(dir, '.built'), sha + '\n');
  }
  return dir;
}

function build(dir: string): void {
  process.stderr.write(`same-output: compiling ${dir}\n`);
  execFileSync(process.execPath, [join(HERE, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json'], {
    cwd: dir,
    stdio: ['ignore', 'ignore', 'inherit'],
  });
}

/** A folder with `smmuv3-tlbi` and `npx` that run the given tree's bin/. */
function shims(tree: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'smmuv3-same-output-bin-'));
  const cli = join(dir, 'smmuv3-tlbi');
  writeFileSync(
    cli,
    `#!/bin/sh\nexec ${JSON.stringify(process.execPath)} ${JSON.stringify(join(tree, 'bin/smmuv3-tlbi.js'))} "$@"\n`,
  );
  writeFileSync(
    join(dir, 'npx'),
    `#!/bin/sh\nif [ "$1" = smmuv3-tlbi ]; then shift; exec ${JSON.stringify(cli)} "$@"; fi\nexit 127\n`,
  );
  chmodSync(cli, 0o755);
  chmodSync(join(dir, 'npx'), 0o755);
  return dir;
}

function sh(line: string, cwd: string, bin: string, home: string): Promise<Ran> {
  return new Promise((ok, fail) => {
    const child = spawn('bash', ['-o', 'pipefail', '-c', line], {
      cwd,
      env: { PATH: `${bin}:${process.env.PATH ?? ''}`, NO_COLOR: '1', HOME: home, TMPDIR: home, LANG: 'C.UTF-8' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), 300_000);
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString('utf8')));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
    child.on('error', fail);
    child.on('close', (code) => {
      clearTimeout(timer);
      ok({ code, stdout, stderr });
    });
  });
}

/** Keys whose values are timings (wall or CPU), at any depth of a JSON document. */
const TIMING_KEY =
  /^(elapsedMs|opsPerSecond|wallMs|cpuMs|totalMs|bootMs|workloadMs|durationMs|elapsed|seconds|time|timestamp|startedAt|finishedAt|date)$/;

function dropTimings(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(dropTimings);
  if (v !== null && typeof v === 'object')
    return Object.fromEntries(
      Object.entries(v as Record<string, unknown>)
        .filter(([k]) => !TIMING_KEY.test(k))
        .map(([k, x]) => [k, dropTimings(x)]),
    );
  return v;
}

/** One line of output without its timings: a JSON line loses its timing keys, text its "1.2 s" and "N ops/s". */
function normaliseLine(line: string, tree: string): string {
  const t = line.trim();
  if ((t.startsWith('{') && t.endsWith('}')) || (t.startsWith('[') && t.endsWith(']'))) {
    try {
      return JSON.stringify(dropTimings(JSON.parse(t)));
    } catch {
      /* not JSON after all: treat as text */
    }
  }
  return line
    .split(tree)
    .join('<tree>')
    .replace(/\b\d[\d,]*(\.\d+)?\s*(ms|s|µs|us|min|h)\b/g, '<time>')
    .replace(/\b\d[\d,]*(\.\d+)?\s*(k|M)?\s*(ops|operations|lines|entries)\/(s|CPU-s)\b/g, '<rate>')
    .replace(/\b\d[\d,]*(\.\d+)?\s*(ops|operations) per (wall|CPU)-second\b/g, '<rate>')
    .replace(/\bETA\b.*$/, 'ETA <time>')
    .replace(/\/tmp\/[\w.-]+/g, '<tmp>');
}

function normalise(text: string, tree: string): string {
  const t = text.trim();
  // A whole JSON document on several lines (pretty-printed).
  if (t.startsWith('{') && t.endsWith('}') && t.includes('\n')) {
    try {
      return JSON.stringify(dropTimings(JSON.parse(t)), null, 1);
    } catch {
      /* NDJSON or text: line by line */
    }
  }
  return text
    .split('\n')
    .map((l) => normaliseLine(l, tree))
    .join('\n');
}

/**
 * An example that lets `simulate` pick a fresh seed gets `--seed 1`, so that both sides run the same workload.
 * (Examples with `--time-budget` are not compared at all: how many cases fit in the budget depends on speed.)
 */
function seeded(line: string): string {
  return line.replace(/\bsimulate\b(?![^|&;]*--(seed|replay|list-faults)\b)/g, 'simulate --seed 1');
}

/** The seeded runs: every scenario under both policies, every fault, and a few plain configurations. */
function seededRuns(faults: string[]): string[] {
  const runs: string[] = [];
  for (const policy of ['linux', 'tlbi'])
    for (const seed of [1, 2, 3]) {
      runs.push(`smmuv3-tlbi simulate --seed ${seed} --ops 3000 --policy ${policy} --json`);
      for (const scenario of ['driver', 'pkvm', 'nested'])
        runs.push(`smmuv3-tlbi simulate --scenario ${scenario} --seed ${seed} --policy ${policy} --json`);
    }
  for (const extra of ['--stage 2', '--stage nested', '--granule 64K', '--granule 16K --ril off', '--ats on --smmus 2'])
    runs.push(`smmuv3-tlbi simulate --seed 7 --ops 3000 ${extra} --json`);
  for (const f of faults) runs.push(`smmuv3-tlbi simulate --fault ${f} --seed 1 --json`);
  runs.push('smmuv3-tlbi simulate --list-faults --json');
  for (const p of [
    '--start 0x1000 --size 4K',
    '--start 0 --size 1G --leaf-size 2M',
    '--start 0x40000 --size 2M --ril off',
  ])
    runs.push(`smmuv3-tlbi plan ${p} --json`);
  return runs;
}

async function pool<T, R>(items: T[], jobs: number, fn: (item: T, i: number) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array<R>(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: jobs }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await fn(items[i]!, i);
      }
    }),
  );
  return out;
}

async function main(): Promise<number> {
  const baseSha = git('rev-parse', '--verify', `${opts.base}^{commit}`);
  const headDesc = git('describe', '--always', '--dirty');
  const base = baseTree(baseSha);
  build(HERE);
  const binHere = shims(HERE);
  const binBase = shims(base);
  const homes = mkdtempSync(join(tmpdir(), 'smmuv3-same-output-home-'));

  const help = async (name: string): Promise<string> =>
    (await sh(`smmuv3-tlbi ${name} --help`, HERE, binHere, homes)).stdout;
  const names = (await sh('smmuv3-tlbi --help', HERE, binHere, homes)).stdout
    .split('\n')
    .map((l) => /^\s{2}([a-z][\w-]*)\b/.exec(l)?.[1])
    .filter((n): n is string => n !== undefined && n !== 'help');
  const { readFileSync } = await import('node:fs');
  const examples = [
    ...readmeExamples(readFileSync(join(HERE, 'README.md'), 'utf8')),
    ...(await Promise.all(names.map(async (n) => helpExamples(n, await help(n))))).flat(),
  ]
    .filter((e) => e.needs === undefined && !/\bserve\b/.test(e.line) && !/--time-budget\b/.test(e.line))
    .map((e) => seeded(e.line.replace(/\bnpx smmuv3-tlbi\b/g, 'smmuv3-tlbi')));
  const listed = (await sh('smmuv3-tlbi simulate --list-faults --json', HERE, binHere, homes)).stdout;
  const faults = ((JSON.parse(listed) as { faults: { name: string }[] }).faults ?? []).map((f) => f.name);
  let lines = [...new Set([...examples, ...seededRuns(faults)])];
  if (opts.only !== undefined) lines = lines.filter((l) => l.includes(opts.only!));
  process.stderr.write(
    `same-output: ${lines.length} commands, ${headDesc} against ${baseSha.slice(0, 12)} (${opts.base})\n`,
  );

  let n = 0;
  const results = await pool(lines, Math.max(1, Number(opts.jobs)), async (line, i) => {
    // Each side in its own scratch folder for files an example writes (`--out x`, `> x`): a copy of nothing,
    // run from the tree's root so that samples/ and examples/ resolve.
    const homeA = join(homes, `a${i}`);
    const homeB = join(homes, `b${i}`);
    mkdirSync(homeA);
    mkdirSync(homeB);
    const [a, b] = await Promise.all([sh(line, base, binBase, homeA), sh(line, HERE, binHere, homeB)]);
    n++;
    if (n % 20 === 0) process.stderr.write(`same-output: ${n}/${lines.length}\n`);
    return { line, a, b };
  });

  let differ = 0;
  for (const { line, a, b } of results) {
    const parts: [string, string, string][] = [
      ['exit', String(a.code), String(b.code)],
      ['stdout', normalise(a.stdout, base), normalise(b.stdout, HERE)],
      ['stderr', normalise(a.stderr, base), normalise(b.stderr, HERE)],
    ];
    const bad = parts.filter(([, x, y]) => x !== y);
    if (bad.length === 0) continue;
    differ++;
    console.log(`DIFFERS: ${line}`);
    for (const [what, x, y] of bad) {
      const xl = x.split('\n');
      const yl = y.split('\n');
      let k = 0;
      while (k < xl.length && xl[k] === yl[k]) k++;
      console.log(
        `  ${what} line ${k + 1}:\n    base: ${(xl[k] ?? '<end>').slice(0, 300)}\n    this: ${(yl[k] ?? '<end>').slice(0, 300)}`,
      );
    }
  }
  // Files the run left in the trees (an example's `--out` relative to the root) are removed from both.
  for (const dir of [HERE, base]) {
    const status = execFileSync('git', ['-C', dir, 'status', '--porcelain', '--untracked-files=all'], {
      encoding: 'utf8',
    });
    for (const l of status.split('\n')) {
      const m = /^\?\? (.+)$/.exec(l);
      if (
        m &&
        !m[1]!.startsWith('dist/') &&
        !m[1]!.startsWith('web/dist/') &&
        m[1] !== '.built' &&
        lines.some((x) => x.includes(m[1]!.split('/')[0]!))
      )
        rmSync(resolve(dir, m[1]!), { recursive: true, force: true });
    }
  }
  if (!opts.keep) {
    rmSync(homes, { recursive: true, force: true });
    rmSync(binHere, { recursive: true, force: true });
    rmSync(binBase, { recursive: true, force: true });
  }
  console.log(`same-output: ${lines.length} commands, ${lines.length - differ} identical, ${differ} differ`);
  return differ === 0 ? 0 : 1;
}

main().then(
  (rc) => process.exit(rc),
  (e: unknown) => {
    console.error(e instanceof Error ? e.stack : String(e));
    process.exit(3);
  },
);
