/**
 * Running the built CLI (`node bin/smmuv3-tlbi.js …`) from the codec CLI tests. The CLI runs from dist/
 * (built by `npm ci` through the prepare script); when dist/ is missing or older than the sources the tests
 * exercise, it is rebuilt once with tsc.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('..', import.meta.url));
const BIN = join(ROOT, 'bin', 'smmuv3-tlbi.js');
const BUILT = join(ROOT, 'dist', 'src', 'cli', 'main.js');

function newestSource(dir: string): number {
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) t = Math.max(t, newestSource(p));
    else if (e.name.endsWith('.ts')) t = Math.max(t, statSync(p).mtimeMs);
  }
  return t;
}

/**
 * Make sure dist/ holds a CLI built from the current sources. Test files run in parallel, so
 * the build is guarded by a lock directory: one worker builds, the others wait for it.
 */
export function ensureBuilt(): void {
  const src = newestSource(join(ROOT, 'src'));
  const fresh = (): boolean => existsSync(BUILT) && statSync(BUILT).mtimeMs >= src;
  if (fresh()) return;
  const lock = join(ROOT, 'dist', '.cli-test-build.lock');
  mkdirSync(join(ROOT, 'dist'), { recursive: true });
  let mine = false;
  try {
    mkdirSync(lock);
    mine = true;
  } catch {
    // Another worker is building.
  }
  if (mine) {
    try {
      execFileSync(
        process.execPath,
        [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.build.json'],
        {
          cwd: ROOT,
          stdio: 'pipe',
        },
      );
    } catch {
      // Type errors elsewhere in the tree still emit JavaScript; the CLI tests judge what was built.
    } finally {
      rmSync(lock, { recursive: true, force: true });
    }
  } else {
    const deadline = Date.now() + 170_000;
    while (existsSync(lock) && Date.now() < deadline) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 200);
  }
  if (!existsSync(BUILT)) throw new Error('the CLI is not built (npm run build)');
}

export interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Run the CLI with `args`, optional stdin text or bytes. */
export function cli(args: string[], input?: string | Uint8Array): Run {
  const r = spawnSync(process.execPath, [BIN, ...args], {
    cwd: ROOT,
    input: input ?? '',
    encoding: 'utf8',
    env: { ...process.env, NO_COLOR: '1', SMMUV3_TLBI_DEBUG: '' },
    timeout: 60_000,
    maxBuffer: 256 * 1024 * 1024,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

export function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'smmuv3-cli-'));
}
