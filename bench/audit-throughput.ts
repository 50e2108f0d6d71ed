/**
 * Audit throughput (run: `npx tsx bench/audit-throughput.ts [rounds]`).
 *
 * - Raw dumps: a 2^19-entry ring (8 MiB, the largest CMDQS) filled like the shared Linux sample — range TLBI_NH_VA requests
 *   as Linux's loop cuts them (1 to 4096 pages, one request per CMD_SYNC) — read oldest first, then checked
 *   (decode + every rule), then checked and re-planned with the engine (what `audit` does by default), and
 *   that plus the readable report or the --json document (which holds every re-planning row). Target ≥ 1 M
 *   entries/s.
 * - QEMU traces: the shared sample trace (69,144 lines) repeated to about 1 M lines, parsed, then audited.
 *   Target ≥ 200 k lines/s.
 * The machine may be shared: every phase is timed in process CPU time (user + system, process.cpuUsage) and
 * in wall-clock time, and the MEDIAN over the rounds is printed (CPU first), with a checksum so the work
 * cannot be optimised away.
 */
import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { writeSyncSev, writeTlbiRange, Opcode } from '../src/cmdq/index.js';
import { auditStream, formatReport, parseQemuTrace, readRing, reportToJson } from '../src/audit/index.js';

const ROUNDS = Number(process.argv[2] ?? 9);
const LOG2SIZE = 19; // the largest command queue (SMMU_IDR1.CMDQS ≤ 19)
const SIZE = 2 ** LOG2SIZE;

function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s;
  };
}

/** Fill a ring the way Linux's range loop would (independent, simple loop here). */
function linuxLikeRing(): { bytes: Uint8Array; prod: number } {
  const u = new Uint32Array(SIZE * 4);
  const next = rng(7);
  let slot = 0;
  while (slot < SIZE - 40) {
    let pages = 1 + (next() % (next() % 8 === 0 ? 4096 : 16));
    let iova = (0x40000 + (next() % 0x40000)) * 0x1000;
    while (pages > 0) {
      let scale = 0;
      while (((pages >>> scale) & 1) === 0) scale++;
      const num = (pages >>> scale) & 31;
      writeTlbiRange(u, slot++, Opcode.TLBI_NH_VA, 1, 0, num - 1, scale, 1, 3, 1, iova);
      iova += num * 2 ** (scale + 12);
      pages -= num * 2 ** scale;
    }
    writeSyncSev(u, slot++);
  }
  return { bytes: new Uint8Array(u.buffer), prod: slot };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

/** A phase's cost: CPU milliseconds (user + system) and wall-clock milliseconds. */
interface Cost {
  cpu: number;
  wall: number;
}

function time<T>(f: () => T): [Cost, T] {
  const c0 = process.cpuUsage();
  const t = performance.now();
  const r = f();
  const wall = performance.now() - t;
  const c = process.cpuUsage(c0);
  return [{ cpu: (c.user + c.system) / 1000, wall }, r];
}

function add(a: Cost, b: Cost): Cost {
  return { cpu: a.cpu + b.cpu, wall: a.wall + b.wall };
}

/** Median CPU and wall milliseconds of a phase over the rounds, and the rates they give for n items. */
function line(label: string, xs: Cost[], n: number, unit: string): string {
  const cpu = median(xs.map((x) => x.cpu));
  const wall = median(xs.map((x) => x.wall));
  const rate = (ms: number): string => `${(((n / ms) * 1000) / 1e6).toFixed(2)} M ${unit}/s`;
  return `  ${label.padEnd(36)} CPU ${cpu.toFixed(1).padStart(7)} ms ${rate(cpu).padStart(16)}   wall ${wall.toFixed(1).padStart(7)} ms ${rate(wall).padStart(16)}`;
}

const ring = linuxLikeRing();
const dumpRead: Cost[] = [];
const dumpCheck: Cost[] = [];
const dumpFull: Cost[] = [];
const dumpText: Cost[] = [];
const dumpJson: Cost[] = [];
let checksum = 0;
for (let k = 0; k < ROUNDS; k++) {
  const [t1, s] = time(() => readRing(ring.bytes, { prod: ring.prod, cons: ring.prod, log2size: LOG2SIZE }));
  dumpRead.push(t1);
  const [t2, rep] = time(() => auditStream(s, { replan: false }));
  dumpCheck.push(add(t1, t2));
  checksum += rep.counts.findings + rep.counts.batches;
  const [t3, rep2] = time(() => auditStream(s, {}));
  dumpFull.push(add(t1, t3));
  checksum += rep2.replan!.identical;
  if (k === 0 && rep2.replan!.identical !== rep2.replan!.requests) throw new Error('bench ring is not Linux-identical');
}
// What the CLI prints: the readable report, or the --json document (every re-planning row in it); in rounds of
// their own, after the others (the large JSON heap would otherwise slow the phases timed after it).
for (let k = 0; k < ROUNDS; k++) {
  const [t1, s] = time(() => readRing(ring.bytes, { prod: ring.prod, cons: ring.prod, log2size: LOG2SIZE }));
  const [t4, text] = time(() => formatReport(auditStream(s, {})));
  dumpText.push(add(t1, t4));
  checksum += text.length;
}
for (let k = 0; k < ROUNDS; k++) {
  const [t1, s] = time(() => readRing(ring.bytes, { prod: ring.prod, cons: ring.prod, log2size: LOG2SIZE }));
  const [t5, json] = time(() => JSON.stringify(reportToJson(auditStream(s, {}))));
  dumpJson.push(add(t1, t5));
  checksum += json.length;
}
const entries = ring.prod;
console.log(`raw dump: ${entries} entries (2^${LOG2SIZE}-slot ring), medians of ${ROUNDS} rounds`);
console.log(line('read ring (oldest first)', dumpRead, entries, 'entries'));
console.log(line('read + decode + all rules', dumpCheck, entries, 'entries'));
console.log(line('read + rules + re-planning (default)', dumpFull, entries, 'entries'));
console.log(line('  ... + readable report text', dumpText, entries, 'entries'));
console.log(line('  ... + --json document (all rows)', dumpJson, entries, 'entries'));

const sample = gunzipSync(
  readFileSync(new URL('../samples/linux-6.1-qemu-7.2-strict/qemu-trace.log.gz', import.meta.url)),
).toString('utf8');
const reps = 15;
const text = sample.repeat(reps);
const lines = (sample.match(/\n/g)?.length ?? 0) * reps;
const traceParse: Cost[] = [];
const traceFull: Cost[] = [];
for (let k = 0; k < ROUNDS; k++) {
  const [t1, r] = time(() => parseQemuTrace(text));
  traceParse.push(t1);
  const [t2, rep] = time(() => auditStream(r.stream, { trace: r.stats }));
  traceFull.push(add(t1, t2));
  checksum += rep.counts.findings + r.stream.count;
}
console.log(`QEMU trace: ${lines} lines (the shared sample × ${reps}), medians of ${ROUNDS} rounds`);
console.log(line('parse', traceParse, lines, 'lines'));
console.log(line('parse + rules + re-planning (default)', traceFull, lines, 'lines'));
console.log(`checksum ${checksum}`);
