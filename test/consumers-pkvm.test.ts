/**
 * The pKVM-style hypervisor against the SMMU model: the invs array built once at boot, the security property
 * for random donation / reclaim / share sequences (fast-check) with SMMUs powering off and on, a negative
 * control (without ATC invalidation the property breaks and the check says so), the host queue filter in the
 * loop, VM teardown, and the queue receiving exactly the engine's plan.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { encodeHalves, makeCommand } from '../src/cmdq/index.js';
import { Opcode } from '../src/cmdq/opcodes.js';
import { Hypervisor, type HypOptions } from '../src/consumers/pkvm.js';
import { DEFAULT_SMMU_SPEC } from '../src/consumers/smmu-port.js';
import { faultInjection, type FaultName } from '../src/sim/faults.js';
import { Gather } from '../src/pgtable/gather.js';
import { FrameAllocator } from '../src/pgtable/memory.js';
import { IoPageTable } from '../src/pgtable/pagetable.js';
import { PlanOutput, tlbiInv } from '../src/tlbi/index.js';

const BASE = 0x8000_0000;
const G = 4096;
const PAGES = 256;

function hyp(policy: 'linux' | 'tlbi' = 'tlbi', fault?: FaultName): Hypervisor {
  const o: HypOptions = {
    smmus: [DEFAULT_SMMU_SPEC, { ...DEFAULT_SMMU_SPEC, ril: false }],
    granule: G,
    policy,
    seed: 9,
    injection: faultInjection(fault),
    pagedRam: { base: BASE, size: PAGES * G },
    blockRam: { base: 0x1_0000_0000, size: 2 * 2 ** 21 },
    hostDevices: [
      { smmu: 0, sid: 1, ats: true },
      { smmu: 0, sid: 2, ats: false },
      { smmu: 1, sid: 1, ats: true },
    ],
  };
  return new Hypervisor(o);
}

describe('boot', () => {
  it('builds the invs array once: S2_VMID(0) + S2_VMID_S1_CLEAR(0) per SMMU, ATS_FULL per ATS host StreamID', () => {
    const h = hyp();
    expect(h.invs.live().map((e) => `${e.smmu}:${e.type}:${e.id}`)).toEqual([
      '0:S2_VMID:0',
      '0:S2_VMID_S1_CLEAR:0',
      '0:ATS_FULL:1',
      '1:S2_VMID:0',
      '1:S2_VMID_S1_CLEAR:0',
      '1:ATS_FULL:1',
    ]);
    const before = h.invs;
    h.donate(BASE, 4 * G);
    h.reclaim(BASE, 4 * G);
    expect(h.invs).toBe(before);
  });

  it('host devices reach host RAM through the identity map', () => {
    const h = hyp();
    expect(h.hostAccess(0, 2, BASE + 5 * G + 8, BASE + 5 * G + 8, true)).toBe(true);
    expect(h.hostAccess(1, 1, 0x1_0000_0000 + 3 * G, 0x1_0000_0000 + 3 * G, false)).toBe(true);
    expect(h.counters.hostViolations).toBe(0);
  });
});

type Op =
  | { k: 'donate'; page: number; n: number }
  | { k: 'reclaim'; i: number }
  | { k: 'share'; page: number; n: number }
  | { k: 'unshare'; i: number }
  | { k: 'block' }
  | { k: 'power'; smmu: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ k: fc.constant('donate' as const), page: fc.nat(PAGES - 1), n: fc.integer({ min: 1, max: 12 }) }),
  fc.record({ k: fc.constant('reclaim' as const), i: fc.nat(20) }),
  fc.record({ k: fc.constant('share' as const), page: fc.nat(PAGES - 1), n: fc.integer({ min: 1, max: 4 }) }),
  fc.record({ k: fc.constant('unshare' as const), i: fc.nat(20) }),
  fc.constant({ k: 'block' as const }),
  fc.record({ k: fc.constant('power' as const), smmu: fc.nat(1) }),
);

/** Run a sequence; returns the violations the checks found (isolation, host accesses, stale). */
function runSequence(h: Hypervisor, ops: readonly Op[]): number {
  const donated: { pa: number; size: number }[] = [];
  const shared: { pa: number; size: number }[] = [];
  const free = (pa: number, n: number): boolean => {
    if (pa + n * G > BASE + PAGES * G && pa < 0x1_0000_0000) return false;
    for (let i = 0; i < n; i++) if (h.ownerOf(pa + i * G) !== 'host') return false;
    return true;
  };
  const touchAll = (pa: number, size: number): void => h.hostTouch(pa, size);
  for (const op of ops) {
    switch (op.k) {
      case 'donate':
      case 'share': {
        const pa = BASE + op.page * G;
        if (!free(pa, op.n)) break;
        touchAll(pa, op.n * G);
        if (op.k === 'donate') {
          h.donate(pa, op.n * G);
          donated.push({ pa, size: op.n * G });
          h.checkIsolation(pa, op.n * G);
        } else {
          h.share(pa, op.n * G);
          shared.push({ pa, size: op.n * G });
          // Shared: readable, not writable, by host devices.
          h.hostAccess(0, 2, pa, pa, false);
          h.hostAccess(0, 2, pa, pa, true);
        }
        break;
      }
      case 'block': {
        const pa = 0x1_0000_0000 + 2 ** 21;
        if (!free(pa, 512)) break;
        touchAll(pa, 2 ** 21);
        h.donate(pa, 2 ** 21);
        donated.push({ pa, size: 2 ** 21 });
        h.checkIsolation(pa, 2 ** 21);
        break;
      }
      case 'reclaim':
        if (donated.length > 0) {
          const d = donated.splice(op.i % donated.length, 1)[0]!;
          h.reclaim(d.pa, d.size);
          h.hostAccess(0, 2, d.pa, d.pa, true);
        }
        break;
      case 'unshare':
        if (shared.length > 0) {
          const s = shared.splice(op.i % shared.length, 1)[0]!;
          h.unshare(s.pa, s.size);
          h.hostAccess(0, 2, s.pa, s.pa, true);
        }
        break;
      case 'power':
        if (h.ports[op.smmu]!.powered) h.powerOff(op.smmu);
        else {
          h.powerOn(op.smmu);
          // Back with empty caches: everything donated meanwhile is unreachable there too.
          for (const d of donated) h.checkIsolation(d.pa, d.size);
        }
        break;
    }
    // Host DMA goes on: every donated page faults for every host device, everything else is identity.
    for (const d of donated) {
      h.hostAccess(0, 1, d.pa, d.pa, false);
      h.hostAccess(1, 1, d.pa + d.size - G, d.pa + d.size - G, false);
    }
  }
  for (const p of h.ports) if (!p.powered) p.powerOn();
  for (const d of donated) h.checkIsolation(d.pa, d.size);
  h.checkEverything();
  const c = h.counters;
  return c.isolationViolations + c.hostViolations + h.stale.count;
}

describe('the security property', () => {
  for (const policy of ['tlbi', 'linux'] as const)
    it(`holds for random donation / reclaim / share sequences (${policy})`, () => {
      fc.assert(
        fc.property(fc.array(opArb, { minLength: 1, maxLength: 25 }), (ops) => {
          const h = hyp(policy);
          expect(runSequence(h, ops)).toBe(0);
          expect(h.counters.isolationChecks).toBeGreaterThanOrEqual(0);
        }),
        { numRuns: 25, seed: 20260 },
      );
    });

  for (const fault of ['no-atc', 'drop-sync', 'no-nested-s1-clear'] as const)
    it(`is seen to break when the commands are broken (${fault})`, () => {
      const h = hyp('tlbi', fault);
      if (fault === 'no-nested-s1-clear') {
        // Give host device 2 a stage-1 table of its own (nested over the idmap), mapping donated memory.
        const frames = new FrameAllocator(G, BASE + 200 * G, 32 * G); // host RAM, in the idmap
        const t = new IoPageTable({ stage: 1, granule: G, ias: 48, oas: 40, memory: h.mem, allocator: frames });
        t.map(0x10_0000, BASE, 8 * G, { read: true, write: true, exec: false });
        h.hostSetStage1(0, 2, { asid: 1, table: { root: t.config.rootPa, granuleLog2: 12, ias: 48, stage: 1 } });
        for (let i = 0; i < 8; i++) h.ports[0]!.model.translate(2, 0, 0x10_0000 + i * G, false);
        h.donate(BASE, 8 * G);
        const bad = h.checkIsolation(BASE, 8 * G, [{ smmu: 0, sid: 2, iova: 0x10_0000, pa: BASE }]);
        expect(bad).toBeGreaterThan(0);
        return;
      }
      h.hostTouch(BASE, 8 * G);
      h.donate(BASE, 8 * G);
      expect(h.checkIsolation(BASE, 8 * G)).toBeGreaterThan(0);
    });
});

describe('VMs', () => {
  it('boot on donated pages, reach only them, and give them back at teardown', () => {
    const h = hyp();
    const vm = h.bootVm([{ pa: BASE + 16 * G, size: 8 * G }], { smmu: 0, sid: 20 });
    expect(h.checkIsolation(BASE + 16 * G, 8 * G)).toBe(0);
    const pick = { below: (n: number) => n - 1 };
    for (let i = 0; i < 4; i++) h.vmAccess(vm, pick);
    expect(h.counters.vmViolations).toBe(0);
    expect(h.ports[0]!.model.translate(20, 0, 0, false)).toBe(BASE + 16 * G);
    h.teardownVm(vm);
    expect(h.ports[0]!.model.translate(20, 0, 0, false)).toBe(-1);
    expect(h.hostAccess(0, 2, BASE + 16 * G, BASE + 16 * G, true)).toBe(true);
    expect(h.stale.count).toBe(0);
    expect(h.stats.byKind.TLBI_S12_VMALL).toBe(2);
  });
});

describe('the host command queue', () => {
  it('forwards what the filter allows, rewrites MSI syncs, drops the rest, and reports each decision', () => {
    const h = hyp();
    const cmds = [
      makeCommand('TLBI_NH_VA', { vmid: 0, asid: 1, addr: 0x10_0000 }),
      makeCommand('TLBI_S2_IPA', { vmid: 0, addr: BASE }),
      makeCommand('TLBI_NH_ASID', { vmid: 5, asid: 1 }),
      makeCommand('CMD_SYNC', { cs: 1, msh: 3, msiattr: 0xf, msiaddr: 0x1000 }),
    ];
    const u32 = new Uint32Array(cmds.length * 4);
    cmds.forEach((c, i) => u32.set(encodeHalves(c), i * 4));
    const before = { ...h.ports[0]!.model.stats.commands };
    const d = h.hostSubmit(0, u32, cmds.length);
    expect(d.map((x) => x.action)).toEqual(['allowed', 'dropped', 'dropped', 'rewritten']);
    const after = h.ports[0]!.model.stats.commands;
    expect((after.TLBI_NH_VA ?? 0) - (before.TLBI_NH_VA ?? 0)).toBe(1);
    expect(after.TLBI_S2_IPA ?? 0).toBe(before.TLBI_S2_IPA ?? 0);
    expect(after.TLBI_NH_ASID ?? 0).toBe(before.TLBI_NH_ASID ?? 0);
    expect(h.ports[0]!.model.stats.msiWrites).toBe(0);
    expect(h.filterCounts).toEqual({ allowed: 1, rewritten: 1, dropped: 2, illegal: 0 });
  });
});

describe('the hypervisor uses the engine unchanged', () => {
  it('a donation sends exactly the engine plan, minus the powered-off SMMU', () => {
    const h = hyp('tlbi');
    const seen: number[][][] = [[], []];
    h.ports.forEach((p, id) => {
      const m = p.model;
      const orig = m.submit.bind(m);
      m.submit = (u: Uint32Array, from: number, count: number): number => {
        for (let k = 0; k < count; k++) seen[id]!.push(Array.from(u.subarray((from + k) * 4, (from + k) * 4 + 4)));
        return orig(u, from, count);
      };
    });
    h.powerOff(1);
    // The same change on a scratch copy of the idmap's layout gives the description to plan.
    const t = new IoPageTable({ stage: 2, granule: G, ias: 40 });
    for (let i = 0; i < PAGES; i++) t.map(BASE + i * G, BASE + i * G, G, { read: true, write: true, exec: false });
    const g = new Gather();
    g.add(t.unmap(BASE + 3 * G, 5 * G));
    const expected = new PlanOutput();
    tlbiInv(g.take().tlbi!, h.invs, h.smmuTable, expected);
    h.donate(BASE + 3 * G, 5 * G);
    const want: number[][] = [];
    for (let k = 0; k < expected.count; k++)
      if (expected.smmuOf[k] === 0) want.push(Array.from(expected.buf.u32.subarray(k * 4, k * 4 + 4)));
    expect(seen[0]).toEqual(want);
    expect(seen[1]).toEqual([]);
    // S2_IPA … SYNC, NH_ALL(0) SYNC, ATC_INV SYNC, on SMMU 0.
    expect(want.map((h0) => h0[0]! & 0xff)).toEqual([
      Opcode.TLBI_S2_IPA,
      Opcode.CMD_SYNC,
      Opcode.TLBI_NH_ALL,
      Opcode.CMD_SYNC,
      Opcode.ATC_INV,
      Opcode.CMD_SYNC,
    ]);
  });
});
