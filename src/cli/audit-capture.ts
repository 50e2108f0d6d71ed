/**
 * `audit --capture DIR`: read a capture directory (what `capture` writes, or the samples' layout) and print
 * the verdict. The files: manifest.json (optional for older captures), guest-console.log[.gz],
 * cmdq.bin[.gz], cmdq.json, summary.json and qemu-cmdline.txt (optional).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import {
  auditCapture,
  captureReportToJson,
  formatCaptureReport,
  readManifest,
  type CaptureInput,
} from '../capture/index.js';
import { EXIT_CHECK_FAILED, EXIT_OK, UsageError, printJson, warn } from './common.js';
import { parseStrictJson, registersFromDocument } from '../schema/index.js';

function readMaybeGz(dir: string, name: string, required: true): Buffer;
function readMaybeGz(dir: string, name: string, required: false): Buffer | null;
function readMaybeGz(dir: string, name: string, required: boolean): Buffer | null {
  for (const f of [name + '.gz', name]) {
    const p = join(dir, f);
    if (!existsSync(p)) continue;
    const b = readFileSync(p);
    if (b.length >= 2 && b[0] === 0x1f && b[1] === 0x8b) {
      try {
        return gunzipSync(b);
      } catch (e) {
        throw new UsageError(`--capture ${dir}: ${f}: gzip data that does not decompress (${(e as Error).message})`);
      }
    }
    return b;
  }
  if (required) throw new UsageError(`--capture ${dir}: no ${name} or ${name}.gz (is it a capture directory?)`);
  return null;
}

function readJson(dir: string, name: string): Record<string, unknown> | null {
  const p = join(dir, name);
  if (!existsSync(p)) return null;
  const doc = parseStrictJson(readFileSync(p, 'utf8'), p);
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc))
    throw new UsageError(`${p}: expected a JSON object`);
  return doc as Record<string, unknown>;
}

export function loadCaptureDir(dir: string): CaptureInput {
  if (!existsSync(dir)) throw new UsageError(`--capture ${dir}: no such directory`);
  const m = readJson(dir, 'manifest.json');
  const regs = readJson(dir, 'cmdq.json');
  if (regs === null) throw new UsageError(`--capture ${dir}: no cmdq.json (the SMMU registers)`);
  registersFromDocument(regs, join(dir, 'cmdq.json'));
  const ring = readMaybeGz(dir, 'cmdq.bin', true);
  const cmdline = join(dir, 'qemu-cmdline.txt');
  return {
    console: readMaybeGz(dir, 'guest-console.log', true).toString('utf8'),
    ring: new Uint8Array(ring.buffer, ring.byteOffset, ring.length),
    regs,
    manifest: m === null ? null : readManifest(m),
    summary: readJson(dir, 'summary.json'),
    qemuCmdline: existsSync(cmdline) ? readFileSync(cmdline, 'utf8') : null,
  };
}

export function auditCaptureDir(dir: string, o: { json: boolean; maxFindings: number; progress: boolean }): number {
  const input = loadCaptureDir(dir);
  if (existsSync(join(dir, 'INCOMPLETE.txt')))
    warn(
      `warning: ${join(dir, 'INCOMPLETE.txt')} says the capture is incomplete: ${readFileSync(join(dir, 'INCOMPLETE.txt'), 'utf8').split('\n')[0]}`,
    );
  const rep = auditCapture(input, o.progress ? { onProgress: (ph) => warn(`audit: ${ph}`) } : {});
  if (o.json) printJson(captureReportToJson(rep));
  else process.stdout.write(formatCaptureReport(rep, { maxFindings: o.maxFindings }));
  const n = rep.counts.findings + rep.counts.ringFindings;
  if (!o.json && n > 0) warn(`${n} finding(s)`);
  return n > 0 ? EXIT_CHECK_FAILED : EXIT_OK;
}
