/**
 * Real captures made by `smmuv3-tlbi capture` itself (Debian's 7.3.4 and 6.12.117 arm64 kernels under QEMU 7.2 TCG, the
 * small workload of samples/README.md), kept as fixtures: the manifest reads back, the verdict rests on the
 * return probes the capture set, and the stream is Linux's word for word. Expectations come from the
 * capture's own files (manifest, registers, console counts), not from the code under test.
 */
import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { ManifestError, auditCapture, readManifest } from '../src/capture/index.js';
import { loadCaptureDir } from '../src/cli/audit-capture.js';

/** Each fixture's kernel, as its package names it, and the driver it has: 7.3 the per-domain invs array, 6.12 the older one. */
const KERNELS: Record<string, { release: string; generation: string; request: string }> = {
  'samples/linux-7.3-qemu-7.2-capture-strict': { release: '7.3.4+deb13-arm64', generation: 'invs', request: 'req7' },
  'samples/linux-7.3-qemu-7.2-capture-lazy': { release: '7.3.4+deb13-arm64', generation: 'invs', request: 'req7' },
  'samples/linux-6.12-qemu-7.2-capture-strict': {
    release: '6.12.117+deb13-arm64',
    generation: 'legacy',
    request: 'req',
  },
};

describe.each(Object.keys(KERNELS))('%s', (dir) => {
  const k = KERNELS[dir]!;
  const input = loadCaptureDir(dir);
  const m = input.manifest!;
  const con = gunzipSync(readFileSync(`${dir}/guest-console.log.gz`)).toString('utf8');
  const count = (name: string): number => con.split('\n').filter((l) => l.includes(` ${name}: `)).length;
  const rep = auditCapture(input);

  it('has a complete manifest that agrees with the other files', () => {
    expect(m.complete).toBe(true);
    expect(m.problems).toEqual([]);
    expect(m.kernel.release).toBe(k.release);
    expect(m.kernel.config.ARM_SMMU_V3).toBe('y');
    expect(m.qemu.accel).toBe('tcg');
    expect(m.qemu.version).toMatch(/^7\.2\./);
    expect(m.driver.generation).toBe(k.generation);
    expect(m.driver.probes.every((p) => p.ok)).toBe(true);
    expect(m.registers.CMDQ_PROD).toBe(input.regs.CMDQ_PROD);
    expect(m.trace.lostEvents).toBe(0);
    expect(m.ring.wrapped).toBe(false);
    expect(m.guestCmdline).toContain(`iommu.strict=${m.mode === 'strict' ? 1 : 0}`);
  });
  it('gives 0 findings, every request tied and reproduced word for word', () => {
    expect(rep.findings).toEqual([]);
    expect(rep.counts.ringFindings).toBe(0);
    expect(rep.counts.requests).toBe(count(k.request));
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
  const doc = JSON.parse(readFileSync('samples/linux-7.3-qemu-7.2-capture-strict/manifest.json', 'utf8')) as Record<
    string,
    unknown
  >;
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

const STRICT = Object.keys(KERNELS).filter((d) => d.endsWith('-strict'));

describe.each(STRICT)('hand-damaged copies of %s: the verdict names the return probe', (dir) => {
  const input = loadCaptureDir(dir);
  const lines = input.console.split('\n');
  const request = ` ${KERNELS[dir]!.request}: `;
  /**
   * The first unmap from `from` on followed at once by its request, with the request block (the lines up to
   * the command list's return: 7.3 req7, invs, inv, cmdlist, wr, cmdlist_ret; 6.12 req, cmdlist, wr,
   * cmdlist_ret), the index of the block's wr and cmdlist_ret lines and its unmap_ret, by line index.
   */
  const find = (
    from: number,
  ): { unmap: number; block: number[]; wr: number; cmdret: number; ret: number; prod: number } => {
    for (let k = from; k < lines.length; k++) {
      if (!lines[k]!.includes(' unmap: ') || !lines[k + 1]!.includes(request)) continue;
      const block: number[] = [];
      let j = k + 1;
      while (j < lines.length && block.length < 8 && !lines[j]!.includes(' cmdlist_ret: ')) block.push(j++);
      if (j >= lines.length || !lines[j]!.includes(' cmdlist_ret: ')) continue;
      block.push(j);
      const wrs = block.filter((i) => lines[i]!.includes(' wr: '));
      if (wrs.length !== 1) continue;
      const wr = wrs[0]!;
      let ret = j + 1;
      while (!lines[ret]!.includes(' unmap_ret: ')) ret++;
      const prod = parseInt(/prod=0x([0-9a-f]+)/.exec(lines[wr]!)![1]!, 16);
      return { unmap: k, block, wr, cmdret: j, ret, prod };
    }
    throw new Error('no unmap with a request after it');
  };

  it('the undamaged copy is clean (the twin)', () => {
    expect(auditCapture(input).findings).toEqual([]);
  });
  it('the request moved after the unmap_ret → unmap-invalidated-late, evidence return-probe', () => {
    const at = find(0);
    const moved = at.block.map((k) => lines[k]!);
    const rest = lines.filter((_, k) => !at.block.includes(k));
    rest.splice(rest.indexOf(lines[at.ret]!) + 1, 0, ...moved);
    const rep = auditCapture({ ...input, console: rest.join('\n') });
    expect(rep.findings.map((f) => [f.rule, f.evidence, f.line])).toEqual([
      ['unmap-invalidated-late', 'return-probe', at.unmap + 1],
    ]);
  });
  it('the command list returned an error (its CMD_SYNC timed out) → unmap-not-synced and request-not-synced', () => {
    const at = find(0);
    const bad = [...lines];
    bad[at.cmdret] = bad[at.cmdret]!.replace(' ret=0', ' ret=-110');
    const rep = auditCapture({ ...input, console: bad.join('\n') });
    expect(rep.findings.map((f) => f.rule).sort()).toEqual(['request-not-synced', 'unmap-not-synced']);
    expect(rep.findings.find((f) => f.rule === 'request-not-synced')!.message).toMatch(/returned an error/);
    expect(rep.findings.find((f) => f.rule === 'unmap-not-synced')!.evidence).toBe('return-probe');
  });
  it('a TLBI for the wrong ASID on the last unmap → unmap-not-invalidated (nothing later covers it)', () => {
    let at = find(0);
    for (;;) {
      try {
        at = find(at.ret);
      } catch {
        break;
      }
    }
    const ring = new Uint8Array(input.ring);
    ring[at.prod * 16 + 6] = ring[at.prod * 16 + 6]! ^ 0x01; // ASID is w0 [63:48]: its low bit flipped (7.3: 2 → 3, 6.12: 1 → 0)
    const bad = [...lines];
    const h = new Uint32Array(ring.buffer, at.prod * 16, 2);
    bad[at.wr] = bad[at.wr]!.replace(/ w0=0x[0-9a-f]+ /, ` w0=0x${(h[1]! * 4294967296 + h[0]!).toString(16)} `);
    const rep = auditCapture({ ...input, console: bad.join('\n'), ring });
    expect(rep.findings.map((f) => f.rule).sort()).toEqual(['request-not-covered', 'unmap-not-invalidated']);
    const f = rep.findings.find((x) => x.rule === 'unmap-not-invalidated')!;
    expect(f.line).toBe(at.unmap + 1);
    expect(f.evidence).toBe('return-probe');
    expect(rep.reproduction.different).toBe(1);
  });
});

describe('the lazy fixture without its IOVA-free probe', () => {
  it('falls back to the next overlapping iommu:map and says so', () => {
    const input = loadCaptureDir('samples/linux-7.3-qemu-7.2-capture-lazy');
    const text = input.console
      .split('\n')
      .filter((l) => !l.includes(' free_iova: '))
      .join('\n');
    const rep = auditCapture({ ...input, console: text });
    expect(rep.findings).toEqual([]);
    expect(rep.coverage.evidenceAvailable.freeIovaProbe).toBe(false);
    const ev = rep.coverage.byEvidence;
    expect((ev['next-overlapping-map'] ?? 0) + (ev['end-of-trace'] ?? 0)).toBe(rep.counts.unmaps);
    expect(ev['next-overlapping-map']).toBeGreaterThan(0);
  });
});
