/**
 * The pKVM host command filter and StreamID ownership (review finding A9): per-stream commands naming a
 * StreamID the host does not own (a VM's passthrough device, or a StreamID nobody configured) are dropped;
 * the same command for a host StreamID is forwarded. The filter without ownership (every StreamID the
 * host's, as before the fix) forwards them all: that is the negative control. A fast-check property drives
 * random host batches through the hypervisor: no forwarded entry names a StreamID owned by a VM, and the
 * VM's cached translations are untouched by anything the host sends.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CommandChecker, decodeHalves, encodeHalves, makeCommand, type Command } from '../src/cmdq/index.js';
import { HOST_OWNS_ALL, filterHostCommands } from '../src/consumers/host-cmdq-filter.js';
import { Hypervisor } from '../src/consumers/pkvm.js';
import { DEFAULT_SMMU_SPEC } from '../src/consumers/smmu-port.js';

const VM_SID = 0x40;
const HOST_SID = 1;

function hyp(): Hypervisor {
  return new Hypervisor({
    smmus: [DEFAULT_SMMU_SPEC],
    granule: 4096,
    policy: 'tlbi',
    seed: 3,
    pagedRam: { base: 0x8000_0000, size: 0x40_0000 },
    blockRam: { base: 0xc000_0000, size: 0 },
    hostDevices: [
      { smmu: 0, sid: HOST_SID, ats: true },
      { smmu: 0, sid: 2, ats: false },
    ],
  });
}

/** One command of every per-StreamID kind, for `sid`. */
function perStream(sid: number): Command[] {
  return [
    makeCommand('RESUME', { sid, resp: 1, stag: 7 }),
    makeCommand('STALL_TERM', { sid }),
    makeCommand('PRI_RESP', { sid, grpid: 3, resp: 2 }),
    makeCommand('ATC_INV', { sid, size: 52, addr: 0 }),
    makeCommand('CFGI_STE', { sid, leaf: 1 }),
    makeCommand('CFGI_CD', { sid, ssid: 0, leaf: 1 }),
    makeCommand('CFGI_CD_ALL', { sid }),
    makeCommand('PREFETCH_CONFIG', { sid }),
    makeCommand('PREFETCH_ADDR', { sid, addr: 0x1000 }),
  ];
}

function words(cmds: readonly Command[]): Uint32Array {
  const u = new Uint32Array(cmds.length * 4);
  cmds.forEach((c, i) => u.set(encodeHalves(c), i * 4));
  return u;
}

describe('per-StreamID host commands and ownership', () => {
  for (const c of perStream(VM_SID)) {
    it(`${c.name} for the VM's StreamID is dropped; for a host StreamID it is forwarded`, () => {
      const h = hyp();
      h.bootVm([{ pa: 0x8010_0000, size: 0x10_0000 }], { smmu: 0, sid: VM_SID });
      const before = h.ports[0]!.model.stats.commands[c.name] ?? 0;
      const d = h.hostSubmit(0, words([c]), 1);
      expect(d[0]!.action).toBe('dropped');
      expect(d[0]!.reason).toContain(`StreamID ${VM_SID}`);
      expect(h.ports[0]!.model.stats.commands[c.name] ?? 0).toBe(before);
      // Clean twin: the same command for the host's own stream reaches the queue.
      const own = perStream(HOST_SID).find((x) => x.name === c.name)!;
      const d2 = h.hostSubmit(0, words([own]), 1);
      expect(d2[0]!.action).toBe('allowed');
      expect(h.ports[0]!.model.stats.commands[c.name] ?? 0).toBe(before + 1);
      // Negative control: without ownership (the filter as it was) the VM's command is forwarded.
      const old = filterHostCommands(words([c]), 1, new CommandChecker(), HOST_OWNS_ALL);
      expect(old.decisions[0]!.action).toBe('allowed');
    });
  }

  it('a StreamID nobody owns is not the host’s either; after teardown the VM’s StreamID still is not', () => {
    const h = hyp();
    expect(h.hostSubmit(0, words([makeCommand('STALL_TERM', { sid: 0x99 })]), 1)[0]!.action).toBe('dropped');
    const vm = h.bootVm([{ pa: 0x8010_0000, size: 0x10_0000 }], { smmu: 0, sid: VM_SID });
    expect(h.hostOwnsStream(0, VM_SID)).toBe(false);
    h.teardownVm(vm);
    expect(h.hostOwnsStream(0, VM_SID)).toBe(false);
    expect(h.hostOwnsStream(0, HOST_SID)).toBe(true);
  });

  it('CFGI_ALL stays accepted (it only makes the SMMU re-read the STEs the hypervisor wrote)', () => {
    const h = hyp();
    h.bootVm([{ pa: 0x8010_0000, size: 0x10_0000 }], { smmu: 0, sid: VM_SID });
    expect(h.hostSubmit(0, words([makeCommand('CFGI_STE_RANGE', { sid: 0, range: 31 })]), 1)[0]!.action).toBe(
      'allowed',
    );
  });
});

describe('pKVM property: no host command ever affects a StreamID owned by a VM', () => {
  const sidArb = fc.constantFrom(HOST_SID, 2, VM_SID, 0x41, 0x99);
  const cmdArb: fc.Arbitrary<Command> = fc.oneof(
    sidArb.chain((sid) => fc.constantFrom(...perStream(sid))),
    fc
      .record({ vmid: fc.constantFrom(0, 1, 2), asid: fc.integer({ min: 0, max: 3 }) })
      .map(({ vmid, asid }) => makeCommand('TLBI_NH_ASID', { vmid, asid })),
    fc.constantFrom(0, 1, 2).map((vmid) => makeCommand('TLBI_S12_VMALL', { vmid })),
    fc.constantFrom(0, 1, 2).map((vmid) => makeCommand('TLBI_NH_ALL', { vmid })),
    fc.constant(makeCommand('TLBI_NSNH_ALL')),
    fc.constant(makeCommand('CMD_SYNC', { cs: 2, msh: 3, msiattr: 15 })),
  );

  it('holds for random host batches (forwarded entries and the VM’s cached entries)', () => {
    fc.assert(
      fc.property(fc.array(cmdArb, { minLength: 1, maxLength: 12 }), (cmds) => {
        const h = hyp();
        const vm = h.bootVm([{ pa: 0x8010_0000, size: 0x10_0000 }], { smmu: 0, sid: VM_SID });
        const model = h.ports[0]!.model;
        for (let ipa = 0; ipa < 0x10_0000; ipa += 0x1_0000) model.translate(VM_SID, 0, ipa, false);
        const vmEntries = (): number => model.tlb.all.filter((e) => e.vmid === vm.vmid).length;
        const cached = vmEntries();
        const seen: number[] = [];
        const orig = model.submit.bind(model);
        model.submit = (u: Uint32Array, from: number, count: number): number => {
          for (let k = 0; k < count; k++) {
            const r = decodeHalves(
              u[(from + k) * 4]!,
              u[(from + k) * 4 + 1]!,
              u[(from + k) * 4 + 2]!,
              u[(from + k) * 4 + 3]!,
            );
            if (r.ok && 'sid' in r.command) seen.push(r.command.sid);
          }
          return orig(u, from, count);
        };
        h.hostSubmit(0, words([...cmds, makeCommand('CMD_SYNC', { cs: 2, msh: 3, msiattr: 15 })]), cmds.length + 1);
        expect(seen.filter((s) => !h.hostOwnsStream(0, s))).toEqual([]);
        expect(vmEntries()).toBe(cached);
      }),
      { numRuns: 60, seed: 14 },
    );
  });
});
