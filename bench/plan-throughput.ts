/**
 * Planner speed against the C baseline (run: `npx tsx bench/plan-throughput.ts [ranges] [rounds]`).
 *
 * Compiles and runs ../shared/baselines/linux_loop.c (Linux's RIL loop in C, one S1 target, random leaf
 * ranges) in the same run, then plans the same ranges (same xorshift64 generator and seed: iova =
 * (rnd & 0xfffffff) << 12, size = ((rnd % 4096) + 1) << 12, leaf) with:
 *  (a) policy linux, one S1_ASID target (RIL, 4K) — the C loop's exact work, plus the CMD_SYNC;
 *  (a') policy tlbi, the same ranges as {start, last, leafLevels [3]};
 *  (b) policy linux, 64 targets across 4 SMMUs (per SMMU 8 S1_ASID + 8 ATS).
 * Prints ns per emitted command, plans per second, and the ratio to C (TLBI commands only, as C emits no
 * CMD_SYNC), best of [rounds] runs for both. An untimed pass checks that (a) produced the same command count
 * and checksum as C.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { PlanOutput, invalidateRange, invsOf, tlbiInv, type InvKey, type SmmuOptions } from '../src/tlbi/index.js';

const R = Number(process.argv[2] ?? 2_000_000);
const ROUNDS = Number(process.argv[3] ?? 5);
const SEED = 88172645463325252n;
const M64 = (1n << 64n) - 1n;

/**
 * Build and run the C baseline; `cpuClock` builds a copy timed with the process CPU clock instead of the
 * monotonic wall clock (same code otherwise), for a comparison that a busy machine does not distort.
 */
function runC(cpuClock = false): { cmds: number; nsPerCmd: number; checksum: bigint } {
  let src = fileURLToPath(new URL('../../shared/baselines/linux_loop.c', import.meta.url));
  const bin = cpuClock ? '/tmp/linux_loop_cpu' : '/tmp/linux_loop';
  if (cpuClock) {
    const text = readFileSync(src, 'utf8').replace(/CLOCK_MONOTONIC/g, 'CLOCK_PROCESS_CPUTIME_ID');
    src = '/tmp/linux_loop_cpu.c';
    writeFileSync(src, text);
  }
  execFileSync('gcc', ['-O2', '-o', bin, src]);
  // Best of ROUNDS runs (the machine may be shared; the minimum is the least disturbed run).
  let best = { cmds: 0, nsPerCmd: Infinity, checksum: 0n };
  for (let k = 0; k < ROUNDS; k++) {
    const [cmds, ns, sum] = execFileSync('/tmp/linux_loop', [String(R)], { encoding: 'utf8' })
      .trim()
      .split(/\s+/);
    if (Number(ns) < best.nsPerCmd) best = { cmds: Number(cmds), nsPerCmd: Number(ns), checksum: BigInt(sum!) };
  }
  return best;
}

/** The C generator, pre-computed outside the timed loops (as C does). */
function inputs(): { iova: Float64Array; size: Float64Array } {
  let s = SEED;
  const rnd = (): bigint => {
    s ^= (s << 13n) & M64;
    s ^= s >> 7n;
    s ^= (s << 17n) & M64;
    return s;
  };
  const iova = new Float64Array(R);
  const size = new Float64Array(R);
  for (let i = 0; i < R; i++) {
    iova[i] = Number((rnd() & 0xfffffffn) << 12n);
    size[i] = Number(((rnd() % 4096n) + 1n) << 12n);
  }
  return { iova, size };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1]!;
}

/**
 * Time `fn` (returns entries emitted) over ROUNDS after one warm-up: the minimum wall-clock ms (as the C
 * baseline measures wall-clock), the median, and the entries.
 */
function time(fn: () => number): { ms: number; medianMs: number; cpuMs: number; entries: number } {
  let entries = fn();
  const ts: number[] = [];
  const cpu: number[] = [];
  for (let k = 0; k < ROUNDS; k++) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    entries = fn();
    ts.push(performance.now() - t0);
    const c1 = process.cpuUsage(c0);
    cpu.push((c1.user + c1.system) / 1000);
  }
  return { ms: Math.min(...ts), medianMs: median(ts), cpuMs: Math.min(...cpu), entries };
}

const RIL: SmmuOptions = { ril: true, e2h: false, forceSync: false };
const ONE = [RIL];
const { iova, size } = inputs();
const c = runC();
const cCpu = runC(true);

// (a) one S1 target, policy linux.
const oneTarget = invsOf([{ smmu: 0, type: 'S1_ASID', id: 5, pgsize: 4096 }]);
const out = new PlanOutput(1024);
const req = { iova: 0, size: 0, granule: 4096, leaf: true };
const a = time(() => {
  let n = 0;
  for (let i = 0; i < R; i++) {
    out.clear();
    req.iova = iova[i]!;
    req.size = size[i]!;
    n += invalidateRange(oneTarget, req, ONE, out);
  }
  return n;
});

// Untimed: same commands as C (count and checksum: sum of last TLBI w1 XOR first w0, mod 2^64).
let checksum = 0n;
let tlbiCmds = 0;
for (let i = 0; i < R; i++) {
  out.clear();
  req.iova = iova[i]!;
  req.size = size[i]!;
  invalidateRange(oneTarget, req, ONE, out);
  const n = out.count - 1; // without the CMD_SYNC
  tlbiCmds += n;
  const u = out.buf.u32;
  const w0 = (BigInt(u[1]!) << 32n) | BigInt(u[0]!);
  const w1 = (BigInt(u[(n - 1) * 4 + 3]!) << 32n) | BigInt(u[(n - 1) * 4 + 2]!);
  checksum = (checksum + (w1 ^ w0)) & M64;
}

// (a') the same ranges through the tlbi policy.
const desc = { start: 0, last: 0, leafLevels: [3], tableLevels: [] as number[], granule: 4096 };
const a2 = time(() => {
  let n = 0;
  for (let i = 0; i < R; i++) {
    out.clear();
    desc.start = iova[i]!;
    desc.last = iova[i]! + size[i]! - 1;
    n += tlbiInv(desc, oneTarget, ONE, out);
  }
  return n;
});

// (b) 64 targets across 4 SMMUs with ATS.
const keys: InvKey[] = [];
for (let s = 0; s < 4; s++)
  for (let k = 0; k < 8; k++) {
    keys.push({ smmu: s, type: 'S1_ASID', id: 16 * s + k, pgsize: 4096 });
    keys.push({ smmu: s, type: 'ATS', id: 0x100 * s + k, ssid: k & 1 ? k : 0 });
  }
const many = invsOf(keys);
const smmus4 = [RIL, RIL, { ...RIL, forceSync: true }, RIL];
const RB = Math.max(1, Math.floor(R / 16));
const b = time(() => {
  let n = 0;
  for (let i = 0; i < RB; i++) {
    out.clear();
    req.iova = iova[i]!;
    req.size = size[i]!;
    n += invalidateRange(many, req, smmus4, out);
  }
  return n;
});

const nsA = (a.ms * 1e6) / tlbiCmds;
const report = {
  ranges: R,
  c: {
    commands: c.cmds,
    nsPerCommand: c.nsPerCmd,
    nsPerCommandCpuClock: cCpu.nsPerCmd,
    checksum: c.checksum.toString(),
  },
  linuxOneTarget: {
    sameAsC: tlbiCmds === c.cmds && checksum === c.checksum,
    tlbiCommands: tlbiCmds,
    entriesWithSync: a.entries,
    nsPerTlbiCommand: nsA,
    nsPerTlbiCommandMedian: (a.medianMs * 1e6) / tlbiCmds,
    nsPerEntry: (a.ms * 1e6) / a.entries,
    plansPerSecond: R / (a.ms / 1000),
    ratioToC: nsA / c.nsPerCmd,
    nsPerTlbiCommandCpuClock: (a.cpuMs * 1e6) / tlbiCmds,
    ratioToCCpuClock: (a.cpuMs * 1e6) / tlbiCmds / cCpu.nsPerCmd,
  },
  tlbiOneTarget: {
    entries: a2.entries,
    nsPerTlbiCommand: (a2.ms * 1e6) / (a2.entries - R),
    plansPerSecond: R / (a2.ms / 1000),
    ratioToC: (a2.ms * 1e6) / (a2.entries - R) / c.nsPerCmd,
    ratioToCCpuClock: (a2.cpuMs * 1e6) / (a2.entries - R) / cCpu.nsPerCmd,
  },
  linux64Targets4Smmus: {
    ranges: RB,
    entries: b.entries,
    nsPerEntry: (b.ms * 1e6) / b.entries,
    nsPerEntryCpuClock: (b.cpuMs * 1e6) / b.entries,
    plansPerSecond: RB / (b.ms / 1000),
  },
};
console.log(JSON.stringify(report, null, 2));
