/**
 * The consumers' STE/CD updates against the SMMU model's configuration caches (issue 14 item 14, consumer
 * side). The judge is the model: after each update the checker compares every cached STE and CD with the
 * stream table in memory (IHI 0070 §3.21.3, §4.3). Driver: Linux's entry-writer order (CD before an STE that
 * uses the CD table; CFGI_CD for every StreamID of the master; CFGI_STE per STE step; a CMD_SYNC after each),
 * with fault `no-cfgi` as the negative control. pKVM: the host's CFGI_STE is what makes the hypervisor
 * re-shadow the STE; a host STE write without it changes nothing the SMMU uses.
 */
import { describe, expect, it } from 'vitest';
import { encodeHalves, makeCommand } from '../src/cmdq/index.js';
import { Opcode } from '../src/cmdq/opcodes.js';
import { Driver } from '../src/consumers/driver.js';
import { Hypervisor } from '../src/consumers/pkvm.js';
import { DEFAULT_SMMU_SPEC, type SmmuPort } from '../src/consumers/smmu-port.js';
import { IoPageTable } from '../src/pgtable/pagetable.js';
import { FrameAllocator } from '../src/pgtable/memory.js';
import { faultInjection, type FaultName } from '../src/sim/faults.js';

/** Every entry a port's queue receives: opcode and StreamID / SubstreamID words. */
function tap(port: SmmuPort): { op: number; sid: number; ssid: number }[] {
  const seen: { op: number; sid: number; ssid: number }[] = [];
  const m = port.model;
  const orig = m.submit.bind(m);
  m.submit = (u32: Uint32Array, from: number, count: number): number => {
    for (let k = from; k < from + count; k++)
      seen.push({ op: u32[k * 4]! & 0xff, sid: u32[k * 4 + 1]!, ssid: (u32[k * 4]! >>> 12) & 0xfffff });
    return orig(u32, from, count);
  };
  return seen;
}

function driverRun(fault?: FaultName) {
  const drv = new Driver({ smmus: [DEFAULT_SMMU_SPEC], granule: 4096, seed: 2, injection: faultInjection(fault) });
  const a = drv.createDomain('s1', 'tlbi');
  const b = drv.createDomain('s1', 'tlbi');
  const s2 = drv.createDomain('s2', 'tlbi');
  const m = drv.addMaster(0, [1, 2], false);
  const seen = tap(drv.port(0));
  return { drv, a, b, s2, m, seen };
}

describe('driver: STE/CD updates in Linux order, judged by the configuration caches', () => {
  it('a PASID attach writes the CD (hitless: fields first, then V) with CFGI_CD for every StreamID + CMD_SYNC per step, and no STE step', () => {
    const r = driverRun();
    r.drv.attach(r.m, r.a);
    r.seen.length = 0;
    r.drv.attach(r.m, r.b, 3);
    const ops = r.seen.map((e) =>
      e.op === Opcode.CMD_SYNC ? 'SYNC' : e.op === Opcode.CFGI_CD ? `CD${e.sid}:${e.ssid}` : e.op,
    );
    expect(ops).toEqual(['CD1:3', 'CD2:3', 'SYNC', 'CD1:3', 'CD2:3', 'SYNC']);
    expect(r.drv.stale.count).toBe(0);
    for (const sid of [1, 2]) expect(r.drv.port(0).model.translate(sid, 3, 0x1000_0000)).toBe(-1); // nothing mapped yet, but a CD
    expect(r.drv.port(0).checker.checkConfig(r.drv.port(0).model)).toEqual([]);
  });

  it('stage 2 → stage 1: the CD step (CFGI_CD) comes before the STE steps (CFGI_STE), each with its CMD_SYNC', () => {
    const r = driverRun();
    r.drv.attach(r.m, r.s2);
    r.seen.length = 0;
    r.drv.attach(r.m, r.a);
    const ops = r.seen.map((e) => e.op);
    const firstSte = ops.indexOf(Opcode.CFGI_STE);
    const lastCd = ops.lastIndexOf(Opcode.CFGI_CD);
    expect(lastCd).toBeGreaterThanOrEqual(0);
    expect(firstSte).toBeGreaterThan(lastCd);
    // Every CFGI is followed by a CMD_SYNC before the next write (one step per batch).
    for (let k = 0; k < ops.length; k++)
      if (ops[k] === Opcode.CFGI_STE) expect([Opcode.CMD_SYNC, Opcode.CFGI_STE]).toContain(ops[k + 1]);
    expect(r.drv.stale.count).toBe(0);
  });

  it('negative control (fault no-cfgi): the same attaches and detach leave stale STEs/CDs, named by field', () => {
    const r = driverRun('no-cfgi');
    // Traffic fetches each configuration into the SMMU's caches before it changes.
    const touch = (): void => {
      for (const sid of [1, 2]) for (const ssid of [0, 3]) r.drv.port(0).model.translate(sid, ssid, 0x1000_0000);
    };
    r.drv.attach(r.m, r.s2);
    touch();
    r.drv.attach(r.m, r.a);
    touch();
    r.drv.attach(r.m, r.b, 3);
    touch();
    r.drv.detach(r.m);
    const kinds = Object.keys(r.drv.stale.byCache).sort();
    expect(r.drv.stale.count).toBeGreaterThan(0);
    expect(kinds.every((k) => k === 'STE' || k === 'CD')).toBe(true);
    expect(r.drv.stale.reports[0]!.entry).toHaveProperty('fields');
  });

  it('clean twin: the same sequence with the CFGIs is clean', () => {
    const r = driverRun();
    const touch = (): void => {
      for (const sid of [1, 2]) for (const ssid of [0, 3]) r.drv.port(0).model.translate(sid, ssid, 0x1000_0000);
    };
    r.drv.attach(r.m, r.s2);
    touch();
    r.drv.attach(r.m, r.a);
    touch();
    r.drv.attach(r.m, r.b, 3);
    touch();
    r.drv.detach(r.m);
    expect(r.drv.stale.count).toBe(0);
    expect(r.drv.checkEverything()).toBe(0);
  });
});

describe("pKVM: the host's CFGI_STE makes the hypervisor re-shadow the STE", () => {
  const BASE = 0x8000_0000;
  const G = 4096;
  function hyp(): Hypervisor {
    return new Hypervisor({
      smmus: [DEFAULT_SMMU_SPEC],
      granule: G,
      policy: 'tlbi',
      seed: 3,
      pagedRam: { base: BASE, size: 16 * G },
      blockRam: { base: 0x1_0000_0000, size: 0 },
      hostDevices: [{ smmu: 0, sid: 4, ats: false }],
    });
  }
  /** A host stage-1 context whose (empty) table lives in the machine's memory. */
  function hostCd(h: Hypervisor) {
    const t = new IoPageTable({
      stage: 1,
      granule: G,
      ias: 48,
      memory: h.mem,
      allocator: new FrameAllocator(G, 0x60_0000_0000, 2 ** 24),
    });
    return { asid: 1, table: { root: t.config.rootPa, granuleLog2: 12, ias: 48, stage: 1 as const } };
  }
  const cfgiSte = (sid: number): Uint32Array => {
    const u32 = new Uint32Array(8);
    u32.set(encodeHalves(makeCommand('CFGI_STE', { sid, leaf: 1 })), 0);
    u32.set(encodeHalves(makeCommand('CMD_SYNC', { cs: 2, msh: 3, msiattr: 15 })), 4);
    return u32;
  };

  it('negative control: the host writes its STE but issues no CFGI_STE — the shadow and the SMMU stay stage 2', () => {
    const h = hyp();
    const m = h.port(0).model;
    expect(m.translate(4, 0, BASE + G)).toBe(BASE + G); // cached: stage 2 over the idmap
    h.hostWriteStage1(0, 4, hostCd(h));
    expect(m.streams.get(4)!.mode).toBe('stage2');
    expect(m.translate(4, 0, BASE + G)).toBe(BASE + G);
    expect(h.port(0).checker.checkConfig(m)).toEqual([]);
  });

  it('clean twin: CFGI_STE + CMD_SYNC on the host queue re-shadows it as nested, and the SMMU drops its copy', () => {
    const h = hyp();
    const m = h.port(0).model;
    m.translate(4, 0, BASE + G);
    h.hostWriteStage1(0, 4, hostCd(h));
    const d = h.hostSubmit(0, cfgiSte(4), 2);
    expect(d[0]!.action).toBe('allowed');
    expect(m.streams.get(4)!.mode).toBe('nested');
    expect(h.port(0).checker.checkConfig(m)).toEqual([]);
    // The host stage 1 maps nothing yet: the device's access now faults in stage 1.
    expect(m.translate(4, 0, BASE + G)).toBe(-1);
  });

  it('a CFGI_STE for a StreamID the host does not own re-shadows nothing', () => {
    const h = hyp();
    const d = h.hostSubmit(0, cfgiSte(9), 2);
    expect(d[0]!.action).toBe('dropped');
    expect(h.port(0).model.streams.get(9)).toBeUndefined();
  });
});
