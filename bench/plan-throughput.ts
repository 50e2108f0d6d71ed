/**
 * Planner speed against the C baseline (run: `npx tsx bench/plan-throughput.ts [ranges] [rounds]`).
 *
 * Compiles bench/linux_loop.c (Linux's RIL loop in C, one S1 target) twice: as given (wall clock) and with
 * its clock switched to the process CPU clock. The machine is shared, so the figures that count are CPU
 * time: each round runs the C program once per input set and then every JS case once, each case timed with
 * process.cpuUsage(); the report gives the MEDIAN over the rounds (and the minimum), C and JS from the same
 * rounds, with the 1-minute load average at start and end.
 *
 * Input sets (the same requests for C and every JS case):
 *  random    C's own generator (xorshift64, iova = (rnd & 0xfffffff) << 12, size = ((rnd % 4096) + 1) << 12,
 *            leaf, 4 KiB): the figures of the earlier runs.
 *  onePage   random iova, one 4 KiB leaf page (77-80 % of what real kernels send).
 *  mix       the real requests of samples/linux-6.1-qemu-7.2-strict/requests.jsonl.gz, each drawn with the
 *            weight `occurrences_of_shape` (4K/2M leaf pages, 2M non-leaf walks, whole-ASID flushes), at
 *            their own addresses. C reads them from a file (iova, size, leaf, ttl).
 *
 * Cases, per set:
 *  likeForLike  the engine's RIL range loop (`emitRilRange`, TLBI_NH_VA, ASID 5) into a PlanOutput, and
 *               nothing else: the same output as C (range commands only, no CMD_SYNC; a flush is one
 *               NH_ASID), with C's checksum (last command's w1 XOR first w0, summed mod 2^64) computed in
 *               the timed loop as C does, and compared with C's.
 *  linuxPlan    the full plan, policy linux (`invalidateRange`, one S1_ASID target, RIL): the range commands
 *               plus the batch's CMD_SYNC. Reported per plan and per TLBI command (C's divisor).
 *  tlbiPlan     the same requests through policy tlbi (`tlbiInv`, the description a page table reports for
 *               them: leafLevels [level of the granule], tableLevels [2] for the non-leaf walks; flushes
 *               are skipped in both plan cases of the mix, as tlbi has no "everything").
 * and once, on the random set: `many`, policy linux, 64 targets across 4 SMMUs (per SMMU 8 S1_ASID + 8 ATS;
 * SMMU 2 with forceSync) on the first ranges/16 ranges.
 *
 * `PLAN_BENCH_BASELINE=/path/to/another/checkout` also runs every JS case on that checkout's engine
 * (its src/tlbi and src/cmdq), interleaved in the same rounds: before/after figures side by side. Each
 * engine and input set runs in its own worker process (forked once, driven round by round from here), so
 * that two engines' classes never meet in one call site (a shared, polymorphic site would slow both down)
 * and one set's profile does not shape the optimized code another set is timed with.
 */
import { execFileSync, fork, type ChildProcess } from 'node:child_process';
import { loadavg } from 'node:os';
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { gunzipSync } from 'node:zlib';
import * as current from '../src/tlbi/index.js';
import { Opcode } from '../src/cmdq/opcodes.js';
import { writeTlbiTag } from '../src/cmdq/writers.js';

type Engine = typeof current;

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

function runC(bin: string, file?: string): { cmds: number; nsPerCmd: number; checksum: bigint } {
  const args = file === undefined ? [String(R)] : [String(R), String(SEED), file];
  const [cmds, ns, sum] = execFileSync(bin, args, { encoding: 'utf8' }).trim().split(/\s+/);
  return { cmds: Number(cmds), nsPerCmd: Number(ns), checksum: BigInt(sum!) };
}

/** One input set: requests as parallel arrays (granule 4096 or 2 MiB; size 0 = whole-ASID flush). */
interface Inputs {
  readonly name: string;
  readonly iova: Float64Array;
  readonly size: Float64Array;
  readonly granule: Float64Array;
  readonly leaf: Uint8Array;
  /** Linux's TTL (what C writes): leaf 4K → 3, leaf 2M → 2, non-leaf 0. */
  readonly ttl: Uint8Array;
  /** The file C reads, or undefined for C's own generator. */
  readonly file?: string;
}

function xorshift(): () => bigint {
  let s = SEED;
  return (): bigint => {
    s ^= (s << 13n) & M64;
    s ^= s >> 7n;
    s ^= (s << 17n) & M64;
    return s;
  };
}

function emptyInputs(name: string): Inputs {
  return {
    name,
    iova: new Float64Array(R),
    size: new Float64Array(R),
    granule: new Float64Array(R).fill(4096),
    leaf: new Uint8Array(R).fill(1),
    ttl: new Uint8Array(R).fill(3),
  };
}

/** Write the records C reads (four little-endian u64 per request). */
function withFile(x: Inputs): Inputs {
  const buf = new BigUint64Array(R * 4);
  for (let i = 0; i < R; i++) {
    buf[4 * i] = BigInt(x.iova[i]!);
    buf[4 * i + 1] = BigInt(x.size[i]!);
    buf[4 * i + 2] = BigInt(x.leaf[i]!);
    buf[4 * i + 3] = BigInt(x.ttl[i]!);
  }
  const file = `/tmp/plan-bench-${x.name}.bin`;
  writeFileSync(file, new Uint8Array(buf.buffer));
  return { ...x, file };
}

function randomInputs(): Inputs {
  const x = emptyInputs('random');
  const rnd = xorshift();
  for (let i = 0; i < R; i++) {
    x.iova[i] = Number((rnd() & 0xfffffffn) << 12n);
    x.size[i] = Number(((rnd() % 4096n) + 1n) << 12n);
  }
  return x;
}

function onePageInputs(): Inputs {
  const x = emptyInputs('onePage');
  const rnd = xorshift();
  for (let i = 0; i < R; i++) {
    x.iova[i] = Number((rnd() & 0xfffffffn) << 12n);
    x.size[i] = 4096;
  }
  return withFile(x);
}

interface SampleLine {
  request: { iova?: string; size?: string; granule?: string; leaf?: boolean; flush_all?: boolean };
  occurrences_of_shape?: number;
}

function mixInputs(): Inputs {
  const file = new URL('../samples/linux-6.1-qemu-7.2-strict/requests.jsonl.gz', import.meta.url);
  const lines = gunzipSync(readFileSync(file))
    .toString('utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as SampleLine);
  const cum: number[] = [];
  let total = 0;
  for (const l of lines) cum.push((total += l.occurrences_of_shape ?? 1));
  const x = emptyInputs('mix');
  const rnd = xorshift();
  for (let i = 0; i < R; i++) {
    const w = Number(rnd() % BigInt(total));
    let lo = 0;
    let hi = cum.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cum[mid]! > w) hi = mid;
      else lo = mid + 1;
    }
    const r = lines[lo]!.request;
    if (r.flush_all === true) {
      x.size[i] = 0;
      x.leaf[i] = 1;
      x.ttl[i] = 0;
      continue;
    }
    x.iova[i] = Number(r.iova);
    x.size[i] = Number(r.size);
    x.granule[i] = Number(r.granule);
    x.leaf[i] = r.leaf === true ? 1 : 0;
    x.ttl[i] = r.leaf === true ? current.linuxLeafTtl(Math.log2(x.granule[i]!), 12) : 0;
  }
  return withFile(x);
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

interface Counts {
  /** likeForLike: commands and C's checksum. */
  llCmds: number;
  llSum: bigint;
  /** Entries and plans of the plan cases (flushes of the mix skipped). */
  lpEntries: number;
  tpEntries: number;
  plans: number;
  mEntries: number;
}

/** The JS cases of one engine on one input set (closures over a PlanOutput of that engine). */
function casesOf(e: Engine, x: Inputs, withMany: boolean): { run: Record<string, () => void>; counts: Counts } {
  const RIL = { ril: true, e2h: false, forceSync: false };
  const ONE = [RIL];
  const out = new e.PlanOutput(1024);
  const counts: Counts = { llCmds: 0, llSum: 0n, lpEntries: 0, tpEntries: 0, plans: 0, mEntries: 0 };
  const { iova, size, granule, leaf, ttl } = x;
  const run: Record<string, () => void> = {};

  run.likeForLike = () => {
    let cmds = 0;
    let sumLo = 0;
    let sumHi = 0;
    for (let i = 0; i < R; i++) {
      out.clear();
      out.begin(0, false);
      if (size[i] === 0) {
        const s = out.add();
        writeTlbiTag(out.buf.u32, s, Opcode.TLBI_NH_ASID, 5, 0);
      } else e.emitRilRange(out, Opcode.TLBI_NH_VA, 5, 0, iova[i]!, size[i]!, 12, ttl[i]!, leaf[i]!);
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
    counts.llCmds = cmds;
    counts.llSum = ((BigInt(sumHi) << 32n) + BigInt(sumLo)) & M64;
  };

  const oneTarget = e.invsOf([{ smmu: 0, type: 'S1_ASID', id: 5, pgsize: 4096 }]);
  const req = { iova: 0, size: 0, granule: 4096, leaf: true };
  run.linuxPlan = () => {
    let n = 0;
    let plans = 0;
    for (let i = 0; i < R; i++) {
      if (size[i] === 0) continue;
      out.clear();
      req.iova = iova[i]!;
      req.size = size[i]!;
      req.granule = granule[i]!;
      req.leaf = leaf[i] === 1;
      n += e.invalidateRange(oneTarget, req, ONE, out);
      plans++;
    }
    counts.lpEntries = n;
    counts.plans = plans;
  };

  const L3 = [3];
  const L2 = [2];
  const NONE: number[] = [];
  const desc = { start: 0, last: 0, leafLevels: L3, tableLevels: NONE, granule: 4096 };
  run.tlbiPlan = () => {
    let n = 0;
    for (let i = 0; i < R; i++) {
      if (size[i] === 0) continue;
      out.clear();
      desc.start = iova[i]!;
      desc.last = iova[i]! + size[i]! - 1;
      desc.leafLevels = granule[i] === 4096 ? L3 : L2;
      desc.tableLevels = leaf[i] === 1 ? NONE : L2;
      n += e.tlbiInv(desc, oneTarget, ONE, out);
    }
    counts.tpEntries = n;
  };

  if (withMany) {
    const keys: current.InvKey[] = [];
    for (let s = 0; s < 4; s++)
      for (let k = 0; k < 8; k++) {
        keys.push({ smmu: s, type: 'S1_ASID', id: 16 * s + k, pgsize: 4096 });
        keys.push({ smmu: s, type: 'ATS', id: 0x100 * s + k, ssid: k & 1 ? k : 0 });
      }
    const many = e.invsOf(keys);
    const smmus4 = [RIL, RIL, { ...RIL, forceSync: true }, RIL];
    const RB = Math.max(1, Math.floor(R / 16));
    const mreq = { iova: 0, size: 0, granule: 4096, leaf: true };
    run.many = () => {
      let n = 0;
      for (let i = 0; i < RB; i++) {
        out.clear();
        mreq.iova = iova[i]!;
        mreq.size = size[i]!;
        n += e.invalidateRange(many, mreq, smmus4, out);
      }
      counts.mEntries = n;
    };
  }
  return { run, counts };
}

const baseline = process.env.PLAN_BENCH_BASELINE;
const engineNames = baseline ? ['baseline', 'current'] : ['current'];
const sets = [randomInputs(), onePageInputs(), mixInputs()];

interface Job {
  engine: string;
  set: string;
  name: string;
  counts: Counts;
  ms: number[];
}

/** Worker: one engine and one set, every case; answers 'round' with one timing per job, in job order. */
async function worker(name: string, setName: string): Promise<void> {
  const e =
    name === 'baseline'
      ? ((await import(pathToFileURL(`${baseline!.replace(/\/$/, '')}/src/tlbi/index.ts`).href)) as Engine)
      : current;
  const mine: { set: string; name: string; fn: () => void; counts: Counts }[] = [];
  for (const x of sets.filter((y) => y.name === setName)) {
    const { run, counts } = casesOf(e, x, x.name === 'random');
    for (const [n, fn] of Object.entries(run)) mine.push({ set: x.name, name: n, fn, counts });
  }
  for (const j of mine) j.fn(); // warm-up (JIT)
  process.on('message', (m: string) => {
    if (m === 'round') process.send!(mine.map((j) => cpuMs(j.fn)));
    else if (m === 'jobs')
      process.send!(
        mine.map((j) => ({ set: j.set, name: j.name, counts: { ...j.counts, llSum: j.counts.llSum.toString() } })),
      );
    else process.exit(0);
  });
  process.send!('ready');
}

function ask<T>(w: ChildProcess, m: string): Promise<T> {
  return new Promise((resolve) => {
    w.once('message', (v) => resolve(v as T));
    w.send(m);
  });
}

const workerArg = process.argv.indexOf('--worker');
if (workerArg >= 0) {
  await worker(process.argv[workerArg + 1]!, process.argv[workerArg + 2]!);
} else {
  await parent();
}

async function parent(): Promise<void> {
  const cWallBin = buildC(false);
  const cCpuBin = buildC(true);
  const workers = new Map<string, ChildProcess>();
  const workerKeys: [string, string][] = [];
  for (const x of sets) for (const en of engineNames) workerKeys.push([en, x.name]);
  for (const [en, set] of workerKeys) {
    const w = fork(fileURLToPath(import.meta.url), [String(R), String(ROUNDS), '--worker', en, set], {
      execArgv: ['--import', 'tsx'],
    });
    await new Promise<void>((resolve) => w.once('message', () => resolve()));
    workers.set(`${en}:${set}`, w);
  }
  const jobs: Job[] = [];
  for (const [en, set] of workerKeys) {
    const list = await ask<{ set: string; name: string; counts: Counts & { llSum: string } }[]>(
      workers.get(`${en}:${set}`)!,
      'jobs',
    );
    for (const j of list)
      jobs.push({
        engine: en,
        set: j.set,
        name: j.name,
        counts: { ...j.counts, llSum: BigInt(j.counts.llSum) },
        ms: [],
      });
  }

  const cCpu: Record<string, number[]> = {};
  const cWall: Record<string, number[]> = {};
  const cLast: Record<string, ReturnType<typeof runC>> = {};
  for (const x of sets) {
    cCpu[x.name] = [];
    cWall[x.name] = [];
    cLast[x.name] = runC(cCpuBin, x.file);
  }
  const load0 = loadavg()[0]!;
  for (let r = 0; r < ROUNDS; r++) {
    for (const x of sets) {
      const c = runC(cCpuBin, x.file);
      cLast[x.name] = c;
      cCpu[x.name]!.push(c.nsPerCmd);
      cWall[x.name]!.push(runC(cWallBin, x.file).nsPerCmd);
    }
    for (const [en, set] of workerKeys) {
      const ms = await ask<number[]>(workers.get(`${en}:${set}`)!, 'round');
      const mine = jobs.filter((j) => j.engine === en && j.set === set);
      ms.forEach((v, k) => mine[k]!.ms.push(v));
    }
  }
  for (const w of workers.values()) w.send('exit');

  const round2 = (x: number): number => Math.round(x * 100) / 100;
  const job = (en: string, set: string, name: string): Job | undefined =>
    jobs.find((j) => j.engine === en && j.set === set && j.name === name);
  const ns = (ms: number[], divisor: number, pick: (a: number[]) => number = median): number =>
    (pick(ms) * 1e6) / divisor;

  const report: Record<string, unknown> = {
    ranges: R,
    rounds: ROUNDS,
    clock: 'process CPU time (user + system); medians over the rounds, C and JS interleaved in the same rounds',
    loadAverage1mAtStart: round2(load0),
    loadAverage1mAtEnd: round2(loadavg()[0]!),
    engines: engineNames,
  };
  let mismatch = false;
  for (const x of sets) {
    const c = cLast[x.name]!;
    const cMed = median(cCpu[x.name]!);
    const perSet: Record<string, unknown> = {
      c: {
        commands: c.cmds,
        checksum: c.checksum.toString(),
        nsPerCommandCpuMedian: round2(cMed),
        nsPerCommandCpuMin: round2(Math.min(...cCpu[x.name]!)),
        nsPerCommandWallMedian: round2(median(cWall[x.name]!)),
        nsPerRequestCpuMedian: round2((cMed * c.cmds) / R),
      },
    };
    for (const en of engineNames) {
      const ll = job(en, x.name, 'likeForLike')!;
      const lp = job(en, x.name, 'linuxPlan')!;
      const tp = job(en, x.name, 'tlbiPlan')!;
      const k = ll.counts;
      const sameAsC = k.llCmds === c.cmds && k.llSum === c.checksum;
      if (!sameAsC) mismatch = true;
      // TLBI commands of the plan cases: entries minus one CMD_SYNC per plan.
      const lpTlbis = k.lpEntries - k.plans;
      const e: Record<string, unknown> = {
        likeForLike: {
          sameAsC,
          nsPerCommandCpuMedian: round2(ns(ll.ms, k.llCmds)),
          ratioToCMedian: round2(ns(ll.ms, k.llCmds) / cMed),
        },
        linuxPlan: {
          plans: k.plans,
          tlbiCommands: lpTlbis,
          nsPerPlanCpuMedian: round2(ns(lp.ms, k.plans)),
          nsPerPlanCpuMin: round2(ns(lp.ms, k.plans, (a) => Math.min(...a))),
          nsPerTlbiCommandCpuMedian: round2(ns(lp.ms, lpTlbis)),
          ratioToCPerTlbiCommand: round2(ns(lp.ms, lpTlbis) / cMed),
        },
        tlbiPlan: {
          entries: k.tpEntries,
          nsPerPlanCpuMedian: round2(ns(tp.ms, k.plans)),
          ratioToLinuxPlan: round2(median(tp.ms) / median(lp.ms)),
        },
      };
      const m = job(en, x.name, 'many');
      if (m)
        e.linux64Targets4Smmus = {
          what: 'invalidateRange, 4 SMMUs x (8 S1_ASID + 8 ATS), SMMU 2 forceSync, first ranges/16',
          entries: k.mEntries,
          nsPerEntryCpuMedian: round2(ns(m.ms, k.mEntries)),
        };
      perSet[en] = e;
    }
    report[x.name] = perSet;
  }
  console.log(JSON.stringify(report, null, 2));
  if (mismatch) {
    console.error('likeForLike: commands or checksum differ from C');
    process.exitCode = 1;
  }
}
