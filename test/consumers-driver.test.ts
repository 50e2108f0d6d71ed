/**
 * The kernel-driver consumer against the SMMU model: the invalidation-target array through attach / move /
 * detach, ASID and VMID reuse after a detach (with a negative control: without the tag flush the reused tag
 * reaches the old translations), moves leaving nothing of the old domain reachable, no ATC_INV to a device
 * after it left, lazy mode holding IOVAs back, and the commands that reach a queue being exactly the engine's
 * plan for the gathered change.
 */
import { describe, expect, it } from 'vitest';
import { Opcode } from '../src/cmdq/opcodes.js';
import { Driver, type Domain, type Master } from '../src/consumers/driver.js';
import { DEFAULT_SMMU_SPEC, type SmmuPort } from '../src/consumers/smmu-port.js';
import { faultInjection, type FaultName } from '../src/sim/faults.js';
import { Rng } from '../src/smmu/rng.js';
import { PlanOutput, tlbiInv } from '../src/tlbi/index.js';

function driver(fault?: FaultName, smmus = 1): Driver {
  return new Driver({
    smmus: Array.from({ length: smmus }, () => DEFAULT_SMMU_SPEC),
    granule: 4096,
    seed: 3,
    injection: faultInjection(fault),
  });
}

/** Record every entry a port's queue receives (words as the SMMU reads them). */
function tap(port: SmmuPort): number[][] {
  const seen: number[][] = [];
  const m = port.model;
  const orig = m.submit.bind(m);
  m.submit = (u32: Uint32Array, from: number, count: number): number => {
    for (let k = 0; k < count; k++) seen.push(Array.from(u32.subarray((from + k) * 4, (from + k) * 4 + 4)));
    return orig(u32, from, count);
  };
  return seen;
}

/** Translate through the model and compare with the domain's own tables (an independent walk). */
function reach(drv: Driver, m: Master, d: Domain, iova: number): { got: number; want: number | null } {
  const got = drv.port(m.smmu).model.translate(m.sids[0]!, 0, iova, false);
  return { got, want: d.table.iovaToPhys(iova) };
}

describe('invs bookkeeping', () => {
  it('counts users per SMMU and empties when the last master leaves', () => {
    const drv = driver(undefined, 2);
    const d = drv.createDomain('s1', 'tlbi');
    const a = drv.addMaster(0, [1], true);
    const b = drv.addMaster(0, [2], false);
    const c = drv.addMaster(1, [1], false);
    drv.attach(a, d);
    drv.attach(b, d);
    drv.attach(c, d);
    const live = () => d.invs.live().map((e) => `${e.smmu}:${e.type}:${e.id}:${e.users}`);
    expect(live()).toEqual([`0:S1_ASID:${d.tag}:2`, '0:ATS:1:1', `1:S1_ASID:${d.tag}:1`]);
    drv.detach(a);
    expect(live()).toEqual([`0:S1_ASID:${d.tag}:1`, `1:S1_ASID:${d.tag}:1`]);
    drv.detach(c);
    drv.detach(b);
    expect(live()).toEqual([]);
    expect(drv.counters.tagFlushes).toBe(2);
    expect(drv.counters.unrefWarnings).toBe(0);
  });
});

describe('detach, then reuse of the tag', () => {
  for (const kind of ['s1', 's2'] as const)
    for (const fault of [undefined, 'skip-last-tlbi'] as const)
      it(`${kind === 's1' ? 'ASID' : 'VMID'} reuse ${fault === undefined ? 'reaches only the new tables' : 'without the tag flush reaches the old ones'}`, () => {
        const drv = driver(fault);
        const m = drv.addMaster(0, [5], false);
        const a = drv.createDomain(kind, 'linux');
        drv.attach(m, a);
        const bufA = drv.dmaMap(a, 8 * 4096)!;
        const rng = new Rng(1);
        drv.dmaAccess(m, 0, bufA, rng, 8);
        drv.detach(m);
        drv.freeDomain(a);
        const b = drv.createDomain(kind, 'linux');
        expect(b.tag).toBe(a.tag); // the tag is reused
        // The new domain maps the same IOVA to other memory.
        const pa = 0x7_0000_0000;
        drv.map(b, bufA.iova, pa, 8 * 4096);
        drv.attach(m, b);
        const r = reach(drv, m, b, bufA.iova);
        expect(r.want).toBe(pa);
        if (fault === undefined) {
          expect(r.got).toBe(pa);
          expect(drv.stale.count).toBe(0);
          expect(drv.checkEverything()).toBe(0);
        } else {
          // Dropping the whole-tag TLBI leaves A's translation under the reused tag.
          expect(r.got).toBe(bufA.pa);
          expect(drv.stale.count).toBeGreaterThan(0);
        }
      });
});

describe('moving a device', () => {
  it('leaves no translation of the old domain reachable (TLB, ATC)', () => {
    const drv = driver();
    const m = drv.addMaster(0, [7], true);
    const other = drv.addMaster(0, [8], false);
    const a = drv.createDomain('s1', 'tlbi');
    const b = drv.createDomain('s1', 'tlbi');
    drv.attach(m, a);
    drv.attach(other, a); // A stays alive on the SMMU: its tag is not flushed
    const rng = new Rng(2);
    const bufs = [drv.dmaMap(a, 4 * 4096)!, drv.dmaMap(a, 2 ** 21)!, drv.dmaMap(a, 4096)!];
    for (const buf of bufs) drv.dmaAccess(m, 0, buf, rng, 4);
    const port = drv.port(0);
    expect(port.model.atc.size).toBeGreaterThan(0);
    drv.attach(m, b);
    // Every address A mapped now translates as B says (B maps nothing there: a fault).
    for (const buf of bufs)
      for (const off of [0, buf.size - 4096]) {
        const r = reach(drv, m, b, buf.iova + off);
        expect(r.want).toBeNull();
        expect(r.got).toBe(-1);
      }
    expect(port.checkAll()).toEqual([]);
    expect(drv.stale.count).toBe(0);
  });

  it('sends no ATC_INV to a device once it left the domain', () => {
    const drv = driver();
    const m = drv.addMaster(0, [9], true);
    const stay = drv.addMaster(0, [10], true);
    const a = drv.createDomain('s2', 'linux');
    drv.attach(m, a);
    drv.attach(stay, a);
    const bufs = Array.from({ length: 4 }, () => drv.dmaMap(a, 3 * 4096)!);
    const seen = tap(drv.port(0));
    drv.detach(m);
    const afterDetach = seen.length;
    for (const b of bufs) drv.dmaUnmap(a, b);
    const atcSids = seen
      .slice(afterDetach)
      .filter((h) => (h[0]! & 0xff) === Opcode.ATC_INV)
      .map((h) => h[1]);
    // The remaining ATS device got at least one per unmap (linux: one per request, freed tables included).
    expect(atcSids.length).toBeGreaterThanOrEqual(bufs.length);
    expect(atcSids.every((sid) => sid === 10)).toBe(true);
    expect(drv.counters.atcToDetached).toBe(0);
  });
});

describe('lazy mode', () => {
  it('does not hand unmapped IOVAs out again until the flush, and is clean after it', () => {
    const drv = new Driver({ smmus: [DEFAULT_SMMU_SPEC], granule: 4096, seed: 5, flushQueueDepth: 100 });
    const m = drv.addMaster(0, [3], true);
    const d = drv.createDomain('s1', 'linux', 'lazy');
    drv.attach(m, d);
    const rng = new Rng(4);
    drv.dmaMap(d, 4096); // keeps the tables alive (an unmap that frees tables flushes at once)
    const b = drv.dmaMap(d, 4 * 4096)!;
    drv.dmaAccess(m, 0, b, rng, 4);
    drv.dmaUnmap(d, b);
    // Deferred: the translation is still cached (stale but harmless) and the IOVA is held back.
    expect(drv.port(0).checkAll().length).toBeGreaterThan(0);
    const again = drv.dmaMap(d, 4 * 4096)!;
    expect(again.iova).not.toBe(b.iova);
    expect(again.pa).not.toBe(b.pa);
    drv.flushQueue(d);
    expect(drv.port(0).checkAll()).toEqual([]);
    const third = drv.dmaMap(d, 4 * 4096)!;
    expect(third.iova).toBe(b.iova); // first fit: the flushed IOVA is free again
    expect(drv.stale.count).toBe(0);
  });
});

describe('the driver uses the engine unchanged', () => {
  it('what reaches the queue is the engine plan for the gathered description', () => {
    const drv = driver(undefined, 2);
    const m0 = drv.addMaster(0, [1], true);
    const m1 = drv.addMaster(1, [1], false);
    const d = drv.createDomain('s1', 'tlbi');
    drv.attach(m0, d);
    drv.attach(m1, d);
    const bufs = [drv.dmaMap(d, 5 * 4096)!, drv.dmaMap(d, 3 * 4096)!];
    const seen = [tap(drv.port(0)), tap(drv.port(1))];
    for (const b of bufs) drv.dmaUnmap(d, b, false);
    const desc = d.gather.peek().tlbi!;
    const expected = new PlanOutput();
    tlbiInv(desc, d.invs, drv.smmuTable, expected);
    drv.iotlbSync(d);
    for (const id of [0, 1]) {
      const want: number[][] = [];
      for (let k = 0; k < expected.count; k++)
        if (expected.smmuOf[k] === id) want.push(Array.from(expected.buf.u32.subarray(k * 4, k * 4 + 4)));
      expect(seen[id]).toEqual(want);
    }
  });
});
