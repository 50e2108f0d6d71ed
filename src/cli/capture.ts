/**
 * `smmuv3-tlbi capture`: boot an arm64 kernel under qemu-system-aarch64 with the virt machine's SMMUv3, run
 * a DMA workload on a virtio-blk disk behind it, and record what the kernel's SMMUv3 driver did: the guest's
 * trace of requests (kprobes) and of iommu:map/unmap, the whole command-queue ring read from guest memory
 * with the SMMU registers (QMP), QEMU's smmuv3_* trace, and a manifest. Exit 0 complete, 1 the guest ran but
 * the capture is incomplete, 2 unusable input.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { gzipSync } from 'node:zlib';
import type { Command as Program } from 'commander';
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
import { IncompleteCapture, Progress, type CaptureOpts } from './capture-common.js';
import { buildGuest, watchGuest } from './capture-guest.js';
import { checkInputs } from './capture-inputs.js';
import { bootQemu, dumpRing } from './capture-qemu.js';
import { recordManifest, writeCaptureFiles } from './capture-record.js';

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
    return await captureIn(o, { out, work, note }, p, mode, start);
  } finally {
    if (!o.keepWork) rmSync(work, { recursive: true, force: true });
    else p.step(`work files kept in ${work}`);
  }
}

/** The capture's directories: the output, the temporary work directory, and the INCOMPLETE.txt note. */
interface Dirs {
  readonly out: string;
  readonly work: string;
  readonly note: string;
}

async function captureIn(o: CaptureOpts, d: Dirs, p: Progress, mode: 'strict' | 'lazy', start: Date): Promise<number> {
  const { out, work, note } = d;
  // 1. Inputs (exit 2 on anything unusable).
  const inputs = checkInputs(o, work, p);
  // 2. The initramfs and the disk. From here on DIR holds a note until the capture is complete.
  mkdirSync(out, { recursive: true });
  writeFileSync(note, `capture in progress (started ${start.toISOString()}); if this file stays, it did not finish.\n`);
  const files = buildGuest(inputs, work, p);
  // 3. Boot, and follow the console until the guest is done.
  const { run, vm } = bootQemu(o, mode, inputs, { ...files, work, out }, p);
  try {
    const times = await watchGuest(vm, run.consoleLog, o.timeout, p);
    // 4. Read the ring and the registers with the VM stopped.
    const dump = await dumpRing(run.qmpSock, work, vm, p);
    // 5. Files.
    const written = writeCaptureFiles(out, dump, run, p);
    // 6. Is it complete?
    const manifest = recordManifest({ mode, stage: o.stage, inputs, run, dump, times, start }, written, out, p);
    const problems = manifest.problems;
    if (problems.length > 0) {
      writeFileSync(note, `INCOMPLETE capture (${manifest.times.end}):\n${problems.map((x) => `- ${x}`).join('\n')}\n`);
      warn(`capture incomplete: ${problems.join('; ')}`);
    } else rmSync(note, { force: true });
    if (o.json) printJson(manifest as unknown as Record<string, unknown>);
    else process.stdout.write(`${out}\n`);
    return problems.length > 0 ? EXIT_CHECK_FAILED : EXIT_OK;
  } catch (e) {
    vm.kill();
    if (e instanceof UsageError) throw e;
    return failed(e, out, note, run.consoleLog);
  }
}

/** After the guest started: the console so far, a note saying what went wrong and what to do; exit 1. */
function failed(e: unknown, out: string, note: string, consoleLog: string): number {
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
