/**
 * Real captures made by `smmuv3-tlbi capture` itself (Debian's 7.3.4 arm64 kernel under QEMU 7.2 TCG, the
 * small workload of samples/README.md), kept as fixtures: the manifest reads back, the verdict rests on the
 * return probes the capture set, and the stream is Linux's word for word. Expectations come from the
 * capture's own files (manifest, registers, console counts), not from the code under test.
 */
import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { ManifestError, auditCapture, readManifest } from '../src/capture/index.js';
import { loadCaptureDir } from '../src/cli/audit-capture.js';

const DIRS = ['samples/linux-7.3-qemu-7.2-capture-strict', 'samples/linux-7.3-qemu-7.2-capture-lazy'];

describe.each(DIRS)('%s', (dir) => {
  const input = loadCaptureDir(dir);
  const m = input.manifest!;
  const con = gunzipSync(readFileSync(`${dir}/guest-console.log.gz`)).toString('utf8');
  const count = (name: string): number => con.split('\n').filter((l) => l.includes(` ${name}: `)).length;
  const rep = auditCapture(input);

  it('has a complete manifest that agrees with the other files', () => {
    expect(m.complete).toBe(true);
    expect(m.problems).toEqual([]);
    expect(m.kernel.release).toBe('7.3.4+deb13-arm64');
    expect(m.kernel.config.ARM_SMMU_V3).toBe('y');
    expect(m.qemu.accel).toBe('tcg');
    expect(m.qemu.version).toMatch(/^7\.2\./);
    expect(m.driver.generation).toBe('invs');
    expect(m.driver.probes.every((p) => p.ok)).toBe(true);
    expect(m.registers.CMDQ_PROD).toBe(input.regs.CMDQ_PROD);
    expect(m.trace.lostEvents).toBe(0);
    expect(m.ring.wrapped).toBe(false);
    expect(m.guestCmdline).toContain(`iommu.strict=${m.mode === 'strict' ? 1 : 0}`);
  });
  it('gives 0 findings, every request tied and reproduced word for word', () => {
    expect(rep.findings).toEqual([]);
    expect(rep.counts.ringFindings).toBe(0);
    expect(rep.counts.requests).toBe(count('req7'));
    expect(rep.counts.unmaps).toBe(count('unmap'));
    expect(rep.counts.unmapsCovered).toBe(rep.counts.unmaps);
    expect(rep.reproduction.identical).toBe(rep.counts.requests);
    // Every entry the traced command lists wrote is where CMDQ_PROD ended.
    expect(rep.facts.notes).toEqual([]);
  });
  it('rests its verdicts on the probes it set', () => {
    expect(rep.coverage.evidenceAvailable).toEqual({
      returnProbe: true,
      entryProbe: true,
      freeIovaProbe: true,
      mapEvents: true,
      cmdlistReturn: true,
    });
    const ev = Object.keys(rep.coverage.byEvidence);
    expect(ev).toEqual([m.mode === 'strict' ? 'return-probe' : 'iova-free-probe']);
  });
});

describe('readManifest names the field that is wrong', () => {
  const doc = JSON.parse(readFileSync(`${DIRS[0]}/manifest.json`, 'utf8')) as Record<string, unknown>;
  it('accepts the real one', () => {
    expect(readManifest(doc).mode).toBe('strict');
  });
  it.each([
    [{ schemaVersion: 2 }, /schemaVersion: expected 1/],
    [{ mode: 'eager' }, /manifest\.json: mode: expected "strict" or "lazy"/],
    [{ stage: 3 }, /stage: expected 1 or 2/],
    [{ registers: { CMDQ_PROD: '0x1' } }, /registers\.CMDQ_BASE: missing/],
    [
      { ring: { entriesWritten: -1, wrapped: false, lost: 0 } },
      /ring\.entriesWritten: expected a non-negative integer/,
    ],
    [{ qemu: { version: '7.2', accel: 'hvf', cmdline: [] } }, /qemu\.accel/],
  ])('%j', (patch, re) => {
    expect(() => readManifest({ ...doc, ...patch })).toThrow(ManifestError);
    expect(() => readManifest({ ...doc, ...patch })).toThrow(re);
  });
});
