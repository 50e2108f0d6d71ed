/**
 * End-to-end scenario throughput: operations per second of the `driver`, `pkvm` and `nested` scenarios
 * (consumer → engine → command queues → adversarial SMMU models → checker), per policy, with and without
 * the plan statistics (which decode every planned entry). Each case runs `rounds` seeds; the median is
 * reported. Operations are what the scenario reports (maps, unmaps, attaches, donations, device accesses,
 * syncs, isolation checks, …), so ops/s measures the whole loop including the model and the checker.
 * (run: `npx tsx bench/scenario-throughput.ts [rounds] [opsScale]`).
 */
import { runScenarioOnce, type ScenarioName } from '../src/sim/scenarios/index.js';
import { POLICIES } from '../src/tlbi/plan.js';

const ROUNDS = Number(process.argv[2] ?? 5);
const SCALE = Number(process.argv[3] ?? 1);
const OPS: Record<ScenarioName, number> = { driver: 1000, pkvm: 600, nested: 800 };

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

console.log(`scenario throughput, ${ROUNDS} seeds per case, 4K granule, RIL on, ATS on (Node ${process.version})`);
// Warm-up (JIT): one short run of each scenario and policy, not reported.
for (const name of ['driver', 'pkvm', 'nested'] as const)
  for (const policy of POLICIES)
    runScenarioOnce(name, { granule: 4096, ril: true, ats: true, seed: 99, policy, fault: null, ops: 200 });
console.log('scenario  policy  stats  ops/run  ms/run   ops/s  commands/s  stale');
for (const name of ['driver', 'pkvm', 'nested'] as const)
  for (const policy of POLICIES)
    for (const planStatistics of [false, true]) {
      const rates: number[] = [];
      const cmdRates: number[] = [];
      const ms: number[] = [];
      let ops = 0;
      let stale = 0;
      for (let seed = 1; seed <= ROUNDS; seed++) {
        const t0 = performance.now();
        const r = runScenarioOnce(name, {
          granule: 4096,
          ril: true,
          ats: true,
          seed,
          policy,
          fault: null,
          ops: Math.round(OPS[name] * SCALE),
          planStatistics,
        });
        const dt = performance.now() - t0;
        rates.push((r.ops * 1000) / dt);
        cmdRates.push(((r.commands.commands + r.commands.syncs) * 1000) / dt);
        ms.push(dt);
        ops = r.ops;
        stale += r.stale;
      }
      console.log(
        `${name.padEnd(8)}  ${policy.padEnd(6)}  ${planStatistics ? 'on ' : 'off'}  ${String(ops).padStart(7)}  ${median(ms).toFixed(0).padStart(6)}  ${median(rates).toFixed(0).padStart(6)}  ${median(cmdRates).toFixed(0).padStart(10)}  ${stale}`,
      );
    }
