/**
 * Golden report text and JSON for a small crafted stream, and the CLI's exit codes and output contract.
 * Regenerate the golden files with UPDATE_GOLDEN=1 (then review the diff by hand).
 */
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { hex64 } from '../src/bits.js';
import { auditStream, formatReport, reportToJson } from '../src/audit/index.js';
import { buildProgram } from '../src/cli/main.js';
import { atc, halvesOf, ipa, nhAll, nhAsid, streamOf, sync, va } from './audit-helpers.js';

const GOLDEN = new URL('./golden/', import.meta.url);

/** A small stream with one instance of most findings, and one clean request. */
const ITEMS = [
  va(1, 0x10000000), // clean request
  sync(),
  va(1, 0x201000, { scale: 9, ttl: 2 }), // misaligned for TTL=2
  va(1, 0x201000, { scale: 9, ttl: 2 }), // duplicate
  atc(16, 0x200000, 9), // ATC before SYNC
  sync(),
  ipa(5, 0x40000000), // nested VMID 5 (NH_ALL appears below) …
  nhAll(5), // … cleared in the same batch
  va(2, 0x3000),
  nhAsid(2), // covers the NH_VA above
  sync(),
  va(3, 0x5000), // no final SYNC
];

function golden(name: string, actual: string): void {
  const url = new URL(name, GOLDEN);
  if (process.env.UPDATE_GOLDEN || !existsSync(url)) writeFileSync(url, actual);
  expect(actual).toBe(readFileSync(url, 'utf8'));
}

describe('golden report', () => {
  const rep = auditStream(streamOf(...ITEMS), { maxBatch: 3 });
  it('has the expected findings (worked out by hand)', () => {
    expect(rep.findings.map((f) => `${f.rule}@${f.index}`)).toEqual([
      'misaligned-range@2',
      'misaligned-range@3',
      'duplicate-span@3',
      'atc-before-sync@4',
      'nested-s1-not-cleared@6',
      'nested-nh-all-same-batch@7',
      'covered-by-whole-tag@8',
      'long-batch@9',
      'missing-final-sync@11',
    ]);
  });
  it('prints the golden text', () => {
    golden('audit-small.txt', formatReport(rep));
  });
  it('prints the golden JSON', () => {
    golden('audit-small.json', JSON.stringify(reportToJson(rep), null, 2) + '\n');
  });
});

describe('the audit command', () => {
  let stdout = '';
  let stderr = '';
  afterEach(() => {
    vi.restoreAllMocks();
    process.exitCode = undefined;
  });
  async function cli(...args: string[]): Promise<number> {
    stdout = '';
    stderr = '';
    vi.spyOn(process.stdout, 'write').mockImplementation((s) => ((stdout += String(s)), true));
    vi.spyOn(process.stderr, 'write').mockImplementation((s) => ((stderr += String(s)), true));
    process.exitCode = undefined;
    await (await buildProgram()).parseAsync(['audit', ...args], { from: 'user' });
    vi.restoreAllMocks();
    return Number(process.exitCode ?? 0);
  }
  const words = (items: Parameters<typeof halvesOf>[0]): string[] => {
    const u = halvesOf(items);
    const out: string[] = [];
    for (let k = 0; k < u.length; k += 2) out.push(hex64(u[k]!, u[k + 1]!));
    return out;
  };
  it('exits 0 on a clean stream and 1 with findings', async () => {
    expect(await cli(...words([va(1, 0x1000), sync()]))).toBe(0);
    expect(await cli(...words([va(1, 0x1000)]))).toBe(1);
    expect(stdout).toMatch(/missing-final-sync/);
  });
  it('prints exactly one JSON document with schemaVersion', async () => {
    expect(await cli('--json', ...words([va(1, 0x1000), sync()]))).toBe(0);
    const doc = JSON.parse(stdout) as { schemaVersion: number; findings: unknown[]; replan: { identical: number } };
    expect(doc.schemaVersion).toBe(1);
    expect(doc.findings).toEqual([]);
    expect(doc.replan.identical).toBe(1);
  });
  it('exits 2 naming the byte offset of an unusable dump', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'audit-'));
    const f = join(dir, 'q.bin');
    writeFileSync(f, new Uint8Array(40));
    expect(await cli('--file', f)).toBe(2);
    expect(stderr).toMatch(/byte offset 32/);
  });
  it('reads the repository sample with its registers file', async () => {
    const s = 'samples/linux-6.1-qemu-7.2-strict/';
    const base = new URL('../' + s, import.meta.url).pathname;
    expect(await cli('--file', base + 'cmdq.bin.gz', '--regs', base + 'cmdq.json', '--no-replan')).toBe(0);
    expect(stdout).toMatch(/17797 entries/);
  });
});
