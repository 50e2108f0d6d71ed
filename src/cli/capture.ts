/**
 * `smmuv3-tlbi capture`: boot an arm64 kernel under qemu-system-aarch64 with the virt machine's SMMUv3, run
 * a DMA workload on a virtio-blk disk behind it, and record what the kernel's SMMUv3 driver did: the guest's
 * trace of requests (kprobes) and of iommu:map/unmap, the whole command-queue ring read from guest memory
 * with the SMMU registers (QMP), QEMU's smmuv3_* trace, and a manifest. Exit 0 complete, 1 the guest ran but
 * the capture is incomplete, 2 unusable input.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import {
  closeSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  readSync,
  rmSync,
  statSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import { createConnection, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { gzipSync } from 'node:zlib';
import type { Command as Program } from 'commander';
import {
  DEFAULT_WORKLOAD,
  SMMU_REGISTERS,
  VIRT_SMMU_BASE,
  cmdqOfBase,
  hexOfHalves,
  initScript,
  parseConsole,
  parseQmpLine,
  parseTrace,
  parseXp,
  tieRequests,
  writeCpio,
  type CpioEntry,
  type Manifest,
  type QmpMessage,
} from '../capture/index.js';
import { halvesFromBytes } from '../cmdq/index.js';
import {
  EXIT_CHECK_FAILED,
  EXIT_OK,
  UsageError,
  action,
  choiceOption,
  printJson,
  uintOption,
  warn,
  withExamples,
} from './common.js';
import {
  kvmUsable,
  moduleClosure,
  probeQemu,
  resolveBusybox,
  resolveKernel,
  type KernelFiles,
} from './capture-inputs.js';

interface CaptureOpts {
  kernel?: string;
  modules?: string;
  qemu?: string;
  busybox?: string;
  strict?: boolean;
  lazy?: boolean;
  stage: '1' | '2';
  workload: string;
  timeout: number;
  out?: string;
  smp: number;
  json?: boolean;
  keepWork?: boolean;
}

const TOOL = 'smmuv3-tlbi capture';
/** Per-CPU ftrace buffer (KiB). */
const BUFFER_KB = 49152;

class Progress {
  private readonly t0 = Date.now();
  step(text: string): void {
    const s = ((Date.now() - this.t0) / 1000).toFixed(0).padStart(4);
    process.stderr.write(`[capture ${s}s] ${text}\n`);
  }
  elapsed(): number {
    return Date.now() - this.t0;
  }
}

/** A failure after the guest started: exit 1 with what to do, and a note in the output directory. */
class IncompleteCapture extends Error {
  constructor(
    message: string,
    readonly advice: string,
  ) {
    super(message);
  }
}

function shellQuote(a: string): string {
  return /^[A-Za-z0-9_./:=,+-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`;
}

/** A minimal QMP client over a unix socket: one command at a time. */
class Qmp {
  private buf = '';
  private waiting: ((m: QmpMessage) => void) | null = null;
  private readonly queue: QmpMessage[] = [];
  constructor(private readonly sock: Socket) {
    sock.setEncoding('utf8');
    sock.on('data', (d: string) => {
      this.buf += d;
      for (let i = this.buf.indexOf('\n'); i >= 0; i = this.buf.indexOf('\n')) {
        const line = this.buf.slice(0, i).trim();
        this.buf = this.buf.slice(i + 1);
        if (line === '') continue;
        const m = parseQmpLine(line);
        if (m.kind === 'event') continue;
        if (this.waiting) {
          const w = this.waiting;
          this.waiting = null;
          w(m);
        } else this.queue.push(m);
      }
    });
  }
  static connect(path: string, timeoutMs: number): Promise<Qmp> {
    return new Promise((res, rej) => {
      const s = createConnection(path);
      const t = setTimeout(() => {
        s.destroy();
        rej(new Error('QMP: no connection'));
      }, timeoutMs);
      s.once('connect', () => {
        clearTimeout(t);
        res(new Qmp(s));
      });
      s.once('error', (e) => {
        clearTimeout(t);
        rej(e);
      });
    });
  }
  next(timeoutMs = 60000): Promise<QmpMessage> {
    const q = this.queue.shift();
    if (q) return Promise.resolve(q);
    return new Promise((res, rej) => {
      const t = setTimeout(() => rej(new Error('QMP: no reply')), timeoutMs);
      this.waiting = (m) => {
        clearTimeout(t);
        res(m);
      };
    });
  }
  async exec(command: string, args?: Record<string, unknown>): Promise<unknown> {
    this.sock.write(JSON.stringify(args ? { execute: command, arguments: args } : { execute: command }) + '\n');
    const m = await this.next();
    if (m.kind === 'error') throw new Error(`QMP ${command}: ${m.errorClass}: ${m.desc}`);
    if (m.kind !== 'return') throw new Error(`QMP ${command}: unexpected reply`);
    return m.value;
  }
  async hmp(line: string): Promise<string> {
    const v = await this.exec('human-monitor-command', { 'command-line': line });
    return typeof v === 'string' ? v : '';
  }
  close(): void {
    this.sock.destroy();
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
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

export function registerCapture(program: Program): void {
  const cmd = program
    .command('capture')
    .description(
      'Boot an arm64 kernel under qemu-system-aarch64 -M virt,iommu=smmuv3 and record what its SMMUv3 driver did: the ' +
        'whole command-queue ring and the SMMU registers (read through QMP), the guest trace of invalidation requests ' +
        "(kprobes chosen from the running kernel's symbols) and of iommu:map/unmap, QEMU's smmuv3_* trace, and a " +
        'manifest. KVM on an arm64 host with /dev/kvm, TCG otherwise. Then run `audit --capture DIR`. Exit 0 complete, ' +
        '1 the capture is incomplete (a note in DIR says why), 2 unusable input.',
    )
    .option(
      '--kernel <path>',
      'arm64 Image/vmlinuz, or a Debian linux-image/linux-binary .deb (7.x split parts beside it)',
    )
    .option('--modules <path>', 'kernel modules: a directory (lib/modules/<release>) or the linux-modules .deb')
    .option('--qemu <path>', 'qemu-system-aarch64 binary (default: from PATH)')
    .option('--busybox <path>', 'a static arm64 busybox, or the busybox-static .deb')
    .option('--strict', 'iommu.strict=1: invalidate at every unmap (default)')
    .option('--lazy', 'iommu.strict=0: the flush queue (whole-ASID flushes)')
    .option(
      '--stage <n>',
      'SMMU stage for QEMU (2 needs a QEMU whose arm-smmuv3 has the stage property)',
      choiceOption('--stage', ['1', '2'] as const),
      '1',
    )
    .option(
      '--workload <default|file>',
      'shell script run in the guest with $DEV (the disk) and `step TEXT`',
      'default',
    )
    .option('--timeout <seconds>', 'give up after this long', uintOption('--timeout', { min: 1, max: 86400 }), 1800)
    .option('--smp <n>', 'guest CPUs', uintOption('--smp', { min: 1, max: 64 }), 2)
    .option('--out <dir>', 'output directory (created; must be empty or absent)')
    .option('--json', 'print the manifest as one JSON document on stdout')
    .option('--keep-work', 'keep the work files (initramfs, disk image, raw logs) in the temporary directory')
    .action(
      action(async (o: CaptureOpts) => {
        if (!o.kernel) throw new UsageError('--kernel is required (an arm64 Image or a Debian linux-image .deb)');
        if (!o.out) throw new UsageError('--out is required (the capture directory)');
        if (o.strict && o.lazy) throw new UsageError('--strict and --lazy: give one');
        if (o.smp < 1 || o.smp > 8) throw new UsageError('--smp: 1 to 8');
        const out = resolve(o.out);
        if (existsSync(out) && !statSync(out).isDirectory())
          throw new UsageError(`--out ${o.out}: exists and is not a directory`);
        if (existsSync(join(out, 'manifest.json')) || existsSync(join(out, 'cmdq.bin.gz')))
          throw new UsageError(`--out ${o.out}: already holds a capture; give a new directory`);
        return runCapture(o, out);
      }),
    );
  withExamples(
    cmd,
    'smmuv3-tlbi capture --kernel debs/linux-image-7.3.4+deb13-arm64_7.3.4-1~bpo13+1_arm64.deb --busybox debs/busybox-static_1.37.0-6+b9_arm64.deb --out cap  # needs the kernel and busybox packages (scripts/fetch-arm64-debs.sh) and qemu-system-aarch64',
    'smmuv3-tlbi capture --kernel Image --modules /lib/modules/7.3.4+deb13-arm64 --busybox busybox --lazy --out cap-lazy  # needs an arm64 kernel, its modules, busybox and qemu-system-aarch64',
    'smmuv3-tlbi audit --capture samples/linux-7.3-qemu-7.2-capture-strict  # a capture kept in the repository',
  );
}

async function runCapture(o: CaptureOpts, out: string): Promise<number> {
  const p = new Progress();
  const mode: 'strict' | 'lazy' = o.lazy ? 'lazy' : 'strict';
  const work = mkdtempSync(join(tmpdir(), 'smmuv3-capture-'));
  const note = join(out, 'INCOMPLETE.txt');
  const start = new Date();
  try {
    return await captureIn(o, out, work, note, p, mode, start);
  } finally {
    if (!o.keepWork) rmSync(work, { recursive: true, force: true });
    else p.step(`work files kept in ${work}`);
  }
}

async function captureIn(
  o: CaptureOpts,
  out: string,
  work: string,
  note: string,
  p: Progress,
  mode: 'strict' | 'lazy',
  start: Date,
): Promise<number> {
  // 1. Inputs (exit 2 on anything unusable).
  p.step('checking inputs');
  const k: KernelFiles = resolveKernel(o.kernel!, o.modules, work);
  const cfg = k.config;
  if (cfg) {
    if (cfg.ARM_SMMU_V3 !== 'y' && cfg.ARM_SMMU_V3 !== 'm')
      throw new UsageError(
        `--kernel: CONFIG_ARM_SMMU_V3 is ${cfg.ARM_SMMU_V3 ?? 'not set'}: the kernel has no SMMUv3 driver`,
      );
    if (cfg.KPROBE_EVENTS !== 'y')
      throw new UsageError(
        `--kernel: CONFIG_KPROBE_EVENTS is ${cfg.KPROBE_EVENTS ?? 'not set'}: the guest cannot set kprobes`,
      );
  }
  const wanted: string[] = [];
  for (const [opt, mod] of [
    ['ARM_SMMU_V3', 'arm_smmu_v3'],
    ['VIRTIO_PCI', 'virtio_pci'],
    ['VIRTIO_BLK', 'virtio_blk'],
  ] as const)
    if (cfg?.[opt] === 'm') wanted.push(mod);
  if (wanted.length > 0 && k.modulesDir === null)
    throw new UsageError(
      `--modules: ${wanted.join(', ')} ${wanted.length > 1 ? 'are modules' : 'is a module'} in this kernel (CONFIG_${wanted.map((w) => w.toUpperCase()).join('=m, CONFIG_')}=m); give --modules DIR or the linux-modules .deb`,
    );
  const mods = wanted.length > 0 ? moduleClosure(k.modulesDir!, wanted) : [];
  if (!o.busybox)
    throw new UsageError(
      '--busybox is required: a static arm64 busybox or the busybox-static .deb (scripts/fetch-arm64-debs.sh fetches one)',
    );
  const busybox = resolveBusybox(o.busybox, work);
  let workload = DEFAULT_WORKLOAD;
  if (o.workload !== 'default') {
    if (!existsSync(o.workload)) throw new UsageError(`--workload ${o.workload}: no such file`);
    workload = readFileSync(o.workload, 'utf8');
  }
  const qemu = probeQemu(o.qemu);
  if (o.stage === '2' && !qemu.hasStageProperty)
    throw new UsageError(
      `--stage 2: QEMU ${qemu.version}'s arm-smmuv3 has no "stage" property (stage 1 only); use QEMU 9.x or later`,
    );
  const accel = kvmUsable() ? 'kvm' : 'tcg';
  p.step(
    `kernel ${k.release ?? '(release unknown)'}${k.packageName ? ` from ${k.packageName}` : ''}; QEMU ${qemu.version} (${accel}); ${mods.length} module(s)${mods.length ? ': ' + mods.map((m) => m[0]).join(' ') : ''}`,
  );

  // 2. The initramfs and the disk. From here on DIR holds a note until the capture is complete.
  mkdirSync(out, { recursive: true });
  writeFileSync(note, `capture in progress (started ${start.toISOString()}); if this file stays, it did not finish.\n`);
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

  // 3. Boot.
  const consoleLog = join(work, 'console.log');
  const qmpSock = join(work, 'qmp.sock');
  const qemuTrace = join(work, 'qemu-trace.log');
  const guestCmdline = `console=ttyAMA0 nokaslr panic=-1 iommu.strict=${mode === 'strict' ? 1 : 0} rdinit=/init`;
  const machine =
    o.stage === '2' ? (qemu.major > 9 || (qemu.major === 9 && qemu.minor >= 2) ? 'virt-9.1' : 'virt') : 'virt';
  const args = [
    '-M',
    `${machine},iommu=smmuv3`,
    ...(o.stage === '2' ? ['-global', 'arm-smmuv3.stage=2'] : []),
    '-accel',
    accel,
    '-cpu',
    accel === 'kvm' ? 'host' : 'max,pauth-impdef=on',
    '-smp',
    String(o.smp),
    '-m',
    '3G',
    '-display',
    'none',
    '-nic',
    'none',
    '-no-reboot',
    '-monitor',
    'none',
    '-serial',
    `file:${consoleLog}`,
    '-qmp',
    `unix:${qmpSock},server=on,wait=off`,
    '-kernel',
    k.image,
    '-initrd',
    initrd,
    '-append',
    guestCmdline,
    '-drive',
    `if=none,id=d0,file=${disk},format=raw`,
    '-device',
    'virtio-blk-pci,drive=d0,iommu_platform=on,disable-legacy=on',
    '-trace',
    `events=${events}`,
    '-D',
    qemuTrace,
  ];
  // The temporary work directory is written as WORK (it is gone after the capture).
  const shown = [qemu.binary, ...args].map((a) => a.split(work).join('WORK'));
  writeFileSync(join(out, 'qemu-cmdline.txt'), shown.map(shellQuote).join(' ') + '\n');
  p.step(`booting (${accel}${accel === 'tcg' ? ': minutes, one core busy' : ''})`);
  const child: ChildProcess = spawn(qemu.binary, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let qemuErr = '';
  child.stderr?.on('data', (d: Buffer) => (qemuErr = (qemuErr + d.toString('utf8')).slice(-4000)));
  const st: { exited: number | null } = { exited: null };
  child.on('exit', (code) => (st.exited = code ?? -1));
  const kill = (): void => {
    if (st.exited === null) child.kill('SIGKILL');
  };
  process.once('SIGINT', () => {
    kill();
    process.exit(130);
  });

  const tail = new Tail(consoleLog);
  const deadline = Date.now() + o.timeout * 1000;
  let bootMs: number | null = null;
  let workloadEnd: number | null = null;
  let probesOk = 0;
  let probesFail = 0;
  let done = false;
  let failure: string | null = null;
  try {
    while (!done) {
      if (Date.now() > deadline) {
        const last = readFileSync(consoleLog, 'utf8').split('\n').slice(-3).join(' | ');
        throw new IncompleteCapture(
          `timeout after ${o.timeout} s (${bootMs === null ? 'the guest never reached /init' : 'the workload did not finish'}); last console lines: ${last}`,
          'raise --timeout (TCG on a loaded machine can take 15 minutes), or give a smaller --workload',
        );
      }
      if (st.exited !== null) {
        throw new IncompleteCapture(
          `QEMU exited (status ${st.exited}) before the guest finished${qemuErr ? `: ${qemuErr.trim().split('\n').slice(-2).join(' ')}` : ''}`,
          'see guest-console.log for a kernel panic, and the QEMU message above',
        );
      }
      for (const l of tail.lines()) {
        if (l.includes('Linux version ') && bootMs === null)
          p.step(`kernel started: ${l.replace(/^\[[^\]]*\]\s*/, '').slice(0, 100)}`);
        if (l.includes('Kernel panic')) failure = `kernel panic: ${l}`;
        if (l.startsWith('CAPTURE: kernel ')) {
          bootMs = p.elapsed();
          p.step(`/init running (${l.slice(9, 80)})`);
        } else if (l.startsWith('CAPTURE: driver generation')) p.step(l.slice(9));
        else if (l.startsWith('CAPTURE: module')) p.step(l.slice(9));
        else if (l.startsWith('CAPTURE_PROBE ok')) probesOk++;
        else if (l.startsWith('CAPTURE_PROBE fail')) {
          probesFail++;
          p.step(`probe not set: ${l.slice(19)}`);
        } else if (l.startsWith('CAPTURE_STEP')) {
          if (l.includes('workload start'))
            p.step(`probes set: ${probesOk} ok, ${probesFail} failed; workload starting`);
          else p.step(`workload: ${l.slice(13)}`);
          if (l.includes('workload end')) workloadEnd = p.elapsed();
        } else if (l === 'CAPTURE_TRACE_BEGIN') p.step('printing the guest trace');
        else if (l.startsWith('CAPTURE_FAIL')) failure = l.slice(13);
        else if (l === 'CAPTURE_DONE') done = true;
      }
      if (failure !== null && !done && failure.startsWith('kernel panic'))
        throw new IncompleteCapture(failure, 'see guest-console.log');
      if (!done) await sleep(1000);
    }
    const gaveUp = failure as string | null;
    if (gaveUp !== null) {
      const id = gaveUp.split(' ')[0]!;
      throw new IncompleteCapture(`the guest gave up: ${gaveUp}`, FAIL_ADVICE[id] ?? 'see guest-console.log');
    }

    // 4. Read the ring and the registers with the VM stopped.
    p.step('guest done; stopping the VM and reading the SMMU registers and the ring through QMP');
    const qmp = await Qmp.connect(qmpSock, 10000);
    const greet = await qmp.next();
    if (greet.kind !== 'greeting') throw new Error('QMP: no greeting');
    await qmp.exec('qmp_capabilities');
    await qmp.exec('stop');
    const regs: Record<string, string | number> = {};
    for (const r of SMMU_REGISTERS) {
      const addr = VIRT_SMMU_BASE + r.offset;
      const text = await qmp.hmp(`xp /1${r.bytes === 8 ? 'g' : 'w'}x 0x${addr.toString(16)}`);
      const v = parseXp(text)[0];
      if (!v || v.addr !== addr) throw new Error(`xp 0x${addr.toString(16)}: unexpected reply "${text.trim()}"`);
      regs[r.name] = hexOfHalves(v.lo, r.bytes === 8 ? v.hi : 0);
    }
    const baseV = parseXp(await qmp.hmp(`xp /1gx 0x${(VIRT_SMMU_BASE + 0x90).toString(16)}`))[0]!;
    const q = cmdqOfBase(baseV.lo, baseV.hi);
    regs.base = '0x' + q.base.toString(16);
    regs.log2size = q.log2size;
    regs.bytes = q.bytes;
    const ringFile = join(work, 'cmdq.bin');
    await qmp.exec('pmemsave', { val: q.base, size: q.bytes, filename: ringFile });
    try {
      await qmp.exec('quit');
    } catch {
      // QEMU may close the socket before replying
    }
    qmp.close();
    for (let i = 0; i < 50 && st.exited === null; i++) await sleep(200);
    kill();

    // 5. Files.
    p.step('writing the capture');
    const ring = readFileSync(ringFile);
    if (ring.length !== q.bytes) throw new Error(`pmemsave wrote ${ring.length} bytes, not ${q.bytes}`);
    const consoleText = readFileSync(consoleLog, 'utf8');
    writeFileSync(join(out, 'cmdq.bin.gz'), gzipSync(ring));
    writeFileSync(join(out, 'cmdq.json'), JSON.stringify(regs, null, 1) + '\n');
    writeFileSync(join(out, 'guest-console.log.gz'), gzipSync(consoleText));
    writeFileSync(
      join(out, 'qemu-trace.log.gz'),
      gzipSync(existsSync(qemuTrace) ? readFileSync(qemuTrace) : Buffer.alloc(0)),
    );

    // 6. Is it complete?
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
      log2size: q.log2size,
      ring: halvesFromBytes(new Uint8Array(ring.buffer, ring.byteOffset, ring.length)),
      prod: Number(regs.CMDQ_PROD),
      pageSize: 4096,
    });
    const size = 2 ** q.log2size;
    const lost = Math.max(0, tied.entriesWritten - size);
    if (lost > 0)
      problems.push(
        `the ring wrapped during the run: ${lost} of ${tied.entriesWritten} entries were overwritten before the dump; give a smaller --workload`,
      );
    if (tied.requests.length === 0) problems.push('the trace holds no invalidation request (did the workload do DMA?)');
    const pageFact = con.facts.map((f) => /^page size (\d+)/.exec(f)).find((m) => m);
    const genFact = con.facts.map((f) => /^driver generation (\S+)/.exec(f)).find((m) => m);
    const end = new Date();
    const manifest: Manifest = {
      schemaVersion: 1,
      tool: TOOL,
      complete: problems.length === 0,
      problems,
      mode,
      stage: o.stage === '2' ? 2 : 1,
      kernel: {
        release: k.release,
        version: con.linuxVersion,
        package: k.packageName,
        pageSize: pageFact ? Number(pageFact[1]) : 4096,
        config: Object.fromEntries(
          [
            'ARM_SMMU_V3',
            'KPROBE_EVENTS',
            'IOMMU_DEFAULT_DMA_STRICT',
            'IOMMU_DEFAULT_DMA_LAZY',
            'VIRTIO_BLK',
            'VIRTIO_PCI',
            'ARM64_4K_PAGES',
            'ARM64_16K_PAGES',
            'ARM64_64K_PAGES',
          ]
            .filter((x) => cfg?.[x] !== undefined)
            .map((x) => [x, cfg![x]!]),
        ),
      },
      qemu: { version: qemu.version, accel, cmdline: shown },
      guestCmdline,
      driver: {
        generation: genFact ? genFact[1]! : null,
        probes: con.probes.map((x) => ({ definition: x.definition, ok: x.ok })),
      },
      registers: regs,
      ring: { entriesWritten: tied.entriesWritten, wrapped: lost > 0, lost },
      trace: { events: evs.length, lostEvents },
      times: {
        start: start.toISOString(),
        end: end.toISOString(),
        bootMs,
        workloadMs: workloadEnd !== null && bootMs !== null ? workloadEnd - bootMs : null,
        totalMs: end.getTime() - start.getTime(),
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
    if (problems.length > 0) {
      writeFileSync(note, `INCOMPLETE capture (${end.toISOString()}):\n${problems.map((x) => `- ${x}`).join('\n')}\n`);
      warn(`capture incomplete: ${problems.join('; ')}`);
    } else rmSync(note, { force: true });
    if (o.json) printJson(manifest as unknown as Record<string, unknown>);
    else process.stdout.write(`${out}\n`);
    return problems.length > 0 ? EXIT_CHECK_FAILED : EXIT_OK;
  } catch (e) {
    kill();
    if (e instanceof UsageError) throw e;
    const inc = e instanceof IncompleteCapture;
    const msg = inc ? e.message : `capture failed: ${(e as Error).message}`;
    const advice = inc ? e.advice : 'see guest-console.log';
    if (existsSync(consoleLog)) writeFileSync(join(out, 'guest-console.log.gz'), gzipSync(readFileSync(consoleLog)));
    writeFileSync(
      note,
      `INCOMPLETE capture (${new Date().toISOString()}): ${msg}\nWhat to do: ${advice}\nFiles here are partial: guest-console.log.gz is the console up to the failure.\n`,
    );
    warn(`error: ${msg}`);
    warn(`what to do: ${advice}`);
    return EXIT_CHECK_FAILED;
  }
}
