/**
 * The last phases of `capture`: phase 5 writes the capture directory (the ring and the console gzipped, the
 * registers, QEMU's trace), phase 6 judges whether the capture is complete (a trace, no lost events, no ring
 * wrap, some requests) and writes manifest.json.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { parseConsole, parseTrace, tieRequests, type Manifest } from '../capture/index.js';
import { halvesFromBytes } from '../cmdq/index.js';
import type { Progress } from './capture-common.js';
import type { GuestTimes } from './capture-guest.js';
import type { CaptureInputs } from './capture-inputs.js';
import type { QemuRun, RingDump } from './capture-qemu.js';

const TOOL = 'smmuv3-tlbi capture';

/** The kernel configuration options the manifest records (when the kernel's config is known). */
const MANIFEST_CONFIG = [
  'ARM_SMMU_V3',
  'KPROBE_EVENTS',
  'IOMMU_DEFAULT_DMA_STRICT',
  'IOMMU_DEFAULT_DMA_LAZY',
  'VIRTIO_BLK',
  'VIRTIO_PCI',
  'ARM64_4K_PAGES',
  'ARM64_16K_PAGES',
  'ARM64_64K_PAGES',
];

/** Phase 5: the capture's files; returns the ring and the console as read. */
export function writeCaptureFiles(
  out: string,
  dump: RingDump,
  run: QemuRun,
  p: Progress,
): { ring: Buffer; consoleText: string } {
  p.step('writing the capture');
  const ring = readFileSync(dump.ringFile);
  if (ring.length !== dump.bytes) throw new Error(`pmemsave wrote ${ring.length} bytes, not ${dump.bytes}`);
  const consoleText = readFileSync(run.consoleLog, 'utf8');
  writeFileSync(join(out, 'cmdq.bin.gz'), gzipSync(ring));
  writeFileSync(join(out, 'cmdq.json'), JSON.stringify(dump.regs, null, 1) + '\n');
  writeFileSync(join(out, 'guest-console.log.gz'), gzipSync(consoleText));
  writeFileSync(
    join(out, 'qemu-trace.log.gz'),
    gzipSync(existsSync(run.qemuTrace) ? readFileSync(run.qemuTrace) : Buffer.alloc(0)),
  );
  return { ring, consoleText };
}

/** Everything phase 6 builds the manifest from. */
export interface RecordInputs {
  readonly mode: 'strict' | 'lazy';
  readonly stage: '1' | '2';
  readonly inputs: CaptureInputs;
  readonly run: QemuRun;
  readonly dump: RingDump;
  readonly times: GuestTimes;
  readonly start: Date;
}

/** Phase 6: is the capture complete? The manifest, and a line on stderr with what it holds. */
export function recordManifest(
  r: RecordInputs,
  written: { ring: Buffer; consoleText: string },
  out: string,
  p: Progress,
): Manifest {
  const { ring, consoleText } = written;
  const con = parseConsole(consoleText);
  const evs = con.trace === null ? [] : parseTrace(con.trace, con.traceFirstLine);
  const problems: string[] = [];
  if (con.trace === null) problems.push('the guest printed no trace');
  let lostEvents = 0;
  for (const f of con.facts) {
    const m = /^lost \S+ (.*)$/.exec(f);
    if (m) for (const n of m[1]!.matchAll(/overrun: (\d+)/g)) lostEvents += Number(n[1]);
  }
  if (lostEvents > 0)
    problems.push(`the guest's trace buffer overran: ${lostEvents} events lost; give a smaller --workload`);
  const tied = tieRequests(evs, {
    log2size: r.dump.log2size,
    ring: halvesFromBytes(new Uint8Array(ring.buffer, ring.byteOffset, ring.length)),
    prod: Number(r.dump.regs.CMDQ_PROD),
    pageSize: 4096,
  });
  const size = 2 ** r.dump.log2size;
  const lost = Math.max(0, tied.entriesWritten - size);
  if (lost > 0)
    problems.push(
      `the ring wrapped during the run: ${lost} of ${tied.entriesWritten} entries were overwritten before the dump; give a smaller --workload`,
    );
  if (tied.requests.length === 0) problems.push('the trace holds no invalidation request (did the workload do DMA?)');
  const pageFact = con.facts.map((f) => /^page size (\d+)/.exec(f)).find((m) => m);
  const genFact = con.facts.map((f) => /^driver generation (\S+)/.exec(f)).find((m) => m);
  const end = new Date();
  const { kernel: k, qemu, accel } = r.inputs;
  const cfg = k.config;
  const { bootMs, workloadEnd } = r.times;
  const manifest: Manifest = {
    schemaVersion: 1,
    tool: TOOL,
    complete: problems.length === 0,
    problems,
    mode: r.mode,
    stage: r.stage === '2' ? 2 : 1,
    kernel: {
      release: k.release,
      version: con.linuxVersion,
      package: k.packageName,
      pageSize: pageFact ? Number(pageFact[1]) : 4096,
      config: Object.fromEntries(MANIFEST_CONFIG.filter((x) => cfg?.[x] !== undefined).map((x) => [x, cfg![x]!])),
    },
    qemu: { version: qemu.version, accel, cmdline: r.run.shown },
    guestCmdline: r.run.guestCmdline,
    driver: {
      generation: genFact ? genFact[1]! : null,
      probes: con.probes.map((x) => ({ definition: x.definition, ok: x.ok })),
    },
    registers: r.dump.regs,
    ring: { entriesWritten: tied.entriesWritten, wrapped: lost > 0, lost },
    trace: { events: evs.length, lostEvents },
    times: {
      start: r.start.toISOString(),
      end: end.toISOString(),
      bootMs,
      workloadMs: workloadEnd !== null && bootMs !== null ? workloadEnd - bootMs : null,
      totalMs: end.getTime() - r.start.getTime(),
    },
    files: {
      console: 'guest-console.log.gz',
      ring: 'cmdq.bin.gz',
      registers: 'cmdq.json',
      qemuTrace: 'qemu-trace.log.gz',
      qemuCmdline: 'qemu-cmdline.txt',
    },
  };
  writeFileSync(join(out, 'manifest.json'), JSON.stringify(manifest, null, 1) + '\n');
  p.step(
    `done in ${(manifest.times.totalMs / 1000).toFixed(0)} s: ${tied.requests.length} requests, ${evs.filter((e) => e.name === 'unmap').length} unmaps, ${tied.entriesWritten} ring entries, ${evs.length} trace events`,
  );
  return manifest;
}
