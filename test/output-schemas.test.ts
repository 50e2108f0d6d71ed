/**
 * Every `--json` document checked against its published schema (schemas/*-output.schema.json), through the
 * validators ajv compiled from them (src/schema/generated/, the same set-up `npm run schemas` builds for the
 * input schemas): decode, plan, pgtable, serve, simulate (the workload and every scenario carry one shape) and
 * simulate --list-faults.
 * Each schema also refuses a damaged twin of a real document (a field missing, one added), so that it is
 * not a schema that accepts anything. (Not covered yet: audit, capture, campaign, simulate --replay.)
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { validate as decodeOutput } from '../src/schema/generated/decode-output.js';
import { validate as faultListOutput } from '../src/schema/generated/fault-list-output.js';
import { validate as pgtableOutput } from '../src/schema/generated/pgtable-output.js';
import { validate as planOutput } from '../src/schema/generated/plan-output.js';
import { validate as serveOutput } from '../src/schema/generated/serve-output.js';
import { validate as simulateOutput } from '../src/schema/generated/simulate-output.js';
import type { Validator } from '../src/schema/validate.js';
import { runCliFromSource } from './cli-source-run.js';

const MAIN = new URL('../src/cli/main.ts', import.meta.url).pathname;
/** A small ring: the first five entries of the real Linux 6.1 ring, then three never-written (zero) slots. */
const RING_PART = join(mkdtempSync(join(tmpdir(), 'smmuv3-schemas-')), 'ring.bin');
{
  const ring = gunzipSync(readFileSync(new URL('../samples/linux-6.1-qemu-7.2-strict/cmdq.bin.gz', import.meta.url)));
  const part = new Uint8Array(8 * 16);
  part.set(ring.subarray(0, 5 * 16));
  writeFileSync(RING_PART, part);
}

function json(args: string[], codes: number[] = [0]): Record<string, unknown> {
  const r = runCliFromSource(args);
  expect(codes, `${args.join(' ')}: exit ${String(r.code)}\n${r.stderr}`).toContain(r.code);
  return JSON.parse(r.stdout) as Record<string, unknown>;
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
});
