/**
 * QEMU as `capture` drives it: the command line (virt with the SMMUv3, the serial console to a file, QMP on a
 * unix socket, the smmuv3_* trace), the running VM (its exit status and the tail of its stderr), and phase 4:
 * a minimal QMP client that stops the VM, reads the SMMU registers with `xp` and saves the whole command
 * queue with `pmemsave`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { createConnection, type Socket } from 'node:net';
import { join } from 'node:path';
import {
  SMMU_REGISTERS,
  VIRT_SMMU_BASE,
  cmdqOfBase,
  hexOfHalves,
  parseQmpLine,
  parseXp,
  type QmpMessage,
} from '../capture/index.js';
import { sleep, type CaptureOpts, type Progress } from './capture-common.js';
import type { GuestFiles } from './capture-guest.js';
import type { CaptureInputs } from './capture-inputs.js';

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

/** Where the VM's files go, and what it was started with. */
export interface QemuRun {
  readonly consoleLog: string;
  readonly qmpSock: string;
  readonly qemuTrace: string;
  readonly guestCmdline: string;
  /** The command line as written to qemu-cmdline.txt (the work directory shown as WORK). */
  readonly shown: string[];
}

/** The running QEMU: its exit status once it exited, and the last 4000 characters of its stderr. */
export class QemuVm {
  err = '';
  exited: number | null = null;
  private readonly child: ChildProcess;
  constructor(binary: string, args: readonly string[]) {
    this.child = spawn(binary, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    this.child.stderr?.on('data', (d: Buffer) => (this.err = (this.err + d.toString('utf8')).slice(-4000)));
    this.child.on('exit', (code) => (this.exited = code ?? -1));
  }
  kill(): void {
    if (this.exited === null) this.child.kill('SIGKILL');
  }
}

/** Phase 3: write qemu-cmdline.txt and boot (Ctrl-C kills QEMU and exits 130). */
export function bootQemu(
  o: Pick<CaptureOpts, 'stage' | 'smp'>,
  mode: 'strict' | 'lazy',
  inputs: CaptureInputs,
  files: GuestFiles & { work: string; out: string },
  p: Progress,
): { run: QemuRun; vm: QemuVm } {
  const { qemu, accel } = inputs;
  const { work } = files;
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
    inputs.kernel.image,
    '-initrd',
    files.initrd,
    '-append',
    guestCmdline,
    '-drive',
    `if=none,id=d0,file=${files.disk},format=raw`,
    '-device',
    'virtio-blk-pci,drive=d0,iommu_platform=on,disable-legacy=on',
    '-trace',
    `events=${files.events}`,
    '-D',
    qemuTrace,
  ];
  // The temporary work directory is written as WORK (it is gone after the capture).
  const shown = [qemu.binary, ...args].map((a) => a.split(work).join('WORK'));
  writeFileSync(join(files.out, 'qemu-cmdline.txt'), shown.map(shellQuote).join(' ') + '\n');
  p.step(`booting (${accel}${accel === 'tcg' ? ': minutes, one core busy' : ''})`);
  const vm = new QemuVm(qemu.binary, args);
  process.once('SIGINT', () => {
    vm.kill();
    process.exit(130);
  });
  return { run: { consoleLog, qmpSock, qemuTrace, guestCmdline, shown }, vm };
}

/** The command queue as phase 4 read it: the registers (cmdq.json) and the saved ring. */
export interface RingDump {
  readonly regs: Record<string, string | number>;
  readonly log2size: number;
  readonly bytes: number;
  readonly ringFile: string;
}

/** Phase 4: with the VM stopped, read the SMMU registers and save the ring through QMP; then quit QEMU. */
export async function dumpRing(qmpSock: string, work: string, vm: QemuVm, p: Progress): Promise<RingDump> {
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
  for (let i = 0; i < 50 && vm.exited === null; i++) await sleep(200);
  vm.kill();
  return { regs, log2size: q.log2size, bytes: q.bytes, ringFile };
}
