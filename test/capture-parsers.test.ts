/**
 * The capture parsers on real text: ftrace lines from the samples' guest consoles (kprobes, iommu:unmap,
 * trace markers), a QMP session with QEMU 7.2 (test/capture/qmp-qemu-7.2.txt, recorded from
 * `qemu-system-aarch64 -M virt,iommu=smmuv3 -S -qmp stdio`), the console sections, and the probe choice from
 * the symbol lists the samples' kernels printed.
 */
import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import {
  ConsoleFormatError,
  QmpError,
  TraceParseError,
  chooseProbes,
  cmdqOfBase,
  contextOfFlags,
  flowKey,
  halvesField,
  hexOfHalves,
  initScript,
  iommuEventOf,
  numField,
  parseConsole,
  parseProbeDefinition,
  parseQmpLine,
  parseTraceLine,
  parseXp,
  probeDefinition,
} from '../src/capture/index.js';

const sample = (d: string): string =>
  gunzipSync(readFileSync(new URL(`../samples/${d}/guest-console.log.gz`, import.meta.url))).toString('utf8');

describe('ftrace lines (7.3 sample)', () => {
  it('reads an iommu:unmap event in hard-interrupt context', () => {
    const e = parseTraceLine(
      '          <idle>-0       [000] d.h2.    33.109465: unmap: IOMMU: iova=0x00000000ffff2000 - 0x00000000ffff3000 size=4096 unmapped_size=4096',
      7,
    )!;
    expect(e).toMatchObject({
      task: '<idle>',
      pid: 0,
      cpu: 0,
      flags: 'd.h2.',
      context: 'hardirq',
      ts: 33.109465,
      name: 'unmap',
      line: 7,
    });
    expect(iommuEventOf(e)).toEqual({ iova: 0xffff2000, end: 0xffff3000, size: 4096, done: 4096, paddr: null });
    expect(flowKey(e)).toBe('hardirq cpu 0');
  });
  it('reads a kprobe with its site and fields, 64-bit words as halves', () => {
    const e = parseTraceLine(
      '          <idle>-0       [000] d.h3.    33.111369: wr: (arm_smmu_cmdq_write_entries+0x0/0x130) prod=0x1e n=1 w0=0x2000000000012 w1=0xffff2701',
      1,
    )!;
    expect(e.site).toBe('arm_smmu_cmdq_write_entries+0x0/0x130');
    expect(e.isReturn).toBe(false);
    expect(numField(e, 'prod')).toBe(0x1e);
    expect(halvesField(e, 'w0')).toEqual([0x12, 0x20000]);
    expect(halvesField(e, 'w1')).toEqual([0xffff2701, 0]);
  });
  it('keeps an array argument as one field', () => {
    const e = parseTraceLine(
      '          <idle>-0       [000] d.h3.    33.111218: cmdlist: (__arm_smmu_cmdq_issue_cmdlist+0x0/0xaf0) cmdq=0xfff00000050e10c0 n=1 sync=1 w={0x2000000000012,0xffff2701,0x0,0x0}',
      1,
    )!;
    expect(e.fields.w).toBe('{0x2000000000012,0xffff2701,0x0,0x0}');
    expect(numField(e, 'n')).toBe(1);
    expect(() => numField(e, 'cmdq')).toThrow(/not a number below 2\^53/);
  });
  it('reads task context (by pid), soft interrupts and trace markers', () => {
    const m = parseTraceLine(
      '            init-1       [001] ...2.    33.044236: tracing_mark_write: ORACLE_TEST dd bs=4k count=2 skip=1 iflag=direct',
      1,
    )!;
    expect(m).toMatchObject({ task: 'init', pid: 1, cpu: 1, context: 'task', name: 'tracing_mark_write' });
    expect(m.payload).toBe('ORACLE_TEST dd bs=4k count=2 skip=1 iflag=direct');
    expect(flowKey(m)).toBe('pid 1');
    const s = parseTraceLine(
      '              dd-135     [001] d.s..    34.341154: flush_all: (arm_smmu_flush_iotlb_all+0x0/0x50) domain=0xfff00000058c8620',
      1,
    )!;
    expect(s.context).toBe('softirq');
    expect(contextOfFlags('dNs1.')).toBe('softirq');
    expect(contextOfFlags('d.H2.')).toBe('hardirq');
  });
  it('reads kretprobe lines (the function returned from after <-) and iommu:map, from a capture of 7.3', () => {
    const e = parseTraceLine(
      '              dd-121     [000] d.h3.    33.990069: unmap_ret: (iommu_dma_unmap_phys+0x68/0x120 <- __iommu_dma_unmap)',
      1,
    )!;
    expect(e).toMatchObject({
      isReturn: true,
      site: '__iommu_dma_unmap',
      name: 'unmap_ret',
      pid: 121,
      context: 'hardirq',
    });
    const r = parseTraceLine(
      '              dd-121     [000] d.h4.    33.989775: cmdlist_ret: (arm_smmu_cmdq_issue_cmdlist+0x3c/0xd8 <- __arm_smmu_cmdq_issue_cmdlist) ret=0',
      1,
    )!;
    expect(r.site).toBe('__arm_smmu_cmdq_issue_cmdlist');
    expect(numField(r, 'ret')).toBe(0);
    const m = parseTraceLine(
      '              dd-121     [000] d..2.    33.986034: map: IOMMU: iova=0x00000000ffff7000 - 0x00000000ffff8000 paddr=0x0000000045b6e000 size=4096',
      1,
    )!;
    expect(m.context).toBe('task');
    expect(iommuEventOf(m)).toEqual({ iova: 0xffff7000, end: 0xffff8000, size: 4096, done: 4096, paddr: 0x45b6e000 });
    const f = parseTraceLine(
      '              dd-121     [000] d.h2.    33.990020: free_iova: (free_iova_fast+0x0/0x1e0) pfn=0xffff6 pages=0x1',
      1,
    )!;
    expect([numField(f, 'pfn'), numField(f, 'pages')]).toEqual([0xffff6, 1]);
  });
  it('skips headers and names the line of anything else', () => {
    expect(parseTraceLine('# tracer: nop', 1)).toBeNull();
    expect(parseTraceLine('', 2)).toBeNull();
    expect(() => parseTraceLine('garbage line', 9)).toThrow(TraceParseError);
    expect(() => parseTraceLine('garbage line', 9)).toThrow(/trace line 9/);
  });
  it('parses every event of the 7.3 strict sample (the counts summary.json gives)', () => {
    const con = parseConsole(sample('linux-7.3-qemu-10.0-strict'));
    const lines = con.trace!.split('\n');
    const evs = lines.map((l, k) => parseTraceLine(l, con.traceFirstLine + k)).filter((e) => e !== null);
    const summary = JSON.parse(
      readFileSync(new URL('../samples/linux-7.3-qemu-10.0-strict/summary.json', import.meta.url), 'utf8'),
    ) as { guest_events: number; requests_range: number; non_leaf_requests: number };
    expect(evs.length).toBe(summary.guest_events);
    expect(evs.filter((e) => e.name === 'req7').length).toBe(summary.requests_range);
    expect(evs.filter((e) => e.name === 'inv_walk').length).toBe(summary.non_leaf_requests);
  });
});

describe('the guest console', () => {
  it('splits the 7.3 sample into facts, symbols, probes and the trace', () => {
    const c = parseConsole(sample('linux-7.3-qemu-10.0-strict'));
    expect(c.prefix).toBe('ORACLE');
    expect(c.linuxVersion).toMatch(/^7\.3\.4\+deb13-arm64 /);
    expect(c.kernelCmdline).toBe('console=ttyAMA0 nokaslr panic=-1 iommu.strict=1 hugepagesz=1G hugepages=1');
    expect(c.facts).toContain('page size 4096');
    expect(c.symbols.map((s) => s.name)).toContain('arm_smmu_domain_inv_range');
    expect(c.probes.length).toBe(9);
    expect(c.probes.every((p) => p.ok)).toBe(true);
    expect(c.probes[2]).toMatchObject({ type: 'p', event: 'req7', target: 'arm_smmu_domain_inv_range' });
    expect(c.done).toBe(true);
    expect(c.trace!.split('\n')[0]).toBe('# tracer: nop');
  });
  it('says when the trace was cut short', () => {
    expect(() => parseConsole('CAPTURE: x\nCAPTURE_TRACE_BEGIN\n  a-1 [000] .... 1.0: unmap: x\n')).toThrow(
      ConsoleFormatError,
    );
    expect(parseConsole('CAPTURE_FAIL no-device /dev/vda did not appear\nCAPTURE_DONE').failure).toEqual({
      id: 'no-device',
      text: '/dev/vda did not appear',
    });
  });
  it('reads probe definitions', () => {
    expect(parseProbeDefinition('r:smmu/unmap_ret __iommu_dma_unmap')).toEqual({
      type: 'r',
      event: 'unmap_ret',
      target: '__iommu_dma_unmap',
    });
    expect(parseProbeDefinition('p:oracle/iotlb_sync 0xffff800080d35cf0 gstart=+0(%x1):x64')).toMatchObject({
      target: '0xffff800080d35cf0',
    });
  });
});

describe('QMP and xp replies (QEMU 7.2 session)', () => {
  const lines = readFileSync(new URL('./capture/qmp-qemu-7.2.txt', import.meta.url), 'utf8')
    .trim()
    .split('\n');
  const msgs = lines.map(parseQmpLine);
  it('reads the greeting, returns, an error and an event', () => {
    expect(msgs[0]).toEqual({ kind: 'greeting', version: '7.2.22' });
    expect(msgs[1]).toMatchObject({ kind: 'return', value: {} });
    expect(msgs[5]).toMatchObject({ kind: 'error', errorClass: 'GenericError' });
    expect((msgs[5] as { desc: string }).desc).toMatch(/Could not open/);
    expect(msgs[7]).toMatchObject({ kind: 'event', event: 'SHUTDOWN' });
  });
  it('reads xp of a 32-bit and a 64-bit register', () => {
    const w = parseXp((msgs[2] as { value: string }).value);
    expect(w).toEqual([{ addr: 0x09050000, lo: 0x0d40101a, hi: 0 }]); // IDR0 of QEMU 7.2's SMMUv3
    const g = parseXp((msgs[3] as { value: string }).value);
    expect(g).toEqual([{ addr: 0x09050090, lo: 0x13, hi: 0 }]); // CMDQ_BASE before the driver ran: LOG2SIZE 19
    expect(parseXp((msgs[4] as { value: string }).value).map((v) => v.addr)).toEqual([
      0x09050000, 0x09050004, 0x09050008, 0x0905000c,
    ]);
  });
  it('names what is wrong', () => {
    expect(() => parseQmpLine('not json')).toThrow(QmpError);
    expect(() => parseQmpLine('{"foo": 1}')).toThrow(/neither return, error nor event/);
    expect(() => parseXp('Cannot access memory')).toThrow(/unexpected reply line/);
  });
  it('decodes CMDQ_BASE (ADDR [51:5], LOG2SIZE [4:0]) as the 7.3 sample registers give it', () => {
    // 7.3 sample: CMDQ_BASE 0x40000000fb900010, base 0xfb900000, log2size 16, 1 MiB.
    expect(cmdqOfBase(0xfb900010, 0x40000000)).toEqual({ base: 0xfb900000, log2size: 16, bytes: 1048576 });
    expect(hexOfHalves(0xfb900010, 0x40000000)).toBe('0x40000000fb900010');
    expect(hexOfHalves(0x6359, 0)).toBe('0x6359');
  });
});

describe("probe choice by the running kernel's symbols", () => {
  const symbolsOf = (d: string): Set<string> => new Set(parseConsole(sample(d)).symbols.map((s) => s.name));
  it('7.3: the arm_smmu_invs generation, the inner command-list function', () => {
    const c = chooseProbes(symbolsOf('linux-7.3-qemu-10.0-strict'), '7.3.4+deb13-arm64');
    expect(c.generation).toBe('invs');
    expect(c.missingRequired).toEqual([]);
    const defs = c.probes.map(probeDefinition);
    expect(defs).toContain('p:smmu/cmdlist __arm_smmu_cmdq_issue_cmdlist cmdq=%x1:x64 n=%x3:s32 sync=%x4:u8');
    expect(defs.some((d) => d.includes('__arm_smmu_tlb_inv_range'))).toBe(false);
  });
  it('7.0: the older driver, the 6.12+ command-list signature', () => {
    const syms = symbolsOf('linux-7.0-qemu-10.0-strict');
    const c = chooseProbes(syms, '7.0.13+deb13-arm64');
    expect(c.generation).toBe('legacy');
    expect(c.missingRequired).toEqual([]);
    expect(c.probes.map(probeDefinition)).toContain(
      'p:smmu/cmdlist arm_smmu_cmdq_issue_cmdlist cmdq=%x1:x64 n=%x3:s32 sync=%x4:u8',
    );
    // Before 6.12 there was no cmdq argument: cmds, n, sync in x1, x2, x3.
    const old = chooseProbes(syms, '6.1.0-56-arm64');
    expect(old.probes.find((p) => p.event === 'cmdlist')!.args).toBe('n=%x2:s32 sync=%x3:u8');
  });
  it('no SMMUv3 driver: no generation', () => {
    expect(chooseProbes(new Set(['iommu_unmap']), '7.3.4').generation).toBeNull();
  });
  it('the /init script has one guarded line per probe and the markers the console parser reads', () => {
    const s = initScript({ modules: ['virtio_blk.ko'], bufferKb: 1024, device: '/dev/vda' });
    for (const d of ['req7', 'inv', 'wr', 'cmdlist_ret', 'unmap_ret', 'free_iova']) expect(s).toContain(`:smmu/${d} `);
    expect(s).toContain('echo "CAPTURE_TRACE_BEGIN"');
    expect(s).toContain('echo 1 > $T/events/smmu/enable');
    expect(s).toContain('insmod /lib/modules/$m');
    expect(s).toContain("for m in 'virtio_blk.ko'");
  });
});
