/**
 * The guest side of `capture` as the host sees it: phase 2 writes the initramfs (busybox, the modules, the
 * init script and the workload), the empty disk and QEMU's trace-event list; phase 3's watch follows the
 * guest console until the guest is done, reporting its steps, and gives up (IncompleteCapture) on a timeout,
 * a QEMU exit, a kernel panic or a guest that says it failed.
 */
import {
  closeSync,
  existsSync,
  openSync,
  readFileSync,
  readSync,
  statSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { initScript, writeCpio, type CpioEntry } from '../capture/index.js';
import { IncompleteCapture, sleep, type Progress } from './capture-common.js';
import type { CaptureInputs } from './capture-inputs.js';

/** Per-CPU ftrace buffer (KiB). */
const BUFFER_KB = 49152;

/** The files phase 2 writes into the work directory. */
export interface GuestFiles {
  readonly initrd: string;
  readonly disk: string;
  /** QEMU's -trace events= file. */
  readonly events: string;
}

/** Phase 2: the initramfs, the disk and the trace-event list. */
export function buildGuest(inputs: CaptureInputs, work: string, p: Progress): GuestFiles {
  const { mods, busybox, workload, qemu } = inputs;
  const entries: CpioEntry[] = [
    { kind: 'dir', path: 'bin' },
    { kind: 'dir', path: 'sbin' },
    { kind: 'dir', path: 'dev' },
    { kind: 'char', path: 'dev/console', major: 5, minor: 1 },
    { kind: 'char', path: 'dev/null', major: 1, minor: 3, mode: 0o666 },
    { kind: 'dir', path: 'proc' },
    { kind: 'dir', path: 'sys' },
    { kind: 'dir', path: 'tmp', mode: 0o1777 },
    { kind: 'dir', path: 'lib' },
    { kind: 'dir', path: 'lib/modules' },
    { kind: 'file', path: 'bin/busybox', data: busybox, mode: 0o755 },
    ...mods.map(([n, b]): CpioEntry => ({ kind: 'file', path: `lib/modules/${n}.ko`, data: b })),
    {
      kind: 'file',
      path: 'init',
      mode: 0o755,
      data: Buffer.from(initScript({ modules: mods.map(([n]) => `${n}.ko`), bufferKb: BUFFER_KB, device: '/dev/vda' })),
    },
    { kind: 'file', path: 'workload.sh', data: Buffer.from(workload) },
  ];
  const initrd = join(work, 'initrd.gz');
  writeFileSync(initrd, gzipSync(writeCpio(entries)));
  const disk = join(work, 'disk.img');
  writeFileSync(disk, '');
  truncateSync(disk, 1100 * 1024 * 1024);
  const events = join(work, 'trace-events.txt');
  writeFileSync(events, qemu.traceEvents.join('\n') + '\n');
  p.step(
    `initramfs ${(statSync(initrd).size / 1048576).toFixed(1)} MiB; ${qemu.traceEvents.length} QEMU smmu trace events`,
  );
  return { initrd, disk, events };
}

/** Incremental reader of a growing file, line by line. */
class Tail {
  private off = 0;
  private part = '';
  constructor(private readonly path: string) {}
  lines(): string[] {
    if (!existsSync(this.path)) return [];
    const size = statSync(this.path).size;
    if (size <= this.off) return [];
    const fd = openSync(this.path, 'r');
    const b = Buffer.alloc(Math.min(size - this.off, 64 << 20));
    const n = readSync(fd, b, 0, b.length, this.off);
    closeSync(fd);
    this.off += n;
    const text = this.part + b.subarray(0, n).toString('utf8');
    const ls = text.split('\n');
    this.part = ls.pop() ?? '';
    return ls.map((l) => l.replace(/\r$/, ''));
  }
}

const FAIL_ADVICE: Record<string, string> = {
  'no-kprobe-events': 'use a kernel built with CONFIG_KPROBE_EVENTS=y (Debian kernels are)',
  'no-smmuv3-driver':
    'use a kernel with CONFIG_ARM_SMMU_V3=y, or give --modules with arm_smmu_v3; check the console for the driver probe',
  'probe-failed':
    'the driver functions differ from what capture knows (see the CAPTURE_PROBE lines in guest-console.log)',
  'no-device': 'give --modules with virtio_blk (CONFIG_VIRTIO_BLK=m), or check the console for virtio errors',
};

/** When the guest reached /init and finished its workload (ms since the capture started). */
export interface GuestTimes {
  readonly bootMs: number | null;
  readonly workloadEnd: number | null;
}

/** What the console said so far. */
class ConsoleWatch {
  bootMs: number | null = null;
  workloadEnd: number | null = null;
  done = false;
  failure: string | null = null;
  private probesOk = 0;
  private probesFail = 0;

  constructor(private readonly p: Progress) {}

  line(l: string): void {
    const p = this.p;
    if (l.includes('Linux version ') && this.bootMs === null)
      p.step(`kernel started: ${l.replace(/^\[[^\]]*\]\s*/, '').slice(0, 100)}`);
    if (l.includes('Kernel panic')) this.failure = `kernel panic: ${l}`;
    if (l.startsWith('CAPTURE: kernel ')) {
      this.bootMs = p.elapsed();
      p.step(`/init running (${l.slice(9, 80)})`);
    } else if (l.startsWith('CAPTURE: driver generation')) p.step(l.slice(9));
    else if (l.startsWith('CAPTURE: module')) p.step(l.slice(9));
    else if (l.startsWith('CAPTURE_PROBE ok')) this.probesOk++;
    else if (l.startsWith('CAPTURE_PROBE fail')) {
      this.probesFail++;
      p.step(`probe not set: ${l.slice(19)}`);
    } else if (l.startsWith('CAPTURE_STEP')) {
      if (l.includes('workload start'))
        p.step(`probes set: ${this.probesOk} ok, ${this.probesFail} failed; workload starting`);
      else p.step(`workload: ${l.slice(13)}`);
      if (l.includes('workload end')) this.workloadEnd = p.elapsed();
    } else if (l === 'CAPTURE_TRACE_BEGIN') p.step('printing the guest trace');
    else if (l.startsWith('CAPTURE_FAIL')) this.failure = l.slice(13);
    else if (l === 'CAPTURE_DONE') this.done = true;
  }
}

/** Phase 3 (after the boot): follow the console until CAPTURE_DONE; throws IncompleteCapture on any failure. */
export async function watchGuest(
  vm: { readonly exited: number | null; readonly err: string },
  consoleLog: string,
  timeoutS: number,
  p: Progress,
): Promise<GuestTimes> {
  const tail = new Tail(consoleLog);
  const deadline = Date.now() + timeoutS * 1000;
  const w = new ConsoleWatch(p);
  while (!w.done) {
    if (Date.now() > deadline) {
      const last = readFileSync(consoleLog, 'utf8').split('\n').slice(-3).join(' | ');
      throw new IncompleteCapture(
        `timeout after ${timeoutS} s (${w.bootMs === null ? 'the guest never reached /init' : 'the workload did not finish'}); last console lines: ${last}`,
        'raise --timeout (TCG on a loaded machine can take 15 minutes), or give a smaller --workload',
      );
    }
    if (vm.exited !== null) {
      throw new IncompleteCapture(
        `QEMU exited (status ${vm.exited}) before the guest finished${vm.err ? `: ${vm.err.trim().split('\n').slice(-2).join(' ')}` : ''}`,
        'see guest-console.log for a kernel panic, and the QEMU message above',
      );
    }
    for (const l of tail.lines()) w.line(l);
    if (w.failure !== null && !w.done && w.failure.startsWith('kernel panic'))
      throw new IncompleteCapture(w.failure, 'see guest-console.log');
    if (!w.done) await sleep(1000);
  }
  const gaveUp = w.failure;
  if (gaveUp !== null) {
    const id = gaveUp.split(' ')[0]!;
    throw new IncompleteCapture(`the guest gave up: ${gaveUp}`, FAIL_ADVICE[id] ?? 'see guest-console.log');
  }
  return { bootMs: w.bootMs, workloadEnd: w.workloadEnd };
}
