/**
 * CLI start-up cost (run: `nice npx tsx bench/startup.ts [rounds]`): CPU time (user + system, the child's own
 * process.resourceUsage() at exit) of `node -e 0`, `smmuv3-tlbi --help` and a one-entry `decode`, median over the
 * rounds, and the two commands' cost beyond bare Node. Target ≤ 60 ms beyond `node -e 0`.
 * BEFORE_BIN=path/to/bin/smmuv3-tlbi.js measures another build side by side (interleaved round by round).
 */
import { spawnSync } from 'node:child_process';
import { loadavg } from 'node:os';
import { join } from 'node:path';

const ROUNDS = Number(process.argv[2] ?? 21);
const ROOT = new URL('..', import.meta.url).pathname;
const BINS: [string, string][] = [['after', join(ROOT, 'bin', 'smmuv3-tlbi.js')]];
if (process.env.BEFORE_BIN) BINS.unshift(['before', process.env.BEFORE_BIN]);

const HOOK =
  "data:text/javascript,import{writeSync}from'node:fs';process.on('exit',()=>{const r=process.resourceUsage();" +
  "writeSync(3,String((r.userCPUTime+r.systemCPUTime)/1000)+'\\n')})";

/** CPU ms of one run of node with these arguments. */
function cpuMs(args: string[]): number {
  const r = spawnSync(process.execPath, ['--import', HOOK, ...args], { stdio: ['ignore', 'ignore', 'ignore', 'pipe'] });
  return Number(String(r.output[3]).trim());
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

const cases: [string, (bin: string) => string[]][] = [
  ['--help', (bin) => [bin, '--help']],
  ['decode 0x46 0x0', (bin) => [bin, 'decode', '0x46', '0x0']],
];
const bare: number[] = [];
const times = new Map<string, number[]>();
console.log(
  `load average before: ${loadavg()
    .map((x) => x.toFixed(2))
    .join(' ')}`,
);
for (let k = 0; k < ROUNDS; k++) {
  bare.push(cpuMs(['-e', '0']));
  for (const [label, bin] of BINS)
    for (const [name, args] of cases) {
      const key = `${label} ${name}`;
      if (!times.has(key)) times.set(key, []);
      times.get(key)!.push(cpuMs(args(bin)));
    }
}
const base = median(bare);
console.log(`node -e 0: ${base.toFixed(1)} ms CPU (median of ${ROUNDS})`);
for (const [key, xs] of times) {
  const m = median(xs);
  console.log(
    `${key.padEnd(24)} ${m.toFixed(1).padStart(6)} ms CPU, ${(m - base).toFixed(1).padStart(6)} ms beyond node -e 0`,
  );
}
console.log(
  `load average after: ${loadavg()
    .map((x) => x.toFixed(2))
    .join(' ')}`,
);
