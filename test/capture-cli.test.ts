/**
 * `audit --capture` and `capture` as a user runs them: exit codes, one JSON document, one-line errors that
 * name the option, and no half-written output directory after unusable input.
 */
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { runCliFromSource } from './cli-source-run.js';

const SAMPLE = 'samples/linux-7.0-qemu-10.0-strict';
const tmp = mkdtempSync(join(tmpdir(), 'capture-cli-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('audit --capture', () => {
  it('prints the verdict of a sample: capture facts first, 0 findings, exit 0', () => {
    const r = runCliFromSource(['audit', '--capture', SAMPLE]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.split('\n')[0]).toBe(
      'capture: 7.0.13+deb13-arm64 (linux-image-7.0.13+deb13-arm64 7.0.13-1~bpo13+1)',
    );
    expect(r.stdout).toContain('IDR0=0xd44101b');
    expect(r.stdout).toContain('reproduction: 541 of 541 requests match the linux policy word for word');
    expect(r.stdout).toContain('verdict: 0 findings');
  });
  it('--json prints one document with schemaVersion, every unmap verdict and its evidence', () => {
    const r = runCliFromSource(['audit', '--capture', SAMPLE, '--json']);
    expect(r.code, r.stderr).toBe(0);
    const doc = JSON.parse(r.stdout) as {
      schemaVersion: number;
      counts: { findings: number; unmaps: number };
      unmaps: { ok: boolean; evidence: string }[];
      reproduction: { identical: number };
      capture: { kernel: string; mode: string };
    };
    expect(doc.schemaVersion).toBe(1);
    expect(doc.counts.findings).toBe(0);
    expect(doc.unmaps.length).toBe(doc.counts.unmaps);
    expect(doc.unmaps.every((u) => u.ok && typeof u.evidence === 'string')).toBe(true);
    expect(doc.reproduction.identical).toBe(541);
    expect(doc.capture.mode).toBe('strict');
  });
  it('exits 1 on a damaged copy (a TLBI address bit flipped in the ring) and names the rule', () => {
    const dir = join(tmp, 'damaged');
    cpSync(SAMPLE, dir, { recursive: true });
    const ring = gunzipSync(readFileSync(join(dir, 'cmdq.bin.gz')));
    // The first request's TLBI: the first wr event's prod.
    const con = gunzipSync(readFileSync(join(dir, 'guest-console.log.gz'))).toString('utf8');
    const prod = parseInt(/ wr: .* prod=0x([0-9a-f]+) /.exec(con)![1]!, 16);
    ring[prod * 16 + 10] = ring[prod * 16 + 10]! ^ 0x10; // address bit 20 (w1 bits [63:12] hold the address)
    writeFileSync(join(dir, 'cmdq.bin.gz'), gzipSync(ring));
    const r = runCliFromSource(['audit', '--capture', dir]);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/\[ring-mismatch\] slot \d+ holds/);
    expect(r.stdout).toMatch(/\[unmap-(not-invalidated|invalidated-late)\] unmap \[0x/);
  });
  it('exits 2 with one line for a directory that is not a capture', () => {
    const r = runCliFromSource(['audit', '--capture', join(tmp, 'nothing-here')]);
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toMatch(/^error: --capture .*nothing-here: no such directory$/);
    const r2 = runCliFromSource(['audit', '--capture', 'samples/linux-6.1-qemu-7.2-strict']);
    expect(r2.code).toBe(2);
    expect(r2.stderr.trim()).toMatch(/no guest-console\.log or guest-console\.log\.gz/);
    const r3 = runCliFromSource(['audit', '--capture', SAMPLE, '--file', 'x.bin']);
    expect(r3.code).toBe(2);
  });
});

describe('capture: unusable input exits 2 naming it, and writes nothing', () => {
  // A minimal arm64 Image header (magic "ARM\x64" at 0x38, 4K pages in the flags) and an AArch64 ELF header.
  const image = Buffer.alloc(64);
  image.writeUInt32LE(0x644d5241, 0x38);
  image.writeUInt32LE(2, 0x30);
  const elf = Buffer.alloc(64);
  elf.writeUInt32BE(0x7f454c46, 0);
  elf[4] = 2;
  elf.writeUInt16LE(183, 18);
  const img = join(tmp, 'Image');
  const bb = join(tmp, 'busybox');
  writeFileSync(img, image);
  writeFileSync(bb, elf);
  const run = (args: string[]): { code: number | null; stderr: string; out: string } => {
    const out = join(tmp, `out-${Math.random().toString(36).slice(2)}`);
    const r = runCliFromSource(['capture', ...args, '--out', out]);
    // Progress lines may come first; the error is the last line.
    return { code: r.code, stderr: r.stderr.trim().split('\n').pop()!, out };
  };
  it('not an arm64 Image', () => {
    const r = run(['--kernel', 'README.md', '--busybox', bb]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^error: --kernel README\.md: not an arm64 Image/);
    expect(existsSync(r.out)).toBe(false);
  });
  it('no busybox, a dynamic or non-arm64 busybox', () => {
    expect(run(['--kernel', img]).stderr).toMatch(/--busybox is required/);
    const r = run(['--kernel', img, '--busybox', img]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--busybox .*: not an arm64 \(AArch64 ELF64\) executable/);
  });
  it('no QEMU', () => {
    const r = run(['--kernel', img, '--busybox', bb, '--qemu', join(tmp, 'no-such-qemu')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^error: --qemu .*no-such-qemu: no such file$/);
    expect(existsSync(r.out)).toBe(false);
  });
  it('a missing kernel, both --strict and --lazy', () => {
    expect(run(['--busybox', bb]).stderr).toMatch(/--kernel is required/);
    expect(run(['--kernel', img, '--busybox', bb, '--strict', '--lazy']).code).toBe(2);
  });
});
