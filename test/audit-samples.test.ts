/**
 * The shared real samples (a Linux 6.1 guest on QEMU 7.2, iommu.strict=1): the dumped ring and QEMU's trace
 * of the same run. Expectations come from the samples themselves (the registers, the trace's own opcode
 * lines, the README's facts), never from the code under test.
 */
import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { beforeAll, describe, expect, it } from 'vitest';
import { CommandChecker, featuresFromIdRegs } from '../src/cmdq/index.js';
import {
  EntryFlag,
  auditStream,
  parseQemuTrace,
  readRing,
  type AuditReport,
  type AuditStream,
} from '../src/audit/index.js';

const DIR = new URL('../samples/linux-6.1-qemu-7.2-strict/', import.meta.url);
const regs = JSON.parse(readFileSync(new URL('cmdq.json', DIR), 'utf8')) as Record<string, string | number>;
const num = (v: string | number): number => Number(v);

/** QEMU's names for the opcodes in the sample. */
const QEMU_NAME: Record<number, string> = {
  0x01: 'SMMU_CMD_PREFETCH_CONFIG',
  0x03: 'SMMU_CMD_CFGI_STE',
  0x04: 'SMMU_CMD_CFGI_STE_RANGE',
  0x11: 'SMMU_CMD_TLBI_NH_ASID',
  0x12: 'SMMU_CMD_TLBI_NH_VA',
  0x30: 'SMMU_CMD_TLBI_NSNH_ALL',
  0x46: 'SMMU_CMD_SYNC',
};

let traceText: string;
let dump: AuditStream;
let trace: AuditStream;
let dumpReport: AuditReport;
let traceReport: AuditReport;
const checker = new CommandChecker({ features: featuresFromIdRegs({ idr0: num(regs.IDR0!), idr3: num(regs.IDR3!) }) });

beforeAll(() => {
  const bytes = new Uint8Array(gunzipSync(readFileSync(new URL('cmdq.bin.gz', DIR))));
  dump = readRing(bytes, { prod: num(regs.CMDQ_PROD!), cons: num(regs.CMDQ_CONS!), log2size: num(regs.log2size!) });
  traceText = gunzipSync(readFileSync(new URL('qemu-trace.log.gz', DIR))).toString('utf8');
  const t = parseQemuTrace(traceText);
  trace = t.stream;
  dumpReport = auditStream(dump, { checker });
  traceReport = auditStream(trace, { checker, trace: t.stats });
});

describe('the dumped ring', () => {
  it('yields exactly the entries the registers say were written, in slot (queue) order', () => {
    const prod = num(regs.CMDQ_PROD!);
    expect(prod).toBe(0x4585);
    expect(dump.count).toBe(prod); // never wrapped: slots 0 .. PROD-1
    expect(Array.from(dump.slot.subarray(0, dump.count))).toEqual(Array.from({ length: prod }, (_, k) => k));
    expect(dump.ring).toMatchObject({ wrapped: false, pending: 0, consErr: 0 });
  });
  it('has the README counts by opcode', () => {
    expect(dumpReport.counts.byCommand).toEqual({
      TLBI_NH_VA: 9155,
      CMD_SYNC: 8636,
      CFGI_STE: 2,
      CFGI_STE_RANGE: 1,
      PREFETCH_CONFIG: 1,
      TLBI_NH_ASID: 1,
      TLBI_NSNH_ALL: 1,
    });
  });
  it('has only SEV CMD_SYNCs and no findings', () => {
    for (let i = 0; i < dump.count; i++) if (dump.opcode(i) === 0x46) expect((dump.halves[i * 4]! >>> 12) & 3).toBe(2);
    expect(dumpReport.findings).toEqual([]);
  });
});

describe('the QEMU trace', () => {
  it('counts by opcode equal the trace’s own smmuv3_cmdq_opcode lines', () => {
    const own: Record<string, number> = {};
    for (const m of traceText.matchAll(/^smmuv3_cmdq_opcode <--- (\S+)$/gm)) own[m[1]!] = (own[m[1]!] ?? 0) + 1;
    const ours: Record<string, number> = {};
    for (let i = 0; i < trace.count; i++) {
      const n = QEMU_NAME[trace.opcode(i)]!;
      ours[n] = (ours[n] ?? 0) + 1;
    }
    expect(ours).toEqual(own);
    expect(traceReport.input.trace!.unknownLines).toBe(0);
  });
  it('shows the same opcodes, in the same order and slots, as the dump', () => {
    expect(trace.count).toBe(dump.count);
    for (let i = 0; i < dump.count; i++) {
      if (trace.opcode(i) !== dump.opcode(i) || trace.slot[i] !== dump.slot[i])
        throw new Error(
          `entry ${i}: trace ${trace.opcode(i)}@${trace.slot[i]} vs dump ${dump.opcode(i)}@${dump.slot[i]}`,
        );
    }
  });
  it('rebuilds every TLBI_NH_VA word for word (Linux’s NUM/SCALE split is the canonical one)', () => {
    let compared = 0;
    for (let i = 0; i < dump.count; i++) {
      if (dump.opcode(i) !== 0x12) continue;
      for (let k = 0; k < 4; k++) expect(trace.halves[i * 4 + k]).toBe(dump.halves[i * 4 + k]);
      compared++;
    }
    expect(compared).toBe(9155);
    // The trace does say which entries it could not pin down.
    let inferred = 0;
    for (let i = 0; i < trace.count; i++) if (trace.flags[i]! & EntryFlag.NumScaleInferred) inferred++;
    expect(inferred).toBe(traceReport.input.trace!.numScaleAmbiguous);
  });
  it('has no findings', () => {
    expect(traceReport.findings).toEqual([]);
  });
});

describe('re-planning the Linux 6.1 stream', () => {
  it('reports every request identical to the linux policy, from the dump and from the trace', () => {
    for (const rep of [dumpReport, traceReport]) {
      const rp = rep.replan!;
      expect(rp.requests).toBeGreaterThan(8000);
      expect(rp.identical).toBe(rp.requests);
      expect(rp.different).toBe(0);
      expect(rp.linux).toEqual(rp.stream);
      // Every TLBI_NH_VA and the NH_ASID were assigned to a request.
      expect(rp.rows.reduce((a, r) => a + r.streamCommands, 0)).toBe(9156);
    }
  });
});
