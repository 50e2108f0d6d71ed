/** The model's command queue: ring wrap, CERROR_ILL with Linux-style recovery, CMD_SYNC completion. */
import { describe, expect, it } from 'vitest';
import { CmdqError } from '../src/smmu/queue.js';
import { SYNC, cmd, newModel, submit } from './smmu-fixtures.js';

describe('the command queue ring', () => {
  it('wraps: PROD and CONS toggle their wrap bit every 2^log2Size entries', () => {
    const { model } = newModel({ queueLog2Size: 2 });
    const q = model.queue;
    for (let i = 0; i < 3; i++) q.push(...(cmd('TLBI_NH_ASID', { asid: i }) as [number, number, number, number]));
    expect([q.prod, q.cons, q.pending]).toEqual([3, 0, 3]);
    model.process();
    expect([q.prod, q.cons, q.empty]).toEqual([3, 3, true]);
    submit(model, ...Array.from({ length: 6 }, () => SYNC()));
    // 9 entries consumed in a ring of 4: index 1, wrap bit (bit 2) set (9 = 2·4 + 1 → wrap toggled twice → clear).
    expect(q.cons).toBe(9 % 8);
    expect(model.stats.syncs).toBe(6);
  });

  it('fills up and reports full; the producer waits for consumption', () => {
    const { model } = newModel({ queueLog2Size: 1 });
    const q = model.queue;
    q.push(...(SYNC() as [number, number, number, number]));
    q.push(...(SYNC() as [number, number, number, number]));
    expect(q.full).toBe(true);
    expect(() => q.push(0, 0, 0, 0)).toThrow(/full/);
    // submit() publishes and lets the SMMU consume whenever the ring is full.
    const cmds = new Uint32Array(4 * 5);
    for (let i = 0; i < 5; i++) cmds.set(SYNC(), i * 4);
    expect(model.submit(cmds, 0, 5)).toBe(5);
    expect(model.stats.syncs).toBe(7);
  });
});

describe('CERROR_ILL', () => {
  it('stops with CONS at the illegal entry, CONS.ERR = ILL and GERROR.CMDQ_ERR toggled; recovery resumes at the same slot', () => {
    const { model } = newModel();
    const q = model.queue;
    // Reserved opcode 0x7f, then an ASID invalidation that must wait for the recovery.
    const u32 = new Uint32Array([0x7f, 0, 0, 0, ...cmd('TLBI_NH_ASID', { asid: 1 }), ...SYNC()]);
    model.submit(u32, 0, 3);
    expect(q.stalled).toBe(true);
    expect(q.slotOf(q.cons)).toBe(0);
    expect(q.consErr).toBe(CmdqError.ILL);
    expect(q.gerror & 1).toBe(1);
    expect(model.lastError!.issue.rule).toBe('reserved-opcode');
    expect(model.stats.commands).toEqual({});
    // Linux: overwrite the bad slot with a CMD_SYNC, then acknowledge through GERRORN.
    q.writeAt(q.slotOf(q.cons), ...(SYNC() as [number, number, number, number]));
    model.acknowledgeError();
    expect(q.stalled).toBe(false);
    expect(q.consErr).toBe(0);
    expect(q.empty).toBe(true);
    expect(model.stats.commands).toEqual({ CMD_SYNC: 2, TLBI_NH_ASID: 1 });
  });

  it('follows the SMMU features: ATC_INV is illegal without ATS, stage-1 TLBIs without stage 1, CS=3 always', () => {
    const cases: [Parameters<typeof newModel>[0], number[]][] = [
      [{ features: { ats: false } }, [0x40, 0, 0, 0]],
      [{ features: { stage1: false } }, [0x11, 0, 0, 0]],
      [{}, [0x46 | (3 << 12), 0, 0, 0]],
      [{}, [0x12, 0, 1 << 10, 0]], // TG=1 with NUM=SCALE=TTL=0
    ];
    for (const [opts, h] of cases) {
      const { model } = newModel(opts);
      model.submit(new Uint32Array(h), 0, 1);
      expect(model.queue.consErr).toBe(CmdqError.ILL);
    }
  });
});

describe('CMD_SYNC completion', () => {
  it('CS=IRQ with an MSI address writes MSIData (32 bits) to memory when it completes', () => {
    const { mem, model } = newModel();
    submit(model, cmd('CMD_SYNC', { cs: 1, msidata: 0xdead_beef, msiaddr: 0x5000_0004 }));
    expect(mem.readU32(0x5000_0004)).toBe(0xdead_beef);
    expect(model.stats.msiWrites).toBe(1);
  });

  it('the MSI may target the SYNC slot itself (Linux MSI polling): the first word becomes MSIData', () => {
    const { mem, model } = newModel();
    const q = model.queue;
    const slotPa = q.slotAddr(q.slotOf(q.prod));
    submit(model, cmd('CMD_SYNC', { cs: 1, msh: 3, msiattr: 15, msidata: 0, msiaddr: slotPa }));
    expect(mem.readU32(slotPa)).toBe(0);
  });

  it('CS=SEV and CS=NONE complete by CONS passing them, with no memory write; MSIAddr 0 writes nothing', () => {
    const { model } = newModel();
    let completed = 0;
    model.onSyncComplete = () => completed++;
    submit(
      model,
      cmd('CMD_SYNC', { cs: 2 }),
      cmd('CMD_SYNC', { cs: 0, msidata: 5, msiaddr: 0x1000 }),
      cmd('CMD_SYNC', { cs: 1, msidata: 5 }),
    );
    expect(completed).toBe(3);
    expect(model.stats.msiWrites).toBe(0);
    expect(model.queue.empty).toBe(true);
  });
});
