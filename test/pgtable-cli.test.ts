/**
 * `smmuv3-tlbi pgtable`: script parsing (errors name the op index and field), the report, and the command
 * end to end (exit codes, one JSON document on stdout). The end-to-end runs load the TypeScript sources
 * through tsx, so they test the current tree without a build.
 */
import { describe, expect, it } from 'vitest';
import { runCliFromSource } from './cli-source-run.js';
import { formatPgtableReport, parsePgtableScript, parseProt, runPgtableScript } from '../src/cli/pgtable.js';
import { InputError } from '../src/parse.js';

const cli = (args: string[], input: string) => runCliFromSource(args, input);

function fieldOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(InputError);
    return (e as InputError).field;
  }
  throw new Error('expected an InputError');
}

const Script = {
  stage: 1,
  granule: '4K',
  ias: 39,
  ops: [
    { op: 'map', iova: '0x40000000', pa: '0x80000000', size: '0x201000', prot: 'rw' },
    { op: 'walk', iova: '0x40200000' },
    { op: 'unmap', iova: '0x40000000', size: '4M' },
    { op: 'walk', iova: '0x40000000' },
  ],
};

describe('script parsing', () => {
  it('accepts hex, decimal and size suffixes, and prot strings or objects', () => {
    const s = parsePgtableScript(Script);
    expect(s).toMatchObject({ stage: 1, granule: 4096, ias: 39, oas: 48 });
    expect(s.ops[0]).toEqual({
      op: 'map',
      iova: 0x4000_0000,
      pa: 0x8000_0000,
      size: 0x20_1000,
      prot: { read: true, write: true, exec: false },
    });
    expect(s.ops[2]).toEqual({ op: 'unmap', iova: 0x4000_0000, size: 4 * 2 ** 20 });
    expect(parseProt('r-x', 'p')).toEqual({ read: true, write: false, exec: true });
    expect(parseProt({ read: true, priv: 'yes', memType: 'device' }, 'p')).toEqual({
      read: true,
      write: false,
      exec: false,
      priv: true,
      memType: 'device',
    });
  });

  it('names the op index and field of a malformed script', () => {
    const bad =
      (ops: unknown[], top: Record<string, unknown> = {}) =>
      () =>
        parsePgtableScript({ ...top, ops });
    expect(fieldOf(bad([{ op: 'map', iova: 0, pa: 0, size: 4096 }, { op: 'zap' }]))).toBe('ops[1].op');
    expect(fieldOf(bad([{ op: 'map', iova: 0, pa: 0 }]))).toBe('ops[0].size');
    expect(fieldOf(bad([{ op: 'unmap', iova: 'banana', size: 1 }]))).toBe('ops[0].iova');
    expect(fieldOf(bad([{ op: 'walk', iova: 0, size: 1 }]))).toBe('ops[0].size');
    expect(fieldOf(bad([{ op: 'map', iova: 0, pa: 0, size: 4096, prot: 'rwq' }]))).toBe('ops[0].prot');
    expect(fieldOf(bad([{ op: 'map', iova: 0, pa: 0, size: 4096, prot: { read: 'maybe' } }]))).toBe('ops[0].prot.read');
    expect(fieldOf(bad([{ op: 'map', iova: 0, pa: 0, size: 4096, prot: { memType: 'wc' } }]))).toBe(
      'ops[0].prot.memType',
    );
    expect(fieldOf(bad([7]))).toBe('ops[0]');
    expect(fieldOf(bad([], { granularity: 4096 }))).toBe('granularity');
    expect(fieldOf(() => parsePgtableScript({ ops: 'none' }))).toBe('ops');
    expect(fieldOf(() => parsePgtableScript([]))).toBe('script');
  });

  it('names the op index and field when the page table refuses an operation', () => {
    const run =
      (ops: unknown[], top: Record<string, unknown> = {}) =>
      () =>
        runPgtableScript(parsePgtableScript({ stage: 1, granule: 4096, ias: 39, ...top, ops }));
    const map2M = { op: 'map', iova: '2M', pa: '2M', size: '2M' };
    expect(fieldOf(run([map2M, { op: 'map', iova: '0x201000', pa: 0, size: '4K' }]))).toBe('ops[1].iova');
    expect(fieldOf(run([map2M, { op: 'unmap', iova: '2M', size: '4K' }]))).toBe('ops[1].size');
    expect(fieldOf(run([map2M, { op: 'unmap', iova: '0x201000', size: '4K' }]))).toBe('ops[1].iova');
    expect(fieldOf(run([{ op: 'map', iova: 0, pa: '0x800', size: '4K' }]))).toBe('ops[0].pa');
    expect(fieldOf(run([{ op: 'unmap', iova: 0, size: 0 }]))).toBe('ops[0].size');
    expect(fieldOf(run([{ op: 'walk', iova: '1T' }]))).toBe('ops[0].iova');
    expect(fieldOf(run([{ op: 'map', iova: 0, pa: 0, size: '4K', prot: '-w' }]))).toBe('ops[0].prot.read');
    expect(fieldOf(run([], { granule: 8192 }))).toBe('granule');
    expect(fieldOf(run([], { ias: 60 }))).toBe('ias');
  });
});

describe('report', () => {
  it('lists the unmap description, freed tables, Linux requests and walks', () => {
    const report = runPgtableScript(parsePgtableScript(Script));
    const ops = report.ops as Record<string, unknown>[];
    expect(ops[0]).toMatchObject({ op: 'map', leaves: [0, 0, 1, 1], tablesAllocated: 2 });
    expect(ops[1]).toMatchObject({ op: 'walk', pa: '0x80200000', leaf: { level: 3, kind: 'page', prot: 'rw-' } });
    expect((ops[1]!.steps as unknown[]).length).toBe(3); // ias 39: levels 1, 2, 3
    expect(ops[2]).toMatchObject({
      op: 'unmap',
      unmapped: '0x201000',
      holeAt: '0x40201000',
      tlbi: { start: '0x40000000', last: '0x40200fff', leafLevels: [2, 3], tableLevels: [1, 2], granule: 4096 },
    });
    expect(ops[2]!.linuxRequests).toEqual([
      { iova: '0x40200000', size: '0x200000', granule: '0x1000', leaf: false },
      { iova: '0x40000000', size: '0x40000000', granule: '0x1000', leaf: false },
      { iova: '0x40200000', size: '0x1000', granule: '0x1000', leaf: true },
      { iova: '0x40000000', size: '0x200000', granule: '0x200000', leaf: true },
    ]);
    expect(ops[3]).toMatchObject({ op: 'walk', pa: null, leaf: null });
    expect(report.liveTables).toBe(1);
    const text = formatPgtableReport(report).join('\n');
    expect(text).toContain('ops[2] unmap iova 0x40000000 size 4M: unmapped 2052K, stopped at the hole at 0x40201000');
    expect(text).toContain('tlbi [0x40000000, 0x40200fff] leaf levels [2,3] table levels [1,2] granule 4K');
    expect(text).toContain('→ not mapped');
  });
});

describe('the command', () => {
  it('prints one JSON document with schemaVersion 1 and exits 0', () => {
    const r = cli(['pgtable', '--json'], JSON.stringify(Script));
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.stdout) as Record<string, unknown>;
    expect(doc.schemaVersion).toBe(1);
    expect((doc.ops as unknown[]).length).toBe(4);
    expect(doc.config).toMatchObject({ stage: 1, granule: 4096, ias: 39, startLevel: 1 });
  });

  it('exits 2 naming the op index and field, with nothing on stdout', () => {
    const bad = { ...Script, ops: [...Script.ops, { op: 'unmap', iova: '0x40000000', size: '0x1800' }] };
    const r = cli(['pgtable', '--json'], JSON.stringify(bad));
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^error: stdin: ops\[4\]\.size: 0x1800 is not a multiple of the 4K granule\n$/);
    const notJson = cli(['pgtable'], '{"ops": [');
    expect(notJson.code).toBe(2);
    expect(notJson.stderr).toContain('invalid JSON');
  });
});
