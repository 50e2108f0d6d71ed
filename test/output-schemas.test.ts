/**
 * Every `--json` document checked against its published schema (schemas/*-output.schema.json), through the
 * validators ajv compiled from them (src/schema/generated/, the same set-up `npm run schemas` builds for the
 * input schemas): decode, plan, pgtable, serve, simulate (the workload and every scenario carry one shape) and
 * simulate --list-faults.
 * Each schema also refuses a damaged twin of a real document (a field missing, one added), so that it is
 * not a schema that accepts anything. Also: audit --json (schemaVersion 2, streamed) and every --ndjson line,
 * audit --capture --json, the capture manifest (capture --json prints it; the samples' manifest.json files
 * are what capture wrote: a capture itself needs QEMU), campaign --json, campaign merge --json, campaign
 * --list --json, simulate --replay --json and the replay file campaign writes.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { validate as auditNdjsonOutput } from '../src/schema/generated/audit-ndjson-output.js';
import { validate as auditOutput } from '../src/schema/generated/audit-output.js';
import { validate as campaignMatrixOutput } from '../src/schema/generated/campaign-matrix-output.js';
import { validate as campaignOutput } from '../src/schema/generated/campaign-output.js';
import { validate as captureAuditOutput } from '../src/schema/generated/capture-audit-output.js';
import { validate as captureManifest } from '../src/schema/generated/capture-manifest.js';
import { validate as decodeOutput } from '../src/schema/generated/decode-output.js';
import { validate as faultListOutput } from '../src/schema/generated/fault-list-output.js';
import { validate as pgtableOutput } from '../src/schema/generated/pgtable-output.js';
import { validate as planOutput } from '../src/schema/generated/plan-output.js';
import { validate as replayFile } from '../src/schema/generated/replay.js';
import { validate as replayOutput } from '../src/schema/generated/replay-output.js';
import { validate as serveOutput } from '../src/schema/generated/serve-output.js';
import { validate as simulateOutput } from '../src/schema/generated/simulate-output.js';
import type { Validator } from '../src/schema/validate.js';
import { runCliFromSource } from './cli-source-run.js';

const MAIN = new URL('../src/cli/main.ts', import.meta.url).pathname;
/** A small ring: the first five entries of the real Linux 6.1 ring, then three never-written (zero) slots. */
const TMP = mkdtempSync(join(tmpdir(), 'smmuv3-schemas-'));
const RING_PART = join(TMP, 'ring.bin');
{
  const ring = gunzipSync(readFileSync(new URL('../samples/linux-6.1-qemu-7.2-strict/cmdq.bin.gz', import.meta.url)));
  const part = new Uint8Array(8 * 16);
  part.set(ring.subarray(0, 5 * 16));
  writeFileSync(RING_PART, part);
}

function stdoutOf(args: string[], codes: number[] = [0]): string {
  const r = runCliFromSource(args);
  expect(codes, `${args.join(' ')}: exit ${String(r.code)}\n${r.stderr}`).toContain(r.code);
  return r.stdout;
}

function json(args: string[], codes: number[] = [0]): Record<string, unknown> {
  return JSON.parse(stdoutOf(args, codes)) as Record<string, unknown>;
}

function valid(v: Validator, doc: unknown, what: string): void {
  const ok = v(doc);
  expect(ok, `${what}: ${JSON.stringify(v.errors?.[0] ?? null)}`).toBe(true);
}

/** A real document with one top-level field removed, and with one field added: both refused. */
function refusesTwins(v: Validator, doc: Record<string, unknown>, drop: string): void {
  const { [drop]: _dropped, ...missing } = doc;
  expect(v(missing), `without ${drop}`).toBe(false);
  expect(v({ ...doc, unexpected: 1 }), 'with an unknown field').toBe(false);
}

describe('each --json document matches its schema', () => {
  it('decode: words, the sample, an illegal entry, a whole ring with empty runs, a window from registers', () => {
    const docs = [
      json(['decode', '--sample', '--json']),
      json(['decode', '--json', '0x0001000000000012', '0x00000000ffff6401'], [1]),
      json(['decode', '--json', '--file', RING_PART]),
      json(['decode', '--json', '--file', RING_PART, '--cons', '1', '--prod', '7'], [1]),
      json(['decode', '--json', '--file', 'samples/pasted/gdb-x8wx.txt']),
    ];
    docs.forEach((d, k) => valid(decodeOutput, d, `decode document ${k}`));
    refusesTwins(decodeOutput, docs[0]!, 'summary');
  });

  it('plan: the linux and tlbi policies, targets by flags and by JSON', () => {
    const docs = [
      json(['plan', '--asid', '5', '--iova', '0x10000000', '--size', '0x21000', '--sid', '16', '--json']),
      json([
        'plan',
        '--start',
        '0x200000',
        '--last',
        '0x3fffff',
        '--leaf-levels',
        '3',
        '--table-levels',
        '2',
        '--json',
      ]),
      json([
        'plan',
        '--asid',
        '2',
        '--vmid',
        '7',
        '--iova',
        '0x40000000',
        '--size',
        '2M',
        '--leaf-size',
        '2M',
        '--json',
      ]),
      json(['plan', '--vmid', '3', '--iova', '0', '--size', '0', '--ds', '--json']),
    ];
    docs.forEach((d, k) => valid(planOutput, d, `plan document ${k}`));
    refusesTwins(planOutput, docs[0]!, 'stats');
  });

  it('pgtable: a script with maps, a walk and unmaps', () => {
    const doc = json(['pgtable', '--input', 'examples/pgtable-script.json', '--json']);
    valid(pgtableOutput, doc, 'pgtable');
    refusesTwins(pgtableOutput, doc, 'ops');
  });

  it('simulate: the workload (clean and with a fault) and every scenario share one schema', () => {
    const docs = [
      json(['simulate', '--ops', '60', '--seed', '1', '--json']),
      json(['simulate', '--ops', '100', '--seed', '4', '--fault', 'no-atc', '--json'], [1]),
      ...['driver', 'nested', 'pkvm'].map((s) =>
        json(['simulate', '--scenario', s, '--ops', '30', '--seed', '1', '--json']),
      ),
    ];
    docs.forEach((d, k) => valid(simulateOutput, d, `simulate document ${k}`));
    refusesTwins(simulateOutput, docs[0]!, 'stale');
    // The kind decides which of workload/scenario is filled: a workload document claiming to be a scenario is refused.
    expect(simulateOutput({ ...docs[0]!, kind: 'scenario' })).toBe(false);
  });

  it('simulate --list-faults: every fault with its configuration', () => {
    const doc = json(['simulate', '--list-faults', '--json']);
    valid(faultListOutput, doc, 'fault list');
    refusesTwins(faultListOutput, doc, 'faults');
  });

  it('serve: the document printed once it listens', async () => {
    const child = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        '-e',
        `import(${JSON.stringify(MAIN)}).then((m) => m.main(['node', 'smmuv3-tlbi', 'serve', '--port', '0', '--json']))`,
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    const doc = await new Promise<Record<string, unknown>>((ok, fail) => {
      child.stdout.on('data', (c: Buffer) => {
        out += c.toString('utf8');
        if (out.endsWith('}\n')) ok(JSON.parse(out) as Record<string, unknown>);
      });
      child.on('exit', (c) => fail(new Error(`serve exited with ${String(c)} before its document`)));
    });
    const code = new Promise<number | null>((ok) => child.on('exit', (c) => ok(c)));
    child.kill('SIGINT');
    expect(await code).toBe(0);
    valid(serveOutput, doc, 'serve');
    refusesTwins(serveOutput, doc, 'url');
  });

  it('audit --json (schemaVersion 2): a ring with registers, a QEMU trace, hex words with findings', () => {
    const s61 = 'samples/linux-6.1-qemu-7.2-strict';
    const docs = [
      json(['audit', '--json', '--file', `${s61}/cmdq.bin.gz`, '--regs', `${s61}/cmdq.json`]),
      json(['audit', '--json', '--qemu-trace', `${s61}/qemu-trace.log.gz`]),
      json(['audit', '--json', '0x0001000000000012', '0x00000000ffff6401'], [1]),
    ];
    docs.forEach((d, k) => valid(auditOutput, d, `audit document ${k}`));
    const kinds = (d: Record<string, unknown>): string[] => [
      ...new Set((d.records as { type: string }[]).map((r) => r.type)),
    ];
    // Between them the documents hold both kinds of record, a ring and a trace.
    expect(kinds(docs[0]!)).toContain('replan');
    expect(kinds(docs[2]!)).toContain('finding');
    expect((docs[0]!.input as Record<string, unknown>).ring).not.toBeNull();
    expect((docs[1]!.input as Record<string, unknown>).trace).not.toBeNull();
    refusesTwins(auditOutput, docs[2]!, 'counts');
    // A record of an unknown type, or a finding without its rule, is refused.
    const records = docs[2]!.records as Record<string, unknown>[];
    expect(auditOutput({ ...docs[2]!, records: [{ ...records[0]!, type: 'other' }] })).toBe(false);
    const { rule: _r, ...noRule } = records[0]!;
    expect(auditOutput({ ...docs[2]!, records: [noRule] })).toBe(false);
  });

  it('audit --ndjson: every line, findings then the summary', () => {
    const lines = stdoutOf(['audit', '--ndjson', '0x0001000000000012', '0x00000000ffff6401'], [1])
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.length).toBeGreaterThan(1);
    lines.forEach((l, k) => valid(auditNdjsonOutput, l, `ndjson line ${k}`));
    expect(lines.at(-1)!.type).toBe('summary');
    refusesTwins(auditNdjsonOutput, lines.at(-1)!, 'histograms');
  });

  it('audit --capture --json, and the capture manifest (what capture --json prints and audit --capture reads)', () => {
    const doc = json(['audit', '--capture', 'samples/linux-7.3-qemu-7.2-capture-strict', '--json']);
    valid(captureAuditOutput, doc, 'audit --capture');
    refusesTwins(captureAuditOutput, doc, 'unmaps');
    const manifests = ['linux-6.12-qemu-7.2-capture-strict', 'linux-7.3-qemu-7.2-capture-lazy'].map(
      (d) => JSON.parse(readFileSync(`samples/${d}/manifest.json`, 'utf8')) as Record<string, unknown>,
    );
    manifests.forEach((m, k) => valid(captureManifest, m, `manifest ${k}`));
    refusesTwins(captureManifest, manifests[0]!, 'registers');
  });

  it('campaign --json (a clean and a failing shrunk case), campaign merge --json, campaign --list --json', () => {
    const axes = ['--scenario', 'workload', '--stage', '1', '--granule', '4K', '--ril', 'on', '--ats', 'on'];
    const one = [...axes, '--e2h', 'off', '--force-sync', 'off', '--repeat', 'off', '--policy', 'linux'];
    const clean = json(['campaign', ...one, '--seeds', '1..2', '--ops', '100', '--jobs', '1', '--json']);
    const failing = json(
      [
        'campaign',
        ...one,
        '--fault',
        'drop-sync',
        '--seeds',
        '1..1',
        '--jobs',
        '1',
        '--replay-dir',
        join(TMP, 'replays'),
        '--json',
      ],
      [1],
    );
    const cases = failing.cases as Record<string, unknown>[];
    expect(cases.some((c) => c.counterexample)).toBe(true);
    const shards = [1, 2].map((k) => {
      const path = join(TMP, `shard-${k}.json`);
      writeFileSync(
        path,
        stdoutOf([
          'campaign',
          '--scenario',
          'driver',
          '--granule',
          '4K',
          '--ril',
          'on',
          '--ats',
          'on',
          '--policy',
          'linux',
          '--seeds',
          '1..2',
          '--ops',
          '20',
          '--jobs',
          '1',
          '--shard',
          `${k}/2`,
          '--json',
        ]),
      );
      return path;
    });
    const merged = json(['campaign', 'merge', ...shards, '--json']);
    [clean, failing, merged].forEach((d, k) => valid(campaignOutput, d, `campaign document ${k}`));
    refusesTwins(campaignOutput, clean, 'totals');
    // An axis value that does not exist is refused.
    const matrix = clean.matrix as Record<string, Record<string, unknown>>;
    expect(campaignOutput({ ...clean, matrix: { ...matrix, axes: { ...matrix.axes, granule: ['8K'] } } })).toBe(false);
    const list = json(['campaign', '--list', '--json', '--scenario', 'driver']);
    valid(campaignMatrixOutput, list, 'campaign --list');
    refusesTwins(campaignMatrixOutput, list, 'configurations');
    // The replay file a failing case wrote is a replay.
    const replay = (cases.find((c) => c.counterexample)!.counterexample as Record<string, unknown>).replay;
    valid(replayFile, { schemaVersion: 1, ...(replay as Record<string, unknown>) }, 'replay from the campaign');
  });

  it('simulate --replay --json, and the replay file it reads', () => {
    const doc = json(['simulate', '--replay', 'examples/drop-sync.replay.json', '--json'], [1]);
    valid(replayOutput, doc, 'replay run');
    refusesTwins(replayOutput, doc, 'report');
    const file = JSON.parse(readFileSync('examples/drop-sync.replay.json', 'utf8')) as Record<string, unknown>;
    valid(replayFile, file, 'replay file');
    refusesTwins(replayFile, file, 'script');
    const script = file.script as Record<string, unknown>[];
    expect(replayFile({ ...file, script: [{ ...script[0]!, k: 'remap' }] })).toBe(false);
  });
});
