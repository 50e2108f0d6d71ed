/**
 * The CLI's input and output layer, through the built CLI as a user runs it: write errors (/dev/full), a reader
 * that goes away (EPIPE), the size rule (--max-entries, /dev/zero, a gzip bomb, truncated gzip, directories and
 * missing files), and decode's streamed reading and --json document against a whole-buffer reference.
 */
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { beforeAll, describe, expect, it } from 'vitest';
import { decodeHalves, decodedEntryToJson, halvesFromBytes, CommandChecker } from '../src/cmdq/index.js';
import { ROOT, cli, ensureBuilt, tempDir } from './cli-codec-helpers.js';

beforeAll(() => ensureBuilt(), 180_000);

const BIN = join(ROOT, 'bin', 'smmuv3-tlbi.js');
const SAMPLE = join(ROOT, 'samples', 'linux-6.1-qemu-7.2-strict');

/** Run the CLI with stdout on an open file descriptor (e.g. /dev/full). */
function cliToFd(args: string[], fd: number): { code: number | null; stderr: string } {
  const r = spawnSync(process.execPath, [BIN, ...args], {
    cwd: ROOT,
    stdio: ['ignore', fd, 'pipe'],
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { code: r.status, stderr: r.stderr };
}

describe('output errors', () => {
  it('> /dev/full: one line "cannot write output" and exit 2, for small and large output', () => {
    const fd = openSync('/dev/full', 'w');
    try {
      for (const args of [
        ['decode', '--sample', '--json'],
        ['decode', '--sample'],
        ['decode', '--file', join(SAMPLE, 'cmdq.bin.gz'), '--json'],
      ]) {
        const r = cliToFd(args, fd);
        expect(r.code, args.join(' ')).toBe(2);
        expect(r.stderr.trimEnd().split('\n')).toEqual([
          expect.stringMatching(/^error: cannot write output: ENOSPC/) as unknown as string,
        ]);
      }
    } finally {
      closeSync(fd);
    }
  });

  it('the same output to a regular file is complete and exits with the command status', () => {
    const dir = tempDir();
    const fd = openSync(join(dir, 'out.json'), 'w');
    const r = cliToFd(['decode', '--sample', '--json'], fd);
    closeSync(fd);
    expect(r.code).toBe(0);
    const doc = JSON.parse(readFileSync(join(dir, 'out.json'), 'utf8')) as { summary: { entries: number } };
    expect(doc.summary.entries).toBe(19);
  });

  it('EPIPE: a reader that closes early stops the run at once, quietly, with the status so far', async () => {
    // 2^18 illegal entries (opcode 0xff): a 50 MB report if it ran to the end.
    const dir = tempDir();
    const f = join(dir, 'illegal.bin');
    writeFileSync(f, illegalDump(2 ** 18));
    const child = spawn(process.execPath, [BIN, 'decode', '--file', f], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    let got = 0;
    const code = await new Promise<number | null>((resolve) => {
      child.stdout.on('data', (c: Buffer) => {
        got += c.length;
        child.stdout.destroy(); // the reader goes away after its first chunk
      });
      child.on('close', (c) => resolve(c));
    });
    expect(got).toBeGreaterThan(0);
    expect(code).toBe(1); // illegal entries were found before the pipe closed
    expect(stderr).toBe(''); // quiet: no error line, and no final "N entries" summary (it stopped at once)
  });
});

describe('the size rule', () => {
  it('decode --file /dev/zero is refused past --max-entries (exit 2, naming the option)', () => {
    const r = cli(['decode', '--file', '/dev/zero', '--max-entries', '1K']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^error: \/dev\/zero: more than 16384 bytes: the --max-entries limit \(1024 entries/);
    expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
  });

  it('a regular dump larger than the limit is refused before it is read', () => {
    const dir = tempDir();
    const f = join(dir, 'q.bin');
    writeFileSync(f, illegalDump(2048));
    expect(cli(['decode', '--file', f, '--max-entries', '2048']).code).toBe(1); // at the limit: read (all illegal)
    const r = cli(['decode', '--file', f, '--max-entries', '2047']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/32768 bytes is more than 32752: the --max-entries limit/);
  });

  it('a gzip bomb is refused once it inflates past the limit; its clean twin (within the limit) is read', () => {
    const dir = tempDir();
    const bomb = join(dir, 'bomb.gz');
    writeFileSync(bomb, gzipSync(new Uint8Array(16 << 20), { level: 1 })); // 16 MiB of zeros, ~16 KiB of gzip
    const r = cli(['decode', '--file', bomb, '--max-entries', '64K', '--errors-only']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/bomb\.gz: the gzip data inflates to more than 1048576 bytes: the --max-entries limit/);
    const twin = join(dir, 'twin.gz');
    writeFileSync(twin, gzipSync(illegalDump(65536)));
    const ok = cli(['decode', '--file', twin, '--max-entries', '64K', '--json']);
    expect(ok.code).toBe(1);
    expect((JSON.parse(ok.stdout) as { summary: { entries: number } }).summary.entries).toBe(65536);
  });

  it('hex words on stdin are counted against --max-entries too', () => {
    const text = '0x0000000000000000 0x0\n'.repeat(10); // explicit zero entries: read (and illegal)
    expect(cli(['decode', '--max-entries', '10'], text).code).toBe(1);
    const r = cli(['decode', '--max-entries', '9'], text);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/stdin: more than 9 entries/);
  });

  it('a line longer than the per-line limit is refused, naming the line', () => {
    const r = cli(['decode'], '0x0 0x0\n' + 'a'.repeat(100_000) + '\n');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/stdin line 2: longer than 65536 characters/);
  });

  it('unreadable inputs are usage errors: missing, a directory, truncated gzip', () => {
    const dir = tempDir();
    const sub = join(dir, 'd');
    mkdirSync(sub);
    const gz = readFileSync(join(SAMPLE, 'cmdq.bin.gz'));
    const cut = join(dir, 'cut.gz');
    writeFileSync(cut, gz.subarray(0, gz.length >> 1));
    for (const [file, msg] of [
      [join(dir, 'missing.bin'), /cannot read .*missing\.bin: ENOENT/],
      [sub, /cannot read .*d: EISDIR/],
      [cut, /cut\.gz: gzip data could not be decompressed: unexpected end of file/],
    ] as const) {
      const r = cli(['decode', '--file', file]);
      expect(r.code, file).toBe(2);
      expect(r.stderr).toMatch(msg);
    }
  });
});

/** A binary dump of n entries with the reserved opcode 0xff (illegal, and not the zero of an unused slot). */
function illegalDump(n: number): Uint8Array {
  const b = new Uint8Array(16 * n);
  for (let k = 0; k < n; k++) b[k * 16] = 0xff;
  return b;
}

describe('decode reads as a stream', () => {
  it('--json of the real ring (gzip) equals the document made from the whole buffer at once', () => {
    const bytes = gunzipSync(readFileSync(join(SAMPLE, 'cmdq.bin.gz')));
    const u = halvesFromBytes(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length));
    const checker = new CommandChecker();
    const entries: unknown[] = [];
    const empty: { first: number; last: number }[] = [];
    let illegal = 0;
    let zero = 0;
    for (let s = 0; s < u.length / 4; s++) {
      const h: [number, number, number, number] = [u[s * 4]!, u[s * 4 + 1]!, u[s * 4 + 2]!, u[s * 4 + 3]!];
      // A zero slot of a dump is not judged: it extends the current run of empty slots.
      if (h.every((x) => x === 0)) {
        zero++;
        const run = empty[empty.length - 1];
        if (run && run.last === s - 1) run.last = s;
        else empty.push({ first: s, last: s });
        continue;
      }
      const r = decodeHalves(...h, checker);
      if (!r.ok) illegal++;
      entries.push(decodedEntryToJson(s, r, h));
    }
    const input = { format: 'binary', description: 'binary: a raw little-endian dump, 16 bytes per entry', notes: [] };
    const want = JSON.stringify(
      { schemaVersion: 1, entries, input, empty, summary: { entries: u.length / 4, illegal, empty: zero } },
      null,
      2,
    );
    const gz = cli(['decode', '--file', join(SAMPLE, 'cmdq.bin.gz'), '--json']);
    expect(gz.code).toBe(0);
    expect(gz.stdout).toBe(want + '\n');
    // The same bytes uncompressed on stdin (`--file -`), human output.
    const human = cli(['decode', '--file', '-', '--errors-only'], bytes);
    expect(human.stderr).toBe(
      `format: ${input.description}\n${u.length / 4} entries, ${illegal} illegal, ${zero} empty (zero) in ${empty.length} run\n`,
    );
  });
});
