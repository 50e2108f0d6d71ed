/**
 * `smmuv3-tlbi serve`: serve the built web page (web/dist) on 127.0.0.1 with node:http and print its URL.
 * Only files inside the folder are served (no directory listing, no path escapes); the page needs nothing
 * from the network.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { dirname, extname, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command as Program } from 'commander';
import { EXIT_OK, UsageError, action, out, printJson, uintOption, withExamples } from './common.js';

const Host = '127.0.0.1';
const MaxPort = 65535;

const ContentTypes: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.txt': 'text/plain; charset=utf-8',
  '.bin': 'application/octet-stream',
};

/** The package root: the nearest folder above this module holding package.json (works from src/ and dist/). */
function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'web'))) return dir;
    const up = dirname(dir);
    if (up === dir) throw new UsageError('cannot find the package folder holding web/');
    dir = up;
  }
}

/** The folder the page is built into. */
export function defaultPageDir(): string {
  return join(packageRoot(), 'web', 'dist');
}

export interface RunningServer {
  readonly url: string;
  readonly port: number;
  readonly server: Server;
  close(): Promise<void>;
}

/** Start serving `dir` on 127.0.0.1:`port` (0 = any free port). */
export async function startServer(opts: { dir?: string; port?: number } = {}): Promise<RunningServer> {
  const root = resolve(opts.dir ?? defaultPageDir());
  if (!existsSync(join(root, 'index.html')))
    throw new UsageError(`${root} holds no index.html: build the page first (npm run build)`);
  const server = createServer((req, res) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { Allow: 'GET, HEAD' }).end();
      return;
    }
    let path: string;
    try {
      path = decodeURIComponent(new URL(req.url ?? '/', 'http://localhost').pathname);
    } catch {
      res.writeHead(400).end('bad request');
      return;
    }
    if (path.endsWith('/')) path += 'index.html';
    const file = resolve(root, '.' + path);
    if (file !== root && !file.startsWith(root + sep)) {
      res.writeHead(403).end('forbidden');
      return;
    }
    let body: Buffer;
    try {
      if (!statSync(file).isFile()) throw new Error('not a file');
      body = readFileSync(file);
    } catch {
      res.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8' }).end(`not found: ${path}`);
      return;
    }
    res.writeHead(200, {
      'Content-Type': ContentTypes[extname(file).toLowerCase()] ?? 'application/octet-stream',
      'Content-Length': body.length,
      'Cache-Control': 'no-cache',
      'X-Content-Type-Options': 'nosniff',
    });
    res.end(req.method === 'HEAD' ? undefined : body);
  });
  await new Promise<void>((ok, fail) => {
    server.once('error', (e: NodeJS.ErrnoException) =>
      fail(e.code === 'EADDRINUSE' ? new UsageError(`--port: ${opts.port ?? 0} is already in use`) : e),
    );
    server.listen(opts.port ?? 0, Host, () => ok());
  });
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : (opts.port ?? 0);
  return {
    url: `http://${Host}:${port}/`,
    port,
    server,
    close: () =>
      new Promise<void>((ok) => {
        server.close(() => ok());
        server.closeAllConnections();
      }),
  };
}

interface ServeOpts {
  port: number;
  dir?: string;
  json?: boolean;
}

export function registerServe(program: Program): void {
  const cmd = program
    .command('serve')
    .description(
      'Serve the web page (how a range becomes commands, the command-queue decoder) on 127.0.0.1 and print its URL. ' +
        'The page runs the same core as the CLI, entirely in the browser; it needs no network. Stop with Ctrl-C.',
    )
    .option('-p, --port <port>', 'TCP port on 127.0.0.1 (0 = any free port)', uintOption('--port'), 8080)
    .option('--dir <path>', 'serve this folder instead of the built page (web/dist)')
    .option('--json', 'print one JSON document {url, port, dir} once listening')
    .action(
      action(async (o: ServeOpts) => {
        if (o.port > MaxPort) throw new UsageError(`--port: ${o.port} is out of range (at most ${MaxPort})`);
        const dir = resolve(o.dir ?? defaultPageDir());
        const s = await startServer({ dir, port: o.port });
        if (o.json) printJson({ url: s.url, port: s.port, dir });
        else {
          out(s.url);
          process.stderr.write(`serving ${dir} at ${s.url} (Ctrl-C to stop)\n`);
        }
        const stop = (): void => {
          void s.close().then(() => process.exit(EXIT_OK));
        };
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
        return EXIT_OK;
      }),
    );
  withExamples(cmd, 'smmuv3-tlbi serve', 'smmuv3-tlbi serve --port 0', 'smmuv3-tlbi serve --port 9000 --json');
}
