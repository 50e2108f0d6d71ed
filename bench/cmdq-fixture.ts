/**
 * The workload of the codec benchmark (bench/cmdq-throughput.ts): 10^6 entries in one typed array —
 * TLBI_NH_VA range commands (random ASID/VMID/NUM/SCALE/TTL, 48-bit addresses) with a CMD_SYNC every 8th
 * entry — and the four codec paths as kernels over the whole array.
 *
 * Not a vitest bench on purpose: under vitest every cross-module call goes through its module-namespace
 * getters, which made these loops 10-30x slower than under plain Node and measured vitest, not the codec.
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

export const N = 1_000_000;

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

export interface Fixture {
  mix: Mix;
  cmds: Command[];
  q: Uint32Array;
  checker: CommandChecker;
  entry: CheckedEntry;
}

export function makeFixture(): Fixture {
  const mix = makeMix();
  return {
    mix,
    cmds: commands(mix),
    q: new Uint32Array(N * 4),
    checker: new CommandChecker(),
    entry: new CheckedEntry(),
  };
}

/** Encode with the unchecked writers of writers.ts. */
export function encodeUnchecked(f: Fixture): number {
  const { mix, q } = f;
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
}

/** Encode the command objects with the validating encoder. */
export function encodeValidated(f: Fixture): number {
  const { cmds, q, checker } = f;
  for (let i = 0; i < N; i++) encodeCommand(cmds[i]!, q, i, checker);
  return q[(N - 2) * 4 + 2]!;
}

/** Validate every entry into one reusable CheckedEntry (no allocation). */
export function decodeChecked(f: Fixture): number {
  const { q, checker, entry } = f;
  let legal = 0;
  for (let i = 0; i < N; i++) if (checker.checkSlot(q, i, entry)) legal++;
  if (legal !== N) throw new Error(`only ${legal} of ${N} entries decoded legal`);
  return legal + entry.values[6]!;
}

/** Decode every entry into a typed DecodeResult / Command. */
export function decodeTyped(f: Fixture): number {
  const { q, checker } = f;
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
}
