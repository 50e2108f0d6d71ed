/**
 * A read error late in a stream (issue 17/18: a truncated gzip, an over-long line after megabytes of good
 * input) used to leave a cut-off document on stdout: `audit --json`, `audit --ndjson` and `decode --json`
 * stream their output, so part of it was out when the error came. Now stdout always holds one whole
 * document: the records written so far and an `error` member ({exitCode, message}) in place of the summary,
 * or for --ndjson a last `{"type":"error",…}` line; the message is the one stderr prints, the exit is 2.
 * Each case has a clean twin (the same stream without the bad end) whose document is the ordinary one.
 */
import { spawnSync } from 'node:child_process';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { validate as auditNdjsonOutput } from '../src/schema/generated/audit-ndjson-output.js';
import { validate as auditOutput } from '../src/schema/generated/audit-output.js';
import { validate as decodeOutput } from '../src/schema/generated/decode-output.js';
import type { Validator } from '../src/schema/validate.js';
import { encodeHalves, makeCommand } from '../src/cmdq/index.js';
import { sourceCliArgs } from './cli-source-run.js';

/** Entries: 400 pairs (a reserved opcode 0xff, then a CMD_SYNC: one finding each), then CMD_SYNCs to 2^17. */
const ENTRIES = 1 << 17;
function stream(): Uint32Array {
  const u = new Uint32Array(ENTRIES * 4);
  const sync = encodeHalves(makeCommand('CMD_SYNC', { cs: 2, msh: 3, msiattr: 15 }));
  for (let k = 0; k < ENTRIES; k++) u.set(k < 800 && k % 2 === 0 ? [0xff, 0, 0, 0] : sync, k * 4);
  return u;
}
const STREAM = stream();
const BINARY = new Uint8Array(STREAM.buffer);
const GZ = gzipSync(BINARY);
/** The gzip stream cut 20 bytes before its end (the deflate end and the trailer are lost). */
const GZ_TRUNCATED = GZ.subarray(0, GZ.length - 20);
const hex = (n: number): string => '0x' + n.toString(16).padStart(8, '0');
/** The same entries as hex text: two 64-bit words per line (high half first). */
const TEXT = Array.from({ length: ENTRIES }, (_, k) => {
  const u = STREAM;
  return `${hex(u[k * 4 + 1]!)}${hex(u[k * 4]!).slice(2)} ${hex(u[k * 4 + 3]!)}${hex(u[k * 4 + 2]!).slice(2)}`;
}).join('\n');
const TEXT_BAD_END = TEXT + '\n' + 'x'.repeat(70_000) + '\n';

function run(args: string[], input: Uint8Array | string) {
  const r = spawnSync(process.execPath, sourceCliArgs(args), {
    input,
    encoding: 'utf8',
    env: { ...process.env, NO_COLOR: '1', SMMUV3_TLBI_DEBUG: '' },
    maxBuffer: 256 * 2 ** 20,
    timeout: 120_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function valid(v: Validator, doc: unknown, what: string): void {
  expect(v(doc), `${what}: ${JSON.stringify(v.errors?.[0] ?? null)}`).toBe(true);
}

/** One line on stderr, `error: MESSAGE`; the message. */
function stderrMessage(stderr: string): string {
  const lines = stderr.trim().split('\n');
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(/^error: /);
  return lines[0]!.slice('error: '.length);
}

describe('audit --json: a truncated gzip on stdin after findings were written', () => {
  it('ends the document with the error (exit 2); the whole stream is the ordinary document (exit 1)', () => {
    const args = ['audit', '--json', '--nested-vmids', 'none', '--file', '-'];
    const cut = run(args, GZ_TRUNCATED);
    expect(cut.code).toBe(2);
    const message = stderrMessage(cut.stderr);
    expect(message).toMatch(/gzip data could not be decompressed/);
    const doc = JSON.parse(cut.stdout) as { records: unknown[]; error: { exitCode: number; message: string } };
    valid(auditOutput, doc, 'cut document');
    expect(doc.error).toEqual({ exitCode: 2, message });
    expect(doc.records.length).toBeGreaterThan(100);
    // Clean twin: the whole gzip stream.
    const whole = run(args, GZ);
    expect(whole.code).toBe(1);
    const wdoc = JSON.parse(whole.stdout) as Record<string, unknown> & { records: unknown[] };
    valid(auditOutput, wdoc, 'whole document');
    expect(wdoc.error).toBeUndefined();
    expect(wdoc.records.length).toBe(400);
    expect(doc.records).toEqual(wdoc.records.slice(0, doc.records.length));
  });
});

describe('audit --ndjson and decode --json: an over-long line after 2^17 good lines of hex text', () => {
  it('--ndjson ends with an error line (exit 2); the clean twin ends with the summary', () => {
    const args = ['audit', '--ndjson', '--nested-vmids', 'none', '-'];
    const cut = run(args, TEXT_BAD_END);
    expect(cut.code).toBe(2);
    const message = stderrMessage(cut.stderr);
    expect(message).toMatch(new RegExp(`line ${ENTRIES + 1}: longer than 65536 characters`));
    const lines = cut.stdout
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    for (const l of lines) valid(auditNdjsonOutput, l, 'ndjson line');
    expect(lines.length).toBeGreaterThan(100);
    expect(lines.at(-1)).toEqual({ type: 'error', schemaVersion: 2, exitCode: 2, message });
    expect(lines.slice(0, -1).every((l) => l.type === 'finding')).toBe(true);
    const clean = run(args, TEXT);
    expect(clean.code).toBe(1);
    const clines = clean.stdout
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(clines.at(-1)!.type).toBe('summary');
    expect(clines.filter((l) => l.type === 'error')).toEqual([]);
  });

  it('decode --json ends the document with the error (exit 2); the clean twin is the ordinary document', () => {
    const cut = run(['decode', '--json', '-'], TEXT_BAD_END);
    expect(cut.code).toBe(2);
    const message = stderrMessage(cut.stderr);
    const doc = JSON.parse(cut.stdout) as { entries: unknown[]; error: unknown };
    valid(decodeOutput, doc, 'cut decode document');
    expect(doc.error).toEqual({ exitCode: 2, message });
    expect(doc.entries.length).toBeGreaterThan(1000);
    const clean = run(['decode', '--json', '-'], TEXT);
    expect(clean.code).toBe(1);
    const cdoc = JSON.parse(clean.stdout) as Record<string, unknown> & { entries: unknown[] };
    valid(decodeOutput, cdoc, 'whole decode document');
    expect(cdoc.error).toBeUndefined();
    expect(cdoc.entries).toHaveLength(ENTRIES);
  });

  it('an error before anything reached stdout still leaves stdout empty (one line on stderr, exit 2)', () => {
    const r = run(['audit', '--json', '-'], 'x'.repeat(70_000) + '\n');
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    stderrMessage(r.stderr);
  });
});
