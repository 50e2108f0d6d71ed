/**
 * The host side of `capture`: turning what the user gave (an Image or Debian packages, a modules tree, a
 * busybox, a QEMU) into files QEMU can boot, and refusing with exit 2 and what to do when they are unusable.
 */
import { execFileSync } from 'node:child_process';
import { accessSync, constants, existsSync, mkdirSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { arch } from 'node:os';
import { basename, delimiter, dirname, join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { DEFAULT_WORKLOAD } from '../capture/index.js';
import type { CaptureOpts, Progress } from './capture-common.js';
import { UsageError } from './common.js';

/** Run a host tool; its stdout as a Buffer (throws UsageError naming the tool when it cannot run). */
export function run(tool: string, args: readonly string[], what: string, maxBuffer = 1 << 30): Buffer {
  try {
    return execFileSync(tool, args, { maxBuffer, stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    const err = e as NodeJS.ErrnoException & { stderr?: Buffer };
    if (err.code === 'ENOENT') throw new UsageError(`${what}: the host tool "${tool}" is not installed`);
    const msg = err.stderr?.toString('utf8').trim().split('\n').slice(-1)[0] ?? err.message;
    throw new UsageError(`${what}: ${tool} failed: ${msg}`);
  }
}

/** Unpack a .deb into dir (dpkg-deb when present, else ar + tar). */
export function extractDeb(deb: string, dir: string): void {
  mkdirSync(dir, { recursive: true });
  try {
    execFileSync('dpkg-deb', ['-x', deb, dir], { stdio: ['ignore', 'ignore', 'pipe'] });
    return;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT')
      throw new UsageError(`${deb}: not a Debian package dpkg-deb can unpack`);
  }
  const list = run('ar', ['t', deb], deb).toString('utf8').split('\n');
  const data = list.find((n) => n.startsWith('data.tar'));
  if (!data) throw new UsageError(`${deb}: no data.tar member: not a Debian package`);
  run('ar', ['x', deb, data], deb);
  run('tar', ['-xf', data, '-C', dir], deb);
}

/** Files under dir whose path matches re (depth-first; at most `limit`). */
export function findFiles(dir: string, re: RegExp, limit = 10000): string[] {
  const out: string[] = [];
  const walk = (d: string): void => {
    if (out.length >= limit || !existsSync(d)) return;
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      const st = statSync(p, { throwIfNoEntry: false });
      if (!st) continue;
      if (st.isDirectory()) walk(p);
      else if (re.test(p)) out.push(p);
      if (out.length >= limit) return;
    }
  };
  walk(dir);
  return out;
}

/** An arm64 Image: "ARM\x64" at byte 0x38 (Documentation/arch/arm64/booting.rst). Gzip is undone. */
export function readImage(path: string): { image: Buffer; release: string | null; pageSize: number | null } {
  let buf: Buffer;
  try {
    buf = readFileSync(path);
  } catch (e) {
    throw new UsageError(`--kernel ${path}: cannot read (${(e as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  if (buf.length > 2 && buf[0] === 0x1f && buf[1] === 0x8b) {
    try {
      buf = gunzipSync(buf);
    } catch {
      throw new UsageError(`--kernel ${path}: gzip data that does not decompress`);
    }
  }
  if (buf.length < 64 || buf.readUInt32LE(0x38) !== 0x644d5241)
    throw new UsageError(
      `--kernel ${path}: not an arm64 Image (no "ARM\\x64" magic at byte 0x38); give the kernel's Image/vmlinuz or its Debian package`,
    );
  // Header flags (byte 0x30, bits 1-2): page size 1 = 4K, 2 = 16K, 3 = 64K.
  const ps = (buf.readUInt32LE(0x30) >>> 1) & 3;
  const pageSize = ps === 1 ? 4096 : ps === 2 ? 16384 : ps === 3 ? 65536 : null;
  const at = buf.indexOf('Linux version ');
  const m = at >= 0 ? /^Linux version (\S+)/.exec(buf.subarray(at, at + 200).toString('latin1')) : null;
  return { image: buf, release: m ? m[1]! : null, pageSize };
}

export interface KernelFiles {
  readonly image: string;
  readonly release: string | null;
  readonly packageName: string | null;
  /** usr/lib/modules/<release> (or lib/modules/<release>) when modules are available. */
  readonly modulesDir: string | null;
  readonly config: Readonly<Record<string, string>> | null;
}

function parseConfig(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const l of text.split('\n')) {
    const m = /^CONFIG_([A-Z0-9_]+)=(.*)$/.exec(l);
    if (m) out[m[1]!] = m[2]!.replace(/^"|"$/g, '');
    const n = /^# CONFIG_([A-Z0-9_]+) is not set/.exec(l);
    if (n) out[n[1]!] = 'n';
  }
  return out;
}

/** Debian package name and version from a .deb file name (name_version_arch.deb). */
function debName(path: string): { name: string; version: string } | null {
  const m = /^([^_]+)_([^_]+)_[^_]+\.deb$/.exec(basename(path));
  return m ? { name: m[1]!, version: decodeURIComponent(m[2]!) } : null;
}

/**
 * Resolve --kernel and --modules: a plain Image, or Debian packages (6.x linux-image with vmlinuz and
 * modules; 7.x split packages: the linux-image metapackage, linux-binary (vmlinuz), linux-modules,
 * linux-base (config) — siblings in the same directory are used when --kernel names one of them).
 */
export function resolveKernel(kernel: string, modules: string | undefined, work: string): KernelFiles {
  if (!existsSync(kernel)) throw new UsageError(`--kernel ${kernel}: no such file`);
  let config: Record<string, string> | null = null;
  let modulesDir: string | null = null;
  let image: string | null = null;
  let pkg: string | null = null;
  const root = join(work, 'kernel');
  if (kernel.endsWith('.deb')) {
    const d = debName(kernel);
    if (!d) throw new UsageError(`--kernel ${kernel}: a .deb named name_version_arch.deb was expected`);
    pkg = `${d.name} ${d.version}`;
    const rel = d.name.replace(/^linux-(image|binary|modules|base)-/, '');
    const dir = dirname(kernel);
    const siblings = readdirSync(dir).filter(
      (f) => f.endsWith('.deb') && /^linux-(image|binary|modules|base)-/.test(f) && f.includes(`-${rel}_`),
    );
    const debs = [...new Set([basename(kernel), ...siblings])];
    for (const f of debs) extractDeb(join(dir, f), root);
    if (!debs.some((f) => f.startsWith('linux-image-'))) pkg = `linux-image-${rel} ${d.version}`;
  } else image = kernel;
  if (image === null) {
    const found = findFiles(root, /\/(boot\/vmlinuz-[^/]+|lib\/modules\/[^/]+\/vmlinuz)$/);
    if (found.length === 0)
      throw new UsageError(
        `--kernel ${kernel}: the package holds no vmlinuz (a 7.x linux-image package is a metapackage: put its linux-binary-*.deb beside it, or give the Image)`,
      );
    image = found[0]!;
  }
  const img = readImage(image);
  const cfg = findFiles(root, /\/(boot\/config-[^/]+|lib\/modules\/[^/]+\/config)$/);
  if (cfg.length > 0) config = parseConfig(readFileSync(cfg[0]!, 'utf8'));
  if (modules !== undefined) {
    if (!existsSync(modules)) throw new UsageError(`--modules ${modules}: no such file or directory`);
    let mroot = modules;
    if (modules.endsWith('.deb')) {
      mroot = join(work, 'modules');
      extractDeb(modules, mroot);
    }
    const kos = findFiles(mroot, /\.ko(\.xz|\.zst|\.gz)?$/, 1);
    if (kos.length === 0) throw new UsageError(`--modules ${modules}: no kernel modules (*.ko, *.ko.xz) under it`);
    modulesDir = mroot;
    if (config === null) {
      const c2 = findFiles(mroot, /\/lib\/modules\/[^/]+\/config$/);
      if (c2.length > 0) config = parseConfig(readFileSync(c2[0]!, 'utf8'));
    }
  } else if (findFiles(root, /\.ko(\.xz|\.zst|\.gz)?$/, 1).length > 0) modulesDir = root;
  return { image, release: img.release, packageName: pkg, modulesDir, config };
}

/** A module's file name → its name as the kernel knows it (dashes are underscores). */
function modName(file: string): string {
  return basename(file)
    .replace(/\.ko(\.xz|\.zst|\.gz)?$/, '')
    .replace(/-/g, '_');
}

/** Decompressed module bytes (xz and zstd through the host tools, gzip through zlib). */
export function readModule(file: string): Buffer {
  if (file.endsWith('.xz')) return run('xz', ['-dc', file], `module ${file}`);
  if (file.endsWith('.zst')) return run('zstd', ['-dc', file], `module ${file}`);
  if (file.endsWith('.gz')) return gunzipSync(readFileSync(file));
  return readFileSync(file);
}

/** The `depends=` of a module's .modinfo. */
export function moduleDepends(ko: Buffer): string[] {
  const at = ko.indexOf('depends=');
  if (at < 0) return [];
  const end = ko.indexOf(0, at);
  const v = ko.subarray(at + 8, end < 0 ? at + 8 : end).toString('latin1');
  return v === '' ? [] : v.split(',').map((x) => x.replace(/-/g, '_'));
}

/** The modules to load for `wanted` (dependencies first), as [name, bytes]; throws naming a missing one. */
export function moduleClosure(modulesDir: string, wanted: readonly string[]): [string, Buffer][] {
  const files = findFiles(modulesDir, /\.ko(\.xz|\.zst|\.gz)?$/);
  const byName = new Map(files.map((f) => [modName(f), f]));
  const out: [string, Buffer][] = [];
  const seen = new Set<string>();
  const visit = (n: string, why: string): void => {
    if (seen.has(n)) return;
    seen.add(n);
    const f = byName.get(n);
    if (!f) throw new UsageError(`--modules: the module ${n} (${why}) is not under ${modulesDir}`);
    const ko = readModule(f);
    for (const d of moduleDepends(ko)) visit(d, `needed by ${n}`);
    out.push([n, ko]);
  };
  for (const w of wanted) visit(w, 'needed for the capture');
  return out;
}

/** A static arm64 busybox (ELF64, e_machine 183 = AArch64, no PT_INTERP), from a binary or the .deb. */
export function resolveBusybox(path: string, work: string): Buffer {
  if (!existsSync(path)) throw new UsageError(`--busybox ${path}: no such file`);
  let file = path;
  if (path.endsWith('.deb')) {
    const dir = join(work, 'busybox');
    extractDeb(path, dir);
    const f = findFiles(dir, /\/bin\/busybox$/);
    if (f.length === 0) throw new UsageError(`--busybox ${path}: the package holds no bin/busybox`);
    file = f[0]!;
  }
  const b = readFileSync(file);
  if (b.length < 64 || b.readUInt32BE(0) !== 0x7f454c46 || b[4] !== 2 || b.readUInt16LE(18) !== 183)
    throw new UsageError(`--busybox ${path}: not an arm64 (AArch64 ELF64) executable`);
  const phoff = Number(b.readBigUInt64LE(0x20));
  const phentsize = b.readUInt16LE(0x36);
  const phnum = b.readUInt16LE(0x38);
  for (let k = 0; k < phnum; k++)
    if (b.readUInt32LE(phoff + k * phentsize) === 3)
      throw new UsageError(
        `--busybox ${path}: dynamically linked; a static busybox is needed (Debian: busybox-static)`,
      );
  return b;
}

/** The first executable named `name` in PATH, or null. */
export function which(name: string): string | null {
  for (const d of (process.env.PATH ?? '').split(delimiter)) {
    if (d === '') continue;
    const p = join(d, name);
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      // next
    }
  }
  return null;
}

export interface QemuInfo {
  readonly binary: string;
  readonly version: string;
  readonly major: number;
  readonly minor: number;
  /** smmuv3_* / smmu_* trace events the binary knows. */
  readonly traceEvents: string[];
  readonly hasStageProperty: boolean;
}

export function probeQemu(given: string | undefined): QemuInfo {
  const binary = given ?? which('qemu-system-aarch64');
  if (binary === null)
    throw new UsageError(
      'no qemu-system-aarch64 in PATH: install it (Debian/Ubuntu: apt-get install qemu-system-arm) or give --qemu PATH',
    );
  if (!existsSync(binary)) throw new UsageError(`--qemu ${binary}: no such file`);
  const v = run(binary, ['--version'], `--qemu ${binary}`).toString('utf8');
  const m = /version (\d+)\.(\d+)(\.\d+)?/.exec(v);
  if (!m) throw new UsageError(`--qemu ${binary}: "--version" did not print a QEMU version`);
  const help = run(binary, ['-trace', 'help'], `--qemu ${binary}`).toString('utf8');
  const traceEvents = help
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => /^smmu(v3)?_[a-z0-9_]+$/.test(l));
  let hasStageProperty: boolean;
  try {
    const dev = execFileSync(binary, ['-M', 'virt', '-device', 'arm-smmuv3,help'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    }).toString('utf8');
    hasStageProperty = /\bstage\b/.test(dev);
  } catch {
    hasStageProperty = false; // this QEMU cannot describe the device: treat it as stage 1 only
  }
  return {
    binary,
    version: `${m[1]}.${m[2]}${m[3] ?? ''}`,
    major: Number(m[1]),
    minor: Number(m[2]),
    traceEvents,
    hasStageProperty,
  };
}

/** KVM only on an arm64 host whose /dev/kvm can be opened read-write. */
export function kvmUsable(): boolean {
  if (arch() !== 'arm64') return false;
  try {
    accessSync('/dev/kvm', constants.R_OK | constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

/** What phase 1 of `capture` found usable: the kernel, its modules, busybox, the workload, QEMU and accel. */
export interface CaptureInputs {
  readonly kernel: KernelFiles;
  /** Modules to load in the guest, in load order: [name, contents]. */
  readonly mods: [string, Buffer][];
  readonly busybox: Buffer;
  readonly workload: string;
  readonly qemu: QemuInfo;
  readonly accel: 'kvm' | 'tcg';
}

/** The kernel must have the SMMUv3 driver and kprobe events; modules it needs must come with --modules. */
function kernelModules(k: KernelFiles): [string, Buffer][] {
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
  return wanted.length > 0 ? moduleClosure(k.modulesDir!, wanted) : [];
}

/** Phase 1 of `capture`: every input resolved and checked (exit 2 on anything unusable). */
export function checkInputs(
  o: Pick<CaptureOpts, 'kernel' | 'modules' | 'busybox' | 'workload' | 'qemu' | 'stage'>,
  work: string,
  p: Progress,
): CaptureInputs {
  p.step('checking inputs');
  const k: KernelFiles = resolveKernel(o.kernel!, o.modules, work);
  const mods = kernelModules(k);
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
  return { kernel: k, mods, busybox, workload, qemu, accel };
}
