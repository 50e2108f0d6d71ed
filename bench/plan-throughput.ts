/**
 * Planner speed against the C baseline (run: `npx tsx bench/plan-throughput.ts [ranges] [rounds]`).
 *
 * Compiles bench/linux_loop.c (Linux's RIL loop in C, one S1 target, random leaf ranges) twice:
 * as given (wall clock) and with its clock switched to the process CPU clock. The machine is shared, so the
 * figures that count are CPU time: each round runs the C program once and then every JS case once, each case
 * timed with process.cpuUsage(); the report gives the MEDIAN over the rounds (and the minimum), C and JS
 * from the same rounds. The JS cases plan the same ranges as C (same xorshift64 generator and seed: iova =
 * (rnd & 0xfffffff) << 12, size = ((rnd % 4096) + 1) << 12, leaf, 4 KiB):
 *
 *  likeForLike  the engine's RIL range loop (`emitRilRange`, TLBI_NH_VA, ASID 5) into a PlanOutput, and
 *               nothing else: the same inputs and the same output as C (range commands only, no CMD_SYNC),
 *               with C's checksum (last command's w1 XOR first w0, summed mod 2^64) computed in the timed
 *               loop as C does, and compared with C's.
 *  linuxPlan    the full plan, policy linux (`invalidateRange`, one S1_ASID target, RIL): the range commands
 *               plus the batch's CMD_SYNC. Reported per TLBI command (the same divisor as C) and per entry.
 *  tlbiPlan     the same ranges through policy tlbi (`tlbiInv`, {start, last, leafLevels [3]}).
 *  many         policy linux, 64 targets across 4 SMMUs (per SMMU 8 S1_ASID + 8 ATS; SMMU 2 with forceSync)
 *               on the first ranges/16 ranges: ns per entry and plans per second.
 */
import { execFileSync } from 'node:child_process';
import { loadavg } from 'node:os';
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Opcode } from '../src/cmdq/opcodes.js';
import {
  PlanOutput,
  emitRilRange,
  invalidateRange,
  invsOf,
  tlbiInv,
  type InvKey,
  type SmmuOptions,
} from '../src/tlbi/index.js';

const R = Number(process.argv[2] ?? 2_000_000);
const ROUNDS = Number(process.argv[3] ?? 15);
const SEED = 88172645463325252n;
const M64 = (1n << 64n) - 1n;
const TWO_POW_32 = 4294967296;

/** Build the C baseline; `cpuClock` switches its clock to CLOCK_PROCESS_CPUTIME_ID (same code otherwise). */
function buildC(cpuClock: boolean): string {
  let src = fileURLToPath(new URL('./linux_loop.c', import.meta.url));
  const bin = cpuClock ? '/tmp/linux_loop_cpu' : '/tmp/linux_loop';
  if (cpuClock) {
    const text = readFileSync(src, 'utf8').replace(/CLOCK_MONOTONIC/g, 'CLOCK_PROCESS_CPUTIME_ID');
    src = '/tmp/linux_loop_cpu.c';
    writeFileSync(src, text);
  }
  execFileSync('gcc', ['-O2', '-o', bin, src]);
  return bin;
}

function runC(bin: string): { cmds: number; nsPerCmd: number; checksum: bigint } {
  const [cmds, ns, sum] = execFileSync(bin, [String(R)], { encoding: 'utf8' })
    .trim()
    .split(/\s+/);
  return { cmds: Number(cmds), nsPerCmd: Number(ns), checksum: BigInt(sum!) };
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
  return s.length % 2 ? s[s.length >> 1]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

/** CPU milliseconds (user + system) spent in `fn`. */
function cpuMs(fn: () => void): number {
  const c0 = process.cpuUsage();
  fn();
  const c1 = process.cpuUsage(c0);
  return (c1.user + c1.system) / 1000;
}

const RIL: SmmuOptions = { ril: true, e2h: false, forceSync: false };
const ONE = [RIL];
const { iova, size } = inputs();
const cWallBin = buildC(false);
const cCpuBin = buildC(true);
const out = new PlanOutput(1024);

// likeForLike: the range loop alone, C's checksum in the loop (as two exact 32-bit-half sums).
let llCmds = 0;
let llSum = 0n;
function likeForLike(): void {
  let cmds = 0;
  let sumLo = 0;
  let sumHi = 0;
  for (let i = 0; i < R; i++) {
    out.clear();
    out.begin(0, false);
    emitRilRange(out, Opcode.TLBI_NH_VA, 5, 0, iova[i]!, size[i]!, 12, 3, 1);
    const n = out.count;
    cmds += n;
    const u = out.buf.u32;
    const k = (n - 1) * 4;
    sumLo += (u[k + 2]! ^ u[0]!) >>> 0;
    sumHi += (u[k + 3]! ^ u[1]!) >>> 0;
    if (sumLo >= 2 ** 52) {
      const carry = Math.floor(sumLo / TWO_POW_32);
      sumLo -= carry * TWO_POW_32;
      sumHi += carry;
    }
  }
  llCmds = cmds;
  llSum = ((BigInt(sumHi) << 32n) + BigInt(sumLo)) & M64;
}

// linuxPlan: the full plan (range commands + CMD_SYNC).
const oneTarget = invsOf([{ smmu: 0, type: 'S1_ASID', id: 5, pgsize: 4096 }]);
const req = { iova: 0, size: 0, granule: 4096, leaf: true };
let lpEntries = 0;
function linuxPlan(): void {
  let n = 0;
  for (let i = 0; i < R; i++) {
    out.clear();
    req.iova = iova[i]!;
    req.size = size[i]!;
    n += invalidateRange(oneTarget, req, ONE, out);
  }
  lpEntries = n;
}

// tlbiPlan: the same ranges through policy tlbi.
const desc = { start: 0, last: 0, leafLevels: [3], tableLevels: [] as number[], granule: 4096 };
let tpEntries = 0;
function tlbiPlan(): void {
  let n = 0;
  for (let i = 0; i < R; i++) {
    out.clear();
    desc.start = iova[i]!;
    desc.last = iova[i]! + size[i]! - 1;
    n += tlbiInv(desc, oneTarget, ONE, out);
  }
  tpEntries = n;
}

// many: 64 targets across 4 SMMUs with ATS.
const keys: InvKey[] = [];
for (let s = 0; s < 4; s++)
  for (let k = 0; k < 8; k++) {
    keys.push({ smmu: s, type: 'S1_ASID', id: 16 * s + k, pgsize: 4096 });
    keys.push({ smmu: s, type: 'ATS', id: 0x100 * s + k, ssid: k & 1 ? k : 0 });
  }
const many = invsOf(keys);
const smmus4 = [RIL, RIL, { ...RIL, forceSync: true }, RIL];
const RB = Math.max(1, Math.floor(R / 16));
let mEntries = 0;
function manyTargets(): void {
  let n = 0;
  for (let i = 0; i < RB; i++) {
    out.clear();
    req.iova = iova[i]!;
    req.size = size[i]!;
    n += invalidateRange(many, req, smmus4, out);
  }
  mEntries = n;
}

const cases = { likeForLike, linuxPlan, tlbiPlan, manyTargets };
type CaseName = keyof typeof cases;
const names = Object.keys(cases) as CaseName[];
for (const k of names) cases[k](); // warm-up (JIT)

const cCpu: number[] = [];
const cWall: number[] = [];
const js: Record<CaseName, number[]> = { likeForLike: [], linuxPlan: [], tlbiPlan: [], manyTargets: [] };
let c = runC(cCpuBin);
const load0 = loadavg()[0]!;
for (let r = 0; r < ROUNDS; r++) {
  c = runC(cCpuBin);
  cCpu.push(c.nsPerCmd);
  cWall.push(runC(cWallBin).nsPerCmd);
  for (const k of names) js[k].push(cpuMs(cases[k]));
}

const cMed = median(cCpu);
const cMin = Math.min(...cCpu);
const perCmd = (k: CaseName, divisor: number): { median: number; min: number } => ({
  median: (median(js[k]) * 1e6) / divisor,
  min: (Math.min(...js[k]) * 1e6) / divisor,
});
const ll = perCmd('likeForLike', llCmds);
const lpCmd = perCmd('linuxPlan', llCmds);
const lpEntry = perCmd('linuxPlan', lpEntries);
const tpCmd = perCmd('tlbiPlan', tpEntries - R);
const mEntry = perCmd('manyTargets', mEntries);
const round2 = (x: number): number => Math.round(x * 100) / 100;
const report = {
  ranges: R,
  rounds: ROUNDS,
  clock: 'process CPU time (user + system); medians over the rounds, C and JS interleaved in the same rounds',
  loadAverage1mAtStart: round2(load0),
  loadAverage1mAtEnd: round2(loadavg()[0]!),
  c: {
    commands: c.cmds,
    checksum: c.checksum.toString(),
    nsPerCommandCpuMedian: round2(cMed),
    nsPerCommandCpuMin: round2(cMin),
    nsPerCommandWallMedian: round2(median(cWall)),
  },
  likeForLike: {
    what: 'emitRilRange only: range commands, no CMD_SYNC (same output as C)',
    sameAsC: llCmds === c.cmds && llSum === c.checksum,
    commands: llCmds,
    checksum: llSum.toString(),
    nsPerCommandCpuMedian: round2(ll.median),
    nsPerCommandCpuMin: round2(ll.min),
    ratioToCMedian: round2(ll.median / cMed),
    ratioToCMin: round2(ll.min / cMin),
  },
  linuxPlan: {
    what: 'invalidateRange, one S1 target: range commands + CMD_SYNC (C writes no CMD_SYNC)',
    tlbiCommands: llCmds,
    entriesWithSync: lpEntries,
    nsPerTlbiCommandCpuMedian: round2(lpCmd.median),
    nsPerEntryCpuMedian: round2(lpEntry.median),
    plansPerSecondCpu: Math.round(R / (median(js.linuxPlan) / 1000)),
    ratioToCMedian: round2(lpCmd.median / cMed),
    ratioToCMin: round2(lpCmd.min / cMin),
  },
  tlbiPlan: {
    what: 'tlbiInv, one S1 target, leafLevels [3]: range commands + CMD_SYNC',
    entries: tpEntries,
    nsPerTlbiCommandCpuMedian: round2(tpCmd.median),
    plansPerSecondCpu: Math.round(R / (median(js.tlbiPlan) / 1000)),
    ratioToCMedian: round2(tpCmd.median / cMed),
  },
  linux64Targets4Smmus: {
    what: 'invalidateRange, 4 SMMUs x (8 S1_ASID + 8 ATS), SMMU 2 forceSync',
    ranges: RB,
    entries: mEntries,
    nsPerEntryCpuMedian: round2(mEntry.median),
    nsPerEntryCpuMin: round2(mEntry.min),
    plansPerSecondCpu: Math.round(RB / (median(js.manyTargets) / 1000)),
  },
};
console.log(JSON.stringify(report, null, 2));
if (!report.likeForLike.sameAsC) {
  console.error('likeForLike: commands or checksum differ from C');
  process.exitCode = 1;
}
