/**
 * `simulate --emit-stream FILE`: the entries the workload wrote to each SMMU's command queue, in order, as a
 * raw little-endian ring dump and a registers file (the shape of samples/…/cmdq.json) per SMMU — SMMU 0's as
 * FILE and FILE.json, SMMU K's (with --smmus) as FILE.smmuK and FILE.smmuK.json — each of which
 * `audit --file DUMP --regs DUMP.json` reads on its own: the ring holds the whole run from slot 0 (2^LOG2SIZE entries,
 * the smallest power of two that holds it, at least 2^8), PROD = CONS = the entry count (everything
 * consumed), ID registers from the simulated SMMU's features (RIL, ATS, DS), CR2.E2H when the SMMUs run with E2H, and an
 * IIDR naming an Arm MMU-700 when the SMMUs have its erratum 2812531.
 */
import { writeFileSync } from 'node:fs';
import type { SimConfig } from '../sim/workload.js';
import { UsageError } from './common.js';

/** SMMU_IDR1.CMDQS is at most 19: a ring holds at most 2^19 entries. */
const MAX_LOG2SIZE = 19;
const MIN_LOG2SIZE = 8;
/** Arm's JEP106 implementer code (0x43B) and the MMU-700's ProductID (0x487) in SMMU_IIDR. */
export const MMU700_IIDR = (0x487 << 20) | 0x43b;

/** The dump file of SMMU `smmu`'s queue: FILE for SMMU 0, FILE.smmuK for SMMU K (its registers: that name + .json). */
export function streamFile(file: string, smmu: number): string {
  return smmu === 0 ? file : `${file}.smmu${smmu}`;
}

/** One SMMU's entries as the workload writes them, in order (a growing buffer of halves). */
class QueueLog {
  buf = new Uint32Array(1 << 12);
  n = 0;

  add(entries: Uint32Array): void {
    const need = this.n * 4 + entries.length;
    if (need > this.buf.length) {
      let size = this.buf.length;
      while (size < need) size *= 2;
      const next = new Uint32Array(size);
      next.set(this.buf.subarray(0, this.n * 4));
      this.buf = next;
    }
    this.buf.set(entries, this.n * 4);
    this.n += entries.length / 4;
  }
}

/** Collects every SMMU's entries as the workload writes them. */
export class StreamRecorder {
  private readonly logs: QueueLog[] = [];

  readonly onCommands = (smmu: number, entries: Uint32Array): void => {
    while (this.logs.length <= smmu) this.logs.push(new QueueLog());
    this.logs[smmu]!.add(entries);
  };

  /** SMMU 0's entries. */
  get count(): number {
    return this.countOf(0);
  }

  /** SMMU `smmu`'s entries. */
  countOf(smmu: number): number {
    return this.logs[smmu]?.n ?? 0;
  }

  /**
   * Write each SMMU's dump and registers (streamFile: FILE and FILE.json for SMMU 0, FILE.smmuK and
   * FILE.smmuK.json for SMMU K of `cfg.smmus`); returns SMMU 0's registers. UsageError, before anything is
   * written, when a queue's run does not fit a ring.
   */
  write(file: string, cfg: SimConfig): Record<string, string | number> {
    const smmus = Math.max(1, cfg.smmus);
    for (let k = 0; k < smmus; k++) ringLog2(this.countOf(k));
    let first: Record<string, string | number> = {};
    for (let k = 0; k < smmus; k++) {
      const log = this.logs[k] ?? new QueueLog();
      const regs = writeDump(streamFile(file, k), log.buf, log.n, cfg);
      if (k === 0) first = regs;
    }
    return first;
  }
}

/** The ring size (log2) that holds `n` entries; UsageError past SMMU_IDR1.CMDQS's limit. */
function ringLog2(n: number): number {
  let log2 = MIN_LOG2SIZE;
  while (2 ** log2 < n) log2++;
  if (log2 > MAX_LOG2SIZE)
    throw new UsageError(
      `--emit-stream: the run wrote ${n} entries, more than a command queue holds (2^${MAX_LOG2SIZE}); use fewer --ops`,
    );
  return log2;
}

/** One queue as a ring dump (FILE) and its registers (FILE.json); returns the registers. */
function writeDump(file: string, buf: Uint32Array, n: number, cfg: SimConfig): Record<string, string | number> {
  const log2 = ringLog2(n);
  const entries = 2 ** log2;
  const bytes = new Uint8Array(entries * 16);
  const view = new DataView(bytes.buffer);
  for (let k = 0; k < n * 4; k++) view.setUint32(k * 4, buf[k]!, true);
  // PROD = CONS: index n within the ring, wrap bit clear (a full ring of exactly 2^log2 entries wraps once).
  const ptr = n === entries ? entries : n;
  const hex = (v: number): string => `0x${(v >>> 0).toString(16)}`;
  const e2h = cfg.e2h === true && cfg.stage === '1';
  const idr0 = (1 << 0) | (1 << 1) | (1 << 9) | (cfg.ats ? 1 << 10 : 0) | (1 << 12) | (1 << 16) | (1 << 18);
  const regs: Record<string, string | number> = {
    CMDQ_BASE: hex(log2),
    CMDQ_PROD: hex(ptr),
    CMDQ_CONS: hex(ptr),
    IDR0: hex(idr0),
    IDR1: hex(MAX_LOG2SIZE << 21),
    IDR3: hex(cfg.ril ? 1 << 10 : 0),
    // OAS 48 bits (5); IDR5.DS (bit 7, as src/cmdq/features.ts reads it) when the SMMUs have DS.
    IDR5: hex(5 | (cfg.ds === true ? 1 << 7 : 0)),
    IIDR: hex(cfg.errata?.includes('mmu700-2812531') === true ? MMU700_IIDR : 0),
    CR2: hex(e2h ? 1 : 0),
    log2size: log2,
    bytes: bytes.length,
  };
  writeFileSync(file, bytes);
  writeFileSync(`${file}.json`, JSON.stringify(regs, null, 1) + '\n');
  return regs;
}
