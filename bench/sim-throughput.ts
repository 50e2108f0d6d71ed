/**
 * Simulated operations per second of the `simulate` workload (page tables → engine → queues → adversarial
 * model → checker), for a standard configuration and a few others.
 *
 * Run: npx tsx bench/sim-throughput.ts [ops]   (default 100000 per configuration)
 */
import { runSimulation, type SimConfig } from '../src/sim/workload.js';

const ops = Number(process.argv[2] ?? 100000);
const base: SimConfig = {
  granule: 4096,
  stage: '1',
  ril: true,
  ats: true,
  smmus: 1,
  ops,
  seed: 1,
  policy: 'linux',
  fault: null,
};
const configs: [string, Partial<SimConfig>][] = [
  ['standard: 4K, stage 1, RIL, ATS, 1 SMMU, linux', {}],
  ['same, tlbi policy', { policy: 'tlbi' }],
  ['4K, stage 2, no RIL, no ATS', { stage: '2', ril: false, ats: false }],
  ['4K, nested, RIL, ATS, 2 SMMUs', { stage: 'nested', smmus: 2 }],
  ['64K, stage 1, RIL, ATS', { granule: 65536 }],
];
runSimulation({ ...base, ops: Math.min(ops, 5000) }); // warm-up
for (const [name, over] of configs) {
  const r = runSimulation({ ...base, ...over });
  console.log(
    `${name.padEnd(48)} ${String(r.opsPerSecond).padStart(7)} ops/s  (${r.ops} ops in ${(r.elapsedMs / 1000).toFixed(1)} s, ` +
      `${r.syncs} syncs, ${r.translations} translations, stale ${r.stale})`,
  );
}
