/**
 * `smmuv3-tlbi serve`: a real process prints its URL on 127.0.0.1 and serves the folder; nothing outside
 * the folder is reachable, not through `..` and not through a symlink; only requests addressed to its own
 * loopback name and port are answered (DNS rebinding); a signal right after the URL closes it with exit 0;
 * bad options exit 2 naming the option. Loopback traffic only.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer } from '../src/cli/serve.js';
import { ROOT, runCli } from './e2e-harness.js';

/** GET with the path sent as is (no client-side normalisation of `..`), and the `Host` header given. */
function get(url: string, path: string, host?: string): Promise<{ status: number; type: string; body: string }> {
  const u = new URL(url);
  return new Promise((ok, fail) => {
    const headers = host === undefined ? {} : { Host: host };
    const req = request({ host: u.hostname, port: u.port, path, method: 'GET', headers }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString('utf8')));
      res.on('end', () => ok({ status: res.statusCode ?? 0, type: String(res.headers['content-type'] ?? ''), body }));
    });
    req.on('error', fail);
    req.end();
  });
}

/** A raw HTTP request on a socket (for a request without a `Host` header); resolves to the status code. */
function rawStatus(url: string, text: string): Promise<number> {
  const u = new URL(url);
  return new Promise((ok, fail) => {
    const sock = connect(Number(u.port), u.hostname, () => sock.write(text));
    let got = '';
    sock.on('data', (c: Buffer) => (got += c.toString('latin1')));
    sock.on('end', () => ok(Number(/^HTTP\/1\.[01] (\d{3})/.exec(got)?.[1] ?? 0)));
    sock.on('error', fail);
  });
}

/** Start `smmuv3-tlbi serve --port 0 --dir <site>` from the sources as a real process. */
function spawnServe(site: string, json: boolean) {
  const args = ['node', 'smmuv3-tlbi', 'serve', '--port', '0', '--dir', site, ...(json ? ['--json'] : [])];
  const code = `import('./src/cli/main.ts').then((m) => m.main(${JSON.stringify(args)}))`;
  return spawn(process.execPath, ['--import', 'tsx', '-e', code], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
}

/** The URL the process prints: the first stdout line, or the `url` of the --json document once it is complete. */
function urlOf(child: ReturnType<typeof spawnServe>, json: boolean): Promise<string> {
  return new Promise<string>((ok, fail) => {
    let out = '';
    child.stdout.on('data', (c: Buffer) => {
      out += c.toString('utf8');
      if (!json && out.includes('\n')) ok(out.split('\n')[0]!);
      if (json && out.endsWith('}\n')) ok((JSON.parse(out) as { url: string }).url);
    });
    child.on('exit', (c) => fail(new Error(`serve exited with ${String(c)} before printing its URL`)));
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
    // Symlinks out of the folder (a file, a folder, the system's password file) and one inside it.
    symlinkSync(join(dir, 'secret.txt'), join(dir, 'site', 'secret-link.txt'));
    symlinkSync(dir, join(dir, 'site', 'up'));
    symlinkSync('/etc/passwd', join(dir, 'site', 'passwd'));
    symlinkSync('assets/a.js', join(dir, 'site', 'alias.js'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('the command prints the URL and serves the folder until stopped', async () => {
    const child = spawnServe(join(dir, 'site'), false);
    try {
      const url = await urlOf(child, false);
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

  it('never follows a symlink out of the folder; a symlink inside it is served', async () => {
    const s = await startServer({ dir: join(dir, 'site'), port: 0 });
    const passwd = readFileSync('/etc/passwd', 'utf8').split('\n')[0]!;
    try {
      for (const p of ['/secret-link.txt', '/up/secret.txt', '/up/site/../secret.txt', '/passwd']) {
        const r = await get(s.url, p);
        expect(r.status, p).toBe(403);
        expect(r.body, p).not.toContain('outside the served folder');
        expect(r.body, p).not.toContain(passwd);
      }
      // The clean twin: a symlink whose target lies inside the folder is an ordinary file of the page.
      const alias = await get(s.url, '/alias.js');
      expect(alias.status).toBe(200);
      expect(alias.body).toBe('export {};');
      expect(alias.type).toContain('text/javascript');
    } finally {
      await s.close();
    }
  });

  it('serves only regular files: a FIFO in the folder is 404 at once, never a hang', async () => {
    const fifo = join(dir, 'site', 'pipe.js');
    if (spawnSync('mkfifo', [fifo]).status !== 0) return; // no mkfifo on this system: nothing to check
    const s = await startServer({ dir: join(dir, 'site'), port: 0 });
    try {
      expect((await get(s.url, '/pipe.js')).status).toBe(404);
      expect((await get(s.url, '/index.html')).status).toBe(200);
    } finally {
      await s.close();
      rmSync(fifo, { force: true });
    }
  });

  it('answers only requests addressed to its own loopback name and port (421 otherwise)', async () => {
    const s = await startServer({ dir: join(dir, 'site'), port: 0 });
    try {
      for (const host of ['evil.example', `evil.example:${s.port}`, '127.0.0.1', `127.0.0.1:${s.port + 1}`]) {
        const r = await get(s.url, '/', host);
        expect(r.status, host).toBe(421);
        expect(r.body, host).not.toContain('<title>');
      }
      for (const host of [`127.0.0.1:${s.port}`, `localhost:${s.port}`, `[::1]:${s.port}`, `LocalHost:${s.port}`]) {
        const r = await get(s.url, '/', host);
        expect(r.status, host).toBe(200);
        expect(r.body, host).toContain('<title>t</title>');
      }
      // No Host at all: HTTP/1.0 (not a browser) is served; node:http refuses HTTP/1.1 without one.
      expect(await rawStatus(s.url, 'GET / HTTP/1.0\r\n\r\n')).toBe(200);
      expect(await rawStatus(s.url, 'GET / HTTP/1.1\r\nConnection: close\r\n\r\n')).toBe(400);
      expect(await rawStatus(s.url, 'GET / HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n')).toBe(421);
    } finally {
      await s.close();
    }
  });

  it('a SIGINT or SIGTERM sent the instant the URL is printed closes the server with exit 0 (24 tries)', async () => {
    // 20 SIGINTs (half after the plain URL line, half after the --json document) and 4 SIGTERMs, 4 at a time.
    const tries = Array.from({ length: 24 }, (_, k) => ({
      json: k % 2 === 1,
      signal: k < 20 ? ('SIGINT' as const) : ('SIGTERM' as const),
    }));
    const results: { code: number | null; signal: string | null; stderr: string }[] = [];
    const one = async (t: (typeof tries)[number]): Promise<void> => {
      const child = spawnServe(join(dir, 'site'), t.json);
      let stderr = '';
      child.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
      const exited = new Promise<{ code: number | null; signal: string | null }>((ok) =>
        child.on('exit', (code, signal) => ok({ code, signal })),
      );
      await urlOf(child, t.json);
      child.kill(t.signal);
      results.push({ ...(await exited), stderr });
    };
    for (let k = 0; k < tries.length; k += 4) await Promise.all(tries.slice(k, k + 4).map(one));
    expect(results).toHaveLength(24);
    for (const r of results) {
      expect(r.signal, r.stderr).toBeNull();
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).not.toMatch(/error/i);
    }
  }, 240_000);

  it('bad options exit 2 with one line naming the problem', async () => {
    const port = await runCli(['serve', '--port', '70000']);
    expect(port.code).toBe(2);
    expect(port.stderr).toMatch(/^error: .*--port.*70000.* is out of range \(0 to 65535\)\n$/);
    const empty = await runCli(['serve', '--port', '0', '--dir', dir + '/assets-none']);
    expect(empty.code).toBe(2);
    expect(empty.stderr).toMatch(/^error: .* holds no index\.html: build the page first \(npm run build\)\n$/);
  });
});
