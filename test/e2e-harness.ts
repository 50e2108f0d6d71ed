/**
 * Shared set-up of the browser tests: build the page (into a fresh temporary folder, so a test never looks
 * at a stale build and parallel test files never race on web/dist), serve it with the CLI's own server on
 * port 0, and drive Debian's Chromium through playwright-core (no browser download).
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { vi } from 'vitest';
import { build } from 'vite';
import { main } from '../src/cli/main.js';
import { startServer, type RunningServer } from '../src/cli/serve.js';
import { CHROMIUM_MISSING, ChromiumPath, chromiumPresent } from './chromium.js';

export { ChromiumPath } from './chromium.js';
export const ChromiumArgs = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-quic',
];

export const ROOT = fileURLToPath(new URL('..', import.meta.url));
export const RESULTS = join(ROOT, 'test-results');

/** Whether the browser tests can run; on CI a missing Chromium is an error, not a skip. */
export function chromiumAvailable(): boolean {
  if (chromiumPresent()) return true;
  if (process.env.CI) throw new Error(CHROMIUM_MISSING);
  console.warn(`SKIPPING browser tests: ${CHROMIUM_MISSING}`);
  return false;
}

export interface PageHarness {
  readonly server: RunningServer;
  readonly browser: Browser;
  readonly dir: string;
  /** Requests the page tried to make to anywhere but the local server (blocked; must stay empty). */
  readonly external: string[];
  /** Uncaught exceptions and console errors of every page opened (must stay empty). */
  readonly errors: string[];
  /** A fresh page at `query` (the URL state), waiting until the page says it is ready. */
  open(query?: string, viewport?: { width: number; height: number }): Promise<Page>;
  close(): Promise<void>;
}

/** Build the page into a temporary folder with the project's Vite config. */
export async function buildPage(): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'smmuv3-tlbi-web-'));
  await build({
    configFile: join(ROOT, 'web', 'vite.config.ts'),
    logLevel: 'error',
    build: { outDir: dir, emptyOutDir: true, sourcemap: false },
  });
  return dir;
}

export async function startHarness(): Promise<PageHarness> {
  const dir = await buildPage();
  const server = await startServer({ dir, port: 0 });
  const browser = await chromium.launch({ executablePath: ChromiumPath, headless: true, args: ChromiumArgs });
  const errors: string[] = [];
  const external: string[] = [];
  return {
    server,
    browser,
    dir,
    external,
    errors,
    async open(query = '', viewport = { width: 1400, height: 1000 }) {
      const page = await browser.newPage({ viewport });
      page.on('pageerror', (e) => errors.push(e.message));
      page.on('console', (m) => {
        if (m.type() === 'error') errors.push(m.text());
      });
      // Nothing may be fetched from anywhere but the local server (the page works offline).
      await page.route('**/*', (route) => {
        const url = route.request().url();
        if (url.startsWith(server.url) || url.startsWith('data:')) return route.continue();
        external.push(url);
        return route.abort('blockedbyclient');
      });
      await page.goto(server.url + (query ? `?${query}` : ''));
      await page.waitForSelector('body[data-ready="1"]');
      if (errors.length) throw new Error(`page errors: ${errors.join('; ')}`);
      return page;
    },
    async close() {
      await browser.close();
      await server.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Save a screenshot under test-results/ (and return its path). */
export async function screenshot(page: Page, name: string, fullPage = true): Promise<string> {
  mkdirSync(RESULTS, { recursive: true });
  const path = join(RESULTS, `${name}.png`);
  await page.screenshot({ path, fullPage });
  return path;
}

/**
 * Run the real CLI (`smmuv3-tlbi <args>`) in this process and capture what it prints. `input`, when given,
 * is written to a temporary JSON file passed as `--input`.
 */
export async function runCli(
  args: string[],
  input?: unknown,
): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const argv = [...args];
  let tmp: string | undefined;
  if (input !== undefined) {
    tmp = mkdtempSync(join(tmpdir(), 'smmuv3-tlbi-req-'));
    writeFileSync(join(tmp, 'request.json'), JSON.stringify(input));
    argv.push('--input', join(tmp, 'request.json'));
  }
  const out = vi.spyOn(process.stdout, 'write').mockImplementation((c: string | Uint8Array) => {
    stdout += String(c);
    return true;
  });
  const err = vi.spyOn(process.stderr, 'write').mockImplementation((c: string | Uint8Array) => {
    stderr += String(c);
    return true;
  });
  const before = process.exitCode;
  process.exitCode = undefined;
  try {
    // The CLI's own entry point, so that parse errors map to their exit status as they do for a user.
    await main(['node', 'smmuv3-tlbi', ...argv]);
  } finally {
    out.mockRestore();
    err.mockRestore();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  }
  const code = Number(process.exitCode ?? 0);
  process.exitCode = before;
  return { code, stdout, stderr };
}
