/**
 * Experiment of issue 17: a WebAssembly build of the RIL range loop beside the TypeScript one and C
 * (run: `npx tsx bench/wasm-range.ts [ranges] [rounds]`; needs gcc and the assemblyscript devDependency).
 * The product keeps the TypeScript path (src/tlbi/range.ts); nothing in src/ uses WebAssembly.
 *
 * Compiles bench/wasm/range-loop.ts with AssemblyScript (-O3, stub runtime) and bench/linux_loop.c with its
 * clock switched to the process CPU clock, then, per round, times with process.cpuUsage() (CPU time; the
 * report gives medians over the rounds) on the same requests:
 *  (a) ts         the likeForLike loop of bench/plan-throughput.ts: emitRilRange (TLBI_NH_VA, ASID 5) into a
 *                 PlanOutput, C's checksum computed in the timed loop;
 *  (b) wasmEach   the WASM loop called once per request (the realistic use: one call per request, so the
 *                 JS→WASM call is paid each time), the checksum computed in JS from linear memory as (a);
 *  (b') wasmCopy  (b) with the words copied into a PlanOutput (u32 words and smmuOf, as emitRilRange fills
 *                 them): what a planner keeping its PlanOutput would pay;
 *  (c) wasmBatch  the WASM loop over every request in one call (checksum in WASM; the inputs copied into
 *                 linear memory beforehand, untimed): the loop without the call overhead;
 *  (d) C          bench/linux_loop.c (gcc -O2), as plan-throughput.ts builds and runs it.
 * Input sets: `random` (C's xorshift64 generator: up to 4096 leaf pages, 4 KiB) and `onePage` (random iova,
 * one 4 KiB leaf page). Before timing, every request's WASM words are compared with the TypeScript words
 * (the run fails on the first difference), and the checksums and command counts of (a)-(d) must agree.
 * Verdict: WASM pays for itself only if (b) beats (a), i.e. the loop's saving (a − c) is larger than the
 * call overhead (b − c).
 *
 * Measured 2026-12-03 17:37 UTC (2,000,000 ranges, 9 rounds, each set in its own process, 2 shared cores,
 * load average 1m 6.81 -> 6.75), ns per TLBI command, CPU-time medians:
 *             (a) ts   (b) wasmEach   (b') wasmCopy   (c) wasmBatch   (d) C
 *   random    13.04     8.97          18.93            6.61           3.55
 *   onePage   23.70    17.00          26.69           10.40           4.26
 * Call overhead (b − c) 2.4 / 6.6 ns per command is below the loop's saving (a − c) 6.4 / 13.3: with the
 * words left in linear memory WASM per request wins 1.45× / 1.39× (2.5× / 4.0× C; TypeScript 3.7× / 5.6×).
 * Copied into a PlanOutput (b') it loses: 1.45× / 1.13× the TypeScript time. Four earlier runs the same day
 * (load 3.8-9.7) gave the same ordering (b/a 0.58-0.73, b'/a 1.24-1.55, those with (b')). Hence not wired into src/: it would win
 * only if the planner's output lived in linear memory, which is a different PlanOutput, not this loop.
 */
import { execFileSync } from 'node:child_process';
import { loadavg } from 'node:os';
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as e from '../src/tlbi/index.js';
import { Opcode } from '../src/cmdq/opcodes.js';
import { writeTlbiTag } from '../src/cmdq/writers.js';

const R = Number(process.argv[2] ?? 2_000_000);
const ROUNDS = Number(process.argv[3] ?? 9);
const SEED = 88172645463325252n;
const M64 = (1n << 64n) - 1n;
const TWO_POW_32 = 4294967296;
const ASID = 5;
const PG_SHIFT = 12;

/** bench/linux_loop.c with CLOCK_PROCESS_CPUTIME_ID, built as plan-throughput.ts builds its CPU-clock twin. */
function buildC(): void {
  const text = readFileSync(fileURLToPath(new URL('./linux_loop.c', import.meta.url)), 'utf8');
  writeFileSync('/tmp/wasm-range-linux_loop.c', text.replace(/CLOCK_MONOTONIC/g, 'CLOCK_PROCESS_CPUTIME_ID'));
  execFileSync('gcc', ['-O2', '-o', C_BIN, '/tmp/wasm-range-linux_loop.c']);
}

/** One C run: commands, ns per command (CPU clock), checksum. */
function runC(bin: string, file: string | undefined): { cmds: number; ns: number; sum: bigint } {
  const args = file === undefined ? [String(R)] : [String(R), String(SEED), file];
  const [cmds, ns, sum] = execFileSync(bin, args, { encoding: 'utf8' }).trim().split(/\s+/);
  return { cmds: Number(cmds), ns: Number(ns), sum: BigInt(sum!) };
}

/** Requests as parallel arrays (4 KiB granule); `file` is what C reads (undefined: C's own generator). */
interface Inputs {
  name: string;
  iova: Float64Array;
  size: Float64Array;
  ttl: Uint8Array;
  leaf: Uint8Array;
  file?: string;
}

function inputs(name: 'random' | 'onePage'): Inputs {
  let s = SEED;
  const rnd = (): bigint => {
    s ^= (s << 13n) & M64;
    s ^= s >> 7n;
    s ^= (s << 17n) & M64;
    return s;
  };
  const x: Inputs = {
    name,
    iova: new Float64Array(R),
    size: new Float64Array(R),
    ttl: new Uint8Array(R).fill(3),
    leaf: new Uint8Array(R).fill(1),
  };
  for (let i = 0; i < R; i++) {
    x.iova[i] = Number((rnd() & 0xfffffffn) << 12n);
    x.size[i] = name === 'random' ? Number(((rnd() % 4096n) + 1n) << 12n) : 4096;
  }
  if (name === 'onePage') {
    const rec = new BigUint64Array(R * 4);
    for (let i = 0; i < R; i++) {
      rec[4 * i] = BigInt(x.iova[i]!);
      rec[4 * i + 1] = BigInt(x.size[i]!);
      rec[4 * i + 2] = 1n;
      rec[4 * i + 3] = 3n;
    }
    x.file = '/tmp/wasm-range-onePage.bin';
    writeFileSync(x.file, new Uint8Array(rec.buffer));
  }
  return x;
}

interface Wasm {
  memory: WebAssembly.Memory;
  rangeOne(out: number, iova: number, size: number, pgShift: number, asid: number, ttl: number, leaf: number): number;
  rangeBatch(
    out: number,
    iovaP: number,
    sizeP: number,
    ttlP: number,
    leafP: number,
    n: number,
    pgShift: number,
    asid: number,
  ): void;
}

/** Linear-memory layout: RESULT at 0, the command slots at OUT, then the batch's input arrays. */
const OUT = 1024;
const IN = 65536;

const WASM_BIN = '/tmp/wasm-range-loop.wasm';
const C_BIN = '/tmp/wasm-range-linux_loop';

/** Compile bench/wasm/range-loop.ts with AssemblyScript (the parent does it once, for every set's child). */
function buildWasm(): void {
  const src = fileURLToPath(new URL('./wasm/range-loop.ts', import.meta.url));
  const asc = fileURLToPath(new URL('../node_modules/.bin/asc', import.meta.url));
  execFileSync(asc, [src, '-O3', '--runtime', 'stub', '-o', WASM_BIN], { stdio: 'inherit' });
}

async function loadWasm(): Promise<Wasm> {
  const { instance } = await WebAssembly.instantiate(readFileSync(WASM_BIN));
  const w = instance.exports as unknown as Wasm;
  const need = IN + R * 18 + 65536;
  const have = w.memory.buffer.byteLength;
  if (need > have) w.memory.grow(Math.ceil((need - have) / 65536));
  return w;
}

/** Checksum accumulator of C's (last w1 XOR first w0, summed mod 2^64), in two doubles as plan-throughput. */
function sumOf(lo: number, hi: number): bigint {
  return ((BigInt(hi) << 32n) + BigInt(lo)) & M64;
}

interface Result {
  cmds: number;
  sum: bigint;
}

/** The three JS-driven cases on one input set; each returns commands and checksum. */
function casesOf(w: Wasm, x: Inputs): Record<'ts' | 'wasmEach' | 'wasmCopy' | 'wasmBatch', () => Result> {
  const { iova, size, ttl, leaf } = x;
  const out = new e.PlanOutput(1024);
  const mem = w.memory.buffer;
  const m32 = new Uint32Array(mem);
  const base = IN;
  const iovaP = base;
  const sizeP = iovaP + R * 8;
  const ttlP = sizeP + R * 8;
  const leafP = ttlP + R;
  const o = OUT >> 2;
  const rangeOne = w.rangeOne;
  // The batch's inputs are copied into linear memory once, outside the timed call (one set at a time).
  new Float64Array(mem, iovaP, R).set(iova);
  new Float64Array(mem, sizeP, R).set(size);
  new Uint8Array(mem, ttlP, R).set(ttl);
  new Uint8Array(mem, leafP, R).set(leaf);
  return {
    ts: () => {
      let cmds = 0;
      let lo = 0;
      let hi = 0;
      for (let i = 0; i < R; i++) {
        out.clear();
        out.begin(0, false);
        if (size[i] === 0) writeTlbiTag(out.buf.u32, out.add(), Opcode.TLBI_NH_ASID, ASID, 0);
        else e.emitRilRange(out, Opcode.TLBI_NH_VA, ASID, 0, iova[i]!, size[i]!, PG_SHIFT, ttl[i]!, leaf[i]!);
        const n = out.count;
        cmds += n;
        const u = out.buf.u32;
        const k = (n - 1) * 4;
        lo += (u[k + 2]! ^ u[0]!) >>> 0;
        hi += (u[k + 3]! ^ u[1]!) >>> 0;
        if (lo >= 2 ** 52) {
          const carry = Math.floor(lo / TWO_POW_32);
          lo -= carry * TWO_POW_32;
          hi += carry;
        }
      }
      return { cmds, sum: sumOf(lo, hi) };
    },
    wasmEach: () => {
      let cmds = 0;
      let lo = 0;
      let hi = 0;
      for (let i = 0; i < R; i++) {
        const n = rangeOne(OUT, iova[i]!, size[i]!, PG_SHIFT, ASID, ttl[i]!, leaf[i]!);
        cmds += n;
        const k = o + (n - 1) * 4;
        lo += (m32[k + 2]! ^ m32[o]!) >>> 0;
        hi += (m32[k + 3]! ^ m32[o + 1]!) >>> 0;
        if (lo >= 2 ** 52) {
          const carry = Math.floor(lo / TWO_POW_32);
          lo -= carry * TWO_POW_32;
          hi += carry;
        }
      }
      return { cmds, sum: sumOf(lo, hi) };
    },
    wasmCopy: () => {
      let cmds = 0;
      let lo = 0;
      let hi = 0;
      for (let i = 0; i < R; i++) {
        const n = rangeOne(OUT, iova[i]!, size[i]!, PG_SHIFT, ASID, ttl[i]!, leaf[i]!);
        out.clear();
        out.begin(0, false);
        out.ensure(n);
        const u = out.buf.u32;
        const smmuOf = out.smmuOf;
        const smmu = out.smmu;
        for (let k = 0; k < n; k++) {
          const j = k << 2;
          u[j] = m32[o + j]!;
          u[j + 1] = m32[o + j + 1]!;
          u[j + 2] = m32[o + j + 2]!;
          u[j + 3] = m32[o + j + 3]!;
          smmuOf[k] = smmu;
        }
        out.buf.count = n;
        cmds += n;
        const k = (n - 1) * 4;
        lo += (u[k + 2]! ^ u[0]!) >>> 0;
        hi += (u[k + 3]! ^ u[1]!) >>> 0;
        if (lo >= 2 ** 52) {
          const carry = Math.floor(lo / TWO_POW_32);
          lo -= carry * TWO_POW_32;
          hi += carry;
        }
      }
      return { cmds, sum: sumOf(lo, hi) };
    },
    wasmBatch: () => {
      w.rangeBatch(OUT, iovaP, sizeP, ttlP, leafP, R, PG_SHIFT, ASID);
      const res = new BigUint64Array(mem, 0, 2);
      return { cmds: Number(res[0]), sum: res[1]! };
    },
  };
}

/** Every request's WASM words against the TypeScript words; throws on the first difference. */
function checkWords(w: Wasm, x: Inputs): void {
  const out = new e.PlanOutput(1024);
  const m32 = new Uint32Array(w.memory.buffer);
  const o = OUT >> 2;
  for (let i = 0; i < R; i++) {
    out.clear();
    out.begin(0, false);
    e.emitRilRange(out, Opcode.TLBI_NH_VA, ASID, 0, x.iova[i]!, x.size[i]!, PG_SHIFT, x.ttl[i]!, x.leaf[i]!);
    const n = w.rangeOne(OUT, x.iova[i]!, x.size[i]!, PG_SHIFT, ASID, x.ttl[i]!, x.leaf[i]!);
    const u = out.buf.u32;
    let same = n === out.count;
    for (let k = 0; same && k < n * 4; k++) same = u[k] === m32[o + k];
    if (!same)
      throw new Error(
        `${x.name} request ${i} (iova ${x.iova[i]}, size ${x.size[i]}): WASM ${n} commands ` +
          `[${[...m32.subarray(o, o + n * 4)].join(',')}] != TypeScript ${out.count} [${[...u.subarray(0, out.count * 4)].join(',')}]`,
      );
  }
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

function cpuMs(fn: () => unknown): number {
  const c0 = process.cpuUsage();
  fn();
  const c1 = process.cpuUsage(c0);
  return (c1.user + c1.system) / 1000;
}

type Row = Record<string, number>;

/** Child: one input set (its own process, so one set's profile does not shape the code another is timed with). */
async function runSet(name: 'random' | 'onePage'): Promise<Row> {
  const w = await loadWasm();
  const x = inputs(name);
  checkWords(w, x);
  const cases = casesOf(w, x);
  const names = ['ts', 'wasmEach', 'wasmCopy', 'wasmBatch'] as const;
  const c = runC(C_BIN, x.file);
  for (const n of names) {
    const r = cases[n](); // also the warm-up
    if (r.cmds !== c.cmds || r.sum !== c.sum)
      throw new Error(`${x.name} ${n}: ${r.cmds} commands, checksum ${r.sum}; C: ${c.cmds}, ${c.sum}`);
  }
  const ms: Record<string, number[]> = { ts: [], wasmEach: [], wasmCopy: [], wasmBatch: [], c: [] };
  for (let r = 0; r < ROUNDS; r++) {
    ms.c!.push((runC(C_BIN, x.file).ns * c.cmds) / 1e6);
    for (const n of names) ms[n]!.push(cpuMs(cases[n]));
  }
  const row: Row = { commands: c.cmds };
  for (const [n, v] of Object.entries(ms)) row[`${n} ns/cmd`] = Math.round((median(v) * 1e8) / c.cmds) / 100;
  return row;
}

const setArg = process.argv.indexOf('--set');
if (setArg >= 0) {
  process.stdout.write(JSON.stringify(await runSet(process.argv[setArg + 1] as 'random' | 'onePage')));
} else {
  const load0 = loadavg()[0]!;
  buildC();
  buildWasm();
  const table: Record<string, Row> = {};
  for (const set of ['random', 'onePage']) {
    const args = ['--import', 'tsx', fileURLToPath(import.meta.url), String(R), String(ROUNDS), '--set', set];
    table[set] = JSON.parse(execFileSync(process.execPath, args, { encoding: 'utf8' })) as Row;
  }
  const load1 = loadavg()[0]!;
  console.log(
    `ranges ${R}, rounds ${ROUNDS}, CPU time medians; load average 1m ${load0.toFixed(2)} -> ${load1.toFixed(2)}`,
  );
  console.table(table);
  for (const [set, r] of Object.entries(table)) verdict(set, r);
}

function verdict(set: string, r: Row): void {
  const a = r['ts ns/cmd']!;
  const b = r['wasmEach ns/cmd']!;
  const c = r['wasmBatch ns/cmd']!;
  const saving = a - c;
  const overhead = b - c;
  console.log(
    `verdict ${set}: loop saving (a - c) ${saving.toFixed(2)} ns/cmd vs call overhead (b - c) ${overhead.toFixed(2)} ns/cmd: ` +
      (b < a
        ? `WASM per request wins by ${(a - b).toFixed(2)} ns/cmd (${(a / b).toFixed(2)}x)`
        : `WASM per request does NOT win (${(b / a).toFixed(2)}x the TypeScript time)`) +
      `; TS ${(a / r['c ns/cmd']!).toFixed(2)}x C, WASM per request ${(b / r['c ns/cmd']!).toFixed(2)}x C`,
  );
  const bc = r['wasmCopy ns/cmd']!;
  console.log(
    `verdict ${set} into a PlanOutput: WASM per request + copy ${bc.toFixed(2)} ns/cmd vs TS ${a.toFixed(2)}: ` +
      (bc < a
        ? `WASM wins (${(a / bc).toFixed(2)}x)`
        : `WASM does NOT win (${(bc / a).toFixed(2)}x the TypeScript time)`),
  );
}
