/**
 * The workload's capture option: the cache contents around one change (before its commands, after its last
 * CMD_SYNC), without changing the run; 'auto' picks the first change that left a stale translation (the one
 * the report's first stale entry is from), else the last; a change can be picked by number.
 */
import { describe, expect, it } from 'vitest';
import { runSimulation, type SimReport } from '../src/sim/workload.js';
import { staleReportKey } from '../src/smmu/snapshot.js';
import { SIM_BASE } from './sim-fixtures.js';

const BASE = SIM_BASE;

/** The report without timing and capture. */
function core(r: SimReport): Partial<SimReport> {
  const { elapsedMs: _e, opsPerSecond: _o, capture: _c, ...rest } = r;
  return rest;
}

const overlaps = (r: { input: number; size: number }, first: number, last: number): boolean =>
  r.input <= last && r.input + r.size - 1 >= first;

describe('capture', () => {
  it('is absent unless asked for, and asking for it does not change the run', () => {
    for (const c of [BASE, { ...BASE, fault: 'no-atc' as const }, { ...BASE, stage: 'nested' as const }]) {
      const off = runSimulation(c);
      expect('capture' in off).toBe(false);
      const on = runSimulation({ ...c, capture: { change: 'auto' } });
      expect(core(on)).toEqual(core(off));
      expect(on.capture).not.toBeNull();
      const picked = runSimulation({ ...c, capture: { change: 3 } });
      expect(core(picked)).toEqual(core(off));
    }
  });

  it("'auto' with a fault: the first change with a stale translation, whose reports are the report's first", () => {
    for (const c of [
      { ...BASE, fault: 'no-atc' as const },
      { ...BASE, stage: 'nested' as const, ril: false, policy: 'tlbi' as const, fault: 'short-range' as const },
      { ...BASE, stage: '2' as const, fault: 'leaf-always' as const },
    ]) {
      const r = runSimulation({ ...c, maxReports: 10000, capture: { change: 'auto' } });
      const cap = r.capture!;
      expect(r.stale).toBeGreaterThan(0);
      expect(cap.op).toBe(r.staleReports[0]!.op);
      expect(cap.change).toBe(cap.staleChanges[0]);
      const stale = cap.smmus.flatMap((m) => m.stale);
      expect(stale.length).toBeGreaterThan(0);
      // The same reports, in the same order, as the run's report gives for that operation.
      const ofOp = r.staleReports.filter((s) => s.op === cap.op).slice(0, stale.length);
      expect(stale.map((s) => [s.smmu, s.cache, s.address, s.cached, s.live])).toEqual(
        ofOp.map((s) => [s.smmu, s.cache, s.address, s.cached, s.live]),
      );
      // Every stale entry is listed after the commands (pinned past the cap), by its key.
      for (const m of cap.smmus) {
        const keys = new Set(
          [...m.after.tlb.entries, ...m.after.walk.entries, ...m.after.atc.entries].map((x) => x.key),
        );
        for (const s of m.stale) expect(keys.has(staleReportKey(s)), staleReportKey(s)).toBe(true);
        expect(m.commands.length).toBeGreaterThan(0);
        for (const cmd of m.commands) expect(cmd.words.every((w) => /^0x[0-9a-f]{16}$/.test(w))).toBe(true);
      }
    }
  });

  it("'auto' without a fault: the last change; its unmapped range is filled before and has no leaf after", () => {
    const r = runSimulation({ ...BASE, capture: { change: 'auto' } });
    const cap = r.capture!;
    expect(r.stale).toBe(0);
    expect(cap.staleChanges).toEqual([]);
    expect(cap.change).toBe(cap.changes - 1);
    const { first, last } = cap.range;
    expect(cap.window.first).toBeLessThanOrEqual(first);
    expect(cap.window.last).toBeGreaterThanOrEqual(last);
    for (const m of cap.smmus) {
      expect(m.stale).toEqual([]);
      // The workload fills the caches over the range before it unmaps …
      expect(m.before.tlb.entries.some((x) => overlaps(x, first, last))).toBe(true);
      expect(m.before.atc.entries.some((x) => overlaps(x, first, last))).toBe(true);
      // … and once the commands completed nothing translates in the unmapped range any more.
      expect(m.after.tlb.entries.filter((x) => overlaps(x, first, last))).toEqual([]);
      expect(m.after.atc.entries.filter((x) => overlaps(x, first, last))).toEqual([]);
      for (const x of [...m.before.tlb.entries, ...m.after.atc.entries])
        expect(overlaps(x, cap.window.first, cap.window.last)).toBe(true);
    }
  });

  it('picks a change by number: the op and range follow the numbering; past the last there is none', () => {
    const auto = runSimulation({ ...BASE, capture: { change: 'auto' } }).capture!;
    const last = runSimulation({ ...BASE, capture: { change: auto.changes - 1 } }).capture!;
    expect(last).toEqual(auto);
    let prevOp = -1;
    for (let k = 0; k < 6; k++) {
      const cap = runSimulation({ ...BASE, capture: { change: k, limit: 5 } }).capture!;
      expect(cap.change).toBe(k);
      expect(cap.changes).toBe(auto.changes);
      expect(cap.op).toBeGreaterThanOrEqual(prevOp);
      prevOp = cap.op;
      for (const m of cap.smmus) {
        expect(m.before.tlb.entries.length).toBeLessThanOrEqual(5);
        expect(m.before.tlb.matching).toBeGreaterThanOrEqual(m.before.tlb.entries.length);
      }
    }
    expect(runSimulation({ ...BASE, capture: { change: auto.changes } }).capture).toBeNull();
  });
});
