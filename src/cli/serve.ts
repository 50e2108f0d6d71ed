/**
 * `smmuv3-tlbi serve`: serve the built web page (web/dist) on 127.0.0.1 with node:http and print its URL.
 * It trusts nothing it is sent: only regular files whose real path (symlinks resolved) lies inside the
 * folder are served, with no directory listing; a request whose `Host` is not this server's own loopback
 * name and port is answered 421 (a DNS-rebinding page names its own host); SIGINT and SIGTERM are handled
 * from before the server listens, so a signal that arrives right after the URL is printed closes it cleanly
 * (exit 0). The page needs nothing from the network.
 */
import { constants, existsSync, realpathSync } from 'node:fs';
import { lstat, open, realpath } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
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

/** The loopback names a browser on this machine uses for the server (`Host` without the port). */
const LoopbackNames = ['127.0.0.1', 'localhost', '[::1]'];

/**
 * Whether a request's `Host` header names this server: one of the loopback names with the listening port
 * (the port may be left out only when it is 80, as browsers do). A page served from another name that was
 * re-pointed at 127.0.0.1 (DNS rebinding) sends its own name here and is refused. A request without `Host`
 * (HTTP/1.0; node:http itself refuses HTTP/1.1 without one) is no browser's and is allowed.
 */
export function hostAllowed(host: string | undefined, port: number): boolean {
  if (host === undefined) return true;
  const h = host.toLowerCase();
  return LoopbackNames.some((name) => h === `${name}:${port}` || (port === 80 && h === name));
}

function send(res: ServerResponse, status: number, text: string): void {
  res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', 'X-Content-Type-Options': 'nosniff' });
  res.end(text);
}

/**
 * Answer one GET/HEAD with the regular file at `path` inside `root` (a real path), or an error status. The
 * file's real path must lie inside `root` (a symlink out of the folder is refused); it is checked to be a
 * regular file before it is opened (a FIFO or device would block or never end) and again on the open
 * descriptor, which is opened without following a symlink, so a file swapped in between is not read.
 */
async function serveFile(root: string, path: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const inside = root.endsWith(sep) ? root : root + sep;
  const file = resolve(root, '.' + path);
  if (file !== root && !file.startsWith(inside)) return send(res, 403, 'forbidden');
  let real: string;
  try {
    real = await realpath(file);
  } catch {
    return send(res, 404, `not found: ${path}`);
  }
  if (!real.startsWith(inside)) return send(res, 403, 'forbidden');
  try {
    if (!(await lstat(real)).isFile()) return send(res, 404, `not found: ${path}`);
  } catch {
    return send(res, 404, `not found: ${path}`);
  }
  let body: Buffer;
  try {
    const fh = await open(real, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
    try {
      if (!(await fh.stat()).isFile()) return send(res, 404, `not found: ${path}`);
      body = await fh.readFile();
    } finally {
      await fh.close();
    }
  } catch {
    return send(res, 404, `not found: ${path}`);
  }
  res.writeHead(200, {
    'Content-Type': ContentTypes[extname(real).toLowerCase()] ?? 'application/octet-stream',
    'Content-Length': body.length,
    'Cache-Control': 'no-cache',
    'X-Content-Type-Options': 'nosniff',
  });
  res.end(req.method === 'HEAD' ? undefined : body);
}

/** Start serving `dir` on 127.0.0.1:`port` (0 = any free port). */
export async function startServer(opts: { dir?: string; port?: number } = {}): Promise<RunningServer> {
  const given = resolve(opts.dir ?? defaultPageDir());
  if (!existsSync(join(given, 'index.html')))
    throw new UsageError(`${given} holds no index.html: build the page first (npm run build)`);
  const root = realpathSync(given);
  let port = opts.port ?? 0;
  const server = createServer((req, res) => {
    if (!hostAllowed(req.headers.host, port)) {
      send(
        res,
        421,
        `misdirected request: this server answers to 127.0.0.1:${port}, localhost:${port} or [::1]:${port}`,
      );
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { Allow: 'GET, HEAD' }).end();
      return;
    }
    let path: string;
    try {
      path = decodeURIComponent(new URL(req.url ?? '/', 'http://localhost').pathname);
    } catch {
      send(res, 400, 'bad request');
      return;
    }
    if (path.includes('\0')) {
      send(res, 400, 'bad request');
      return;
    }
    if (path.endsWith('/')) path += 'index.html';
    serveFile(root, path, req, res).catch(() => {
      if (!res.headersSent) send(res, 500, 'internal error');
      else res.destroy();
    });
  });
  await new Promise<void>((ok, fail) => {
    server.once('error', (e: NodeJS.ErrnoException) =>
      fail(e.code === 'EADDRINUSE' ? new UsageError(`--port: ${opts.port ?? 0} is already in use`) : e),
    );
    server.listen(port, Host, () => ok());
  });
  const addr = server.address();
  if (typeof addr === 'object' && addr) port = addr.port;
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
        'The page runs the same core as the CLI, entirely in the browser; it needs no network. Only regular files ' +
        'inside the folder are served (no symlink out of it), only to requests addressed to 127.0.0.1, localhost ' +
        'or [::1] with the port (others get 421). Stop with Ctrl-C (SIGINT or SIGTERM: exit 0).',
    )
    .option(
      '-p, --port <port>',
      'TCP port on 127.0.0.1 (0 = any free port)',
      uintOption('--port', { max: 65535 }),
      8080,
    )
    .option('--dir <path>', 'serve this folder instead of the built page (web/dist)')
    .option('--json', 'print one JSON document {url, port, dir} once listening')
    .action(
      action(async (o: ServeOpts) => {
        if (o.port > MaxPort) throw new UsageError(`--port: ${o.port} is out of range (at most ${MaxPort})`);
        const dir = resolve(o.dir ?? defaultPageDir());
        // The handlers come first: a signal that arrives while the server starts, or the instant after its
        // URL is printed, must close it (exit 0), not kill the process by the signal's default action.
        let running: RunningServer | undefined;
        let stopping = false;
        const stop = (): void => {
          if (stopping) return;
          stopping = true;
          process.exitCode = EXIT_OK;
          void running?.close();
        };
        process.on('SIGINT', stop);
        process.on('SIGTERM', stop);
        try {
          running = await startServer({ dir, port: o.port });
        } catch (e) {
          process.off('SIGINT', stop);
          process.off('SIGTERM', stop);
          throw e;
        }
        if (stopping) {
          await running.close();
          return EXIT_OK;
        }
        if (o.json) printJson({ url: running.url, port: running.port, dir });
        else {
          out(running.url);
          process.stderr.write(`serving ${dir} at ${running.url} (Ctrl-C to stop)\n`);
        }
        // The process lives on while the server listens; once stop() closes it the event loop drains and
        // the process exits with status 0 (no process.exit: it could cut the URL off a pipe).
        return EXIT_OK;
      }),
    );
  withExamples(cmd, 'smmuv3-tlbi serve', 'smmuv3-tlbi serve --port 0', 'smmuv3-tlbi serve --port 9000 --json');
}
