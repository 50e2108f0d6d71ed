/**
 * Golden report text and JSON for a small crafted stream, and the CLI's exit codes and output contract.
 * Regenerate the golden files with UPDATE_GOLDEN=1 (then review the diff by hand).
 *
 * audit-small.v1.json is the library's in-memory layout (reportToJson), which was also the --json document of
 * schemaVersion 1; audit-small.json is the streamed --json document of schemaVersion 2 (records as found, the
 * summary after them). The two are compared semantically: version 2 turned back into version 1's layout
 * (auditJsonV1) equals the version 1 file.
 */
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { hex64 } from '../src/bits.js';
import { AuditJsonWriter, auditJsonV1, auditStream, formatReport, reportToJson } from '../src/audit/index.js';
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
  it('prints the golden JSON (version 1 layout, in memory)', () => {
    golden('audit-small.v1.json', JSON.stringify(reportToJson(rep), null, 2) + '\n');
  });
  it('streams the golden JSON document (schemaVersion 2), which holds what version 1 held', () => {
    let text = '';
    const w = new AuditJsonWriter((s) => (text += s));
    const streamed = auditStream(streamOf(...ITEMS), {
      maxBatch: 3,
      keepFindings: 0,
      keepRows: 0,
      onFinding: (f) => w.finding(f),
      onRow: (r) => w.row(r),
    });
    w.end(streamed);
    golden('audit-small.json', text);
    const v2 = JSON.parse(text) as Record<string, unknown>;
    const v1 = JSON.parse(readFileSync(new URL('audit-small.v1.json', GOLDEN), 'utf8')) as Record<string, unknown>;
    expect(v2.schemaVersion).toBe(2);
    expect(auditJsonV1(v2)).toEqual({ schemaVersion: 1, ...v1 });
    // The records: every finding and row once, findings before the rows of their window.
    const records = v2.records as { type: string }[];
    expect(records.filter((r) => r.type === 'finding')).toHaveLength(9);
    expect(records.filter((r) => r.type === 'replan')).toHaveLength((v1.replan as { rows: unknown[] }).rows.length);
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
    const doc = JSON.parse(stdout) as {
      schemaVersion: number;
      records: { type: string }[];
      replan: { identical: number };
    };
    expect(doc.schemaVersion).toBe(2);
    expect(doc.records.map((r) => r.type)).toEqual(['replan']);
    expect(doc.replan.identical).toBe(1);
  });
  it('--json of the golden stream is the golden document, byte for byte (with the format note)', async () => {
    expect(await cli('--json', '--max-batch', '3', ...words(ITEMS))).toBe(1);
    // The CLI's one addition: the note naming the text format it detected.
    const note = '"notes": [\n      "input format: hex64 (64-bit hex words, two per entry (w0 w1))"\n    ],';
    expect(stdout).toBe(readFileSync(new URL('audit-small.json', GOLDEN), 'utf8').replace('"notes": [],', note));
  });
  it('--ndjson: one line per finding (the golden findings), then the summary line', async () => {
    expect(await cli('--ndjson', '--max-batch', '3', ...words(ITEMS))).toBe(1);
    const lines = stdout
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    const v1 = JSON.parse(readFileSync(new URL('audit-small.v1.json', GOLDEN), 'utf8')) as {
      findings: Record<string, unknown>[];
      counts: unknown;
    };
    const findings = lines.slice(0, -1);
    expect(findings.every((f) => f.type === 'finding')).toBe(true);
    expect(findings.map(({ type: _t, ...f }) => f).sort((a, b) => (a.index as number) - (b.index as number))).toEqual(
      [...v1.findings].sort((a, b) => (a.index as number) - (b.index as number)),
    );
    expect(lines.at(-1)).toMatchObject({ type: 'summary', schemaVersion: 2, counts: v1.counts });
  });
  it('--ndjson of a clean stream is the summary line alone (exit 0)', async () => {
    expect(await cli('--ndjson', ...words([va(1, 0x1000), sync()]))).toBe(0);
    expect(stdout.trimEnd().split('\n')).toHaveLength(1);
    expect(JSON.parse(stdout)).toMatchObject({ type: 'summary', counts: { findings: 0 } });
  });
  it('--json and --ndjson together are a usage error', async () => {
    expect(await cli('--json', '--ndjson', ...words([va(1, 0x1000), sync()]))).toBe(2);
    expect(stderr).toMatch(/--ndjson/);
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
