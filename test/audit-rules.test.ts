/**
 * Every audit rule on crafted streams: one clean stream and at least one broken stream per rule. Streams are
 * encoded through the codec's encoder; expectations are worked out by hand from the architecture.
 */
import { describe, expect, it } from 'vitest';
import { CommandChecker, makeCommand } from '../src/cmdq/index.js';
import { baseAlignBits } from '../src/audit/index.js';
import { atc, found, ipa, nhAll, nhAsid, run, s12, sync, va } from './audit-helpers.js';

describe('illegal entries', () => {
  it('finds nothing in a clean stream', () => {
    expect(found(run([va(1, 0x1000), sync()]))).toEqual([]);
  });
  it('reports a range command with TG≠0 and NUM=SCALE=TTL=0 as CERROR_ILL', () => {
    const rep = run([[0x12, 0x00010000, 0x00001400 /* addr 0x1000, TG=1, TTL=0 */, 0], sync()]);
    expect(found(rep)).toEqual(['illegal@0']);
    expect(rep.findings[0]!.command).toBe('TLBI_NH_VA');
    expect(rep.findings[0]!.reason).toMatch(/CERROR_ILL/);
  });
  it('reports a reserved opcode', () => {
    const rep = run([[0x08, 0, 0, 0], sync()]);
    expect(found(rep)).toEqual(['illegal@0']);
    expect(rep.findings[0]!.command).toBe('reserved 0x08');
  });
  it('uses the SMMU features: ATC_INV is illegal without ATS', () => {
    const items = [sync(), atc(16), sync()];
    expect(found(run(items))).toEqual([]);
    const noAts = new CommandChecker({ features: { ...new CommandChecker().features, ats: false } });
    expect(found(run(items, { checker: noAts }))).toEqual(['illegal@1']);
  });
  it('reports RES0 bits as res0-set (not illegal) in lax mode', () => {
    const items = [[0x11, 0x00010000, 0x100, 0] as const, sync()];
    expect(found(run([...items]))).toEqual(['illegal@0']);
    expect(found(run([...items], { checker: new CommandChecker({ lax: true }) }))).toEqual(['res0-set@0']);
  });
});

describe('UNPREDICTABLE range commands', () => {
  it('knows the base alignment table of IHI 0070 4.4.1.1', () => {
    expect([1, 2, 3].map((t) => baseAlignBits(1, t, false))).toEqual([30, 21, 12]);
    expect([0, 1, 2, 3].map((t) => baseAlignBits(2, t, false))).toEqual([14, 14, 25, 14]);
    expect(baseAlignBits(2, 1, true)).toBe(36);
    expect([0, 1, 2, 3].map((t) => baseAlignBits(3, t, false))).toEqual([16, 42, 29, 16]);
  });
  it('accepts a 2 MiB block range at a 2 MiB boundary and rejects one off by a page', () => {
    expect(found(run([va(1, 0x200000, { scale: 9, ttl: 2 }), sync()]))).toEqual([]);
    const rep = run([va(1, 0x201000, { scale: 9, ttl: 2 }), sync()]);
    expect(found(rep)).toEqual(['misaligned-range@0']);
    expect(rep.findings[0]!.message).toMatch(/\[20:12\]/);
  });
  it('checks 64K pages at TTL=3 against Addr[15:12]', () => {
    expect(found(run([va(1, 0x10000, { tg: 3 }), sync()]))).toEqual([]);
    expect(found(run([va(1, 0x11000, { tg: 3 }), sync()]))).toEqual(['misaligned-range@0']);
  });
  it('ignores alignment for TG=0 (not a range)', () => {
    expect(found(run([va(1, 0x1234000, { tg: 0, ttl: 0 }), sync()]))).toEqual([]);
  });
  it('reports a VA range running past 2^64, but not one ending exactly there', () => {
    const top = 2 ** 64 - 2 ** 21;
    expect(found(run([va(1, top, { scale: 9, ttl: 3 }), sync()]))).toEqual([]);
    const rep = run([va(1, top + 0x1000, { scale: 9, ttl: 3 }), sync()]);
    expect(found(rep)).toEqual(['range-past-top@0']);
  });
  it('reports an S2_IPA range running past the IPA size', () => {
    expect(found(run([ipa(1, 2 ** 40 - 0x2000, { num: 1 }), sync()], { ipaBits: 40, nestedVmids: [] }))).toEqual([]);
    expect(found(run([ipa(1, 2 ** 40 - 0x1000, { num: 1 }), sync()], { ipaBits: 40, nestedVmids: [] }))).toEqual([
      'range-past-top@0',
    ]);
  });
  it('with --va-bits, reports a TTB0 range spilling past 2^vaBits', () => {
    expect(found(run([va(1, 2 ** 48 - 0x1000, { num: 1 }), sync()], { vaBits: 48 }))).toEqual(['range-past-top@0']);
    expect(found(run([va(1, 2 ** 48 - 0x2000, { num: 1 }), sync()], { vaBits: 48 }))).toEqual([]);
  });
});

describe('ordering', () => {
  it('accepts TLBI → SYNC → ATC_INV → SYNC', () => {
    expect(found(run([va(1, 0x1000), sync(), atc(16, 0x1000), sync()]))).toEqual([]);
  });
  it('reports an ATC_INV in the same batch as a TLBI', () => {
    const rep = run([va(1, 0x1000), atc(16, 0x1000), sync()]);
    expect(found(rep)).toEqual(['atc-before-sync@1']);
    expect(rep.findings[0]!.related).toEqual([0]);
  });
  it('accepts S2_IPA → SYNC → NH_ALL → SYNC for a nested VMID (inferred from the stream)', () => {
    const rep = run([ipa(5, 0x40000000), sync(), nhAll(5), sync()]);
    expect(rep.input.nestedVmids).toEqual([5]);
    expect(found(rep)).toEqual([]);
  });
  it('reports S2_IPA of a nested VMID with no later NH_ALL', () => {
    const rep = run([ipa(5, 0x40000000), sync(), va(1, 0x1000), sync()], { nestedVmids: [5] });
    expect(found(rep)).toEqual(['nested-s1-not-cleared@0']);
  });
  it('does not apply the nested rule to a VMID that is not nested', () => {
    expect(found(run([ipa(5, 0x40000000), sync()]))).toEqual([]);
  });
  it('accepts S12_VMALL of the VMID instead of NH_ALL', () => {
    expect(found(run([ipa(5, 0x40000000), sync(), s12(5), sync()], { nestedVmids: [5] }))).toEqual([]);
  });
  it('reports NH_ALL in the same batch as the S2_IPA (and the obligation stays open)', () => {
    const rep = run([ipa(5, 0x40000000), nhAll(5), sync()]);
    expect(found(rep)).toEqual(['nested-s1-not-cleared@0', 'nested-nh-all-same-batch@1']);
  });
  it('reports an NH_ALL with no CMD_SYNC after it', () => {
    const rep = run([ipa(5, 0x40000000), sync(), nhAll(5)]);
    expect(found(rep)).toEqual(['nested-s1-not-cleared@0', 'missing-final-sync@2']);
  });
  it('reports commands without a final CMD_SYNC', () => {
    expect(found(run([va(1, 0x1000), sync()]))).toEqual([]);
    const rep = run([va(1, 0x1000), sync(), va(1, 0x2000), va(1, 0x3000)]);
    expect(found(rep)).toEqual(['missing-final-sync@2']);
    expect(rep.findings[0]!.message).toMatch(/2 entries/);
  });
});

describe('waste', () => {
  it('accepts different spans in one batch', () => {
    expect(found(run([va(1, 0x1000), va(1, 0x2000), va(2, 0x1000), sync()]))).toEqual([]);
  });
  it('reports the same span twice in one batch (the later one)', () => {
    const rep = run([va(1, 0x1000), va(1, 0x1000), sync()]);
    expect(found(rep)).toEqual(['duplicate-span@1']);
    expect(rep.findings[0]!.related).toEqual([0]);
  });
  it('reports a span inside a wider one of the same target', () => {
    expect(found(run([va(1, 0x3000), va(1, 0x2000, { num: 3 }), sync()]))).toEqual(['duplicate-span@0']);
  });
  it('does not count a leaf-only command as covering a walk-cache one', () => {
    expect(
      found(run([va(1, 0x2000, { num: 3, ttl: 0, leaf: 0, scale: 0 }), va(1, 0x2000, { num: 3 }), sync()])),
    ).toEqual(['duplicate-span@1']);
    expect(found(run([va(1, 0x2000, { num: 3 }), va(1, 0x2000, { num: 3, ttl: 0, leaf: 0 }), sync()]))).toEqual([
      'duplicate-span@0',
    ]);
  });
  it('does not call the same span in different batches a duplicate', () => {
    expect(found(run([va(1, 0x1000), sync(), va(1, 0x1000), sync()]))).toEqual([]);
  });
  it('reports a whole-tag command repeated in one batch', () => {
    expect(found(run([nhAsid(3), nhAsid(3), sync()]))).toEqual(['duplicate-span@1']);
  });
  it('reports a command covered by a whole-ASID command of the same batch', () => {
    expect(found(run([va(1, 0x1000), nhAsid(2), sync()]))).toEqual([]);
    const rep = run([va(1, 0x1000), nhAsid(1), sync()]);
    expect(found(rep)).toEqual(['covered-by-whole-tag@0']);
    expect(rep.findings[0]!.message).toMatch(/global/);
  });
  it('reports commands covered by a whole-VMID command of the same batch', () => {
    const rep = run([ipa(7, 0x1000), nhAsid(1, 7), s12(7), sync()], { nestedVmids: [] });
    expect(found(rep)).toEqual(['covered-by-whole-tag@0', 'covered-by-whole-tag@1']);
  });
  it('reports a batch longer than --max-batch', () => {
    const cmds = (n: number) => Array.from({ length: n }, (_, k) => va(1, 0x1000 * (k + 1)));
    expect(found(run([...cmds(63), sync()], { maxBatch: 63 }))).toEqual([]);
    expect(found(run([...cmds(65), sync()]))).toEqual([]);
    const rep = run([...cmds(65), sync()], { maxBatch: 63 });
    expect(found(rep)).toEqual(['long-batch@63']);
  });
});

describe('commands the codec names', () => {
  it('names the command of each finding', () => {
    const rep = run([makeCommand('TLBI_NSNH_ALL'), va(1, 0x1000), sync()]);
    expect(rep.findings.map((f) => f.command)).toEqual(['TLBI_NH_VA']);
  });
});
