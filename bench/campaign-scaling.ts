/**
 * Campaign throughput with 1 and 2 worker threads: the same cases (the standard workload configuration,
 * seeds 1..CASES) run by `jobs` workers of the campaign's case runner (src/cli/campaign-worker.ts), passes
 * alternating 1 job / 2 jobs, PASSES each; prints the load average at the start and the medians of
 * operations per wall-second and CPU time per operation (all threads of the process).
 *
 * Run: nice npx tsx bench/campaign-scaling.ts [passes=5] [cases=8] [ops=3000]
 */
import { loadavg } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { CaseResult, CaseSpec } from '../src/campaign/run-case.js';
import { expandMatrix } from '../src/campaign/matrix.js';

const passes = Number(process.argv[2] ?? 5);
const cases = Number(process.argv[3] ?? 8);
const ops = Number(process.argv[4] ?? 3000);
const config = expandMatrix({
  scenario: ['workload'],
  stage: ['1'],
  granule: ['4K'],
  ril: ['on'],
  ats: ['on'],
  e2h: ['off'],
  policy: ['linux'],
  'force-sync': ['off'],
  repeat: ['off'],
})[0]!;

function startWorker(): Worker {
  const api = import.meta.resolve('tsx/esm/api');
  const script = new URL('../src/cli/campaign-worker.ts', import.meta.url).href;
  return new Worker(
    `import(${JSON.stringify(api)}).then((m) => { m.register(); return import(${JSON.stringify(script)}); })`,
    { eval: true },
  );
}

function runOn(workers: Worker[], specs: CaseSpec[]): Promise<CaseResult[]> {
  return new Promise((resolve, reject) => {
    const results: CaseResult[] = [];
    let next = 0;
    const feed = (w: Worker): void => {
      if (next < specs.length) w.postMessage(specs[next++]);
    };
    for (const w of workers) {
      w.removeAllListeners('message');
      w.on('message', (m: { ok: boolean; result: CaseResult; error?: string }) => {
        if (!m.ok) return reject(new Error(m.error));
        results.push(m.result);
        if (results.length === specs.length) resolve(results);
        else feed(w);
      });
      w.on('error', reject);
      feed(w);
    }
  });
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const load = loadavg();
console.log(`load average at start: ${load.map((x) => x.toFixed(2)).join(' ')}`);
const pools = { 1: [startWorker()], 2: [startWorker(), startWorker()] };
const specs = Array.from({ length: cases }, (_, i): CaseSpec => ({ index: i, seed: i + 1, config, ops, fault: null }));
// Warm-up: each worker loads and compiles the model once.
await runOn(pools[1], specs.slice(0, 1));
await runOn(pools[2], specs.slice(0, 2));
const figures: Record<1 | 2, { opsPerWall: number[]; cpuUsPerOp: number[] }> = {
  1: { opsPerWall: [], cpuUsPerOp: [] },
  2: { opsPerWall: [], cpuUsPerOp: [] },
};
for (let p = 0; p < passes; p++) {
  for (const jobs of [1, 2] as const) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    const r = await runOn(pools[jobs], specs);
    const wall = (performance.now() - t0) / 1000;
    const c = process.cpuUsage(c0);
    const total = r.reduce((s, x) => s + x.ops, 0);
    figures[jobs].opsPerWall.push(total / wall);
    figures[jobs].cpuUsPerOp.push((c.user + c.system) / total);
    console.log(
      `pass ${p + 1} jobs ${jobs}: ${Math.round(total / wall)} ops/wall-s, ${((c.user + c.system) / total).toFixed(1)} CPU-µs/op`,
    );
  }
}
const m1 = median(figures[1].opsPerWall);
const m2 = median(figures[2].opsPerWall);
const c1 = median(figures[1].cpuUsPerOp);
const c2 = median(figures[2].cpuUsPerOp);
console.log(
  `medians: 1 job ${Math.round(m1)} ops/wall-s, ${c1.toFixed(1)} CPU-µs/op; 2 jobs ${Math.round(m2)} ops/wall-s, ` +
    `${c2.toFixed(1)} CPU-µs/op; scaling ${(m2 / m1).toFixed(2)}x, CPU per op ${(((c2 - c1) / c1) * 100).toFixed(1)}%`,
);
console.log(
  `load average at end: ${loadavg()
    .map((x) => x.toFixed(2))
    .join(' ')}`,
);
await Promise.all([...pools[1], ...pools[2]].map((w) => w.terminate()));
