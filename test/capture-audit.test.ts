/**
 * The verdict on real captures (samples/: Debian 7.3 strict and lazy, 7.0 strict under QEMU 10.0): every
 * unmap covered and completed in time, every request reproduced word for word by the `linux` policy — the
 * expectations are the samples' own facts (summary.json counts, the README). Then hand-damaged copies, one per
 * rule, each caught with the right rule, unmap and evidence, while the undamaged sample stays clean.
 */
import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { beforeAll, describe, expect, it } from 'vitest';
import { decodeSlot, encodeHalves } from '../src/cmdq/index.js';
import {
  auditCapture,
  parseTrace,
  reproduce,
  tieRequests,
  type CaptureInput,
  type CaptureReport,
} from '../src/capture/index.js';

function load(d: string): CaptureInput {
  const dir = new URL(`../samples/${d}/`, import.meta.url);
  const ring = gunzipSync(readFileSync(new URL('cmdq.bin.gz', dir)));
  return {
    console: gunzipSync(readFileSync(new URL('guest-console.log.gz', dir))).toString('utf8'),
    ring: new Uint8Array(ring.buffer, ring.byteOffset, ring.length),
    regs: JSON.parse(readFileSync(new URL('cmdq.json', dir), 'utf8')) as Record<string, unknown>,
    manifest: null,
    summary: JSON.parse(readFileSync(new URL('summary.json', dir), 'utf8')) as Record<string, unknown>,
    qemuCmdline: readFileSync(new URL('qemu-cmdline.txt', dir), 'utf8'),
  };
}

interface Summary {
  requests_range: number;
  requests_flush_all: number;
  non_leaf_requests: number;
}
const summaryOf = (i: CaptureInput): Summary => i.summary as unknown as Summary;

const reports = new Map<string, CaptureReport>();
const inputs = new Map<string, CaptureInput>();
const SAMPLES = ['linux-7.3-qemu-10.0-strict', 'linux-7.3-qemu-10.0-lazy', 'linux-7.0-qemu-10.0-strict'];

beforeAll(() => {
  for (const s of SAMPLES) {
    const i = load(s);
    inputs.set(s, i);
    reports.set(s, auditCapture(i));
  }
});

describe.each(SAMPLES)('sample %s', (s) => {
  it('has 0 findings, every unmap covered, and the ring rules clean', () => {
    const r = reports.get(s)!;
    expect(r.findings).toEqual([]);
    expect(r.counts.ringFindings).toBe(0);
    expect(r.counts.unmaps).toBeGreaterThan(0);
    expect(r.counts.unmapsCovered).toBe(r.counts.unmaps);
  });
  it('ties every request the summary counts to ring slots and reproduces all of them word for word', () => {
    const r = reports.get(s)!;
    const sum = summaryOf(inputs.get(s)!);
    const lazy = s.includes('lazy');
    // The 7.3 lazy sample counts its whole-ASID flushes apart (129 flush_all + 21 non-leaf = 150, README).
    const want = lazy ? 150 : sum.requests_range + (sum.requests_flush_all ?? 0);
    expect(r.counts.requests).toBe(want);
    expect(r.reproduction.skipped).toBe(0);
    expect(r.reproduction.identical).toBe(want);
    expect(r.reproduction.firstDifferences).toEqual([]);
  });
  it('names the evidence of every verdict (these captures have no return probes)', () => {
    const r = reports.get(s)!;
    expect(r.coverage.evidenceAvailable.returnProbe).toBe(false);
    const total = Object.values(r.coverage.byEvidence).reduce((a, b) => a + b, 0);
    expect(total).toBe(r.counts.unmaps);
    if (s.includes('lazy')) expect(Object.keys(r.coverage.byEvidence)).toEqual(['end-of-trace']);
    else expect(r.coverage.byEvidence['next-event-same-cpu']).toBeGreaterThan(r.counts.unmaps * 0.99);
  });
});

describe('the 7.3 strict sample in numbers', () => {
  it('has the summary.json request mix: 9,915 leaf via iotlb_sync and 2,534 table frees', () => {
    const r = reports.get('linux-7.3-qemu-10.0-strict')!;
    expect(r.counts.requestsByCaller).toEqual({ iotlb_sync: 9915, inv_walk: 2534 });
    expect(r.facts.ring).toMatchObject({ log2size: 16, prod: 0x6359, wrapped: false });
    expect(r.reproduction.stream).toEqual({ commands: 12954, syncs: 12449 }); // summary.json opcodes_issued
    expect(r.facts.mode).toBe('strict');
    expect(r.facts.generation).toBe('invs');
  });
});

// ---- damaged copies ----------------------------------------------------------------------------------

interface Located {
  lines: string[];
  /** Line indexes (0-based in the console) of the request's own lines: caller, req7, invs, inv, cmdlist, wr. */
  block: number[];
  unmapLine: number;
  nextUnmap: number;
  prod: number;
}

/** The first iotlb_sync request of `size` in hard-interrupt context on CPU 0, with the unmap before it. */
function locate(text: string, size: string): Located {
  const lines = text.split('\n');
  for (let k = 0; k < lines.length; k++) {
    if (!/ \[000\] d\.h.\. .* req7: .* size=(\S+) granule=4096 leaf=1\r?$/.test(lines[k]!)) continue;
    if (!lines[k]!.includes(` size=${size} `)) continue;
    if (!lines[k - 1]!.includes('iotlb_sync:') || !lines[k - 2]!.includes(' unmap: ')) continue;
    const block = [k - 1, k, k + 1, k + 2, k + 3, k + 4];
    if (!lines[k + 3]!.includes('cmdlist:') || !lines[k + 4]!.includes(' wr: ')) continue;
    let next = k + 5;
    while (!/ \[000\] d\.h.\. .* unmap: /.test(lines[next]!)) next++;
    const prod = parseInt(/prod=0x([0-9a-f]+)/.exec(lines[k + 4]!)![1]!, 16);
    return { lines, block, unmapLine: k - 2, nextUnmap: next, prod };
  }
  throw new Error(`no request of size ${size}`);
}

function withRing(i: CaptureInput, edit: (ring: Uint8Array) => void): Uint8Array {
  const r = new Uint8Array(i.ring);
  edit(r);
  return r;
}

/** The console line number (1-based) of a 0-based index. */
const lineNo = (k: number): number => k + 1;

describe('hand-damaged copies of the 7.3 strict sample', () => {
  const S = 'linux-7.3-qemu-10.0-strict';
  it('a SYNC removed: the driver queued its TLBI twice and no CMD_SYNC → unmap-not-synced', () => {
    const i = inputs.get(S)!;
    const at = locate(i.console, '0x1000');
    const lines = [...at.lines];
    expect(lines[at.block[4]!]).toContain(' n=1 sync=1 ');
    lines[at.block[4]!] = lines[at.block[4]!]!.replace(' n=1 sync=1 ', ' n=2 sync=0 ');
    lines[at.block[5]!] = lines[at.block[5]!]!.replace(' n=1 ', ' n=2 ');
    const ring = withRing(i, (r) => r.copyWithin((at.prod + 1) * 16, at.prod * 16, at.prod * 16 + 16));
    const rep = auditCapture({ ...i, console: lines.join('\n'), ring });
    const rules = rep.findings.map((f) => f.rule).sort();
    expect(rules).toEqual(['request-not-synced', 'unmap-not-synced']);
    const f = rep.findings.find((x) => x.rule === 'unmap-not-synced')!;
    expect(f.line).toBe(lineNo(at.unmapLine));
    expect(f.evidence).toBe('next-event-same-cpu');
    expect(f.slots).toEqual([at.prod, at.prod + 1]);
    expect(f.message).toMatch(/no CMD_SYNC of hardirq cpu 0/);
  });

  it('a TLBI shortened by one page → the page is left to a later request (the IOVA is reused), request-not-covered, one difference', () => {
    const i = inputs.get(S)!;
    const at = locate(i.console, '0x2000');
    const ring = withRing(i, (r) => {
      const u = new Uint32Array(r.buffer, r.byteOffset + at.prod * 16, 4);
      const d = decodeSlot(u, 0);
      if (!d.ok || d.command.name !== 'TLBI_NH_VA') throw new Error('not a TLBI_NH_VA');
      // 2 pages: (NUM+1)·2^SCALE = 2 (Linux writes NUM=0, SCALE=1); one page is NUM=0, SCALE=0.
      expect((d.command.num + 1) * 2 ** d.command.scale).toBe(2);
      u.set(encodeHalves({ ...d.command, num: 0, scale: 0 }));
    });
    const lines = [...at.lines];
    const h = new Uint32Array(ring.buffer, ring.byteOffset + at.prod * 16, 2);
    const w0 = '0x' + (h[1]! * 4294967296 + h[0]!).toString(16);
    lines[at.block[5]!] = lines[at.block[5]!]!.replace(/ w0=0x[0-9a-f]+ /, ` w0=${w0} `);
    const iova = parseInt(/iova=0x([0-9a-f]+)/.exec(lines[at.block[1]!]!)![1]!, 16);
    const rep = auditCapture({ ...i, console: lines.join('\n'), ring });
    expect(rep.findings.map((f) => f.rule).sort()).toEqual(['request-not-covered', 'unmap-invalidated-late']);
    const f = rep.findings.find((x) => x.rule === 'unmap-invalidated-late')!;
    expect(f.line).toBe(lineNo(at.unmapLine));
    expect(f.evidence).toBe('next-event-same-cpu');
    // The missing page, and nothing else, is what the finding names.
    expect(f.message).toContain(
      `: [0x${(iova + 0x1000).toString(16)}, 0x${(iova + 0x2000).toString(16)}) was invalidated only by request`,
    );
    expect(rep.reproduction.different).toBe(1);
    expect(rep.reproduction.firstDifferences[0]!.slots).toEqual([at.prod, at.prod + 1]);
  });

  it('a request moved after the unmap returned (after the next unmap of the CPU) → unmap-invalidated-late', () => {
    const i = inputs.get(S)!;
    const at = locate(i.console, '0x1000');
    const lines = [...at.lines];
    const moved = at.block.map((k) => lines[k]!);
    const rest = lines.filter((_, k) => !at.block.includes(k));
    const nextAt = rest.indexOf(lines[at.nextUnmap]!);
    rest.splice(nextAt + 1, 0, ...moved);
    const rep = auditCapture({ ...i, console: rest.join('\n') });
    const late = rep.findings.filter((f) => f.rule === 'unmap-invalidated-late');
    expect(late.length).toBe(1);
    expect(late[0]!.evidence).toBe('next-event-same-cpu');
    expect(late[0]!.line).toBe(lineNo(at.unmapLine));
    expect(late[0]!.slots).toEqual([at.prod]);
    // The moved request itself is still complete: only the timing is wrong.
    expect(rep.findings.filter((f) => f.rule.startsWith('request-'))).toEqual([]);
    expect(rep.reproduction.identical).toBe(rep.reproduction.requests);
  });

  it('a ring slot that differs from what the driver wrote → ring-mismatch', () => {
    const i = inputs.get(S)!;
    const at = locate(i.console, '0x1000');
    const ring = withRing(i, (r) => {
      r[at.prod * 16 + 9] = r[at.prod * 16 + 9]! ^ 0x10; // one address bit of the TLBI (w1), the trace keeps the driver's words
    });
    const rep = auditCapture({ ...i, ring });
    expect(rep.findings.map((f) => f.rule)).toContain('ring-mismatch');
    expect(rep.findings.find((f) => f.rule === 'ring-mismatch')!.slots).toEqual([at.prod]);
  });
});

describe('a hand-damaged copy of the 7.3 lazy sample', () => {
  it('the last whole-ASID flush removed → the unmaps after the one before are never invalidated', () => {
    const i = inputs.get('linux-7.3-qemu-10.0-lazy')!;
    const lines = i.console.split('\n');
    let k = lines.length - 1;
    while (!lines[k]!.includes(' flush_all: ')) k--;
    // flush_all, req7, invs, inv, cmdlist, wr on the same flow
    const cut = new Set([k, k + 1, k + 2, k + 3, k + 4, k + 5]);
    expect(lines[k + 5]).toContain(' wr: ');
    let prev = k - 1;
    while (!lines[prev]!.includes(' flush_all: ')) prev--;
    const between = lines.slice(prev, k).filter((l) => l.includes(' unmap: ')).length;
    const rep = auditCapture({ ...i, console: lines.filter((_, j) => !cut.has(j)).join('\n') });
    const missed = rep.findings.filter((f) => f.rule === 'unmap-not-invalidated');
    expect(between).toBeGreaterThan(0);
    expect(missed.length).toBeGreaterThanOrEqual(between);
    expect(missed.every((f) => f.evidence === 'end-of-trace')).toBe(true);
  });
});

describe('a legacy whole-domain flush (arm_smmu_tlb_inv_context with arm_smmu_tlb_inv_asid inlined)', () => {
  // Lines in the 7.0 sample's format; the flush's TLBI_NH_ASID names no ASID in the trace.
  const trace = [
    '              dd-167     [000] d..1.   886.866009: req: (__arm_smmu_tlb_inv_range+0x0/0x220) op=18 asid=2 vmid=0 leaf=1 iova=0xfff1e000 size=0x1000 granule=0x1000 dom=0xfff000000395e300',
    '              dd-167     [000] d..1.   886.866180: cmdlist: (arm_smmu_cmdq_issue_cmdlist+0x0/0xb18) cmdq=0xfff00000049758c0 n=1 sync=1',
    '              dd-167     [000] d..1.   886.866361: wr: (arm_smmu_cmdq_write_entries+0x0/0x148) prod=0x0 n=1 w0=0x2000000000012 w1=0xfff1e701',
    '          <idle>-0       [001] ..s1.   886.900000: inv_ctx: (arm_smmu_tlb_inv_context+0x0/0x110) dom=0xfff000000395e300',
    '          <idle>-0       [001] ..s1.   886.900100: cmdlist: (arm_smmu_cmdq_issue_cmdlist+0x0/0xb18) cmdq=0xfff00000049758c0 n=1 sync=1',
    '          <idle>-0       [001] ..s1.   886.900200: wr: (arm_smmu_cmdq_write_entries+0x0/0x148) prod=0x2 n=1 w0=0x2000000000011 w1=0x0',
  ];
  it('takes the ASID of the same domain pointer, so the flush is checked and re-planned', () => {
    const ring = new Uint32Array(16);
    ring.set([0x12, 0x20000, 0xfff1e701, 0], 0);
    ring.set([0x0fc02046, 0, 0, 0], 4); // CMD_SYNC, SEV form
    ring.set([0x11, 0x20000, 0, 0], 8); // TLBI_NH_ASID ASID 2
    ring.set([0x0fc02046, 0, 0, 0], 12);
    const events = parseTrace(trace.join('\n'));
    const tied = tieRequests(events, { log2size: 2, ring, prod: 4, pageSize: 4096 });
    expect(tied.requests.map((r) => [r.fn, r.size, r.targets])).toEqual([
      ['__arm_smmu_tlb_inv_range', 0x1000, [{ type: 'S1_ASID', id: 2, pgsize: 4096 }]],
      ['arm_smmu_tlb_inv_context', 0, [{ type: 'S1_ASID', id: 2, pgsize: 4096 }]],
    ]);
    expect(tied.notes).toEqual([]);
    const rp = reproduce(tied, { ring, ril: true, e2h: false });
    expect([rp.identical, rp.skipped]).toEqual([2, 0]);
  });
});
