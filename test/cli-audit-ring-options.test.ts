/**
 * Issue 18 M18: --prod, --cons and --log2size say how to read a ring dump. With --qemu-trace (or hex words) they
 * were silently ignored; now they are refused with exit 2 and one line naming the option, and with --qemu-ring
 * (the ring of a conformance check) they are used: a --log2size that contradicts the sample's ring changes what
 * is read. Clean twins: the same inputs without the option, and --file with the option.
 */
import { describe, expect, it } from 'vitest';
import { runCli } from './e2e-harness.js';

const DIR = 'samples/linux-6.1-qemu-7.2-strict/';
const TRACE = `${DIR}qemu-trace.log.gz`;
const HEX = ['0x0001000000000012', '0x00000000ffff6701', '0x000000000fc02046', '0x0'];

describe('audit: ring options without a ring dump', () => {
  for (const [opt, value] of [
    ['--prod', '0x5'],
    ['--cons', '0x5'],
    ['--log2size', '3'],
  ] as const) {
    it(`${opt} with --qemu-trace: exit 2, one line naming ${opt}`, async () => {
      const r = await runCli(['audit', '--qemu-trace', TRACE, opt, value, '--no-replan']);
      expect(r.code).toBe(2);
      expect(r.stdout).toBe('');
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(new RegExp(`^error: ${opt}: reads a ring dump .*--qemu-trace`));
    });

    it(`${opt} with hex words: exit 2 naming ${opt}`, async () => {
      const r = await runCli(['audit', ...HEX, opt, value]);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(new RegExp(`^error: ${opt}: reads a ring dump .*hex words`));
    });
  }

  it('clean twins: the trace and the words without the options are audited (exit 0)', async () => {
    expect((await runCli(['audit', '--qemu-trace', TRACE, '--no-replan'])).code).toBe(0);
    expect((await runCli(['audit', ...HEX])).code).toBe(0);
  });

  it('with --file the options are used (the ring registers of the --json document are them)', async () => {
    const r = await runCli([
      'audit',
      '--file',
      `${DIR}cmdq.bin.gz`,
      '--prod',
      '0x10',
      '--cons',
      '0x10',
      '--log2size',
      '16',
    ]);
    expect(r.code).toBeLessThan(2);
    const j = await runCli([
      'audit',
      '--file',
      `${DIR}cmdq.bin.gz`,
      '--prod',
      '0x10',
      '--cons',
      '0x10',
      '--log2size',
      '16',
      '--json',
      '--no-replan',
    ]);
    const doc = JSON.parse(j.stdout) as { input: { ring: { prod: string; cons: string; log2size: number } } };
    expect(doc.input.ring).toMatchObject({ prod: '0x10', cons: '0x10', log2size: 16 });
  });

  it('with --qemu-ring they are the ring registers (over --regs): a ring of 2^15 cannot hold the 2^16 dump', async () => {
    const base = ['audit', '--qemu-trace', TRACE, '--qemu-ring', `${DIR}cmdq.bin.gz`, '--regs', `${DIR}cmdq.json`];
    expect((await runCli(base)).code).toBe(0);
    const r = await runCli([...base, '--log2size', '15']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/the ring's size caps the dump \(2\^15 entries/);
  });
});
