/**
 * The newc cpio writer, checked against GNU cpio (an independent reader; .ci/apt-packages installs it) and
 * against the header layout byte by byte (magic 070701, thirteen 8-digit hex fields, name, 4-byte padding).
 * The kernel itself is the third reader: every real capture boots an initramfs made by this writer.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readlinkSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { writeCpio, type CpioEntry } from '../src/capture/index.js';

const te = new TextEncoder();
const ENTRIES: CpioEntry[] = [
  { kind: 'dir', path: 'bin' },
  { kind: 'file', path: 'bin/hello', data: te.encode('#!/bin/sh\necho hi\n'), mode: 0o755 },
  { kind: 'symlink', path: 'bin/sh', target: 'hello' },
  { kind: 'dir', path: 'dev' },
  { kind: 'char', path: 'dev/console', major: 5, minor: 1 },
  { kind: 'file', path: 'odd', data: new Uint8Array([1, 2, 3, 4, 5]) },
  { kind: 'file', path: 'empty', data: new Uint8Array(0) },
];

const hasCpio = spawnSync('cpio', ['--version']).status === 0;

describe('writeCpio', () => {
  const a = writeCpio(ENTRIES);
  const text = new TextDecoder('latin1').decode(a);

  it('writes newc headers: magic, hex fields, NUL-terminated name padded to 4 bytes', () => {
    expect(text.slice(0, 6)).toBe('070701');
    const field = (off: number, k: number): number => parseInt(text.slice(off + 6 + k * 8, off + 14 + k * 8), 16);
    expect(field(0, 1)).toBe(0o040755); // mode: directory, 0755
    expect(field(0, 4)).toBe(2); // nlink of a directory
    expect(field(0, 6)).toBe(0); // filesize
    expect(field(0, 11)).toBe(4); // namesize "bin\0"
    expect(text.slice(110, 114)).toBe('bin\0');
    // header (110) + name (4) = 114 → padded to 116; the next header starts there
    expect(text.slice(116, 122)).toBe('070701');
    expect(field(116, 1)).toBe(0o100755);
    expect(field(116, 6)).toBe(18);
    expect(a.length % 4).toBe(0);
    expect(text).toContain('TRAILER!!!\0');
  });

  it('refuses bad paths and children before their directory', () => {
    expect(() => writeCpio([{ kind: 'file', path: 'a/b', data: new Uint8Array(1) }])).toThrow(/before its directory/);
    expect(() => writeCpio([{ kind: 'dir', path: '../x' }])).toThrow(/bad path/);
    expect(() =>
      writeCpio([
        { kind: 'dir', path: 'x' },
        { kind: 'dir', path: 'x' },
      ]),
    ).toThrow(/twice/);
  });

  it.runIf(hasCpio)('is read back by GNU cpio: names, modes, contents, the symlink and the device', () => {
    const dir = mkdtempSync(join(tmpdir(), 'cpio-test-'));
    try {
      const list = spawnSync('cpio', ['-it', '--quiet'], { input: a });
      expect(list.status).toBe(0);
      expect(list.stdout.toString().trim().split('\n')).toEqual(ENTRIES.map((e) => e.path));
      const x = spawnSync('cpio', ['-idm', '--quiet', '--no-absolute-filenames'], { input: a, cwd: dir });
      expect(x.status, x.stderr.toString()).toBe(0);
      expect(readFileSync(join(dir, 'bin/hello'), 'utf8')).toBe('#!/bin/sh\necho hi\n');
      expect(statSync(join(dir, 'bin/hello')).mode & 0o777).toBe(0o755);
      expect(readlinkSync(join(dir, 'bin/sh'))).toBe('hello');
      expect([...readFileSync(join(dir, 'odd'))]).toEqual([1, 2, 3, 4, 5]);
      expect(statSync(join(dir, 'empty')).size).toBe(0);
      const verbose = spawnSync('cpio', ['-itv', '--quiet'], { input: a }).stdout.toString();
      expect(verbose).toMatch(/^crw-------\s+1 root\s+root\s+5,\s+1 .* dev\/console$/m);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
