/**
 * The streamed `audit` CLI on large inputs (run: `nice npx tsx bench/audit-stream.ts [rounds]`): peak RSS and
 * throughput, in the child's own CPU time (user + system, from process.resourceUsage() at its exit) and its
 * maximum resident set. Inputs are made in the temporary folder from the repository's samples (never committed):
 *  - a dump of 2^24 entries (256 MiB, no registers): the Linux 7.3 sample ring repeated 256 times — audited with
 *    re-planning (the default), readable report and --json (both to /dev/null). Targets ≥ 3 M entries/s, ≤ 300 MB;
 *  - a QEMU trace of TRACE_MIB MiB (default 2048): the sample trace repeated — audited with re-planning. Targets
 *    ≥ 1 M lines/s, ≤ 300 MB; and a 300 MiB trace (what a whole-input reader could still hold);
 *  - the same traces through the QEMU conformance check (--qemu-ring with the sample's ring dump): ≤ 300 MB.
 * BEFORE_BIN=path/to/bin/smmuv3-tlbi.js runs another build of the CLI side by side (e.g. the previous commit's);
 * CASES=dump,json,trace300,trace,conf300,conf picks the cases (default all; `json` writes some GB of JSON to /dev/null).
 * Medians over the rounds, the builds interleaved round by round; the load average is printed with them (the machine
 * may be shared).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, openSync, closeSync, writeSync, statSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { readFileSync } from 'node:fs';

const ROUNDS = Number(process.argv[2] ?? 3);
const TRACE_MIB = Number(process.env.TRACE_MIB ?? 2048);
const ROOT = new URL('..', import.meta.url).pathname;
const SAMPLE = join(ROOT, 'samples', 'linux-7.3-qemu-10.0-strict');
const DIR = join(tmpdir(), 'smmuv3-tlbi-bench-audit');
const BINS: [string, string][] = [['after', join(ROOT, 'bin', 'smmuv3-tlbi.js')]];
if (process.env.BEFORE_BIN) BINS.unshift(['before', process.env.BEFORE_BIN]);

/** Write `piece` repeated until the file holds at least `bytes` bytes (whole pieces), once. */
function repeated(name: string, piece: Uint8Array, bytes: number): string {
  const path = join(DIR, name);
  const want = Math.ceil(bytes / piece.length) * piece.length;
  if (existsSync(path) && statSync(path).size === want) return path;
  const fd = openSync(path, 'w');
  for (let n = 0; n < want; n += piece.length) writeSync(fd, piece);
  closeSync(fd);
  return path;
}

/** Lines of a text file (count of '\n'), read in pieces. */
function lineCount(piece: Uint8Array, copies: number): number {
  let n = 0;
  for (const b of piece) if (b === 10) n++;
  return n * copies;
}

interface Run {
  cpu: number;
  rssMiB: number;
  code: number | null;
  err: string;
}

/** The child writes its resource usage to fd 3 when it exits. */
const HOOK =
  "data:text/javascript,import{writeSync}from'node:fs';process.on('exit',()=>{const r=process.resourceUsage();" +
  "writeSync(3,JSON.stringify({cpu:(r.userCPUTime+r.systemCPUTime)/1e6,rss:r.maxRSS/1024})+'\\n')})";

function run(bin: string, args: string[]): Run {
  const r = spawnSync('nice', [process.execPath, '--import', HOOK, bin, ...args], {
    stdio: ['ignore', 'ignore', 'pipe', 'pipe'],
    encoding: 'utf8',
    maxBuffer: 1 << 20,
  });
  const usage = String(r.output[3] ?? '').trim();
  const u = usage ? (JSON.parse(usage) as { cpu: number; rss: number }) : { cpu: NaN, rss: NaN };
  return { cpu: u.cpu, rssMiB: u.rss, code: r.status, err: String(r.stderr ?? '').split('\n')[0] ?? '' };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

mkdirSync(DIR, { recursive: true });
const ring = gunzipSync(readFileSync(join(SAMPLE, 'cmdq.bin.gz')));
const trace = gunzipSync(readFileSync(join(SAMPLE, 'qemu-trace.log.gz')));
const dump = repeated('dump-2^24.bin', ring, 2 ** 24 * 16);
const entries = 2 ** 24;
const cases: { key: string; name: string; args: string[]; unit: string; count: number; rounds: number }[] = [
  {
    key: 'dump',
    name: 'dump 2^24 entries, report',
    args: ['audit', '--file', dump],
    unit: 'entries',
    count: entries,
    rounds: ROUNDS,
  },
  {
    key: 'json',
    name: 'dump 2^24 entries, --json',
    args: ['audit', '--file', dump, '--json'],
    unit: 'entries',
    count: entries,
    rounds: ROUNDS,
  },
];
for (const mib of [300, TRACE_MIB]) {
  const keys = mib === 300 ? ['trace300', 'conf300'] : ['trace', 'conf'];
  if (process.env.CASES && !process.env.CASES.split(',').some((k) => keys.includes(k))) continue;
  const path = repeated(`trace-${mib}MiB.log`, trace, mib * 2 ** 20);
  const copies = statSync(path).size / trace.length;
  cases.push({
    key: mib === 300 ? 'trace300' : 'trace',
    name: `trace ${mib} MiB, report`,
    args: ['audit', '--qemu-trace', path],
    unit: 'lines',
    count: lineCount(trace, copies),
    rounds: mib > 512 ? 1 : ROUNDS,
  });
  // QEMU conformance: the same trace against the sample's ring dump (the trace streamed, the ring read whole).
  cases.push({
    key: mib === 300 ? 'conf300' : 'conf',
    name: `conformance ${mib} MiB`,
    args: [
      'audit',
      '--qemu-trace',
      path,
      '--qemu-ring',
      join(SAMPLE, 'cmdq.bin.gz'),
      '--regs',
      join(SAMPLE, 'cmdq.json'),
    ],
    unit: 'lines',
    count: lineCount(trace, copies),
    rounds: mib > 512 ? 1 : ROUNDS,
  });
}

console.log(
  `load average before: ${loadavg()
    .map((x) => x.toFixed(2))
    .join(' ')}`,
);
const only = process.env.CASES?.split(',');
for (const c of cases) {
  if (only && !only.includes(c.key)) continue;
  // Round by round, every build once per round (before and after side by side under the same load).
  const runs = new Map<string, Run[]>(BINS.map(([label]) => [label, []]));
  for (let k = 0; k < c.rounds; k++) for (const [label, bin] of BINS) runs.get(label)!.push(run(bin, c.args));
  for (const [label] of BINS) {
    const mine = runs.get(label)!;
    const bad = mine.find((r) => r.code !== 0 && r.code !== 1);
    if (bad) {
      console.log(`${c.name.padEnd(28)} ${label.padEnd(6)} exit ${bad.code}: ${bad.err}`);
      continue;
    }
    const cpu = median(mine.map((r) => r.cpu));
    const rss = median(mine.map((r) => r.rssMiB));
    const rate = c.count / cpu;
    console.log(
      `${c.name.padEnd(28)} ${label.padEnd(6)} ${cpu.toFixed(2).padStart(7)} s CPU  ${(rate / 1e6).toFixed(2).padStart(5)} M ${c.unit}/s  RSS ${rss.toFixed(0).padStart(5)} MiB  (${c.rounds} rounds, load ${loadavg()[0]!.toFixed(2)})`,
    );
  }
}
