/**
 * `audit --regs` (inline JSON or a path; a path that is not there is a usage error naming --regs),
 * `audit --sample` (the real Linux 6.1 ring with its registers), and `--version` from the sources and from
 * dist/. Expectations come from the sample's own registers and samples/README.md's facts, and from
 * package.json read here, never from the CLI under test.
 */
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { cli, ensureBuilt } from './cli-codec-helpers.js';
import { runCliFromSource } from './cli-source-run.js';

const DIR = 'samples/linux-6.1-qemu-7.2-strict/';
const regsText = readFileSync(new URL(`../${DIR}cmdq.json`, import.meta.url), 'utf8');
const regs = JSON.parse(regsText) as Record<string, string | number>;
const version = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string })
  .version;

/** samples/README.md: 17,797 entries, all consumed, by opcode. */
const SAMPLE_COUNTS = {
  TLBI_NH_VA: 9155,
  CMD_SYNC: 8636,
  CFGI_STE: 2,
  CFGI_STE_RANGE: 1,
  PREFETCH_CONFIG: 1,
  TLBI_NH_ASID: 1,
  TLBI_NSNH_ALL: 1,
};

interface AuditDoc {
  input: { entries: number; ring: { prod: string; cons: string; log2size: number } };
  counts: { byCommand: Record<string, number>; findings: number };
}

function auditJson(args: string[]): AuditDoc {
  const r = cli(['audit', ...args, '--json', '--no-replan']);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  return JSON.parse(r.stdout) as AuditDoc;
}

beforeAll(() => ensureBuilt());

describe('audit --regs', () => {
  const fromFile = (): AuditDoc => auditJson(['--file', `${DIR}cmdq.bin.gz`, '--regs', `${DIR}cmdq.json`]);

  it('takes inline JSON (text starting with "{") and reads the ring as the file of the same registers does', () => {
    const inline = JSON.stringify({ CMDQ_PROD: regs.CMDQ_PROD, CMDQ_CONS: regs.CMDQ_CONS, log2size: regs.log2size });
    const a = auditJson(['--file', `${DIR}cmdq.bin.gz`, '--regs', inline]);
    expect(a.input.entries).toBe(Number(regs.CMDQ_PROD));
    expect(a.input.ring.log2size).toBe(regs.log2size);
    expect(a.counts.byCommand).toEqual(SAMPLE_COUNTS);
    expect(a).toEqual(fromFile());
  });

  it('takes inline JSON with leading white space and the whole cmdq.json text', () => {
    const a = auditJson(['--file', `${DIR}cmdq.bin.gz`, '--regs', `  ${regsText}`]);
    expect(a).toEqual(fromFile());
  });

  it('a path that does not exist: exit 2, one line naming --regs and the path', () => {
    const r = cli(['audit', '--file', `${DIR}cmdq.bin.gz`, '--regs', 'no-such-regs.json']);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^error: --regs: no such file: no-such-regs\.json/);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
  });

  it('a folder given as the path: exit 2 naming --regs', () => {
    const r = cli(['audit', '--file', `${DIR}cmdq.bin.gz`, '--regs', DIR]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^error: --regs: cannot read/);
  });

  it('malformed inline JSON: exit 2, the message names --regs and says invalid JSON', () => {
    const r = cli(['audit', '--file', `${DIR}cmdq.bin.gz`, '--regs', '{"CMDQ_PROD": 1,']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^error: --regs: invalid JSON/);
    expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
  });

  it('inline JSON that is not an object: exit 2', () => {
    const r = cli(['audit', '--file', `${DIR}cmdq.bin.gz`, '--regs', '[1, 2]']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--regs/);
  });
});

describe('audit --sample', () => {
  it('audits the real 6.1 ring with its registers: the README counts, no findings, same as --file + --regs', () => {
    const a = auditJson(['--sample']);
    expect(a.input.entries).toBe(17797);
    expect(a.input.ring.prod).toBe(regs.CMDQ_PROD);
    expect(a.counts.byCommand).toEqual(SAMPLE_COUNTS);
    expect(a.counts.findings).toBe(0);
    expect(a).toEqual(auditJson(['--file', `${DIR}cmdq.bin.gz`, '--regs', `${DIR}cmdq.json`]));
  });

  it('refuses a second input or --regs beside it (exit 2)', () => {
    for (const extra of [
      ['--file', `${DIR}cmdq.bin.gz`],
      ['--regs', '{}'],
      ['0x30', '0x0'],
    ]) {
      const r = cli(['audit', '--sample', ...extra]);
      expect(r.code, extra.join(' ')).toBe(2);
      expect(r.stderr).toMatch(/^error: /);
    }
  });

  it('runs from the sources too (text report, exit 0)', () => {
    const r = runCliFromSource(['audit', '--sample', '--no-replan']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/17797|17,797/);
  });
});

describe('--version', () => {
  it('prints package.json’s version from dist/ and from the sources', () => {
    expect(version).toMatch(/^\d+\.\d+\.\d+/);
    expect(cli(['--version'])).toMatchObject({ code: 0, stdout: `${version}\n` });
    expect(runCliFromSource(['--version'])).toMatchObject({ code: 0, stdout: `${version}\n` });
  });
});
