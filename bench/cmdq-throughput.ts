/**
 * Codec throughput over 10^6 entries in one typed array (run: `npx tsx bench/cmdq-throughput.ts [rounds]`).
 *
 * Four paths, each over the same 16 MB queue:
 *  - encode, unchecked: the writers of `writers.ts` (what the planner uses);
 *  - encode, validated: `encodeCommand` (encodeHalves + the validator) from prebuilt command objects;
 *  - decode, no allocation: `CommandChecker.checkSlot` into one reusable `CheckedEntry`;
 *  - decode, typed objects: `decodeSlot` producing a `DecodeResult` with a `Command` per entry.
 *
 * The mix is a realistic one: TLBI_NH_VA range commands (random ASID/VMID/NUM/SCALE/TTL and 48-bit addresses)
 * with a CMD_SYNC every 8 entries. Prints the median over the rounds in M entries/s, and a checksum so that
 * the work cannot be optimised away.
 */
import {
  CheckedEntry,
  CommandChecker,
  decodeSlot,
  encodeCommand,
  Opcode,
  writeSyncSev,
  writeTlbiRange,
} from '../src/cmdq/index.js';
import type { Command } from '../src/cmdq/index.js';

const N = 1_000_000;
const ROUNDS = Number(process.argv[2] ?? 9);

/** A small deterministic PRNG (xorshift32), so every run measures the same entries. */
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

interface Mix {
  asid: Uint32Array;
  vmid: Uint32Array;
  num: Uint32Array;
  scale: Uint32Array;
  ttl: Uint32Array;
  addr: Float64Array;
  sync: Uint8Array;
}

function makeMix(): Mix {
  const r = rng(0x5eed);
  const m: Mix = {
    asid: new Uint32Array(N),
    vmid: new Uint32Array(N),
    num: new Uint32Array(N),
    scale: new Uint32Array(N),
    ttl: new Uint32Array(N),
    addr: new Float64Array(N),
    sync: new Uint8Array(N),
  };
  for (let i = 0; i < N; i++) {
    m.sync[i] = i % 8 === 7 ? 1 : 0;
    m.asid[i] = r() & 0xffff;
    m.vmid[i] = r() & 0xffff;
    m.num[i] = r() & 31;
    m.scale[i] = r() % 20;
    m.ttl[i] = 1 + (r() % 3); // TTL ≠ 0 keeps NUM = SCALE = 0 legal
    m.addr[i] = (r() & 0xffff) * 2 ** 32 + (((r() & 0xfffff) << 12) >>> 0); // a 48-bit, 4 KiB-aligned VA
  }
  return m;
}

function commands(m: Mix): Command[] {
  const out: Command[] = new Array<Command>(N);
  for (let i = 0; i < N; i++) {
    out[i] = m.sync[i]
      ? { name: 'CMD_SYNC', cs: 2, msh: 3, msiattr: 15, msidata: 0, msiaddr: 0 }
      : {
          name: 'TLBI_NH_VA',
          num: m.num[i]!,
          scale: m.scale[i]!,
          vmid: m.vmid[i]!,
          asid: m.asid[i]!,
          leaf: 1,
          ttl: m.ttl[i]!,
          tg: 1,
          addr: m.addr[i]!,
        };
  }
  return out;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1]!;
}

function measure(label: string, fn: () => number): void {
  const times: number[] = [];
  let sink = 0;
  fn(); // warm-up
  for (let k = 0; k < ROUNDS; k++) {
    const t0 = performance.now();
    sink = (sink + fn()) >>> 0;
    times.push(performance.now() - t0);
  }
  const ms = median(times);
  console.log(
    `${label.padEnd(44)} median ${ms.toFixed(1).padStart(7)} ms  ${(N / ms / 1000).toFixed(1).padStart(6)} M entries/s  (min ${Math.min(...times).toFixed(1)} ms, checksum ${sink})`,
  );
}

const mix = makeMix();
const cmds = commands(mix);
const q = new Uint32Array(N * 4);
const checker = new CommandChecker();
const entry = new CheckedEntry();

console.log(`${N} entries (TLBI_NH_VA + CMD_SYNC every 8th), ${ROUNDS} rounds, Node ${process.version}`);

measure('encode, unchecked (writers.ts)', () => {
  for (let i = 0; i < N; i++) {
    if (mix.sync[i]) writeSyncSev(q, i);
    else
      writeTlbiRange(
        q,
        i,
        Opcode.TLBI_NH_VA,
        mix.asid[i]!,
        mix.vmid[i]!,
        mix.num[i]!,
        mix.scale[i]!,
        1,
        mix.ttl[i]!,
        1,
        mix.addr[i]!,
      );
  }
  return q[(N - 2) * 4 + 2]!;
});

measure('encode, validated (encodeCommand)', () => {
  for (let i = 0; i < N; i++) encodeCommand(cmds[i]!, q, i, checker);
  return q[(N - 2) * 4 + 2]!;
});

measure('decode, no allocation (checker.checkSlot)', () => {
  let legal = 0;
  for (let i = 0; i < N; i++) if (checker.checkSlot(q, i, entry)) legal++;
  if (legal !== N) throw new Error(`only ${legal} of ${N} entries decoded legal`);
  return legal + entry.values[6]!;
});

measure('decode, typed objects (decodeSlot)', () => {
  let legal = 0;
  let x = 0;
  for (let i = 0; i < N; i++) {
    const r = decodeSlot(q, i, checker);
    if (r.ok) {
      legal++;
      if (r.command.name === 'TLBI_NH_VA') x = (x + r.command.asid) >>> 0;
    }
  }
  if (legal !== N) throw new Error(`only ${legal} of ${N} entries decoded legal`);
  return x;
});
