/**
 * Codec throughput over 10^6 entries in one typed array (run: `npx tsx bench/cmdq-throughput.ts [rounds]`).
 *
 * Four paths over the same 16 MB queue (see cmdq-fixture.ts):
 *  - encode, unchecked: the writers of `writers.ts` (what the planner uses);
 *  - encode, validated: `encodeCommand` (encodeHalves + the validator) from prebuilt command objects;
 *  - decode, no allocation: `CommandChecker.checkSlot` into one reusable `CheckedEntry`;
 *  - decode, typed objects: `decodeSlot` producing a `DecodeResult` with a `Command` per entry.
 *
 * Prints the median over the rounds in M entries/s, and a checksum so the work cannot be optimised away.
 */
import { loadavg } from 'node:os';
import {
  N,
  decodeChecked,
  decodeTyped,
  encodeUnchecked,
  encodeValidated,
  makeFixture,
  type Fixture,
} from './cmdq-fixture.js';

const ROUNDS = Number(process.argv[2] ?? 9);

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1]!;
}

/**
 * Run `fn` ROUNDS times after a warm-up; report the median wall time and, because this machine is shared,
 * the median CPU time of this process (user + system, all threads — GC helpers included), which is far less
 * disturbed by other processes competing for the cores.
 */
function measure(label: string, fn: () => number): void {
  const wall: number[] = [];
  const cpu: number[] = [];
  let sink = 0;
  fn(); // warm-up
  for (let k = 0; k < ROUNDS; k++) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    sink = (sink + fn()) >>> 0;
    wall.push(performance.now() - t0);
    const c = process.cpuUsage(c0);
    cpu.push((c.user + c.system) / 1000);
  }
  const rate = (ms: number): string => (N / ms / 1000).toFixed(1).padStart(6);
  const w = median(wall);
  const c = median(cpu);
  console.log(
    `${label.padEnd(42)} wall median ${w.toFixed(1).padStart(7)} ms = ${rate(w)} M/s (best ${rate(Math.min(...wall))})` +
      `  cpu median ${c.toFixed(1).padStart(7)} ms = ${rate(c)} M/s  [checksum ${sink}]`,
  );
}

const fixture = makeFixture();
const load = loadavg()[0]!.toFixed(1);
console.log(
  `${N} entries (TLBI_NH_VA + CMD_SYNC every 8th), ${ROUNDS} rounds, Node ${process.version}, load average ${load}`,
);
const paths: [string, (f: Fixture) => number][] = [
  ['encode, unchecked (writers.ts)', encodeUnchecked],
  ['encode, validated (encodeCommand)', encodeValidated],
  ['decode, no allocation (checker.checkSlot)', decodeChecked],
  ['decode, typed objects (decodeSlot)', decodeTyped],
];
for (const [label, fn] of paths) measure(label, () => fn(fixture));
