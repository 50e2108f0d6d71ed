/**
 * `smmuv3-tlbi serve`: a real process prints its URL on 127.0.0.1 and serves the folder; nothing outside
 * the folder is reachable; bad options exit 2 naming the option.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer } from '../src/cli/serve.js';
import { ROOT, runCli } from './e2e-harness.js';

/** GET with the path sent as is (no client-side normalisation of `..`). */
function get(url: string, path: string): Promise<{ status: number; type: string; body: string }> {
  const u = new URL(url);
  return new Promise((ok, fail) => {
    const req = request({ host: u.hostname, port: u.port, path, method: 'GET' }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString('utf8')));
      res.on('end', () => ok({ status: res.statusCode ?? 0, type: String(res.headers['content-type'] ?? ''), body }));
    });
    req.on('error', fail);
    req.end();
  });
}

describe('serve', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'smmuv3-tlbi-serve-'));
    mkdirSync(join(dir, 'site', 'assets'), { recursive: true });
    writeFileSync(join(dir, 'site', 'index.html'), '<!doctype html><title>t</title>');
    writeFileSync(join(dir, 'site', 'assets', 'a.js'), 'export {};');
    writeFileSync(join(dir, 'secret.txt'), 'outside the served folder');
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('the command prints the URL and serves the folder until stopped', async () => {
    const code = `import('./src/cli/main.ts').then((m) => m.main(['node', 'smmuv3-tlbi', 'serve', '--port', '0', '--dir', ${JSON.stringify(join(dir, 'site'))}]))`;
    const child = spawn(process.execPath, ['--import', 'tsx', '-e', code], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    try {
      const url = await new Promise<string>((ok, fail) => {
        let out = '';
        child.stdout.on('data', (c: Buffer) => {
          out += c.toString('utf8');
          const line = out.split('\n')[0]!;
          if (out.includes('\n')) ok(line);
        });
        child.on('exit', (c) => fail(new Error(`serve exited with ${String(c)} before printing its URL`)));
      });
      expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
      const index = await get(url, '/');
      expect(index.status).toBe(200);
      expect(index.type).toContain('text/html');
      const js = await get(url, '/assets/a.js');
      expect(js.status).toBe(200);
      expect(js.type).toContain('text/javascript');
    } finally {
      child.kill('SIGTERM');
    }
  });

  it('never serves a file outside the folder, and says 404 for missing files', async () => {
    const s = await startServer({ dir: join(dir, 'site'), port: 0 });
    try {
      for (const p of ['/../secret.txt', '/%2e%2e/secret.txt', '/assets/../../secret.txt', '/..%2fsecret.txt']) {
        const r = await get(s.url, p);
        expect(r.status, p).not.toBe(200);
        expect(r.body).not.toContain('outside the served folder');
      }
      expect((await get(s.url, '/missing.js')).status).toBe(404);
      expect((await get(s.url, '/assets/')).status).toBe(404);
    } finally {
      await s.close();
    }
  });

  it('bad options exit 2 with one line naming the problem', async () => {
    const port = await runCli(['serve', '--port', '70000']);
    expect(port.code).toBe(2);
    expect(port.stderr).toBe('error: --port: 70000 is out of range (at most 65535)\n');
    const empty = await runCli(['serve', '--port', '0', '--dir', dir + '/assets-none']);
    expect(empty.code).toBe(2);
    expect(empty.stderr).toMatch(/^error: .* holds no index\.html: build the page first \(npm run build\)\n$/);
  });
});
