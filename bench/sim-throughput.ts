/**
 * Simulated operations per CPU-second of the `simulate` workload (page tables → engine → queues →
 * adversarial model → checker) for the standard, stage-2, nested and 64K configurations (and the standard
 * one under the tlbi policy). CPU time is the process's own (process.cpuUsage, user + system), so the figure
 * holds on a loaded machine; wall-clock ops/s are printed beside it.
 *
 * Run:
 *   npx tsx bench/sim-throughput.ts [ops]                    this tree, in process (default 100000 ops each)
 *   npx tsx bench/sim-throughput.ts --compare DIR [--passes 5] [--ops 50000]
 *       side by side in one run: each pass runs every configuration once in a fresh child process for the
 *       tree DIR (e.g. a `git worktree add /tmp/base 96ce95f` with a node_modules symlink) and once for
 *       this tree, alternating which goes first; prints medians of ops/CPU-s and peak RSS per tree, the
 *       ratio, and the load average at the start and the end.
 *   (internal) --child TREE NAME OPS: one configuration of TREE in this process; prints one JSON line.
 */
import { spawnSync } from 'node:child_process';
import { loadavg } from 'node:os';
import { resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { SimConfig, SimReport } from '../src/sim/workload.js';

const base: SimConfig = {
  granule: 4096,
  stage: '1',
  ril: true,
  ats: true,
  smmus: 1,
  ops: 100000,
  seed: 1,
  policy: 'linux',
  fault: null,
};
const CONFIGS: Record<string, [string, Partial<SimConfig>]> = {
  standard: ['4K, stage 1, RIL, ATS, 1 SMMU, linux', {}],
  tlbi: ['same, tlbi policy', { policy: 'tlbi' }],
  s2: ['4K, stage 2, no RIL, no ATS', { stage: '2', ril: false, ats: false }],
  nested: ['4K, nested, RIL, ATS, 2 SMMUs', { stage: 'nested', smmus: 2 }],
  '64k': ['64K, stage 1, RIL, ATS', { granule: 65536 }],
};
const THIS_TREE = resolve(fileURLToPath(new URL('..', import.meta.url)));

interface Measure {
  readonly ops: number;
  readonly cpuMs: number;
  readonly wallMs: number;
  readonly rssKiB: number;
  readonly stale: number;
  readonly syncs: number;
  readonly translations: number;
}

type Run = (c: SimConfig) => SimReport;

async function loadRun(tree: string): Promise<Run> {
  const m = (await import(pathToFileURL(resolve(tree, 'src/sim/workload.ts')).href)) as { runSimulation: Run };
  return m.runSimulation;
}

function measure(run: Run, over: Partial<SimConfig>, ops: number): Measure {
  run({ ...base, ...over, ops: Math.min(ops, 5000), seed: 99 }); // warm-up (JIT), not counted
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const r = run({ ...base, ...over, ops });
  const wallMs = performance.now() - t0;
  const c = process.cpuUsage(c0);
  return {
    ops: r.ops,
    cpuMs: (c.user + c.system) / 1000,
    wallMs,
    rssKiB: process.resourceUsage().maxRSS,
    stale: r.stale,
    syncs: r.syncs,
    translations: r.translations,
  };
}

const perCpuS = (m: Measure): number => (m.ops * 1000) / m.cpuMs;
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const load = (): string =>
  loadavg()
    .map((x) => x.toFixed(2))
    .join(' ');

function child(tree: string, name: string, ops: number): Measure {
  const r = spawnSync(
    process.execPath,
    ['--import', 'tsx', fileURLToPath(import.meta.url), '--child', tree, name, String(ops)],
    { cwd: THIS_TREE, encoding: 'utf8', maxBuffer: 1 << 20 },
  );
  if (r.status !== 0) throw new Error(`child ${tree} ${name} failed: ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as Measure;
}

function compare(other: string, passes: number, ops: number): void {
  const trees: [string, string][] = [
    ['base', resolve(other)],
    ['this', THIS_TREE],
  ];
  console.log(`sim throughput, ${ops} ops per run, ${passes} passes alternating ${other} / ${THIS_TREE}`);
  console.log(`load average at start: ${load()}   (Node ${process.version})`);
  const results = new Map<string, Measure[]>();
  for (let p = 0; p < passes; p++) {
    const order = p % 2 === 0 ? trees : [trees[1]!, trees[0]!];
    for (const name of ['standard', 's2', 'nested', '64k'])
      for (const [label, tree] of order) {
        const key = `${name} ${label}`;
        const m = child(tree, name, ops);
        results.set(key, [...(results.get(key) ?? []), m]);
      }
    console.error(`pass ${p + 1}/${passes} done, load ${load()}`);
  }
  console.log('config     tree  ops/CPU-s (median, min..max)   wall ops/s   peak RSS MiB   stale');
  for (const name of ['standard', 's2', 'nested', '64k']) {
    const meds: number[] = [];
    for (const [label] of trees) {
      const ms = results.get(`${name} ${label}`)!;
      const rates = ms.map(perCpuS);
      const med = median(rates);
      meds.push(med);
      const wall = median(ms.map((m) => (m.ops * 1000) / m.wallMs));
      const rss = median(ms.map((m) => m.rssKiB / 1024));
      const lo = Math.min(...rates).toFixed(0);
      const hi = Math.max(...rates).toFixed(0);
      console.log(
        `${name.padEnd(9)}  ${label}  ${med.toFixed(0).padStart(9)} (${lo}..${hi})`.padEnd(46) +
          `${wall.toFixed(0).padStart(9)}   ${rss.toFixed(0).padStart(12)}   ${ms.map((m) => m.stale).join(',')}`,
      );
    }
    console.log(`${name.padEnd(9)}  ratio this/base: ${(meds[1]! / meds[0]!).toFixed(2)}×`);
  }
  console.log(`load average at end: ${load()}`);
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  if (args[0] === '--child') {
    const [tree, name, ops] = [args[1]!, args[2]!, Number(args[3])];
    const m = measure(await loadRun(tree), CONFIGS[name]![1], ops);
    console.log(JSON.stringify(m));
    return;
  }
  if (args[0] === '--compare') {
    const opt = (flag: string, dflt: number): number => {
      const i = args.indexOf(flag);
      return i < 0 ? dflt : Number(args[i + 1]);
    };
    compare(args[1]!, opt('--passes', 5), opt('--ops', 50000));
    return;
  }
  const ops = Number(args[0] ?? 100000);
  const run = await loadRun(THIS_TREE);
  console.log(`load average: ${load()}`);
  for (const [name, over] of Object.values(CONFIGS)) {
    const m = measure(run, over, ops);
    console.log(
      `${name.padEnd(40)} ${perCpuS(m).toFixed(0).padStart(7)} ops/CPU-s ${((m.ops * 1000) / m.wallMs).toFixed(0).padStart(7)} ops/s` +
        `  (${m.ops} ops, ${(m.cpuMs / 1000).toFixed(1)} CPU-s, ${m.syncs} syncs, ${m.translations} translations, stale ${m.stale})`,
    );
  }
}

await main();
