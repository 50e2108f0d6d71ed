/**
 * The guest side of a capture: the `/init` script (busybox sh) of the initramfs `capture` builds, and the
 * kprobe definitions it chooses from by the running kernel's symbols.
 *
 * Two driver generations (see the capture notes and linux-invalidation.md):
 * - `legacy` (Linux 6.1 … 7.0): requests are `__arm_smmu_tlb_inv_range(cmd, iova, size, granule, smmu_domain)`
 *   (ASID at cmd+10, VMID at cmd+12, leaf at cmd+14); command lists `arm_smmu_cmdq_issue_cmdlist(smmu, cmdq,
 *   cmds, n, sync)` from 6.12 (x2/x3/x4) and `(smmu, cmds, n, sync)` before (x1/x2/x3).
 * - `invs` (Linux 7.3): requests are `arm_smmu_domain_inv_range(smmu_domain, iova, size, granule, leaf)`, each
 *   invalidation-array entry goes through `arm_smmu_inv_to_cmdq_batch(inv, …)` (struct arm_smmu_inv: type +8,
 *   size_opcode +9, nsize_opcode +10, id +12, pgsize log2 +16, users +24), and the command list is the inner
 *   `__arm_smmu_cmdq_issue_cmdlist(smmu, cmdq, cmds, n, sync)`.
 * Both: the slots `arm_smmu_cmdq_write_entries(cmdq, cmds, prod, n)`, table frees `arm_smmu_tlb_inv_walk`,
 * the flush-queue flush `arm_smmu_tlb_inv_context`, the return of the command-list function (0 = its CMD_SYNC
 * completed), entry and return of the DMA unmap call (`__iommu_dma_unmap`, or `iommu_dma_unmap_page` and
 * `iommu_dma_unmap_sg` where it is inlined), `iommu_unmap`, and `free_iova_fast` (the IOVA returned to the
 * allocator: the end of a lazy unmap's life).
 */

export type DriverGeneration = 'legacy' | 'invs';

export interface ProbeSpec {
  /** Event name (group `smmu`). */
  readonly event: string;
  readonly type: 'p' | 'r';
  readonly symbol: string;
  readonly args: string;
  /** Kernels this definition is for: generation, and for the command list the 6.12 signature change. */
  readonly generation: DriverGeneration | 'any';
  readonly minVersion?: readonly [number, number];
  readonly maxVersion?: readonly [number, number];
  /** The capture is incomplete without it (else it is evidence that makes verdicts stronger). */
  readonly required: boolean;
}

const WR = 'prod=%x2:x32 n=%x3:s32 w0=+0(%x1):x64 w1=+8(%x1):x64';

/** Every probe the guest may set, in the order it tries them. */
export const PROBES: readonly ProbeSpec[] = [
  // invs generation
  {
    event: 'req7',
    type: 'p',
    symbol: 'arm_smmu_domain_inv_range',
    args: 'dom=%x0:x64 iova=%x1:x64 size=%x2:x64 granule=%x3:u32 leaf=%x4:u8',
    generation: 'invs',
    required: true,
  },
  {
    event: 'invs',
    type: 'p',
    symbol: '__arm_smmu_domain_inv_range',
    args: 'invs=%x0:x64 ninv=+8(%x0):u64 ats=+32(%x0):u8 iova=%x1:x64 size=%x2:x64 granule=%x3:u32 leaf=%x4:u8',
    generation: 'invs',
    required: false,
  },
  {
    event: 'inv',
    type: 'p',
    symbol: 'arm_smmu_inv_to_cmdq_batch',
    args: 'inv=%x0:x64 type=+8(%x0):u8 sop=+9(%x0):u8 nop=+10(%x0):u8 id=+12(%x0):u32 pg=+16(%x0):u64 users=+24(%x0):s32 leaf=%x3:u8 iova=%x4:x64 size=%x5:x64 granule=%x6:u32',
    generation: 'invs',
    required: true,
  },
  {
    event: 'cmdlist',
    type: 'p',
    symbol: '__arm_smmu_cmdq_issue_cmdlist',
    args: 'cmdq=%x1:x64 n=%x3:s32 sync=%x4:u8',
    generation: 'invs',
    required: true,
  },
  {
    event: 'cmdlist_ret',
    type: 'r',
    symbol: '__arm_smmu_cmdq_issue_cmdlist',
    args: 'ret=$retval:s32',
    generation: 'invs',
    required: false,
  },
  // legacy generation
  {
    event: 'req',
    type: 'p',
    symbol: '__arm_smmu_tlb_inv_range',
    args: 'op=+0(%x0):u8 asid=+10(%x0):u16 vmid=+12(%x0):u16 leaf=+14(%x0):u8 iova=%x1:x64 size=%x2:x64 granule=%x3:x64 dom=%x4:x64',
    generation: 'legacy',
    required: true,
  },
  {
    event: 'cmdlist',
    type: 'p',
    symbol: 'arm_smmu_cmdq_issue_cmdlist',
    args: 'cmdq=%x1:x64 n=%x3:s32 sync=%x4:u8',
    generation: 'legacy',
    minVersion: [6, 12],
    required: true,
  },
  {
    event: 'cmdlist',
    type: 'p',
    symbol: 'arm_smmu_cmdq_issue_cmdlist',
    args: 'n=%x2:s32 sync=%x3:u8',
    generation: 'legacy',
    maxVersion: [6, 11],
    required: true,
  },
  {
    event: 'cmdlist_ret',
    type: 'r',
    symbol: 'arm_smmu_cmdq_issue_cmdlist',
    args: 'ret=$retval:s32',
    generation: 'legacy',
    required: false,
  },
  {
    event: 'inv_asid',
    type: 'p',
    symbol: 'arm_smmu_tlb_inv_asid',
    args: 'asid=%x1:u16',
    generation: 'legacy',
    required: false,
  },
  // both
  { event: 'wr', type: 'p', symbol: 'arm_smmu_cmdq_write_entries', args: WR, generation: 'any', required: true },
  {
    event: 'inv_walk',
    type: 'p',
    symbol: 'arm_smmu_tlb_inv_walk',
    args: 'iova=%x0:x64 size=%x1:x64 granule=%x2:x64',
    generation: 'any',
    required: false,
  },
  {
    event: 'inv_ctx',
    type: 'p',
    symbol: 'arm_smmu_tlb_inv_context',
    args: 'dom=%x0:x64',
    generation: 'any',
    required: false,
  },
  {
    event: 'unmap_call',
    type: 'p',
    symbol: '__iommu_dma_unmap',
    args: 'iova=%x1:x64 size=%x2:x64',
    generation: 'any',
    required: false,
  },
  { event: 'unmap_ret', type: 'r', symbol: '__iommu_dma_unmap', args: '', generation: 'any', required: false },
  {
    event: 'unmap_call2',
    type: 'p',
    symbol: 'iommu_unmap',
    args: 'iova=%x1:x64 size=%x2:x64',
    generation: 'any',
    required: false,
  },
  {
    event: 'unmap_ret2',
    type: 'r',
    symbol: 'iommu_unmap',
    args: 'ret=$retval:x64',
    generation: 'any',
    required: false,
  },
  {
    event: 'free_iova',
    type: 'p',
    symbol: 'free_iova_fast',
    args: 'pfn=%x1:x64 pages=%x2:x64',
    generation: 'any',
    required: false,
  },
];

/** The `p:smmu/name symbol args` line written to kprobe_events. */
export function probeDefinition(p: ProbeSpec): string {
  return `${p.type}:smmu/${p.event} ${p.symbol}${p.args === '' ? '' : ' ' + p.args}`;
}

function versionOk(p: ProbeSpec, v: readonly [number, number]): boolean {
  const cmp = (a: readonly [number, number], b: readonly [number, number]): number => a[0] - b[0] || a[1] - b[1];
  if (p.minVersion && cmp(v, p.minVersion) < 0) return false;
  if (p.maxVersion && cmp(v, p.maxVersion) > 0) return false;
  return true;
}

/** `7.3.4+deb13-arm64` → [7, 3] (null when it does not start with a version). */
export function kernelVersionOf(release: string): [number, number] | null {
  const m = /^(\d+)\.(\d+)/.exec(release);
  return m ? [Number(m[1]), Number(m[2])] : null;
}

/**
 * The probes for a kernel, chosen from the names in /proc/kallsyms (text symbols) and its release: the
 * generation is `invs` when `arm_smmu_domain_inv_range` exists, `legacy` when `__arm_smmu_tlb_inv_range`
 * does, else null (no SMMUv3 driver to probe). A probe whose symbol is missing is left out.
 */
export function chooseProbes(
  symbols: ReadonlySet<string>,
  release: string,
): { generation: DriverGeneration | null; probes: ProbeSpec[]; missingRequired: string[] } {
  const generation: DriverGeneration | null = symbols.has('arm_smmu_domain_inv_range')
    ? 'invs'
    : symbols.has('__arm_smmu_tlb_inv_range')
      ? 'legacy'
      : null;
  if (generation === null) return { generation, probes: [], missingRequired: ['arm_smmu_domain_inv_range'] };
  const v = kernelVersionOf(release) ?? [99, 0];
  const want = PROBES.filter((p) => (p.generation === 'any' || p.generation === generation) && versionOk(p, v));
  const probes = want.filter((p) => symbols.has(p.symbol));
  const missingRequired = want.filter((p) => p.required && !symbols.has(p.symbol)).map((p) => p.symbol);
  return { generation, probes, missingRequired };
}

/** Shell single-quoting. */
function sq(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

export interface InitOptions {
  /** Module files under /lib/modules in the initramfs, in load order. */
  readonly modules: readonly string[];
  /** Per-CPU trace buffer in KiB. */
  readonly bufferKb: number;
  /** The block device the workload reads. */
  readonly device: string;
}

/**
 * The /init script. It mounts the pseudo file systems, loads the modules, lists the driver symbols, decides
 * the generation and sets the probes the same way `chooseProbes` does (one shell branch per ProbeSpec), runs
 * /workload.sh with tracing on, prints the trace between markers and powers off.
 */
export function initScript(o: InitOptions): string {
  const names = [...new Set(PROBES.map((p) => p.symbol))];
  const tries = PROBES.map((p) => {
    const gen = p.generation === 'any' ? 'true' : `[ "$gen" = ${p.generation} ]`;
    const conds = [gen];
    if (p.minVersion) conds.push(`vge ${p.minVersion[0]} ${p.minVersion[1]}`);
    if (p.maxVersion) conds.push(`! vge ${p.maxVersion[0]} ${p.maxVersion[1] + 1}`);
    conds.push(`have ${p.symbol}`);
    return `if ${conds.join(' && ')}; then probe ${sq(probeDefinition(p))} ${p.required ? 1 : 0}; fi`;
  });
  return `#!/bin/busybox sh
# Written by smmuv3-tlbi capture. Runs as PID 1 in the guest.
/bin/busybox mkdir -p /proc /sys /dev /tmp /bin /sbin
/bin/busybox --install -s /bin
export PATH=/bin:/sbin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
T=/sys/kernel/tracing
mount -t tracefs tracefs $T 2>/dev/null || { mount -t debugfs debugfs /sys/kernel/debug && T=/sys/kernel/debug/tracing; }
say() { echo "CAPTURE: $*"; }
fail() { echo "CAPTURE_FAIL $*"; echo "CAPTURE_DONE"; sync; poweroff -f; }
step() { echo "CAPTURE_STEP $*"; echo "STEP $*" > $T/trace_marker 2>/dev/null; }
say "kernel $(uname -r) cmdline: $(cat /proc/cmdline)"
say "page size $(getconf PAGESIZE 2>/dev/null || echo 4096)"
for m in ${o.modules.map(sq).join(' ')}; do
  if insmod /lib/modules/$m 2>/tmp/insmod.err; then say "module $m loaded"; else say "module $m failed: $(cat /tmp/insmod.err)"; fi
done
[ -d $T ] && [ -e $T/kprobe_events ] || fail no-kprobe-events "the kernel has no tracefs kprobe_events (CONFIG_KPROBE_EVENTS)"
grep -E ' [tTwW] (${names.join('|')})$' /proc/kallsyms > /tmp/syms
while read a t n; do echo "CAPTURE_SYM $a $t $n"; done < /tmp/syms
have() { grep -q " $1\\$" /tmp/syms; }
rel=$(uname -r); maj=\${rel%%.*}; rest=\${rel#*.}; min=\${rest%%[!0-9]*}
vge() { [ "$maj" -gt "$1" ] || { [ "$maj" -eq "$1" ] && [ "$min" -ge "$2" ]; }; }
if have arm_smmu_domain_inv_range; then gen=invs; elif have __arm_smmu_tlb_inv_range; then gen=legacy; else gen=none; fi
say "driver generation $gen"
[ "$gen" = none ] && fail no-smmuv3-driver "no arm-smmu-v3 invalidation functions in /proc/kallsyms (CONFIG_ARM_SMMU_V3 off, or a module not loaded)"
missing=""
probe() {
  if echo "$1" >> $T/kprobe_events 2>/tmp/probe.err; then echo "CAPTURE_PROBE ok $1"
  else echo "CAPTURE_PROBE fail $1"; [ "$2" = 1 ] && missing="$missing $1"; fi
}
echo > $T/kprobe_events
${tries.join('\n')}
[ -z "$missing" ] || fail probe-failed "required probes could not be set:$missing"
for i in 1 2 3 4 5 6 7 8 9 10; do [ -b ${o.device} ] && break; sleep 1; done
[ -b ${o.device} ] || fail no-device "${o.device} did not appear (virtio_blk missing?)"
echo ${o.bufferKb} > $T/buffer_size_kb
echo 1 > $T/events/smmu/enable
echo 1 > $T/events/iommu/map/enable 2>/dev/null || say "no iommu:map tracepoint"
echo 1 > $T/events/iommu/unmap/enable 2>/dev/null || say "no iommu:unmap tracepoint"
q=/sys/block/${o.device.replace(/^\/dev\//, '')}/queue
[ -e $q/max_hw_sectors_kb ] && cat $q/max_hw_sectors_kb > $q/max_sectors_kb 2>/dev/null
say "max_sectors_kb $(cat $q/max_sectors_kb 2>/dev/null)"
echo 1 > $T/tracing_on
step workload start
DEV=${o.device} . /workload.sh
step workload end
echo 0 > $T/tracing_on
for c in $T/per_cpu/cpu*; do say "lost $(basename $c) $(grep -E '^(overrun|commit overrun):' $c/stats | tr '\\n' ' ')"; done
echo "CAPTURE_TRACE_BEGIN"
cat $T/trace
echo "CAPTURE_TRACE_END"
echo "CAPTURE_DONE"
sync
# The host stops the VM and reads the ring now; power off only if it does not.
sleep 600
poweroff -f
`;
}

/** The default workload: O_DIRECT reads of many sizes, so that 1-page to 128 MiB unmaps (and table frees) happen. */
export const DEFAULT_WORKLOAD = `# Default workload of smmuv3-tlbi capture: O_DIRECT reads from $DEV of many sizes and offsets.
step "pages 1..64"
n=1
while [ $n -le 64 ]; do dd if=$DEV of=/dev/null bs=$((n * 4))k count=2 skip=$n iflag=direct 2>/dev/null; n=$((n + 1)); done
step "odd sizes"
for n in 65 96 127 129 255 256 257 383 511 512 513 767 1023 1024 1025; do
  dd if=$DEV of=/dev/null bs=$((n * 4))k count=1 skip=1 iflag=direct 2>/dev/null
done
step "blocks 1M..128M"
for m in 1 2 3 4 6 8 16 32 64 128; do dd if=$DEV of=/dev/null bs=\${m}M count=2 iflag=direct 2>/dev/null; done
step "unaligned offsets"
for k in 1 3 5 7 11 13 17 19 23 29 31; do dd if=$DEV of=/dev/null bs=$((k * 4))k count=3 skip=$((k * 7)) iflag=direct 2>/dev/null; done
step "buffered"
dd if=$DEV of=/dev/null bs=1M count=16 2>/dev/null
`;
