/**
 * The package as a user gets it: the project is copied to a temporary folder (its node_modules linked),
 * `npm pack` builds it there (the prepare script: tsc and the page) and packs it; the tarball is installed
 * into an empty project, where the README's "Library use" example runs under plain Node ESM, a strict
 * TypeScript file using the public API type-checks (and a twin with a type error does not), and the CLI
 * starts through `npx`: --version, decode --sample, audit --sample, serve --port 0 with the page and its
 * assets fetched from 127.0.0.1. The tarball's size and file count are printed for the closing note.
 */
import { spawn, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import {
  cpSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, posix, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const TSC = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
  name: string;
  version: string;
  dependencies: Record<string, string>;
};
/** Never copied into the staging folder: built output, installed modules, VCS data, test leftovers. */
const SKIP = new Set(['.git', 'node_modules', 'dist', 'test-results', '.cache', '.vitest-results.json']);

let work = '';
let tarball = '';
let files: string[] = [];
let project = '';

function run(cmd: string, args: string[], cwd: string, timeout = 180_000): SpawnSyncReturns<string> {
  const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1', SMMUV3_TLBI_DEBUG: '' };
  // An outer `npm test` leaves its own settings in the environment; the child npm must not inherit them.
  for (const k of Object.keys(env)) if (k.startsWith('npm_')) delete env[k];
  return spawnSync(cmd, args, { cwd, env, encoding: 'utf8', timeout, maxBuffer: 64 * 1024 * 1024 });
}

function ok(r: SpawnSyncReturns<string>, what: string): string {
  if (r.status !== 0) throw new Error(`${what}: exit ${r.status}\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

/** Copy the project (sources, package.json, README, …) without built output; link the installed modules. */
function stage(dest: string): void {
  cpSync(ROOT, dest, {
    recursive: true,
    filter: (src) => {
      const rel = relative(ROOT, src);
      if (rel === '') return true;
      if (rel === join('web', 'dist')) return false;
      return !SKIP.has(rel.split('/')[0]!) && !rel.endsWith('.tgz');
    },
  });
  symlinkSync(join(ROOT, 'node_modules'), join(dest, 'node_modules'), 'dir');
}

/** The README's "Library use" example: the first ```ts block after that heading. */
function libraryExample(): string {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const at = readme.indexOf('## Library use');
  expect(at).toBeGreaterThan(-1);
  const m = /```ts\n([\s\S]*?)```/.exec(readme.slice(at));
  expect(m).not.toBeNull();
  return m![1]!;
}

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'smmuv3-pack-'));
  const staged = join(work, 'staged');
  stage(staged);
  const out = join(work, 'out');
  mkdirSync(out);
  ok(run('npm', ['pack', '--pack-destination', out, '--loglevel', 'error'], staged), 'npm pack');
  const tgz = readdirSync(out).filter((f) => f.endsWith('.tgz'));
  expect(tgz).toEqual([`${pkg.name}-${pkg.version}.tgz`]);
  tarball = join(out, tgz[0]!);
  files = ok(run('tar', ['tzf', tarball], work), 'tar tzf')
    .split('\n')
    .filter((l) => l !== '' && !l.endsWith('/'))
    .map((l) => l.replace(/^package\//, ''));
  const kb = (statSync(tarball).size / 1024).toFixed(1);
  console.log(`package: ${tgz[0]} ${kb} KiB, ${files.length} files`);

  project = join(work, 'user');
  mkdirSync(project);
  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'user', private: true, type: 'module' }));
  // The runtime dependencies come from npm's cache when present, else from the registry.
  ok(
    run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--loglevel', 'error', tarball], project),
    'npm install <tarball>',
  );
}, 600_000);

afterAll(() => {
  if (work !== '') rmSync(work, { recursive: true, force: true });
});

describe('the tarball', () => {
  it('holds the compiled library with declarations, bin/, the built page, the sample, README and LICENSE', () => {
    for (const f of [
      'package.json',
      'README.md',
      'LICENSE',
      'bin/smmuv3-tlbi.js',
      'dist/src/index.js',
      'dist/src/index.d.ts',
      'dist/src/cli/main.js',
      'web/dist/index.html',
      'samples/linux-6.1-qemu-7.2-strict/cmdq.bin.gz',
      'samples/linux-6.1-qemu-7.2-strict/cmdq.json',
    ])
      expect(files, f).toContain(f);
    expect(files.some((f) => /^web\/dist\/assets\/.*\.js$/.test(f))).toBe(true);
    // Every compiled module has its declarations.
    for (const f of files.filter((x) => x.startsWith('dist/') && x.endsWith('.js')))
      expect(files, f).toContain(f.replace(/\.js$/, '.d.ts'));
    // The JSON Schemas of every --json document and input file ship beside the code (README points to them).
    expect(files.filter((f) => /^schemas\/.*\.schema\.json$/.test(f)).length).toBeGreaterThanOrEqual(10);
  });

  it('every relative import of a shipped module names a shipped file (the output validators stay out)', () => {
    const missing: string[] = [];
    const shipped = new Set(files);
    for (const f of files.filter((x) => x.startsWith('dist/') && (x.endsWith('.js') || x.endsWith('.d.ts')))) {
      const text = readFileSync(join(project, 'node_modules', pkg.name, f), 'utf8');
      for (const m of text.matchAll(/(?:from\s*|import\s*\(\s*)['"](\.{1,2}\/[^'"]+)['"]/g)) {
        const target = posix.normalize(posix.join(posix.dirname(f), m[1]!));
        if (!shipped.has(target)) missing.push(`${f} → ${m[1]!}`);
      }
    }
    expect(missing).toEqual([]);
    // The validators of output documents are for tests; only the input schemas' validators run in the CLI.
    expect(files.filter((f) => /schema\/generated\/.*-output\./.test(f))).toEqual([]);
  });

  it('holds nothing of tests, benchmarks, docs, CI, scripts, TypeScript sources or source maps', () => {
    const bad = files.filter(
      (f) =>
        /^(test|bench|docs|\.ci|scripts|src|web\/src)\//.test(f) ||
        /\.(map|png|tgz)$/.test(f) ||
        (f.endsWith('.ts') && !f.endsWith('.d.ts')),
    );
    expect(bad).toEqual([]);
    expect(files.filter((f) => f.startsWith('samples/') && f !== 'samples/README.md')).toHaveLength(2);
  });

  it('LICENSE is the license package.json names', () => {
    const text = readFileSync(join(ROOT, 'LICENSE'), 'utf8');
    expect((JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { license: string }).license).toBe('MIT');
    expect(text).toMatch(/^MIT License\n/);
    expect(text).toContain('THE SOFTWARE IS PROVIDED "AS IS"');
  });
});

describe('installed in an empty project', () => {
  it('installs only the runtime dependencies beside it', () => {
    const installed = readdirSync(join(project, 'node_modules')).filter((d) => !d.startsWith('.'));
    for (const d of Object.keys(pkg.dependencies)) expect(installed).toContain(d);
    expect(installed).not.toContain('vitest');
    expect(installed).not.toContain('typescript');
  });

  it('runs the README "Library use" example under plain Node ESM, as the sources do', () => {
    const example = libraryExample();
    writeFileSync(join(project, 'example.mjs'), example);
    const r = run(process.execPath, ['example.mjs'], project);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toContain("name: 'TLBI_NH_VA'");
    expect(r.stdout).toContain("name: 'ATC_INV'");
    // The same example against the repository's sources (through tsx) prints the same.
    const local = join(ROOT, 'src', 'index.ts');
    writeFileSync(
      join(work, 'example-src.mjs'),
      example.replace("from 'smmuv3-tlbi'", `from ${JSON.stringify(local)}`),
    );
    const s = run(process.execPath, ['--import', 'tsx', join(work, 'example-src.mjs')], ROOT);
    expect(s.status).toBe(0);
    expect(r.stdout).toBe(s.stdout);
  });

  it('type-checks a strict TypeScript file using the public API; a twin with a type error fails on that error', () => {
    writeFileSync(
      join(project, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          target: 'ES2022',
          module: 'NodeNext',
          moduleResolution: 'NodeNext',
          strict: true,
          noUncheckedIndexedAccess: true,
          exactOptionalPropertyTypes: true,
          noEmit: true,
          types: [],
          lib: ['ES2022'],
        },
        files: ['use.ts'],
      }),
    );
    const use = [
      libraryExample().replace(/^console\.log.*$/m, ''),
      "import { decodeSlot, type PlannedEntryJson, type SmmuTable } from 'smmuv3-tlbi';",
      'const entries: PlannedEntryJson[] = planEntriesToJson(out);',
      'const table: SmmuTable = smmus;',
      'const legal: boolean = decodeSlot(out.buf.u32, 0).ok;',
      'const first: string | undefined = entries[0]?.name;',
      'const words: Uint32Array = out.buf.u32;',
      'export { first, words, table, legal };',
      '',
    ].join('\n');
    writeFileSync(join(project, 'use.ts'), use);
    const good = run(process.execPath, [TSC, '-p', 'tsconfig.json'], project);
    expect(good.stdout + good.stderr).toBe('');
    expect(good.status).toBe(0);
    writeFileSync(join(project, 'use.ts'), use + 'export const wrong: string = new PlanOutput();\n');
    const bad = run(process.execPath, [TSC, '-p', 'tsconfig.json'], project);
    expect(bad.status).not.toBe(0);
    expect(bad.stdout).toMatch(
      /use\.ts\(\d+,\d+\): error TS2322: Type 'PlanOutput' is not assignable to type 'string'/,
    );
    expect(bad.stdout).not.toMatch(/TS2307|TS7016/); // the module and its types were found
  });

  it('npx smmuv3-tlbi --version prints package.json’s version', () => {
    const r = run('npx', ['--no-install', 'smmuv3-tlbi', '--version'], project);
    expect(r.status).toBe(0);
    expect(r.stdout).toBe(`${pkg.version}\n`);
  });

  it('npx smmuv3-tlbi decode --sample and audit --sample run (exit 0)', () => {
    const d = run('npx', ['--no-install', 'smmuv3-tlbi', 'decode', '--sample'], project);
    expect(d.status).toBe(0);
    expect(d.stdout).toMatch(/TLBI_NH_VA/);
    const a = run('npx', ['--no-install', 'smmuv3-tlbi', 'audit', '--sample', '--json', '--no-replan'], project);
    expect(a.status).toBe(0);
    const doc = JSON.parse(a.stdout) as { schemaVersion: number; input: { entries: number } };
    expect(doc.schemaVersion).toBeGreaterThan(0);
    expect(doc.input.entries).toBe(17797); // samples/README.md: PROD = CONS = 0x4585
  });

  it('the installed smmuv3-tlbi serve --port 0 serves the page and its assets on 127.0.0.1, stops on SIGINT', async () => {
    // The installed bin itself (npx would stand between: npm exec does not pass SIGINT on to the CLI).
    const bin = join(project, 'node_modules', '.bin', 'smmuv3-tlbi');
    const child = spawn(process.execPath, [bin, 'serve', '--port', '0'], {
      cwd: project,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    const url = await new Promise<string>((resolve, reject) => {
      child.stdout.on('data', (b: Buffer) => {
        stdout += b.toString();
        const m = /http:\/\/127\.0\.0\.1:\d+\//.exec(stdout);
        if (m) resolve(m[0]);
      });
      child.on('exit', () => reject(new Error(`serve exited early: ${stderr}`)));
    });
    try {
      const page = await fetch(url);
      expect(page.status).toBe(200);
      const html = await page.text();
      const assets = [...html.matchAll(/(?:src|href)="\.\/(assets\/[^"]+)"/g)].map((m) => m[1]!);
      expect(assets.some((a) => a.endsWith('.js'))).toBe(true);
      expect(assets.some((a) => a.endsWith('.css'))).toBe(true);
      for (const a of assets) {
        const r = await fetch(url + a);
        expect(r.status, a).toBe(200);
        expect((await r.arrayBuffer()).byteLength, a).toBeGreaterThan(0);
      }
    } finally {
      child.kill('SIGINT');
      // Never leave a server behind, even when it ignores SIGINT (the assertion below then fails).
      setTimeout(() => child.kill('SIGKILL'), 20_000).unref();
    }
    expect(await exited).toBe(0);
  });
});
